//! Timed waits under the application's own signals: handlers with and
//! without `SA_RESTART` on other signals, and a stopped and continued
//! process, never end a wait early, never lose a grant, and never keep a
//! wait long past its timeout. (Its own test binary: it installs handlers.)
#![cfg(target_os = "linux")]

mod process_common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock};
use process_common::{
    inode, mechanisms, one_at_a_time, queued_in_kernel, watchdog, within, Helper, TempDir, STEP,
};

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// The application's handlers: SIGUSR1 with `SA_RESTART`, SIGUSR2 without.
fn install_application_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (signal, flags) in [(libc::SIGUSR1, libc::SA_RESTART), (libc::SIGUSR2, 0)] {
            // SAFETY: a zeroed sigaction is valid; the fields used are set.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = flags;
            // SAFETY: `action` is initialised; the old action is not wanted.
            assert_eq!(
                unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) },
                0
            );
        }
    });
}

/// Runs `wait` in a thread that a storm of SIGUSR1 and SIGUSR2 hits every
/// 100 µs until it returns; also returns how many signals it handled.
fn under_storm<T: Send>(wait: impl FnOnce() -> T + Send) -> (T, usize) {
    install_application_handlers();
    let done = AtomicBool::new(false);
    let before = HANDLED.load(Ordering::Relaxed);
    let done = &done;
    let result = std::thread::scope(|s| {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let waiter = s.spawn(move || {
            // SAFETY: always safe.
            tid_tx.send(unsafe { libc::pthread_self() }).unwrap();
            let result = wait();
            done.store(true, Ordering::Relaxed);
            result
        });
        let target = tid_rx.recv().unwrap();
        let mut sent = 0u64;
        while !done.load(Ordering::Relaxed) {
            let signal = if sent % 2 == 0 {
                libc::SIGUSR1
            } else {
                libc::SIGUSR2
            };
            // SAFETY: `target` runs until `done` is set, which is checked above;
            // the thread is joined only after the loop ends.
            unsafe { libc::pthread_kill(target, signal) };
            sent += 1;
            std::thread::sleep(Duration::from_micros(100));
        }
        waiter.join().unwrap()
    });
    (result, HANDLED.load(Ordering::Relaxed) - before)
}

#[test]
fn a_signal_storm_neither_ends_a_timed_wait_early_nor_keeps_it_late() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "a_signal_storm_neither_ends_a_timed_wait_early_nor_keeps_it_late",
        Duration::from_secs(120),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("storm-timeout");
        let path = dir.join("a.lock");
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let timeout = Duration::from_millis(300);
        let ((result, waited), handled) = under_storm(|| {
            let start = Instant::now();
            let result = InterProcessLock::with_mechanism(&path, mechanism)
                .try_lock_for(timeout)
                .map(drop);
            (result, start.elapsed())
        });
        assert!(
            handled > 20,
            "the storm did not reach the waiter ({handled})"
        );
        assert_eq!(result.unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(waited >= timeout, "ended early: {waited:?}");
        assert!(
            waited < timeout + Duration::from_millis(250),
            "kept late: {waited:?}"
        );
        holder.release_and_finish();
    }
}

#[test]
fn a_signal_storm_never_loses_a_grant() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "a_signal_storm_never_loses_a_grant",
        Duration::from_secs(120),
    );
    for mechanism in mechanisms() {
        for kind in ["ex", "read"] {
            let dir = TempDir::new("storm-grant");
            let path = dir.join("a.lock");
            let mut holder = Helper::start("hold", mechanism, &path, &["write"]);
            holder.expect("locked");
            let inodes = [inode(&path)];
            let (waited, handled) = std::thread::scope(|s| {
                let releaser = s.spawn(|| {
                    // Release once the waiter is queued in the kernel.
                    assert!(within(STEP, || queued_in_kernel(&inodes) == 1));
                    std::thread::sleep(Duration::from_millis(50)); // let the storm run
                    holder.send("release");
                    holder.expect("released");
                    Instant::now()
                });
                let (granted_at, handled) = under_storm(|| {
                    let timeout = Duration::from_secs(30);
                    let granted = match kind {
                        "ex" => InterProcessLock::with_mechanism(&path, mechanism)
                            .try_lock_for(timeout)
                            .map(drop),
                        _ => InterProcessReaderWriterLock::with_mechanism(&path, mechanism)
                            .try_read_for(timeout)
                            .map(drop),
                    };
                    granted.unwrap();
                    Instant::now()
                });
                let released_at = releaser.join().unwrap();
                (granted_at.saturating_duration_since(released_at), handled)
            });
            assert!(
                handled > 20,
                "the storm did not reach the waiter ({handled})"
            );
            assert!(
                waited < Duration::from_secs(2),
                "grant came {waited:?} late"
            );
            assert!(holder.finish().success());
        }
    }
}

/// Sends `signal` to `child` and waits until its state says it took effect.
fn signal_child(child: u32, signal: libc::c_int, stopped: bool) {
    // SAFETY: plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(child as libc::pid_t, signal) }, 0);
    let state = || {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        // The state follows the parenthesised command name.
        stat.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
    };
    assert!(within(STEP, || (state().as_deref() == Some("T")) == stopped));
}

#[test]
fn a_stopped_and_continued_waiter_keeps_its_grant_and_its_timeout() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "a_stopped_and_continued_waiter_keeps_its_grant_and_its_timeout",
        Duration::from_secs(120),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("stop-cont");
        let path = dir.join("a.lock");
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let inodes = [inode(&path)];

        // Granted while stopped: it has the lock once continued.
        let mut waiter = Helper::start("wait-for", mechanism, &path, &["ex", "30000"]);
        assert!(within(STEP, || queued_in_kernel(&inodes) == 1));
        signal_child(waiter.pid(), libc::SIGSTOP, true);
        holder.send("release");
        holder.expect("released");
        signal_child(waiter.pid(), libc::SIGCONT, false);
        waiter.expect("got");
        assert!(holder.finish().success());

        // Stopped past its deadline: it times out once continued.
        let mut second = Helper::start("wait-for", mechanism, &path, &["ex", "200"]);
        assert!(within(STEP, || queued_in_kernel(&inodes) == 1));
        signal_child(second.pid(), libc::SIGSTOP, true);
        std::thread::sleep(Duration::from_millis(300)); // past its deadline
        signal_child(second.pid(), libc::SIGCONT, false);
        let line = second.next_line();
        assert!(line.starts_with("timed-out "), "{line}");
        assert!(second.finish().success());
        assert_eq!(queued_in_kernel(&inodes), 0);

        waiter.release_and_finish();
    }
}

#[test]
fn a_thread_that_blocks_the_wake_up_signal_still_gets_its_timeout() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "a_thread_that_blocks_the_wake_up_signal_still_gets_its_timeout",
        Duration::from_secs(120),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("blocked-signal");
        let path = dir.join("a.lock");
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let (result, waited) = std::thread::spawn(move || {
            // This thread blocks every real-time signal, as some
            // applications do in their worker threads.
            // SAFETY: zeroed sigset_t is valid; filled below.
            let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
            // SAFETY: `set` is a valid set; the calls only change this thread's mask.
            unsafe {
                libc::sigemptyset(&mut set);
                for signal in libc::SIGRTMIN()..=libc::SIGRTMAX() {
                    libc::sigaddset(&mut set, signal);
                }
                assert_eq!(
                    libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()),
                    0
                );
            }
            let start = Instant::now();
            let result = InterProcessLock::with_mechanism(&path, mechanism)
                .try_lock_for(Duration::from_millis(100))
                .map(drop);
            (result, start.elapsed())
        })
        .join()
        .unwrap();
        assert_eq!(result.unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(waited < Duration::from_millis(600), "{waited:?}");
        holder.release_and_finish();
    }
}
