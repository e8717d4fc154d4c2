//! `fasteners::try_lock` (Python's `try_lock`) on each lock type of the
//! crate's traits, free and taken.

mod process_common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread;

use fasteners::{
    ErrorKind, InterProcessLock, InterProcessReaderWriterLock, Lockable, ReaderWriterLock,
};
use process_common::{join, mechanisms, TempDir, STEP as LIMIT};

/// Holds `lock` in another thread (through `take`) while `check` runs here,
/// then lets it go; every wait is bounded.
fn while_held_elsewhere<L: Send + Sync + 'static>(
    lock: Arc<L>,
    take: fn(&L, &dyn Fn()),
    check: impl FnOnce(&L),
) {
    let (held_tx, held_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let inner = Arc::clone(&lock);
    let holder = thread::spawn(move || {
        take(&inner, &|| {
            held_tx.send(()).unwrap();
            done_rx.recv_timeout(LIMIT).unwrap();
        });
    });
    held_rx
        .recv_timeout(LIMIT)
        .expect("holder did not take the lock");
    check(&lock);
    done_tx.send(()).unwrap();
    join(holder, "the holder");
}

/// Free: `Some(guard)`, and the lock is taken (another thread gets `None`)
/// until the guard drops.
fn free_then_taken<L: Lockable + Sync>(lock: &L) {
    let guard = fasteners::try_lock(lock).unwrap();
    assert!(guard.is_some());
    let elsewhere = || {
        thread::scope(|s| {
            let other = s.spawn(|| fasteners::try_lock(lock).unwrap().is_some());
            join(other, "another thread's try_lock")
        })
    };
    assert!(!elsewhere(), "taken while the guard lives");
    drop(guard);
    assert!(elsewhere(), "free again once the guard dropped");
    assert!(fasteners::try_lock(lock).unwrap().is_some());
}

#[test]
fn std_mutex() {
    let lock = Arc::new(Mutex::new(()));
    free_then_taken(&*lock);
    {
        let _held = fasteners::try_lock(&*lock).unwrap().unwrap();
        assert!(fasteners::try_lock(&*lock).unwrap().is_none());
    }
    while_held_elsewhere(
        lock,
        |l, wait| {
            let _g = l.lock().unwrap();
            wait();
        },
        |l| assert!(fasteners::try_lock(l).unwrap().is_none()),
    );
}

#[test]
fn std_rw_lock() {
    let lock = Arc::new(RwLock::new(()));
    free_then_taken(&*lock);
    // Readers elsewhere keep the exclusive side from being taken.
    while_held_elsewhere(
        Arc::clone(&lock),
        |l, wait| {
            let _g = l.read().unwrap();
            wait();
        },
        |l| assert!(fasteners::try_lock(l).unwrap().is_none()),
    );
    while_held_elsewhere(
        lock,
        |l, wait| {
            let _g = l.write().unwrap();
            wait();
        },
        |l| assert!(fasteners::try_lock(l).unwrap().is_none()),
    );
}

#[test]
fn reader_writer_lock() {
    let lock = Arc::new(ReaderWriterLock::new());
    free_then_taken(&*lock);
    while_held_elsewhere(
        Arc::clone(&lock),
        |l, wait| {
            let _g = l.read().unwrap();
            wait();
        },
        |l| assert!(fasteners::try_lock(l).unwrap().is_none()),
    );
    while_held_elsewhere(
        Arc::clone(&lock),
        |l, wait| {
            let _g = l.write().unwrap();
            wait();
        },
        |l| assert!(fasteners::try_lock(l).unwrap().is_none()),
    );
    // Re-entrant for its writer; a plain reader is refused, not told "busy".
    let write = lock.write().unwrap();
    let again = fasteners::try_lock(&*lock).unwrap();
    assert!(again.is_some() && lock.is_writer());
    drop((again, write));
    let _read = lock.read().unwrap();
    let err = fasteners::try_lock(&*lock)
        .map(|g| g.is_some())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
}

#[test]
fn through_smart_pointers() {
    let lock = Arc::new(ReaderWriterLock::new());
    let guard = fasteners::try_lock(&lock).unwrap();
    assert!(guard.is_some());
    let boxed: Box<Mutex<()>> = Box::new(Mutex::new(()));
    let held = fasteners::try_lock(&boxed).unwrap();
    assert!(held.is_some());
    assert!(fasteners::try_lock(&boxed).unwrap().is_none());
}

/// Runs `hold` in another thread, which calls the function it is given once
/// it holds its lock and lets go when that returns; `check` runs meanwhile.
fn while_another_thread_holds(hold: impl FnOnce(&dyn Fn()) + Send + 'static, check: impl FnOnce()) {
    let (held_tx, held_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        hold(&|| {
            held_tx.send(()).unwrap();
            done_rx.recv_timeout(LIMIT).unwrap();
        });
    });
    held_rx
        .recv_timeout(LIMIT)
        .expect("holder did not take the lock");
    check();
    done_tx.send(()).unwrap();
    join(holder, "the holder");
}

#[test]
fn interprocess_lock() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("try-lock");
        let path = dir.join("a.lock");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        free_then_taken(&lock);
        // The same thread asking again would wait for itself: an error, not "busy".
        let held = lock.lock().unwrap();
        let err = fasteners::try_lock(&lock).map(|g| g.is_some()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
        drop(held);
        // Another thread, with its own lock object on the same file.
        let elsewhere = path.clone();
        while_another_thread_holds(
            move |wait| {
                let lock = InterProcessLock::with_mechanism(&elsewhere, mechanism);
                let _g = lock.lock().unwrap();
                wait();
            },
            || assert!(fasteners::try_lock(&lock).unwrap().is_none()),
        );
        assert!(fasteners::try_lock(&lock).unwrap().is_some());
    }
}

#[test]
fn interprocess_reader_writer_lock() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("try-lock-rw");
        let path = dir.join("a.lock");
        let lock = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        free_then_taken(&lock);
        for side in ["read", "write"] {
            let elsewhere = path.clone();
            while_another_thread_holds(
                move |wait| {
                    let lock = InterProcessReaderWriterLock::with_mechanism(&elsewhere, mechanism);
                    if side == "read" {
                        let _g = lock.read().unwrap();
                        wait();
                    } else {
                        let _g = lock.write().unwrap();
                        wait();
                    }
                },
                || assert!(fasteners::try_lock(&lock).unwrap().is_none(), "{side}"),
            );
        }
        assert!(fasteners::try_lock(&lock).unwrap().is_some());
    }
}
