//! Timed and async waits that give up leave nothing behind: no thread, no
//! descriptor, no request queued in the kernel, whether or not the holder in
//! another process ever releases; and a timed waiter waits in the kernel
//! itself, so a later waiter elsewhere is served straight from the release.
#![cfg(target_os = "linux")]

mod process_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock, Mechanism};
use process_common::{
    crate_threads, crate_threads_gone, current_thread_runtime, inode, mechanisms, one_at_a_time,
    only_the_timer, open_descriptors, queued_in_kernel, threads, watchdog, within, Helper, TempDir,
    STEP,
};

/// How soon everything a wait used must be gone once it has given up (the
/// design needs about 10 ms: the background waiter lingers that long; the
/// bound leaves room for a loaded machine).
const GONE: Duration = Duration::from_millis(500);

/// Another process holding `count` lock files `<dir>/<i>.lock` exclusively.
fn hold_many(mechanism: Mechanism, dir: &Path, count: usize) -> (Helper, Vec<PathBuf>, Vec<u64>) {
    let mut holder = Helper::start("hold-many", mechanism, dir, &["ex", &count.to_string()]);
    holder.expect("locked");
    let paths: Vec<PathBuf> = (0..count).map(|i| dir.join(format!("{i}.lock"))).collect();
    let inodes = paths.iter().map(|path| inode(path)).collect();
    (holder, paths, inodes)
}

/// What this process uses, to compare with after the waits.
struct Baseline {
    descriptors: usize,
    /// Threads that are not the crate's.
    other_threads: usize,
}

impl Baseline {
    /// Taken once the crate's threads of earlier waits have gone.
    fn now() -> Baseline {
        crate_threads_gone();
        Baseline {
            descriptors: open_descriptors(),
            other_threads: threads() - crate_threads().len(),
        }
    }

    /// Back to the baseline: the same descriptors and threads, the process
    /// timer as the only thread of the crate, nothing queued for `inodes`.
    fn restored(&self, inodes: &[u64]) -> bool {
        let crate_threads = crate_threads();
        open_descriptors() == self.descriptors
            && threads() - crate_threads.len() == self.other_threads
            && only_the_timer(&crate_threads)
            && queued_in_kernel(inodes) == 0
    }

    /// Fails unless the process is back to the baseline within [`GONE`].
    fn assert_restored(&self, mechanism: Mechanism, inodes: &[u64]) {
        assert!(
            within(GONE, || self.restored(inodes)),
            "{mechanism:?}: {}",
            self.describe(inodes)
        );
    }

    fn describe(&self, inodes: &[u64]) -> String {
        format!(
            "descriptors {} (baseline {}), threads {} of which the crate's {:?} (others at baseline {}), queued {}",
            open_descriptors(),
            self.descriptors,
            threads(),
            crate_threads(),
            self.other_threads,
            queued_in_kernel(inodes)
        )
    }
}

#[test]
fn sequential_timed_waits_on_contended_files_leave_nothing_behind() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "sequential_timed_waits_on_contended_files_leave_nothing_behind",
        Duration::from_secs(120),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("sequential-timed");
        let (holder, paths, inodes) = hold_many(mechanism, dir.path(), 2000);
        let baseline = Baseline::now();
        for path in &paths {
            let err = InterProcessLock::with_mechanism(path, mechanism)
                .try_lock_for(Duration::from_millis(1))
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        }
        // The holder still holds every file.
        baseline.assert_restored(mechanism, &inodes);
        holder.release_and_finish();
    }
}

#[test]
fn concurrent_timed_waiters_leave_nothing_behind() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "concurrent_timed_waiters_leave_nothing_behind",
        Duration::from_secs(120),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("concurrent-timed");
        let (holder, paths, inodes) = hold_many(mechanism, dir.path(), 200);
        let baseline = Baseline::now();
        std::thread::scope(|s| {
            let waiters: Vec<_> = paths
                .iter()
                .map(|path| {
                    s.spawn(move || {
                        // Long enough for all 200 to be queued at once on a
                        // loaded 2-core machine before the first gives up.
                        InterProcessLock::with_mechanism(path, mechanism)
                            .try_lock_for(Duration::from_secs(6))
                            .map(drop)
                    })
                })
                .collect();
            // Each waiter waits in the kernel itself: 200 queued requests and
            // no background waiter thread.
            assert!(
                within(STEP, || queued_in_kernel(&inodes) == 200),
                "{}",
                baseline.describe(&inodes)
            );
            assert!(only_the_timer(&crate_threads()), "{:?}", crate_threads());
            for waiter in waiters {
                let err = waiter.join().unwrap().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TimedOut);
            }
        });
        baseline.assert_restored(mechanism, &inodes);
        holder.release_and_finish();
    }
}

#[test]
fn abandoned_async_waits_leave_nothing_behind() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "abandoned_async_waits_leave_nothing_behind",
        Duration::from_secs(120),
    );
    let runtime = current_thread_runtime();
    for mechanism in mechanisms() {
        let dir = TempDir::new("abandoned-async");
        let (holder, paths, inodes) = hold_many(mechanism, dir.path(), 100);
        let baseline = Baseline::now();
        runtime.block_on(async {
            // 1,000 timed waits, ten at a time on each file.
            let locks: Vec<_> = paths
                .iter()
                .map(|path| std::sync::Arc::new(InterProcessLock::with_mechanism(path, mechanism)))
                .collect();
            let tasks: Vec<_> = (0..1000)
                .map(|i| {
                    let lock = std::sync::Arc::clone(&locks[i % locks.len()]);
                    tokio::spawn(async move {
                        lock.lock_async_for(Duration::from_millis(10))
                            .await
                            .map(drop)
                    })
                })
                .collect();
            for task in tasks {
                let err = task.await.unwrap().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TimedOut);
            }
            // And waits without a timeout, dropped by the caller.
            for lock in &locks {
                let waited =
                    tokio::time::timeout(Duration::from_millis(5), lock.lock_async()).await;
                assert!(waited.is_err(), "granted while held elsewhere");
            }
            drop(locks);
        });
        baseline.assert_restored(mechanism, &inodes);
        holder.release_and_finish();
    }
}

#[test]
fn after_a_timed_out_waiter_the_next_waiter_elsewhere_is_served_from_the_release() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "after_a_timed_out_waiter_the_next_waiter_elsewhere_is_served_from_the_release",
        Duration::from_secs(120),
    );
    for mechanism in mechanisms() {
        for kind in ["ex", "write"] {
            let dir = TempDir::new("served-next");
            let path = dir.join("a.lock");
            let mut holder = Helper::start("hold", mechanism, &path, &[kind]);
            holder.expect("locked");
            let inodes = [inode(&path)];
            std::thread::scope(|s| {
                let timed = s.spawn(|| {
                    let timeout = Duration::from_millis(300);
                    match kind {
                        "ex" => InterProcessLock::with_mechanism(&path, mechanism)
                            .try_lock_for(timeout)
                            .map(drop),
                        _ => InterProcessReaderWriterLock::with_mechanism(&path, mechanism)
                            .try_write_for(timeout)
                            .map(drop),
                    }
                });
                // This process's timed waiter is queued in the kernel first...
                assert!(within(STEP, || queued_in_kernel(&inodes) == 1));
                // ...then a blocking waiter in a third process.
                let mut next = Helper::start("hold", mechanism, &path, &[kind]);
                assert!(within(STEP, || queued_in_kernel(&inodes) == 2));
                let err = timed.join().unwrap().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TimedOut);
                // Giving up took the timed waiter's request out of the queue:
                // only the third process's is left, so it gets the lock
                // straight from the release, with no detour through us.
                assert_eq!(queued_in_kernel(&inodes), 1);
                holder.send("release");
                holder.expect("released");
                next.expect("locked");
                assert_eq!(queued_in_kernel(&inodes), 0);
                next.release_and_finish();
            });
            assert!(holder.finish().success());
            assert!(
                only_the_timer(&crate_threads()),
                "{mechanism:?}: {:?}",
                crate_threads()
            );
        }
    }
}

#[test]
fn a_timed_waiter_is_granted_by_the_release_and_gives_up_on_time() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "a_timed_waiter_is_granted_by_the_release_and_gives_up_on_time",
        Duration::from_secs(120),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("timed-grant");
        let path = dir.join("a.lock");
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let inodes = [inode(&path)];
        // Given up at the deadline, not much later.
        let start = Instant::now();
        let err = InterProcessLock::with_mechanism(&path, mechanism)
            .try_lock_for(Duration::from_millis(100))
            .unwrap_err();
        let waited = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(
            waited >= Duration::from_millis(100) && waited < Duration::from_millis(600),
            "{waited:?}"
        );
        // Granted by the release, long before the deadline.
        let mut waiter = Helper::start("wait-for", mechanism, &path, &["ex", "60000"]);
        assert!(within(STEP, || queued_in_kernel(&inodes) == 1));
        holder.send("release");
        holder.expect("released");
        waiter.expect("got");
        waiter.release_and_finish();
        assert!(holder.finish().success());
    }
}
