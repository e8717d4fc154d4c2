//! `on_wait`: the notice runs once per acquisition that has to wait, with the
//! lock's path, before it waits (blocking, timed, Python-style and async
//! forms, both lock types); never when the lock is free or for `try_*`; and
//! `notice::cargo_style` prints cargo's line.

mod process_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock, Mechanism};
use process_common::{mechanism_arg, mechanisms, Helper, TempDir, STEP};

/// A notice that reports each call, with its path, on a channel.
fn recorder() -> (impl Fn(&Path) + Send + Sync + 'static, Receiver<PathBuf>) {
    let (sender, notices) = mpsc::channel();
    let sender = std::sync::Mutex::new(sender);
    let notice = move |path: &Path| sender.lock().unwrap().send(path.to_owned()).unwrap();
    (notice, notices)
}

/// Another process holding `path` in mode `kind` until the returned helper
/// is told to release it.
fn held_elsewhere(mechanism: Mechanism, path: &Path, kind: &str) -> Helper {
    let mut holder = Helper::start("hold", mechanism, path, &[kind]);
    holder.expect("locked");
    holder
}

#[test]
fn a_blocking_acquire_is_noticed_once_before_it_waits() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("notice-blocking");
        let path = dir.join("a.lock");
        let (notice, notices) = recorder();
        let lock = InterProcessLock::with_mechanism(&path, mechanism).on_wait(notice);

        // Free: no notice.
        drop(lock.lock().unwrap());
        assert!(notices.try_recv().is_err());

        let mut holder = held_elsewhere(mechanism, &path, "ex");
        // `try_*` never waits, so never notices.
        assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
        assert!(notices.try_recv().is_err());
        std::thread::scope(|s| {
            let waiter = s.spawn(|| lock.lock().map(drop));
            // The notice comes while the other process still holds the lock.
            let noticed = notices.recv_timeout(STEP);
            let finished_early = waiter.is_finished();
            // Released before any assertion, so that a failure cannot hang.
            holder.send("release");
            holder.expect("released");
            assert_eq!(noticed.unwrap(), path);
            assert!(!finished_early);
            waiter.join().unwrap().unwrap();
        });
        assert!(notices.try_recv().is_err(), "noticed more than once");
    }
}

#[test]
fn timed_and_python_style_acquires_are_noticed() {
    let dir = TempDir::new("notice-timed");
    let path = dir.join("a.lock");
    let (notice, notices) = recorder();
    let lock = InterProcessLock::new(&path).on_wait(notice);
    let holder = held_elsewhere(Mechanism::default(), &path, "ex");

    let err = lock.try_lock_for(Duration::from_millis(20)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(notices.try_recv().unwrap(), path);

    assert!(!lock.acquire(true, Some(Duration::from_millis(20))).unwrap());
    assert_eq!(notices.try_recv().unwrap(), path);
    // Non-blocking Python-style: no wait, no notice.
    assert!(!lock.acquire(false, None).unwrap());
    assert!(notices.try_recv().is_err());
    drop(holder);
}

#[test]
fn an_acquire_refused_at_once_is_not_noticed() {
    let dir = TempDir::new("notice-refused");
    let path = dir.join("a.lock");
    let (notice, notices) = recorder();
    let lock = InterProcessLock::new(&path).on_wait(notice);
    let held = lock.lock().unwrap();
    // The same thread asking again would wait for itself: refused, not waited for.
    let again = lock.lock().unwrap_err();
    assert_eq!(again.kind(), ErrorKind::WouldDeadlock);
    let timed = lock.try_lock_for(Duration::from_secs(5)).unwrap_err();
    assert_eq!(timed.kind(), ErrorKind::WouldDeadlock);
    assert!(
        notices.try_recv().is_err(),
        "noticed a wait that never began"
    );
    drop(held);
    // A path that cannot be opened fails before any wait.
    let (notice, notices) = recorder();
    let missing = InterProcessLock::new(dir.join("not-a-dir").join("a.lock")).on_wait(notice);
    std::fs::write(dir.join("not-a-dir"), b"").unwrap();
    assert_eq!(missing.lock().unwrap_err().kind(), ErrorKind::Io);
    assert!(notices.try_recv().is_err(), "noticed a failed open");
}

#[test]
fn another_thread_of_this_process_holding_it_is_noticed_too() {
    let dir = TempDir::new("notice-thread");
    let path = dir.join("a.lock");
    let (notice, notices) = recorder();
    let rw = InterProcessReaderWriterLock::new(&path).on_wait(notice);
    let writer = InterProcessReaderWriterLock::new(&path);
    let (release, released) = mpsc::channel::<()>();
    let (locked, is_locked) = mpsc::channel();
    std::thread::scope(|s| {
        let writer = &writer;
        s.spawn(move || {
            let guard = writer.write().unwrap();
            locked.send(()).unwrap();
            released.recv_timeout(STEP).unwrap();
            drop(guard);
        });
        is_locked.recv_timeout(STEP).unwrap();
        let reader = s.spawn(|| rw.read().map(drop));
        let noticed = notices.recv_timeout(STEP);
        release.send(()).unwrap();
        assert_eq!(noticed.unwrap(), path);
        reader.join().unwrap().unwrap();
    });
    assert!(notices.try_recv().is_err());
}

#[test]
fn an_async_acquire_is_noticed_once_however_often_it_is_polled() {
    let dir = TempDir::new("notice-async");
    let path = dir.join("a.lock");
    let (notice, notices) = recorder();
    let lock = InterProcessLock::new(&path).on_wait(notice);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut holder = held_elsewhere(Mechanism::default(), &path, "ex");
    runtime.block_on(async {
        // Timed: noticed, then timed out after several polls.
        let err = lock
            .lock_async_for(Duration::from_millis(30))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(notices.try_recv().unwrap(), path);
        assert!(notices.try_recv().is_err());

        let waiting = lock.lock_async();
        tokio::pin!(waiting);
        // Polled a few times while it waits.
        for _ in 0..3 {
            assert!(
                tokio::time::timeout(Duration::from_millis(5), waiting.as_mut())
                    .await
                    .is_err()
            );
        }
        assert_eq!(notices.try_recv().unwrap(), path);
        holder.send("release");
        holder.expect("released");
        drop(tokio::time::timeout(STEP, waiting).await.unwrap().unwrap());
    });
    assert!(notices.try_recv().is_err(), "noticed more than once");
    // Free: no notice.
    runtime.block_on(async { drop(lock.lock_async().await.unwrap()) });
    assert!(notices.try_recv().is_err());
}

#[test]
fn cargo_style_prints_cargos_line_to_stderr_before_waiting() {
    let dir = TempDir::new("notice-cargo");
    let path = dir.join("build.lock");
    let holder = InterProcessLock::new(&path);
    let guard = holder.lock().unwrap();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fasteners-test-helper"));
    cmd.arg("hold-noticed")
        .arg(mechanism_arg(Mechanism::default()))
        .arg(&path)
        .arg("ex");
    let (mut child, lines) = Helper::spawn_capturing_stderr(cmd, "helper hold-noticed".into());
    // While this process still holds the lock:
    let line = lines.recv_timeout(STEP).expect("no notice on stderr");
    assert_eq!(
        line,
        format!("Blocking waiting for file lock on {}", path.display())
    );
    drop(guard);
    child.expect("locked");
    child.send("release");
    child.expect("released");
    assert!(child.finish().success());
    assert!(lines.recv_timeout(STEP).is_err(), "more on stderr");
}
