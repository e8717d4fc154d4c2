//! `name = ".."`: the file-lock attributes on the runtime crate's named
//! locks (exclusive, read and write, on a function and on a module), and
//! `on_wait = ..`, run when an acquisition has to wait.

mod process_common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock};
use process_common::{settles, STEP};

/// A name of this test process only.
fn key(name: &str) -> String {
    format!("fasteners-named-{}-{name}", std::process::id())
}

/// Why another thread cannot take the exclusive named lock `name`, if it cannot.
fn exclusive_elsewhere(name: &str) -> Option<ErrorKind> {
    let name = name.to_owned();
    thread::spawn(move || {
        InterProcessLock::named(&name)
            .try_lock()
            .map(drop)
            .err()
            .map(|e| e.kind())
    })
    .join()
    .unwrap()
}

/// What another thread can take of the named reader-writer lock: (read, write).
fn rw_elsewhere(name: &str) -> (bool, bool) {
    let name = name.to_owned();
    thread::spawn(move || {
        let lock = InterProcessReaderWriterLock::named(&name);
        let read = lock.try_read().is_ok();
        let write = lock.try_write().is_ok();
        (read, write)
    })
    .join()
    .unwrap()
}

#[fasteners::interprocess_locked(name = key("exclusive"))]
fn exclusive() -> Option<ErrorKind> {
    exclusive_elsewhere(&key("exclusive"))
}

#[fasteners::interprocess_read_locked(name = key("rw"))]
fn read() -> (bool, bool) {
    rw_elsewhere(&key("rw"))
}

#[fasteners::interprocess_write_locked(name = key("rw"), timeout = Duration::from_secs(5))]
fn write() -> fasteners::Result<(bool, bool)> {
    Ok(rw_elsewhere(&key("rw")))
}

#[test]
fn a_named_lock_is_held_inside_the_body_and_free_after() {
    assert_eq!(exclusive(), Some(ErrorKind::WouldBlock));
    assert_eq!(exclusive_elsewhere(&key("exclusive")), None);
    assert_eq!(read(), (true, false));
    assert_eq!(write().unwrap(), (false, false));
    assert_eq!(rw_elsewhere(&key("rw")), (true, true));
}

#[fasteners::interprocess_locked(name = key("module"))]
mod named_module {
    pub fn inside() -> Option<fasteners::ErrorKind> {
        super::exclusive_elsewhere(&super::key("module"))
    }
}

#[test]
fn a_module_takes_a_named_lock() {
    assert_eq!(named_module::inside(), Some(ErrorKind::WouldBlock));
    assert_eq!(exclusive_elsewhere(&key("module")), None);
}

static WAITS: AtomicUsize = AtomicUsize::new(0);

#[fasteners::interprocess_locked(
    name = key("waits"),
    on_wait = |_: &Path| {
        WAITS.fetch_add(1, Ordering::SeqCst);
    },
)]
fn patient() -> usize {
    WAITS.load(Ordering::SeqCst)
}

#[test]
fn on_wait_runs_once_when_the_call_has_to_wait() {
    assert_eq!(patient(), 0, "a free lock: no wait");
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        let lock = InterProcessLock::named(key("waits"));
        let guard = lock.lock().unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv_timeout(STEP).unwrap();
        drop(guard);
    });
    held_rx.recv_timeout(STEP).unwrap();
    let caller = thread::spawn(patient);
    // The call waits, and says so once, before the holder lets go.
    assert!(
        settles(|| WAITS.load(Ordering::SeqCst) == 1),
        "on_wait did not run"
    );
    assert!(!caller.is_finished());
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(caller.join().unwrap(), 1);
    assert_eq!(patient(), 1, "no wait the second time");
}
