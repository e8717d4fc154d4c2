//! The in-process `ReaderWriterLock`: Python fasteners' `tests/test_lock.py`
//! scenarios, made strict and bounded, plus timeouts, preferences and the
//! lock traits.

mod process_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fasteners::{
    ErrorKind, Lockable, Owner, Preference, ReaderWriterLock, SharedLockable, SharedTimedLockable,
    TimedLockable,
};
use process_common::{join, join_result, wait_until, STEP as LIMIT};

/// How soon a held-back thread must get in once what held it back is gone:
/// it is woken at once; this is room for a loaded machine.
const WAKE_UP: Duration = Duration::from_secs(1);

/// A thread whose end is awaited with a time limit, so a deadlock fails the
/// test instead of hanging it (the stuck thread is abandoned).
struct Bounded<T> {
    handle: thread::JoinHandle<T>,
}

fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Bounded<T> {
    Bounded {
        handle: thread::spawn(f),
    }
}

impl<T> Bounded<T> {
    /// The thread's result, or its panic.
    fn join(self) -> thread::Result<T> {
        join_result(self.handle, "a test thread")
    }

    /// The thread's result; fails the test if it panicked.
    fn value(self) -> T {
        join(self.handle, "a test thread")
    }
}

/// Who is inside the lock, checked on every entry and exit.
#[derive(Default)]
struct Occupancy {
    readers: AtomicUsize,
    writers: AtomicUsize,
    /// Two halves of one record that writers update together: a reader must
    /// never see them differ.
    first: AtomicUsize,
    second: AtomicUsize,
}

impl Occupancy {
    fn read(&self) {
        self.readers.fetch_add(1, Ordering::SeqCst);
        assert_eq!(self.writers.load(Ordering::SeqCst), 0, "reader with writer");
        let first = self.first.load(Ordering::SeqCst);
        thread::yield_now();
        let second = self.second.load(Ordering::SeqCst);
        assert_eq!(first, second, "reader saw a half-done write");
        self.readers.fetch_sub(1, Ordering::SeqCst);
    }

    fn write(&self) {
        assert_eq!(
            self.writers.fetch_add(1, Ordering::SeqCst),
            0,
            "two writers at once"
        );
        assert_eq!(self.readers.load(Ordering::SeqCst), 0, "writer with reader");
        let value = self.first.load(Ordering::SeqCst) + 1;
        self.first.store(value, Ordering::SeqCst);
        thread::yield_now();
        self.second.store(value, Ordering::SeqCst);
        self.writers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// 20 threads, each alternating reads and writes (some nested, some timed,
/// some non-blocking) for a bounded number of rounds.
fn exclusion_under_twenty_threads(preference: Preference) {
    const THREADS: usize = 20;
    const ROUNDS: usize = 150;
    let lock = Arc::new(ReaderWriterLock::with_preference(preference));
    let seen = Arc::new(Occupancy::default());
    let writes = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (lock, seen, writes, start) = (
                Arc::clone(&lock),
                Arc::clone(&seen),
                Arc::clone(&writes),
                Arc::clone(&start),
            );
            spawn(move || {
                start.wait();
                for round in 0..ROUNDS {
                    match (t + round) % 5 {
                        0 => {
                            let _w = lock.write().unwrap();
                            seen.write();
                            writes.fetch_add(1, Ordering::SeqCst);
                            let _nested = lock.read().unwrap();
                            seen.write();
                        }
                        1 => match lock.try_write_for(Duration::from_millis(1)) {
                            Ok(_w) => {
                                seen.write();
                                writes.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(err) => assert_eq!(err.kind(), ErrorKind::TimedOut),
                        },
                        2 => {
                            let _r = lock.read().unwrap();
                            seen.read();
                            let _again = lock.read().unwrap();
                            seen.read();
                        }
                        3 => match lock.try_read() {
                            Ok(_r) => seen.read(),
                            Err(err) => assert_eq!(err.kind(), ErrorKind::WouldBlock),
                        },
                        _ => {
                            let _r = lock.try_read_for(LIMIT).unwrap();
                            seen.read();
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.value();
    }
    assert!(writes.load(Ordering::SeqCst) >= THREADS * ROUNDS / 5);
    assert_eq!(
        seen.first.load(Ordering::SeqCst),
        seen.second.load(Ordering::SeqCst)
    );
    assert!(lock.try_write().is_ok(), "lock left held");
}

#[test]
fn no_double_writers_and_no_reader_with_writer_writer_first() {
    exclusion_under_twenty_threads(Preference::Writer);
}

#[test]
fn no_double_writers_and_no_reader_with_writer_reader_first() {
    exclusion_under_twenty_threads(Preference::Reader);
}

/// Control for the two tests above: the same mix of readers and writers
/// with no lock at all trips [`Occupancy`]'s checks, so they can see a
/// violation.
#[test]
fn control_occupancy_sees_overlap_without_the_lock() {
    const THREADS: usize = 20;
    const ROUNDS: usize = 150;
    let seen = Arc::new(Occupancy::default());
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (seen, start) = (Arc::clone(&seen), Arc::clone(&start));
            spawn(move || {
                start.wait();
                for round in 0..ROUNDS {
                    if (t + round) % 5 < 2 {
                        seen.write();
                    } else {
                        seen.read();
                    }
                }
            })
        })
        .collect();
    let tripped = threads
        .into_iter()
        .map(Bounded::join)
        .filter(Result::is_err)
        .count();
    assert!(tripped > 0, "no overlap seen without the lock");
}

#[test]
fn writer_abort_releases_the_lock() {
    let lock = Arc::new(ReaderWriterLock::new());
    let inner = Arc::clone(&lock);
    let outcome = spawn(move || {
        let _w = inner.write().unwrap();
        let _nested = inner.write().unwrap();
        let _read = inner.read().unwrap();
        panic!("writer aborts");
    })
    .join();
    assert!(outcome.is_err());
    assert!(!lock.has_pending_writers());
    lock.try_write().unwrap().release().unwrap();
    lock.try_read().unwrap().release().unwrap();
}

#[test]
fn reader_abort_releases_the_lock() {
    let lock = Arc::new(ReaderWriterLock::new());
    let inner = Arc::clone(&lock);
    let outcome = spawn(move || {
        let _r = inner.read().unwrap();
        let _nested = inner.read().unwrap();
        panic!("reader aborts");
    })
    .join();
    assert!(outcome.is_err());
    lock.try_write().unwrap().release().unwrap();
}

#[test]
fn chaotic_readers_and_writers_where_half_panic() {
    const THREADS: usize = 20;
    const ROUNDS: usize = 20;
    let lock = Arc::new(ReaderWriterLock::new());
    let seen = Arc::new(Occupancy::default());
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (lock, seen, start) = (Arc::clone(&lock), Arc::clone(&seen), Arc::clone(&start));
            spawn(move || {
                start.wait();
                for round in 0..ROUNDS {
                    // Half of the threads die inside the lock on their last round.
                    let dies = t % 2 == 1 && round == ROUNDS - 1;
                    if t % 4 < 2 {
                        let _r = lock.read().unwrap();
                        seen.read();
                        if dies {
                            let _nested = lock.read().unwrap();
                            panic!("reader dies");
                        }
                    } else {
                        let _w = lock.write().unwrap();
                        seen.write();
                        if dies {
                            let _nested = lock.read().unwrap();
                            panic!("writer dies");
                        }
                    }
                }
            })
        })
        .collect();
    let panicked = threads
        .into_iter()
        .map(Bounded::join)
        .filter(Result::is_err)
        .count();
    assert_eq!(panicked, THREADS / 2);
    assert!(!lock.has_pending_writers());
    lock.try_write().unwrap().release().unwrap();
    lock.try_read().unwrap().release().unwrap();
}

#[test]
fn write_read_write_in_one_thread() {
    let lock = ReaderWriterLock::new();
    let w1 = lock.write().unwrap();
    let r = lock.read().unwrap();
    let w2 = lock.write().unwrap();
    assert!(lock.is_writer() && lock.is_reader());
    assert_eq!(lock.owner(), Some(Owner::Writer));
    w2.release().unwrap();
    assert!(lock.is_writer());
    r.release().unwrap();
    assert_eq!(lock.owner(), Some(Owner::Writer));
    assert!(!lock.is_reader());
    w1.release().unwrap();
    assert_eq!(lock.owner(), None);
    // Everything was given back: another thread may write.
    let lock = Arc::new(lock);
    let inner = Arc::clone(&lock);
    assert!(spawn(move || inner.try_write().map(drop).is_ok()).value());
}

#[test]
fn read_inside_write() {
    let lock = Arc::new(ReaderWriterLock::new());
    let _w = lock.write().unwrap();
    let _r = lock.read().unwrap();
    let _r2 = lock.try_read().unwrap();
    assert!(lock.is_reader());
    assert!(lock.is_writer());
    let inner = Arc::clone(&lock);
    let other = spawn(move || inner.try_read().map(drop).unwrap_err().kind()).value();
    assert_eq!(other, ErrorKind::WouldBlock);
}

#[test]
fn write_inside_read_is_refused() {
    let lock = ReaderWriterLock::new();
    let _r = lock.read().unwrap();
    assert_eq!(lock.write().unwrap_err().kind(), ErrorKind::WouldDeadlock);
    assert_eq!(
        lock.try_write().unwrap_err().kind(),
        ErrorKind::WouldDeadlock
    );
    let err = lock.try_write_for(Duration::from_secs(60)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
    assert!(err.to_string().contains("reader-writer lock"), "{err}");
    for blocking in [false, true] {
        let err = lock.acquire_write_lock(blocking, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
    }
    assert_eq!(
        fasteners::try_lock(&lock).map(drop).unwrap_err().kind(),
        ErrorKind::WouldDeadlock
    );
    // Refusing changed nothing: still a reader, not a writer.
    assert_eq!(lock.owner(), Some(Owner::Reader));
}

#[test]
fn downgrade_keeps_a_plain_reader() {
    let lock = Arc::new(ReaderWriterLock::new());
    let w = lock.write().unwrap();
    let r = lock.read().unwrap();
    drop(w);
    assert_eq!(lock.owner(), Some(Owner::Reader));
    assert_eq!(
        lock.try_write().unwrap_err().kind(),
        ErrorKind::WouldDeadlock
    );
    let inner = Arc::clone(&lock);
    let (other_reads, other_writes) = spawn(move || {
        let reads = inner.try_read().is_ok();
        let writes = inner.try_write().map(drop).unwrap_err().kind();
        (reads, writes)
    })
    .value();
    assert!(other_reads);
    assert_eq!(other_writes, ErrorKind::WouldBlock);
    drop(r);
}

#[test]
fn nested_reads_and_writes() {
    let lock = Arc::new(ReaderWriterLock::new());
    let reads: Vec<_> = (0..5).map(|_| lock.read().unwrap()).collect();
    for guard in reads {
        assert!(lock.is_reader());
        guard.release().unwrap();
    }
    assert!(!lock.is_reader());

    let writes: Vec<_> = (0..5).map(|_| lock.write().unwrap()).collect();
    let inner = Arc::clone(&lock);
    let probe = move || inner.try_read().map(drop).is_ok();
    for guard in writes {
        assert!(lock.is_writer());
        let probe = probe.clone();
        assert!(
            !spawn(probe).value(),
            "another thread read during a nested write"
        );
        guard.release().unwrap();
    }
    assert!(!lock.is_writer());
    assert!(spawn(probe).value());
}

#[test]
fn python_style_acquire_and_release_nest() {
    let lock = ReaderWriterLock::new();
    for _ in 0..3 {
        assert!(lock.acquire_write_lock(true, None).unwrap());
    }
    assert!(lock.acquire_read_lock(false, None).unwrap());
    for _ in 0..3 {
        assert!(lock.is_writer());
        lock.release_write_lock().unwrap();
    }
    assert_eq!(lock.owner(), Some(Owner::Reader));
    lock.release_read_lock().unwrap();
    assert_eq!(lock.owner(), None);
}

/// Regression (Python fasteners): a writer taking a nested read while
/// another writer waits must not deadlock on its own pending competitor.
#[test]
fn writer_takes_nested_read_while_another_writer_waits() {
    let lock = Arc::new(ReaderWriterLock::new());
    for _ in 0..1000 {
        let write = lock.write().unwrap();
        let inner = Arc::clone(&lock);
        let waiter = spawn(move || inner.write().map(drop).is_ok());
        wait_until("the second writer waits", || lock.has_pending_writers());
        let read = lock.try_read().expect("a writer may always read");
        drop(read);
        drop(write);
        assert!(waiter.value());
    }
    assert!(!lock.has_pending_writers());
}

#[test]
fn releasing_without_holding_is_an_error() {
    let lock = Arc::new(ReaderWriterLock::new());
    let err = lock.release_read_lock().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotHeld);
    assert_eq!(err.path(), None);
    assert_eq!(
        lock.release_write_lock().unwrap_err().kind(),
        ErrorKind::NotHeld
    );

    // Holding one side does not let the caller release the other.
    let r = lock.read().unwrap();
    assert_eq!(
        lock.release_write_lock().unwrap_err().kind(),
        ErrorKind::NotHeld
    );
    // Another thread's holdings are not the caller's.
    let inner = Arc::clone(&lock);
    let kind = spawn(move || inner.release_read_lock().unwrap_err().kind()).value();
    assert_eq!(kind, ErrorKind::NotHeld);
    assert!(lock.is_reader());

    // A guard whose entry was given back by hand reports it on release.
    lock.release_read_lock().unwrap();
    assert_eq!(r.release().unwrap_err().kind(), ErrorKind::NotHeld);
    let w = lock.write().unwrap();
    lock.release_write_lock().unwrap();
    assert_eq!(w.release().unwrap_err().kind(), ErrorKind::NotHeld);
    assert_eq!(lock.owner(), None);
}

/// With main reading, W1 waits, then R1 arrives, then W2: records the order
/// in which they get the lock once main lets go.
fn arrival_order(preference: Preference) -> Vec<&'static str> {
    let lock = Arc::new(ReaderWriterLock::with_preference(preference));
    let order = Arc::new(Mutex::new(Vec::new()));
    let main_read = lock.read().unwrap();

    let (l, o) = (Arc::clone(&lock), Arc::clone(&order));
    let w1 = spawn(move || {
        let _w = l.write().unwrap();
        o.lock().unwrap().push("W1");
        // W2 queues while W1 holds: it must then go before R1, if writers
        // go first.
        wait_until("W2 waits", || l.has_pending_writers());
    });
    wait_until("W1 waits", || lock.has_pending_writers());

    let (l, o) = (Arc::clone(&lock), Arc::clone(&order));
    let r1 = spawn(move || {
        let _r = l.read().unwrap();
        o.lock().unwrap().push("R1");
    });
    if preference == Preference::Reader {
        // Readers do not wait for waiting writers: R1 reads beside main.
        wait_until("R1 reads", || order.lock().unwrap().contains(&"R1"));
    } else {
        // R1 is held back by W1 before W2 arrives: W2 goes first all the same.
        wait_until("R1 waits", || lock.waiting_readers() == 1);
    }

    let (l, o) = (Arc::clone(&lock), Arc::clone(&order));
    let w2 = spawn(move || {
        let _w = l.write().unwrap();
        o.lock().unwrap().push("W2");
    });
    queued_writers_settle(&lock, 2);
    assert!(order.lock().unwrap().iter().all(|who| *who == "R1"));
    drop(main_read);
    w1.value();
    w2.value();
    r1.value();
    let order = order.lock().unwrap().clone();
    order
}

#[test]
fn writers_first_order() {
    assert_eq!(arrival_order(Preference::Writer), ["W1", "W2", "R1"]);
}

#[test]
fn readers_first_order() {
    assert_eq!(arrival_order(Preference::Reader), ["R1", "W1", "W2"]);
}

#[test]
fn waiting_writer_blocks_new_readers_but_not_current_ones() {
    let lock = Arc::new(ReaderWriterLock::new());
    // Main reads first (the lock records it); a second thread reads too
    // (its own table records it): both kinds of current reader re-enter.
    let read = lock.read().unwrap();
    let inner = Arc::clone(&lock);
    let (reading, read_taken) = mpsc::channel();
    let (reenter, may_reenter) = mpsc::channel::<()>();
    let second = spawn(move || {
        let _r = inner.read().unwrap();
        reading.send(()).unwrap();
        may_reenter.recv_timeout(LIMIT).unwrap();
        inner.try_read().map(drop).is_ok()
    });
    read_taken.recv_timeout(LIMIT).unwrap();
    let inner = Arc::clone(&lock);
    let writer = spawn(move || inner.write().map(drop).is_ok());
    wait_until("the writer waits", || lock.has_pending_writers());
    // The current readers may read again (else they would deadlock the
    // writer)...
    let again = lock.try_read().unwrap();
    reenter.send(()).unwrap();
    assert!(second.value());
    // ...but a new one must wait behind the writer.
    let inner = Arc::clone(&lock);
    let newcomer = spawn(move || inner.try_read().map(drop).unwrap_err().kind()).value();
    assert_eq!(newcomer, ErrorKind::WouldBlock);
    drop((again, read));
    assert!(writer.value());
}

#[test]
fn reader_preference_lets_new_readers_pass_waiting_writers() {
    let lock = Arc::new(ReaderWriterLock::with_preference(Preference::Reader));
    let read = lock.read().unwrap();
    let inner = Arc::clone(&lock);
    let writer = spawn(move || inner.write().map(drop).is_ok());
    wait_until("the writer waits", || lock.has_pending_writers());
    let inner = Arc::clone(&lock);
    assert!(spawn(move || inner.try_read().map(drop).is_ok()).value());
    drop(read);
    assert!(writer.value());
}

/// A thread that takes the read side of `lock` and says so on the channel
/// returned, then lets go.
fn reader_that_says_when_it_reads(
    lock: &Arc<ReaderWriterLock>,
) -> (Bounded<()>, mpsc::Receiver<()>) {
    let inner = Arc::clone(lock);
    let (reading, read_taken) = mpsc::channel();
    let reader = spawn(move || {
        let _r = inner.read().unwrap();
        reading.send(()).unwrap();
    });
    (reader, read_taken)
}

/// Readers first, a reader that waited for the writer holding the lock
/// starts reading once no writer holds it, even with a writer still queued:
/// here the holder downgrades to reading (so the queued writer cannot take
/// the lock first), and the waiting reader joins it.
#[test]
fn reader_preference_a_waiting_reader_joins_a_downgrade_before_the_queued_writer() {
    let lock = Arc::new(ReaderWriterLock::with_preference(Preference::Reader));
    let write = lock.write().unwrap();
    let (reader, read_taken) = reader_that_says_when_it_reads(&lock);
    wait_until("the reader waits", || lock.waiting_readers() == 1);
    let inner = Arc::clone(&lock);
    let writer = spawn(move || inner.write().map(drop).is_ok());
    wait_until("the writer waits", || lock.has_pending_writers());
    let read = lock.read().unwrap();
    drop(write);
    read_taken
        .recv_timeout(Duration::from_secs(2))
        .expect("the reader joins the downgraded holder within 2 s");
    reader.value();
    assert!(lock.has_pending_writers());
    drop(read);
    assert!(writer.value());
}

#[test]
fn writers_are_served_in_arrival_order() {
    const WRITERS: usize = 4;
    let lock = Arc::new(ReaderWriterLock::new());
    let order = Arc::new(Mutex::new(Vec::new()));
    let hold = lock.write().unwrap();
    let mut writers = Vec::new();
    for n in 0..WRITERS {
        let (l, o) = (Arc::clone(&lock), Arc::clone(&order));
        writers.push(spawn(move || {
            let _w = l.write().unwrap();
            o.lock().unwrap().push(n);
        }));
        // Writer `n` must be queued before writer `n + 1` arrives.
        queued_writers_settle(&lock, n + 1);
    }
    drop(hold);
    for writer in writers {
        writer.value();
    }
    assert_eq!(*order.lock().unwrap(), (0..WRITERS).collect::<Vec<_>>());
}

/// Waits until `expected` writers are queued on `lock`, as its `Debug`
/// snapshot shows.
fn queued_writers_settle(lock: &ReaderWriterLock, expected: usize) {
    wait_until("the writers queue", || {
        format!("{lock:?}").contains(&format!("waiting_writers: {expected}"))
    });
}

#[test]
fn timed_write_times_out_on_time() {
    let lock = Arc::new(ReaderWriterLock::new());
    let read = lock.read().unwrap();
    let inner = Arc::clone(&lock);
    let timeout = Duration::from_millis(100);
    let (kind, waited, accepted) = spawn(move || {
        let began = Instant::now();
        let kind = inner.try_write_for(timeout).map(drop).unwrap_err().kind();
        let waited = began.elapsed();
        let accepted = inner.acquire_write_lock(true, Some(timeout)).unwrap();
        (kind, waited, accepted)
    })
    .value();
    assert_eq!(kind, ErrorKind::TimedOut);
    assert!(waited >= timeout, "gave up early: {waited:?}");
    assert!(
        waited < timeout + Duration::from_secs(5),
        "late: {waited:?}"
    );
    assert!(!accepted);
    // The writer that gave up left the queue.
    assert!(!lock.has_pending_writers());
    drop(read);
}

#[test]
fn timed_read_times_out_on_time() {
    let lock = Arc::new(ReaderWriterLock::new());
    let write = lock.write().unwrap();
    let inner = Arc::clone(&lock);
    let timeout = Duration::from_millis(100);
    let (err, waited, accepted) = spawn(move || {
        let began = Instant::now();
        let err = inner.try_read_for(timeout).map(drop).unwrap_err();
        let waited = began.elapsed();
        (
            err,
            waited,
            inner.acquire_read_lock(true, Some(timeout)).unwrap(),
        )
    })
    .value();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(err.is_contention());
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(waited >= timeout, "gave up early: {waited:?}");
    assert!(
        waited < timeout + Duration::from_secs(5),
        "late: {waited:?}"
    );
    assert!(!accepted);
    drop(write);
}

#[test]
fn timed_write_succeeds_when_released_in_time() {
    let lock = Arc::new(ReaderWriterLock::new());
    let inner = Arc::clone(&lock);
    let (holding, held) = mpsc::channel();
    let holder = spawn(move || {
        let read = inner.read().unwrap();
        holding.send(()).unwrap();
        wait_until("the writer waits", || inner.has_pending_writers());
        drop(read);
    });
    held.recv_timeout(LIMIT).unwrap();
    let write = lock.try_write_for(LIMIT).unwrap();
    assert!(lock.is_writer());
    holder.value();
    drop(write);
}

#[test]
fn timed_read_succeeds_when_released_in_time() {
    let lock = Arc::new(ReaderWriterLock::new());
    let write = lock.write().unwrap();
    let inner = Arc::clone(&lock);
    let reader = spawn(move || {
        let got = inner.acquire_read_lock(true, Some(LIMIT)).unwrap();
        inner.release_read_lock().unwrap();
        (got, Instant::now())
    });
    wait_until("the timed reader waits", || lock.waiting_readers() == 1);
    let released = Instant::now();
    drop(write);
    let (got, at) = reader.value();
    assert!(got);
    let late = at.saturating_duration_since(released);
    assert!(
        late < WAKE_UP,
        "the reader got in {late:?} after the release"
    );
    assert_eq!(lock.waiting_readers(), 0);
}

/// Regression: a writer that times out must wake the readers it held back
/// (writers first), or they sleep on until their own timeout.
#[test]
fn writer_giving_up_lets_held_back_readers_in() {
    // Long enough for the reader to queue behind the writer first.
    const WRITER_TIMEOUT: Duration = Duration::from_secs(2);
    let lock = Arc::new(ReaderWriterLock::new());
    let read = lock.read().unwrap();
    let inner = Arc::clone(&lock);
    let writer = spawn(move || {
        let kind = inner
            .try_write_for(WRITER_TIMEOUT)
            .map(drop)
            .unwrap_err()
            .kind();
        (kind, Instant::now())
    });
    wait_until("the writer waits", || lock.has_pending_writers());
    let inner = Arc::clone(&lock);
    let reader = spawn(move || {
        // Held back by the waiting writer until it gives up; far longer
        // than the bound below, so only a wake-up lets it in in time.
        let _r = inner.try_read_for(Duration::from_secs(10)).unwrap();
        Instant::now()
    });
    wait_until("the reader is held back", || lock.waiting_readers() == 1);
    assert!(
        lock.has_pending_writers(),
        "the writer gave up before the reader queued: the test proves nothing"
    );
    let (kind, gave_up) = writer.value();
    assert_eq!(kind, ErrorKind::TimedOut);
    let got_in = reader.value();
    let late = got_in.saturating_duration_since(gave_up);
    assert!(
        late < WAKE_UP,
        "the reader got in {late:?} after the writer gave up"
    );
    drop(read);
    assert!(!lock.has_pending_writers());
    assert_eq!(lock.waiting_readers(), 0);
}

#[test]
fn zero_timeout_is_a_single_attempt() {
    let lock = Arc::new(ReaderWriterLock::new());
    assert!(lock.try_read_for(Duration::ZERO).is_ok());
    assert!(lock.try_write_for(Duration::ZERO).is_ok());
    let huge = lock.try_write_for(Duration::MAX).unwrap();
    // Contended: one look, no waiting, and nothing left queued.
    let inner = Arc::clone(&lock);
    let (read, write, waited) = spawn(move || {
        let began = Instant::now();
        let read = inner.try_read_for(Duration::ZERO).map(drop).unwrap_err();
        let write = inner.try_write_for(Duration::ZERO).map(drop).unwrap_err();
        (read.kind(), write.kind(), began.elapsed())
    })
    .value();
    assert_eq!((read, write), (ErrorKind::TimedOut, ErrorKind::TimedOut));
    assert!(waited < WAKE_UP, "two zero timeouts took {waited:?}");
    assert!(!lock.has_pending_writers());
    assert_eq!(lock.waiting_readers(), 0);
    drop(huge);
    // Nothing was left behind that would hold a later reader back.
    assert!(lock.try_read().is_ok());
}

#[test]
fn non_blocking_attempts_report_would_block() {
    let lock = Arc::new(ReaderWriterLock::new());
    let write = lock.write().unwrap();
    let inner = Arc::clone(&lock);
    let (read_kind, write_kind, python) = spawn(move || {
        (
            inner.try_read().map(drop).unwrap_err().kind(),
            inner.try_write().map(drop).unwrap_err().kind(),
            (
                inner.acquire_read_lock(false, None).unwrap(),
                inner.acquire_write_lock(false, Some(LIMIT)).unwrap(),
            ),
        )
    })
    .value();
    assert_eq!(read_kind, ErrorKind::WouldBlock);
    assert_eq!(write_kind, ErrorKind::WouldBlock);
    assert_eq!(python, (false, false));
    drop(write);
}

#[test]
fn introspection_reports_the_caller_and_the_lock() {
    let lock = Arc::new(ReaderWriterLock::new());
    assert_eq!(lock.owner(), None);
    assert!(!lock.is_reader() && !lock.is_writer() && !lock.is_writer_or_pending());
    let write = lock.write().unwrap();
    assert_eq!(lock.owner(), Some(Owner::Writer));
    assert!(lock.is_writer_or_pending());
    // The caller's state: another thread holds nothing.
    let inner = Arc::clone(&lock);
    let other = spawn(move || (inner.owner(), inner.is_writer(), inner.is_reader())).value();
    assert_eq!(other, (None, false, false));
    drop(write);
    let text = format!("{lock:?}");
    assert!(text.contains("ReaderWriterLock"), "{text}");
}

/// A reader that gives up waiting leaves the others' wake-up in place: the
/// reader still queued gets in when the writer releases.
#[test]
fn a_timed_out_reader_leaves_the_other_waiting_reader_its_wake_up() {
    let lock = Arc::new(ReaderWriterLock::new());
    let write = lock.write().unwrap();
    let (patient, read_taken) = reader_that_says_when_it_reads(&lock);
    wait_until("the patient reader waits", || lock.waiting_readers() == 1);
    let inner = Arc::clone(&lock);
    let impatient = spawn(move || {
        inner
            .try_read_for(Duration::from_millis(100))
            .map(drop)
            .unwrap_err()
            .kind()
    });
    wait_until("both readers wait", || lock.waiting_readers() == 2);
    assert_eq!(impatient.value(), ErrorKind::TimedOut);
    assert_eq!(lock.waiting_readers(), 1);
    drop(write);
    read_taken
        .recv_timeout(Duration::from_secs(2))
        .expect("the patient reader gets in within 2 s of the release");
    patient.value();
}

/// A thread that reads two locks at once holds an entry on each, and gives
/// each back to its own lock.
#[test]
fn a_thread_reads_two_locks_at_once() {
    let (a, b) = (ReaderWriterLock::new(), ReaderWriterLock::new());
    let read_a = a.read().unwrap();
    let read_b = b.read().unwrap();
    assert!(a.is_reader() && b.is_reader());
    drop(read_a);
    assert!(!a.is_reader() && b.is_reader());
    drop(read_b);
    assert!(!b.is_reader());
    thread::scope(|s| {
        s.spawn(|| {
            assert!(a.try_write().is_ok(), "a is free");
            assert!(b.try_write().is_ok(), "b is free");
        });
    });
}

/// Six locks: read all at once, the first takes a thread's favourite slot,
/// the next four its inline slots, and the last goes past them.
fn more_locks_than_the_inline_slots() -> Vec<ReaderWriterLock> {
    (0..6).map(|_| ReaderWriterLock::new()).collect()
}

/// A thread that has read more locks at once than its inline slots hold,
/// then given back all but the last: taking that last one again is still a
/// re-entrant read, served at once although a writer is queued on it.
#[test]
fn a_read_taken_again_on_a_lock_kept_past_the_inline_slots_does_not_queue() {
    let locks = more_locks_than_the_inline_slots();
    let mut reads: Vec<_> = locks.iter().map(|lock| lock.read().unwrap()).collect();
    let last = &locks[5];
    thread::scope(|s| {
        let writer = s.spawn(|| last.write().map(drop));
        wait_until("the writer waits", || last.has_pending_writers());
        let kept = reads.pop().unwrap();
        drop(reads);
        let again = last.try_read();
        assert!(again.is_ok(), "{:?}", again.err());
        drop((again, kept));
        join(writer, "the writer").unwrap();
    });
}

/// A lock kept past the inline slots, read again once a slot is free, is
/// still counted in one place: once all its entries are given back, the
/// thread no longer reads it.
#[test]
fn a_lock_kept_past_the_inline_slots_and_read_again_is_given_back_whole() {
    let locks = more_locks_than_the_inline_slots();
    let mut reads: Vec<_> = locks.iter().map(|lock| lock.read().unwrap()).collect();
    // Frees the second lock's inline slot.
    drop(reads.remove(1));
    drop(locks[5].read().unwrap());
    drop(reads);
    for (i, lock) in locks.iter().enumerate() {
        assert!(!lock.is_reader(), "the thread still reads lock {i}");
    }
}

#[test]
fn a_lock_says_which_side_it_prefers() {
    assert_eq!(ReaderWriterLock::new().preference(), Preference::Writer);
    for preference in [Preference::Reader, Preference::Writer] {
        assert_eq!(
            ReaderWriterLock::with_preference(preference).preference(),
            preference
        );
    }
}

/// `Debug` shows who holds the lock: how many threads read, whether one
/// writes (a writer that also reads counts as reading too).
#[test]
fn debug_shows_the_holders() {
    let lock = Arc::new(ReaderWriterLock::new());
    let shows = |what: &str| {
        let text = format!("{lock:?}");
        assert!(text.contains(what), "{what} not in {text}");
    };
    shows("reading_threads: 0, writing: false");
    let first = lock.read().unwrap();
    let inner = Arc::clone(&lock);
    let (reading, read_taken) = mpsc::channel();
    let (done, may_go) = mpsc::channel::<()>();
    let second = spawn(move || {
        let _r = inner.read().unwrap();
        reading.send(()).unwrap();
        may_go.recv_timeout(LIMIT).unwrap();
    });
    read_taken.recv_timeout(LIMIT).unwrap();
    shows("reading_threads: 2, writing: false");
    done.send(()).unwrap();
    second.value();
    drop(first);
    let write = lock.write().unwrap();
    shows("reading_threads: 0, writing: true");
    let read = lock.read().unwrap();
    shows("reading_threads: 1, writing: true");
    drop((read, write));
    shows("reading_threads: 0, writing: false");
}

/// Entries belong to threads, and a thread's identity is never reused: a
/// thread that ends while holding entries taken by hand leaves the lock
/// held (as in Python), and no later thread can pass for it.
#[test]
fn entries_of_an_ended_thread_stay_with_it() {
    for side in ["read", "write"] {
        let lock = Arc::new(ReaderWriterLock::new());
        let inner = Arc::clone(&lock);
        spawn(move || match side {
            "read" => assert!(inner.acquire_read_lock(true, None).unwrap()),
            _ => assert!(inner.acquire_write_lock(true, None).unwrap()),
        })
        .value();
        for _ in 0..4 {
            let inner = Arc::clone(&lock);
            let (owner, release_read, release_write, write) = spawn(move || {
                (
                    inner.owner(),
                    inner.release_read_lock().unwrap_err().kind(),
                    inner.release_write_lock().unwrap_err().kind(),
                    inner.try_write().map(drop).unwrap_err().kind(),
                )
            })
            .value();
            assert_eq!(owner, None, "{side}");
            assert_eq!(release_read, ErrorKind::NotHeld, "{side}");
            assert_eq!(release_write, ErrorKind::NotHeld, "{side}");
            assert_eq!(write, ErrorKind::WouldBlock, "{side}");
        }
    }
}

#[test]
fn a_static_lock_works() {
    static LOCK: ReaderWriterLock = ReaderWriterLock::new();
    let _r = LOCK.read().unwrap();
    assert!(LOCK.is_reader());
    assert!(spawn(|| LOCK.try_read().is_ok()).value());
}

#[test]
fn a_moved_lock_keeps_the_callers_entries() {
    let lock = ReaderWriterLock::new();
    assert!(lock.acquire_read_lock(true, None).unwrap());
    let moved = Box::new(lock);
    assert!(moved.is_reader());
    moved.release_read_lock().unwrap();
    // A new lock (possibly at the same address) inherits nothing.
    drop(moved);
    let fresh = ReaderWriterLock::new();
    assert!(!fresh.is_reader());
}

/// The lock through the traits the attribute macros use.
fn exercise_traits<L: SharedTimedLockable>(lock: &L) {
    {
        let _w = lock.lock().unwrap();
    }
    {
        let _w = lock.try_lock_for(Duration::from_millis(10)).unwrap();
    }
    let _r1 = lock.lock_shared().unwrap();
    let _r2 = lock.try_lock_shared().unwrap();
    let _r3 = lock.try_lock_shared_for(Duration::from_millis(10)).unwrap();
}

#[test]
fn lock_traits() {
    let lock = ReaderWriterLock::new();
    exercise_traits(&lock);
    exercise_traits(&Arc::new(ReaderWriterLock::new()));
    let _r = SharedLockable::lock_shared(&lock).unwrap();
    assert_eq!(
        Lockable::try_lock(&lock).map(drop).unwrap_err().kind(),
        ErrorKind::WouldDeadlock
    );
    assert_eq!(
        TimedLockable::try_lock_for(&lock, Duration::ZERO)
            .map(drop)
            .unwrap_err()
            .kind(),
        ErrorKind::WouldDeadlock
    );
}
