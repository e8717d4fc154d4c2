//! [`PgLock`] and [`PgReaderWriterLock`]: the lock objects users touch.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::Duration;

use super::drive::Foreground;
use super::guard::{
    AsyncPgLockGuard, AsyncPgReadGuard, AsyncPgWriteGuard, Held, PgLockGuard, PgReadGuard,
    PgWriteGuard, Share,
};
use super::raw::{self, Pg, PgArbiter};
use super::session::{Heartbeat, Target};
use super::PgLockKey;
use crate::arbiter::{Holder, Progress, Wait};
use crate::sys::Mode;
use crate::{Error, ErrorKind, Result};

/// What both lock types are made of: the arbitration (shared with the file
/// locks) over the object's session, and the holds of the Python-style
/// `acquire` / `release` pairs.
struct Object {
    arbiter: Arc<PgArbiter>,
    acquired: Mutex<Vec<(ThreadId, Mode, Held<'static>)>>,
}

impl Object {
    fn new(target: Target) -> Self {
        Object {
            arbiter: Pg::arbiter(target),
            acquired: Mutex::new(Vec::new()),
        }
    }

    fn name(&self) -> &Arc<str> {
        &self.arbiter.backend.target.name
    }

    /// Takes the lock for the calling thread.
    fn acquire<'h>(&self, mode: Mode, wait: Wait) -> Result<Held<'h>> {
        let me = thread::current().id();
        // Also through another lock object for the same key on the same
        // server (as spelled): its session would wait for this one forever.
        if threads_holding()
            .iter()
            .any(|(name, thread)| name == self.name() && *thread == me)
        {
            return Err(Error::server_refused(
                ErrorKind::WouldDeadlock,
                self.name(),
                "this thread already holds this lock (PostgreSQL locks are not re-entrant)",
            ));
        }
        // Connected before the arbitration, so that a first connection does
        // not hold up the object's other threads.
        self.arbiter.backend.session()?;
        let holder = Holder::Thread(me);
        self.arbiter.acquire(self.name(), mode, wait, holder)?;
        threads_holding().push((Arc::clone(self.name()), me));
        self.held(mode, holder)
    }

    /// Takes the lock for a `Send` guard, waiting as a future.
    async fn acquire_async(&self, mode: Mode, wait: Wait) -> Result<Held<'_>> {
        self.arbiter.session_async().await?;
        let acquiring = Acquiring {
            arbiter: &self.arbiter,
            progress: Progress::new(mode, wait),
            wait: None,
        };
        let holder = acquiring.progress.holder;
        acquiring.await?;
        self.held(mode, holder)
    }

    /// A `Send` guard without waiting.
    fn try_acquire_send(&self, mode: Mode) -> Result<Held<'_>> {
        self.arbiter.backend.session()?;
        let holder = Holder::new_token();
        self.arbiter.acquire(self.name(), mode, Wait::Try, holder)?;
        self.held(mode, holder)
    }

    /// The guard part of a share just acquired.
    fn held<'h>(&self, mode: Mode, holder: Holder) -> Result<Held<'h>> {
        let session = self.arbiter.holding_session();
        let Some(session) = session else {
            // Held means a holding session: this cannot happen, and is not
            // worth a panic.
            forget_thread(self.name(), holder);
            let _ = self.arbiter.release(self.name(), mode, holder);
            return Err(self.arbiter.backend.runtime_gone());
        };
        Ok(Held::new(Share {
            arbiter: Arc::clone(&self.arbiter),
            mode,
            holder,
            session,
        }))
    }

    fn acquire_unguarded(
        &self,
        mode: Mode,
        blocking: bool,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        match self.acquire(mode, Wait::from_python(blocking, timeout)) {
            Ok(held) => {
                self.acquired
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((thread::current().id(), mode, held));
                Ok(true)
            }
            Err(err) if err.is_contention() => Ok(false),
            Err(err) => Err(err),
        }
    }

    fn release_acquired(&self, mode: Mode, what: &'static str) -> Result<()> {
        let me = thread::current().id();
        let held = {
            let mut acquired = self.acquired.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(index) = acquired.iter().position(|(t, m, _)| (*t, *m) == (me, mode)) else {
                return Err(Error::server_refused(ErrorKind::NotHeld, self.name(), what));
            };
            acquired.swap_remove(index).2
        };
        held.release()
    }

    fn is_held(&self) -> bool {
        self.arbiter.is_held()
    }

    fn key(&self) -> PgLockKey {
        self.arbiter.backend.target.key
    }

    fn set_heartbeat(&self, interval: Duration, timeout: Duration) {
        self.arbiter
            .backend
            .target
            .set_heartbeat(Heartbeat { interval, timeout });
    }
}

impl Drop for Object {
    /// Gives back what `acquire` took and nobody released.
    fn drop(&mut self) {
        let acquired = self
            .acquired
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, _, held) in std::mem::take(acquired) {
            let _ = held.release();
        }
    }
}

/// An async acquisition in the arbitration; cancel-safe: dropped before it
/// is ready, it leaves (and a background wait nobody needs any more ends on
/// the server). A background wait it starts, it drives itself while it
/// waits ([`raw::polled_by_task`]).
struct Acquiring<'a> {
    arbiter: &'a Arc<PgArbiter>,
    progress: Progress,
    wait: Option<Foreground<()>>,
}

impl Future for Acquiring<'_> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let name = &this.arbiter.backend.target.name;
        loop {
            if let Some(wait) = &mut this.wait {
                if Pin::new(wait).poll(cx).is_ready() {
                    this.wait = None;
                }
            }
            let (polled, started) =
                raw::polled_by_task(|| this.arbiter.poll_acquire(name, &mut this.progress, cx));
            if polled.is_ready() {
                // A wait still under way (the acquisition timed out) goes
                // on on the backend's runtime for the other waiters, or
                // ends there.
                this.wait = None;
                return polled;
            }
            match started {
                Some(wait) => this.wait = Some(wait),
                None => return polled,
            }
        }
    }
}

impl Drop for Acquiring<'_> {
    fn drop(&mut self) {
        self.arbiter.cancel(&mut self.progress);
    }
}

/// The threads of this process holding a lock, by the lock's description
/// (its key and server as spelled in the configuration), whatever the object.
fn threads_holding() -> MutexGuard<'static, Vec<(Arc<str>, ThreadId)>> {
    static HOLDING: Mutex<Vec<(Arc<str>, ThreadId)>> = Mutex::new(Vec::new());
    HOLDING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Forgets that a thread holds the lock `name`, when its share goes.
pub(super) fn forget_thread(name: &Arc<str>, holder: Holder) {
    if let Holder::Thread(me) = holder {
        let mut threads = threads_holding();
        if let Some(index) = threads.iter().position(|(n, t)| n == name && *t == me) {
            threads.swap_remove(index);
        }
    }
}

/// An exclusive PostgreSQL advisory lock, for threads and processes on any
/// number of machines.
///
/// - **Nothing connects until the first acquire**; then the lock object
///   keeps one connection of its own (never a pooled one) for as long as it
///   lives, reconnecting if the connection ends. All threads and tasks of
///   this process that use the object share it; the object arbitrates
///   between them in process, and the server between processes.
/// - **Not re-entrant.** A thread that holds the lock and asks again gets
///   [`ErrorKind::WouldDeadlock`] at once (the server would let the session
///   take it again). As with the file locks, a task is not recognised as a
///   holder: it waits.
/// - **Server-side waits**, no polling: a blocked acquire waits in
///   `pg_advisory_lock`, and a timed one sets `lock_timeout` for that one
///   request (`SET LOCAL` in the same round trip: the session's own
///   `lock_timeout` is never changed).
/// - **Cancel-safe async**: a dropped acquire future cancels its request on
///   the server (and gives back a grant that raced the cancel), so nothing is
///   held or queued for it.
/// - **Released when the holder dies**: the server releases a session's
///   locks when its connection ends. See [the module docs](crate::postgres)
///   for how a lost lock is noticed.
/// - Two lock objects for one key in one process exclude each other through
///   the server (each has its own connection). A thread holding the key
///   through one and asking through another gets `WouldDeadlock` too, if
///   both name the server the same way (hosts, ports, database, user); named
///   differently (`localhost` and `127.0.0.1`), it would wait forever. One
///   object per key per process (a `static`) avoids the question.
///
/// # Examples
///
/// ```no_run
/// use fasteners::postgres::{PgLock, PgLockKey};
///
/// let lock = PgLock::new("postgres://app@db.example/app", PgLockKey::from_name("orders"));
/// let guard = lock.lock()?;
/// // Only this thread, of all processes using the key on that server, runs here.
/// guard.check()?; // still held?
/// drop(guard); // released, once the server confirms
/// # Ok::<(), fasteners::Error>(())
/// ```
pub struct PgLock {
    object: Object,
}

/// A shared / exclusive PostgreSQL advisory lock: many readers at once, in
/// any threads and processes, or one writer.
///
/// As [`PgLock`] in every other respect. Readers of one process share one
/// shared lock on the server. Writers go first: in process, once a thread or
/// task waits for the write side, new readers of this process wait behind
/// it; on the server, a shared request waits behind a waiting exclusive one
/// (the server's lock queue is first come, first served), and a try of the
/// read side fails while a writer waits.
///
/// # Examples
///
/// ```no_run
/// use fasteners::postgres::PgReaderWriterLock;
///
/// let lock = PgReaderWriterLock::new("postgres://app@db.example/app", 42);
/// {
///     let _reading = lock.read()?;
///     // Other readers, anywhere, may be here too; no writer is.
/// }
/// let _writing = lock.write()?; // alone
/// # Ok::<(), fasteners::Error>(())
/// ```
pub struct PgReaderWriterLock {
    object: Object,
}

/// The constructors and settings both lock types share.
macro_rules! common {
    ($lock:ident, $async_lock:ident) => {
        impl $lock {
            /// Makes a lock on `key` on the server that the connection string
            /// `conn` names (a `postgres://` URL or `key=value` pairs, as
            /// libpq takes); nothing connects until the first acquire. A
            /// string that does not parse is reported by the first acquire.
            ///
            /// Connections are made without TLS, to the hosts (or `hostaddr`
            /// addresses, or Unix socket directories) of the configuration in
            /// turn, shuffled if `load_balance_hosts=random`, keeping to
            /// `target_session_attrs`. The lock adds to the configuration: a
            /// connect timeout of 10 s unless one is given (for each address
            /// tried, handshake included), TCP keepalives (2 s idle, 1 s
            /// apart, 2 probes), a TCP user timeout of 4 s unless one is
            /// given, and the application name `fasteners` unless one is
            /// given.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use fasteners::postgres::", stringify!($lock), ";")]
            ///
            #[doc = concat!("let lock = ", stringify!($lock), "::new(\"postgres://app@db.example/app\", \"nightly-report\");")]
            /// // Nothing has connected yet.
            /// assert!(!lock.is_held());
            /// ```
            pub fn new(conn: &str, key: impl Into<PgLockKey>) -> Self {
                $lock {
                    object: Object::new(Target::parse(conn, key.into())),
                }
            }

            /// Makes a lock on `key` on the server that `config` describes;
            /// nothing connects until the first acquire.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use fasteners::postgres::{", stringify!($lock), ", PgLockKey};")]
            ///
            /// let mut config = tokio_postgres::Config::new();
            /// config.host("db.example").user("app").dbname("app");
            #[doc = concat!("let lock = ", stringify!($lock), "::from_config(config, PgLockKey::Pair(7, 1));")]
            /// assert_eq!(lock.key(), PgLockKey::Pair(7, 1));
            /// ```
            pub fn from_config(config: tokio_postgres::Config, key: impl Into<PgLockKey>) -> Self {
                $lock {
                    object: Object::new(Target::new(config, key.into())),
                }
            }

            /// Sets how a held lock is watched: a `SELECT 1` on its session
            /// every `interval` (default 1 s), the lock counted as lost if
            /// one is not answered within `timeout` (default 5 s). Takes
            /// effect from the next connection.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("use fasteners::postgres::", stringify!($lock), ";")]
            ///
            #[doc = concat!("let lock = ", stringify!($lock), "::new(\"postgres://app@db.example/app\", 1)")]
            ///     .with_heartbeat(Duration::from_millis(200), Duration::from_secs(2));
            /// # drop(lock);
            /// ```
            #[must_use]
            pub fn with_heartbeat(self, interval: Duration, timeout: Duration) -> Self {
                self.object.set_heartbeat(interval, timeout);
                self
            }

            /// Has async calls drive the lock's connection on the awaiting
            /// task's own tokio runtime, which must have I/O enabled (as
            /// `#[tokio::main]`, `Runtime::new` and `Builder::enable_all`
            /// give): the call's queries go out from the task's poll and
            /// their answers wake the task through that runtime's reactor,
            /// as queries made directly with tokio-postgres on that runtime
            /// do. By default the socket stays with the backend's own
            /// runtime, whose thread hears each answer and wakes the task: a
            /// thread wake-up per round trip (`BENCHMARKS.md` has both).
            /// It is not the default because tokio offers no way to ask
            /// whether a runtime has I/O enabled.
            ///
            /// The backend's runtime takes the socket back whenever it needs
            /// it: for sync calls, the heartbeat, a wait that a dropped
            /// future left, and when the caller's runtime shuts down. A
            /// call awaited outside any tokio runtime works as by default.
            ///
            /// # Panics
            ///
            /// An async call awaited on a tokio runtime built without I/O
            /// panics, as tokio's own sockets do there; the connection is
            /// then closed (the server releases what it held).
            ///
            /// # Examples
            ///
            /// ```no_run
            #[doc = concat!("use fasteners::postgres::", stringify!($lock), ";")]
            ///
            /// #[tokio::main]
            /// async fn main() -> fasteners::Result<()> {
            #[doc = concat!("    let lock = ", stringify!($lock), "::new(\"postgres://app@db.example/app\", 1).with_callers_runtime();")]
            #[doc = concat!("    let guard = lock.", stringify!($async_lock), "().await?;")]
            ///     guard.release_async().await
            /// }
            /// ```
            #[must_use]
            pub fn with_callers_runtime(self) -> Self {
                self.object.arbiter.backend.target.set_callers_runtime(true);
                self
            }

            /// The lock's key.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use fasteners::postgres::{", stringify!($lock), ", PgLockKey};")]
            ///
            #[doc = concat!("let lock = ", stringify!($lock), "::new(\"host=db.example\", 5_i64);")]
            /// assert_eq!(lock.key(), PgLockKey::Int(5));
            /// ```
            #[must_use]
            pub fn key(&self) -> PgLockKey {
                self.object.key()
            }

            /// Whether any thread or task of this process holds the lock
            /// (either side) through this object.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use fasteners::postgres::", stringify!($lock), ";")]
            ///
            #[doc = concat!("let lock = ", stringify!($lock), "::new(\"host=db.example\", 5_i64);")]
            /// assert!(!lock.is_held());
            /// ```
            #[must_use]
            pub fn is_held(&self) -> bool {
                self.object.is_held()
            }

            /// How many threads and tasks of this process are acquiring the
            /// lock through this object right now: for tests that must know
            /// an acquisition waits before they act. Not part of the API (it
            /// may change without notice); the answer may be stale at once.
            #[doc(hidden)]
            #[must_use]
            pub fn waiting_in_process(&self) -> usize {
                self.object.arbiter.waiting()
            }
        }

        impl fmt::Debug for $lock {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($lock))
                    .field("lock", &&**self.object.name())
                    .field("held", &self.is_held())
                    .finish_non_exhaustive()
            }
        }
    };
}

common!(PgLock, lock_async);
common!(PgReaderWriterLock, write_async);

/// The errors every acquisition may return, for the docs.
macro_rules! errors_doc {
    () => {
        "[`ErrorKind::WouldDeadlock`] if this thread already holds the lock; \
         [`ErrorKind::InvalidInput`] for a connection string that does not parse; \
         [`ErrorKind::Server`] if the server cannot be reached, refuses the login, \
         or the connection is lost while waiting. Each error names the server \
         (hosts, ports, database, user; never the password) and the cause."
    };
}

impl PgLock {
    /// Waits as long as needed for the lock, on the server (no polling).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let lock = fasteners::postgres::PgLock::new("postgres://app@db.example/app", 1);
    /// let guard = lock.lock()?;
    /// guard.release()?;
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    #[doc = errors_doc!()]
    pub fn lock(&self) -> Result<PgLockGuard<'_>> {
        Ok(PgLockGuard::new(
            self.object.acquire(Mode::Exclusive, Wait::Forever)?,
        ))
    }

    /// Takes the lock only if nobody holds it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use fasteners::ErrorKind;
    ///
    /// let lock = fasteners::postgres::PgLock::new("postgres://app@db.example/app", 1);
    /// match lock.try_lock() {
    ///     Ok(_guard) => println!("mine"),
    ///     Err(err) if err.kind() == ErrorKind::WouldBlock => println!("busy"),
    ///     Err(err) => return Err(err),
    /// }
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`] when it is held elsewhere, and the errors of
    /// [`lock`](Self::lock).
    pub fn try_lock(&self) -> Result<PgLockGuard<'_>> {
        Ok(PgLockGuard::new(
            self.object.acquire(Mode::Exclusive, Wait::Try)?,
        ))
    }

    /// Waits at most `timeout` for the lock (in process, then on the server
    /// through `lock_timeout` for that one request).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let lock = fasteners::postgres::PgLock::new("postgres://app@db.example/app", 1);
    /// let _guard = lock.try_lock_for(Duration::from_millis(500))?;
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`] when it stayed held for the whole timeout, and
    /// the errors of [`lock`](Self::lock).
    pub fn try_lock_for(&self, timeout: Duration) -> Result<PgLockGuard<'_>> {
        Ok(PgLockGuard::new(
            self.object.acquire(Mode::Exclusive, Wait::For(timeout))?,
        ))
    }

    /// Python's `acquire(blocking=True, timeout=None)`: takes the lock
    /// without a guard, until [`release`](Self::release) from the same
    /// thread (or the object's drop).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let lock = fasteners::postgres::PgLock::new("postgres://app@db.example/app", 1);
    /// if lock.acquire(true, Some(std::time::Duration::from_secs(1)))? {
    ///     lock.release()?;
    /// }
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Ok(false)` (not an error) when the lock is taken or the timeout
    /// expires; otherwise the errors of [`lock`](Self::lock).
    pub fn acquire(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
        self.object
            .acquire_unguarded(Mode::Exclusive, blocking, timeout)
    }

    /// Python's `release()`: releases what this thread took with
    /// [`acquire`](Self::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ErrorKind;
    ///
    /// let lock = fasteners::postgres::PgLock::new("postgres://app@db.example/app", 1);
    /// assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotHeld);
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotHeld`] if this thread did not acquire it, and the
    /// errors of [`PgLockGuard::release`].
    pub fn release(&self) -> Result<()> {
        self.object
            .release_acquired(Mode::Exclusive, "this thread did not acquire this lock")
    }

    /// Waits as long as needed for the lock without blocking the thread; the
    /// guard is `Send`. Any executor. Cancel-safe: dropping the future
    /// cancels the request on the server.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> fasteners::Result<()> {
    /// let lock = fasteners::postgres::PgLock::new("postgres://app@db.example/app", 1);
    /// let guard = lock.lock_async().await?;
    /// guard.release_async().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`lock`](Self::lock), except that a task is not recognised as
    /// a holder (it waits instead of getting `WouldDeadlock`).
    pub async fn lock_async(&self) -> Result<AsyncPgLockGuard<'_>> {
        let held = self
            .object
            .acquire_async(Mode::Exclusive, Wait::Forever)
            .await?;
        Ok(AsyncPgLockGuard::new(held))
    }

    /// Takes the lock only if nobody holds it, for a `Send` guard. It waits
    /// for the server's answer on this thread (one round trip), so there is
    /// nothing to `.await`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let lock = fasteners::postgres::PgLock::new("postgres://app@db.example/app", 1);
    /// let guard = lock.try_lock_async()?;
    /// # drop(guard);
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_lock`](Self::try_lock).
    pub fn try_lock_async(&self) -> Result<AsyncPgLockGuard<'_>> {
        Ok(AsyncPgLockGuard::new(
            self.object.try_acquire_send(Mode::Exclusive)?,
        ))
    }

    /// Waits at most `timeout` for the lock without blocking the thread.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> fasteners::Result<()> {
    /// let lock = fasteners::postgres::PgLock::new("postgres://app@db.example/app", 1);
    /// let _guard = lock.lock_async_for(std::time::Duration::from_secs(1)).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_lock_for`](Self::try_lock_for).
    pub async fn lock_async_for(&self, timeout: Duration) -> Result<AsyncPgLockGuard<'_>> {
        let held = self
            .object
            .acquire_async(Mode::Exclusive, Wait::For(timeout))
            .await?;
        Ok(AsyncPgLockGuard::new(held))
    }
}

/// One side of the reader-writer lock: its sync, try, timed, async and
/// Python-style acquisitions.
macro_rules! side {
    (
        $mode:expr, $what:literal, $guard:ident, $async_guard:ident,
        $lock:ident, $try:ident, $try_for:ident, $python:ident,
        $acquire:ident, $release:ident,
        $async:ident, $try_async:ident, $async_for:ident
    ) => {
        #[doc = concat!("Waits as long as needed for the ", $what, " side, on the server.")]
        ///
        /// # Examples
        ///
        /// ```no_run
        /// let lock = fasteners::postgres::PgReaderWriterLock::new("postgres://app@db.example/app", 1);
        #[doc = concat!("let guard = lock.", stringify!($lock), "()?;")]
        /// guard.release()?;
        /// # Ok::<(), fasteners::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        #[doc = errors_doc!()]
        pub fn $lock(&self) -> Result<$guard<'_>> {
            Ok($guard::new(self.object.acquire($mode, Wait::Forever)?))
        }

        #[doc = concat!("Takes the ", $what, " side only if that needs no waiting.")]
        ///
        /// # Examples
        ///
        /// ```no_run
        /// let lock = fasteners::postgres::PgReaderWriterLock::new("postgres://app@db.example/app", 1);
        #[doc = concat!("let _guard = lock.", stringify!($try), "()?;")]
        /// # Ok::<(), fasteners::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`ErrorKind::WouldBlock`] when it would have to wait, and the
        #[doc = concat!("errors of [`", stringify!($lock), "`](Self::", stringify!($lock), ").")]
        pub fn $try(&self) -> Result<$guard<'_>> {
            Ok($guard::new(self.object.acquire($mode, Wait::Try)?))
        }

        #[doc = concat!("Waits at most `timeout` for the ", $what, " side.")]
        ///
        /// # Examples
        ///
        /// ```no_run
        /// let lock = fasteners::postgres::PgReaderWriterLock::new("postgres://app@db.example/app", 1);
        #[doc = concat!("let _guard = lock.", stringify!($try_for), "(std::time::Duration::from_secs(1))?;")]
        /// # Ok::<(), fasteners::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`ErrorKind::TimedOut`] when it had to wait the whole timeout, and the
        #[doc = concat!("errors of [`", stringify!($lock), "`](Self::", stringify!($lock), ").")]
        pub fn $try_for(&self, timeout: Duration) -> Result<$guard<'_>> {
            Ok($guard::new(self.object.acquire($mode, Wait::For(timeout))?))
        }

        #[doc = concat!("Python's `", stringify!($python), "()`: the same as [`", stringify!($lock), "`](Self::", stringify!($lock), ").")]
        ///
        /// # Examples
        ///
        /// ```no_run
        /// let lock = fasteners::postgres::PgReaderWriterLock::new("postgres://app@db.example/app", 1);
        #[doc = concat!("let _guard = lock.", stringify!($python), "()?;")]
        /// # Ok::<(), fasteners::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        #[doc = concat!("As for [`", stringify!($lock), "`](Self::", stringify!($lock), ").")]
        pub fn $python(&self) -> Result<$guard<'_>> {
            self.$lock()
        }

        #[doc = concat!("Python's `", stringify!($acquire), "(blocking, timeout)`: takes the ", $what, " side without a guard, until [`", stringify!($release), "`](Self::", stringify!($release), ") from the same thread.")]
        ///
        /// # Examples
        ///
        /// ```no_run
        /// let lock = fasteners::postgres::PgReaderWriterLock::new("postgres://app@db.example/app", 1);
        #[doc = concat!("if lock.", stringify!($acquire), "(true, None)? {")]
        #[doc = concat!("    lock.", stringify!($release), "()?;")]
        /// }
        /// # Ok::<(), fasteners::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        /// `Ok(false)` (not an error) when it would block or the timeout
        #[doc = concat!("expires; otherwise the errors of [`", stringify!($lock), "`](Self::", stringify!($lock), ").")]
        pub fn $acquire(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
            self.object.acquire_unguarded($mode, blocking, timeout)
        }

        #[doc = concat!("Python's `", stringify!($release), "()`: releases what this thread took with [`", stringify!($acquire), "`](Self::", stringify!($acquire), ").")]
        ///
        /// # Examples
        ///
        /// ```
        /// let lock = fasteners::postgres::PgReaderWriterLock::new("postgres://app@db.example/app", 1);
        #[doc = concat!("assert!(lock.", stringify!($release), "().is_err());")]
        /// ```
        ///
        /// # Errors
        ///
        #[doc = concat!("[`ErrorKind::NotHeld`] if this thread holds no ", $what, " lock taken that way.")]
        pub fn $release(&self) -> Result<()> {
            self.object.release_acquired(
                $mode,
                concat!("this thread did not acquire the ", $what, " lock"),
            )
        }

        #[doc = concat!("Waits as long as needed for the ", $what, " side without blocking the thread; the guard is `Send`. Any executor; cancel-safe.")]
        ///
        /// # Examples
        ///
        /// ```no_run
        /// # async fn run() -> fasteners::Result<()> {
        /// let lock = fasteners::postgres::PgReaderWriterLock::new("postgres://app@db.example/app", 1);
        #[doc = concat!("let _guard = lock.", stringify!($async), "().await?;")]
        /// # Ok(())
        /// # }
        /// ```
        ///
        /// # Errors
        ///
        #[doc = concat!("As for [`", stringify!($lock), "`](Self::", stringify!($lock), ").")]
        pub async fn $async(&self) -> Result<$async_guard<'_>> {
            let held = self.object.acquire_async($mode, Wait::Forever).await?;
            Ok($async_guard::new(held))
        }

        #[doc = concat!("Takes the ", $what, " side only if that needs no waiting, for a `Send` guard.")]
        ///
        /// # Examples
        ///
        /// ```no_run
        /// let lock = fasteners::postgres::PgReaderWriterLock::new("postgres://app@db.example/app", 1);
        #[doc = concat!("let _guard = lock.", stringify!($try_async), "()?;")]
        /// # Ok::<(), fasteners::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        #[doc = concat!("As for [`", stringify!($try), "`](Self::", stringify!($try), ").")]
        pub fn $try_async(&self) -> Result<$async_guard<'_>> {
            Ok($async_guard::new(self.object.try_acquire_send($mode)?))
        }

        #[doc = concat!("Waits at most `timeout` for the ", $what, " side without blocking the thread.")]
        ///
        /// # Examples
        ///
        /// ```no_run
        /// # async fn run() -> fasteners::Result<()> {
        /// let lock = fasteners::postgres::PgReaderWriterLock::new("postgres://app@db.example/app", 1);
        #[doc = concat!("let _guard = lock.", stringify!($async_for), "(std::time::Duration::from_secs(1)).await?;")]
        /// # Ok(())
        /// # }
        /// ```
        ///
        /// # Errors
        ///
        #[doc = concat!("As for [`", stringify!($try_for), "`](Self::", stringify!($try_for), ").")]
        pub async fn $async_for(&self, timeout: Duration) -> Result<$async_guard<'_>> {
            let held = self.object.acquire_async($mode, Wait::For(timeout)).await?;
            Ok($async_guard::new(held))
        }
    };
}

impl PgReaderWriterLock {
    side!(
        Mode::Shared,
        "read",
        PgReadGuard,
        AsyncPgReadGuard,
        read,
        try_read,
        try_read_for,
        read_lock,
        acquire_read_lock,
        release_read_lock,
        read_async,
        try_read_async,
        read_async_for
    );
    side!(
        Mode::Exclusive,
        "write",
        PgWriteGuard,
        AsyncPgWriteGuard,
        write,
        try_write,
        try_write_for,
        write_lock,
        acquire_write_lock,
        release_write_lock,
        write_async,
        try_write_async,
        write_async_for
    );
}
