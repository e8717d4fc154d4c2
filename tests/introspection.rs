//! What a lock tells about itself without acquiring: `is_held` (does the
//! calling thread hold it?).

mod process_common;

use std::time::Duration;

use fasteners::{InterProcessLock, InterProcessReaderWriterLock};
use process_common::{mechanisms, TempDir};

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
