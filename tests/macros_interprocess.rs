//! The `#[interprocess_*]` attributes: the file lock is held inside the body
//! and free after; the path expression is evaluated once, on the first call;
//! timeouts, non-blocking calls and bad paths give `Err` or a panic naming
//! the path; and several processes with several threads each increment a
//! counter file exactly.

use std::io::{BufRead, BufReader, Write};
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use fasteners::{
    interprocess_locked, interprocess_read_locked, interprocess_write_locked, ErrorKind,
    InterProcessLock, InterProcessReaderWriterLock,
};

/// The longest any one step may take before the test fails.
const STEP: Duration = Duration::from_secs(30);

/// A lock file of this test process, in the temporary directory.
fn lock_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "fasteners-macros-{}-{name}.lock",
        std::process::id()
    ))
}

/// What another thread sees of the exclusive lock at `path`.
fn exclusive_seen_from_other_thread(path: &Path) -> Result<(), ErrorKind> {
    thread::scope(|s| {
        s.spawn(|| {
            InterProcessLock::new(path)
                .try_lock()
                .map(drop)
                .map_err(|e| e.kind())
        })
        .join()
        .unwrap()
    })
}

/// What another thread sees of the reader-writer lock at `path`: (can read, can write).
fn rw_seen_from_other_thread(path: &Path) -> (bool, bool) {
    thread::scope(|s| {
        s.spawn(|| {
            let lock = InterProcessReaderWriterLock::new(path);
            let read = lock.try_read().is_ok();
            let write = lock.try_write().is_ok();
            (read, write)
        })
        .join()
        .unwrap()
    })
}

#[interprocess_locked(lock_path("exclusive"))]
fn exclusive() -> Option<ErrorKind> {
    exclusive_seen_from_other_thread(&lock_path("exclusive")).err()
}

#[interprocess_read_locked(lock_path("rw"))]
fn read() -> (bool, bool) {
    rw_seen_from_other_thread(&lock_path("rw"))
}

#[interprocess_write_locked(lock_path("rw"))]
fn write() -> (bool, bool) {
    rw_seen_from_other_thread(&lock_path("rw"))
}

struct Service {
    name: &'static str,
}

impl Service {
    /// One lock object for the method, shared by every instance.
    #[interprocess_locked(lock_path("method"))]
    fn method(&self) -> (&'static str, Option<ErrorKind>) {
        (
            self.name,
            exclusive_seen_from_other_thread(&lock_path("method")).err(),
        )
    }

    #[interprocess_write_locked(lock_path("generic"), timeout = Duration::from_secs(5))]
    fn generic<T>(&mut self, value: T) -> std::io::Result<String>
    where
        T: std::fmt::Display,
    {
        Ok(format!(
            "{} {value} {:?}",
            self.name,
            rw_seen_from_other_thread(&lock_path("generic"))
        ))
    }
}

#[test]
fn methods_and_generics() {
    let mut service = Service { name: "svc" };
    assert_eq!(service.method(), ("svc", Some(ErrorKind::WouldBlock)));
    assert_eq!(
        Service { name: "other" }.method(),
        ("other", Some(ErrorKind::WouldBlock))
    );
    assert_eq!(service.generic(1).unwrap(), "svc 1 (false, false)");
    assert_eq!(service.generic("two").unwrap(), "svc two (false, false)");
    assert_eq!(
        exclusive_seen_from_other_thread(&lock_path("method")),
        Ok(())
    );
}

#[test]
fn the_file_lock_is_held_inside_the_body_and_free_after() {
    assert_eq!(exclusive(), Some(ErrorKind::WouldBlock));
    assert_eq!(
        exclusive_seen_from_other_thread(&lock_path("exclusive")),
        Ok(())
    );
    assert_eq!(read(), (true, false));
    assert_eq!(write(), (false, false));
    assert_eq!(rw_seen_from_other_thread(&lock_path("rw")), (true, true));
}

static PATH_EVALUATIONS: AtomicUsize = AtomicUsize::new(0);

fn counted_path() -> PathBuf {
    PATH_EVALUATIONS.fetch_add(1, Ordering::SeqCst);
    lock_path("counted")
}

#[interprocess_locked(counted_path())]
fn counted() -> usize {
    PATH_EVALUATIONS.load(Ordering::SeqCst)
}

#[test]
fn the_path_is_evaluated_once_on_the_first_call() {
    assert_eq!(PATH_EVALUATIONS.load(Ordering::SeqCst), 0);
    assert!(
        !lock_path("counted").exists(),
        "no disk access before the first call"
    );
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| (0..5).for_each(|_| assert_eq!(counted(), 1)));
        }
    });
    assert_eq!(PATH_EVALUATIONS.load(Ordering::SeqCst), 1);
}

#[interprocess_locked(lock_path("timeout"), timeout = Duration::from_millis(50))]
fn with_timeout() -> fasteners::Result<()> {
    Ok(())
}

#[interprocess_read_locked(lock_path("rw-timeout"), timeout = Duration::from_millis(50))]
fn read_with_timeout() -> std::io::Result<()> {
    Ok(())
}

#[interprocess_write_locked(lock_path("rw-timeout"), blocking = false)]
fn write_if_free() -> fasteners::Result<()> {
    Ok(())
}

#[interprocess_locked(lock_path("timeout"), blocking = false)]
fn exclusive_if_free() -> fasteners::Result<()> {
    Ok(())
}

#[test]
fn timeouts_and_non_blocking_calls_return_err() {
    with_timeout().unwrap();
    exclusive_if_free().unwrap();
    read_with_timeout().unwrap();
    write_if_free().unwrap();

    let path = lock_path("timeout");
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        let lock = InterProcessLock::new(&path);
        let guard = lock.lock().unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv_timeout(STEP).unwrap();
        drop(guard);
    });
    held_rx.recv_timeout(STEP).unwrap();
    let err = with_timeout().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(err.path(), Some(lock_path("timeout").as_path()));
    assert_eq!(
        exclusive_if_free().unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    with_timeout().unwrap();

    let path = lock_path("rw-timeout");
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        let lock = InterProcessReaderWriterLock::new(&path);
        let guard = lock.read().unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv_timeout(STEP).unwrap();
        drop(guard);
    });
    held_rx.recv_timeout(STEP).unwrap();
    read_with_timeout().unwrap();
    assert_eq!(write_if_free().unwrap_err().kind(), ErrorKind::WouldBlock);
    release_tx.send(()).unwrap();
    reader.join().unwrap();
    write_if_free().unwrap();
}

/// A directory cannot be a lock file: every acquisition fails with an I/O error.
fn a_directory() -> PathBuf {
    std::env::temp_dir()
}

#[interprocess_locked(a_directory())]
fn bad_path_result() -> fasteners::Result<()> {
    Ok(())
}

#[interprocess_locked(a_directory())]
fn bad_path_panics() {}

#[test]
fn a_bad_path_gives_err_or_a_panic_naming_the_path() {
    let err = bad_path_result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.path(), Some(a_directory().as_path()));

    let payload = catch_unwind(bad_path_panics).unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with(
            "#[interprocess_locked] on `bad_path_panics` could not take its lock file: "
        ),
        "{message}"
    );
    assert!(
        message.contains(&*a_directory().to_string_lossy()),
        "{message}"
    );
}

/// A helper child process, killed and reaped if the test fails before it exits.
struct Helper {
    child: Child,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `processes` helpers x `threads` threads x `increments` each, all under the
/// attribute named by `mode`: the counter must come out exact.
fn count_across_processes(mode: &str, processes: usize, threads: usize, increments: usize) {
    let counter = lock_path(&format!("counter-{mode}"));
    std::fs::write(&counter, "0").unwrap();
    let (lines_tx, lines_rx) = mpsc::channel::<(usize, String)>();
    let mut helpers = Vec::new();
    for index in 0..processes {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fasteners-macro-helper"))
            .arg(mode)
            .arg(&counter)
            .arg(threads.to_string())
            .arg(increments.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines_tx = lines_tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send((index, line)).is_err() {
                    break;
                }
            }
        });
        helpers.push(Helper { child });
    }
    let expect = |word: &str| {
        for _ in 0..processes {
            let (index, line) = lines_rx
                .recv_timeout(STEP)
                .unwrap_or_else(|_| panic!("a helper did not say {word:?} in time"));
            assert_eq!(line, word, "helper {index}");
        }
    };
    expect("ready");
    for helper in &mut helpers {
        writeln!(helper.child.stdin.as_mut().unwrap(), "go").unwrap();
    }
    expect("done");
    for helper in &mut helpers {
        assert!(helper.child.wait().unwrap().success());
    }
    let total: usize = std::fs::read_to_string(&counter).unwrap().parse().unwrap();
    assert_eq!(total, processes * threads * increments);
    std::fs::remove_file(&counter).unwrap();
}

#[test]
fn processes_and_threads_count_exactly_under_interprocess_locked() {
    count_across_processes("exclusive", 3, 3, 40);
}

#[test]
fn processes_and_threads_count_exactly_under_interprocess_write_locked() {
    count_across_processes("write", 3, 3, 40);
}
