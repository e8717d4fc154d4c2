//! The attribute macros (documented here, where users read them) and the
//! support code that their expansion calls.

/// Runs a method or function under an exclusive lock, as Python's `@locked`.
///
/// The body runs while the attribute holds the lock, and the lock is released
/// when the function is left: on return, on an early `return`, on `?` and on
/// panic. The lock is anything implementing [`Lockable`](crate::Lockable):
/// `std::sync::Mutex<()>`, the crate's locks, an `Arc`, `Box` or `LazyLock`
/// of one, or a type of your own.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
/// use std::sync::Mutex;
///
/// /// Two balances whose sum never changes, as seen under the lock.
/// struct Accounts {
///     lock: Mutex<()>,
///     checking: AtomicU64,
///     savings: AtomicU64,
/// }
///
/// impl Accounts {
///     #[fasteners::locked]
///     fn move_to_savings(&self, amount: u64) {
///         self.checking.fetch_sub(amount, Relaxed);
///         self.savings.fetch_add(amount, Relaxed);
///     }
///
///     #[fasteners::locked]
///     fn total(&self) -> u64 {
///         self.checking.load(Relaxed) + self.savings.load(Relaxed)
///     }
/// }
///
/// let accounts = Accounts {
///     lock: Mutex::new(()),
///     checking: AtomicU64::new(100),
///     savings: AtomicU64::new(0),
/// };
/// std::thread::scope(|s| {
///     s.spawn(|| (0..100).for_each(|_| accounts.move_to_savings(1)));
///     s.spawn(|| (0..100).for_each(|_| assert_eq!(accounts.total(), 100)));
/// });
/// assert_eq!(accounts.savings.load(Relaxed), 100);
/// ```
///
/// A free function names a static, and `blocking = false` runs the body only
/// if the lock is free:
///
/// ```
/// use std::sync::Mutex;
/// use fasteners::ErrorKind;
///
/// static JOBS: Mutex<()> = Mutex::new(());
///
/// #[fasteners::locked(lock = JOBS, blocking = false)]
/// fn run_jobs() -> fasteners::Result<&'static str> {
///     Ok("done")
/// }
///
/// assert_eq!(run_jobs().unwrap(), "done");
/// let held = JOBS.lock().unwrap();
/// assert_eq!(run_jobs().unwrap_err().kind(), ErrorKind::WouldBlock);
/// drop(held);
/// ```
///
/// # Which lock
///
/// | attribute | lock taken |
/// |---|---|
/// | `#[locked]` | the field `self.lock` |
/// | `#[locked(lock = name)]` | the field `self.name` |
/// | `#[locked(lock = [a, b, c])]` | `self.a`, then `self.b`, then `self.c`; released in reverse |
/// | `#[locked(lock = path::TO::STATIC)]` | the static `path::TO::STATIC` |
///
/// The rule is syntactic: a single identifier in a function that has `self`
/// names a field; a path with `::`, and any path in a function without
/// `self`, names a static (in a function without `self`, a single identifier
/// may also name a parameter). A static is named by any path that names it
/// where the attribute is written: `self::STATIC`, `super::STATIC`,
/// `crate::a::b::STATIC`, `::other_crate::STATIC`; to name one from a method,
/// write `lock = self::STATIC` or `lock = crate::STATIC`. A list may mix
/// fields and statics. A `const` is not a lock (every use of it is a fresh
/// value, which excludes nothing): naming one is a compile error ("temporary
/// value dropped while borrowed", at its name), since the attribute borrows
/// the lock for `'static`. The
/// field or static may be any type implementing the trait (`Mutex<()>`,
/// `Arc<Mutex<()>>`, `Box<L>`, `&L`, or a `static` `LazyLock<L>` made on first
/// use), and `self` may be `&self`, `&mut self` or `self: Arc<Self>`.
/// In a `&mut self` method the body may use the other fields, but not call
/// another `&mut self` method, since the guard borrows the lock's field.
///
/// # Options
///
/// - `timeout = <Duration expression>`: wait at most that long (for the
///   whole list of locks together); the lock must implement
///   [`TimedLockable`](crate::TimedLockable), which std's locks do not. The
///   expression is evaluated on each call, before the lock is taken, and may
///   use `self` and the parameters (`timeout = self.patience`).
/// - `blocking = false`: take the lock only if it is free right now.
/// - `returns_result`: the function returns a `Result` although its return
///   type is not spelled `...Result` (a type alias such as
///   `type Fallible<T> = Result<T, MyError>`): the lock's error then goes out
///   through it as `Err(E::from(err))`.
/// - `crate = path`: where the `fasteners` crate is, for a crate that
///   depends on it under another name (`crate = fast`) or uses the
///   attributes through a crate that re-exports them
///   (`crate = my_framework::fasteners`); also written as a string,
///   `crate = "my_framework::fasteners"`. The generated code names
///   `::fasteners` otherwise.
///
/// Either of `timeout` and `blocking = false` can fail, so the function must
/// then return a `Result`.
///
/// Attributes can be stacked; as with stacked Python decorators, the top
/// one's lock is taken first and released last. Two stacked attributes that
/// name the same lock (`#[locked] #[locked]`, `#[read_locked(lock = rw)]
/// #[write_locked(lock = rw)]`, a static in two lists) are a compile error at
/// the second: taking it again would deadlock.
///
/// # On a module
///
/// On an inline module, the attribute runs every function directly in the
/// module under one lock: `#[test]`s, `#[tokio::test]`s (which then need an
/// async lock) and helpers alike, while nested modules, `const fn`s, `impl`
/// blocks and other items are left alone. The lock is a static named by a
/// path (`#[locked(lock = SERIAL)] mod tests { .. }`), resolved where the
/// attribute is written, as are the options' expressions. A function of the
/// module called by another one, on the thread that holds the lock, does not
/// take it again, so a test may call a helper of its module; a thread that a
/// test starts and that calls a function of the module waits for the lock
/// like any other. The module must be at module level (not inside a function
/// body) and written inline: on `mod tests;` the attribute cannot see the
/// functions and says so.
///
/// ```
/// use std::sync::Mutex;
///
/// static SERIAL: Mutex<()> = Mutex::new(());
///
/// #[fasteners::locked(lock = SERIAL)]
/// mod counters {
///     pub fn reset() -> u32 {
///         0
///     }
///
///     /// Calls another function of the module: no deadlock.
///     pub fn fresh() -> u32 {
///         reset() + 1
///     }
/// }
///
/// # fn main() {
/// assert_eq!(counters::fresh(), 1);
/// assert!(SERIAL.try_lock().is_ok()); // released after each call
/// # }
/// ```
///
/// # `async fn`
///
/// On an `async fn` the lock is taken with `.await` through the async traits
/// ([`AsyncLockable`](crate::AsyncLockable), and
/// [`AsyncTimedLockable`](crate::AsyncTimedLockable) for a timeout): the task
/// waits without blocking its thread and holds the guard across the body's
/// `.await`s. The lock must be async-capable: the crate's process locks, or
/// `tokio::sync::Mutex` / `RwLock` with the fasteners feature `tokio`. A
/// lock whose guard cannot be held across `.await` (std's `Mutex`) is a
/// compile error saying so. The returned future is `Send` whenever the lock's
/// future and guard are (for all of the above), so it can be given to
/// `tokio::spawn`.
///
/// ```
/// use std::time::Duration;
///
/// struct Cache {
///     file: fasteners::InterProcessLock,
/// }
///
/// impl Cache {
///     #[fasteners::locked(lock = file, timeout = Duration::from_secs(5))]
///     async fn refresh(&self) -> fasteners::Result<u32> {
///         tokio::task::yield_now().await; // the lock is held across `.await`
///         Ok(1)
///     }
/// }
///
/// # let path = std::env::temp_dir().join(format!("locked-async-doc-{}.lock", std::process::id()));
/// let cache = std::sync::Arc::new(Cache {
///     file: fasteners::InterProcessLock::new(&path),
/// });
/// let runtime = tokio::runtime::Runtime::new().unwrap();
/// let task = runtime.spawn(async move { cache.refresh().await });
/// assert_eq!(runtime.block_on(task).unwrap().unwrap(), 1);
/// # std::fs::remove_file(&path).unwrap();
/// ```
///
/// # Errors
///
/// If the function's return type is written as a `Result` (`Result<T, E>`,
/// `io::Result<T>`, `fasteners::Result<T>`: any path ending in `Result`), a
/// failure to take the lock returns `Err(E::from(err))`, so `E` must implement
/// `From<`[`Error`](crate::Error)`>` (`fasteners::Error`, `std::io::Error`,
/// `Box<dyn std::error::Error>` do). The error is
/// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) after a timeout,
/// [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) with
/// `blocking = false`, or whatever the lock reports.
///
/// # Panics
///
/// If the return type is not a `Result`, a failure to take the lock panics
/// with a message naming the function, the lock and the reason. (std's
/// `Mutex` never fails: poisoning is ignored.)
///
/// Misuse is a compile error pointing at the offending token: a `const fn`,
/// `#[locked]` without `lock =` on a function without `self`, an option on a
/// function that does not return a `Result`, a field that is not a lock, a
/// `const` named as a lock, a lock that is not async-capable on an
/// `async fn`, the same lock taken by two stacked attributes, a `timeout`
/// that is not a `Duration`, a misspelt option (with the option meant), and
/// the attribute on anything but a function or an inline module.
pub use fasteners_macros::locked;

/// Runs a method or function under the shared (read) side of a reader-writer
/// lock, as Python's `@read_locked`.
///
/// Same forms, options, errors and panics as [`locked`](macro@crate::locked):
/// `#[read_locked]` takes the field `self.lock`, `#[read_locked(lock = name)]`
/// another field, `#[read_locked(lock = [a, b])]` several in order,
/// `#[read_locked(lock = path::TO::STATIC)]` a static; with
/// `timeout = Duration` or `blocking = false`. The lock must implement
/// [`SharedLockable`](crate::SharedLockable) (`std::sync::RwLock<()>`,
/// the crate's reader-writer locks), and
/// [`SharedTimedLockable`](crate::SharedTimedLockable) for a timeout.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
/// use std::sync::RwLock;
///
/// struct Stats {
///     lock: RwLock<()>,
///     hits: AtomicU64,
///     misses: AtomicU64,
/// }
///
/// impl Stats {
///     /// Many readers at once; never a half-done update.
///     #[fasteners::read_locked]
///     fn snapshot(&self) -> HashMap<&'static str, u64> {
///         HashMap::from([("hits", self.hits.load(Relaxed)), ("misses", self.misses.load(Relaxed))])
///     }
///
///     #[fasteners::write_locked]
///     fn reset(&self) {
///         self.hits.store(0, Relaxed);
///         self.misses.store(0, Relaxed);
///     }
/// }
///
/// let stats = Stats { lock: RwLock::new(()), hits: AtomicU64::new(3), misses: AtomicU64::new(1) };
/// assert_eq!(stats.snapshot()["hits"], 3);
/// stats.reset();
/// assert_eq!(stats.snapshot()["misses"], 0);
/// ```
///
/// # Errors
///
/// As for [`locked`](macro@crate::locked): a function returning a `Result`
/// returns `Err` when the read side cannot be taken.
///
/// # Panics
///
/// As for [`locked`](macro@crate::locked): any other function panics then.
pub use fasteners_macros::read_locked;

/// Runs a method or function under the exclusive (write) side of a
/// reader-writer lock, as Python's `@write_locked`.
///
/// Same forms, options, errors and panics as [`locked`](macro@crate::locked),
/// but the lock must be a reader-writer lock: it must implement
/// [`SharedLockable`](crate::SharedLockable) (and
/// [`SharedTimedLockable`](crate::SharedTimedLockable) for a timeout), so that
/// `#[write_locked]` on a plain mutex is a compile error rather than a
/// disguised `#[locked]`.
///
/// # Examples
///
/// ```
/// use std::sync::RwLock;
/// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
///
/// struct Config {
///     lock: RwLock<()>,
///     version: AtomicU32,
/// }
///
/// impl Config {
///     #[fasteners::write_locked(blocking = false)]
///     fn bump(&self) -> fasteners::Result<u32> {
///         Ok(self.version.fetch_add(1, Relaxed) + 1)
///     }
/// }
///
/// let config = Config { lock: RwLock::new(()), version: AtomicU32::new(0) };
/// assert_eq!(config.bump().unwrap(), 1);
/// let reading = config.lock.read().unwrap();
/// assert!(config.bump().is_err()); // a reader holds the lock
/// drop(reading);
/// ```
///
/// # Errors
///
/// As for [`locked`](macro@crate::locked).
///
/// # Panics
///
/// As for [`locked`](macro@crate::locked).
pub use fasteners_macros::write_locked;

/// Runs a function under an exclusive file lock, as Python's
/// `@interprocess_locked(path)`: one process and one thread at a time.
///
/// `path` is any expression of a type implementing `AsRef<Path>` (a literal,
/// a `const`, a call such as `std::env::temp_dir().join("app.lock")`). It is
/// evaluated once, on the first call, into one
/// [`InterProcessLock`](crate::InterProcessLock) per annotated function,
/// shared by all its callers. Being evaluated in a static initializer, it
/// cannot use the function's parameters, generics or `Self` (name the type).
///
/// File locks are not re-entrant: a function that calls itself, or another
/// function locking the same file, gets [`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock)
/// (an `Err`, or a panic) rather than waiting forever for itself.
///
/// Forms: `#[interprocess_locked(path)]`,
/// `#[interprocess_locked(path, timeout = Duration)]`,
/// `#[interprocess_locked(path, blocking = false)]`, and the options
/// `returns_result` and `crate = path` of [`locked`](macro@crate::locked).
/// Instead of a path, `name = "db"` (any expression of a type implementing
/// `AsRef<str>`) takes the named lock of
/// [`InterProcessLock::named`](crate::InterProcessLock::named): every
/// function, thread and process using the name excludes the others, and a
/// bad name is an error at the first call. `on_wait = callback` (a
/// `Fn(&Path)`) gives the lock a callback run once when a call has to wait
/// ([`InterProcessLock::on_wait`](crate::InterProcessLock::on_wait)); like
/// the path, it is evaluated once, in the lock's static.
///
/// ```
/// // Says "Blocking waiting for file lock on ..." when another process has it.
/// #[fasteners::interprocess_locked(
///     name = "fasteners-doc-reports",
///     on_wait = fasteners::notice::cargo_style,
/// )]
/// fn publish_report() -> u32 {
///     7
/// }
///
/// assert_eq!(publish_report(), 7);
/// ```
///
/// The path cannot use the function's parameters, locals of an enclosing
/// function, its generic parameters or `Self`: each is a compile error of the
/// attribute's own saying so. (A lower-case name in the path is taken for a
/// local, since statics and constants are named in upper case.)
///
/// # Serialising tests
///
/// On a whole inline module, every function directly in it runs under the
/// one file lock, as for [`locked`](macro@crate::locked)'s modules: the
/// tests of the module exclude each other whether the test runner gives each
/// its own process (`cargo nextest`) or its own thread (`cargo test`), and
/// exclude the tests of other modules and binaries on the same path. A test
/// that panics releases the lock as it unwinds; a test process that dies
/// releases it with the process.
///
/// ```
/// #[fasteners::interprocess_locked(std::env::temp_dir().join("fasteners-doc-db-tests.lock"))]
/// mod database_tests {
///     fn fresh_schema() -> u32 {
///         1
///     }
///
///     // `#[test]` (or `#[tokio::test]`) in a test module.
///     pub fn migrates() {
///         assert_eq!(fresh_schema(), 1); // a helper of the module: no WouldDeadlock
///     }
/// }
/// # fn main() {
/// database_tests::migrates();
/// # }
/// ```
///
/// On an `async fn` (all three `interprocess` attributes) the lock is taken
/// with the async acquisition ([`InterProcessLock::lock_async`](crate::InterProcessLock::lock_async)
/// and friends): the task waits without blocking its thread, holds the lock
/// across the body's `.await`s, and the returned future is `Send`. As with
/// every async acquisition, holders are acquisitions rather than threads, so
/// a locked `async fn` that calls itself (or another on the same file) waits
/// forever instead of getting `WouldDeadlock`.
///
/// ```
/// #[fasteners::interprocess_locked(std::env::temp_dir().join("fasteners-doc-async.lock"))]
/// async fn reindex() -> u32 {
///     tokio::task::yield_now().await; // still under the file lock
///     42
/// }
///
/// let runtime = tokio::runtime::Runtime::new().unwrap();
/// assert_eq!(runtime.block_on(runtime.spawn(reindex())).unwrap(), 42);
/// ```
///
/// # Examples
///
/// ```
/// use std::{fs, io};
///
/// /// Adds one to a counter file shared by every process on the machine.
/// #[fasteners::interprocess_locked(std::env::temp_dir().join("fasteners-doc-counter.lock"))]
/// fn bump() -> io::Result<u64> {
///     let path = std::env::temp_dir().join("fasteners-doc-counter");
///     let count: u64 = fs::read_to_string(&path)
///         .ok()
///         .and_then(|text| text.trim().parse().ok())
///         .unwrap_or(0);
///     fs::write(&path, (count + 1).to_string())?;
///     Ok(count + 1)
/// }
///
/// let first = bump()?;
/// assert!(bump()? > first);
/// # Ok::<(), io::Error>(())
/// ```
///
/// # Errors
///
/// A function returning a `Result` returns `Err` when the lock cannot be
/// taken: the file cannot be opened or locked ([`ErrorKind::Io`](crate::ErrorKind::Io)),
/// the timeout passed, or the lock was busy with `blocking = false`.
///
/// # Panics
///
/// Any other function panics then, with a message naming the function, the
/// lock file's path and the OS reason.
pub use fasteners_macros::interprocess_locked;

/// Runs a function under the shared (read) side of a file lock, as Python's
/// `@interprocess_read_locked(path)`: many readers at once, in any process.
///
/// Like [`interprocess_locked`](macro@crate::interprocess_locked), with one
/// [`InterProcessReaderWriterLock`](crate::InterProcessReaderWriterLock) per
/// annotated function. Forms: `#[interprocess_read_locked(path)]` or
/// `#[interprocess_read_locked(name = "key")]`, with `, timeout = Duration`
/// or `, blocking = false`, and the other options of
/// [`interprocess_locked`](macro@crate::interprocess_locked).
///
/// # Examples
///
/// ```
/// use std::path::PathBuf;
/// use std::{fs, io};
///
/// fn settings_lock() -> PathBuf {
///     std::env::temp_dir().join("fasteners-doc-settings.lock")
/// }
///
/// fn settings_file() -> PathBuf {
///     std::env::temp_dir().join("fasteners-doc-settings")
/// }
///
/// #[fasteners::interprocess_read_locked(settings_lock())]
/// fn load() -> io::Result<String> {
///     fs::read_to_string(settings_file())
/// }
///
/// #[fasteners::interprocess_write_locked(settings_lock())]
/// fn store(text: &str) -> io::Result<()> {
///     fs::write(settings_file(), text)
/// }
///
/// store("dark mode")?;
/// assert_eq!(load()?, "dark mode");
/// # Ok::<(), io::Error>(())
/// ```
///
/// # Errors
///
/// As for [`interprocess_locked`](macro@crate::interprocess_locked).
///
/// # Panics
///
/// As for [`interprocess_locked`](macro@crate::interprocess_locked).
pub use fasteners_macros::interprocess_read_locked;

/// Runs a function under the exclusive (write) side of a file lock, as
/// Python's `@interprocess_write_locked(path)`.
///
/// Like [`interprocess_locked`](macro@crate::interprocess_locked), with one
/// [`InterProcessReaderWriterLock`](crate::InterProcessReaderWriterLock) per
/// annotated function (functions naming the same path exclude each other
/// through the file). Forms: `#[interprocess_write_locked(path)]` or
/// `#[interprocess_write_locked(name = "key")]`, with `, timeout = Duration`
/// or `, blocking = false`, and the other options of
/// [`interprocess_locked`](macro@crate::interprocess_locked).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[fasteners::interprocess_write_locked(
///     std::env::temp_dir().join("fasteners-doc-migrate.lock"),
///     timeout = Duration::from_secs(5),
/// )]
/// fn migrate() -> fasteners::Result<()> {
///     // ... rewrite shared files; no reader sees them half done ...
///     Ok(())
/// }
///
/// migrate()?;
/// # Ok::<(), fasteners::Error>(())
/// ```
///
/// # Errors
///
/// As for [`interprocess_locked`](macro@crate::interprocess_locked).
///
/// # Panics
///
/// As for [`interprocess_locked`](macro@crate::interprocess_locked).
pub use fasteners_macros::interprocess_write_locked;

/// Not public API: what the code generated by the attribute macros calls.
#[doc(hidden)]
pub mod __private {
    use std::future::Future;
    use std::sync::{Mutex, PoisonError};
    use std::thread::{self, ThreadId};
    use std::time::{Duration, Instant};

    use crate::{
        AsyncLockable, AsyncSharedLockable, AsyncSharedTimedLockable, Error, Lockable, Result,
        SharedLockable, SharedTimedLockable,
    };

    /// The per-function file lock of `#[interprocess_*]`, created on first call.
    pub use std::sync::LazyLock;

    /// Unwraps a guard in a function that cannot return an error.
    #[inline]
    #[track_caller]
    pub fn guard_or_panic<G>(result: Result<G>, message: &'static str) -> G {
        match result {
            Ok(guard) => guard,
            Err(err) => lock_failed(message, &err),
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_failed(message: &'static str, err: &Error) -> ! {
        panic!("{message}: {err}")
    }

    /// The write side of a reader-writer lock (`#[write_locked]`).
    #[inline]
    pub fn lock_write<L: SharedLockable + ?Sized>(lock: &L) -> Result<L::Guard<'_>> {
        Lockable::lock(lock)
    }

    /// The write side, only if free (`#[write_locked(blocking = false)]`).
    #[inline]
    pub fn try_lock_write<L: SharedLockable + ?Sized>(lock: &L) -> Result<L::Guard<'_>> {
        Lockable::try_lock(lock)
    }

    /// The write side, waiting at most `timeout` (`#[write_locked(timeout = ..)]`).
    #[inline]
    pub fn try_lock_write_for<L: SharedTimedLockable + ?Sized>(
        lock: &L,
        timeout: Duration,
    ) -> Result<L::Guard<'_>> {
        crate::TimedLockable::try_lock_for(lock, timeout)
    }

    /// The write side of an async reader-writer lock (`#[write_locked]` on
    /// an `async fn`).
    #[inline]
    pub fn lock_write_async<L: AsyncSharedLockable + ?Sized>(
        lock: &L,
    ) -> impl Future<Output = Result<L::AsyncGuard<'_>>> {
        AsyncLockable::lock_async(lock)
    }

    /// The write side, only if free (`#[write_locked(blocking = false)]` on
    /// an `async fn`).
    #[inline]
    pub fn try_lock_write_async<L: AsyncSharedLockable + ?Sized>(
        lock: &L,
    ) -> Result<L::AsyncGuard<'_>> {
        AsyncLockable::try_lock_async(lock)
    }

    /// The write side, waiting at most `timeout` (`#[write_locked(timeout = ..)]`
    /// on an `async fn`).
    #[inline]
    pub fn lock_write_async_for<L: AsyncSharedTimedLockable + ?Sized>(
        lock: &L,
        timeout: Duration,
    ) -> impl Future<Output = Result<L::AsyncGuard<'_>>> {
        crate::AsyncTimedLockable::lock_async_for(lock, timeout)
    }

    /// The value of `timeout = ..`: a `Duration`.
    #[diagnostic::on_unimplemented(
        message = "`timeout` takes a `Duration`, e.g. `timeout = Duration::from_secs(5)`",
        label = "`{Self}` is not a `Duration`",
        note = "`Duration` is `std::time::Duration`: write `Duration::from_secs(5)` or `Duration::from_millis(500)`"
    )]
    pub trait Timeout {
        /// The timeout.
        fn into_duration(self) -> Duration;
    }

    impl Timeout for Duration {
        #[inline]
        fn into_duration(self) -> Duration {
            self
        }
    }

    /// Evaluates `timeout = ..` (where a wrong type gets [`Timeout`]'s message).
    #[inline]
    pub fn timeout(timeout: impl Timeout) -> Duration {
        timeout.into_duration()
    }

    /// A lock named by a path (`lock = crate::LOCK`): it must be a `static`.
    /// A `const` is a fresh value at every use, so it excludes nothing; a
    /// borrow of one does not live for `'static` and fails here (E0716 at the
    /// name) instead of compiling into a lock that does not lock.
    #[inline]
    #[must_use]
    pub const fn static_lock<L: ?Sized>(lock: &'static L) -> &'static L {
        lock
    }

    /// The threads holding a module's lock (`#[interprocess_locked(..)] mod m`),
    /// so that a function of the module called by another one, in the
    /// thread that holds the lock, does not take it again.
    pub struct Holders(Mutex<Vec<ThreadId>>);

    impl Holders {
        /// No holder.
        #[must_use]
        pub const fn new() -> Self {
            Holders(Mutex::new(Vec::new()))
        }

        /// Whether this thread holds the module's lock.
        #[must_use]
        pub fn is_mine(&self) -> bool {
            let me = thread::current().id();
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&me)
        }

        /// Records that this thread holds the module's lock, until the
        /// returned mark is dropped (before the lock is released).
        #[must_use = "the thread is recorded as holding the lock until the mark is dropped"]
        pub fn enter(&'static self) -> Entered {
            let thread = thread::current().id();
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(thread);
            Entered {
                holders: self,
                thread,
            }
        }
    }

    impl Default for Holders {
        fn default() -> Self {
            Holders::new()
        }
    }

    /// A thread's record in [`Holders`], removed on drop (from whichever
    /// thread an async guard is dropped in).
    #[must_use = "the thread is recorded as holding the lock until the mark is dropped"]
    pub struct Entered {
        holders: &'static Holders,
        thread: ThreadId,
    }

    impl Drop for Entered {
        fn drop(&mut self) {
            let mut threads = self
                .holders
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(index) = threads.iter().position(|t| *t == self.thread) {
                threads.swap_remove(index);
            }
        }
    }

    /// One timeout shared by the locks of `lock = [a, b, ..]`.
    pub struct Deadline {
        start: Instant,
        timeout: Duration,
    }

    impl Deadline {
        /// Starts the clock.
        #[must_use]
        pub fn after(timeout: Duration) -> Self {
            Deadline {
                start: Instant::now(),
                timeout,
            }
        }

        /// What is left of the timeout (zero once it has passed).
        #[must_use]
        pub fn remaining(&self) -> Duration {
            self.timeout.saturating_sub(self.start.elapsed())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::__private::Deadline;

    #[test]
    fn a_deadline_counts_down_to_zero() {
        let deadline = Deadline::after(Duration::from_secs(60));
        let first = deadline.remaining();
        assert!(first <= Duration::from_secs(60));
        assert!(deadline.remaining() <= first);
        assert_eq!(Deadline::after(Duration::ZERO).remaining(), Duration::ZERO);
        // Far-off deadlines do not overflow.
        assert!(Deadline::after(Duration::MAX).remaining() > Duration::from_secs(1 << 40));
    }
}
