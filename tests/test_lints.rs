//! Every attribute, in every form, under the strictest lints: the generated
//! code must not trigger any warning in the user's crate (checked by
//! `cargo clippy --all-targets -- -D warnings`, and by rustc here).
#![deny(
    warnings,
    clippy::pedantic,
    unsafe_code,
    missing_docs,
    unused_qualifications,
    rust_2018_idioms
)]

mod macros_support;

use std::io;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use fasteners::{locked, read_locked, write_locked};
use macros_support::ToyLock;

static STATIC: Mutex<()> = Mutex::new(());

/// A struct with every kind of lock field.
pub struct Obj {
    lock: Mutex<()>,
    rw: RwLock<()>,
    toy: ToyLock,
    other: ToyLock,
}

impl Obj {
    /// `#[locked]`.
    #[locked]
    pub fn locked(&self) -> u8 {
        1
    }

    /// `#[locked]` with a unit body.
    #[locked]
    pub fn unit(&self) {}

    /// Several locks.
    #[locked(lock = [lock, self::STATIC])]
    pub fn several(&self) -> u8 {
        2
    }

    /// Timeout, several locks.
    ///
    /// # Errors
    ///
    /// When a lock stays taken.
    #[locked(lock = [toy, other], timeout = Duration::from_millis(10))]
    pub fn timeout(&self) -> fasteners::Result<u8> {
        Ok(3)
    }

    /// Non-blocking.
    ///
    /// # Errors
    ///
    /// When the lock is taken.
    #[locked(blocking = false)]
    pub fn non_blocking(&self) -> io::Result<u8> {
        Ok(4)
    }

    /// Read side.
    #[read_locked(lock = rw)]
    pub fn read(&self) -> u8 {
        5
    }

    /// Read side, timeout.
    ///
    /// # Errors
    ///
    /// When a writer holds the lock.
    #[read_locked(lock = toy, timeout = Duration::from_millis(10))]
    pub fn read_timeout(&self) -> fasteners::Result<u8> {
        Ok(6)
    }

    /// Write side.
    #[write_locked(lock = rw)]
    pub fn write(&self) -> u8 {
        7
    }

    /// Write side, non-blocking, early return.
    ///
    /// # Errors
    ///
    /// When the lock is taken.
    #[write_locked(lock = rw, blocking = false)]
    pub fn write_non_blocking(&self, early: bool) -> fasteners::Result<u8> {
        if early {
            return Ok(0);
        }
        Ok(8)
    }

    /// Write side, timeout, `?` in the body.
    ///
    /// # Errors
    ///
    /// When the lock stays taken, or `text` is not a number.
    #[write_locked(lock = toy, timeout = Duration::from_millis(10))]
    pub fn write_timeout(&self, text: &str) -> Result<u8, Box<dyn std::error::Error>> {
        Ok(text.parse()?)
    }

    /// Stacked attributes.
    #[locked]
    #[read_locked(lock = rw)]
    pub fn stacked(&self) -> u8 {
        18
    }

    /// `&mut self`.
    #[locked]
    pub fn by_mut(&mut self) -> u8 {
        let _ = &mut self.rw;
        10
    }
}

/// A free function on a static.
#[locked(lock = STATIC)]
#[must_use]
pub fn free() -> u8 {
    11
}

/// A lock made on first use.
static LAZY: std::sync::LazyLock<Mutex<()>> = std::sync::LazyLock::new(|| Mutex::new(()));

/// A one-line body (as written without rustfmt): the body's braces must not
/// look like braces written around a lone expression (`unused_braces`).
#[rustfmt::skip]
#[locked(lock = LAZY)] #[must_use] pub fn one_line() -> u8 { 19 }

/// One-line bodies of every sync attribute.
#[rustfmt::skip]
impl Obj {
    /// `#[read_locked]`, one line.
    #[read_locked(lock = rw)] #[must_use] pub fn read_one_line(&self) -> u8 { 20 }
    /// `#[write_locked]`, one line, with a timeout.
    ///
    /// # Errors
    ///
    /// When the lock stays taken.
    #[write_locked(lock = toy, timeout = Duration::from_millis(10))] pub fn write_one_line(&self) -> fasteners::Result<u8> { Ok(21) }
}

/// `#[interprocess_locked]`, one line.
#[rustfmt::skip]
#[fasteners::interprocess_locked(lock_path("one-line"))] #[must_use] pub fn file_one_line() -> u8 { 22 }

fn lock_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "fasteners-lints-{}-{name}.lock",
        std::process::id()
    ))
}

/// `#[interprocess_locked]`.
#[fasteners::interprocess_locked(lock_path("exclusive"))]
#[must_use]
pub fn file_locked() -> u8 {
    12
}

/// `#[interprocess_locked]` with a timeout.
///
/// # Errors
///
/// When the lock stays taken.
#[fasteners::interprocess_locked(lock_path("exclusive-timeout"), timeout = Duration::from_secs(5))]
pub fn file_locked_timeout() -> io::Result<u8> {
    Ok(13)
}

/// `#[interprocess_read_locked]`.
#[fasteners::interprocess_read_locked(lock_path("rw"))]
#[must_use]
pub fn file_read() -> u8 {
    14
}

/// `#[interprocess_write_locked]`, non-blocking.
///
/// # Errors
///
/// When the lock is taken.
#[fasteners::interprocess_write_locked(lock_path("rw"), blocking = false)]
pub fn file_write() -> fasteners::Result<u8> {
    Ok(15)
}

/// The crate's own reader-writer lock.
pub struct Store {
    lock: fasteners::ReaderWriterLock,
}

impl Store {
    /// Read side, timeout.
    ///
    /// # Errors
    ///
    /// When a writer holds the lock too long.
    #[read_locked(timeout = Duration::from_secs(5))]
    pub fn read(&self) -> fasteners::Result<u8> {
        Ok(16)
    }

    /// Write side.
    #[write_locked]
    pub fn write(&self) -> u8 {
        17
    }
}

/// Paths of every kind, `crate = path` (both forms) and `returns_result`.
pub mod forms {
    use std::time::Duration;

    use fasteners::locked;

    /// A `Result` alias not spelled `...Result`.
    pub type Fallible<T> = Result<T, fasteners::Error>;

    /// `crate::`, `super::` and `self::` paths in a list.
    #[locked(lock = [crate::STATIC, super::LAZY, self::LOCAL])]
    #[must_use]
    pub fn paths() -> u8 {
        23
    }

    static LOCAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// `crate = path` and `returns_result`.
    ///
    /// # Errors
    ///
    /// When the lock is taken.
    #[locked(lock = LOCAL, blocking = false, returns_result, crate = ::fasteners)]
    pub fn alias() -> Fallible<u8> {
        Ok(24)
    }

    /// `crate = "path"` on a file lock with a timeout.
    ///
    /// # Errors
    ///
    /// When the lock stays taken.
    #[fasteners::interprocess_locked(
        super::lock_path("forms"),
        timeout = Duration::from_secs(5),
        returns_result,
        crate = "fasteners",
    )]
    pub fn file_alias() -> Fallible<u8> {
        Ok(25)
    }
}

/// A named lock with a wait notice, exclusive and read/write.
#[fasteners::interprocess_locked(
    name = format!("fasteners-lints-{}", std::process::id()),
    on_wait = |path: &std::path::Path| eprintln!("waiting for {}", path.display()),
)]
#[must_use]
pub fn named() -> u8 {
    31
}

/// A named reader-writer lock, non-blocking.
///
/// # Errors
///
/// When a writer holds it.
#[fasteners::interprocess_read_locked(name = "fasteners-lints-rw", blocking = false)]
pub fn named_read() -> fasteners::Result<u8> {
    Ok(32)
}

/// A whole module under a named lock.
#[fasteners::interprocess_write_locked(name = "fasteners-lints-module")]
pub mod named_module {
    /// A function of the module.
    #[must_use]
    pub fn one() -> u8 {
        33
    }
}

/// A whole module under an in-process lock.
#[locked(lock = STATIC)]
pub mod whole_module {
    /// A function of the module.
    #[must_use]
    pub fn one() -> u8 {
        26
    }

    /// One calling another.
    #[must_use]
    pub fn two() -> u8 {
        one() + 1
    }

    /// Left alone.
    #[must_use]
    pub const fn constant() -> u8 {
        28
    }
}

/// A whole module under a file lock, with a timeout.
#[fasteners::interprocess_write_locked(lock_path("module"), timeout = Duration::from_secs(5))]
pub mod file_module {
    /// A function of the module.
    ///
    /// # Errors
    ///
    /// When the lock stays taken.
    pub fn one() -> std::io::Result<u8> {
        Ok(29)
    }

    /// An async function of the module.
    ///
    /// # Errors
    ///
    /// When the lock stays taken.
    pub async fn two() -> std::io::Result<u8> {
        Ok(one()? + 1)
    }
}

/// Tests in a module under a file lock.
#[cfg(test)]
#[fasteners::interprocess_locked(lock_path("module-tests"))]
mod module_tests {
    #[test]
    fn runs() {
        assert_eq!(super::whole_module::one(), 26);
    }
}

#[test]
fn the_new_forms_run() {
    let results = [
        forms::paths(),
        forms::alias().unwrap(),
        forms::file_alias().unwrap(),
        whole_module::one(),
        whole_module::two(),
        whole_module::constant(),
        file_module::one().unwrap(),
    ];
    assert_eq!(results, [23, 24, 25, 26, 27, 28, 29]);
    assert_eq!(
        [named(), named_read().unwrap(), named_module::one()],
        [31, 32, 33]
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(file_module::two()).unwrap(), 30);
    for name in ["forms", "module"] {
        std::fs::remove_file(lock_path(name)).unwrap();
    }
}

#[test]
fn everything_runs() {
    let mut obj = Obj {
        lock: Mutex::new(()),
        rw: RwLock::new(()),
        toy: ToyLock::new("toy"),
        other: ToyLock::new("other"),
    };
    obj.unit();
    assert_eq!(obj.stacked(), 18);
    let results = [
        obj.locked(),
        obj.several(),
        obj.timeout().unwrap(),
        obj.non_blocking().unwrap(),
        obj.read(),
        obj.read_timeout().unwrap(),
        obj.write(),
        obj.write_non_blocking(false).unwrap(),
        obj.write_timeout("9").unwrap(),
        obj.by_mut(),
        free(),
    ];
    assert_eq!(results, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    let one_line = [
        one_line(),
        obj.read_one_line(),
        obj.write_one_line().unwrap(),
        file_one_line(),
    ];
    assert_eq!(one_line, [19, 20, 21, 22]);
    let store = Store {
        lock: fasteners::ReaderWriterLock::new(),
    };
    let file_results = [
        file_locked(),
        file_locked_timeout().unwrap(),
        file_read(),
        file_write().unwrap(),
        store.read().unwrap(),
        store.write(),
    ];
    assert_eq!(file_results, [12, 13, 14, 15, 16, 17]);
    for name in ["exclusive", "exclusive-timeout", "rw", "one-line"] {
        std::fs::remove_file(lock_path(name)).unwrap();
    }
}
