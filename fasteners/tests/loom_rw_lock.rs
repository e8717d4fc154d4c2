//! Model checks of `ReaderWriterLock` with loom: every interleaving (up to a
//! preemption bound) of a few threads, on the lock's real code, whose atomics,
//! mutex, condition variable and thread-locals are loom's under `--cfg loom`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p fasteners --release --test loom_rw_lock`
//!
//! The guarded data is a loom `UnsafeCell`, so loom reports any access that
//! the lock fails to order (a missing acquire/release edge), not only two
//! threads inside at once. Loom also reports a deadlock if every thread waits.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::{Arc, Mutex};
use loom::thread;

use fasteners::{ErrorKind, Preference, ReaderWriterLock};

/// Loom's default preemption bound makes these models take far too long;
/// 2 still covers every handoff between fast path and slow path.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(model);
}

struct Shared {
    lock: ReaderWriterLock,
    data: UnsafeCell<usize>,
}

impl Shared {
    fn new(preference: Preference) -> Arc<Self> {
        Arc::new(Shared {
            lock: ReaderWriterLock::with_preference(preference),
            data: UnsafeCell::new(0),
        })
    }

    /// Call only while holding the read or write side.
    fn get(&self) -> usize {
        // SAFETY: the caller holds the lock, so no thread writes meanwhile;
        // loom checks exactly that.
        self.data.with(|value| unsafe { *value })
    }

    /// Call only while holding the write side.
    fn bump(&self) {
        // SAFETY: the caller holds the write side, so no other thread
        // accesses the value meanwhile; loom checks exactly that.
        self.data.with_mut(|value| unsafe { *value += 1 });
    }
}

fn exclusion(preference: Preference) {
    check(move || {
        let shared = Shared::new(preference);
        let writer = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let _w = shared.lock.write().unwrap();
                shared.bump();
            })
        };
        let reader = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let _r = shared.lock.read().unwrap();
                assert!(shared.get() <= 2);
            })
        };
        {
            let _w = shared.lock.write().unwrap();
            shared.bump();
        }
        writer.join().unwrap();
        reader.join().unwrap();
        let _w = shared.lock.try_write().expect("lock left held");
        assert_eq!(shared.get(), 2);
    });
}

#[test]
fn writers_exclude_each_other_and_readers_writer_first() {
    exclusion(Preference::Writer);
}

#[test]
fn writers_exclude_each_other_and_readers_reader_first() {
    exclusion(Preference::Reader);
}

/// Two readers at once: one is the lock's first reader (counted in the
/// lock), the other is counted in its thread-local table; a writer excludes
/// both, and both get out of each other's way.
#[test]
fn two_readers_and_a_writer() {
    check(|| {
        let shared = Shared::new(Preference::Writer);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    let first = shared.lock.read().unwrap();
                    let seen = shared.get();
                    let nested = shared.lock.read().unwrap();
                    drop(first);
                    assert!(shared.lock.is_reader());
                    assert_eq!(shared.get(), seen);
                    drop(nested);
                    assert!(!shared.lock.is_reader());
                })
            })
            .collect();
        {
            let _w = shared.lock.write().unwrap();
            shared.bump();
        }
        for reader in readers {
            reader.join().unwrap();
        }
        let _w = shared.lock.try_write().expect("lock left held");
        assert_eq!(shared.get(), 1);
    });
}

/// Write, nested read, nested write, then release the writes while still
/// reading (the downgrade), against a competing writer.
#[test]
fn reentrant_writer_downgrades_to_reader() {
    check(|| {
        let shared = Shared::new(Preference::Writer);
        let other = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let _w = shared.lock.write().unwrap();
                shared.bump();
            })
        };
        let write = shared.lock.write().unwrap();
        shared.bump();
        let read = shared.lock.read().unwrap();
        let again = shared.lock.write().unwrap();
        drop(again);
        drop(write);
        // Now a plain reader: the other writer cannot have run in between.
        let seen = shared.get();
        assert!(!shared.lock.is_writer());
        assert_eq!(
            shared.lock.try_write().map(drop).unwrap_err().kind(),
            ErrorKind::WouldDeadlock
        );
        assert_eq!(shared.get(), seen);
        drop(read);
        other.join().unwrap();
        assert_eq!(shared.lock.try_read().map(|_| shared.get()).unwrap(), 2);
    });
}

/// A reader that already reads may read again while a writer waits (else
/// they would deadlock); a writer-first lock holds new readers back.
#[test]
fn current_reader_reenters_past_a_waiting_writer() {
    check(|| {
        let shared = Shared::new(Preference::Writer);
        let read = shared.lock.read().unwrap();
        let writer = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let _w = shared.lock.write().unwrap();
                shared.bump();
            })
        };
        let newcomer = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                if let Ok(_r) = shared.lock.try_read() {
                    // Got in: so did so before the writer, or after it.
                    let _ = shared.get();
                }
            })
        };
        let again = shared.lock.read().unwrap();
        assert_eq!(shared.get(), 0);
        drop(again);
        drop(read);
        writer.join().unwrap();
        newcomer.join().unwrap();
        assert_eq!(shared.lock.try_read().map(|_| shared.get()).unwrap(), 1);
    });
}

/// Writers queued one after the other get the lock in that order.
#[test]
fn queued_writers_go_in_arrival_order() {
    check(|| {
        let lock = Arc::new(ReaderWriterLock::new());
        let order = Arc::new(Mutex::new(Vec::new()));
        let hold = lock.write().unwrap();
        let spawn_writer = |n: usize| {
            let (lock, order) = (Arc::clone(&lock), Arc::clone(&order));
            thread::spawn(move || {
                let _w = lock.write().unwrap();
                order.lock().unwrap().push(n);
            })
        };
        let first = spawn_writer(1);
        while !lock.has_pending_writers() {
            thread::yield_now();
        }
        let second = spawn_writer(2);
        while !format!("{lock:?}").contains("waiting_writers: 2") {
            thread::yield_now();
        }
        drop(hold);
        first.join().unwrap();
        second.join().unwrap();
        assert_eq!(*order.lock().unwrap(), [1, 2]);
    });
}

/// Non-blocking and timed attempts, through the slow path and back.
#[test]
fn try_and_timed_attempts() {
    check(|| {
        let shared = Shared::new(Preference::Writer);
        let read = shared.lock.read().unwrap();
        let writer = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                if let Err(err) = shared.lock.try_write() {
                    assert_eq!(err.kind(), ErrorKind::WouldBlock);
                }
                // Loom does not model time: this waits until the release.
                let _w = shared
                    .lock
                    .try_write_for(std::time::Duration::from_secs(3600))
                    .unwrap();
                shared.bump();
            })
        };
        assert_eq!(shared.get(), 0);
        drop(read);
        writer.join().unwrap();
        let _r = shared
            .lock
            .try_read_for(std::time::Duration::from_secs(3600))
            .unwrap();
        assert_eq!(shared.get(), 1);
    });
}
