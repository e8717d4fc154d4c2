//! An application that has a handler on every real-time signal leaves the
//! crate no wake-up signal: timed and async waits then poll, and still work
//! and leave nothing behind. (Its own test binary: it claims the signals
//! before any wait.)
#![cfg(target_os = "linux")]

mod process_common;

use std::sync::Once;
use std::time::{Duration, Instant};

use fasteners::{ErrorKind, InterProcessLock};
use process_common::{
    crate_threads, crate_threads_gone, current_thread_runtime, inode, mechanisms, only_the_timer,
    open_descriptors, queued_in_kernel, watchdog, within, Helper, TempDir, STEP,
};

extern "C" fn application_handler(_: libc::c_int) {}

fn claim_every_realtime_signal() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for signal in libc::SIGRTMIN()..=libc::SIGRTMAX() {
            // SAFETY: a zeroed sigaction is valid; the fields used are set.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction =
                application_handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            // SAFETY: `action` is initialised; the old action is not wanted.
            assert_eq!(
                unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) },
                0
            );
        }
    });
}

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    claim_every_realtime_signal();
    process_common::one_at_a_time()
}

#[test]
fn timed_waits_poll_without_a_free_signal_and_leave_nothing_behind() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "timed_waits_poll_without_a_free_signal_and_leave_nothing_behind",
        Duration::from_secs(120),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("fallback-timed");
        let path = dir.join("a.lock");
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let inodes = [inode(&path)];
        let descriptors = open_descriptors();
        let start = Instant::now();
        let err = InterProcessLock::with_mechanism(&path, mechanism)
            .try_lock_for(Duration::from_millis(100))
            .unwrap_err();
        let waited = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_millis(600));
        assert_eq!(fasteners::wait_signal(), None, "took a claimed signal");
        assert_eq!(queued_in_kernel(&inodes), 0);
        assert_eq!(open_descriptors(), descriptors);
        assert!(only_the_timer(&crate_threads()), "{:?}", crate_threads());

        // A polling waiter still gets the lock once it is released.
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                InterProcessLock::with_mechanism(&path, mechanism)
                    .try_lock_for(Duration::from_secs(30))
                    .map(drop)
            });
            // It polls: nothing of it is queued in the kernel.
            assert_eq!(queued_in_kernel(&inodes), 0);
            holder.send("release");
            holder.expect("released");
            waiter.join().unwrap().unwrap();
        });
        assert!(holder.finish().success());
    }
}

#[test]
fn async_waits_poll_without_a_free_signal_and_leave_nothing_behind() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "async_waits_poll_without_a_free_signal_and_leave_nothing_behind",
        Duration::from_secs(120),
    );
    let runtime = current_thread_runtime();
    for mechanism in mechanisms() {
        let dir = TempDir::new("fallback-async");
        let path = dir.join("a.lock");
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let inodes = [inode(&path)];
        // The background waiter of the previous mechanism's last wait may
        // still be on its way out, with its descriptor.
        crate_threads_gone();
        let descriptors = open_descriptors();
        runtime.block_on(async {
            let lock = InterProcessLock::with_mechanism(&path, mechanism);
            for _ in 0..20 {
                let err = lock
                    .lock_async_for(Duration::from_millis(10))
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TimedOut);
            }
            let dropped = tokio::time::timeout(Duration::from_millis(10), lock.lock_async()).await;
            assert!(dropped.is_err());
        });
        assert!(
            within(Duration::from_millis(200), || only_the_timer(
                &crate_threads()
            ) && open_descriptors()
                == descriptors
                && queued_in_kernel(&inodes) == 0),
            "{:?}, descriptors {} (were {descriptors})",
            crate_threads(),
            open_descriptors()
        );
        // And an async wait is served once the lock is released.
        runtime.block_on(async {
            let lock = InterProcessLock::with_mechanism(&path, mechanism);
            let wait = lock.lock_async_for(STEP);
            let release = async {
                holder.send("release");
                holder.expect("released");
            };
            let (guard, ()) = tokio::join!(wait, release);
            drop(guard.unwrap());
        });
        assert!(holder.finish().success());
    }
}
