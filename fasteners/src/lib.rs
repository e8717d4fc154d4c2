//! Cross-platform locks for threads and processes, and attribute macros that
//! run a function body under a lock: a Rust port of Python's
//! [fasteners](https://pypi.org/project/fasteners/) 0.20.
//!
//! Every lock here excludes threads *and* processes at once, offers blocking,
//! non-blocking and timed acquisition, hands out RAII guards that release on
//! drop (also on `?` and on panic), and reports failures through one [`Error`].
//!
//! The README's table maps each item of the Python library to its counterpart here.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod error;
mod lock_file;
mod lock_traits;
mod process_lock;
mod process_rw_lock;
mod rw_lock;
mod sys;

pub use error::{Error, ErrorKind, Result};
pub use lock_traits::{try_lock, Lockable, SharedLockable, SharedTimedLockable, TimedLockable};
pub use process_lock::{InterProcessLock, InterProcessLockGuard};
pub use process_rw_lock::{
    InterProcessReadGuard, InterProcessReaderWriterLock, InterProcessWriteGuard,
};
pub use rw_lock::{Owner, Preference, ReadGuard, ReaderWriterLock, WriteGuard};
pub use sys::Mechanism;

mod macro_support;

#[doc(hidden)]
pub use macro_support::__private;
pub use macro_support::{
    interprocess_locked, interprocess_read_locked, interprocess_write_locked, locked, read_locked,
    write_locked,
};
