//! A call of an annotated method against the same method written by hand
//! with a guard, in one run: the attribute should cost nothing extra. The
//! same for `async fn`, each call polled once (the lock is free, so the
//! future is ready at its first poll).
//!
//! Run with `cargo bench --bench macros -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::sync::{Mutex, PoisonError, RwLock};

use criterion::{criterion_group, criterion_main, Criterion};
use fasteners::{
    interprocess_locked, locked, read_locked, write_locked, InterProcessLock, ReaderWriterLock,
};

struct Counter {
    lock: Mutex<()>,
    rw: RwLock<()>,
    crate_rw: ReaderWriterLock,
    tokio_lock: tokio::sync::Mutex<()>,
}

/// The body both versions run: enough to not be optimised away.
#[inline(always)]
fn body(x: u64) -> u64 {
    black_box(x).wrapping_mul(31)
}

impl Counter {
    #[inline(never)]
    #[locked]
    fn attribute(&self, x: u64) -> u64 {
        body(x)
    }

    #[inline(never)]
    fn by_hand(&self, x: u64) -> u64 {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        body(x)
    }

    #[inline(never)]
    #[read_locked(lock = rw)]
    fn read_attribute(&self, x: u64) -> u64 {
        body(x)
    }

    #[inline(never)]
    fn read_by_hand(&self, x: u64) -> u64 {
        let _guard = self.rw.read().unwrap_or_else(PoisonError::into_inner);
        body(x)
    }

    #[inline(never)]
    #[write_locked(lock = rw)]
    fn write_attribute(&self, x: u64) -> u64 {
        body(x)
    }

    #[inline(never)]
    fn write_by_hand(&self, x: u64) -> u64 {
        let _guard = self.rw.write().unwrap_or_else(PoisonError::into_inner);
        body(x)
    }

    #[inline(never)]
    #[locked(blocking = false)]
    fn try_attribute(&self, x: u64) -> fasteners::Result<u64> {
        Ok(body(x))
    }

    #[inline(never)]
    fn try_by_hand(&self, x: u64) -> fasteners::Result<u64> {
        let _guard = fasteners::Lockable::try_lock(&self.lock)?;
        Ok(body(x))
    }
}

impl Counter {
    #[inline(never)]
    #[read_locked(lock = crate_rw)]
    fn crate_read_attribute(&self, x: u64) -> u64 {
        body(x)
    }

    #[inline(never)]
    fn crate_read_by_hand(&self, x: u64) -> u64 {
        let _guard = self.crate_rw.read().expect("read lock");
        body(x)
    }

    #[inline(never)]
    #[write_locked(lock = crate_rw)]
    fn crate_write_attribute(&self, x: u64) -> u64 {
        body(x)
    }

    #[inline(never)]
    fn crate_write_by_hand(&self, x: u64) -> u64 {
        let _guard = self.crate_rw.write().expect("write lock");
        body(x)
    }
}

impl Counter {
    #[inline(never)]
    #[locked(lock = tokio_lock)]
    async fn async_attribute(&self, x: u64) -> u64 {
        body(x)
    }

    #[inline(never)]
    async fn async_by_hand(&self, x: u64) -> u64 {
        let _guard = self.tokio_lock.lock().await;
        body(x)
    }
}

/// A waker that does nothing: nothing waits in these benchmarks.
struct Nobody;

impl std::task::Wake for Nobody {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// Polls `future` once: the benchmarks take free locks, so it is ready.
fn ready<F: std::future::Future>(future: F) -> F::Output {
    static WAKER: std::sync::LazyLock<std::task::Waker> =
        std::sync::LazyLock::new(|| std::sync::Arc::new(Nobody).into());
    let mut cx = std::task::Context::from_waker(&WAKER);
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a free lock kept the future waiting"),
    }
}

fn file_lock_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "fasteners-bench-macros-{}.lock",
        std::process::id()
    ))
}

#[inline(never)]
#[interprocess_locked(file_lock_path())]
fn file_attribute(x: u64) -> u64 {
    body(x)
}

/// The hand-written counterpart: one lock object per function, made once.
#[inline(never)]
fn file_by_hand(x: u64) -> u64 {
    static LOCK: std::sync::LazyLock<InterProcessLock> =
        std::sync::LazyLock::new(|| InterProcessLock::new(file_lock_path()));
    let _guard = LOCK.lock().expect("file lock");
    body(x)
}

#[inline(never)]
#[interprocess_locked(file_lock_path())]
async fn async_file_attribute(x: u64) -> u64 {
    body(x)
}

#[inline(never)]
async fn async_file_by_hand(x: u64) -> u64 {
    static LOCK: std::sync::LazyLock<InterProcessLock> =
        std::sync::LazyLock::new(|| InterProcessLock::new(file_lock_path()));
    let _guard = LOCK.lock_async().await.expect("file lock");
    body(x)
}

fn attribute_vs_hand_written(c: &mut Criterion) {
    // Created now, so that its change time has settled by the time the
    // file lock benchmarks run: a lock file changed in the last 2 s is
    // checked with a full `stat(path)` at every acquisition.
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(file_lock_path())
            .expect("create the lock file"),
    );
    let counter = Counter {
        lock: Mutex::new(()),
        rw: RwLock::new(()),
        crate_rw: ReaderWriterLock::new(),
        tokio_lock: tokio::sync::Mutex::new(()),
    };
    let mut group = c.benchmark_group("std Mutex");
    group.bench_function("#[locked]", |b| b.iter(|| counter.attribute(black_box(7))));
    group.bench_function("by hand", |b| b.iter(|| counter.by_hand(black_box(7))));
    group.finish();

    let mut group = c.benchmark_group("std Mutex, non-blocking");
    group.bench_function("#[locked(blocking = false)]", |b| {
        b.iter(|| counter.try_attribute(black_box(7)))
    });
    group.bench_function("by hand", |b| b.iter(|| counter.try_by_hand(black_box(7))));
    group.finish();

    let mut group = c.benchmark_group("std RwLock read");
    group.bench_function("#[read_locked]", |b| {
        b.iter(|| counter.read_attribute(black_box(7)))
    });
    group.bench_function("by hand", |b| b.iter(|| counter.read_by_hand(black_box(7))));
    group.finish();

    let mut group = c.benchmark_group("std RwLock write");
    group.bench_function("#[write_locked]", |b| {
        b.iter(|| counter.write_attribute(black_box(7)))
    });
    group.bench_function("by hand", |b| {
        b.iter(|| counter.write_by_hand(black_box(7)))
    });
    group.finish();

    let mut group = c.benchmark_group("ReaderWriterLock read");
    group.bench_function("#[read_locked]", |b| {
        b.iter(|| counter.crate_read_attribute(black_box(7)))
    });
    group.bench_function("by hand", |b| {
        b.iter(|| counter.crate_read_by_hand(black_box(7)))
    });
    group.finish();

    let mut group = c.benchmark_group("ReaderWriterLock write");
    group.bench_function("#[write_locked]", |b| {
        b.iter(|| counter.crate_write_attribute(black_box(7)))
    });
    group.bench_function("by hand", |b| {
        b.iter(|| counter.crate_write_by_hand(black_box(7)))
    });
    group.finish();

    let mut group = c.benchmark_group("InterProcessLock");
    group.bench_function("#[interprocess_locked]", |b| {
        b.iter(|| file_attribute(black_box(7)))
    });
    group.bench_function("by hand", |b| b.iter(|| file_by_hand(black_box(7))));
    group.finish();

    let mut group = c.benchmark_group("tokio Mutex, async fn");
    group.bench_function("#[locked]", |b| {
        b.iter(|| ready(counter.async_attribute(black_box(7))))
    });
    group.bench_function("by hand", |b| {
        b.iter(|| ready(counter.async_by_hand(black_box(7))))
    });
    group.finish();

    let mut group = c.benchmark_group("InterProcessLock, async fn");
    group.bench_function("#[interprocess_locked]", |b| {
        b.iter(|| ready(async_file_attribute(black_box(7))))
    });
    group.bench_function("by hand", |b| {
        b.iter(|| ready(async_file_by_hand(black_box(7))))
    });
    group.finish();
    let _ = std::fs::remove_file(file_lock_path());
}

criterion_group!(benches, attribute_vs_hand_written);
criterion_main!(benches);
