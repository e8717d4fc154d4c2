//! `InterProcessLock`: exclusion between threads and real processes, for
//! every mechanism; re-acquiring, releasing what is not held, timeouts.

mod process_common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use fasteners::{ErrorKind, InterProcessLock, Lockable, Mechanism, TimedLockable};
use process_common::{mechanisms, try_elsewhere, Helper, TempDir, STEP};

#[test]
fn same_thread_reacquire_would_deadlock_in_every_mode() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("reacquire");
        let lock = InterProcessLock::with_mechanism(dir.join("a.lock"), mechanism);
        let other_object = InterProcessLock::with_mechanism(dir.join("a.lock"), mechanism);
        let guard = lock.lock().unwrap();
        for l in [&lock, &other_object] {
            assert_eq!(l.lock().unwrap_err().kind(), ErrorKind::WouldDeadlock);
            assert_eq!(l.try_lock().unwrap_err().kind(), ErrorKind::WouldDeadlock);
            let err = l.try_lock_for(Duration::from_secs(60)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
            assert_eq!(
                l.acquire(true, None).unwrap_err().kind(),
                ErrorKind::WouldDeadlock
            );
        }
        guard.release().unwrap();
        // Still usable afterwards.
        drop(other_object.try_lock().unwrap());
    }
}

#[test]
fn release_not_held_is_an_error() {
    let dir = TempDir::new("notheld");
    let lock = InterProcessLock::new(dir.join("a.lock"));
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotHeld);
    assert!(lock.acquire(false, None).unwrap());
    // Another thread did not acquire it.
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotHeld));
    });
    lock.release().unwrap();
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotHeld);
    // Held through a guard is not held through `acquire`.
    let _guard = lock.lock().unwrap();
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotHeld);
}

#[test]
fn python_style_acquire_reports_contention_as_false() {
    let dir = TempDir::new("acquire");
    let path = dir.join("a.lock");
    let lock = InterProcessLock::new(&path);
    assert!(lock.acquire(true, Some(Duration::from_millis(10))).unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            let other = InterProcessLock::new(&path);
            assert!(!other.acquire(false, None).unwrap());
            let start = Instant::now();
            assert!(!other
                .acquire(true, Some(Duration::from_millis(30)))
                .unwrap());
            assert!(start.elapsed() >= Duration::from_millis(30));
        });
    });
    lock.release().unwrap();
}

#[test]
fn threads_with_their_own_objects_exclude_each_other() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("threads-own");
        let path = dir.join("a.lock");
        let inside = AtomicUsize::new(0);
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..8 {
                let (path, inside, total) = (&path, &inside, &total);
                s.spawn(move || {
                    let lock = InterProcessLock::with_mechanism(path, mechanism);
                    for i in 0..200 {
                        let guard = match (t + i) % 3 {
                            0 => lock.lock().unwrap(),
                            1 => lock.try_lock_for(STEP).unwrap(),
                            _ => loop {
                                match lock.try_lock() {
                                    Ok(guard) => break guard,
                                    Err(err) => assert_eq!(err.kind(), ErrorKind::WouldBlock),
                                }
                                std::thread::yield_now();
                            },
                        };
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two inside");
                        std::thread::yield_now();
                        let seen = total.load(Ordering::Relaxed);
                        total.store(seen + 1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        guard.release().unwrap();
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::SeqCst), 8 * 200);
    }
}

#[test]
fn threads_sharing_one_object_exclude_each_other() {
    let dir = TempDir::new("threads-shared");
    let lock = Arc::new(InterProcessLock::new(dir.join("a.lock")));
    let inside = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (lock, inside) = (Arc::clone(&lock), Arc::clone(&inside));
            std::thread::spawn(move || {
                for _ in 0..200 {
                    // Through the trait, as the macros use it.
                    let _guard = Lockable::lock(&lock).unwrap();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    std::thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert!(fasteners::try_lock(&*lock).unwrap().is_some());
}

/// Python's test_lock_ports: the parent holds the lock, 10 children try and
/// all fail; after release, they all succeed.
#[test]
fn children_fail_while_parent_holds_then_succeed() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("parent-holds");
        let path = dir.join("a.lock");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        let guard = lock.lock().unwrap();
        let mut children: Vec<_> = (0..10)
            .map(|_| Helper::start("try", mechanism, &path, &["ex"]))
            .collect();
        for child in &mut children {
            child.expect("busy");
        }
        for child in children {
            assert!(child.finish().success());
        }
        guard.release().unwrap();
        // One after the other, or they would exclude each other.
        for _ in 0..10 {
            assert_eq!(try_elsewhere(mechanism, &path, "ex"), "got");
        }
    }
}

/// Checks a log of `+W pid` / `-W pid` lines: every section closes before
/// the next one opens. Returns the number of sections.
fn assert_sections_never_overlap(log: &str) -> usize {
    let mut open: Option<&str> = None;
    let mut sections = 0;
    for line in log.lines() {
        let (sign, who) = line.split_at(1);
        let who = who.trim_start_matches(['W', ' ']);
        match (sign, open) {
            ("+", None) => open = Some(who),
            ("-", Some(inside)) if inside == who => {
                open = None;
                sections += 1;
            }
            _ => panic!("overlap or broken log at {line:?} (inside: {open:?})"),
        }
    }
    assert_eq!(open, None);
    sections
}

/// Python's test_interprocess_lock, made strict: many processes, each inside
/// the lock checks that nobody else is (an independent non-blocking flock on
/// a shared sentinel file, and a log of entries and exits).
/// Starts `count` helper processes that each run `sections` exclusive
/// sections on `path`, logging them to `log`, and lets them go at once.
fn start_sections(
    count: usize,
    mechanism: Mechanism,
    path: &Path,
    log: &Path,
    sections: u32,
) -> Vec<Helper> {
    let (log, sections) = (log.to_str().unwrap(), sections.to_string());
    let mut children: Vec<_> = (0..count)
        .map(|seed| {
            let seed = seed.to_string();
            Helper::start("sections", mechanism, path, &["ex", log, &sections, &seed])
        })
        .collect();
    for child in &mut children {
        child.send("go");
    }
    children
}

#[test]
fn many_processes_never_overlap() {
    for mechanism in mechanisms() {
        for dir_exists in [true, false] {
            let dir = TempDir::new("many-procs");
            let path = if dir_exists {
                dir.join("a.lock")
            } else {
                dir.join("not/yet/there/a.lock")
            };
            let log = dir.join("sections.log");
            let mut children = start_sections(16, mechanism, &path, &log, 5);
            for child in &mut children {
                child.expect("done");
            }
            for child in children {
                assert!(child.finish().success());
            }
            let text = std::fs::read_to_string(&log).unwrap();
            assert_eq!(assert_sections_never_overlap(&text), 16 * 5);
        }
    }
}

/// A holder killed with SIGKILL, or exiting without releasing: the next
/// process gets the lock at once, including one already blocked waiting.
#[test]
fn dead_holder_releases_at_once() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("dead-holder");
        let path = dir.join("a.lock");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);

        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
        holder.kill();
        drop(lock.try_lock().expect("free right after SIGKILL"));

        let mut holder = Helper::start("exit-holding", mechanism, &path, &["ex"]);
        holder.expect("locked");
        assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
        holder.send("exit");
        assert!(holder.finish().success());
        drop(lock.try_lock().expect("free right after exit"));

        // A waiter blocked in the kernel gets it when the holder is killed.
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let (started, waiting) = mpsc::channel();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                started.send(()).unwrap();
                lock.lock().map(drop)
            });
            waiting.recv_timeout(STEP).unwrap();
            holder.kill();
            waiter.join().unwrap().unwrap();
        });
    }
}

/// Two processes x 8 threads, each thread with its own lock object, increment
/// one counter file: the total is exact.
#[test]
fn two_processes_times_eight_threads_count_exactly() {
    // `write`: the write side of an InterProcessReaderWriterLock.
    for (mechanism, kind) in mechanisms()
        .into_iter()
        .flat_map(|m| [(m, "ex"), (m, "write")])
    {
        let dir = TempDir::new("counter");
        let path = dir.join("a.lock");
        let counter = dir.join("counter");
        let counter_arg = counter.to_str().unwrap();
        let mut children: Vec<_> = (0..2)
            .map(|_| Helper::start("counter", mechanism, &path, &[kind, counter_arg, "8", "40"]))
            .collect();
        for child in &mut children {
            child.send("go");
        }
        for child in &mut children {
            child.expect("done");
        }
        for child in children {
            assert!(child.finish().success());
        }
        assert_eq!(
            std::fs::read_to_string(&counter).unwrap(),
            (2 * 8 * 40).to_string()
        );
    }
}

#[test]
fn timed_acquire_times_out_then_succeeds_after_release() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("timed");
        let path = dir.join("a.lock");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");

        let start = Instant::now();
        let err = lock.try_lock_for(Duration::from_millis(50)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(err.to_string().contains("a.lock"), "{err}");
        // A second timed-out attempt reuses the pending background wait.
        let err = lock.try_lock_for(Duration::from_millis(20)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);

        // Waiting with a timeout, the lock arrives when the holder releases.
        let (started, waiting) = mpsc::channel();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                started.send(()).unwrap();
                lock.try_lock_for(STEP).map(drop)
            });
            waiting.recv_timeout(STEP).unwrap();
            holder.send("release");
            holder.expect("released");
            waiter.join().unwrap().unwrap();
        });
        assert!(holder.finish().success());

        // Nothing in this process holds it any more: another process gets it.
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "got");
    }
}

/// When every timed waiter has given up, the background waiter releases the
/// lock as soon as it gets it: other processes are not locked out.
#[test]
fn abandoned_background_wait_releases_the_lock() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("abandoned");
        let path = dir.join("a.lock");
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        let err = lock.try_lock_for(Duration::from_millis(10)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        // `lock` stays alive (its descriptor open): only an explicit unlock
        // by the background waiter can free the lock for the others.
        // A second process queues behind the holder in the kernel too.
        let mut next = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.send("release");
        holder.expect("released");
        assert!(holder.finish().success());
        // Whoever of the background waiter and `next` gets it first, `next`
        // gets it without anyone in this process releasing by hand.
        next.expect("locked");
        assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
        next.send("release");
        next.expect("released");
        assert!(next.finish().success());
        // The background waiter may still be on its way out.
        drop(lock.try_lock_for(STEP).unwrap());
    }
}

#[test]
fn handoff_between_threads_of_one_process_and_other_processes() {
    // Threads of this process wait (blocking and timed) while a child holds.
    for mechanism in mechanisms() {
        let dir = TempDir::new("handoff");
        let path = dir.join("a.lock");
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let barrier = Barrier::new(5);
        let inside = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (path, barrier, inside) = (&path, &barrier, &inside);
                s.spawn(move || {
                    let lock = InterProcessLock::with_mechanism(path, mechanism);
                    barrier.wait();
                    let guard = if t % 2 == 0 {
                        lock.lock().unwrap()
                    } else {
                        lock.try_lock_for(STEP).unwrap()
                    };
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    std::thread::yield_now();
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                });
            }
            barrier.wait();
            holder.send("release");
            holder.expect("released");
        });
        assert!(holder.finish().success());
    }
}

#[test]
fn traits_and_default_mechanism() {
    let dir = TempDir::new("traits");
    let lock = InterProcessLock::new(dir.join("a.lock"));
    assert_eq!(lock.mechanism(), Mechanism::default());
    let guard = TimedLockable::try_lock_for(&lock, Duration::from_millis(1)).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| assert!(fasteners::try_lock(&lock).unwrap().is_none()));
    });
    drop(guard);
    assert!(format!("{lock:?}").contains("a.lock"));
}

#[test]
fn lock_objects_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<InterProcessLock>();
    send_sync::<fasteners::InterProcessReaderWriterLock>();
    send_sync::<fasteners::Error>();
}

/// Timed attempts with tiny timeouts race against grants from the kernel
/// (background waiters started, abandoned, reused, granted at the moment of
/// timeout) while other processes lock and unlock: exclusion holds and
/// nothing hangs.
#[test]
fn tiny_timeouts_racing_with_other_processes_keep_exclusion() {
    use std::io::Write;
    for mechanism in mechanisms() {
        let dir = TempDir::new("tiny-timeouts");
        let path = dir.join("a.lock");
        let log = dir.join("sections.log");
        let mut children = start_sections(2, mechanism, &path, &log, 150);
        let got = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (path, log, got) = (&path, &log, &got);
                s.spawn(move || {
                    let lock = InterProcessLock::with_mechanism(path, mechanism);
                    let mut file = std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(log)
                        .unwrap();
                    let who = format!("{}-t{t}", std::process::id());
                    for i in 0..150u64 {
                        let timeout = Duration::from_micros((i * 37 + t * 101) % 1500);
                        match lock.try_lock_for(timeout) {
                            Ok(guard) => {
                                file.write_all(format!("+{who}\n").as_bytes()).unwrap();
                                std::thread::yield_now();
                                file.write_all(format!("-{who}\n").as_bytes()).unwrap();
                                guard.release().unwrap();
                                got.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(err) => assert_eq!(err.kind(), ErrorKind::TimedOut),
                        }
                    }
                });
            }
        });
        for child in &mut children {
            child.expect("done");
        }
        for child in children {
            assert!(child.finish().success());
        }
        let text = std::fs::read_to_string(&log).unwrap();
        let sections = assert_sections_never_overlap(&text);
        eprintln!(
            "{mechanism:?}: this process got the lock {} times",
            got.load(Ordering::Relaxed)
        );
        assert_eq!(sections, 2 * 150 + got.load(Ordering::Relaxed));
    }
}
