//! The arbiter's mutex and condition variable: std's, or loom's when the
//! crate is built with `--cfg loom`, so that the model checks
//! (`models.rs`) run the very state machine that ships. Backends that
//! wait on their own condition variable with the state's guard take it from
//! here too.

#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
