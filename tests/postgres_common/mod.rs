//! Shared by the PostgreSQL tests: the server's URL (or the skip notice),
//! and a runtime for the async calls.
#![allow(dead_code)] // each test file uses a different part

use std::io::Write;

/// The environment variable `name` set by `scripts/with-postgres.sh`, or
/// `None` (after a notice) when it is missing; under `CI=true` a missing
/// one fails the test instead.
pub fn from_script(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{name} is not set: under CI the PostgreSQL tests must run \
                 (through scripts/with-postgres.sh)"
            );
            // Straight to stderr, past the test harness's capture, so that
            // the skip shows in a normal run.
            let _ = writeln!(
                std::io::stderr(),
                "NOTICE: skipping a PostgreSQL test: {name} is not set \
                 (run the tests through scripts/with-postgres.sh)"
            );
            None
        }
    }
}

/// The server's URL, or returns from the test (see [`from_script`]).
#[macro_export]
macro_rules! server {
    () => {
        match postgres_common::from_script("FASTENERS_PG_URL") {
            Some(url) => url,
            None => return,
        }
    };
}

/// A current-thread tokio runtime with I/O and time.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
