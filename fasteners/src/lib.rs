//! Cross-platform locks for threads and processes, and attribute macros that
//! run a function body under a lock: a Rust port of Python's
//! [fasteners](https://pypi.org/project/fasteners/) 0.20.
//!
//! Every lock here excludes threads *and* processes at once, offers blocking,
//! non-blocking and timed acquisition, hands out RAII guards that release on
//! drop (also on `?` and on panic), and reports failures through one [`Error`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use fasteners::{InterProcessLock, ReaderWriterLock};
//!
//! let path = std::env::temp_dir().join(format!("crate-doc-{}.lock", std::process::id()));
//!
//! // Across processes (and threads): a lock file.
//! let lock = InterProcessLock::new(&path);
//! let guard = lock.lock()?;
//! // Another thread (or process) with its own object for the path must wait.
//! let other = std::thread::scope(|s| {
//!     s.spawn(|| InterProcessLock::new(&path).try_lock().map(drop)).join().unwrap()
//! });
//! assert_eq!(other.unwrap_err().kind(), fasteners::ErrorKind::WouldBlock);
//! drop(guard);
//!
//! // Within a process: a re-entrant reader-writer lock, writers first.
//! let rw = ReaderWriterLock::new();
//! let _r1 = rw.read()?;
//! let _r2 = rw.read()?; // re-entrant
//! assert!(rw.try_write_for(Duration::from_millis(10)).is_err()); // no upgrade
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), fasteners::Error>(())
//! ```
//!
//! | lock | excludes | re-acquire by the holding thread |
//! |---|---|---|
//! | [`InterProcessLock`] | threads and processes | `Err(`[`ErrorKind::WouldDeadlock`]`)` |
//! | [`InterProcessReaderWriterLock`] | threads and processes; readers share | `Err(WouldDeadlock)` |
//! | [`ReaderWriterLock`] | threads of one process; readers share | re-entrant (counted); read-to-write upgrade is `Err(WouldDeadlock)` |
//!
//! The attributes [`locked`], [`read_locked`], [`write_locked`],
//! [`interprocess_locked`], [`interprocess_read_locked`] and
//! [`interprocess_write_locked`] run a function body under one of these locks
//! (or `std::sync::Mutex` / `RwLock`, or a lock of your own through
//! [`Lockable`]). The README's table maps each item of the Python library to
//! its counterpart here.
//!
//! # Async
//!
//! The process locks also have async acquisition
//! ([`InterProcessLock::lock_async`], [`InterProcessReaderWriterLock::read_async`] /
//! [`write_async`](InterProcessReaderWriterLock::write_async), with `try_*` and
//! timed variants) that never waits in the executor thread and works on any
//! executor: the wait happens in a background thread per lock file, which
//! wakes the task when the lock is handed over (a poll itself makes only
//! quick system calls: opening the file on first use, a non-blocking lock
//! attempt, a `stat` after a grant). The futures are cancel-safe (a dropped
//! future leaves no lock held, no thread and no kernel request behind)
//! and the guards are `Send`. Holders are acquisitions, not threads: a task
//! that asks again for a lock it already holds waits forever (as with
//! `tokio::sync::Mutex`) rather than getting
//! [`ErrorKind::WouldDeadlock`]. The traits [`AsyncLockable`] & co. let generic
//! code (and the attribute macros on `async fn`) use these locks and, with the
//! `tokio` feature, tokio's `Mutex` and `RwLock`.
//!
//! # Waits and signals
//!
//! A blocking or timed acquire of a process lock waits in the kernel in the
//! calling thread. The kernel cannot be given a timeout, so on Linux the
//! crate's one long-lived thread, the process timer, ends a timed wait at its
//! deadline (and an abandoned async wait at once) by sending the waiting
//! thread a real-time signal. The signal is chosen on the first wait that
//! needs it: the highest of `SIGRTMIN..=SIGRTMAX` whose disposition is still
//! the default; its handler is empty and installed without `SA_RESTART`. A
//! signal the application handles is never taken; if none is free, the
//! application blocks it in the waiting thread, or replaces its handler, the
//! wait polls instead. Opt out with [`disable_wait_signal`] or
//! `FASTENERS_WAIT_SIGNAL=none`; [`wait_signal`] tells which signal is in use.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod async_lock;
mod async_traits;
mod error;
mod lock_file;
mod lock_traits;
#[cfg(feature = "postgres")]
pub mod postgres;
mod process_lock;
mod process_rw_lock;
mod rw_lock;
mod sys;
mod timer;

pub use async_lock::{
    AsyncInterProcessLockGuard, AsyncInterProcessReadGuard, AsyncInterProcessWriteGuard,
};
pub use async_traits::{
    AsyncLockable, AsyncSharedLockable, AsyncSharedTimedLockable, AsyncTimedLockable,
};
pub use error::{Error, ErrorKind, Result};
pub use lock_traits::{try_lock, Lockable, SharedLockable, SharedTimedLockable, TimedLockable};
pub use process_lock::{InterProcessLock, InterProcessLockGuard};
pub use process_rw_lock::{
    InterProcessReadGuard, InterProcessReaderWriterLock, InterProcessWriteGuard,
};
pub use rw_lock::{Owner, Preference, ReadGuard, ReaderWriterLock, WriteGuard};
pub use sys::signal::{disable_wait_signal, wait_signal};
pub use sys::Mechanism;

mod macro_support;

#[doc(hidden)]
pub use macro_support::__private;
pub use macro_support::{
    interprocess_locked, interprocess_read_locked, interprocess_write_locked, locked, read_locked,
    write_locked,
};
