//! The traits through which the attribute macros and [`try_lock`] take a lock.
//!
//! They follow the vocabulary of C++'s lock requirements: [`Lockable`] for an
//! exclusive lock, [`TimedLockable`] for one that can give up after a timeout,
//! [`SharedLockable`] for a reader-writer lock (its exclusive side is the
//! [`Lockable`] part), and [`SharedTimedLockable`] for timed reads and writes.
//!
//! The crate implements them for its own locks and for [`std::sync::Mutex`]
//! and [`std::sync::RwLock`]. The std locks have no timed acquisition, so they
//! implement neither timed trait: asking the macros for a timeout on one of
//! them is a compile error rather than a timeout that is quietly not honoured.
//! Poisoning is ignored: a panic in a holder releases the lock and the next
//! caller proceeds, as with every lock of this crate.

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};
use std::time::Duration;

use crate::{Error, ErrorKind, Result};

/// An exclusive lock: one holder at a time.
///
/// Implement it to put your own lock (a distributed one, say) under
/// `#[locked]` and [`try_lock`].
///
/// # Examples
///
/// A toy spin lock plugged into the crate's traits:
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use fasteners::{Error, ErrorKind, Lockable, Result};
///
/// struct SpinLock(AtomicBool);
///
/// /// Releases the spin lock when dropped.
/// #[derive(Debug)]
/// #[must_use = "the lock is released as soon as the guard is dropped"]
/// struct SpinGuard<'a>(&'a AtomicBool);
///
/// impl Drop for SpinGuard<'_> {
///     fn drop(&mut self) {
///         self.0.store(false, Ordering::Release);
///     }
/// }
///
/// impl Lockable for SpinLock {
///     type Guard<'a> = SpinGuard<'a>;
///
///     fn lock(&self) -> Result<SpinGuard<'_>> {
///         while self.0.swap(true, Ordering::Acquire) {
///             std::hint::spin_loop();
///         }
///         Ok(SpinGuard(&self.0))
///     }
///
///     fn try_lock(&self) -> Result<SpinGuard<'_>> {
///         if self.0.swap(true, Ordering::Acquire) {
///             return Err(Error::would_block_in_process("spin lock"));
///         }
///         Ok(SpinGuard(&self.0))
///     }
/// }
///
/// let lock = SpinLock(AtomicBool::new(false));
/// let guard = lock.lock().unwrap();
/// assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
/// drop(guard);
/// assert!(fasteners::try_lock(&lock).unwrap().is_some());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a lock",
    label = "`{Self}` does not implement `fasteners::Lockable`",
    note = "a lock is a `std::sync::Mutex`, a `std::sync::RwLock`, a lock of `fasteners`, an `Arc`, `Box`, `LazyLock` or reference to one, or a type implementing `fasteners::Lockable`"
)]
pub trait Lockable {
    /// Holds the lock until dropped.
    type Guard<'a>
    where
        Self: 'a;

    /// Waits as long as needed, then returns the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::Lockable;
    ///
    /// fn exclusive<L: Lockable>(lock: &L) -> fasteners::Result<()> {
    ///     let _guard = lock.lock()?;
    ///     Ok(())
    /// }
    /// exclusive(&std::sync::Mutex::new(()))?;
    /// exclusive(&fasteners::ReaderWriterLock::new())?;
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Whatever the implementation cannot do: for the crate's locks,
    /// [`ErrorKind::WouldDeadlock`] when waiting could never end and
    /// [`ErrorKind::Io`] when the OS refuses.
    fn lock(&self) -> Result<Self::Guard<'_>>;

    /// Takes the lock only if that needs no waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{ErrorKind, Lockable};
    ///
    /// let lock = std::sync::Mutex::new(());
    /// let held = Lockable::try_lock(&lock)?;
    /// assert_eq!(Lockable::try_lock(&lock).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// # drop(held);
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`] when the lock is taken, and the errors of
    /// [`lock`](Lockable::lock).
    fn try_lock(&self) -> Result<Self::Guard<'_>>;
}

/// An exclusive lock that can give up waiting after a timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fasteners::{ReaderWriterLock, TimedLockable};
///
/// /// Runs `job` under `lock`, or reports that it was busy for a second.
/// fn within_a_second<L: TimedLockable>(lock: &L, job: impl FnOnce()) -> fasteners::Result<()> {
///     let _guard = lock.try_lock_for(Duration::from_secs(1))?;
///     job();
///     Ok(())
/// }
///
/// let lock = ReaderWriterLock::new();
/// within_a_second(&lock, || println!("under the lock"))?;
/// # Ok::<(), fasteners::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot give up waiting after a timeout",
    label = "`{Self}` does not implement `fasteners::TimedLockable`",
    note = "std's locks have no timed acquisition: use a lock of `fasteners`, or `blocking = false`"
)]
pub trait TimedLockable: Lockable {
    /// Waits at most `timeout` for the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasteners::{ErrorKind, ReaderWriterLock, TimedLockable};
    ///
    /// let lock = ReaderWriterLock::new();
    /// let writing = lock.write()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let err = TimedLockable::try_lock_for(&lock, Duration::from_millis(10)).unwrap_err();
    ///         assert_eq!(err.kind(), ErrorKind::TimedOut);
    ///     });
    /// });
    /// # drop(writing);
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`] when the lock stayed taken, and the errors of
    /// [`Lockable::lock`].
    fn try_lock_for(&self, timeout: Duration) -> Result<Self::Guard<'_>>;
}

/// A reader-writer lock: many holders of the shared (read) side at once, or
/// one holder of the exclusive (write) side, which is its [`Lockable`] part.
///
/// # Examples
///
/// ```
/// use std::sync::RwLock;
/// use fasteners::SharedLockable;
///
/// fn readers_share<L: SharedLockable + Sync>(lock: &L) -> fasteners::Result<()> {
///     let _first = lock.lock_shared()?;
///     std::thread::scope(|s| {
///         s.spawn(|| assert!(lock.try_lock_shared().is_ok()));
///     });
///     Ok(())
/// }
///
/// readers_share(&RwLock::new(()))?;
/// readers_share(&fasteners::ReaderWriterLock::new())?;
/// # Ok::<(), fasteners::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reader-writer lock",
    label = "`{Self}` does not implement `fasteners::SharedLockable`",
    note = "a reader-writer lock is a `std::sync::RwLock`, a reader-writer lock of `fasteners`, an `Arc`, `Box`, `LazyLock` or reference to one, or a type implementing `fasteners::SharedLockable`; for a mutex, use `#[locked]`"
)]
pub trait SharedLockable: Lockable {
    /// Holds the shared side until dropped.
    type SharedGuard<'a>
    where
        Self: 'a;

    /// Waits as long as needed for the shared side.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::SharedLockable;
    ///
    /// let lock = std::sync::RwLock::new(());
    /// let (a, b) = (lock.lock_shared()?, lock.lock_shared()?);
    /// # drop((a, b));
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`Lockable::lock`].
    fn lock_shared(&self) -> Result<Self::SharedGuard<'_>>;

    /// Takes the shared side only if that needs no waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{ErrorKind, Lockable, SharedLockable};
    ///
    /// let lock = std::sync::RwLock::new(());
    /// let writing = Lockable::lock(&lock)?;
    /// assert_eq!(lock.try_lock_shared().unwrap_err().kind(), ErrorKind::WouldBlock);
    /// drop(writing);
    /// assert!(lock.try_lock_shared().is_ok());
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`] when a writer holds (or, for a writer-first
    /// lock, waits for) the lock, and the errors of [`Lockable::lock`].
    fn try_lock_shared(&self) -> Result<Self::SharedGuard<'_>>;
}

/// A reader-writer lock whose both sides can give up waiting after a timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fasteners::{InterProcessReaderWriterLock, SharedTimedLockable};
///
/// fn read_config<L: SharedTimedLockable>(lock: &L) -> fasteners::Result<String> {
///     let _reading = lock.try_lock_shared_for(Duration::from_secs(1))?;
///     Ok("config".to_owned())
/// }
///
/// let path = std::env::temp_dir().join(format!("stl-doc-{}.lock", std::process::id()));
/// assert_eq!(read_config(&InterProcessReaderWriterLock::new(&path))?, "config");
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), fasteners::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reader-writer lock that can give up waiting after a timeout",
    label = "`{Self}` does not implement `fasteners::SharedTimedLockable`",
    note = "std's `RwLock` has no timed acquisition: use a reader-writer lock of `fasteners`, or `blocking = false`"
)]
pub trait SharedTimedLockable: SharedLockable + TimedLockable {
    /// Waits at most `timeout` for the shared side.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasteners::{ErrorKind, ReaderWriterLock, SharedTimedLockable};
    ///
    /// let lock = ReaderWriterLock::new();
    /// let writing = lock.write()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let err = lock.try_lock_shared_for(Duration::from_millis(10)).unwrap_err();
    ///         assert_eq!(err.kind(), ErrorKind::TimedOut);
    ///     });
    /// });
    /// # drop(writing);
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`] when the lock stayed taken, and the errors of
    /// [`Lockable::lock`].
    fn try_lock_shared_for(&self, timeout: Duration) -> Result<Self::SharedGuard<'_>>;
}

/// Attempts to take `lock` without waiting, as Python's `fasteners.try_lock`.
///
/// Gives `Some(guard)` when the lock was free (it is released when the guard
/// drops) and `None` when it is taken.
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
///
/// let lock = Mutex::new(());
/// let held = fasteners::try_lock(&lock).unwrap();
/// assert!(held.is_some());
/// assert!(fasteners::try_lock(&lock).unwrap().is_none());
/// ```
///
/// # Errors
///
/// Every error of [`Lockable::try_lock`] except [`ErrorKind::WouldBlock`]:
/// an I/O failure of a file lock, or re-acquiring a lock that is not re-entrant.
pub fn try_lock<L: Lockable + ?Sized>(lock: &L) -> Result<Option<L::Guard<'_>>> {
    match lock.try_lock() {
        Ok(guard) => Ok(Some(guard)),
        Err(err) if err.kind() == ErrorKind::WouldBlock => Ok(None),
        Err(err) => Err(err),
    }
}

impl Error {
    /// The error a [`Lockable::try_lock`] implementation returns when the
    /// lock is taken; `lock` names the kind of lock for the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{Error, ErrorKind};
    ///
    /// let err = Error::would_block_in_process("my lock");
    /// assert_eq!(err.kind(), ErrorKind::WouldBlock);
    /// assert!(err.is_contention());
    /// ```
    #[must_use]
    pub fn would_block_in_process(lock: &'static str) -> Self {
        Error::in_process(ErrorKind::WouldBlock, lock, "held elsewhere (would block)")
    }

    /// The error a [`TimedLockable::try_lock_for`] implementation returns when
    /// the lock stayed taken for the whole `timeout`; `lock` names the kind of
    /// lock for the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasteners::{Error, ErrorKind};
    ///
    /// let err = Error::timed_out_in_process("my lock", Duration::from_millis(5));
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// assert_eq!(err.to_string(), "my lock: timed out after 5ms");
    /// ```
    #[must_use]
    pub fn timed_out_in_process(lock: &'static str, timeout: Duration) -> Self {
        Error::in_process_timed_out(lock, timeout)
    }
}

const STD_MUTEX: &str = "std::sync::Mutex";
const STD_RW_LOCK: &str = "std::sync::RwLock";

/// Ignores poisoning: a panicking holder does not make the lock unusable.
fn try_unpoisoned<G>(result: std::sync::TryLockResult<G>, lock: &'static str) -> Result<G> {
    match result {
        Ok(guard) => Ok(guard),
        Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => Err(Error::would_block_in_process(lock)),
    }
}

impl<T: ?Sized> Lockable for Mutex<T> {
    type Guard<'a>
        = MutexGuard<'a, T>
    where
        Self: 'a;

    fn lock(&self) -> Result<MutexGuard<'_, T>> {
        Ok(Mutex::lock(self).unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn try_lock(&self) -> Result<MutexGuard<'_, T>> {
        try_unpoisoned(Mutex::try_lock(self), STD_MUTEX)
    }
}

impl<T: ?Sized> Lockable for RwLock<T> {
    type Guard<'a>
        = RwLockWriteGuard<'a, T>
    where
        Self: 'a;

    fn lock(&self) -> Result<RwLockWriteGuard<'_, T>> {
        Ok(RwLock::write(self).unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn try_lock(&self) -> Result<RwLockWriteGuard<'_, T>> {
        try_unpoisoned(RwLock::try_write(self), STD_RW_LOCK)
    }
}

impl<T: ?Sized> SharedLockable for RwLock<T> {
    type SharedGuard<'a>
        = RwLockReadGuard<'a, T>
    where
        Self: 'a;

    fn lock_shared(&self) -> Result<RwLockReadGuard<'_, T>> {
        Ok(RwLock::read(self).unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn try_lock_shared(&self) -> Result<RwLockReadGuard<'_, T>> {
        try_unpoisoned(RwLock::try_read(self), STD_RW_LOCK)
    }
}

/// Forwards every lock trait through a smart pointer, so that a field (or a
/// static) of type `Arc<L>`, `Box<L>`, `&L` or `LazyLock<L>` works wherever
/// `L` does. `sized` marks a pointer whose target must be `Sized`.
macro_rules! forward_through_pointer {
    ($l:ident => $pointer:ty) => {
        forward_through_pointer!(@impl [$l: ?Sized] $pointer);
    };
    (sized $l:ident => $pointer:ty) => {
        forward_through_pointer!(@impl [$l] $pointer);
    };
    (@impl [$l:ident $(: ?$sized:ident)?] $pointer:ty) => {
        impl<$l: Lockable $(+ ?$sized)?> Lockable for $pointer {
            type Guard<'a>
                = $l::Guard<'a>
            where
                Self: 'a;

            fn lock(&self) -> Result<Self::Guard<'_>> {
                self.deref().lock()
            }

            fn try_lock(&self) -> Result<Self::Guard<'_>> {
                self.deref().try_lock()
            }
        }

        impl<$l: TimedLockable $(+ ?$sized)?> TimedLockable for $pointer {
            fn try_lock_for(&self, timeout: Duration) -> Result<Self::Guard<'_>> {
                self.deref().try_lock_for(timeout)
            }
        }

        impl<$l: SharedLockable $(+ ?$sized)?> SharedLockable for $pointer {
            type SharedGuard<'a>
                = $l::SharedGuard<'a>
            where
                Self: 'a;

            fn lock_shared(&self) -> Result<Self::SharedGuard<'_>> {
                self.deref().lock_shared()
            }

            fn try_lock_shared(&self) -> Result<Self::SharedGuard<'_>> {
                self.deref().try_lock_shared()
            }
        }

        impl<$l: SharedTimedLockable $(+ ?$sized)?> SharedTimedLockable for $pointer {
            fn try_lock_shared_for(&self, timeout: Duration) -> Result<Self::SharedGuard<'_>> {
                self.deref().try_lock_shared_for(timeout)
            }
        }
    };
}

forward_through_pointer!(L => Arc<L>);
forward_through_pointer!(L => Box<L>);
forward_through_pointer!(L => &L);
forward_through_pointer!(sized L => std::sync::LazyLock<L>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_mutex_try_lock_reports_would_block() {
        let lock = Mutex::new(());
        let _held = Lockable::lock(&lock).unwrap();
        let err = Lockable::try_lock(&lock).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(err.to_string().contains(STD_MUTEX));
    }

    #[test]
    fn std_rw_lock_sides() {
        let lock = RwLock::new(());
        let r1 = lock.lock_shared().unwrap();
        let _r2 = lock.try_lock_shared().unwrap();
        assert!(try_lock(&lock).unwrap().is_none());
        drop(r1);
    }

    #[test]
    fn poisoned_mutex_still_locks() {
        let lock = Arc::new(Mutex::new(()));
        let inner = Arc::clone(&lock);
        let _ = std::thread::spawn(move || {
            let _guard = Lockable::lock(&*inner).unwrap();
            panic!("poison it");
        })
        .join();
        assert!(lock.is_poisoned());
        assert!(Lockable::try_lock(&lock).is_ok());
    }

    #[test]
    fn arc_forwards() {
        let lock = Arc::new(RwLock::new(()));
        let _r = lock.lock_shared().unwrap();
        assert!(try_lock(&lock).unwrap().is_none());
    }
}
