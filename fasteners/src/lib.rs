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
//! For a lock file held until the end of a scope, with no lock object to
//! name, [`lock_file`] is a one-liner:
//!
//! ```
//! # let path = std::env::temp_dir().join(format!("crate-doc-oneliner-{}.lock", std::process::id()));
//! let _guard = fasteners::lock_file(&path)?; // held until the end of the scope
//! # drop(_guard);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
//!
//! # Beyond acquire and release
//!
//! - **Owned guards**, in tokio's naming: `lock_owned`, `read_owned`,
//!   `write_owned` and their `try_*`, timed and async forms take
//!   `self: Arc<Self>` and give `'static` guards that can be stored in a
//!   struct, returned, or (the async ones, which are `Send`) moved into a
//!   spawned task: [`InterProcessLock::lock_owned`],
//!   [`InterProcessReaderWriterLock::read_owned`], [`InterProcessLock::lock_owned_async`].
//! - **Named locks**: [`InterProcessLock::named`] and
//!   [`InterProcessReaderWriterLock::named`] lock a file of that name in the
//!   user's directory of named locks, [`named_lock_dir`].
//! - **Is it held, and by whom?** [`InterProcessLock::is_held`] (by the
//!   calling thread), [`InterProcessLock::held_elsewhere`] (by another
//!   process, with its pid where the kernel reports one), and
//!   [`Error::holder_pid`] on contention errors.
//! - **Saying what you wait for**: [`InterProcessLock::on_wait`] runs a
//!   callback when an acquisition has to wait; [`notice::cargo_style`]
//!   prints cargo's `Blocking waiting for file lock on <path>`.
//!
//! # Feature flags
//!
//! None is on by default.
//!
//! - **`tokio`**: the async lock traits ([`AsyncLockable`] & co.) for
//!   `tokio::sync::Mutex` and `tokio::sync::RwLock`, so that the attributes
//!   on `async fn` can use them. The crate's own async methods need no feature
//!   and no particular executor.
//! - **`tracing`**: events through the [`tracing`](https://docs.rs/tracing)
//!   crate (target `fasteners`) when an acquisition starts waiting, when it
//!   gets the lock after waiting or times out, and when a guard is released
//!   after holding its lock for a second or more; the events and their fields
//!   are listed in the `fasteners::trace` module (there with the feature). Without
//!   the feature, none of it is compiled and the acquisitions cost what they
//!   cost before it existed.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod arbiter;
mod async_lock;
mod async_traits;
mod error;
mod holder;
mod lock_file;
mod lock_traits;
mod named;
pub mod notice;
mod owned;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
mod process_lock;
mod process_rw_lock;
mod rw_lock;
mod sys;
mod timer;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod trace;

pub use async_lock::{
    AsyncInterProcessLockGuard, AsyncInterProcessReadGuard, AsyncInterProcessWriteGuard,
    OwnedAsyncInterProcessLockGuard, OwnedAsyncInterProcessReadGuard,
    OwnedAsyncInterProcessWriteGuard,
};
pub use async_traits::{
    AsyncLockable, AsyncSharedLockable, AsyncSharedTimedLockable, AsyncTimedLockable,
};
pub use error::{Error, ErrorKind, Result};
pub use holder::{LockHolder, LockMode};
pub use lock_traits::{try_lock, Lockable, SharedLockable, SharedTimedLockable, TimedLockable};
pub use named::named_lock_dir;
pub use process_lock::{
    lock_file, InterProcessLock, InterProcessLockGuard, OwnedInterProcessLockGuard,
};
pub use process_rw_lock::{
    InterProcessReadGuard, InterProcessReaderWriterLock, InterProcessWriteGuard,
    OwnedInterProcessReadGuard, OwnedInterProcessWriteGuard,
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

/// The README's examples, compiled as doc tests (in the source repository;
/// `cfg(doctest)` keeps the file out of every other build).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
