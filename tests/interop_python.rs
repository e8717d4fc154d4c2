//! Interop with the real Python fasteners (`pip install fasteners`): on Linux
//! a Python process and a Rust process (default OFD mechanism) exclude each
//! other on the same file; readers of both share. When Python's `fasteners`
//! is not importable the test is reported as skipped (a notice that
//! `scripts/test.sh` counts as a skip, not a pass), and under `CI` it fails.
#![cfg(target_os = "linux")]

mod process_common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock, LockMode, Mechanism};
use process_common::{skip, Helper, TempDir};

/// `hold <kind> <path>`: lock, print `locked`, wait for a line, release,
/// print `released`. `try <kind> <path>`: print the result of one
/// non-blocking acquire (`True` / `False`), releasing if it got it.
const SCRIPT: &str = r#"
import sys, fasteners
command, kind, path = sys.argv[1:4]
if kind == "ex":
    lock = fasteners.InterProcessLock(path)
    acquire, release = lock.acquire, lock.release
elif kind == "read":
    lock = fasteners.InterProcessReaderWriterLock(path)
    acquire, release = lock.acquire_read_lock, lock.release_read_lock
else:
    lock = fasteners.InterProcessReaderWriterLock(path)
    acquire, release = lock.acquire_write_lock, lock.release_write_lock
if command == "hold":
    assert acquire(blocking=True, timeout=20)
    print("locked", flush=True)
    sys.stdin.readline()
    release()
    print("released", flush=True)
else:
    got = acquire(blocking=False)
    print(got, flush=True)
    if got:
        release()
"#;

/// `python3 -c <script>`, run outside the repository: there the crate's
/// `fasteners/` directory would pass for a Python namespace package.
fn python3() -> Command {
    let mut cmd = Command::new("python3");
    cmd.current_dir(std::env::temp_dir());
    cmd
}

fn python(command: &str, kind: &str, path: &Path) -> Helper {
    let mut cmd = python3();
    cmd.args(["-c", SCRIPT, command, kind]).arg(path);
    Helper::spawn(cmd, format!("python {command} {kind}"))
}

fn python_fasteners_available(test: &str) -> bool {
    let ok = python3()
        .args([
            "-c",
            "from fasteners import InterProcessLock, InterProcessReaderWriterLock",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !ok {
        skip(
            test,
            "Python's fasteners is not importable (pip install -r requirements-test.txt)",
        );
    }
    ok
}

fn python_try(kind: &str, path: &Path) -> bool {
    let mut child = python("try", kind, path);
    let line = child.next_line();
    assert!(child.finish().success());
    match line.as_str() {
        "True" => true,
        "False" => false,
        other => panic!("python printed {other:?}"),
    }
}

#[test]
fn python_and_rust_exclude_each_other() {
    if !python_fasteners_available("python_and_rust_exclude_each_other") {
        return;
    }
    let dir = TempDir::new("interop");
    let path = dir.join("shared.lock");
    let lock = InterProcessLock::with_mechanism(&path, Mechanism::Ofd);
    let rw = InterProcessReaderWriterLock::with_mechanism(&path, Mechanism::Ofd);

    // Python holds InterProcessLock: Rust cannot get it, either way.
    let mut holder = python("hold", "ex", &path);
    holder.expect("locked");
    assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(rw.try_read().unwrap_err().kind(), ErrorKind::WouldBlock);
    holder.send("release");
    holder.expect("released");
    assert!(holder.finish().success());

    // Python holds the write side.
    let mut holder = python("hold", "write", &path);
    holder.expect("locked");
    assert_eq!(rw.try_write().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(rw.try_read().unwrap_err().kind(), ErrorKind::WouldBlock);
    holder.send("release");
    holder.expect("released");
    assert!(holder.finish().success());

    // Rust holds: Python's non-blocking acquire returns False.
    let guard = lock.lock().unwrap();
    assert!(!python_try("ex", &path));
    assert!(!python_try("read", &path));
    drop(guard);
    assert!(python_try("ex", &path));
    let writing = rw.write().unwrap();
    assert!(!python_try("write", &path));
    drop(writing);

    // Shared and shared coexist; shared and exclusive do not.
    let reading = rw.read().unwrap();
    assert!(python_try("read", &path));
    assert!(!python_try("write", &path));
    drop(reading);
    let mut reader = python("hold", "read", &path);
    reader.expect("locked");
    drop(rw.try_read().unwrap());
    assert_eq!(rw.try_write().unwrap_err().kind(), ErrorKind::WouldBlock);
    reader.send("release");
    reader.expect("released");
    assert!(reader.finish().success());
    drop(rw.try_write().unwrap());
}

#[test]
fn a_python_holder_is_named_by_its_pid() {
    if !python_fasteners_available("a_python_holder_is_named_by_its_pid") {
        return;
    }
    let dir = TempDir::new("interop-holder");
    let path = dir.join("shared.lock");
    let lock = InterProcessLock::with_mechanism(&path, Mechanism::Ofd);
    let rw = InterProcessReaderWriterLock::with_mechanism(&path, Mechanism::Ofd);
    assert_eq!(lock.held_elsewhere().unwrap(), None);

    let mut holder = python("hold", "ex", &path);
    holder.expect("locked");
    let pid = holder.pid();
    let found = lock.held_elsewhere().unwrap().expect("a holder");
    assert_eq!(
        (found.mode(), found.pid()),
        (LockMode::Exclusive, Some(pid))
    );
    // Contention errors name it too, in every form.
    let err = lock.try_lock().unwrap_err();
    assert_eq!(err.holder_pid(), Some(pid));
    assert!(
        err.to_string().contains(&format!("held by pid {pid}")),
        "{err}"
    );
    let err = lock.try_lock_for(Duration::from_millis(20)).unwrap_err();
    assert_eq!(
        (err.kind(), err.holder_pid()),
        (ErrorKind::TimedOut, Some(pid))
    );
    assert_eq!(rw.try_read().unwrap_err().holder_pid(), Some(pid));
    holder.send("release");
    holder.expect("released");
    assert!(holder.finish().success());
    assert_eq!(lock.held_elsewhere().unwrap(), None);

    let mut reader = python("hold", "read", &path);
    reader.expect("locked");
    let found = rw.held_elsewhere().unwrap().expect("a holder");
    assert_eq!(
        (found.mode(), found.pid()),
        (LockMode::Shared, Some(reader.pid()))
    );
    // This process reading too does not hide the other reader (OFD).
    let reading = rw.read().unwrap();
    assert_eq!(
        rw.held_elsewhere().unwrap().map(|h| h.pid()),
        Some(Some(reader.pid()))
    );
    drop(reading);
    reader.send("release");
    reader.expect("released");
    assert!(reader.finish().success());
}
