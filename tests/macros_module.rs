//! An attribute on an inline module: every function directly in it (tests,
//! `#[tokio::test]`s and plain helpers alike) runs under the one lock; a
//! function of the module calling another does not take it again; nested
//! modules, `const fn`s and other items are left alone; the lock's path and
//! timeout mean what they mean where the attribute is written.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock};

static SERIAL: Mutex<()> = Mutex::new(());

/// Whether another thread finds `SERIAL` taken.
fn serial_taken_elsewhere() -> bool {
    thread::spawn(|| SERIAL.try_lock().is_err()).join().unwrap()
}

#[fasteners::locked(lock = SERIAL)]
mod in_process {
    use super::serial_taken_elsewhere;

    pub fn plain() -> bool {
        serial_taken_elsewhere()
    }

    /// Calls another function of the module: the lock is not taken again
    /// (a std `Mutex` would deadlock), and is still held after it returns.
    pub fn calls_another() -> (bool, bool) {
        let inner = plain();
        (inner, serial_taken_elsewhere())
    }

    pub const fn constant() -> u32 {
        7
    }

    pub struct Fixture;

    impl Fixture {
        /// Methods in an `impl` are not directly in the module.
        pub fn method(&self) -> bool {
            serial_taken_elsewhere()
        }
    }

    pub mod nested {
        pub fn untouched() -> bool {
            super::serial_taken_elsewhere()
        }
    }
}

/// The lock of `module_tests`, used by no other test (tests run at once).
static TESTS: Mutex<()> = Mutex::new(());

#[fasteners::locked(lock = TESTS)]
mod module_tests {
    #[test]
    fn a_test_in_the_module_runs_under_the_lock() {
        let taken = std::thread::spawn(|| super::TESTS.try_lock().is_err());
        assert!(taken.join().unwrap());
    }
}

#[test]
fn every_function_directly_in_the_module_runs_under_its_lock_and_nothing_else_does() {
    assert!(in_process::plain());
    // On another thread, bounded: taking a std `Mutex` again would hang.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    thread::spawn(move || done_tx.send(in_process::calls_another()).unwrap());
    let nested = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a function of the module calling another took the lock again");
    assert_eq!(nested, (true, true));
    assert!(!serial_taken_elsewhere(), "released after");

    // In the same test: no other test may hold `SERIAL` meanwhile.
    assert_eq!(in_process::constant(), 7);
    assert!(!in_process::Fixture.method());
    assert!(!in_process::nested::untouched());
}

/// The two locks of `two_locks`, used by no other test.
static FIRST: Mutex<()> = Mutex::new(());
static SECOND: Mutex<()> = Mutex::new(());

#[fasteners::locked(lock = [FIRST, SECOND])]
mod two_locks {
    /// Whether another thread finds each of the two locks taken.
    pub fn both_taken_elsewhere() -> (bool, bool) {
        std::thread::spawn(|| {
            (
                super::FIRST.try_lock().is_err(),
                super::SECOND.try_lock().is_err(),
            )
        })
        .join()
        .unwrap()
    }
}

#[test]
fn a_module_takes_every_lock_of_its_list() {
    assert_eq!(two_locks::both_taken_elsewhere(), (true, true));
    assert!(FIRST.try_lock().is_ok() && SECOND.try_lock().is_ok());
}

/// Not imported into the modules below: their paths are evaluated where the
/// attribute is written.
fn module_lock_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "fasteners-module-{}-{name}.lock",
        std::process::id()
    ))
}

/// What another thread gets of the exclusive lock file at `path`.
fn file_elsewhere(path: &Path) -> Result<(), ErrorKind> {
    let path = path.to_owned();
    thread::spawn(move || {
        InterProcessLock::new(&path)
            .try_lock()
            .map(drop)
            .map_err(|e| e.kind())
    })
    .join()
    .unwrap()
}

#[fasteners::interprocess_locked(module_lock_path("files"), timeout = Duration::from_secs(5))]
mod files {
    use std::io;

    pub fn first() -> io::Result<Result<(), fasteners::ErrorKind>> {
        Ok(super::file_elsewhere(&super::module_lock_path("files")))
    }

    /// A file lock is not re-entrant, yet a function of the module calling
    /// another one of the module does not fail with `WouldDeadlock`.
    pub fn second() -> io::Result<Result<(), fasteners::ErrorKind>> {
        first()
    }

    pub async fn asynchronous() -> io::Result<Result<(), fasteners::ErrorKind>> {
        tokio::task::yield_now().await;
        Ok(super::file_elsewhere(&super::module_lock_path("files")))
    }
}

#[fasteners::interprocess_locked(module_lock_path("async-tests"), timeout = Duration::from_secs(5))]
mod async_tests {
    #[tokio::test]
    async fn an_async_test_in_the_module_runs_under_the_lock() -> std::io::Result<()> {
        tokio::task::yield_now().await;
        let path = super::module_lock_path("async-tests");
        assert_eq!(
            super::file_elsewhere(&path),
            Err(fasteners::ErrorKind::WouldBlock)
        );
        Ok(())
    }
}

#[test]
fn a_file_lock_module_holds_the_file_in_every_function_and_reenters() {
    assert_eq!(files::first().unwrap(), Err(ErrorKind::WouldBlock));
    assert_eq!(files::second().unwrap(), Err(ErrorKind::WouldBlock));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(
        runtime.block_on(files::asynchronous()).unwrap(),
        Err(ErrorKind::WouldBlock)
    );
    assert_eq!(file_elsewhere(&module_lock_path("files")), Ok(()));
}

#[fasteners::interprocess_read_locked(module_lock_path("rw"), blocking = false)]
mod readers {
    pub fn read() -> fasteners::Result<(bool, bool)> {
        let path = super::module_lock_path("rw");
        Ok(std::thread::spawn(move || {
            let lock = fasteners::InterProcessReaderWriterLock::new(&path);
            let read = lock.try_read().is_ok();
            let write = lock.try_write().is_ok();
            (read, write)
        })
        .join()
        .unwrap())
    }
}

#[test]
fn a_read_locked_module_shares_the_file_and_gives_up_when_a_writer_holds_it() {
    assert_eq!(readers::read().unwrap(), (true, false));
    let writer = InterProcessReaderWriterLock::new(module_lock_path("rw"));
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        let guard = writer.write().unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        drop(guard);
    });
    held_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(readers::read().unwrap_err().kind(), ErrorKind::WouldBlock);
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(readers::read().unwrap(), (true, false));
}

/// An `io::Result` test in a module with a timeout.
#[fasteners::interprocess_write_locked(module_lock_path("tests"), timeout = Duration::from_secs(5))]
mod tests_with_results {
    #[test]
    fn a_result_test_runs_under_the_lock() -> std::io::Result<()> {
        let path = super::module_lock_path("tests");
        let (read, write) = std::thread::spawn(move || {
            let lock = fasteners::InterProcessReaderWriterLock::new(&path);
            let read = lock.try_read().is_ok();
            let write = lock.try_write().is_ok();
            (read, write)
        })
        .join()
        .unwrap();
        assert_eq!((read, write), (false, false));
        Ok(())
    }
}
