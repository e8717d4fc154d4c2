//! Async acquisition of the process locks: exclusion between tasks, threads
//! and processes on both tokio runtime flavours, handover wake-ups, timeouts,
//! cancellation, panics, `Send` guards, and the async lock traits.

mod process_common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fasteners::{
    AsyncLockable, AsyncSharedLockable, AsyncSharedTimedLockable, AsyncTimedLockable, ErrorKind,
    InterProcessLock, InterProcessReaderWriterLock, Mechanism,
};
use process_common::{mechanisms, Helper, TempDir, STEP};
use tokio::runtime::{Builder, Runtime};

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `future` on `runtime`, failing the test if it takes longer than [`STEP`].
fn run<F: std::future::Future>(runtime: &Runtime, future: F) -> F::Output {
    runtime.block_on(async {
        tokio::time::timeout(STEP, future)
            .await
            .expect("the async test did not finish in time")
    })
}

fn read_counter(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// One task's increments, as the helper's `async-counter` does them; returns
/// the overlaps it saw through the sentinel `flock`.
async fn increments(
    lock: Arc<InterProcessReaderWriterLock>,
    exclusive: Option<Arc<InterProcessLock>>,
    counter: std::path::PathBuf,
    count: usize,
) -> usize {
    let sentinel = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(counter.with_extension("sentinel"))
        .unwrap();
    let mut violations = 0;
    for _ in 0..count {
        let (a, b);
        match &exclusive {
            Some(lock) => {
                a = Some(lock.lock_async().await.unwrap());
                b = None;
            }
            None => {
                a = None;
                b = Some(lock.write_async().await.unwrap());
            }
        }
        if fs4::FileExt::try_lock(&sentinel).is_err() {
            violations += 1;
        }
        let value = read_counter(&counter);
        tokio::task::yield_now().await;
        std::fs::write(&counter, (value + 1).to_string()).unwrap();
        fs4::FileExt::unlock(&sentinel).unwrap();
        drop((a, b));
    }
    violations
}

/// Two tasks of one runtime and one task of another process increment one
/// counter under one lock file: every increment counts, nobody overlaps.
fn tasks_and_a_process_count_exactly(runtime: &Runtime, flavour: &str) {
    const PER_TASK: usize = 150;
    for mechanism in mechanisms() {
        for exclusive in [true, false] {
            let dir = TempDir::new("async-counter");
            let path = dir.join("counter.lock");
            let counter = dir.join("counter.txt");
            let kind = if exclusive { "ex" } else { "write" };
            let counter_arg = counter.to_str().unwrap();
            let per_task = PER_TASK.to_string();
            let mut other = Helper::start(
                "async-counter",
                mechanism,
                &path,
                &[kind, counter_arg, "1", &per_task, flavour],
            );
            let lock = Arc::new(InterProcessReaderWriterLock::with_mechanism(
                &path, mechanism,
            ));
            let ex =
                exclusive.then(|| Arc::new(InterProcessLock::with_mechanism(&path, mechanism)));
            other.send("go");
            let violations = run(runtime, async {
                let a = tokio::spawn(increments(
                    lock.clone(),
                    ex.clone(),
                    counter.clone(),
                    PER_TASK,
                ));
                // The second task has lock objects of its own.
                let b = tokio::spawn(increments(
                    Arc::new(InterProcessReaderWriterLock::with_mechanism(
                        &path, mechanism,
                    )),
                    exclusive.then(|| Arc::new(InterProcessLock::with_mechanism(&path, mechanism))),
                    counter.clone(),
                    PER_TASK,
                ));
                a.await.unwrap() + b.await.unwrap()
            });
            other.expect("done");
            assert!(other.finish().success());
            assert_eq!(violations, 0, "{mechanism:?} {kind}");
            assert_eq!(
                read_counter(&counter),
                3 * PER_TASK as u64,
                "{mechanism:?} {kind}"
            );
        }
    }
}

#[test]
fn tasks_and_a_process_count_exactly_current_thread() {
    tasks_and_a_process_count_exactly(&current_thread(), "current");
}

#[test]
fn tasks_and_a_process_count_exactly_multi_thread() {
    tasks_and_a_process_count_exactly(&multi_thread(), "multi");
}

/// Control for the two tests above: two helper processes of two tasks each,
/// doing the same increments in the helper's no-lock mode, overlap (the
/// sentinel sees it) or lose increments, so the exact count above does
/// prove exclusion.
#[test]
fn control_async_counting_without_the_lock_overlaps() {
    const PER_TASK: u64 = 150;
    let dir = TempDir::new("async-counter-control");
    let counter = dir.join("counter.txt");
    let per_task = PER_TASK.to_string();
    let args = ["ex", counter.to_str().unwrap(), "2", &per_task, "multi"];
    let mut children: Vec<_> = (0..2)
        .map(|_| Helper::start_unlocked("async-counter", &dir.join("counter.lock"), &args))
        .collect();
    for child in &mut children {
        child.send("go");
    }
    let mut violations = 0;
    for mut child in children {
        let line = child.next_line();
        let status = child.finish();
        if line.starts_with("violation") {
            assert!(!status.success(), "a violation exits with failure");
            violations += 1;
        } else {
            assert_eq!(line, "done");
        }
    }
    let counted = read_counter(&counter);
    assert!(
        violations > 0 || counted < 2 * 2 * PER_TASK,
        "no overlap and no lost increment without the lock: the test cannot see a violation"
    );
}

/// The holder is another task of the same current-thread runtime: the
/// waiter yields instead of blocking the only thread, so the holder finishes.
#[test]
fn a_waiter_does_not_deadlock_a_current_thread_runtime() {
    let rt = current_thread();
    for mechanism in mechanisms() {
        let dir = TempDir::new("async-same-rt");
        let path = dir.join("a.lock");
        let lock = Arc::new(InterProcessLock::with_mechanism(&path, mechanism));
        let rw = Arc::new(InterProcessReaderWriterLock::with_mechanism(
            &path, mechanism,
        ));
        let order = run(&rt, async {
            let order = Arc::new(std::sync::Mutex::new(Vec::new()));
            let inside = Arc::new(AtomicUsize::new(0));
            let guard = lock.lock_async().await.unwrap();
            let waiters: Vec<_> = (0..3)
                .map(|i| {
                    let (lock, rw, order, inside) =
                        (lock.clone(), rw.clone(), order.clone(), inside.clone());
                    tokio::spawn(async move {
                        // Each side excludes the others (a shared side
                        // excludes the exclusive ones), so one at a time:
                        // yielding inside lets another task try to enter.
                        let enter = || {
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two inside");
                        };
                        match i {
                            0 => {
                                let g = lock.lock_async().await.unwrap();
                                enter();
                                tokio::task::yield_now().await;
                                inside.fetch_sub(1, Ordering::SeqCst);
                                drop(g);
                            }
                            1 => {
                                let g = rw.write_async().await.unwrap();
                                enter();
                                tokio::task::yield_now().await;
                                inside.fetch_sub(1, Ordering::SeqCst);
                                drop(g);
                            }
                            _ => {
                                let g = rw.read_async().await.unwrap();
                                enter();
                                tokio::task::yield_now().await;
                                inside.fetch_sub(1, Ordering::SeqCst);
                                drop(g);
                            }
                        }
                        order.lock().unwrap().push(i);
                    })
                })
                .collect();
            // Let every waiter run up to its wait.
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            assert!(order.lock().unwrap().is_empty(), "a waiter got a held lock");
            guard.release().unwrap();
            for waiter in waiters {
                waiter.await.unwrap();
            }
            let order = order.lock().unwrap().clone();
            order
        });
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [0, 1, 2],
            "each waiter got its lock once: {order:?}"
        );
    }
}

/// A thread of this process releases: the waiting task is woken (no polling).
#[test]
fn a_thread_hands_over_to_a_task() {
    let rt = multi_thread();
    for mechanism in mechanisms() {
        let dir = TempDir::new("async-thread");
        let path = dir.join("a.lock");
        let lock = &InterProcessLock::with_mechanism(&path, mechanism);
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            s.spawn(move || {
                let guard = lock.lock().unwrap();
                locked_tx.send(()).unwrap();
                release_rx.recv_timeout(STEP).unwrap();
                guard.release().unwrap();
            });
            locked_rx.recv_timeout(STEP).unwrap();
            let task_lock = InterProcessLock::with_mechanism(&path, mechanism);
            run(&rt, async {
                assert_eq!(
                    task_lock.try_lock_async().unwrap_err().kind(),
                    ErrorKind::WouldBlock
                );
                let waiting = task_lock.lock_async();
                let mut waiting = std::pin::pin!(waiting);
                assert!(
                    tokio::time::timeout(Duration::from_millis(20), waiting.as_mut())
                        .await
                        .is_err(),
                    "acquired while a thread holds it"
                );
                release_tx.send(()).unwrap();
                waiting.await.unwrap().release().unwrap();
            });
        });
    }
}

/// Held by another process: the timed acquire gives up; released during the
/// wait: the waiting task gets it.
#[test]
fn timed_acquisition_against_another_process() {
    let rt = current_thread();
    for mechanism in mechanisms() {
        let dir = TempDir::new("async-timed");
        let path = dir.join("a.lock");
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        let rw = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        run(&rt, async {
            let short = Duration::from_millis(30);
            let started = tokio::time::Instant::now();
            let err = lock.lock_async_for(short).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut);
            assert!(started.elapsed() >= short);
            assert_eq!(err.path(), Some(path.as_path()));
            assert_eq!(
                rw.read_async_for(short).await.unwrap_err().kind(),
                ErrorKind::TimedOut
            );
            assert_eq!(
                rw.write_async_for(short).await.unwrap_err().kind(),
                ErrorKind::TimedOut
            );
            let waiting = lock.lock_async_for(STEP);
            let mut waiting = std::pin::pin!(waiting);
            assert!(tokio::time::timeout(short, waiting.as_mut()).await.is_err());
            holder.send("release");
            let guard = waiting.await.unwrap();
            holder.expect("released");
            guard.release().unwrap();
        });
        assert!(holder.finish().success());
    }
}

/// Readers share, also across processes; a writer excludes them; a waiting
/// writer goes before new readers of this process.
#[test]
fn read_and_write_sides() {
    let rt = current_thread();
    for mechanism in mechanisms() {
        let dir = TempDir::new("async-rw");
        let path = dir.join("a.lock");
        let mut reader = Helper::start("hold-async", mechanism, &path, &["read"]);
        reader.expect("locked");
        let lock = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        run(&rt, async {
            let r1 = lock.read_async().await.unwrap();
            let r2 = lock.try_read_async().unwrap();
            assert_eq!(
                lock.try_write_async().unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            let writing = lock.write_async();
            let mut writing = std::pin::pin!(writing);
            assert!(
                tokio::time::timeout(Duration::from_millis(10), writing.as_mut())
                    .await
                    .is_err()
            );
            // Writers first: a new reader of this process waits behind it.
            assert_eq!(
                lock.try_read_async().unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            drop((r1, r2));
            reader.send("release");
            let w = writing.await.unwrap();
            reader.expect("released");
            assert_eq!(
                lock.try_read_async().unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            w.release().unwrap();
            drop(lock.try_read_async().unwrap());
        });
        assert!(reader.finish().success());
    }
}

/// A panic in a task holding the lock releases it (the guard drops while
/// unwinding); no poisoning.
#[test]
fn a_panicking_task_releases_the_lock() {
    let rt = multi_thread();
    let dir = TempDir::new("async-panic");
    let path = dir.join("a.lock");
    let lock = Arc::new(InterProcessLock::new(&path));
    run(&rt, async {
        let task = {
            let lock = lock.clone();
            tokio::spawn(async move {
                let _guard = lock.lock_async().await.unwrap();
                tokio::task::yield_now().await;
                panic!("inside the locked section");
            })
        };
        assert!(task.await.unwrap_err().is_panic());
        drop(lock.try_lock_async().unwrap());
    });
    let mut other = Helper::start("try", Mechanism::default(), &path, &["ex"]);
    other.expect("got");
}

/// The guard is `Send` and `Sync`: a future holding it across `.await` is
/// spawned on a multi-thread runtime and the guard may drop on another thread.
#[test]
fn guards_cross_await_and_threads() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let rt = multi_thread();
    let dir = TempDir::new("async-send");
    let path = dir.join("a.lock");
    let lock: &'static InterProcessReaderWriterLock =
        Box::leak(Box::new(InterProcessReaderWriterLock::new(&path)));
    let inside = Arc::new(AtomicBool::new(false));
    let entered = Arc::new(AtomicUsize::new(0));
    run(&rt, async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (inside, entered) = (inside.clone(), entered.clone());
                let future = async move {
                    for _ in 0..20 {
                        let guard = lock.write_async().await.unwrap();
                        assert_send_sync(&guard);
                        assert!(!inside.swap(true, Ordering::SeqCst), "two writers inside");
                        tokio::task::yield_now().await;
                        inside.store(false, Ordering::SeqCst);
                        entered.fetch_add(1, Ordering::SeqCst);
                        // Released on a thread of the blocking pool.
                        tokio::task::spawn_blocking(move || drop(guard))
                            .await
                            .unwrap();
                    }
                };
                tokio::spawn(future)
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(entered.load(Ordering::SeqCst), 160);
}

/// Cancellation racing with the kernel's grant: the future is dropped just
/// as the other process releases. Afterwards the lock is free.
#[test]
fn cancel_racing_with_the_grant_leaves_the_lock_free() {
    let rt = current_thread();
    for mechanism in mechanisms() {
        let dir = TempDir::new("async-race");
        let path = dir.join("a.lock");
        for round in 0..15u64 {
            let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
            holder.expect("locked");
            let lock = InterProcessLock::with_mechanism(&path, mechanism);
            run(&rt, async {
                let waiting = lock.lock_async();
                let mut waiting = std::pin::pin!(waiting);
                assert!(futures_poll_once(waiting.as_mut()).await.is_none());
                holder.send("release");
                // Drop at varying moments around the grant.
                for _ in 0..round * 20 {
                    std::hint::spin_loop();
                }
                if round % 3 == 0 {
                    holder.expect("released");
                }
            });
            // The future is gone; a process can take the lock (once the
            // background waiter has given back a grant that came too late).
            drop(lock);
            let deadline = std::time::Instant::now() + STEP;
            loop {
                let mut other = Helper::start("try", mechanism, &path, &["ex"]);
                if other.next_line() == "got" {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "the lock stayed held");
            }
        }
    }
}

/// Polls `future` once: `Some(output)` if it was ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut future: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        Poll::Ready(
            match std::future::Future::poll(std::pin::Pin::new(&mut future), cx) {
                Poll::Ready(output) => Some(output),
                Poll::Pending => None,
            },
        )
    })
    .await
}

use std::task::Poll;

/// Generic code over the async traits works with the process locks, and
/// with tokio's locks (feature `tokio`), timeouts included, on a runtime
/// without tokio's time driver.
#[test]
fn async_traits() {
    async fn exclusive<L: AsyncTimedLockable>(lock: &L) -> ErrorKind {
        let guard = lock.lock_async().await.unwrap();
        let kind = lock
            .lock_async_for(Duration::from_millis(10))
            .await
            .err()
            .map(|err| err.kind())
            .unwrap();
        assert_eq!(
            lock.try_lock_async().err().unwrap().kind(),
            ErrorKind::WouldBlock
        );
        drop(guard);
        drop(lock.try_lock_async().unwrap());
        kind
    }
    async fn shared<L: AsyncSharedTimedLockable>(lock: &L) {
        let r1 = lock.lock_shared_async().await.unwrap();
        let r2 = lock.lock_shared_async_for(STEP).await.unwrap();
        let r3 = lock.try_lock_shared_async().unwrap();
        assert!(lock
            .lock_async_for(Duration::from_millis(10))
            .await
            .is_err());
        drop((r1, r2, r3));
        let w = lock.lock_async().await.unwrap();
        assert!(lock.try_lock_shared_async().is_err());
        drop(w);
    }
    // No `enable_time`: the timeouts do not use tokio's timer.
    let rt = Builder::new_current_thread().build().unwrap();
    let dir = TempDir::new("async-traits");
    let path = dir.join("a.lock");
    rt.block_on(async {
        // A task does not recognise itself: the second attempt times out.
        assert_eq!(
            exclusive(&InterProcessLock::new(&path)).await,
            ErrorKind::TimedOut
        );
        assert_eq!(
            exclusive(&Arc::new(InterProcessReaderWriterLock::new(&path))).await,
            ErrorKind::TimedOut
        );
        assert_eq!(
            exclusive(&tokio::sync::Mutex::new(())).await,
            ErrorKind::TimedOut
        );
        shared(&InterProcessReaderWriterLock::new(&path)).await;
        shared(&Box::new(tokio::sync::RwLock::new(0))).await;
    });
}

/// The futures of the async methods are `Send`.
#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    let lock = InterProcessLock::new("never-locked-by-this-test.lock");
    let rw = InterProcessReaderWriterLock::new("never-locked-by-this-test.lock");
    assert_send(lock.lock_async());
    assert_send(lock.lock_async_for(STEP));
    assert_send(rw.read_async());
    assert_send(rw.write_async_for(STEP));
    assert_send(AsyncSharedLockable::lock_shared_async(&rw));
    assert_send(AsyncLockable::lock_async(&tokio::sync::Mutex::new(())));
}
