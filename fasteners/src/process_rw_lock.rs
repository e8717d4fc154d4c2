//! [`InterProcessReaderWriterLock`]: a shared / exclusive lock on a file, for
//! threads and processes.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::lock_file::{Held, LockFile, Wait};
use crate::sys::{Mechanism, Mode};
use crate::{Lockable, Result, SharedLockable, SharedTimedLockable, TimedLockable};

/// A reader-writer lock on a file: many readers at once, in any threads and
/// processes, or one writer excluding everyone everywhere, as Python's
/// `fasteners.InterProcessReaderWriterLock`.
///
/// Readers of one process share one kernel shared lock: the first reader
/// takes it, later readers join without a system call, the last one releases
/// it. Within a process writers go first: once a thread waits for the write
/// side, new readers of this process wait behind it. Across processes the
/// kernel decides.
///
/// Everything said on [`InterProcessLock`](crate::InterProcessLock) holds here
/// too: not re-entrant (a thread holding either side that asks for either side
/// again gets [`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock); an
/// upgrade from read to write is therefore refused, not deadlocked), `!Send`
/// guards (and `Send` guards from the async methods), timed waits in the
/// kernel ended by the process timer, waits that leave nothing behind, the
/// identity check, the file contract, and one [`Mechanism`] for every user of
/// a file. The write side and an `InterProcessLock` on the same
/// path exclude each other.
///
/// # Examples
///
/// ```
/// use fasteners::{ErrorKind, InterProcessReaderWriterLock};
///
/// let path = std::env::temp_dir().join(format!("iprw-doc-{}.lock", std::process::id()));
/// let lock = InterProcessReaderWriterLock::new(&path);
/// let reading = lock.read()?;
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         // Readers share, a writer waits.
///         assert!(lock.try_read().is_ok());
///         assert_eq!(lock.try_write().unwrap_err().kind(), ErrorKind::WouldBlock);
///     });
/// });
/// drop(reading);
/// let _writing = lock.write()?;
/// # drop(_writing);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct InterProcessReaderWriterLock {
    pub(crate) file: LockFile,
}

/// Holds the read (shared) side of an [`InterProcessReaderWriterLock`];
/// releases it when dropped. `!Send`.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("iprw-rg-doc-{}.lock", std::process::id()));
/// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
/// let first = lock.read()?;
/// std::thread::scope(|s| {
///     // Another thread reads at the same time.
///     s.spawn(|| drop(lock.try_read().unwrap()));
/// });
/// drop(first);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct InterProcessReadGuard<'a> {
    held: Held<'a>,
}

/// Holds the write (exclusive) side of an [`InterProcessReaderWriterLock`];
/// releases it when dropped. `!Send`.
///
/// # Examples
///
/// ```
/// use fasteners::ErrorKind;
///
/// let path = std::env::temp_dir().join(format!("iprw-wg-doc-{}.lock", std::process::id()));
/// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
/// let writing = lock.write()?;
/// std::thread::scope(|s| {
///     s.spawn(|| assert_eq!(lock.try_read().unwrap_err().kind(), ErrorKind::WouldBlock));
/// });
/// drop(writing);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct InterProcessWriteGuard<'a> {
    held: Held<'a>,
}

impl InterProcessReaderWriterLock {
    /// Makes a reader-writer lock on the file at `path`, with the platform's
    /// default [`Mechanism`]; nothing touches the disk yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = fasteners::InterProcessReaderWriterLock::new("data.lock");
    /// assert_eq!(lock.path(), std::path::Path::new("data.lock"));
    /// ```
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self::with_mechanism(path, Mechanism::default())
    }

    /// Makes a reader-writer lock on the file at `path` that uses `mechanism`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{InterProcessReaderWriterLock, Mechanism};
    ///
    /// let lock = InterProcessReaderWriterLock::with_mechanism("data.lock", Mechanism::Flock);
    /// assert_eq!(lock.mechanism(), Mechanism::Flock);
    /// ```
    pub fn with_mechanism(path: impl AsRef<Path>, mechanism: Mechanism) -> Self {
        InterProcessReaderWriterLock {
            file: LockFile::new(path.as_ref(), mechanism),
        }
    }

    /// The path of the lock file, as given.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = fasteners::InterProcessReaderWriterLock::new("data.lock");
    /// assert_eq!(lock.path().extension().unwrap(), "lock");
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
    /// use fasteners::{InterProcessReaderWriterLock, Mechanism};
    ///
    /// let lock = InterProcessReaderWriterLock::new("data.lock");
    /// assert_eq!(lock.mechanism(), Mechanism::default());
    /// ```
    #[must_use]
    pub fn mechanism(&self) -> Mechanism {
        self.file.mechanism()
    }

    /// Waits as long as needed for the read side (shared with other readers).
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-read-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let guard = lock.read()?;
    /// guard.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock) if this
    /// thread already holds either side; [`ErrorKind::Io`](crate::ErrorKind::Io)
    /// if the file cannot be created or opened, or the OS refuses the lock.
    pub fn read(&self) -> Result<InterProcessReadGuard<'_>> {
        self.read_with(Wait::Forever)
    }

    /// Takes the read side only if no writer holds it or, in this process,
    /// waits for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-tr-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let _guard = lock.try_read()?;
    /// # drop(_guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) when a writer
    /// holds or awaits it, and the errors of [`read`](Self::read).
    pub fn try_read(&self) -> Result<InterProcessReadGuard<'_>> {
        self.read_with(Wait::Try)
    }

    /// Waits at most `timeout` for the read side, without polling.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("iprw-trf-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let _guard = lock.try_read_for(Duration::from_millis(100))?;
    /// # drop(_guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) when a writer kept
    /// it for the whole timeout, and the errors of [`read`](Self::read).
    pub fn try_read_for(&self, timeout: Duration) -> Result<InterProcessReadGuard<'_>> {
        self.read_with(Wait::For(timeout))
    }

    /// Waits as long as needed for the write side (excludes everyone).
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-write-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let guard = lock.write()?;
    /// guard.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`read`](Self::read).
    pub fn write(&self) -> Result<InterProcessWriteGuard<'_>> {
        self.write_with(Wait::Forever)
    }

    /// Takes the write side only if nobody holds either side.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ErrorKind;
    ///
    /// let path = std::env::temp_dir().join(format!("iprw-tw-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let reading = lock.read()?;
    /// // No upgrade: the same thread asking for the write side is refused.
    /// assert_eq!(lock.try_write().unwrap_err().kind(), ErrorKind::WouldDeadlock);
    /// # drop(reading);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) when it is held,
    /// and the errors of [`read`](Self::read).
    pub fn try_write(&self) -> Result<InterProcessWriteGuard<'_>> {
        self.write_with(Wait::Try)
    }

    /// Waits at most `timeout` for the write side, without polling.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("iprw-twf-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let _guard = lock.try_write_for(Duration::from_millis(100))?;
    /// # drop(_guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) when it stayed held
    /// for the whole timeout, and the errors of [`read`](Self::read).
    pub fn try_write_for(&self, timeout: Duration) -> Result<InterProcessWriteGuard<'_>> {
        self.write_with(Wait::For(timeout))
    }

    /// Python's `read_lock()` context manager: the same as [`read`](Self::read).
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-rl-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// {
    ///     let _reading = lock.read_lock()?;
    /// }
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`read`](Self::read).
    pub fn read_lock(&self) -> Result<InterProcessReadGuard<'_>> {
        self.read()
    }

    /// Python's `write_lock()` context manager: the same as [`write`](Self::write).
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-wl-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// {
    ///     let _writing = lock.write_lock()?;
    /// }
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`write`](Self::write).
    pub fn write_lock(&self) -> Result<InterProcessWriteGuard<'_>> {
        self.write()
    }

    /// Python's `acquire_read_lock(blocking, timeout)`: takes the read side
    /// without a guard, until [`release_read_lock`](Self::release_read_lock)
    /// from the same thread. `blocking == false` makes one attempt; Python's
    /// `delay` / `max_delay` do not exist (no polling). Dropping the lock
    /// object releases what is still held this way.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-arl-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// assert!(lock.acquire_read_lock(false, None)?);
    /// lock.release_read_lock()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Ok(false)` (not an error) when a writer holds it or the timeout
    /// expires; otherwise the errors of [`read`](Self::read).
    pub fn acquire_read_lock(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
        self.file.acquire_unguarded(Mode::Shared, blocking, timeout)
    }

    /// Python's `release_read_lock()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = fasteners::InterProcessReaderWriterLock::new("never-read.lock");
    /// assert_eq!(lock.release_read_lock().unwrap_err().kind(), fasteners::ErrorKind::NotHeld);
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotHeld`](crate::ErrorKind::NotHeld) if this thread did
    /// not take the read side through [`acquire_read_lock`](Self::acquire_read_lock)
    /// on this object; [`ErrorKind::Io`](crate::ErrorKind::Io) if the OS refuses
    /// to unlock.
    pub fn release_read_lock(&self) -> Result<()> {
        self.file
            .release_acquired(Mode::Shared, "this thread did not acquire the read lock")
    }

    /// Python's `acquire_write_lock(blocking, timeout)`: takes the write side
    /// without a guard, until [`release_write_lock`](Self::release_write_lock)
    /// from the same thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("iprw-awl-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// assert!(lock.acquire_write_lock(true, Some(Duration::from_secs(1)))?);
    /// lock.release_write_lock()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Ok(false)` (not an error) when it is held or the timeout expires;
    /// otherwise the errors of [`write`](Self::write).
    pub fn acquire_write_lock(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
        self.file
            .acquire_unguarded(Mode::Exclusive, blocking, timeout)
    }

    /// Python's `release_write_lock()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = fasteners::InterProcessReaderWriterLock::new("never-written.lock");
    /// assert_eq!(lock.release_write_lock().unwrap_err().kind(), fasteners::ErrorKind::NotHeld);
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotHeld`](crate::ErrorKind::NotHeld) if this thread did
    /// not take the write side through [`acquire_write_lock`](Self::acquire_write_lock)
    /// on this object; [`ErrorKind::Io`](crate::ErrorKind::Io) if the OS refuses
    /// to unlock.
    pub fn release_write_lock(&self) -> Result<()> {
        self.file.release_acquired(
            Mode::Exclusive,
            "this thread did not acquire the write lock",
        )
    }

    fn read_with(&self, wait: Wait) -> Result<InterProcessReadGuard<'_>> {
        let held = self.file.acquire(Mode::Shared, wait)?;
        Ok(InterProcessReadGuard { held })
    }

    fn write_with(&self, wait: Wait) -> Result<InterProcessWriteGuard<'_>> {
        let held = self.file.acquire(Mode::Exclusive, wait)?;
        Ok(InterProcessWriteGuard { held })
    }
}

impl fmt::Debug for InterProcessReaderWriterLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterProcessReaderWriterLock")
            .field("path", &self.path())
            .field("mechanism", &self.mechanism())
            .finish_non_exhaustive()
    }
}

impl InterProcessReadGuard<'_> {
    /// Releases the read side now, reporting a failure to unlock.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-rrel-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// lock.read()?.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if the OS refuses to unlock
    /// (this reader was the last of the process); the file is then closed,
    /// which releases the lock once no other lock object uses it.
    pub fn release(self) -> Result<()> {
        self.held.release()
    }
}

impl InterProcessWriteGuard<'_> {
    /// Releases the write side now, reporting a failure to unlock.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-wrel-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// lock.write()?.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`InterProcessReadGuard::release`].
    pub fn release(self) -> Result<()> {
        self.held.release()
    }
}

impl fmt::Debug for InterProcessReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterProcessReadGuard")
            .field("path", &self.held.path())
            .finish()
    }
}

impl fmt::Debug for InterProcessWriteGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterProcessWriteGuard")
            .field("path", &self.held.path())
            .finish()
    }
}

impl Lockable for InterProcessReaderWriterLock {
    type Guard<'a> = InterProcessWriteGuard<'a>;

    fn lock(&self) -> Result<InterProcessWriteGuard<'_>> {
        self.write()
    }

    fn try_lock(&self) -> Result<InterProcessWriteGuard<'_>> {
        self.try_write()
    }
}

impl TimedLockable for InterProcessReaderWriterLock {
    fn try_lock_for(&self, timeout: Duration) -> Result<InterProcessWriteGuard<'_>> {
        self.try_write_for(timeout)
    }
}

impl SharedLockable for InterProcessReaderWriterLock {
    type SharedGuard<'a> = InterProcessReadGuard<'a>;

    fn lock_shared(&self) -> Result<InterProcessReadGuard<'_>> {
        self.read()
    }

    fn try_lock_shared(&self) -> Result<InterProcessReadGuard<'_>> {
        self.try_read()
    }
}

impl SharedTimedLockable for InterProcessReaderWriterLock {
    fn try_lock_shared_for(&self, timeout: Duration) -> Result<InterProcessReadGuard<'_>> {
        self.try_read_for(timeout)
    }
}
