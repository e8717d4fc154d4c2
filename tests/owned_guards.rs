//! Owned guards (`lock_owned` & co., `fasteners::lock_file`): `'static`
//! guards that keep their lock object alive, exclude other processes like
//! the borrowing guards, and close the file once the last of them goes; the
//! async ones are `Send` and move between tasks and threads.

mod process_common;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fasteners::{
    ErrorKind, InterProcessLock, InterProcessReaderWriterLock, OwnedAsyncInterProcessLockGuard,
    OwnedAsyncInterProcessReadGuard, OwnedAsyncInterProcessWriteGuard, OwnedInterProcessLockGuard,
    OwnedInterProcessReadGuard, OwnedInterProcessWriteGuard,
};
use process_common::{mechanisms, open_descriptors, try_elsewhere, TempDir, STEP};

/// The tests of this file run one at a time: one of them counts the
/// process's descriptors, which the others open and close.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn assert_static<T: 'static>() {}
fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn owned_guards_are_static_and_the_async_ones_send() {
    assert_static::<OwnedInterProcessLockGuard>();
    assert_static::<OwnedInterProcessReadGuard>();
    assert_static::<OwnedInterProcessWriteGuard>();
    assert_send_sync::<OwnedAsyncInterProcessLockGuard>();
    assert_send_sync::<OwnedAsyncInterProcessReadGuard>();
    assert_send_sync::<OwnedAsyncInterProcessWriteGuard>();
}

/// Returns a guard with no lock object left in the caller's hands.
fn take(path: &Path, mechanism: fasteners::Mechanism) -> OwnedInterProcessLockGuard {
    Arc::new(InterProcessLock::with_mechanism(path, mechanism))
        .lock_owned()
        .unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn lock_file_holds_the_file_for_the_scope_and_then_closes_it() {
    let _serial = serial();
    let dir = TempDir::new("lock-file");
    let path = dir.join("a.lock");
    let before = open_descriptors();
    {
        let _guard = fasteners::lock_file(&path).unwrap();
        assert_eq!(open_descriptors(), before + 1);
        assert!(InterProcessLock::new(&path).is_held());
        assert_eq!(
            try_elsewhere(fasteners::Mechanism::default(), &path, "ex"),
            "busy"
        );
        // The same thread again: an error, not a hang.
        let err = fasteners::lock_file(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
    }
    // The guard took its lock object, and with it the file, along.
    assert_eq!(open_descriptors(), before);
    assert_eq!(
        try_elsewhere(fasteners::Mechanism::default(), &path, "ex"),
        "got"
    );
}

#[test]
fn an_owned_guard_outlives_every_other_handle_on_its_lock() {
    let _serial = serial();
    for mechanism in mechanisms() {
        let dir = TempDir::new("owned-outlives");
        let path = dir.join("a.lock");
        let lock = Arc::new(InterProcessLock::with_mechanism(&path, mechanism));
        let weak = Arc::downgrade(&lock);
        let guard = lock.lock_owned().unwrap();
        assert!(weak.upgrade().is_some(), "the guard keeps the lock object");
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "busy");
        guard.release().unwrap();
        assert!(weak.upgrade().is_none(), "released with the guard");
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "got");

        let guard = take(&path, mechanism);
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "busy");
        drop(guard);

        let lock = Arc::new(InterProcessLock::with_mechanism(&path, mechanism));
        let first = lock.clone().try_lock_owned().unwrap();
        let err = lock.clone().try_lock_owned().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
        drop(first);
        let timed = lock.try_lock_owned_for(Duration::from_secs(5)).unwrap();
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "busy");
        drop(timed);
    }
}

#[test]
fn owned_reader_writer_guards_share_and_exclude_as_the_borrowing_ones() {
    let _serial = serial();
    for mechanism in mechanisms() {
        let dir = TempDir::new("owned-rw");
        let path = dir.join("a.lock");
        let lock = Arc::new(InterProcessReaderWriterLock::with_mechanism(
            &path, mechanism,
        ));
        let reading = lock.clone().read_owned().unwrap();
        assert_eq!(try_elsewhere(mechanism, &path, "read"), "got");
        assert_eq!(try_elsewhere(mechanism, &path, "write"), "busy");
        std::thread::scope(|s| {
            s.spawn(|| {
                drop(lock.clone().try_read_owned().unwrap());
                let err = lock.clone().try_write_owned().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::WouldBlock);
            });
        });
        drop(reading);
        let writing = lock.clone().write_owned().unwrap();
        assert_eq!(try_elsewhere(mechanism, &path, "read"), "busy");
        drop(writing);
        let writing = lock
            .clone()
            .try_write_owned_for(Duration::from_secs(5))
            .unwrap();
        drop(writing);
        drop(
            lock.clone()
                .try_read_owned_for(Duration::from_secs(5))
                .unwrap(),
        );
        drop(lock.try_write_owned().unwrap());
    }
}

#[test]
fn async_owned_guards_move_into_spawned_tasks_and_threads() {
    let _serial = serial();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    for mechanism in mechanisms() {
        let dir = TempDir::new("owned-async");
        let path = dir.join("a.lock");
        let lock = Arc::new(InterProcessLock::with_mechanism(&path, mechanism));
        let task = lock.clone().lock_owned_async();
        let guard = runtime
            .block_on(async { tokio::time::timeout(STEP, tokio::spawn(task)).await })
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "busy");
        // Held across `.await` in another task, released on a worker thread.
        let task = runtime.spawn(async move {
            tokio::task::yield_now().await;
            drop(guard);
        });
        runtime.block_on(task).unwrap();
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "got");

        let held = lock.clone().try_lock_owned_async().unwrap();
        let err = runtime
            .block_on(lock.clone().lock_owned_async_for(Duration::from_millis(20)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        std::thread::spawn(move || drop(held)).join().unwrap();

        let rw = Arc::new(InterProcessReaderWriterLock::with_mechanism(
            &path, mechanism,
        ));
        let reading = runtime.block_on(rw.clone().read_owned_async()).unwrap();
        assert_eq!(try_elsewhere(mechanism, &path, "write"), "busy");
        let err = runtime
            .block_on(rw.clone().write_owned_async_for(Duration::from_millis(20)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        drop(reading);
        let writing = runtime.block_on(rw.clone().write_owned_async()).unwrap();
        assert_eq!(try_elsewhere(mechanism, &path, "read"), "busy");
        drop(writing);
        drop(rw.clone().try_write_owned_async().unwrap());
        drop(rw.clone().try_read_owned_async().unwrap());
        drop(
            runtime
                .block_on(rw.read_owned_async_for(Duration::from_secs(5)))
                .unwrap(),
        );
    }
}
