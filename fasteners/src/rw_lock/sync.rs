//! The primitives the reader-writer lock is built from: std's, or loom's when
//! the crate is built with `--cfg loom`, so that the loom model test checks
//! the very code that ships.

#[cfg(loom)]
pub(super) use loom::sync::{
    atomic::{AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(super) use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
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
