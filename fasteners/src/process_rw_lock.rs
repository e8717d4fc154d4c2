//! [`InterProcessReaderWriterLock`]: a shared / exclusive lock on a file, for
//! threads and processes.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::lock_file::{Held, LockFile, Wait};
use crate::sys::{Mechanism, Mode};
use crate::{LockHolder, Lockable, Result, SharedLockable, SharedTimedLockable, TimedLockable};

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
    held: Held<&'a LockFile>,
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
    held: Held<&'a LockFile>,
}

/// Holds the read side of an [`InterProcessReaderWriterLock`] that it owns
/// through an [`Arc`]; releases it when dropped. `'static` and `!Send`.
/// Made by [`InterProcessReaderWriterLock::read_owned`] & co.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use fasteners::{InterProcessReaderWriterLock, OwnedInterProcessReadGuard};
///
/// fn open_snapshot(lock: &Arc<InterProcessReaderWriterLock>) -> fasteners::Result<OwnedInterProcessReadGuard> {
///     lock.clone().read_owned() // returned: no borrow of `lock` remains
/// }
///
/// let path = std::env::temp_dir().join(format!("iprw-org-doc-{}.lock", std::process::id()));
/// let lock = Arc::new(InterProcessReaderWriterLock::new(&path));
/// let snapshot = open_snapshot(&lock)?;
/// // Another thread reads at the same time.
/// std::thread::scope(|s| {
///     s.spawn(|| drop(open_snapshot(&lock).unwrap()));
/// });
/// drop(snapshot);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct OwnedInterProcessReadGuard {
    held: Held<Arc<InterProcessReaderWriterLock>>,
}

/// Holds the write side of an [`InterProcessReaderWriterLock`] that it owns
/// through an [`Arc`]; releases it when dropped. `'static` and `!Send`.
/// Made by [`InterProcessReaderWriterLock::write_owned`] & co.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use fasteners::{InterProcessReaderWriterLock, OwnedInterProcessWriteGuard};
///
/// struct Update {
///     _writing: OwnedInterProcessWriteGuard,
/// }
///
/// let path = std::env::temp_dir().join(format!("iprw-owg-doc-{}.lock", std::process::id()));
/// let update = Update { _writing: Arc::new(InterProcessReaderWriterLock::new(&path)).write_owned()? };
/// assert!(InterProcessReaderWriterLock::new(&path).is_held());
/// drop(update);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct OwnedInterProcessWriteGuard {
    held: Held<Arc<InterProcessReaderWriterLock>>,
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

    /// Makes a reader-writer lock called `name`: the file `name` in the
    /// user's directory of named locks, [`named_lock_dir`](crate::named_lock_dir),
    /// with the rules of [`InterProcessLock::named`](crate::InterProcessLock::named)
    /// (an invalid name is an [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName)
    /// error at the first acquire); nothing touches the disk yet.
    ///
    /// A named reader-writer lock and a named [`InterProcessLock`](crate::InterProcessLock)
    /// of the same name lock the same file.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{ErrorKind, InterProcessReaderWriterLock};
    ///
    /// let name = format!("cache-{}", std::process::id());
    /// let lock = InterProcessReaderWriterLock::named(&name);
    /// let reading = lock.read()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let other = InterProcessReaderWriterLock::named(&name);
    ///         assert!(other.try_read().is_ok());
    ///         assert_eq!(other.try_write().unwrap_err().kind(), ErrorKind::WouldBlock);
    ///     });
    /// });
    /// drop(reading);
    /// let err = InterProcessReaderWriterLock::named("").read().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidName);
    /// # std::fs::remove_file(lock.path())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn named(name: impl AsRef<str>) -> Self {
        InterProcessReaderWriterLock {
            file: LockFile::named(name.as_ref(), Mechanism::default()),
        }
    }

    /// Runs `notice` with the lock's path each time an acquisition of either
    /// side has to wait, before it waits, as
    /// [`InterProcessLock::on_wait`](crate::InterProcessLock::on_wait) does:
    /// for the blocking, timed, Python-style and async forms, never for the
    /// `try_*` forms or an acquisition that gets the lock at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::InterProcessReaderWriterLock;
    ///
    /// let path = std::env::temp_dir().join(format!("iprw-wait-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessReaderWriterLock::new(&path).on_wait(fasteners::notice::cargo_style);
    /// drop(lock.write()?); // free: prints nothing
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

    /// Whether the calling thread holds either side of this lock now.
    ///
    /// `true` exactly when the calling thread holds the read or the write
    /// side through a guard or an `acquire_*_lock` of this lock object or of
    /// any other lock object of this process for the same path: then any
    /// blocking acquire from this thread would fail with
    /// [`ErrorKind::WouldDeadlock`](crate::ErrorKind::WouldDeadlock). It says
    /// nothing about other threads or processes, and does not count the
    /// `Send` guards of the async methods.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-held-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let reading = lock.read()?;
    /// assert!(lock.is_held());
    /// drop(reading);
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
    /// use fasteners::InterProcessReaderWriterLock;
    ///
    /// let path = std::env::temp_dir().join(format!("iprw-he-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessReaderWriterLock::new(&path);
    /// let reading = lock.read()?;
    /// assert_eq!(lock.held_elsewhere()?, None); // this process's hold does not count
    /// # drop(reading);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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

    /// As [`read`](Self::read), for a guard that owns the lock object
    /// (tokio's naming): `'static`, so it can be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-ro-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let guard = lock.clone().read_owned()?;
    /// drop(lock); // the guard keeps the lock object alive
    /// guard.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`read`](Self::read).
    pub fn read_owned(self: Arc<Self>) -> Result<OwnedInterProcessReadGuard> {
        let share = self.file.acquire(Mode::Shared, Wait::Forever)?.detach();
        Ok(OwnedInterProcessReadGuard {
            held: share.attach_thread(self),
        })
    }

    /// As [`try_read`](Self::try_read), for a guard that owns the lock object
    /// (tokio's naming): `'static`, so it can be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-tro-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let writing = lock.clone().try_write_owned()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(lock.clone().try_read_owned().unwrap_err().is_contention()));
    /// });
    /// # drop(writing);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_read`](Self::try_read).
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedInterProcessReadGuard> {
        let share = self.file.acquire(Mode::Shared, Wait::Try)?.detach();
        Ok(OwnedInterProcessReadGuard {
            held: share.attach_thread(self),
        })
    }

    /// As [`try_read_for`](Self::try_read_for), for a guard that owns the lock object
    /// (tokio's naming): `'static`, so it can be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-trfo-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let reading = lock.try_read_owned_for(std::time::Duration::from_millis(100))?;
    /// # drop(reading);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_read_for`](Self::try_read_for).
    pub fn try_read_owned_for(
        self: Arc<Self>,
        timeout: Duration,
    ) -> Result<OwnedInterProcessReadGuard> {
        let share = self
            .file
            .acquire(Mode::Shared, Wait::For(timeout))?
            .detach();
        Ok(OwnedInterProcessReadGuard {
            held: share.attach_thread(self),
        })
    }

    /// As [`write`](Self::write), for a guard that owns the lock object
    /// (tokio's naming): `'static`, so it can be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-wo-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let guard = lock.clone().write_owned()?;
    /// drop(lock);
    /// guard.release()?;
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`write`](Self::write).
    pub fn write_owned(self: Arc<Self>) -> Result<OwnedInterProcessWriteGuard> {
        let share = self.file.acquire(Mode::Exclusive, Wait::Forever)?.detach();
        Ok(OwnedInterProcessWriteGuard {
            held: share.attach_thread(self),
        })
    }

    /// As [`try_write`](Self::try_write), for a guard that owns the lock object
    /// (tokio's naming): `'static`, so it can be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-two-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let reading = lock.clone().try_read_owned()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(lock.clone().try_write_owned().unwrap_err().is_contention()));
    /// });
    /// # drop(reading);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_write`](Self::try_write).
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedInterProcessWriteGuard> {
        let share = self.file.acquire(Mode::Exclusive, Wait::Try)?.detach();
        Ok(OwnedInterProcessWriteGuard {
            held: share.attach_thread(self),
        })
    }

    /// As [`try_write_for`](Self::try_write_for), for a guard that owns the lock object
    /// (tokio's naming): `'static`, so it can be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-twfo-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let writing = lock.try_write_owned_for(std::time::Duration::from_millis(100))?;
    /// # drop(writing);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_write_for`](Self::try_write_for).
    pub fn try_write_owned_for(
        self: Arc<Self>,
        timeout: Duration,
    ) -> Result<OwnedInterProcessWriteGuard> {
        let share = self
            .file
            .acquire(Mode::Exclusive, Wait::For(timeout))?
            .detach();
        Ok(OwnedInterProcessWriteGuard {
            held: share.attach_thread(self),
        })
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

impl OwnedInterProcessReadGuard {
    /// Releases the read side now, reporting a failure to unlock.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-orrel-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// lock.read_owned()?.release()?;
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

impl OwnedInterProcessWriteGuard {
    /// Releases the write side now, reporting a failure to unlock.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-owrel-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// lock.write_owned()?.release()?;
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

impl fmt::Debug for OwnedInterProcessReadGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedInterProcessReadGuard")
            .field("path", &self.held.path())
            .finish()
    }
}

impl fmt::Debug for OwnedInterProcessWriteGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedInterProcessWriteGuard")
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
