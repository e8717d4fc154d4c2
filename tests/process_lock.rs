//! `InterProcessLock`: exclusion between threads and real processes, for
//! every mechanism; re-acquiring, releasing what is not held, timeouts.

mod process_common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fasteners::{ErrorKind, InterProcessLock, Lockable, Mechanism, TimedLockable};
use process_common::{
    join, mechanisms, try_elsewhere, wait_for_kernel_waiters, wait_until, Helper, TempDir, STEP,
};

/// How soon a waiter must get the lock once the holder lets go (the kernel
/// hands it over at once; this is room for a loaded machine).
const HANDOVER: Duration = Duration::from_secs(2);

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
            let threads: Vec<_> = (0..8)
                .map(|t| {
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
                    })
                })
                .collect();
            for thread in threads {
                join(thread, "a locking thread");
            }
        });
        assert_eq!(total.load(Ordering::SeqCst), 8 * 200);
    }
}

/// Control for [`threads_with_their_own_objects_exclude_each_other`]: the
/// same threads with no lock are seen inside together.
#[test]
fn control_threads_overlap_without_the_lock() {
    let inside = AtomicUsize::new(0);
    let overlaps = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (inside, overlaps) = (&inside, &overlaps);
                s.spawn(move || {
                    for _ in 0..200 {
                        if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for thread in threads {
            join(thread, "an unlocked thread");
        }
    });
    assert!(
        overlaps.load(Ordering::SeqCst) > 0,
        "no overlap seen without the lock"
    );
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
        join(handle, "a locking thread");
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

/// What a log of `+W pid` / `-W pid` lines shows.
struct Sections {
    /// Sections opened and closed.
    closed: usize,
    /// Sections that opened while another was open.
    overlaps: usize,
    /// Sections never closed (a helper that found a violation stops inside).
    unclosed: usize,
}

/// Reads a log of `+W pid` / `-W pid` lines: every section should close
/// before the next one opens.
fn read_sections(log: &str) -> Sections {
    let mut open: Vec<&str> = Vec::new();
    let (mut sections, mut overlaps) = (0, 0);
    for line in log.lines() {
        let (sign, who) = line.split_at(1);
        let who = who.trim_start_matches(['W', ' ']);
        match sign {
            "+" => {
                overlaps += usize::from(!open.is_empty());
                open.push(who);
            }
            "-" => {
                let index = open
                    .iter()
                    .position(|inside| *inside == who)
                    .unwrap_or_else(|| panic!("broken log at {line:?}: {who} was not inside"));
                open.swap_remove(index);
                sections += 1;
            }
            _ => panic!("broken log line {line:?}"),
        }
    }
    Sections {
        closed: sections,
        overlaps,
        unclosed: open.len(),
    }
}

/// Checks that no section of the log overlaps another; returns their number.
fn assert_sections_never_overlap(log: &str) -> usize {
    let seen = read_sections(log);
    assert_eq!(
        seen.overlaps, 0,
        "{} sections overlapped another",
        seen.overlaps
    );
    assert_eq!(seen.unclosed, 0, "sections left open");
    seen.closed
}

/// Waits for each section-running child's last word and exit: how many
/// reported a violation (and failed), the others having said `done`.
fn violations_reported(children: Vec<Helper>) -> usize {
    let mut violations = 0;
    for mut child in children {
        let line = child.next_line();
        let status = child.finish();
        if line.starts_with("violation") {
            assert!(!status.success(), "a violation exits with failure");
            violations += 1;
        } else {
            assert_eq!(line, "done");
            assert!(status.success());
        }
    }
    violations
}

/// Starts `count` helper processes that each run `sections` exclusive
/// sections on `path` (with no lock at all if `mechanism` is `None`),
/// logging them to `log`, and lets them go at once.
fn start_sections(
    count: usize,
    mechanism: Option<Mechanism>,
    path: &Path,
    log: &Path,
    sections: u32,
) -> Vec<Helper> {
    let (log, sections) = (log.to_str().unwrap(), sections.to_string());
    let mut children: Vec<_> = (0..count)
        .map(|seed| {
            let seed = seed.to_string();
            let args = ["ex", log, &sections, &seed];
            match mechanism {
                Some(mechanism) => Helper::start("sections", mechanism, path, &args),
                None => Helper::start_unlocked("sections", path, &args),
            }
        })
        .collect();
    for child in &mut children {
        child.send("go");
    }
    children
}

/// Python's test_interprocess_lock, made strict: many processes, each inside
/// the lock checks that nobody else is (an independent non-blocking flock on
/// a shared sentinel file, and a log of entries and exits).
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
            let mut children = start_sections(16, Some(mechanism), &path, &log, 5);
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

/// Control for [`many_processes_never_overlap`]: the same processes and
/// checks with the helper's no-lock mode see sections overlap, so the test
/// above would see it too if the lock failed to exclude.
#[test]
fn control_many_processes_overlap_without_the_lock() {
    let dir = TempDir::new("many-procs-control");
    let log = dir.join("sections.log");
    let children = start_sections(16, None, &dir.join("a.lock"), &log, 5);
    let reported = violations_reported(children);
    let seen = read_sections(&std::fs::read_to_string(&log).unwrap());
    assert!(
        reported + seen.overlaps > 0,
        "no overlap seen without the lock: the exclusion test cannot see one either"
    );
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
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                lock.lock().map(drop).unwrap();
                Instant::now()
            });
            wait_for_kernel_waiters("the waiter is blocked in the kernel", &path, 1);
            assert!(
                !waiter.is_finished(),
                "got a lock that a live process holds"
            );
            holder.kill();
            let killed = Instant::now();
            let got = join(waiter, "the blocked waiter");
            assert!(
                got.duration_since(killed) < HANDOVER,
                "the waiter got the lock {:?} after the holder died",
                got.duration_since(killed)
            );
        });
    }
}

/// Starts two `counter` helpers (no lock at all if `mechanism` is `None`)
/// that each run 8 threads of 40 increments, and returns the final count.
fn count_in_two_processes(mechanism: Option<Mechanism>, kind: &str) -> u64 {
    let dir = TempDir::new("counter");
    let path = dir.join("a.lock");
    let counter = dir.join("counter");
    let args = [kind, counter.to_str().unwrap(), "8", "40"];
    let mut children: Vec<_> = (0..2)
        .map(|_| match mechanism {
            Some(mechanism) => Helper::start("counter", mechanism, &path, &args),
            None => Helper::start_unlocked("counter", &path, &args),
        })
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
    std::fs::read_to_string(&counter).unwrap().parse().unwrap()
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
        assert_eq!(
            count_in_two_processes(Some(mechanism), kind),
            2 * 8 * 40,
            "{mechanism:?} {kind}"
        );
    }
}

/// Control for [`two_processes_times_eight_threads_count_exactly`]: without
/// the lock, the same increments lose updates (or the counter file is read
/// half-written), so an exact count does prove exclusion.
#[test]
fn control_counting_without_the_lock_loses_increments() {
    let count = count_in_two_processes(None, "ex");
    assert!(
        count < 2 * 8 * 40,
        "no increment was lost without the lock: the counting test cannot see a violation"
    );
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

        holder.send("release");
        holder.expect("released");
        assert!(holder.finish().success());
        drop(lock.try_lock_for(STEP).unwrap());

        // Nothing in this process holds it any more: another process gets it.
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "got");
    }
}

/// A thread waiting with a timeout (checked to be blocked in the kernel)
/// gets the lock as soon as the holding process releases it.
#[test]
fn timed_waiter_gets_the_lock_when_the_holder_releases() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("timed-waiter");
        let path = dir.join("a.lock");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                lock.try_lock_for(STEP).map(drop).unwrap();
                Instant::now()
            });
            wait_for_kernel_waiters("the timed waiter is blocked in the kernel", &path, 1);
            assert!(
                !waiter.is_finished(),
                "got a lock that a live process holds"
            );
            holder.send("release");
            holder.expect("released");
            let released = Instant::now();
            let got = join(waiter, "the timed waiter");
            assert!(
                got.saturating_duration_since(released) < HANDOVER,
                "the waiter got the lock {:?} after the release",
                got.saturating_duration_since(released)
            );
        });
        assert!(holder.finish().success());
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
        // A second process queues behind the holder in the kernel.
        let mut next = Helper::start("hold", mechanism, &path, &["ex"]);
        wait_for_kernel_waiters("the second process is blocked in the kernel", &path, 1);
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        let err = lock.try_lock_for(Duration::from_millis(10)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        // `lock` stays alive (its descriptor open): only an explicit unlock
        // by the background waiter can free the lock for the others.
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
        let inside = AtomicUsize::new(0);
        let entered = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    let (path, inside, entered) = (&path, &inside, &entered);
                    s.spawn(move || {
                        let lock = InterProcessLock::with_mechanism(path, mechanism);
                        let guard = if t % 2 == 0 {
                            lock.lock().unwrap()
                        } else {
                            lock.try_lock_for(STEP).unwrap()
                        };
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        entered.fetch_add(1, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(guard);
                    })
                })
                .collect();
            // The threads of one process queue in the process; one of them
            // (or the process's background waiter) waits in the kernel.
            let watcher = InterProcessLock::with_mechanism(&path, mechanism);
            wait_until("all four threads wait", || {
                watcher.waiting_in_process() == 4
            });
            wait_for_kernel_waiters("a thread is blocked in the kernel", &path, 1);
            assert_eq!(entered.load(Ordering::SeqCst), 0, "entered while held");
            holder.send("release");
            holder.expect("released");
            for thread in threads {
                join(thread, "a waiting thread");
            }
        });
        assert_eq!(entered.load(Ordering::SeqCst), 4);
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
        let mut children = start_sections(2, Some(mechanism), &path, &log, 150);
        let got = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..4u64)
                .map(|t| {
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
                    })
                })
                .collect();
            for thread in threads {
                join(thread, "a thread with tiny timeouts");
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
