//! `InterProcessReaderWriterLock`: readers share, a writer excludes everyone,
//! across threads and real processes, for every mechanism.

mod process_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fasteners::{
    ErrorKind, InterProcessLock, InterProcessReaderWriterLock, Mechanism, SharedLockable,
    SharedTimedLockable,
};
use process_common::{
    join, mechanisms, try_elsewhere, wait_for_kernel_waiters, wait_until, Helper, TempDir, STEP,
};

/// What a log of `+R pid`, `-R pid`, `+W pid`, `-W pid` lines shows.
#[derive(Debug, Default)]
struct Log {
    writes: usize,
    reads: usize,
    /// Entries that broke the rules: a writer that was not alone, a reader
    /// beside a writer.
    violations: usize,
    /// Sections never closed (a helper that found a violation stops inside).
    unclosed: usize,
}

/// Reads a log of sections: a writer should be alone inside, readers only
/// meet readers.
fn read_log(log: &str) -> Log {
    let mut readers: Vec<&str> = Vec::new();
    let mut writers: Vec<&str> = Vec::new();
    let mut seen = Log::default();
    for line in log.lines() {
        let (what, who) = line.split_at(2);
        match what {
            "+W" => {
                seen.violations += usize::from(!writers.is_empty() || !readers.is_empty());
                writers.push(who);
            }
            "+R" => {
                seen.violations += usize::from(!writers.is_empty());
                readers.push(who);
            }
            "-W" => {
                leave(&mut writers, who, line);
                seen.writes += 1;
            }
            "-R" => {
                leave(&mut readers, who, line);
                seen.reads += 1;
            }
            _ => panic!("bad log line {line:?}"),
        }
    }
    seen.unclosed = readers.len() + writers.len();
    seen
}

fn leave(inside: &mut Vec<&str>, who: &str, line: &str) {
    let index = inside
        .iter()
        .position(|w| *w == who)
        .unwrap_or_else(|| panic!("broken log at {line:?}: {who} was not inside"));
    inside.swap_remove(index);
}

/// Checks that the log breaks no rule; returns (writes, reads).
fn check_log(log: &str) -> (usize, usize) {
    let seen = read_log(log);
    assert_eq!(seen.violations, 0, "exclusion broken: {seen:?}");
    assert_eq!(seen.unclosed, 0, "sections left open: {seen:?}");
    (seen.writes, seen.reads)
}

/// Runs `processes` helpers of `count` sections each (with no lock at all
/// if `mechanism` is `None`); returns the log and how many helpers
/// reported a violation (the others having said `done`).
fn run_sections(
    mechanism: Option<Mechanism>,
    mix: &str,
    processes: usize,
    count: usize,
) -> (String, usize) {
    let dir = TempDir::new("rw-sections");
    let path = dir.join("rw.lock");
    let log = dir.join("sections.log");
    let log_arg = log.to_str().unwrap();
    let count_arg = count.to_string();
    let mut children: Vec<_> = (0..processes)
        .map(|seed| {
            let seed = (seed * 7919 + 17).to_string();
            let args = [mix, log_arg, &count_arg, &seed];
            match mechanism {
                Some(mechanism) => Helper::start("sections", mechanism, &path, &args),
                None => Helper::start_unlocked("sections", &path, &args),
            }
        })
        .collect();
    for child in &mut children {
        child.send("go");
    }
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
    (std::fs::read_to_string(&log).unwrap(), violations)
}

/// Python's test_multi_reader_and_writer / test_writer_*, made strict:
/// 20 processes x 10 write sections never overlap.
#[test]
fn twenty_processes_of_writers_never_overlap() {
    for mechanism in mechanisms() {
        let (log, violations) = run_sections(Some(mechanism), "write", 20, 10);
        assert_eq!(violations, 0);
        assert_eq!(check_log(&log), (200, 0));
    }
}

/// The same with a random mix of readers and writers: writers are alone,
/// readers only meet readers. (That readers do share is proven without
/// chance by [`readers_overlap_across_processes_and_threads`].)
#[test]
fn twenty_processes_of_readers_and_writers() {
    for mechanism in mechanisms() {
        let (log, violations) = run_sections(Some(mechanism), "mix", 20, 10);
        assert_eq!(violations, 0);
        let (writes, reads) = check_log(&log);
        assert_eq!(writes + reads, 200);
        assert!(
            writes > 0 && reads > 0,
            "the mix has both: {writes} writes, {reads} reads"
        );
    }
}

/// Control for the two tests above: the same processes with the helper's
/// no-lock mode break the rules, and the checks see it.
#[test]
fn control_sections_break_exclusion_without_the_lock() {
    for mix in ["write", "mix"] {
        let (log, violations) = run_sections(None, mix, 20, 10);
        let seen = read_log(&log);
        assert!(
            violations + seen.violations > 0,
            "{mix}: no violation seen without the lock: the test cannot see one either"
        );
    }
}

/// Readers in several processes and threads hold the lock at the same time,
/// while a writer cannot get it anywhere.
#[test]
fn readers_overlap_across_processes_and_threads() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("rw-overlap");
        let path = dir.join("rw.lock");
        let mut readers: Vec<_> = (0..4)
            .map(|_| Helper::start("hold", mechanism, &path, &["read"]))
            .collect();
        for reader in &mut readers {
            reader.expect("locked");
        }
        // All four hold the read lock now; this process's threads join them.
        let lock = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        let first = lock.try_read().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let second = lock.try_read_for(Duration::from_millis(1)).unwrap();
                assert_eq!(
                    lock.try_write().unwrap_err().kind(),
                    ErrorKind::WouldDeadlock
                );
                drop(second);
                assert_eq!(lock.try_write().unwrap_err().kind(), ErrorKind::WouldBlock);
            });
        });
        drop(first);
        assert_eq!(try_elsewhere(mechanism, &path, "write"), "busy");
        // An InterProcessLock on the same file is a writer too.
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "busy");
        for mut reader in readers {
            reader.send("release");
            reader.expect("released");
            assert!(reader.finish().success());
        }
        assert_eq!(try_elsewhere(mechanism, &path, "write"), "got");
    }
}

#[test]
fn writer_excludes_readers_everywhere() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("rw-writer");
        let path = dir.join("rw.lock");
        let lock = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        let writing = lock.write().unwrap();
        for kind in ["read", "write", "ex"] {
            assert_eq!(try_elsewhere(mechanism, &path, kind), "busy");
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                let other = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
                assert_eq!(other.try_read().unwrap_err().kind(), ErrorKind::WouldBlock);
                let err = other.try_read_for(Duration::from_millis(20)).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TimedOut);
                let ipl = InterProcessLock::with_mechanism(&path, mechanism);
                assert_eq!(ipl.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
            });
        });
        writing.release().unwrap();
        assert_eq!(try_elsewhere(mechanism, &path, "read"), "got");
    }
}

#[test]
fn same_thread_reacquire_would_deadlock_on_both_sides() {
    let dir = TempDir::new("rw-reacquire");
    let lock = InterProcessReaderWriterLock::new(dir.join("rw.lock"));
    for side in ["read", "write"] {
        let guard = if side == "read" {
            Ok(lock.read().unwrap())
        } else {
            Err(lock.write().unwrap())
        };
        let long = Duration::from_secs(60);
        let kinds = [
            lock.read().map(drop),
            lock.try_read().map(drop),
            lock.try_read_for(long).map(drop),
            lock.write().map(drop),
            lock.try_write().map(drop),
            lock.try_write_for(long).map(drop),
            lock.acquire_read_lock(true, None).map(drop),
            lock.acquire_write_lock(false, None).map(drop),
        ];
        for result in kinds {
            assert_eq!(
                result.unwrap_err().kind(),
                ErrorKind::WouldDeadlock,
                "{side}"
            );
        }
        drop(guard);
    }
}

#[test]
fn python_style_pairs_and_not_held() {
    let dir = TempDir::new("rw-mirror");
    let lock = InterProcessReaderWriterLock::new(dir.join("rw.lock"));
    assert_eq!(
        lock.release_read_lock().unwrap_err().kind(),
        ErrorKind::NotHeld
    );
    assert_eq!(
        lock.release_write_lock().unwrap_err().kind(),
        ErrorKind::NotHeld
    );
    assert!(lock.acquire_read_lock(true, Some(STEP)).unwrap());
    assert_eq!(
        lock.release_write_lock().unwrap_err().kind(),
        ErrorKind::NotHeld
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(!lock.acquire_write_lock(false, None).unwrap());
            assert!(lock.acquire_read_lock(false, None).unwrap());
            lock.release_read_lock().unwrap();
        });
    });
    lock.release_read_lock().unwrap();
    assert!(lock.acquire_write_lock(false, None).unwrap());
    lock.release_write_lock().unwrap();
    let _reading = lock.read_lock().unwrap();
}

#[test]
fn threads_read_together_and_write_alone() {
    const THREADS: usize = 6;
    for mechanism in mechanisms() {
        let dir = TempDir::new("rw-threads");
        let path = dir.join("rw.lock");
        let readers = AtomicUsize::new(0);
        let writers = AtomicUsize::new(0);
        let most_readers = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (path, readers, writers, most_readers) =
                        (&path, &readers, &writers, &most_readers);
                    s.spawn(move || {
                        let lock = InterProcessReaderWriterLock::with_mechanism(path, mechanism);
                        // First all of them read at once: each waits, holding
                        // the read side, until every other one holds it too.
                        {
                            let _r = lock.try_read_for(STEP).unwrap();
                            let now = readers.fetch_add(1, Ordering::SeqCst) + 1;
                            most_readers.fetch_max(now, Ordering::SeqCst);
                            wait_until("every thread reads", || {
                                most_readers.load(Ordering::SeqCst) == THREADS
                            });
                            readers.fetch_sub(1, Ordering::SeqCst);
                        }
                        for i in 0..150 {
                            if (t + i) % 4 == 0 {
                                let guard = if i % 2 == 0 {
                                    lock.write().unwrap()
                                } else {
                                    lock.try_write_for(STEP).unwrap()
                                };
                                assert_eq!(writers.fetch_add(1, Ordering::SeqCst), 0);
                                assert_eq!(readers.load(Ordering::SeqCst), 0);
                                std::thread::yield_now();
                                writers.fetch_sub(1, Ordering::SeqCst);
                                drop(guard);
                            } else {
                                let guard = if i % 2 == 0 {
                                    lock.lock_shared().unwrap()
                                } else {
                                    lock.try_lock_shared_for(STEP).unwrap()
                                };
                                readers.fetch_add(1, Ordering::SeqCst);
                                assert_eq!(writers.load(Ordering::SeqCst), 0);
                                std::thread::yield_now();
                                readers.fetch_sub(1, Ordering::SeqCst);
                                guard.release().unwrap();
                            }
                        }
                    })
                })
                .collect();
            for thread in threads {
                join(thread, "a reading and writing thread");
            }
        });
        assert_eq!(most_readers.load(Ordering::SeqCst), THREADS);
    }
}

/// A timed reader gives up while a child writes; its background wait is for
/// the shared side. A writer of this process then still gets the exclusive
/// side when the child releases (the shared grant is given back and the
/// exclusive one taken).
#[test]
fn pending_shared_wait_does_not_trap_a_writer() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("rw-mismatch");
        let path = dir.join("rw.lock");
        let lock = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        let mut holder = Helper::start("hold", mechanism, &path, &["write"]);
        holder.expect("locked");
        let (lock, path) = (&lock, &path);
        std::thread::scope(|s| {
            let reader = s.spawn(move || {
                let err = lock.try_read_for(Duration::from_millis(20)).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TimedOut);
            });
            join(reader, "the timed reader");
            let writer = s.spawn(move || {
                let guard = lock.try_write_for(STEP).unwrap();
                assert_eq!(try_elsewhere(mechanism, path, "read"), "busy");
                drop(guard);
            });
            // The writer is the one acquisition of this process under way (the
            // timed reader has left, and its kernel request with it), and its
            // own request waits in the kernel.
            wait_until("the writer waits", || lock.waiting_in_process() == 1);
            wait_for_kernel_waiters("a request of this process waits in the kernel", path, 1);
            assert!(
                !writer.is_finished(),
                "got a lock that a live process holds"
            );
            holder.send("release");
            holder.expect("released");
            join(writer, "the waiting writer");
        });
        assert!(holder.finish().success());
    }
}
