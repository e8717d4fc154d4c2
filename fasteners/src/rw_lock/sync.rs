//! The primitives the reader-writer lock is built from: std's, or loom's when
//! the crate is built with `--cfg loom`, so that the loom model test checks
//! the very code that ships.
//!
//! Loom has no time (its `wait_timeout` never times out), so under loom the
//! lock reads a virtual [`Clock`] that a model moves on by hand, and moving it
//! wakes the waiters as a real deadline would (spuriously for the untimed
//! ones, which a condition variable allows). That lets a model make a timed
//! waiter give up at any point of an interleaving.

#[cfg(loom)]
pub(super) use loom::{
    hint::spin_loop,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Condvar, Mutex, MutexGuard,
    },
};
#[cfg(not(loom))]
pub(super) use std::{
    hint::spin_loop,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Condvar, Mutex, MutexGuard,
    },
};

/// Declares a thread-local that is const-initialised with std and lazily
/// initialised under loom (whose `thread_local!` has no const form).
macro_rules! thread_local_table {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
        #[cfg(not(loom))]
        std::thread_local! {
            $(#[$attr])* static $name: $ty = const { $init };
        }
        #[cfg(loom)]
        loom::thread_local! {
            $(#[$attr])* static $name: $ty = $init;
        }
    };
}
pub(super) use thread_local_table;

/// The lock's clock: the real one.
#[cfg(not(loom))]
#[derive(Debug)]
pub(super) struct Clock;

#[cfg(not(loom))]
pub(super) use std::time::Instant;

#[cfg(not(loom))]
impl Clock {
    pub(super) const fn new() -> Self {
        Clock
    }

    #[inline]
    pub(super) fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The lock's clock under loom: virtual nanoseconds, moved by
/// [`Clock::advance`] only.
#[cfg(loom)]
#[derive(Debug)]
pub(super) struct Clock(loom::sync::atomic::AtomicU64);

/// A reading of the virtual [`Clock`].
#[cfg(loom)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Instant(u64);

#[cfg(loom)]
impl Instant {
    pub(super) fn checked_add(self, by: std::time::Duration) -> Option<Instant> {
        u64::try_from(by.as_nanos())
            .ok()
            .and_then(|by| self.0.checked_add(by))
            .map(Instant)
    }
}

#[cfg(loom)]
impl std::ops::Sub for Instant {
    type Output = std::time::Duration;

    fn sub(self, earlier: Instant) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0 - earlier.0)
    }
}

#[cfg(loom)]
impl Clock {
    pub(super) fn new() -> Self {
        Clock(loom::sync::atomic::AtomicU64::new(0))
    }

    pub(super) fn now(&self) -> Instant {
        Instant(self.0.load(Ordering::SeqCst))
    }

    pub(super) fn advance(&self, by: std::time::Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}
