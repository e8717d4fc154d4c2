//! Every way a lock can be named: statics by any path (`crate::`, `super::`,
//! `self::`, a module path of any depth), in every attribute and in lists;
//! `lock = $field` inside a `macro_rules!`; `crate = path`; and
//! `returns_result` for a `Result` alias not spelled `...Result`.

use std::sync::{Mutex, RwLock};
use std::thread;
use std::time::Duration;

use fasteners::{ErrorKind, ReaderWriterLock};

static ROOT: Mutex<()> = Mutex::new(());

pub mod outer {
    pub mod inner {
        pub static DEEP: std::sync::Mutex<()> = std::sync::Mutex::new(());
        pub static RW: std::sync::RwLock<()> = std::sync::RwLock::new(());
    }
}

/// Whether another thread finds `lock` taken.
fn taken_elsewhere(lock: &'static Mutex<()>) -> bool {
    thread::spawn(move || lock.try_lock().is_err())
        .join()
        .unwrap()
}

/// What another thread can take of `lock`: (read, write).
fn rw_elsewhere(lock: &'static RwLock<()>) -> (bool, bool) {
    thread::spawn(move || {
        let read = lock.try_read().is_ok();
        let write = lock.try_write().is_ok();
        (read, write)
    })
    .join()
    .unwrap()
}

mod users {
    use super::{outer, rw_elsewhere, taken_elsewhere};

    static LOCAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[fasteners::locked(lock = crate::ROOT)]
    pub fn by_crate() -> bool {
        taken_elsewhere(&crate::ROOT)
    }

    #[fasteners::locked(lock = super::ROOT)]
    pub fn by_super() -> bool {
        taken_elsewhere(&super::ROOT)
    }

    #[fasteners::locked(lock = self::LOCAL)]
    pub fn by_self() -> bool {
        taken_elsewhere(&LOCAL)
    }

    #[fasteners::locked(lock = crate::outer::inner::DEEP)]
    pub fn by_deep_path() -> bool {
        taken_elsewhere(&outer::inner::DEEP)
    }

    #[fasteners::locked(lock = [crate::ROOT, super::outer::inner::DEEP, LOCAL])]
    pub fn by_list() -> [bool; 3] {
        [
            taken_elsewhere(&crate::ROOT),
            taken_elsewhere(&outer::inner::DEEP),
            taken_elsewhere(&LOCAL),
        ]
    }

    #[fasteners::read_locked(lock = crate::outer::inner::RW)]
    pub fn reading() -> (bool, bool) {
        rw_elsewhere(&outer::inner::RW)
    }

    #[fasteners::write_locked(lock = super::outer::inner::RW)]
    pub fn writing() -> (bool, bool) {
        rw_elsewhere(&outer::inner::RW)
    }

    pub struct Service {
        pub own: std::sync::Mutex<()>,
    }

    impl Service {
        /// A field and statics by path, from a method.
        #[fasteners::locked(lock = [own, crate::ROOT, super::outer::inner::DEEP])]
        pub fn method(&self) -> [bool; 3] {
            [
                self.own.try_lock().is_err(),
                taken_elsewhere(&crate::ROOT),
                taken_elsewhere(&outer::inner::DEEP),
            ]
        }
    }
}

#[test]
fn statics_named_by_any_path_are_held_inside_the_body() {
    assert!(users::by_crate());
    assert!(users::by_super());
    assert!(users::by_self());
    assert!(users::by_deep_path());
    assert_eq!(users::by_list(), [true; 3]);
    assert_eq!(users::reading(), (true, false));
    assert_eq!(users::writing(), (false, false));
    let service = users::Service {
        own: Mutex::new(()),
    };
    assert_eq!(service.method(), [true; 3]);
    // And free after.
    assert!(!taken_elsewhere(&ROOT));
    assert!(!taken_elsewhere(&outer::inner::DEEP));
    assert_eq!(rw_elsewhere(&outer::inner::RW), (true, true));
}

/// A type whose methods a `macro_rules!` writes, naming the lock field
/// through a `$field` of the macro's caller.
macro_rules! guarded_counter {
    ($name:ident, $field:ident, $rw:ident) => {
        pub struct $name {
            $field: Mutex<()>,
            $rw: ReaderWriterLock,
        }

        impl $name {
            #[fasteners::locked(lock = $field)]
            fn held(&self) -> bool {
                self.$field.try_lock().is_err()
            }

            #[fasteners::read_locked(lock = [$rw], timeout = Duration::from_secs(5))]
            fn reading(&self) -> fasteners::Result<bool> {
                Ok(self.$rw.is_reader())
            }

            #[fasteners::write_locked(lock = $rw, blocking = false)]
            fn writing(&mut self) -> fasteners::Result<bool> {
                Ok(self.$rw.is_writer())
            }
        }
    };
}

guarded_counter!(Counter, guard, rw);

#[test]
fn a_field_named_through_macro_rules_resolves_self_as_the_receiver() {
    let mut counter = Counter {
        guard: Mutex::new(()),
        rw: ReaderWriterLock::new(),
    };
    assert!(counter.held());
    assert!(counter.guard.try_lock().is_ok());
    assert!(counter.reading().unwrap());
    assert!(counter.writing().unwrap());
}

/// A `Result` alias whose name does not end in `Result`.
type Fallible<T> = Result<T, fasteners::Error>;

static BUSY: ReaderWriterLock = ReaderWriterLock::new();

#[fasteners::locked(lock = BUSY, blocking = false, returns_result)]
fn if_free() -> Fallible<u32> {
    Ok(1)
}

#[fasteners::read_locked(lock = BUSY, timeout = Duration::from_millis(20), returns_result)]
fn read_within() -> Fallible<u32> {
    Ok(2)
}

#[test]
fn returns_result_sends_the_lock_error_through_an_alias() {
    assert_eq!(if_free().unwrap(), 1);
    assert_eq!(read_within().unwrap(), 2);
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let writer = thread::spawn(move || {
        let guard = BUSY.write_lock().unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        drop(guard);
    });
    held_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(if_free().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(read_within().unwrap_err().kind(), ErrorKind::TimedOut);
    release_tx.send(()).unwrap();
    writer.join().unwrap();
    assert_eq!(if_free().unwrap(), 1);
}

/// Used by `explicit_crate` only (tests run at once).
static CRATE_LOCK: Mutex<()> = Mutex::new(());

/// `crate = path`, as a path and as a string (serde's and tokio's form).
#[fasteners::locked(lock = CRATE_LOCK, crate = ::fasteners)]
fn explicit_crate() -> bool {
    taken_elsewhere(&CRATE_LOCK)
}

#[fasteners::interprocess_locked(
    std::env::temp_dir().join(format!("fasteners-paths-{}.lock", std::process::id())),
    crate = "fasteners",
    blocking = false,
)]
fn explicit_crate_string() -> fasteners::Result<bool> {
    Ok(true)
}

/// A timeout may use `self`.
struct Patient {
    lock: ReaderWriterLock,
    patience: Duration,
}

impl Patient {
    #[fasteners::locked(timeout = self.patience)]
    fn wait(&self) -> fasteners::Result<bool> {
        Ok(self.lock.is_writer())
    }
}

#[test]
fn crate_path_and_a_timeout_from_self() {
    assert!(explicit_crate());
    assert!(explicit_crate_string().unwrap());
    let patient = Patient {
        lock: ReaderWriterLock::new(),
        patience: Duration::from_secs(1),
    };
    assert!(patient.wait().unwrap());
}
