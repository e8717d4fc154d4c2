//! Ready-made notices for [`InterProcessLock::on_wait`](crate::InterProcessLock::on_wait)
//! and [`InterProcessReaderWriterLock::on_wait`](crate::InterProcessReaderWriterLock::on_wait):
//! what to tell the user when an acquisition has to wait for a lock file.
//!
//! A notice is any `Fn(&Path) + Send + Sync + 'static`; it runs once per
//! acquisition that finds the lock taken, with the lock's path, before the
//! acquisition waits (blocking, timed and async acquisitions alike; a `try_*`
//! acquisition never waits, so it never runs the notice).
//!
//! # Examples
//!
//! ```
//! use fasteners::InterProcessLock;
//!
//! let path = std::env::temp_dir().join(format!("notice-doc-{}.lock", std::process::id()));
//! // Prints `Blocking waiting for file lock on <path>` if another holder makes it wait.
//! let lock = InterProcessLock::new(&path).on_wait(fasteners::notice::cargo_style);
//! drop(lock.lock()?);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;
use std::sync::Arc;

/// A notice as a lock object keeps it.
pub(crate) type Notice = Arc<dyn Fn(&Path) + Send + Sync>;

/// Prints `Blocking waiting for file lock on <path>` to standard error, as
/// cargo does when another cargo holds its lock.
///
/// The path is the lock's [`path`](crate::InterProcessLock::path), shown with
/// [`Path::display`].
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// // Prints: Blocking waiting for file lock on /tmp/build.lock
/// fasteners::notice::cargo_style(Path::new("/tmp/build.lock"));
///
/// let lock = fasteners::InterProcessReaderWriterLock::new("/tmp/build.lock")
///     .on_wait(fasteners::notice::cargo_style);
/// # drop(lock);
/// ```
pub fn cargo_style(path: &Path) {
    eprintln!("Blocking waiting for file lock on {}", path.display());
}
