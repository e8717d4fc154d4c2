//! Depends on `fasteners` under the name `fast` and re-exports its
//! attributes and its runtime, as a framework crate would. The attributes are
//! used here through the renamed dependency, and by this crate's tests (which
//! depend on this crate only) through the re-export: both with `crate = path`.

use std::sync::{Mutex, RwLock};

pub use fast as runtime;
pub use fast::{
    interprocess_locked, interprocess_read_locked, interprocess_write_locked, locked, read_locked,
    write_locked,
};

/// A lock users of this crate name by `::fasteners_reexport::SHARED`.
pub static SHARED: Mutex<()> = Mutex::new(());

/// A reader-writer lock named the same way.
pub static SHARED_RW: RwLock<()> = RwLock::new(());

/// Whether another thread finds [`SHARED`] taken.
#[must_use]
pub fn shared_taken_elsewhere() -> bool {
    std::thread::spawn(|| SHARED.try_lock().is_err())
        .join()
        .unwrap_or(false)
}

/// Runs under [`SHARED`], through the renamed dependency.
#[fast::locked(lock = SHARED, crate = fast)]
#[must_use]
pub fn under_shared() -> bool {
    shared_taken_elsewhere()
}

/// Runs under a file lock, through the renamed dependency.
///
/// # Errors
///
/// When the file lock is held elsewhere.
#[fast::interprocess_locked(
    std::env::temp_dir().join(format!("fasteners-reexport-{}.lock", std::process::id())),
    crate = fast,
    blocking = false,
)]
pub fn under_file() -> fast::Result<bool> {
    let path = std::env::temp_dir().join(format!("fasteners-reexport-{}.lock", std::process::id()));
    let elsewhere =
        std::thread::spawn(move || fast::InterProcessLock::new(&path).try_lock().is_err());
    Ok(elsewhere.join().unwrap_or(false))
}
