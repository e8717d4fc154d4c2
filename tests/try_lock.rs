//! `fasteners::try_lock` (Python's `try_lock`) on each lock type of the
//! crate's traits, free and taken.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::Duration;

use fasteners::{ErrorKind, Lockable, ReaderWriterLock};

const LIMIT: Duration = Duration::from_secs(20);

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
    holder.join().unwrap();
}

/// Free: `Some(guard)`, and the lock is taken until the guard drops.
fn free_then_taken<L: Lockable>(lock: &L) {
    let guard = fasteners::try_lock(lock).unwrap();
    assert!(guard.is_some());
    drop(guard);
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
