//! [`PgLockKey`]: which advisory lock on the server.

use std::fmt;

/// The key of a PostgreSQL advisory lock.
///
/// The server has two key spaces that never collide: one `bigint` key
/// (`pg_advisory_lock(bigint)`), or a pair of `integer` keys
/// (`pg_advisory_lock(integer, integer)`). A name maps to a `bigint` key
/// through [`PgLockKey::hash_name`], a documented hash that stays the same
/// across versions of this crate, platforms and processes, so programs in
/// other languages can compute the same key.
///
/// # Examples
///
/// ```
/// use fasteners::postgres::PgLockKey;
///
/// assert_eq!(PgLockKey::from(42_i64), PgLockKey::Int(42));
/// assert_eq!(PgLockKey::from((1, 2)), PgLockKey::Pair(1, 2));
/// // The pair (0, 42) is another lock than the single key 42.
/// assert_ne!(PgLockKey::from((0, 42)), PgLockKey::from(42_i64));
/// // A name: the same key every time, everywhere.
/// assert_eq!(
///     PgLockKey::from_name("orders"),
///     PgLockKey::Int(PgLockKey::hash_name("orders"))
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgLockKey {
    /// A key of the `bigint` space: `pg_advisory_lock(key)`.
    Int(i64),
    /// A key of the two-`integer` space: `pg_advisory_lock(first, second)`.
    Pair(i32, i32),
}

impl PgLockKey {
    /// The key of a name: [`PgLockKey::Int`] of [`hash_name`](Self::hash_name).
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::postgres::PgLockKey;
    ///
    /// assert_eq!(PgLockKey::from_name("orders"), PgLockKey::from_name("orders"));
    /// assert_ne!(PgLockKey::from_name("orders"), PgLockKey::from_name("Orders"));
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        PgLockKey::Int(Self::hash_name(name))
    }

    /// The 64-bit key of a name: FNV-1a (64-bit) over the name's UTF-8
    /// bytes, with offset basis `0xcbf29ce484222325` and prime
    /// `0x100000001b3`, its bits read as an `i64`.
    ///
    /// It is fixed: a change would make two versions of a program take
    /// different locks for one name. Distinct names may share a key (a
    /// 64-bit hash): about one pair in 2^64, so with n names a collision has a
    /// chance of about n²/2^65.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::postgres::PgLockKey;
    ///
    /// // The FNV-1a test vectors.
    /// assert_eq!(PgLockKey::hash_name(""), 0xcbf29ce484222325_u64 as i64);
    /// assert_eq!(PgLockKey::hash_name("a"), 0xaf63dc4c8601ec8c_u64 as i64);
    /// ```
    #[must_use]
    pub fn hash_name(name: &str) -> i64 {
        const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let hash = name.bytes().fold(OFFSET_BASIS, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        });
        i64::from_ne_bytes(hash.to_ne_bytes())
    }

    /// The arguments of the advisory lock functions, as SQL text (integers
    /// only, so nothing to quote).
    pub(crate) fn sql_args(self) -> String {
        match self {
            PgLockKey::Int(key) => key.to_string(),
            PgLockKey::Pair(first, second) => format!("{first}, {second}"),
        }
    }

    /// The condition on `pg_locks` that selects this key's lock: the server
    /// stores a `bigint` key as its high and low 32 bits in `classid` and
    /// `objid` with `objsubid` 1, and a pair as its two keys with `objsubid` 2.
    pub(crate) fn pg_locks_condition(self) -> String {
        let (classid, objid, objsubid) = match self {
            PgLockKey::Int(key) => {
                let bits = u64::from_ne_bytes(key.to_ne_bytes());
                ((bits >> 32) as u32, bits as u32, 1)
            }
            PgLockKey::Pair(first, second) => (
                u32::from_ne_bytes(first.to_ne_bytes()),
                u32::from_ne_bytes(second.to_ne_bytes()),
                2,
            ),
        };
        format!(
            "locktype = 'advisory' AND classid = {classid} AND objid = {objid} AND objsubid = {objsubid}"
        )
    }
}

impl From<i64> for PgLockKey {
    fn from(key: i64) -> Self {
        PgLockKey::Int(key)
    }
}

impl From<(i32, i32)> for PgLockKey {
    fn from((first, second): (i32, i32)) -> Self {
        PgLockKey::Pair(first, second)
    }
}

impl From<&str> for PgLockKey {
    /// The same as [`PgLockKey::from_name`].
    fn from(name: &str) -> Self {
        PgLockKey::from_name(name)
    }
}

impl fmt::Display for PgLockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgLockKey::Int(key) => write!(f, "{key}"),
            PgLockKey::Pair(first, second) => write!(f, "({first}, {second})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_test_vectors() {
        // From the FNV reference test suite (64-bit FNV-1a).
        assert_eq!(PgLockKey::hash_name("foobar") as u64, 0x85944171f73967e8);
        assert_eq!(PgLockKey::hash_name("b") as u64, 0xaf63df4c8601f1a5);
    }

    #[test]
    fn pg_locks_columns_of_a_negative_key() {
        let condition = PgLockKey::Int(-2).pg_locks_condition();
        assert!(condition.contains("classid = 4294967295 AND objid = 4294967294 AND objsubid = 1"));
        let condition = PgLockKey::Pair(-1, 7).pg_locks_condition();
        assert!(condition.contains("classid = 4294967295 AND objid = 7 AND objsubid = 2"));
    }
}
