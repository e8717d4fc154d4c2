//! [`InterProcessLock`]: an exclusive lock on a file, for threads and processes.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::lock_file::{Held, LockFile, Wait};
use crate::sys::{Mechanism, Mode};
use crate::{Lockable, Result, TimedLockable};

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
///   check's, or a file changed in the last 2 s, triggers a full check that
///   compares `stat(path)` with the open file by device and inode (every check
///   is a full one on Unix systems other than Linux). It cannot
///   see a parent directory renamed or replaced while the file itself is
///   untouched (then the path leads to another file): do not move the
///   directories of lock files in use. (A process that already holds the old
///   file cannot see a new one appear either: do not delete lock files that
///   are in use.)
/// - **Mechanism.** [`Mechanism::Ofd`] on Linux (excludes Python fasteners'
///   `lockf` locks, works on NFS), [`Mechanism::Flock`] elsewhere (`flock` /
///   `LockFileEx`). Every user of one file must use the same mechanism.
/// - One process holds one kernel lock per file, whatever the number of lock
///   objects, keyed by the absolute path (not canonicalised: spell a path the
///   same way, without `..` or symlink aliases, in every thread of a process).
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
    held: Held<'a>,
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
