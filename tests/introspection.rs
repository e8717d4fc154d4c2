//! What a lock tells about itself without acquiring: `is_held` (does the
//! calling thread hold it?), `held_elsewhere` (does another process?), and
//! the holder's pid in contention errors. (A Python holder, whose pid the
//! kernel reports, is in `interop_python.rs`.)

mod process_common;

use std::time::Duration;

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock, LockMode};
use process_common::{mechanisms, try_elsewhere, Helper, TempDir};

#[test]
fn is_held_reports_the_calling_threads_holds_through_any_object_of_the_file() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("is-held");
        let path = dir.join("a.lock");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        let other_object = InterProcessLock::with_mechanism(&path, mechanism);
        assert!(!lock.is_held());
        assert!(!path.exists(), "is_held touched the disk");

        let guard = lock.lock().unwrap();
        assert!(lock.is_held());
        assert!(other_object.is_held(), "the other object for the file");
        std::thread::scope(|s| {
            s.spawn(|| assert!(!lock.is_held(), "another thread"));
        });
        drop(guard);
        assert!(!lock.is_held());
        assert!(!other_object.is_held());

        // Python-style acquire/release.
        assert!(other_object.acquire(true, None).unwrap());
        assert!(lock.is_held());
        other_object.release().unwrap();
        assert!(!lock.is_held());

        // Timed acquisition.
        let guard = lock.try_lock_for(Duration::from_secs(5)).unwrap();
        assert!(other_object.is_held());
        drop(guard);

        // A `Send` guard belongs to its acquisition, not to the thread.
        let sendable = lock.try_lock_async().unwrap();
        assert!(!lock.is_held());
        drop(sendable);
    }
}

#[test]
fn is_held_on_a_reader_writer_lock_covers_both_sides() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("is-held-rw");
        let path = dir.join("a.lock");
        let rw = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        let plain = InterProcessLock::with_mechanism(&path, mechanism);
        assert!(!rw.is_held());
        let reading = rw.read().unwrap();
        assert!(rw.is_held());
        assert!(plain.is_held(), "the same file through the other lock type");
        std::thread::scope(|s| {
            s.spawn(|| {
                let also_reading = rw.read().unwrap();
                assert!(rw.is_held());
                drop(also_reading);
                assert!(!rw.is_held());
            });
        });
        assert!(rw.is_held(), "the other reader's release is not ours");
        drop(reading);
        assert!(!rw.is_held());
        let writing = rw.write().unwrap();
        assert!(rw.is_held());
        drop(writing);
        assert!(rw.acquire_read_lock(true, None).unwrap());
        assert!(rw.is_held());
        rw.release_read_lock().unwrap();
        assert!(!rw.is_held());
    }
}

#[test]
fn held_elsewhere_reports_another_process_and_its_mode_without_acquiring() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("held-elsewhere");
        let path = dir.join("a.lock");
        let lock = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        assert_eq!(lock.held_elsewhere().unwrap(), None);
        assert!(!path.exists(), "the query created the file");

        for (kind, mode) in [("write", LockMode::Exclusive), ("read", LockMode::Shared)] {
            let mut holder = Helper::start("hold", mechanism, &path, &[kind]);
            holder.expect("locked");
            let found = lock.held_elsewhere().unwrap().expect("a holder");
            // Neither OFD nor flock holders have a pid the kernel reports.
            assert_eq!(
                (found.mode(), found.pid()),
                (mode, None),
                "{mechanism:?} {kind}"
            );
            // The query took nothing: the holder's peers are unaffected.
            let other = try_elsewhere(mechanism, &path, "read");
            assert_eq!(other, if kind == "read" { "got" } else { "busy" });
            holder.send("release");
            holder.expect("released");
            assert!(holder.finish().success());
            assert_eq!(lock.held_elsewhere().unwrap(), None);
        }

        // This process's own hold does not count.
        let writing = lock.write().unwrap();
        assert_eq!(lock.held_elsewhere().unwrap(), None);
        assert_eq!(try_elsewhere(mechanism, &path, "read"), "busy");
        drop(writing);
        // And the query leaves the lock free for this process and others.
        assert_eq!(try_elsewhere(mechanism, &path, "write"), "got");
        drop(lock.try_write().unwrap());
    }
}

#[test]
fn contention_errors_name_this_process_when_one_of_its_threads_holds_the_lock() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("holder-pid");
        let path = dir.join("a.lock");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        let guard = lock.lock().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let other = InterProcessLock::with_mechanism(&path, mechanism);
                let err = other.try_lock().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::WouldBlock);
                assert_eq!(err.holder_pid(), Some(std::process::id()));
                let err = other.try_lock_for(Duration::from_millis(10)).unwrap_err();
                assert_eq!(err.holder_pid(), Some(std::process::id()));
            });
        });
        drop(guard);

        // A reader thread of this process keeps a writer out: this process again.
        let rw = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        let reading = rw.read().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let other = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
                let err = other.try_write().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::WouldBlock);
                assert_eq!(err.holder_pid(), Some(std::process::id()), "{mechanism:?}");
                // Another reader is let in: no contention to name.
                drop(other.try_read().unwrap());
            });
        });
        drop(reading);

        // Another Rust process: the kernel does not say who (OFD and flock).
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let err = lock.try_lock().unwrap_err();
        assert_eq!(
            (err.kind(), err.holder_pid()),
            (ErrorKind::WouldBlock, None)
        );
        assert!(!err.to_string().contains("held by pid"), "{err}");
        holder.send("release");
        holder.expect("released");
        assert!(holder.finish().success());
    }
}

/// A lock object that has used its file asks about the file now at the
/// path: one deleted since is held by nobody, a new one made there may be
/// held by another process, and one that cannot be opened is an error,
/// not "nobody".
#[test]
fn held_elsewhere_asks_about_the_file_now_at_the_path() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("held-elsewhere-gone");
        let path = dir.join("a.lock");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        drop(lock.lock().unwrap());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(lock.held_elsewhere().unwrap(), None, "{mechanism:?}");
        assert!(!path.exists(), "the query created the file");

        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let found = lock.held_elsewhere().unwrap();
        assert_eq!(
            found.map(|found| found.mode()),
            Some(LockMode::Exclusive),
            "{mechanism:?}: the new file's holder"
        );
        holder.send("release");
        holder.expect("released");
        assert!(holder.finish().success());

        // A symbolic link to itself: the open fails with ELOOP.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&path, &path).unwrap();
        let err = lock.held_elsewhere().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io, "{mechanism:?}: {err}");
        std::fs::remove_file(&path).unwrap();
    }
}
