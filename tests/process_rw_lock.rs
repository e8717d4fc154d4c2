//! `InterProcessReaderWriterLock`: readers share, a writer excludes everyone,
//! across threads and real processes, for every mechanism.

mod process_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use fasteners::{
    ErrorKind, InterProcessLock, InterProcessReaderWriterLock, SharedLockable, SharedTimedLockable,
};
use process_common::{mechanisms, try_elsewhere, Helper, TempDir, STEP};

/// Checks a log of `+R pid`, `-R pid`, `+W pid`, `-W pid` lines: a writer is
/// alone inside, readers only meet readers. Returns (writes, reads, most
/// readers inside at once).
fn check_log(log: &str) -> (usize, usize, usize) {
    let mut readers: Vec<&str> = Vec::new();
    let mut writer: Option<&str> = None;
    let (mut writes, mut reads, mut most_readers) = (0, 0, 0);
    for line in log.lines() {
        match line.split_at(2) {
            ("+W", who) => {
                assert!(
                    writer.is_none() && readers.is_empty(),
                    "writer {who} entered: {line}"
                );
                writer = Some(who);
            }
            ("-W", who) => {
                assert_eq!(writer.take(), Some(who));
                writes += 1;
            }
            ("+R", who) => {
                assert!(writer.is_none(), "reader {who} entered during a write");
                readers.push(who);
                most_readers = most_readers.max(readers.len());
            }
            ("-R", who) => {
                let index = readers
                    .iter()
                    .position(|r| *r == who)
                    .expect("reader was inside");
                readers.swap_remove(index);
                reads += 1;
            }
            _ => panic!("bad log line {line:?}"),
        }
    }
    assert!(writer.is_none() && readers.is_empty());
    (writes, reads, most_readers)
}

fn run_sections(
    mechanism: fasteners::Mechanism,
    mix: &str,
    processes: usize,
    count: usize,
) -> String {
    let dir = TempDir::new("rw-sections");
    let path = dir.join("rw.lock");
    let log = dir.join("sections.log");
    let log_arg = log.to_str().unwrap();
    let count_arg = count.to_string();
    let mut children: Vec<_> = (0..processes)
        .map(|seed| {
            let seed = (seed * 7919 + 17).to_string();
            Helper::start(
                "sections",
                mechanism,
                &path,
                &[mix, log_arg, &count_arg, &seed],
            )
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
    std::fs::read_to_string(&log).unwrap()
}

/// Python's test_multi_reader_and_writer / test_writer_*, made strict:
/// 20 processes x 10 write sections never overlap.
#[test]
fn twenty_processes_of_writers_never_overlap() {
    for mechanism in mechanisms() {
        let log = run_sections(mechanism, "write", 20, 10);
        assert_eq!(check_log(&log), (200, 0, 0));
    }
}

/// The same with a random mix of readers and writers: writers are alone,
/// readers only meet readers.
#[test]
fn twenty_processes_of_readers_and_writers() {
    for mechanism in mechanisms() {
        let log = run_sections(mechanism, "mix", 20, 10);
        let (writes, reads, _) = check_log(&log);
        assert_eq!(writes + reads, 200);
        assert!(
            writes > 0 && reads > 0,
            "the mix has both: {writes} writes, {reads} reads"
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
    for mechanism in mechanisms() {
        let dir = TempDir::new("rw-threads");
        let path = dir.join("rw.lock");
        let readers = AtomicUsize::new(0);
        let writers = AtomicUsize::new(0);
        let most_readers = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..6 {
                let (path, readers, writers, most_readers) =
                    (&path, &readers, &writers, &most_readers);
                s.spawn(move || {
                    let lock = InterProcessReaderWriterLock::with_mechanism(path, mechanism);
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
                            let now = readers.fetch_add(1, Ordering::SeqCst) + 1;
                            most_readers.fetch_max(now, Ordering::SeqCst);
                            assert_eq!(writers.load(Ordering::SeqCst), 0);
                            std::thread::yield_now();
                            readers.fetch_sub(1, Ordering::SeqCst);
                            guard.release().unwrap();
                        }
                    }
                });
            }
        });
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
        let (started, waiting) = mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(move || {
                let err = lock.try_read_for(Duration::from_millis(20)).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TimedOut);
            })
            .join()
            .unwrap();
            let writer = s.spawn(move || {
                started.send(()).unwrap();
                let guard = lock.try_write_for(STEP).unwrap();
                assert_eq!(try_elsewhere(mechanism, path, "read"), "busy");
                drop(guard);
            });
            waiting.recv_timeout(STEP).unwrap();
            holder.send("release");
            holder.expect("released");
            writer.join().unwrap();
        });
        assert!(holder.finish().success());
    }
}
