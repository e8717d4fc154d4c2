//! Model checks of `ReaderWriterLock` with loom: every interleaving (up to a
//! preemption bound) of a few threads, on the lock's real code, whose atomics,
//! mutex, condition variable and thread-locals are loom's under `--cfg loom`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p fasteners --release --test loom_rw_lock`
//!
//! The guarded data is a loom `UnsafeCell`, so loom reports any access that
//! the lock fails to order (a missing acquire/release edge), not only two
//! threads inside at once. Loom also reports a deadlock if every thread
//! waits, which is how a missed wake-up shows: the thread that should have
//! been woken sleeps forever.
//!
//! Loom has no time: under loom the lock reads a virtual clock, which a
//! model moves on with `advance_clock` to make a timed waiter give up at any
//! point of an interleaving.
//!
//! Under loom an acquisition that finds the lock busy re-reads it once
//! before it queues (the real lock spins longer), so the models cover both
//! a spin that gets the lock and one that gives up.
//!
//! `scripts/breakages.sh` breaks the lock on purpose (the writers-first rule,
//! the wake-ups of each side, the re-checks when a waiter registers, the
//! memory orderings of the fast and spinning paths) and checks that these
//! models catch each.
#![cfg(loom)]

use std::time::Duration;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use fasteners::{ErrorKind, Preference, ReaderWriterLock};

/// The preemption bound when `LOOM_MAX_PREEMPTIONS` does not set one.
///
/// Bugs in a lock like this one need few preemptions to show (every
/// breakage in `scripts/breakages.sh` is caught at this bound), while the
/// number of interleavings, and so the run time, grows tenfold per step:
/// measured in a release build on a shared 2-core machine, the models take
/// 100 to 115 s in all at 3 (the largest, `two_readers_and_a_writer`, about
/// a minute),
/// while at 4 one exclusion model alone takes 160 s instead of 16 s, which
/// puts the set well over ten minutes. 3 is the highest bound that keeps the
/// whole suite well inside its time budget (it was 2 before these models
/// were added).
const PREEMPTION_BOUND: usize = 3;

fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(PREEMPTION_BOUND);
    }
    builder.check(model);
}

/// Spins (yielding to loom's scheduler) until `done()` holds. Only for a
/// condition that another thread is certain to make true, and only in one
/// thread at a time: two threads spinning at once make loom's paths too long.
fn wait_for(done: impl Fn() -> bool) {
    while !done() {
        thread::yield_now();
    }
}

/// A one-shot event that a thread waits for without spinning.
#[derive(Default)]
struct Event {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Event {
    fn set(&self) {
        *self.set.lock().unwrap() = true;
        self.changed.notify_all();
    }

    fn wait(&self) {
        let mut set = self.set.lock().unwrap();
        while !*set {
            set = self.changed.wait(set).unwrap();
        }
    }
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
/// they would deadlock).
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
        wait_for(|| shared.lock.has_pending_writers());
        let again = shared.lock.try_read().expect("a current reader re-enters");
        assert_eq!(shared.get(), 0);
        drop(again);
        drop(read);
        writer.join().unwrap();
        assert_eq!(shared.lock.try_read().map(|_| shared.get()).unwrap(), 1);
    });
}

/// Writers first: while a writer waits, a thread that does not read yet is
/// refused (non-blocking) and held back (blocking) until the writer has
/// written.
#[test]
fn newcomer_reader_is_held_back_while_a_writer_waits() {
    check(|| {
        let shared = Shared::new(Preference::Writer);
        let read = shared.lock.read().unwrap();
        let tried = Arc::new(Event::default());
        let writer = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let _w = shared.lock.write().unwrap();
                shared.bump();
            })
        };
        wait_for(|| shared.lock.has_pending_writers());
        let newcomer = {
            let (shared, tried) = (Arc::clone(&shared), Arc::clone(&tried));
            thread::spawn(move || {
                // The writer waits meanwhile: main reads until `tried`.
                let err = shared.lock.try_read().map(drop).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::WouldBlock);
                tried.set();
                let _r = shared.lock.read().unwrap();
                assert_eq!(shared.get(), 1, "a newcomer read before the waiting writer");
            })
        };
        tried.wait();
        drop(read);
        writer.join().unwrap();
        newcomer.join().unwrap();
    });
}

/// Readers first: a newcomer reads beside a current reader while a writer
/// waits, and the writer still gets in once they are gone.
#[test]
fn newcomer_reader_passes_a_waiting_writer_reader_first() {
    check(|| {
        let shared = Shared::new(Preference::Reader);
        let read = shared.lock.read().unwrap();
        let writer = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let _w = shared.lock.write().unwrap();
                shared.bump();
            })
        };
        wait_for(|| shared.lock.has_pending_writers());
        let newcomer = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                // Main still reads, so the writer still waits.
                let _r = shared.lock.try_read().expect("readers first");
                assert_eq!(shared.get(), 0);
            })
        };
        newcomer.join().unwrap();
        drop(read);
        writer.join().unwrap();
        assert_eq!(shared.lock.try_read().map(|_| shared.get()).unwrap(), 1);
    });
}

/// A reader waiting for a writer is woken when the writer downgrades (gives
/// up the write side while it still reads), and reads beside it.
#[test]
fn reader_is_woken_by_a_downgrade() {
    check(|| {
        let shared = Shared::new(Preference::Writer);
        let inside = Arc::new(AtomicBool::new(false));
        let write = shared.lock.write().unwrap();
        shared.bump();
        let reader = {
            let (shared, inside) = (Arc::clone(&shared), Arc::clone(&inside));
            thread::spawn(move || {
                let _r = shared.lock.read().unwrap();
                assert_eq!(shared.get(), 1);
                inside.store(true, Ordering::SeqCst);
            })
        };
        let read = shared.lock.read().unwrap();
        drop(write);
        // Still reading: the reader must get in now, beside this thread.
        wait_for(|| inside.load(Ordering::SeqCst));
        assert!(shared.lock.is_reader() && !shared.lock.is_writer());
        drop(read);
        reader.join().unwrap();
    });
}

/// A reader queued behind a writer that holds the lock, and a newcomer that
/// arrives around the writer's release: both get in and see what the writer
/// wrote. Arriving after the release, the newcomer finds only readers
/// queued and reads on the compare-exchange path, beside the woken one;
/// arriving before, it queues too (or spins, and then queues or gets in).
#[test]
fn readers_queued_behind_a_writer_and_a_newcomer_all_get_in() {
    check(|| {
        let shared = Shared::new(Preference::Writer);
        let write = shared.lock.write().unwrap();
        shared.bump();
        let spawn_reader = || {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let _r = shared.lock.read().unwrap();
                assert_eq!(shared.get(), 1);
            })
        };
        let queued = spawn_reader();
        wait_for(|| shared.lock.waiting_readers() == 1);
        let newcomer = spawn_reader();
        drop(write);
        queued.join().unwrap();
        newcomer.join().unwrap();
        assert_eq!(shared.lock.waiting_readers(), 0);
        let _w = shared.lock.try_write().expect("lock left held");
    });
}

/// A writer that times out wakes the readers it held back (writers first):
/// they read beside the current reader at once, without any release.
#[test]
fn timed_out_writer_wakes_the_readers_it_held_back() {
    check(|| {
        let shared = Shared::new(Preference::Writer);
        let read = shared.lock.read().unwrap();
        let writer = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let err = shared
                    .lock
                    .try_write_for(Duration::from_secs(1))
                    .map(drop)
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TimedOut);
            })
        };
        wait_for(|| shared.lock.has_pending_writers());
        // Arrives while the writer waits: held back until it gives up (or,
        // in some interleavings, arrives once it has given up already).
        let reader = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let _r = shared.lock.read().unwrap();
                assert_eq!(shared.get(), 0);
            })
        };
        // Main reads throughout: only the timeout ends the writer's wait.
        shared.lock.advance_clock(Duration::from_secs(2));
        writer.join().unwrap();
        reader.join().unwrap();
        assert!(!shared.lock.has_pending_writers());
        drop(read);
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
