//! One lock per file whatever its spelling: a symlinked directory, `..`, a
//! hard link and a bind mount all reach the same in-process entry, so the
//! thread holding the lock is told at once that asking again would
//! deadlock, another thread waits for it, and the process keeps one
//! descriptor for the file.
#![cfg(target_os = "linux")]

mod process_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fasteners::{ErrorKind, InterProcessLock, Mechanism};
use process_common::{
    mechanism_arg, mechanisms, one_at_a_time, open_descriptors, skip, watchdog, Helper, TempDir,
    STEP,
};

/// `real/a.lock` and, for each kind of alias, another path to the same file.
fn aliases(dir: &TempDir) -> (PathBuf, Vec<(&'static str, PathBuf)>) {
    let real = dir.join("real");
    std::fs::create_dir(&real).unwrap();
    let path = real.join("a.lock");
    std::fs::write(&path, b"").unwrap();
    std::os::unix::fs::symlink(&real, dir.join("link")).unwrap();
    std::fs::hard_link(&path, real.join("hard.lock")).unwrap();
    let names = vec![
        ("symlinked directory", dir.join("link").join("a.lock")),
        ("dot-dot", real.join("..").join("real").join("a.lock")),
        ("hard link", real.join("hard.lock")),
    ];
    (path, names)
}

/// The system call the thread `tid` of this process is blocked in, if any
/// (`/proc/self/task/<tid>/syscall`; x86_64 numbers).
fn blocked_in(tid: libc::pid_t) -> Option<i64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

const FUTEX: i64 = 202;

#[test]
fn the_same_thread_asking_through_an_alias_is_told_at_once() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "the_same_thread_asking_through_an_alias_is_told_at_once",
        Duration::from_secs(60),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("aliases");
        let (path, names) = aliases(&dir);
        let descriptors = open_descriptors();
        let real = InterProcessLock::with_mechanism(&path, mechanism);
        let guard = real.lock().unwrap();
        for (what, alias) in &names {
            let other = InterProcessLock::with_mechanism(alias, mechanism);
            let start = Instant::now();
            assert_eq!(
                other.lock().unwrap_err().kind(),
                ErrorKind::WouldDeadlock,
                "{what}"
            );
            assert_eq!(
                other.try_lock().unwrap_err().kind(),
                ErrorKind::WouldDeadlock,
                "{what}"
            );
            let err = other.try_lock_for(Duration::from_secs(30)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldDeadlock, "{what}");
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{what}: not at once"
            );
        }
        // One descriptor for the file, whatever the number of spellings.
        let others: Vec<_> = names
            .iter()
            .map(|(_, alias)| InterProcessLock::with_mechanism(alias, mechanism))
            .collect();
        for other in &others {
            assert_eq!(
                other.try_lock().unwrap_err().kind(),
                ErrorKind::WouldDeadlock
            );
        }
        assert_eq!(open_descriptors(), descriptors + 1, "{mechanism:?}");
        drop(guard);
        drop((others, real));
        assert_eq!(open_descriptors(), descriptors);
    }
}

#[test]
fn another_thread_using_an_alias_waits_in_process_then_gets_it() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "another_thread_using_an_alias_waits_in_process_then_gets_it",
        Duration::from_secs(60),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("alias-waiter");
        let (path, names) = aliases(&dir);
        for (what, alias) in &names {
            let real = InterProcessLock::with_mechanism(&path, mechanism);
            let guard = real.lock().unwrap();
            std::thread::scope(|s| {
                let (tid_tx, tid_rx) = std::sync::mpsc::channel();
                let waiter = s.spawn(move || {
                    // SAFETY: plain gettid(2).
                    tid_tx.send(unsafe { libc::gettid() }).unwrap();
                    let other = InterProcessLock::with_mechanism(alias, mechanism);
                    let got = other.try_lock_for(STEP).map(|_guard| Instant::now());
                    got
                });
                let tid = tid_rx.recv().unwrap();
                // It waits on the shared entry (a futex), not in the kernel's
                // lock queue against this process's own description.
                let deadline = Instant::now() + STEP;
                while blocked_in(tid) != Some(FUTEX) {
                    assert!(
                        Instant::now() < deadline,
                        "{what}: the waiter does not wait"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                let released = Instant::now();
                drop(guard);
                let got = waiter.join().unwrap().unwrap();
                assert!(got >= released, "{what}: got it while held");
                assert!(
                    got - released < Duration::from_secs(1),
                    "{what}: woken late"
                );
            });
        }
    }
}

/// Runs the helper's `alias-check` in a private mount namespace where `b`
/// is a bind mount of `a`; `None` if no such namespace can be made here.
fn bind_mount_check(mechanism: Mechanism, a: &Path, b: &Path) -> Option<Helper> {
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status();
    if !probe.is_ok_and(|status| status.success()) {
        return None;
    }
    let script = format!(
        "mount --bind {a} {b} && exec {helper} alias-check {mechanism} {a}/a.lock {b}/a.lock",
        a = a.display(),
        b = b.display(),
        helper = env!("CARGO_BIN_EXE_fasteners-test-helper"),
        mechanism = mechanism_arg(mechanism),
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    Some(Helper::spawn(
        cmd,
        format!("alias-check through a bind mount ({mechanism:?})"),
    ))
}

#[test]
fn a_bind_mount_of_the_directory_is_the_same_file() {
    let _turn = one_at_a_time();
    let _watchdog = watchdog(
        "a_bind_mount_of_the_directory_is_the_same_file",
        Duration::from_secs(60),
    );
    for mechanism in mechanisms() {
        let dir = TempDir::new("bind-mount");
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let Some(mut helper) = bind_mount_check(mechanism, &a, &b) else {
            return skip(
                "a_bind_mount_of_the_directory_is_the_same_file",
                "no private mount namespace (needs root and unshare)",
            );
        };
        helper.expect("lock WouldDeadlock");
        helper.expect("try WouldDeadlock");
        let line = helper.next_line();
        let ms: u64 = line
            .strip_prefix("timed WouldDeadlock ")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!(ms < 300, "the timed attempt waited {ms} ms");
        assert!(helper.finish().success());
    }
}
