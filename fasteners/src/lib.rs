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
mod lock_traits;
mod rw_lock;

pub use error::{Error, ErrorKind, Result};
pub use lock_traits::{try_lock, Lockable, SharedLockable, SharedTimedLockable, TimedLockable};
pub use rw_lock::{Owner, Preference, ReadGuard, ReaderWriterLock, WriteGuard};
