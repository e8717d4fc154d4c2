//! Async acquisition of the process locks: futures that never block the
//! executor thread, and `Send` guards that may cross `.await` and threads.
//!
//! An async acquire takes the lock at once if it is free; otherwise the lock
//! file's background waiter (one thread per lock file per process while tasks
//! wait for it, started on first need, gone 10 ms after its last job) waits in
//! the kernel and wakes the task when the kernel hands the lock over, or when
//! a task or thread of this process releases it. When the last task waiting
//! for the file gives up (its future is dropped or times out), the process
//! timer interrupts the background waiter's kernel wait with a signal (Linux;
//! see [`disable_wait_signal`](crate::disable_wait_signal)), so nothing of
//! the wait stays queued in the kernel; without a usable signal the
//! background waiter polls instead. `poll` never waits: it takes the entry's
//! state mutex for a few instructions and makes non-blocking system calls
//! only (opening the lock file on first use, a non-blocking lock attempt, and
//! after a grant a `stat` to check the file is still the one at the path).
//! Timed acquisitions need no timer runtime either: a process-wide timer
//! thread wakes a task whose deadline passed. So these futures work on any
//! executor: tokio's current-thread and multi-thread runtimes, async-std,
//! smol, `futures::executor::block_on`, a hand-written `block_on`.
//!
//! **Cancel-safe.** Dropping an acquire future at any point leaves nothing
//! held: if the kernel granted the lock to it meanwhile, the grant goes to the
//! next waiter of this process, or back to the kernel when there is none.
//!
//! **Holders are acquisitions, not threads.** The guards are `Send` and
//! `Sync`: a task may hold one across `.await` and move between threads. Tasks
//! exclude each other (and threads) as threads do. Unlike a thread, a task is
//! not recognised when it asks again for a lock it holds: that second acquire
//! waits forever (as with `tokio::sync::Mutex`), and a second `try_*_async`
//! gets [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::lock_file::{LockFile, SendHeld, Wait};
use crate::sys::Mode;
use crate::{InterProcessLock, InterProcessReaderWriterLock, Result};

/// Holds an [`InterProcessLock`] taken by an async (or `Send`) acquisition;
/// releases it when dropped.
///
/// `Send` and `Sync`: it may be held across `.await` in a task that
/// `tokio::spawn` moves between threads, and dropped on any thread.
///
/// # Examples
///
/// ```
/// fn assert_send<T: Send + Sync>(_: &T) {}
///
/// let path = std::env::temp_dir().join(format!("ipl-ag-doc-{}.lock", std::process::id()));
/// let lock = fasteners::InterProcessLock::new(&path);
/// let guard = lock.try_lock_async()?;
/// assert_send(&guard);
/// std::thread::scope(|s| {
///     // Released on another thread.
///     s.spawn(move || guard.release().unwrap());
/// });
/// assert!(lock.try_lock().is_ok());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct AsyncInterProcessLockGuard<'a> {
    held: SendHeld<&'a LockFile>,
}

/// Holds the read side of an [`InterProcessReaderWriterLock`] taken by an
/// async (or `Send`) acquisition; releases it when dropped. `Send + Sync`.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("iprw-arg-doc-{}.lock", std::process::id()));
/// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
/// let first = lock.try_read_async()?;
/// let second = lock.try_read_async()?; // readers share
/// drop((first, second));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct AsyncInterProcessReadGuard<'a> {
    held: SendHeld<&'a LockFile>,
}

/// Holds the write side of an [`InterProcessReaderWriterLock`] taken by an
/// async (or `Send`) acquisition; releases it when dropped. `Send + Sync`.
///
/// # Examples
///
/// ```
/// use fasteners::ErrorKind;
///
/// let path = std::env::temp_dir().join(format!("iprw-awg-doc-{}.lock", std::process::id()));
/// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
/// let writing = lock.try_write_async()?;
/// assert_eq!(lock.try_read_async().unwrap_err().kind(), ErrorKind::WouldBlock);
/// writing.release()?;
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct AsyncInterProcessWriteGuard<'a> {
    held: SendHeld<&'a LockFile>,
}

/// Holds an [`InterProcessLock`] that it owns through an [`Arc`], taken by
/// an async (or `Send`) acquisition; releases it when dropped. `'static`,
/// `Send` and `Sync`: it can move into a spawned task, be stored or returned.
/// Made by [`InterProcessLock::lock_owned_async`] & co.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("ipl-oag-doc-{}.lock", std::process::id()));
/// let lock = Arc::new(fasteners::InterProcessLock::new(&path));
/// let guard = lock.clone().lock_owned_async().await?;
/// // Moved into another thread, with no borrow of `lock`.
/// std::thread::spawn(move || drop(guard)).join().unwrap();
/// assert!(lock.try_lock().is_ok());
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), fasteners::Error>(())
/// # }).unwrap();
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedAsyncInterProcessLockGuard {
    held: SendHeld<Arc<InterProcessLock>>,
}

/// Holds the read side of an [`InterProcessReaderWriterLock`] that it owns
/// through an [`Arc`], taken by an async (or `Send`) acquisition; releases it
/// when dropped. `'static`, `Send` and `Sync`. Made by
/// [`InterProcessReaderWriterLock::read_owned_async`] & co.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// let path = std::env::temp_dir().join(format!("iprw-oarg-doc-{}.lock", std::process::id()));
/// let lock = Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
/// let reading = lock.clone().try_read_owned_async()?;
/// std::thread::spawn(move || drop(reading)).join().unwrap();
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct OwnedAsyncInterProcessReadGuard {
    held: SendHeld<Arc<InterProcessReaderWriterLock>>,
}

/// Holds the write side of an [`InterProcessReaderWriterLock`] that it owns
/// through an [`Arc`], taken by an async (or `Send`) acquisition; releases it
/// when dropped. `'static`, `Send` and `Sync`. Made by
/// [`InterProcessReaderWriterLock::write_owned_async`] & co.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// let path = std::env::temp_dir().join(format!("iprw-oawg-doc-{}.lock", std::process::id()));
/// let lock = Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
/// let writing = lock.clone().try_write_owned_async()?;
/// assert!(lock.try_read().unwrap_err().is_contention());
/// std::thread::spawn(move || drop(writing)).join().unwrap();
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct OwnedAsyncInterProcessWriteGuard {
    held: SendHeld<Arc<InterProcessReaderWriterLock>>,
}

macro_rules! guard_common {
    ($guard:ident $(<$lt:lifetime>)?) => {
        impl $guard$(<$lt>)? {
            /// Releases the lock now, reporting a failure to unlock
            /// (dropping the guard releases too, but cannot report).
            ///
            /// # Examples
            ///
            /// ```
            /// let path = std::env::temp_dir()
            ///     .join(format!("async-release-doc-{}.lock", std::process::id()));
            /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
            /// lock.try_write_async()?.release()?;
            /// # std::fs::remove_file(&path)?;
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Io`](crate::ErrorKind::Io) if the OS refuses to
            /// unlock; the file is then closed, which releases the lock once
            /// no other lock object of this process uses it.
            pub fn release(self) -> Result<()> {
                self.held.release()
            }
        }

        impl fmt::Debug for $guard$(<$lt>)? {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($guard))
                    .field("path", &self.held.path())
                    .finish()
            }
        }
    };
}

guard_common!(AsyncInterProcessLockGuard<'_>);
guard_common!(AsyncInterProcessReadGuard<'_>);
guard_common!(AsyncInterProcessWriteGuard<'_>);
guard_common!(OwnedAsyncInterProcessLockGuard);
guard_common!(OwnedAsyncInterProcessReadGuard);
guard_common!(OwnedAsyncInterProcessWriteGuard);

impl InterProcessLock {
    /// Waits as long as needed for the lock without blocking the executor
    /// thread; the guard is `Send`.
    ///
    /// Cancel-safe: dropping the future (a `select!`, a timeout, an aborted
    /// task) leaves the lock neither held nor promised. A task that already
    /// holds the lock and asks again waits forever (see [the crate docs](crate#async)).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("ipl-la-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessLock::new(&path));
    /// let task = {
    ///     let lock = lock.clone();
    ///     // The guard crosses an `.await` in a spawned task.
    ///     tokio::spawn(async move {
    ///         let _guard = lock.lock_async().await?;
    ///         tokio::task::yield_now().await;
    ///         Ok::<(), fasteners::Error>(())
    ///     })
    /// };
    /// task.await.unwrap()?;
    /// let _guard = lock.lock_async().await?;
    /// # drop(_guard);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if the file or its directory
    /// cannot be created or opened, the OS refuses the lock, or the
    /// background waiter's thread cannot be started.
    pub async fn lock_async(&self) -> Result<AsyncInterProcessLockGuard<'_>> {
        let held = self
            .file
            .acquire_async(Mode::Exclusive, Wait::Forever)
            .await?;
        Ok(AsyncInterProcessLockGuard { held })
    }

    /// Takes the lock only if nobody holds it, for a `Send` guard.
    ///
    /// It never waits, so there is nothing to `.await`: it is
    /// [`try_lock`](Self::try_lock) with the guard of the async methods,
    /// for use inside async code.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ErrorKind;
    ///
    /// let path = std::env::temp_dir().join(format!("ipl-tla-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessLock::new(&path);
    /// let guard = lock.try_lock_async()?;
    /// // Held, also for the same thread (a task is not recognised as the holder).
    /// assert_eq!(lock.try_lock_async().unwrap_err().kind(), ErrorKind::WouldBlock);
    /// drop(guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) when it is
    /// held, and the errors of [`lock_async`](Self::lock_async).
    pub fn try_lock_async(&self) -> Result<AsyncInterProcessLockGuard<'_>> {
        let held = self.file.try_acquire_send(Mode::Exclusive)?;
        Ok(AsyncInterProcessLockGuard { held })
    }

    /// Waits at most `timeout` for the lock without blocking the executor
    /// thread; needs no timer runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasteners::ErrorKind;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("ipl-laf-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessLock::new(&path);
    /// let guard = lock.lock_async_for(Duration::from_secs(1)).await?;
    /// let other = fasteners::InterProcessLock::new(&path);
    /// let err = other.lock_async_for(Duration::from_millis(20)).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// # drop(guard);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) when the lock
    /// stayed taken for the whole timeout, and the errors of
    /// [`lock_async`](Self::lock_async).
    pub async fn lock_async_for(
        &self,
        timeout: Duration,
    ) -> Result<AsyncInterProcessLockGuard<'_>> {
        let held = self
            .file
            .acquire_async(Mode::Exclusive, Wait::For(timeout))
            .await?;
        Ok(AsyncInterProcessLockGuard { held })
    }
}

impl InterProcessLock {
    /// As [`lock_async`](Self::lock_async), for a guard that owns the lock object
    /// (tokio's naming): `'static` and `Send`, so it can move into a spawned
    /// task, be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("ipl-loa-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessLock::new(&path));
    /// let task = tokio::spawn(lock.clone().lock_owned_async());
    /// let guard = task.await.unwrap()?; // the guard came out of the task
    /// assert!(lock.try_lock().is_err());
    /// drop(guard);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`lock_async`](Self::lock_async).
    pub async fn lock_owned_async(self: Arc<Self>) -> Result<OwnedAsyncInterProcessLockGuard> {
        let share = self
            .file
            .acquire_async(Mode::Exclusive, Wait::Forever)
            .await?
            .detach();
        Ok(OwnedAsyncInterProcessLockGuard {
            held: share.attach(self),
        })
    }

    /// As [`try_lock_async`](Self::try_lock_async), for a guard that owns the lock object
    /// (tokio's naming): `'static` and `Send`, so it can move into a spawned
    /// task, be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("ipl-tloa-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessLock::new(&path));
    /// let guard = lock.clone().try_lock_owned_async()?;
    /// assert!(lock.clone().try_lock_owned_async().unwrap_err().is_contention());
    /// drop(guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_lock_async`](Self::try_lock_async).
    pub fn try_lock_owned_async(self: Arc<Self>) -> Result<OwnedAsyncInterProcessLockGuard> {
        let share = self.file.try_acquire_send(Mode::Exclusive)?.detach();
        Ok(OwnedAsyncInterProcessLockGuard {
            held: share.attach(self),
        })
    }

    /// As [`lock_async_for`](Self::lock_async_for), for a guard that owns the lock object
    /// (tokio's naming): `'static` and `Send`, so it can move into a spawned
    /// task, be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("ipl-loaf-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessLock::new(&path));
    /// let guard = lock.clone().lock_owned_async_for(std::time::Duration::from_secs(1)).await?;
    /// let err = lock.lock_owned_async_for(std::time::Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(err.kind(), fasteners::ErrorKind::TimedOut);
    /// # drop(guard);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`lock_async_for`](Self::lock_async_for).
    pub async fn lock_owned_async_for(
        self: Arc<Self>,
        timeout: Duration,
    ) -> Result<OwnedAsyncInterProcessLockGuard> {
        let share = self
            .file
            .acquire_async(Mode::Exclusive, Wait::For(timeout))
            .await?
            .detach();
        Ok(OwnedAsyncInterProcessLockGuard {
            held: share.attach(self),
        })
    }
}

impl InterProcessReaderWriterLock {
    /// As [`read_async`](Self::read_async), for a guard that owns the lock object
    /// (tokio's naming): `'static` and `Send`, so it can move into a spawned
    /// task, be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("iprw-roa-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let (a, b) = (lock.clone().read_owned_async().await?, lock.read_owned_async().await?);
    /// # drop((a, b));
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`read_async`](Self::read_async).
    pub async fn read_owned_async(self: Arc<Self>) -> Result<OwnedAsyncInterProcessReadGuard> {
        let share = self
            .file
            .acquire_async(Mode::Shared, Wait::Forever)
            .await?
            .detach();
        Ok(OwnedAsyncInterProcessReadGuard {
            held: share.attach(self),
        })
    }

    /// As [`try_read_async`](Self::try_read_async), for a guard that owns the lock object
    /// (tokio's naming): `'static` and `Send`, so it can move into a spawned
    /// task, be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-troa-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let reading = lock.try_read_owned_async()?;
    /// # drop(reading);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_read_async`](Self::try_read_async).
    pub fn try_read_owned_async(self: Arc<Self>) -> Result<OwnedAsyncInterProcessReadGuard> {
        let share = self.file.try_acquire_send(Mode::Shared)?.detach();
        Ok(OwnedAsyncInterProcessReadGuard {
            held: share.attach(self),
        })
    }

    /// As [`read_async_for`](Self::read_async_for), for a guard that owns the lock object
    /// (tokio's naming): `'static` and `Send`, so it can move into a spawned
    /// task, be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("iprw-roaf-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let writing = lock.clone().write_owned_async().await?;
    /// let err = lock.read_owned_async_for(std::time::Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(err.kind(), fasteners::ErrorKind::TimedOut);
    /// # drop(writing);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`read_async_for`](Self::read_async_for).
    pub async fn read_owned_async_for(
        self: Arc<Self>,
        timeout: Duration,
    ) -> Result<OwnedAsyncInterProcessReadGuard> {
        let share = self
            .file
            .acquire_async(Mode::Shared, Wait::For(timeout))
            .await?
            .detach();
        Ok(OwnedAsyncInterProcessReadGuard {
            held: share.attach(self),
        })
    }

    /// As [`write_async`](Self::write_async), for a guard that owns the lock object
    /// (tokio's naming): `'static` and `Send`, so it can move into a spawned
    /// task, be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("iprw-woa-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let task = tokio::spawn(lock.clone().write_owned_async());
    /// let writing = task.await.unwrap()?;
    /// assert!(lock.try_read().is_err());
    /// drop(writing);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`write_async`](Self::write_async).
    pub async fn write_owned_async(self: Arc<Self>) -> Result<OwnedAsyncInterProcessWriteGuard> {
        let share = self
            .file
            .acquire_async(Mode::Exclusive, Wait::Forever)
            .await?
            .detach();
        Ok(OwnedAsyncInterProcessWriteGuard {
            held: share.attach(self),
        })
    }

    /// As [`try_write_async`](Self::try_write_async), for a guard that owns the lock object
    /// (tokio's naming): `'static` and `Send`, so it can move into a spawned
    /// task, be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-twoa-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let writing = lock.try_write_owned_async()?;
    /// # drop(writing);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`try_write_async`](Self::try_write_async).
    pub fn try_write_owned_async(self: Arc<Self>) -> Result<OwnedAsyncInterProcessWriteGuard> {
        let share = self.file.try_acquire_send(Mode::Exclusive)?.detach();
        Ok(OwnedAsyncInterProcessWriteGuard {
            held: share.attach(self),
        })
    }

    /// As [`write_async_for`](Self::write_async_for), for a guard that owns the lock object
    /// (tokio's naming): `'static` and `Send`, so it can move into a spawned
    /// task, be stored or returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("iprw-woaf-doc-{}.lock", std::process::id()));
    /// let lock = std::sync::Arc::new(fasteners::InterProcessReaderWriterLock::new(&path));
    /// let reading = lock.clone().read_owned_async().await?;
    /// let err = lock.write_owned_async_for(std::time::Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(err.kind(), fasteners::ErrorKind::TimedOut);
    /// # drop(reading);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`write_async_for`](Self::write_async_for).
    pub async fn write_owned_async_for(
        self: Arc<Self>,
        timeout: Duration,
    ) -> Result<OwnedAsyncInterProcessWriteGuard> {
        let share = self
            .file
            .acquire_async(Mode::Exclusive, Wait::For(timeout))
            .await?
            .detach();
        Ok(OwnedAsyncInterProcessWriteGuard {
            held: share.attach(self),
        })
    }

    /// Waits as long as needed for the read side without blocking the
    /// executor thread; the guard is `Send`. Cancel-safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("iprw-ra-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let (a, b) = (lock.read_async().await?, lock.read_async().await?);
    /// # drop((a, b));
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`InterProcessLock::lock_async`].
    pub async fn read_async(&self) -> Result<AsyncInterProcessReadGuard<'_>> {
        let held = self.file.acquire_async(Mode::Shared, Wait::Forever).await?;
        Ok(AsyncInterProcessReadGuard { held })
    }

    /// Takes the read side only if no writer holds or awaits it, for a `Send`
    /// guard; never waits, so there is nothing to `.await`.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-tra-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let _reading = lock.try_read_async()?;
    /// # drop(_reading);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) when a writer
    /// holds or awaits it, and the errors of [`read_async`](Self::read_async).
    pub fn try_read_async(&self) -> Result<AsyncInterProcessReadGuard<'_>> {
        let held = self.file.try_acquire_send(Mode::Shared)?;
        Ok(AsyncInterProcessReadGuard { held })
    }

    /// Waits at most `timeout` for the read side without blocking the
    /// executor thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("iprw-raf-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let writing = lock.write_async().await?;
    /// let err = lock.read_async_for(Duration::from_millis(20)).await.unwrap_err();
    /// assert_eq!(err.kind(), fasteners::ErrorKind::TimedOut);
    /// # drop(writing);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) when a writer kept
    /// it for the whole timeout, and the errors of [`read_async`](Self::read_async).
    pub async fn read_async_for(
        &self,
        timeout: Duration,
    ) -> Result<AsyncInterProcessReadGuard<'_>> {
        let held = self
            .file
            .acquire_async(Mode::Shared, Wait::For(timeout))
            .await?;
        Ok(AsyncInterProcessReadGuard { held })
    }

    /// Waits as long as needed for the write side without blocking the
    /// executor thread; the guard is `Send`. Cancel-safe.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("iprw-wa-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// lock.write_async().await?.release()?;
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`InterProcessLock::lock_async`].
    pub async fn write_async(&self) -> Result<AsyncInterProcessWriteGuard<'_>> {
        let held = self
            .file
            .acquire_async(Mode::Exclusive, Wait::Forever)
            .await?;
        Ok(AsyncInterProcessWriteGuard { held })
    }

    /// Takes the write side only if nobody holds either side, for a `Send`
    /// guard; never waits, so there is nothing to `.await`.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("iprw-twa-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let _writing = lock.try_write_async()?;
    /// # drop(_writing);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) when it is
    /// held, and the errors of [`write_async`](Self::write_async).
    pub fn try_write_async(&self) -> Result<AsyncInterProcessWriteGuard<'_>> {
        let held = self.file.try_acquire_send(Mode::Exclusive)?;
        Ok(AsyncInterProcessWriteGuard { held })
    }

    /// Waits at most `timeout` for the write side without blocking the
    /// executor thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("iprw-waf-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessReaderWriterLock::new(&path);
    /// let reading = lock.read_async().await?;
    /// let err = lock.write_async_for(Duration::from_millis(20)).await.unwrap_err();
    /// assert_eq!(err.kind(), fasteners::ErrorKind::TimedOut);
    /// # drop(reading);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) when it stayed
    /// held for the whole timeout, and the errors of [`write_async`](Self::write_async).
    pub async fn write_async_for(
        &self,
        timeout: Duration,
    ) -> Result<AsyncInterProcessWriteGuard<'_>> {
        let held = self
            .file
            .acquire_async(Mode::Exclusive, Wait::For(timeout))
            .await?;
        Ok(AsyncInterProcessWriteGuard { held })
    }
}
