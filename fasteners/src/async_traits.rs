//! The async counterparts of the lock traits, through which the attribute
//! macros lock on an `async fn` and generic async code takes any lock.
//!
//! [`AsyncLockable`] for an exclusive lock, [`AsyncTimedLockable`] for one
//! that can give up after a timeout, [`AsyncSharedLockable`] for a
//! reader-writer lock (its exclusive side is the [`AsyncLockable`] part) and
//! [`AsyncSharedTimedLockable`] for timed reads and writes. Implemented by the
//! crate's process locks and, with the `tokio` feature, by
//! `tokio::sync::Mutex` and `tokio::sync::RwLock` (timed too: the deadline
//! comes from the crate's own timer thread, so tokio's time driver is not
//! needed).
//!
//! Locks whose guards must stay on one thread ([`std::sync::Mutex`], the
//! in-process [`ReaderWriterLock`](crate::ReaderWriterLock)) do not implement
//! them: holding such a guard across an `.await` would block the executor or
//! pin the task to a thread, so using one on an `async fn` is a compile error
//! that says so.
//!
//! The returned futures are `Send` whenever the lock allows it; for a concrete
//! lock type the compiler sees through `impl Future`, so an `async fn` that
//! locks a [`InterProcessLock`] can be given to `tokio::spawn`.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    AsyncInterProcessLockGuard, AsyncInterProcessReadGuard, AsyncInterProcessWriteGuard,
    InterProcessLock, InterProcessReaderWriterLock, Result,
};

/// An exclusive lock that a task can wait for without blocking its thread,
/// and hold across `.await`.
///
/// # Examples
///
/// ```
/// use fasteners::{AsyncLockable, InterProcessLock};
///
/// async fn bump<L: AsyncLockable>(lock: &L, counter: &mut u32) -> fasteners::Result<()> {
///     let _guard = lock.lock_async().await?;
///     *counter += 1;
///     Ok(())
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("async-lockable-doc-{}.lock", std::process::id()));
/// let mut counter = 0;
/// bump(&InterProcessLock::new(&path), &mut counter).await?;
/// assert_eq!(counter, 1);
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), fasteners::Error>(())
/// # }).unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an async lock: its guard cannot be held across an `.await`",
    label = "not an async lock",
    note = "use a lock that implements `fasteners::AsyncLockable`: `fasteners::InterProcessLock`, \
            `fasteners::InterProcessReaderWriterLock`, or `tokio::sync::Mutex` / `RwLock` \
            (fasteners feature `tokio`)"
)]
pub trait AsyncLockable {
    /// Holds the lock until dropped.
    type AsyncGuard<'a>
    where
        Self: 'a;

    /// Waits as long as needed, without blocking the thread, then returns the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{AsyncLockable, InterProcessLock};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("al-lock-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessLock::new(&path);
    /// let guard = AsyncLockable::lock_async(&lock).await?;
    /// # drop(guard);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// Whatever the implementation cannot do: for the crate's locks,
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when the OS refuses.
    fn lock_async(&self) -> impl Future<Output = Result<Self::AsyncGuard<'_>>>;

    /// Takes the lock only if that needs no waiting (so nothing to `.await`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{AsyncLockable, ErrorKind, InterProcessLock};
    ///
    /// let path = std::env::temp_dir().join(format!("al-try-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessLock::new(&path);
    /// let guard = AsyncLockable::try_lock_async(&lock)?;
    /// let err = AsyncLockable::try_lock_async(&lock).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::WouldBlock);
    /// # drop(guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) when the lock
    /// is taken, and the errors of [`lock_async`](AsyncLockable::lock_async).
    fn try_lock_async(&self) -> Result<Self::AsyncGuard<'_>>;
}

/// An [`AsyncLockable`] that can give up waiting after a timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fasteners::{AsyncTimedLockable, InterProcessLock};
///
/// async fn within<L: AsyncTimedLockable>(lock: &L, timeout: Duration) -> fasteners::Result<()> {
///     let _guard = lock.lock_async_for(timeout).await?;
///     Ok(())
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("atl-doc-{}.lock", std::process::id()));
/// within(&InterProcessLock::new(&path), Duration::from_secs(1)).await?;
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), fasteners::Error>(())
/// # }).unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no timed async acquisition",
    label = "no `lock_async_for`",
    note = "use a lock that implements `fasteners::AsyncTimedLockable`, or drop the timeout"
)]
pub trait AsyncTimedLockable: AsyncLockable {
    /// Waits at most `timeout` for the lock, without blocking the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasteners::{AsyncTimedLockable, ErrorKind, InterProcessLock};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("atl-for-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessLock::new(&path);
    /// let held = lock.try_lock_async()?;
    /// let err = lock.lock_async_for(Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// # drop(held);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) when the lock
    /// stayed taken, and the errors of [`AsyncLockable::lock_async`].
    fn lock_async_for(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<Self::AsyncGuard<'_>>>;
}

/// An async reader-writer lock: many holders of the shared side at once, or
/// one holder of the exclusive side, which is its [`AsyncLockable`] part.
///
/// # Examples
///
/// ```
/// use fasteners::{AsyncSharedLockable, InterProcessReaderWriterLock};
///
/// async fn two_readers<L: AsyncSharedLockable>(lock: &L) -> fasteners::Result<()> {
///     let _first = lock.lock_shared_async().await?;
///     let _second = lock.lock_shared_async().await?; // readers share
///     Ok(())
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("asl-doc-{}.lock", std::process::id()));
/// two_readers(&InterProcessReaderWriterLock::new(&path)).await?;
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), fasteners::Error>(())
/// # }).unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an async reader-writer lock: its guards cannot be held across an `.await`",
    label = "not an async reader-writer lock",
    note = "use `fasteners::InterProcessReaderWriterLock` or `tokio::sync::RwLock` \
            (fasteners feature `tokio`)"
)]
pub trait AsyncSharedLockable: AsyncLockable {
    /// Holds the shared side until dropped.
    type AsyncSharedGuard<'a>
    where
        Self: 'a;

    /// Waits as long as needed for the shared side, without blocking the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{AsyncSharedLockable, InterProcessReaderWriterLock};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("asl-lock-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessReaderWriterLock::new(&path);
    /// let reading = lock.lock_shared_async().await?;
    /// # drop(reading);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`AsyncLockable::lock_async`].
    fn lock_shared_async(&self) -> impl Future<Output = Result<Self::AsyncSharedGuard<'_>>>;

    /// Takes the shared side only if that needs no waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{AsyncSharedLockable, ErrorKind, InterProcessReaderWriterLock};
    ///
    /// let path = std::env::temp_dir().join(format!("asl-try-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessReaderWriterLock::new(&path);
    /// let writing = lock.try_write_async()?;
    /// assert_eq!(lock.try_lock_shared_async().unwrap_err().kind(), ErrorKind::WouldBlock);
    /// drop(writing);
    /// assert!(lock.try_lock_shared_async().is_ok());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) when a writer
    /// holds (or, for a writer-first lock, waits for) the lock, and the errors
    /// of [`AsyncLockable::lock_async`].
    fn try_lock_shared_async(&self) -> Result<Self::AsyncSharedGuard<'_>>;
}

/// An [`AsyncSharedLockable`] whose both sides can give up after a timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fasteners::{AsyncSharedTimedLockable, InterProcessReaderWriterLock};
///
/// async fn snapshot<L: AsyncSharedTimedLockable>(lock: &L) -> fasteners::Result<u32> {
///     let _reading = lock.lock_shared_async_for(Duration::from_secs(1)).await?;
///     Ok(42)
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let path = std::env::temp_dir().join(format!("astl-doc-{}.lock", std::process::id()));
/// assert_eq!(snapshot(&InterProcessReaderWriterLock::new(&path)).await?, 42);
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), fasteners::Error>(())
/// # }).unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no timed async acquisition of both sides",
    label = "no `lock_shared_async_for`",
    note = "use a lock that implements `fasteners::AsyncSharedTimedLockable`, or drop the timeout"
)]
pub trait AsyncSharedTimedLockable: AsyncSharedLockable + AsyncTimedLockable {
    /// Waits at most `timeout` for the shared side, without blocking the thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasteners::{AsyncSharedTimedLockable, ErrorKind, InterProcessReaderWriterLock};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let path = std::env::temp_dir().join(format!("astl-for-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessReaderWriterLock::new(&path);
    /// let writing = lock.try_write_async()?;
    /// let err = lock.lock_shared_async_for(Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// # drop(writing);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), fasteners::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) when the lock
    /// stayed taken, and the errors of [`AsyncLockable::lock_async`].
    fn lock_shared_async_for(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<Self::AsyncSharedGuard<'_>>>;
}

impl AsyncLockable for InterProcessLock {
    type AsyncGuard<'a> = AsyncInterProcessLockGuard<'a>;

    fn lock_async(&self) -> impl Future<Output = Result<AsyncInterProcessLockGuard<'_>>> {
        InterProcessLock::lock_async(self)
    }

    fn try_lock_async(&self) -> Result<AsyncInterProcessLockGuard<'_>> {
        InterProcessLock::try_lock_async(self)
    }
}

impl AsyncTimedLockable for InterProcessLock {
    fn lock_async_for(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<AsyncInterProcessLockGuard<'_>>> {
        InterProcessLock::lock_async_for(self, timeout)
    }
}

impl AsyncLockable for InterProcessReaderWriterLock {
    type AsyncGuard<'a> = AsyncInterProcessWriteGuard<'a>;

    fn lock_async(&self) -> impl Future<Output = Result<AsyncInterProcessWriteGuard<'_>>> {
        self.write_async()
    }

    fn try_lock_async(&self) -> Result<AsyncInterProcessWriteGuard<'_>> {
        self.try_write_async()
    }
}

impl AsyncTimedLockable for InterProcessReaderWriterLock {
    fn lock_async_for(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<AsyncInterProcessWriteGuard<'_>>> {
        self.write_async_for(timeout)
    }
}

impl AsyncSharedLockable for InterProcessReaderWriterLock {
    type AsyncSharedGuard<'a> = AsyncInterProcessReadGuard<'a>;

    fn lock_shared_async(&self) -> impl Future<Output = Result<AsyncInterProcessReadGuard<'_>>> {
        self.read_async()
    }

    fn try_lock_shared_async(&self) -> Result<AsyncInterProcessReadGuard<'_>> {
        self.try_read_async()
    }
}

impl AsyncSharedTimedLockable for InterProcessReaderWriterLock {
    fn lock_shared_async_for(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<AsyncInterProcessReadGuard<'_>>> {
        self.read_async_for(timeout)
    }
}

/// Forwards every async lock trait through a smart pointer (`Arc<L>`,
/// `Box<L>`, `LazyLock<L>`). `sized` marks a pointer whose target must be
/// `Sized`.
macro_rules! forward_through_pointer {
    ($l:ident => $pointer:ty) => {
        forward_through_pointer!(@impl [$l: ?Sized] $pointer);
    };
    (sized $l:ident => $pointer:ty) => {
        forward_through_pointer!(@impl [$l] $pointer);
    };
    (@impl [$l:ident $(: ?$sized:ident)?] $pointer:ty) => {
        impl<$l: AsyncLockable $(+ ?$sized)?> AsyncLockable for $pointer {
            type AsyncGuard<'a> = $l::AsyncGuard<'a> where Self: 'a;

            fn lock_async(&self) -> impl Future<Output = Result<Self::AsyncGuard<'_>>> {
                self.deref().lock_async()
            }

            fn try_lock_async(&self) -> Result<Self::AsyncGuard<'_>> {
                self.deref().try_lock_async()
            }
        }

        impl<$l: AsyncTimedLockable $(+ ?$sized)?> AsyncTimedLockable for $pointer {
            fn lock_async_for(
                &self,
                timeout: Duration,
            ) -> impl Future<Output = Result<Self::AsyncGuard<'_>>> {
                self.deref().lock_async_for(timeout)
            }
        }

        impl<$l: AsyncSharedLockable $(+ ?$sized)?> AsyncSharedLockable for $pointer {
            type AsyncSharedGuard<'a> = $l::AsyncSharedGuard<'a> where Self: 'a;

            fn lock_shared_async(&self) -> impl Future<Output = Result<Self::AsyncSharedGuard<'_>>> {
                self.deref().lock_shared_async()
            }

            fn try_lock_shared_async(&self) -> Result<Self::AsyncSharedGuard<'_>> {
                self.deref().try_lock_shared_async()
            }
        }

        impl<$l: AsyncSharedTimedLockable $(+ ?$sized)?> AsyncSharedTimedLockable for $pointer {
            fn lock_shared_async_for(
                &self,
                timeout: Duration,
            ) -> impl Future<Output = Result<Self::AsyncSharedGuard<'_>>> {
                self.deref().lock_shared_async_for(timeout)
            }
        }
    };
}

forward_through_pointer!(L => Arc<L>);
forward_through_pointer!(L => Box<L>);
forward_through_pointer!(sized L => std::sync::LazyLock<L>);

#[cfg(feature = "tokio")]
mod tokio_impls {
    use super::*;
    use crate::timer::with_timeout;
    use crate::Error;
    use tokio::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

    const TOKIO_MUTEX: &str = "tokio::sync::Mutex";
    const TOKIO_RW_LOCK: &str = "tokio::sync::RwLock";

    /// `tokio::sync::Mutex` (fasteners feature `tokio`); its timed
    /// acquisition does not need tokio's time driver.
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    impl<T: ?Sized> AsyncLockable for Mutex<T> {
        type AsyncGuard<'a>
            = MutexGuard<'a, T>
        where
            Self: 'a;

        async fn lock_async(&self) -> Result<MutexGuard<'_, T>> {
            Ok(self.lock().await)
        }

        fn try_lock_async(&self) -> Result<MutexGuard<'_, T>> {
            self.try_lock()
                .map_err(|_| Error::would_block_in_process(TOKIO_MUTEX))
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    impl<T: ?Sized> AsyncTimedLockable for Mutex<T> {
        async fn lock_async_for(&self, timeout: Duration) -> Result<MutexGuard<'_, T>> {
            with_timeout(timeout, self.lock())
                .await
                .map_err(|_| Error::in_process_timed_out(TOKIO_MUTEX, timeout))
        }
    }

    /// `tokio::sync::RwLock` (fasteners feature `tokio`): its exclusive side
    /// is the write side.
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    impl<T: ?Sized> AsyncLockable for RwLock<T> {
        type AsyncGuard<'a>
            = RwLockWriteGuard<'a, T>
        where
            Self: 'a;

        async fn lock_async(&self) -> Result<RwLockWriteGuard<'_, T>> {
            Ok(self.write().await)
        }

        fn try_lock_async(&self) -> Result<RwLockWriteGuard<'_, T>> {
            self.try_write()
                .map_err(|_| Error::would_block_in_process(TOKIO_RW_LOCK))
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    impl<T: ?Sized> AsyncTimedLockable for RwLock<T> {
        async fn lock_async_for(&self, timeout: Duration) -> Result<RwLockWriteGuard<'_, T>> {
            with_timeout(timeout, self.write())
                .await
                .map_err(|_| Error::in_process_timed_out(TOKIO_RW_LOCK, timeout))
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    impl<T: ?Sized> AsyncSharedLockable for RwLock<T> {
        type AsyncSharedGuard<'a>
            = RwLockReadGuard<'a, T>
        where
            Self: 'a;

        async fn lock_shared_async(&self) -> Result<RwLockReadGuard<'_, T>> {
            Ok(self.read().await)
        }

        fn try_lock_shared_async(&self) -> Result<RwLockReadGuard<'_, T>> {
            self.try_read()
                .map_err(|_| Error::would_block_in_process(TOKIO_RW_LOCK))
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    impl<T: ?Sized> AsyncSharedTimedLockable for RwLock<T> {
        async fn lock_shared_async_for(&self, timeout: Duration) -> Result<RwLockReadGuard<'_, T>> {
            with_timeout(timeout, self.read())
                .await
                .map_err(|_| Error::in_process_timed_out(TOKIO_RW_LOCK, timeout))
        }
    }
}
