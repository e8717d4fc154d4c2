//! A path whose file stays deleted is an error, not a spin; a file renamed
//! away right after it was created and locked is still caught.
#![cfg(target_os = "linux")]

mod process_common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock};
use process_common::{mechanisms, try_elsewhere, watchdog, TempDir};

#[test]
fn a_path_to_a_deleted_file_is_an_error_at_once() {
    let _watchdog = watchdog(
        "a_path_to_a_deleted_file_is_an_error_at_once",
        Duration::from_secs(60),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("deleted");
        let path = dir.join("gone.lock");
        let file = std::fs::File::create(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        // A path that resolves to the deleted file, again and again.
        let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let lock = InterProcessLock::with_mechanism(&proc_path, mechanism);
        let start = Instant::now();
        let errors = [
            lock.try_lock().map(drop).unwrap_err(),
            lock.try_lock_for(Duration::from_secs(30))
                .map(drop)
                .unwrap_err(),
            lock.lock().map(drop).unwrap_err(),
            InterProcessReaderWriterLock::with_mechanism(&proc_path, mechanism)
                .read()
                .map(drop)
                .unwrap_err(),
        ];
        for err in errors {
            assert_eq!(err.kind(), ErrorKind::Io, "{err}");
            assert!(err.to_string().contains("deleted"), "{err}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}

#[test]
fn a_rename_right_after_creation_and_lock_is_caught() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("fresh-rename");
        for round in 0..20 {
            let path = dir.join(&format!("a-{round}.lock"));
            let lock = InterProcessLock::with_mechanism(&path, mechanism);
            // Created and locked now: its change time is this very tick.
            drop(lock.lock().unwrap());
            // Renamed away within the same tick: the path is free again.
            std::fs::rename(&path, dir.join(&format!("moved-{round}.lock"))).unwrap();
            let guard = lock.lock().unwrap();
            // The lock is on the file now at the path, not on the moved one.
            assert_eq!(
                try_elsewhere(mechanism, &path, "ex"),
                "busy",
                "round {round}"
            );
            drop(guard);
        }
    }
}
