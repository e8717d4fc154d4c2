//! The attributes on `async fn`: the lock is taken with the async
//! acquisition (the executor thread never blocks), held across `.await`,
//! released on return, `?` and panic; timeouts and `blocking = false` work as
//! on sync functions; the returned futures are `Send` whenever the lock
//! allows, so they can be given to `tokio::spawn`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fasteners::{
    interprocess_locked, interprocess_read_locked, interprocess_write_locked, locked, read_locked,
    write_locked, ErrorKind, InterProcessLock, InterProcessReaderWriterLock,
};

/// The longest any one test may take before it fails.
const STEP: Duration = Duration::from_secs(30);

fn lock_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "fasteners-macros-async-{}-{name}.lock",
        std::process::id()
    ))
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn run<F: std::future::Future>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output {
    runtime.block_on(async {
        tokio::time::timeout(STEP, future)
            .await
            .expect("the async test did not finish in time")
    })
}

static INSIDE: AtomicBool = AtomicBool::new(false);
static ENTERED: AtomicUsize = AtomicUsize::new(0);

/// A section that must never overlap itself, with an `.await` inside.
#[interprocess_locked(lock_path("exclusive"))]
async fn exclusive_section() {
    assert!(!INSIDE.swap(true, Ordering::SeqCst), "two tasks inside");
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_micros(100)).await;
    INSIDE.store(false, Ordering::SeqCst);
    ENTERED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn interprocess_locked_async_fn_excludes_tasks_and_is_send() {
    let rt = multi_thread();
    run(&rt, async {
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                // `tokio::spawn` needs a `Send` future: the attribute's is.
                tokio::spawn(assert_send(async {
                    for _ in 0..20 {
                        exclusive_section().await;
                    }
                }))
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(ENTERED.load(Ordering::SeqCst), 120);
    // Free afterwards, for other processes too.
    drop(
        InterProcessLock::new(lock_path("exclusive"))
            .try_lock()
            .unwrap(),
    );
}

/// What another lock object sees of the reader-writer file lock: (can read, can write).
fn rw_seen(name: &str) -> (bool, bool) {
    let lock = InterProcessReaderWriterLock::new(lock_path(name));
    let read = lock.try_read_async().is_ok();
    let write = lock.try_write_async().is_ok();
    (read, write)
}

#[interprocess_read_locked(lock_path("rw"))]
async fn read_section() -> (bool, bool) {
    tokio::task::yield_now().await;
    rw_seen("rw")
}

#[interprocess_write_locked(lock_path("rw"))]
async fn write_section() -> (bool, bool) {
    tokio::task::yield_now().await;
    rw_seen("rw")
}

#[test]
fn interprocess_read_and_write_locked_async_fns() {
    let rt = current_thread();
    run(&rt, async {
        assert_eq!(assert_send(read_section()).await, (true, false));
        assert_eq!(assert_send(write_section()).await, (false, false));
    });
    assert_eq!(rw_seen("rw"), (true, true));
}

#[interprocess_locked(lock_path("timeout"), timeout = Duration::from_millis(30))]
async fn with_timeout() -> fasteners::Result<u32> {
    tokio::task::yield_now().await;
    Ok(7)
}

#[interprocess_locked(lock_path("non-blocking"), blocking = false)]
async fn non_blocking() -> std::io::Result<u32> {
    tokio::task::yield_now().await;
    Ok(8)
}

#[interprocess_locked(lock_path("non-blocking"))]
async fn panics_or_fails(fail: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tokio::task::yield_now().await;
    if fail {
        Err("early")?;
    }
    panic!("inside the locked async body");
}

/// The two tests that use the `non-blocking` lock file take turns: one
/// holds it while the other expects it free.
static NON_BLOCKING_FILE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn non_blocking_file() -> std::sync::MutexGuard<'static, ()> {
    NON_BLOCKING_FILE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn timeout_and_non_blocking_on_async_fns() {
    let _turn = non_blocking_file();
    let rt = current_thread();
    run(&rt, async {
        assert_eq!(with_timeout().await.unwrap(), 7);
        let held = InterProcessLock::new(lock_path("timeout"));
        let guard = held.lock_async().await.unwrap();
        let err = with_timeout().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        drop(guard);
        assert_eq!(with_timeout().await.unwrap(), 7);

        assert_eq!(non_blocking().await.unwrap(), 8);
        let held = InterProcessLock::new(lock_path("non-blocking"));
        let guard = held.try_lock_async().unwrap();
        let err = non_blocking().await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        drop(guard);
        assert_eq!(non_blocking().await.unwrap(), 8);
    });
}

#[test]
fn a_panic_or_an_error_in_a_locked_async_body_releases_the_lock() {
    let _turn = non_blocking_file();
    let rt = multi_thread();
    run(&rt, async {
        assert!(tokio::spawn(panics_or_fails(false))
            .await
            .unwrap_err()
            .is_panic());
        assert!(non_blocking().await.is_ok(), "still held after the panic");
        assert!(panics_or_fails(true).await.is_err());
        assert!(non_blocking().await.is_ok(), "still held after `?`");
    });
}

/// Async methods under the crate's process locks and tokio's locks.
struct Store {
    lock: tokio::sync::Mutex<()>,
    rw: tokio::sync::RwLock<()>,
    file: InterProcessReaderWriterLock,
    inside: AtomicUsize,
    patience: Duration,
}

impl Store {
    #[locked]
    async fn exclusive(&self) -> usize {
        let inside = self.inside.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        self.inside.fetch_sub(1, Ordering::SeqCst);
        inside
    }

    #[read_locked(lock = rw)]
    async fn read(&self) -> bool {
        tokio::task::yield_now().await;
        self.rw.try_write().is_err()
    }

    #[write_locked(lock = rw)]
    async fn write(&self) -> bool {
        tokio::task::yield_now().await;
        self.rw.try_read().is_err()
    }

    #[write_locked(lock = file, timeout = self.patience)]
    async fn write_file(&self) -> fasteners::Result<bool> {
        tokio::task::yield_now().await;
        Ok(self.file.try_read_async().is_err())
    }

    #[read_locked(lock = file, blocking = false)]
    async fn read_file(&self) -> fasteners::Result<bool> {
        Ok(self.file.try_write_async().is_err())
    }

    /// Several locks, taken in order.
    #[locked(lock = [lock, rw])]
    async fn both(&self) -> (bool, bool) {
        tokio::task::yield_now().await;
        (self.lock.try_lock().is_err(), self.rw.try_read().is_err())
    }
}

/// A lock made on first use, for an async function.
static LAZY_FILE: std::sync::LazyLock<InterProcessLock> =
    std::sync::LazyLock::new(|| InterProcessLock::new(lock_path("lazy")));

#[locked(lock = LAZY_FILE)]
async fn under_lazy_file_lock() -> bool {
    tokio::task::yield_now().await;
    LAZY_FILE.try_lock_async().is_err()
}

#[test]
fn a_lazy_lock_static_works_in_async_fn() {
    let rt = current_thread();
    run(&rt, async {
        assert!(
            assert_send(under_lazy_file_lock()).await,
            "the body ran without the lock"
        );
        drop(
            LAZY_FILE
                .try_lock_async()
                .expect("the lock outlived the call"),
        );
    });
    std::fs::remove_file(lock_path("lazy")).unwrap();
}

#[test]
fn locked_async_methods_with_async_locks() {
    let rt = multi_thread();
    let store = Arc::new(Store {
        lock: tokio::sync::Mutex::new(()),
        rw: tokio::sync::RwLock::new(()),
        file: InterProcessReaderWriterLock::new(lock_path("store")),
        inside: AtomicUsize::new(0),
        patience: Duration::from_millis(30),
    });
    run(&rt, async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for _ in 0..50 {
                        assert_eq!(store.exclusive().await, 0, "two tasks inside");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert!(assert_send(store.read()).await);
        assert!(store.write().await);
        assert!(assert_send(store.write_file()).await.unwrap());
        assert!(store.read_file().await.unwrap());
        assert_eq!(store.both().await, (true, true));

        // The timeout and `blocking = false` report a held file lock.
        let writing = store.file.try_write_async().unwrap();
        assert_eq!(
            store.write_file().await.unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        assert_eq!(
            store.read_file().await.unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        drop(writing);
    });
}

/// A method whose future is `Send` holds the crate's lock across `.await` in
/// a task moved between threads.
struct Journal {
    lock: InterProcessLock,
}

impl Journal {
    #[locked]
    async fn append(self: Arc<Self>, line: u32) -> u32 {
        tokio::task::yield_now().await;
        line
    }
}

#[test]
fn an_arc_self_async_method_spawns() {
    let rt = multi_thread();
    let journal = Arc::new(Journal {
        lock: InterProcessLock::new(lock_path("journal")),
    });
    run(&rt, async {
        let task = tokio::spawn(Arc::clone(&journal).append(3));
        assert_eq!(task.await.unwrap(), 3);
    });
}
