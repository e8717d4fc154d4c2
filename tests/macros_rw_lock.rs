//! The attributes on the crate's in-process `ReaderWriterLock`: its sides,
//! its re-entrancy (a writer may write and read again through other
//! annotated methods), its refusal of a reader-to-writer upgrade (an `Err`, or
//! a panic naming the method), and its timeouts.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use fasteners::{locked, read_locked, write_locked, ErrorKind, Owner, ReaderWriterLock};

const STEP: Duration = Duration::from_secs(30);

struct Store {
    lock: ReaderWriterLock,
}

impl Store {
    #[read_locked]
    fn read(&self) -> Option<Owner> {
        self.lock.owner()
    }

    #[write_locked]
    fn write(&self) -> Option<Owner> {
        self.lock.owner()
    }

    #[locked]
    fn locked(&self) -> bool {
        self.lock.is_writer()
    }

    /// Re-entrant: the writer writes and reads again.
    #[write_locked]
    fn write_then_reenter(&self) -> (Option<Owner>, Option<Owner>) {
        (self.write(), self.read())
    }

    /// A reader asking to write would wait for itself: refused.
    #[read_locked]
    fn read_then_upgrade(&self) -> fasteners::Result<()> {
        self.write_result().map(drop)
    }

    #[write_locked]
    fn write_result(&self) -> fasteners::Result<bool> {
        Ok(self.lock.is_writer())
    }

    #[read_locked]
    fn read_then_upgrade_panicking(&self) {
        self.write();
    }

    #[read_locked(timeout = Duration::from_millis(30))]
    fn read_within(&self) -> fasteners::Result<bool> {
        Ok(self.lock.is_reader())
    }

    #[write_locked(timeout = Duration::from_millis(30))]
    fn write_within(&self) -> fasteners::Result<bool> {
        Ok(self.lock.is_writer())
    }

    #[locked(timeout = Duration::from_millis(30))]
    fn locked_within(&self) -> fasteners::Result<bool> {
        Ok(self.lock.is_writer())
    }
}

static STATIC_RW: ReaderWriterLock = ReaderWriterLock::new();

#[read_locked(lock = STATIC_RW)]
fn static_read() -> bool {
    STATIC_RW.is_reader()
}

#[write_locked(lock = STATIC_RW, blocking = false)]
fn static_write() -> fasteners::Result<bool> {
    Ok(STATIC_RW.is_writer())
}

fn store() -> Store {
    Store {
        lock: ReaderWriterLock::new(),
    }
}

#[test]
fn sides_and_reentrancy() {
    let store = store();
    assert_eq!(store.read(), Some(Owner::Reader));
    assert_eq!(store.write(), Some(Owner::Writer));
    assert!(store.locked());
    assert_eq!(
        store.write_then_reenter(),
        (Some(Owner::Writer), Some(Owner::Writer))
    );
    assert_eq!(store.lock.owner(), None);
    assert!(static_read());
    assert!(static_write().unwrap());
    assert_eq!(STATIC_RW.owner(), None);
}

#[test]
fn an_upgrade_is_refused_with_err_or_a_panic() {
    let store = store();
    assert_eq!(
        store.read_then_upgrade().unwrap_err().kind(),
        ErrorKind::WouldDeadlock
    );
    let payload =
        catch_unwind(AssertUnwindSafe(|| store.read_then_upgrade_panicking())).unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("#[write_locked] on `write` could not take `self.lock`: "),
        "{message}"
    );
    assert!(message.contains("would deadlock"), "{message}");
    assert_eq!(store.lock.owner(), None, "the panic released the read side");
}

#[test]
fn timeouts_while_another_thread_holds_a_side() {
    let store = store();
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let store = &store;
        s.spawn(move || {
            let guard = store.lock.read().unwrap();
            held_tx.send(()).unwrap();
            release_rx.recv_timeout(STEP).unwrap();
            drop(guard);
        });
        held_rx.recv_timeout(STEP).unwrap();
        assert!(store.read_within().unwrap());
        assert_eq!(
            store.write_within().unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        assert_eq!(
            store.locked_within().unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        release_tx.send(()).unwrap();
    });
    assert!(store.write_within().unwrap());
    assert!(store.locked_within().unwrap());
}
