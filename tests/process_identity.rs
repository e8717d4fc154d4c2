//! The lock file deleted or replaced by a third party between and during
//! holds: a lock that was granted on an orphaned file is given back and taken
//! again on the file now at the path, so exclusion holds among everyone who
//! locks after the change, waiters queued before it included.
#![cfg(unix)]

mod process_common;

use std::sync::mpsc;
use std::time::Duration;

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock};
use process_common::{mechanisms, try_elsewhere, wait_for_kernel_waiters, Helper, TempDir, STEP};

/// Long enough for a wrongly granted lock to show up; only ever waited in
/// full when the test passes.
const QUIET: Duration = Duration::from_millis(300);

#[test]
fn deleted_between_holds_a_stale_description_is_not_trusted() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("identity-between");
        let path = dir.join("a.lock");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        // This object opens the first file and keeps it open.
        drop(lock.try_lock().unwrap());
        std::fs::remove_file(&path).unwrap();
        // Another process creates a new file at the path and holds it.
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        // The old file is free, but it is not the lock file any more.
        assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
        let err = lock.try_lock_for(Duration::from_millis(20)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        holder.send("release");
        holder.expect("released");
        assert!(holder.finish().success());

        // Re-created by a third party while nobody holds it.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"recreated").unwrap();
        // The background waiter of the timed-out attempt may still be
        // finishing; the lock is free for this process once it has.
        let guard = lock.try_lock_for(STEP).unwrap();
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "busy");
        drop(guard);
        assert_eq!(std::fs::read(&path).unwrap(), b"recreated");
    }
}

#[test]
fn replaced_while_a_process_waits_in_the_kernel() {
    for mechanism in mechanisms() {
        for kind in ["ex", "write"] {
            let dir = TempDir::new("identity-waiter");
            let path = dir.join("a.lock");
            let mut first = Helper::start("hold", mechanism, &path, &[kind]);
            first.expect("locked");
            // The waiter opens the first file, then blocks on it in the kernel.
            let mut waiter = Helper::start("try-then-hold", mechanism, &path, &[kind]);
            waiter.expect("busy");
            // A third party replaces the file; a newcomer locks the new one.
            std::fs::remove_file(&path).unwrap();
            std::fs::write(&path, b"").unwrap();
            let mut newcomer = Helper::start("hold", mechanism, &path, &[kind]);
            newcomer.expect("locked");
            // The first holder leaves: the waiter gets the old file, notices,
            // and must queue behind the newcomer instead of entering.
            first.send("release");
            first.expect("released");
            assert!(first.finish().success());
            assert_eq!(
                waiter.line_within(QUIET),
                None,
                "entered beside the newcomer"
            );
            newcomer.send("release");
            newcomer.expect("released");
            assert!(newcomer.finish().success());
            waiter.expect("locked");
            waiter.send("release");
            waiter.expect("released");
            assert!(waiter.finish().success());
        }
    }
}

#[test]
fn deleted_while_this_process_waits_with_a_timeout() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("identity-timed");
        let path = dir.join("a.lock");
        let lock = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        let mut first = Helper::start("hold", mechanism, &path, &["write"]);
        first.expect("locked");
        assert_eq!(lock.try_write().unwrap_err().kind(), ErrorKind::WouldBlock);
        let (done, finished) = mpsc::channel();
        std::thread::scope(|s| {
            let lock = &lock;
            s.spawn(move || {
                // The background waiter blocks on the first file.
                let result = lock.try_write_for(STEP).map(drop);
                done.send(result).unwrap();
            });
            wait_for_kernel_waiters("the writer is blocked on the first file", &path, 1);
            std::fs::remove_file(&path).unwrap();
            let mut newcomer = Helper::start("hold", mechanism, &path, &["read"]);
            newcomer.expect("locked");
            first.send("release");
            first.expect("released");
            assert!(
                finished.recv_timeout(QUIET).is_err(),
                "writer entered beside a reader"
            );
            newcomer.send("release");
            newcomer.expect("released");
            finished.recv_timeout(STEP).unwrap().unwrap();
            assert!(newcomer.finish().success());
        });
        assert!(first.finish().success());
    }
}
