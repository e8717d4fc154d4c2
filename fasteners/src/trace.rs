//! The events of the `tracing` feature about the process locks.
//!
//! ```
//! // With a subscriber installed (for example `tracing_subscriber::fmt::init()`),
//! // a wait shows up as `waiting for lock`, then `lock acquired after waiting`.
//! let path = std::env::temp_dir().join(format!("trace-doc-{}.lock", std::process::id()));
//! drop(fasteners::InterProcessLock::new(&path).lock()?);
//! assert_eq!(fasteners::trace::HELD_LONG, std::time::Duration::from_secs(1));
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every event has the target `fasteners` and the fields `path` (the lock's
//! path, as given), `mode` (`"shared"` or `"exclusive"`) and `mechanism`
//! (`"ofd"` or `"flock"`):
//!
//! | event (message) | level | when | more fields |
//! |---|---|---|---|
//! | `waiting for lock` | DEBUG | an acquisition (blocking, timed, Python-style or async) finds the lock taken and starts waiting | |
//! | `lock acquired after waiting` | DEBUG | such an acquisition gets the lock | `waited_us` |
//! | `lock wait timed out` | DEBUG | such an acquisition gives up at its timeout | `waited_us` |
//! | `lock held long` | INFO | a guard is released after holding the lock [`HELD_LONG`] or more | `held_us` |
//!
//! Times are microseconds (`u64`). An acquisition that gets the lock at once
//! emits nothing; a `try_*` acquisition never waits, so it emits nothing
//! either. Without the feature none of this is compiled.

use std::path::Path;
use std::time::Duration;

use crate::sys::{Mechanism, Mode};

/// How long a guard must have held its lock for its release to emit
/// `lock held long`: one second.
///
/// # Examples
///
/// ```
/// assert_eq!(fasteners::trace::HELD_LONG.as_secs(), 1);
/// ```
pub const HELD_LONG: Duration = Duration::from_secs(1);

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Shared => "shared",
        Mode::Exclusive => "exclusive",
    }
}

fn mechanism_name(mechanism: Mechanism) -> &'static str {
    match mechanism {
        #[cfg(target_os = "linux")]
        Mechanism::Ofd => "ofd",
        Mechanism::Flock => "flock",
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

pub(crate) fn waiting(path: &Path, mode: Mode, mechanism: Mechanism) {
    tracing::debug!(
        target: "fasteners",
        path = %path.display(),
        mode = mode_name(mode),
        mechanism = mechanism_name(mechanism),
        "waiting for lock"
    );
}

/// The end of a wait that `waiting` announced: granted, timed out, or
/// (another error) nothing to say beyond the error itself.
pub(crate) fn waited(
    path: &Path,
    mode: Mode,
    mechanism: Mechanism,
    waited: Duration,
    outcome: Result<(), crate::ErrorKind>,
) {
    match outcome {
        Ok(()) => tracing::debug!(
            target: "fasteners",
            path = %path.display(),
            mode = mode_name(mode),
            mechanism = mechanism_name(mechanism),
            waited_us = micros(waited),
            "lock acquired after waiting"
        ),
        Err(crate::ErrorKind::TimedOut) => tracing::debug!(
            target: "fasteners",
            path = %path.display(),
            mode = mode_name(mode),
            mechanism = mechanism_name(mechanism),
            waited_us = micros(waited),
            "lock wait timed out"
        ),
        Err(_) => {}
    }
}

pub(crate) fn released(path: &Path, mode: Mode, mechanism: Mechanism, held: Duration) {
    if held >= HELD_LONG {
        tracing::info!(
            target: "fasteners",
            path = %path.display(),
            mode = mode_name(mode),
            mechanism = mechanism_name(mechanism),
            held_us = micros(held),
            "lock held long"
        );
    }
}
