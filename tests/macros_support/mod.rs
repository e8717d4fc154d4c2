//! Locks and checks shared by the `macros_*` tests.
#![allow(dead_code)] // each test file uses a different part

use std::cell::RefCell;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fasteners::{Error, Lockable, Result, SharedLockable, SharedTimedLockable, TimedLockable};

thread_local! {
    /// What the toy locks of this thread did, in order.
    static EVENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Records an event in this thread's log.
pub fn record(event: impl Into<String>) {
    EVENTS.with(|events| events.borrow_mut().push(event.into()));
}

/// Takes this thread's log.
pub fn take_events() -> Vec<String> {
    EVENTS.with(RefCell::take)
}

/// A user-defined reader-writer lock with timeouts, to show that the
/// attributes work with any implementation of the traits. Not re-entrant:
/// taking it again from the holding thread times out, which the tests use.
pub struct ToyLock {
    name: &'static str,
    /// Readers holding the lock, or -1 for a writer.
    state: Mutex<i64>,
    changed: Condvar,
}

/// Releases one side of a [`ToyLock`] when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ToyGuard<'a> {
    lock: &'a ToyLock,
    write: bool,
}

impl Drop for ToyGuard<'_> {
    fn drop(&mut self) {
        let mut state = self
            .lock
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *state = if self.write { 0 } else { *state - 1 };
        drop(state);
        self.lock.changed.notify_all();
        record(format!("unlock {}", self.lock.name));
    }
}

impl ToyLock {
    pub const fn new(name: &'static str) -> Self {
        ToyLock {
            name,
            state: Mutex::new(0),
            changed: Condvar::new(),
        }
    }

    /// Waits until `free` holds for the state (at most `timeout`), then takes the lock.
    fn acquire(&self, write: bool, timeout: Option<Duration>) -> Result<ToyGuard<'_>> {
        let free = |state: &mut i64| if write { *state == 0 } else { *state >= 0 };
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !free(&mut state) {
            match deadline {
                None => {
                    state = self
                        .changed
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Some(deadline) => {
                    let left: Duration = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(match timeout {
                            Some(Duration::ZERO) => Error::would_block_in_process("toy lock"),
                            _ => {
                                Error::timed_out_in_process("toy lock", timeout.unwrap_or_default())
                            }
                        });
                    }
                    state = self
                        .changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
        *state = if write { -1 } else { *state + 1 };
        record(format!("lock {}", self.name));
        Ok(ToyGuard { lock: self, write })
    }

    /// Whether anyone holds either side.
    pub fn is_locked(&self) -> bool {
        *self.state.lock().unwrap() != 0
    }

    /// Whether a reader holds it.
    pub fn is_read_locked(&self) -> bool {
        *self.state.lock().unwrap() > 0
    }

    /// Whether a writer holds it.
    pub fn is_write_locked(&self) -> bool {
        *self.state.lock().unwrap() < 0
    }
}

impl Lockable for ToyLock {
    type Guard<'a> = ToyGuard<'a>;

    fn lock(&self) -> Result<ToyGuard<'_>> {
        self.acquire(true, None)
    }

    fn try_lock(&self) -> Result<ToyGuard<'_>> {
        self.acquire(true, Some(Duration::ZERO))
    }
}

impl TimedLockable for ToyLock {
    fn try_lock_for(&self, timeout: Duration) -> Result<ToyGuard<'_>> {
        self.acquire(true, Some(timeout))
    }
}

impl SharedLockable for ToyLock {
    type SharedGuard<'a> = ToyGuard<'a>;

    fn lock_shared(&self) -> Result<ToyGuard<'_>> {
        self.acquire(false, None)
    }

    fn try_lock_shared(&self) -> Result<ToyGuard<'_>> {
        self.acquire(false, Some(Duration::ZERO))
    }
}

impl SharedTimedLockable for ToyLock {
    fn try_lock_shared_for(&self, timeout: Duration) -> Result<ToyGuard<'_>> {
        self.acquire(false, Some(timeout))
    }
}

/// Whether `lock`'s exclusive side is taken (by anyone, this thread included).
pub fn is_locked<L: Lockable + ?Sized>(lock: &L) -> bool {
    fasteners::try_lock(lock).unwrap().is_none()
}

/// Whether a reader-writer lock is held for reading: writers are kept out,
/// other readers are not.
pub fn is_read_locked<L: SharedLockable + ?Sized>(lock: &L) -> bool {
    is_locked(lock) && lock.try_lock_shared().is_ok()
}

/// Whether a reader-writer lock is held for writing: readers are kept out too.
pub fn is_write_locked<L: SharedLockable + ?Sized>(lock: &L) -> bool {
    is_locked(lock) && lock.try_lock_shared().is_err()
}

impl ToyLock {
    /// Takes the read side, for tests that hold it outside an attribute.
    pub fn lock_shared_for_test(&self) -> ToyGuard<'_> {
        self.lock_shared().unwrap()
    }
}
