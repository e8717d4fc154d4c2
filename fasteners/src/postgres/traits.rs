//! The crate's lock traits for the PostgreSQL locks, so that the attribute
//! macros and generic code take them like any other lock.

use std::future::Future;
use std::time::Duration;

use super::{
    AsyncPgLockGuard, AsyncPgReadGuard, AsyncPgWriteGuard, PgLock, PgLockGuard, PgReadGuard,
    PgReaderWriterLock, PgWriteGuard,
};
use crate::{
    AsyncLockable, AsyncSharedLockable, AsyncSharedTimedLockable, AsyncTimedLockable, Lockable,
    Result, SharedLockable, SharedTimedLockable, TimedLockable,
};

impl Lockable for PgLock {
    type Guard<'a> = PgLockGuard<'a>;

    fn lock(&self) -> Result<PgLockGuard<'_>> {
        PgLock::lock(self)
    }

    fn try_lock(&self) -> Result<PgLockGuard<'_>> {
        PgLock::try_lock(self)
    }
}

impl TimedLockable for PgLock {
    fn try_lock_for(&self, timeout: Duration) -> Result<PgLockGuard<'_>> {
        PgLock::try_lock_for(self, timeout)
    }
}

impl AsyncLockable for PgLock {
    type AsyncGuard<'a> = AsyncPgLockGuard<'a>;

    fn lock_async(&self) -> impl Future<Output = Result<AsyncPgLockGuard<'_>>> {
        PgLock::lock_async(self)
    }

    fn try_lock_async(&self) -> Result<AsyncPgLockGuard<'_>> {
        PgLock::try_lock_async(self)
    }
}

impl AsyncTimedLockable for PgLock {
    fn lock_async_for(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<AsyncPgLockGuard<'_>>> {
        PgLock::lock_async_for(self, timeout)
    }
}

impl Lockable for PgReaderWriterLock {
    type Guard<'a> = PgWriteGuard<'a>;

    fn lock(&self) -> Result<PgWriteGuard<'_>> {
        self.write()
    }

    fn try_lock(&self) -> Result<PgWriteGuard<'_>> {
        self.try_write()
    }
}

impl TimedLockable for PgReaderWriterLock {
    fn try_lock_for(&self, timeout: Duration) -> Result<PgWriteGuard<'_>> {
        self.try_write_for(timeout)
    }
}

impl SharedLockable for PgReaderWriterLock {
    type SharedGuard<'a> = PgReadGuard<'a>;

    fn lock_shared(&self) -> Result<PgReadGuard<'_>> {
        self.read()
    }

    fn try_lock_shared(&self) -> Result<PgReadGuard<'_>> {
        self.try_read()
    }
}

impl SharedTimedLockable for PgReaderWriterLock {
    fn try_lock_shared_for(&self, timeout: Duration) -> Result<PgReadGuard<'_>> {
        self.try_read_for(timeout)
    }
}

impl AsyncLockable for PgReaderWriterLock {
    type AsyncGuard<'a> = AsyncPgWriteGuard<'a>;

    fn lock_async(&self) -> impl Future<Output = Result<AsyncPgWriteGuard<'_>>> {
        self.write_async()
    }

    fn try_lock_async(&self) -> Result<AsyncPgWriteGuard<'_>> {
        self.try_write_async()
    }
}

impl AsyncTimedLockable for PgReaderWriterLock {
    fn lock_async_for(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<AsyncPgWriteGuard<'_>>> {
        self.write_async_for(timeout)
    }
}

impl AsyncSharedLockable for PgReaderWriterLock {
    type AsyncSharedGuard<'a> = AsyncPgReadGuard<'a>;

    fn lock_shared_async(&self) -> impl Future<Output = Result<AsyncPgReadGuard<'_>>> {
        self.read_async()
    }

    fn try_lock_shared_async(&self) -> Result<AsyncPgReadGuard<'_>> {
        self.try_read_async()
    }
}

impl AsyncSharedTimedLockable for PgReaderWriterLock {
    fn lock_shared_async_for(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<AsyncPgReadGuard<'_>>> {
        self.read_async_for(timeout)
    }
}
