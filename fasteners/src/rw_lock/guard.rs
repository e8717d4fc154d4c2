//! The guards of a [`ReaderWriterLock`]: one entry of the calling thread each.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;

use super::ReaderWriterLock;
#[cfg(doc)]
use crate::ErrorKind;
use crate::Result;

/// One read entry of the calling thread on a [`ReaderWriterLock`], given
/// back when dropped.
///
/// It cannot be sent to another thread: entries belong to the thread that
/// took them.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<fasteners::ReadGuard<'static>>();
/// ```
///
/// # Examples
///
/// ```
/// use fasteners::ReaderWriterLock;
///
/// let lock = ReaderWriterLock::new();
/// let guard = lock.read().unwrap();
/// assert!(lock.is_reader());
/// drop(guard);
/// assert!(!lock.is_reader());
/// ```
#[must_use = "the read lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct ReadGuard<'a> {
    lock: &'a ReaderWriterLock,
    /// Not `Send`: the entry is counted in this thread's table.
    _thread_bound: PhantomData<*const ()>,
}

impl<'a> ReadGuard<'a> {
    #[inline]
    pub(super) fn new(lock: &'a ReaderWriterLock) -> Self {
        ReadGuard {
            lock,
            _thread_bound: PhantomData,
        }
    }

    /// Gives the entry back now, reporting an error instead of ignoring it
    /// as dropping does.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// lock.read().unwrap().release().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotHeld`] if the entry was already given back through
    /// [`ReaderWriterLock::release_read_lock`].
    pub fn release(self) -> Result<()> {
        let guard = ManuallyDrop::new(self);
        guard.lock.release_read_lock()
    }
}

impl Drop for ReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Fails only if the entry was already released by hand, in which
        // case there is nothing left to do (Python's `read_lock()` ignores
        // it too).
        self.lock.release_read_entry();
    }
}

/// One write entry of the calling thread on a [`ReaderWriterLock`], given
/// back when dropped.
///
/// It cannot be sent to another thread: entries belong to the thread that
/// took them.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<fasteners::WriteGuard<'static>>();
/// ```
///
/// # Examples
///
/// ```
/// use fasteners::ReaderWriterLock;
///
/// let lock = ReaderWriterLock::new();
/// let guard = lock.write().unwrap();
/// assert!(lock.try_read().is_ok()); // the writer itself may read
/// drop(guard);
/// ```
#[must_use = "the write lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct WriteGuard<'a> {
    lock: &'a ReaderWriterLock,
    /// Not `Send`: the entry is counted in this thread's table.
    _thread_bound: PhantomData<*const ()>,
}

impl<'a> WriteGuard<'a> {
    #[inline]
    pub(super) fn new(lock: &'a ReaderWriterLock) -> Self {
        WriteGuard {
            lock,
            _thread_bound: PhantomData,
        }
    }

    /// Gives the entry back now, reporting an error instead of ignoring it
    /// as dropping does.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// lock.write().unwrap().release().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotHeld`] if the entry was already given back through
    /// [`ReaderWriterLock::release_write_lock`].
    pub fn release(self) -> Result<()> {
        let guard = ManuallyDrop::new(self);
        guard.lock.release_write_lock()
    }
}

impl Drop for WriteGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // As for `ReadGuard`: fails only after a release by hand.
        self.lock.release_write_entry();
    }
}
