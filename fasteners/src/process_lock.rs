//! [`InterProcessLock`]: an exclusive lock on a file, for threads and processes.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::lock_file::{Held, LockFile, Wait};
use crate::sys::{Mechanism, Mode};
use crate::{LockHolder, Lockable, Result, TimedLockable};

/// An exclusive lock on a file that excludes other processes *and* other
/// threads of this process, as Python's `fasteners.InterProcessLock`.
///
/// One holder at a time, whether the contenders share one lock object, each
/// make their own for the same path, or live in other processes. Nothing
/// touches the disk until the first acquire, which creates the file (mode
/// `0o666` before the umask) and its parent directories if needed. The file is
/// never written, truncated or deleted; it stays open, close-on-exec, while
/// any lock object for it exists in the process.
///
/// - **Not re-entrant.** A thread that holds the lock (through any lock
///   object for the same path, or through the write side of an
///   [`InterProcessReaderWriterLock`](crate::InterProcessReaderWriterLock) on
///   it) and asks again gets [`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock)
///   at once, from blocking, try and timed attempts alike.
/// - **Guards stay on their thread** (they are `!Send`): the lock records which
///   thread holds it. The async methods ([`lock_async`](Self::lock_async) & co.)
///   give `Send` guards instead, recorded per acquisition.
/// - **No polling, nothing left behind.** A blocked [`lock`](Self::lock) or
///   [`try_lock_for`](Self::try_lock_for) waits in the kernel in the calling
///   thread and wakes when the kernel hands the lock over. On Linux a timed
///   wait ends at its deadline because the process timer thread interrupts
///   it with a real-time signal (see [`disable_wait_signal`](crate::disable_wait_signal)
///   for which signal, when, and how to opt out; without a usable signal the
///   wait polls, from every 0.5 ms up to every 10 ms; on other systems timed
///   waits poll). An async wait waits through the lock file's background
///   waiter, a thread blocked in the kernel for the tasks, which is
///   interrupted the same way as soon as no task waits any more and exits
///   10 ms after its last job. A wait that gives up leaves no thread (but the
///   one process-wide timer), no descriptor once its lock object is dropped,
///   and no request queued in the kernel.
/// - **Deleted or replaced file.** After each kernel grant the lock checks
///   (Unix) that the path still names the file it locked; if not, it reopens
///   the path and locks again, so waiters never settle on an orphaned file.
///   The check is an `fstat` of the open file: a link count of 0 means it was
///   deleted or renamed over; a link count or change time (Linux updates it on
///   every rename, link and unlink of the file) different from the last full
///   check's, or a file changed recently, triggers a full check that
///   compares `stat(path)` with the open file by device and inode (every check
///   is a full one on Unix systems other than Linux). "Recently" follows the
///   file system's timestamps: 50 ms for change times with nanoseconds, 2 s
///   for change times in whole seconds. It cannot
///   see a parent directory renamed or replaced while the file itself is
///   untouched (then the path leads to another file): do not move the
///   directories of lock files in use. (A process that already holds the old
///   file cannot see a new one appear either: do not delete lock files that
///   are in use.)
/// - **Mechanism.** [`Mechanism::Ofd`](crate::Mechanism#variant.Ofd) on Linux
///   (excludes Python fasteners' `lockf` locks, works on NFS),
///   [`Mechanism::Flock`] elsewhere (`flock` / `LockFileEx`). Every user of
///   one file must use the same mechanism.
/// - **One lock per file, whatever its spelling.** One process holds one
///   kernel lock (and one descriptor) per file, whatever the number of lock
///   objects, keyed by the file's identity (device and inode, read when the
///   first acquire opens it): `..`, symlinks, hard links and bind mounts of
///   one file share it, so a thread holding the lock under one name that asks
///   under another gets `WouldDeadlock` at once. (If the file at a path is
///   replaced while an object already uses the new file under another name,
///   the two may end up with an entry each: their holders still exclude each
///   other, but the same-thread check does not span them.)
/// - **Fork.** A child forked without exec neither keeps its parent's lock
///   alive nor releases it, as with Python's `lockf`: its copies of the
///   parent's guards and [`acquire`](Self::acquire) holds release nothing
///   ([`release`](Self::release) says `NotHeld`), and it may take the lock
///   itself afterwards. (A `pthread_atfork` child handler points the child's
///   copies of the lock file descriptors at `/dev/null`.)
/// - **Read-only lock files.** An existing lock file the process may only
///   read (a read-only mount, another user's `0644` file) is opened
///   read-only: shared locks of an
///   [`InterProcessReaderWriterLock`](crate::InterProcessReaderWriterLock)
///   work, an exclusive lock is an [`ErrorKind::Io`](crate::ErrorKind::Io)
///   error saying the file could only be opened read-only. (Python fasteners
///   cannot lock such a file at all.)
/// - A path that resolves to a deleted file (say `/proc/self/fd/N` of an
///   unlinked file) is an `ErrorKind::Io` error saying so, not a retry loop.
///
/// Python's `delay` and `max_delay` have no counterpart: nothing polls.
///
/// # Examples
///
/// ```
/// use fasteners::{ErrorKind, InterProcessLock};
///
/// let path = std::env::temp_dir().join(format!("ipl-doc-{}.lock", std::process::id()));
/// let lock = InterProcessLock::new(&path);
/// {
///     let _guard = lock.lock()?;
///     // Only this thread of this process runs here; another lock object for
///     // the same path, in any thread or process, would have to wait.
///     let other = InterProcessLock::new(&path);
///     std::thread::scope(|s| {
///         s.spawn(|| assert_eq!(other.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock));
///     });
/// } // released here
/// assert!(lock.try_lock().is_ok());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct InterProcessLock {
    pub(crate) file: LockFile,
}

/// Holds an [`InterProcessLock`]; releases it when dropped.
///
/// `!Send`: drop it (or [`release`](Self::release) it) on the thread that
/// took the lock, which the lock records as the holder.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("ipl-guard-doc-{}.lock", std::process::id()));
/// let lock = fasteners::InterProcessLock::new(&path);
/// let guard = lock.lock()?;
/// println!("{guard:?}");
/// drop(guard); // released
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// It cannot move to another thread:
///
/// ```compile_fail
/// fn needs_send<T: Send>(_: T) {}
/// let lock = fasteners::InterProcessLock::new("guard-not-send.lock");
/// needs_send(lock.lock().unwrap()); // error: the guard is not `Send`
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct InterProcessLockGuard<'a> {
    held: Held<&'a LockFile>,
}

/// Holds an [`InterProcessLock`] that it owns through an [`Arc`]; releases it
/// when dropped. `'static`: it can be stored in a struct or returned, with no
/// borrow of a lock object. Made by [`InterProcessLock::lock_owned`] & co.
/// and by [`lock_file`](crate::lock_file).
///
/// `!Send`, as [`InterProcessLockGuard`]: drop it on the thread that took the
/// lock. For a guard that moves between threads, see
/// [`lock_owned_async`](InterProcessLock::lock_owned_async).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use fasteners::{InterProcessLock, OwnedInterProcessLockGuard};
///
/// struct Job {
///     _lock: OwnedInterProcessLockGuard, // held as long as the job lives
/// }
///
/// fn start(path: &std::path::Path) -> fasteners::Result<Job> {
///     Ok(Job { _lock: Arc::new(InterProcessLock::new(path)).lock_owned()? })
/// }
///
/// let path = std::env::temp_dir().join(format!("ipl-og-doc-{}.lock", std::process::id()));
/// let job = start(&path)?;
/// assert!(InterProcessLock::new(&path).is_held());
/// drop(job);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// It cannot move to another thread:
///
/// ```compile_fail
/// fn needs_send<T: Send>(_: T) {}
/// needs_send(fasteners::lock_file("owned-guard-not-send.lock").unwrap());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedInterProcessLockGuard {
    held: Held<Arc<InterProcessLock>>,
}

/// Takes the lock file at `path` (an [`InterProcessLock`] with the default
/// [`Mechanism`], waiting as long as needed) until the guard is dropped: the
/// one-liner for "hold this file for the rest of the scope".
///
/// The lock object lives inside the guard. Same as
/// `Arc::new(InterProcessLock::new(path)).lock_owned()`.
///
/// # Examples
///
/// ```
/// # let path = std::env::temp_dir().join(format!("lock-file-doc-{}.lock", std::process::id()));
/// let _guard = fasteners::lock_file(&path)?;
/// // ... the rest of the scope runs under the lock ...
/// # drop(_guard);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The errors of [`InterProcessLock::lock`]; a thread that already holds the
/// file gets [`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock).
pub fn lock_file(path: impl AsRef<Path>) -> Result<OwnedInterProcessLockGuard> {
    Arc::new(InterProcessLock::new(path)).lock_owned()
}

impl InterProcessLock {
    /// Makes a lock on the file at `path`, with the platform's default
    /// [`Mechanism`]; nothing touches the disk yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = fasteners::InterProcessLock::new("/tmp/never-created-by-this-example.lock");
    /// assert!(!lock.path().exists());
    /// ```
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self::with_mechanism(path, Mechanism::default())
    }

    /// Makes a lock on the file at `path` that uses `mechanism`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{InterProcessLock, Mechanism};
    ///
    /// let path = std::env::temp_dir().join(format!("ipl-mech-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessLock::with_mechanism(&path, Mechanism::Flock);
    /// drop(lock.lock().unwrap());
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn with_mechanism(path: impl AsRef<Path>, mechanism: Mechanism) -> Self {
        InterProcessLock {
            file: LockFile::new(path.as_ref(), mechanism),
        }
    }

    /// Makes a lock called `name`: the file `name` in the user's directory of
    /// named locks, [`named_lock_dir`](crate::named_lock_dir); nothing
    /// touches the disk yet.
    ///
    /// Two processes of one user that use one name exclude each other (as
    /// long as both see the same [`named_lock_dir`](crate::named_lock_dir)),
    /// and the name is the file's name as it is: never shortened, escaped or
    /// otherwise turned into another name. A name must be a plain file name
    /// on every platform: not empty, not `.` or `..`, no `/` or `\`, no NUL
    /// byte, at most 255 bytes (and, on Windows, no `:`, no trailing `.` or
    /// space, no device name such as `CON`). The first acquire creates the
    /// directory if needed (mode `0o700` on Unix) and refuses one that other
    /// users could write to.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{ErrorKind, InterProcessLock};
    ///
    /// let name = format!("db-migrations-{}", std::process::id());
    /// let lock = InterProcessLock::named(&name);
    /// assert_eq!(lock.path(), fasteners::named_lock_dir().join(&name));
    /// let guard = lock.lock()?;
    /// // Another lock object (in any thread or process) for the same name waits.
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let err = InterProcessLock::named(&name).try_lock().unwrap_err();
    ///         assert_eq!(err.kind(), ErrorKind::WouldBlock);
    ///     });
    /// });
    /// drop(guard);
    ///
    /// // A bad name fails at the first acquire, naming the rule it breaks.
    /// let err = InterProcessLock::named("../etc/passwd").lock().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidName);
    /// assert!(err.to_string().contains("path separator"));
    /// # std::fs::remove_file(fasteners::named_lock_dir().join(&name))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn named(name: impl AsRef<str>) -> Self {
        InterProcessLock {
            file: LockFile::named(name.as_ref(), Mechanism::default()),
        }
    }

    /// Runs `notice` with the lock's path each time an acquisition has to
    /// wait, before it waits: once per acquisition that finds the lock taken,
    /// for [`lock`](Self::lock), [`try_lock_for`](Self::try_lock_for),
    /// [`acquire`](Self::acquire) with `blocking`, and the async forms
    /// ([`lock_async`](Self::lock_async), [`lock_async_for`](Self::lock_async_for));
    /// never for an acquisition that gets the lock at once, nor for the
    /// `try_*` forms, which do not wait.
    ///
    /// [`notice::cargo_style`](crate::notice::cargo_style) prints what cargo
    /// prints. The notice runs in the acquiring thread (for the async forms,
    /// in the task's `poll`), with no lock of this crate held: it may take
    /// its time, but it delays the acquisition by that much. With a notice,
    /// an acquisition that has to wait first makes one non-blocking attempt
    /// to find out; without one, nothing changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use fasteners::InterProcessLock;
    ///
    /// let path = std::env::temp_dir().join(format!("ipl-wait-doc-{}.lock", std::process::id()));
    /// let waits = Arc::new(AtomicUsize::new(0));
    /// let counted = waits.clone();
    /// let lock = InterProcessLock::new(&path).on_wait(move |path| {
    ///     eprintln!("Blocking waiting for file lock on {}", path.display());
    ///     counted.fetch_add(1, Ordering::Relaxed);
    /// });
    /// drop(lock.lock()?); // free: no notice
    /// assert_eq!(waits.load(Ordering::Relaxed), 0);
    ///
    /// let holder = InterProcessLock::new(&path);
    /// let held = holder.lock()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(lock.try_lock_for(Duration::from_millis(10)).is_err()));
    /// });
    /// assert_eq!(waits.load(Ordering::Relaxed), 1);
    /// # drop(held);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "`on_wait` returns the lock with the notice; the original is consumed"]
    pub fn on_wait(mut self, notice: impl Fn(&Path) + Send + Sync + 'static) -> Self {
        self.file.set_notice(Arc::new(notice));
        self
    }

    /// How many threads and tasks of this process are acquiring this lock
    /// file right now, through any lock object: for tests that must know an
    /// acquisition waits before they act. Not part of the API (it may change
    /// without notice); the answer may be stale as soon as it is returned.
    #[doc(hidden)]
    #[must_use]
    pub fn waiting_in_process(&self) -> usize {
        self.file.waiting_in_process()
    }

    /// Whether the calling thread holds this lock now, as Python's `acquired`.
    ///
    /// `true` exactly when the calling thread holds the lock file through a
    /// guard or [`acquire`](Self::acquire) of this lock object or of any other
    /// lock object of this process for the same path (also the write or read
    /// side of an [`InterProcessReaderWriterLock`](crate::InterProcessReaderWriterLock)
    /// on it): then [`lock`](Self::lock) from this thread would fail with
    /// [`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock). It says
    /// nothing about other threads or processes, and does not count the
    /// `Send` guards of the async methods, which belong to their acquisition,
    /// not to a thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("ipl-held-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessLock::new(&path);
    /// assert!(!lock.is_held());
    /// let guard = lock.lock()?;
    /// assert!(lock.is_held());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(!lock.is_held())); // another thread does not hold it
    /// });
    /// drop(guard);
    /// assert!(!lock.is_held());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_held(&self) -> bool {
        self.file.is_held_by_current_thread()
    }

    /// Whether another process holds this lock file now, and in which mode,
    /// without acquiring it; with the holder's pid where the kernel reports
    /// one (see [`LockHolder::pid`](crate::LockHolder::pid)).
    ///
    /// `None` means no other process held it at the instant of the query.
    /// **The answer may be stale as soon as it is returned**: another process
    /// may take or release the lock right after, so it suits diagnostics
    /// ("who holds it?"), never a decision to skip locking. Holds of this
    /// process do not count (see [`is_held`](Self::is_held) for the calling
    /// thread's). How it asks:
    ///
    /// - [`Mechanism::Ofd`](crate::Mechanism#variant.Ofd) (Linux): `F_OFD_GETLK`,
    ///   which takes nothing. It sees OFD and POSIX record locks, so also a
    ///   Python fasteners holder, whose pid it reports.
    /// - [`Mechanism::Flock`]: there is no query call, so it tries to take the
    ///   lock exclusively, then shared, without waiting, and releases at once;
    ///   for that instant the lock is taken, and another process trying it
    ///   then finds it busy. No pid. While this process holds the lock, other
    ///   readers cannot be told from its own hold: it then returns `None`.
    ///
    /// It asks about the file now at the path (a file replaced since the
    /// lock was last used is asked about afresh). A lock file that does not
    /// exist is held by nobody; the query does not create it.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{InterProcessLock, LockMode};
    ///
    /// let path = std::env::temp_dir().join(format!("ipl-he-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessLock::new(&path);
    /// assert_eq!(lock.held_elsewhere()?, None); // no file yet: nobody
    /// assert!(!path.exists());
    /// if let Some(holder) = lock.held_elsewhere()? {
    ///     eprintln!("held {:?} by pid {:?}", holder.mode(), holder.pid());
    /// }
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if the file exists but cannot
    /// be opened or queried, and the name errors of a named lock.
    pub fn held_elsewhere(&self) -> Result<Option<LockHolder>> {
        let holder = self.file.held_elsewhere()?;
        Ok(holder.map(|(mode, pid)| LockHolder::new(mode, pid)))
    }

    /// The path of the lock file, as given.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = fasteners::InterProcessLock::new("app.lock");
    /// assert_eq!(lock.path(), std::path::Path::new("app.lock"));
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The kernel locking mechanism this lock uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{InterProcessLock, Mechanism};
    ///
    /// assert_eq!(InterProcessLock::new("app.lock").mechanism(), Mechanism::default());
    /// ```
    #[must_use]
    pub fn mechanism(&self) -> Mechanism {
        self.file.mechanism()
    }

    /// Waits as long as needed for the lock, in the kernel (no polling).
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("ipl-lock-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessLock::new(&path);
    /// let guard = lock.lock()?;
    /// guard.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock) if this
    /// thread already holds the lock; [`ErrorKind::Io`](crate::ErrorKind::Io)
    /// if the file or its directory cannot be created or opened (a directory,
    /// a parent that is a file, no permission, an empty or too long path, a
    /// NUL byte) or the OS refuses the lock.
    pub fn lock(&self) -> Result<InterProcessLockGuard<'_>> {
        self.acquire_with(Wait::Forever)
    }

    /// Takes the lock only if nobody holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{ErrorKind, InterProcessLock};
    ///
    /// let path = std::env::temp_dir().join(format!("ipl-try-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessLock::new(&path);
    /// let _guard = lock.try_lock()?;
    /// // Not re-entrant: asking again from the same thread is an error, not a hang.
    /// assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldDeadlock);
    /// # drop(_guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) when another
    /// thread or process holds it, and the errors of [`lock`](Self::lock).
    pub fn try_lock(&self) -> Result<InterProcessLockGuard<'_>> {
        self.acquire_with(Wait::Try)
    }

    /// Waits at most `timeout` for the lock, in the kernel, in this thread.
    ///
    /// The kernel's grant wakes the thread directly; at the deadline the
    /// process timer interrupts the wait (Linux; elsewhere, or without a free
    /// real-time signal, the wait polls; see
    /// [`disable_wait_signal`](crate::disable_wait_signal)). A wait that times out
    /// leaves nothing queued in the kernel.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("ipl-for-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessLock::new(&path);
    /// let guard = lock.try_lock_for(Duration::from_millis(100))?;
    /// # drop(guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) when the lock stayed
    /// taken for the whole timeout, and the errors of [`lock`](Self::lock).
    pub fn try_lock_for(&self, timeout: Duration) -> Result<InterProcessLockGuard<'_>> {
        self.acquire_with(Wait::For(timeout))
    }

    /// As [`lock`](Self::lock), for a guard that owns the lock object
    /// (tokio's naming): `'static`, so it can be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let path = std::env::temp_dir().join(format!("ipl-lo-doc-{}.lock", std::process::id()));
    /// let lock = Arc::new(fasteners::InterProcessLock::new(&path));
    /// let guard = lock.clone().lock_owned()?;
    /// drop(lock); // the guard keeps the lock object alive
    /// guard.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`lock`](Self::lock).
    pub fn lock_owned(self: Arc<Self>) -> Result<OwnedInterProcessLockGuard> {
        self.acquire_owned(Wait::Forever)
    }

    /// As [`try_lock`](Self::try_lock), for a guard that owns the lock object.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fasteners::{ErrorKind, InterProcessLock};
    ///
    /// let path = std::env::temp_dir().join(format!("ipl-tlo-doc-{}.lock", std::process::id()));
    /// let lock = Arc::new(InterProcessLock::new(&path));
    /// let _guard = lock.clone().try_lock_owned()?;
    /// let err = lock.try_lock_owned().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
    /// # drop(_guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_lock`](Self::try_lock).
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedInterProcessLockGuard> {
        self.acquire_owned(Wait::Try)
    }

    /// As [`try_lock_for`](Self::try_lock_for), for a guard that owns the
    /// lock object.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("ipl-tlfo-doc-{}.lock", std::process::id()));
    /// let lock = Arc::new(fasteners::InterProcessLock::new(&path));
    /// let guard = lock.try_lock_owned_for(Duration::from_millis(100))?;
    /// # drop(guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_lock_for`](Self::try_lock_for).
    pub fn try_lock_owned_for(
        self: Arc<Self>,
        timeout: Duration,
    ) -> Result<OwnedInterProcessLockGuard> {
        self.acquire_owned(Wait::For(timeout))
    }

    /// Python's `acquire(blocking=True, timeout=None)`: takes the lock without
    /// a guard, until [`release`](Self::release) from the same thread.
    ///
    /// `blocking == false` makes one attempt (the timeout is then ignored);
    /// otherwise it waits, at most `timeout` if given. Python's `delay` and
    /// `max_delay` do not exist: the wait is in the kernel, with no polling.
    /// Dropping the lock object releases what is still held this way.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("ipl-acq-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessLock::new(&path);
    /// assert!(lock.acquire(true, Some(Duration::from_secs(1)))?);
    /// // From another thread it is taken:
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(!lock.acquire(false, None).unwrap()));
    /// });
    /// lock.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Ok(false)` (not an error) when the lock is taken or the timeout
    /// expires; otherwise the errors of [`lock`](Self::lock).
    pub fn acquire(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
        self.file
            .acquire_unguarded(Mode::Exclusive, blocking, timeout)
    }

    /// Python's `release()`: releases what this thread took with
    /// [`acquire`](Self::acquire) on this object.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ErrorKind;
    ///
    /// let lock = fasteners::InterProcessLock::new("never-acquired.lock");
    /// assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotHeld);
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotHeld`](crate::ErrorKind::NotHeld) if this thread did not
    /// acquire it through this object; [`ErrorKind::Io`](crate::ErrorKind::Io)
    /// if the OS refuses to unlock (the lock is released anyway when the file
    /// is closed).
    pub fn release(&self) -> Result<()> {
        self.file
            .release_acquired(Mode::Exclusive, "this thread did not acquire this lock")
    }

    fn acquire_with(&self, wait: Wait) -> Result<InterProcessLockGuard<'_>> {
        let held = self.file.acquire(Mode::Exclusive, wait)?;
        Ok(InterProcessLockGuard { held })
    }

    fn acquire_owned(self: Arc<Self>, wait: Wait) -> Result<OwnedInterProcessLockGuard> {
        let share = self.file.acquire(Mode::Exclusive, wait)?.detach();
        Ok(OwnedInterProcessLockGuard {
            held: share.attach_thread(self),
        })
    }
}

impl fmt::Debug for InterProcessLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterProcessLock")
            .field("path", &self.path())
            .field("mechanism", &self.mechanism())
            .finish_non_exhaustive()
    }
}

impl InterProcessLockGuard<'_> {
    /// Releases the lock now, reporting a failure to unlock (dropping the
    /// guard releases too, but cannot report).
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("ipl-rel-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessLock::new(&path);
    /// lock.lock()?.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if the OS refuses to unlock; the
    /// file is then closed, which releases the lock once no other lock object
    /// of this process uses it.
    pub fn release(self) -> Result<()> {
        self.held.release()
    }
}

impl fmt::Debug for InterProcessLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterProcessLockGuard")
            .field("path", &self.held.path())
            .finish()
    }
}

impl OwnedInterProcessLockGuard {
    /// Releases the lock now, reporting a failure to unlock (dropping the
    /// guard releases too, but cannot report).
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("ipl-orel-doc-{}.lock", std::process::id()));
    /// fasteners::lock_file(&path)?.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`InterProcessLockGuard::release`].
    pub fn release(self) -> Result<()> {
        self.held.release()
    }
}

impl fmt::Debug for OwnedInterProcessLockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedInterProcessLockGuard")
            .field("path", &self.held.path())
            .finish()
    }
}

impl Lockable for InterProcessLock {
    type Guard<'a> = InterProcessLockGuard<'a>;

    fn lock(&self) -> Result<InterProcessLockGuard<'_>> {
        InterProcessLock::lock(self)
    }

    fn try_lock(&self) -> Result<InterProcessLockGuard<'_>> {
        InterProcessLock::try_lock(self)
    }
}

impl TimedLockable for InterProcessLock {
    fn try_lock_for(&self, timeout: Duration) -> Result<InterProcessLockGuard<'_>> {
        InterProcessLock::try_lock_for(self, timeout)
    }
}
