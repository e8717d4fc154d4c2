//! A call of an annotated method against the same method written by hand
//! with a guard, in one run: the attribute should cost nothing extra.
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

fn attribute_vs_hand_written(c: &mut Criterion) {
    let counter = Counter {
        lock: Mutex::new(()),
        rw: RwLock::new(()),
        crate_rw: ReaderWriterLock::new(),
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
    let _ = std::fs::remove_file(file_lock_path());
}

criterion_group!(benches, attribute_vs_hand_written);
criterion_main!(benches);
