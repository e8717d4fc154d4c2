//! A lock object's first acquisition tries the lock on the file it has just
//! opened, before it knows whether another lock object of the process has
//! that file already: then the lock taken on the new description must be
//! given back, and the acquisition must go through the existing entry, as
//! any later one does.
//!
//! The tests count the kernel's locks on their file, so they take turns
//! (`one_at_a_time`) with the test that starts a helper process: a process
//! being spawned holds a copy of every descriptor of this one until it execs,
//! so a description closed meanwhile keeps its lock a moment longer.
#![cfg(target_os = "linux")]

mod process_common;

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock};
use process_common::{granted_locks, join, mechanisms, one_at_a_time, Helper, TempDir};

#[test]
fn a_first_read_beside_a_reader_of_the_process_is_told_it_would_deadlock() {
    let _turn = one_at_a_time();
    for mechanism in mechanisms() {
        let dir = TempDir::new("first-read-same-thread");
        let path = dir.join("a.lock");
        let held = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        let reading = held.read().unwrap();
        // Another spelling, so that the new object cannot know the entry by
        // its path; its first read on its own description succeeds in the
        // kernel (shared beside shared), but this thread reads already.
        let other = dir.path().join(".").join("a.lock");
        let fresh = InterProcessReaderWriterLock::with_mechanism(&other, mechanism);
        let err = fresh.try_read().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldDeadlock, "{mechanism:?}: {err}");
        // The lock the first attempt took on its own description is gone:
        // the process holds the one lock of its entry.
        assert_eq!(granted_locks(&path), 1, "{mechanism:?}");
        drop(reading);
        assert_eq!(granted_locks(&path), 0, "{mechanism:?}");
        // And the new object works through the entry afterwards.
        drop(fresh.read().unwrap());
        drop(fresh.write().unwrap());
    }
}

#[test]
fn a_first_read_beside_a_reader_of_another_thread_joins_its_lock() {
    let _turn = one_at_a_time();
    for mechanism in mechanisms() {
        let dir = TempDir::new("first-read-other-thread");
        let path = dir.join("a.lock");
        let held = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        let reading = held.read().unwrap();
        let other = dir.path().join(".").join("a.lock");
        let joined = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let fresh = InterProcessReaderWriterLock::with_mechanism(&other, mechanism);
                let guard = fresh.try_read().unwrap();
                // Joined the process's shared lock: still one kernel lock.
                let locks = granted_locks(&path);
                drop(guard);
                locks
            });
            join(reader, "the second reader")
        });
        assert_eq!(joined, 1, "{mechanism:?}");
        drop(reading);
        assert_eq!(granted_locks(&path), 0, "{mechanism:?}");
    }
}

#[test]
fn a_first_lock_held_elsewhere_is_refused_and_leaves_nothing_held() {
    let _turn = one_at_a_time();
    for mechanism in mechanisms() {
        let dir = TempDir::new("first-lock-contended");
        let path = dir.join("a.lock");
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let fresh = InterProcessLock::with_mechanism(&path, mechanism);
        let err = fresh.try_lock().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock, "{mechanism:?}");
        // Nothing of this process is left holding or queued.
        assert_eq!(granted_locks(&path), 1, "{mechanism:?}");
        holder.release_and_finish();
        drop(fresh.try_lock().unwrap());
    }
}
