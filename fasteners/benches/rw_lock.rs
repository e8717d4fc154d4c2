//! Uncontended read and write cycles (acquire + release) of the in-process
//! `ReaderWriterLock`, against `std::sync::RwLock` and `parking_lot::RwLock`
//! in the same run, plus two threads reading one lock at once.
//!
//! Run: `cargo bench -p fasteners --bench rw_lock -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use fasteners::ReaderWriterLock;

fn uncontended(c: &mut Criterion) {
    let mut read = c.benchmark_group("read_cycle");
    let ours = ReaderWriterLock::new();
    read.bench_function("fasteners", |b| {
        b.iter(|| drop(black_box(black_box(&ours).read().unwrap())))
    });
    let std_lock = std::sync::RwLock::new(());
    read.bench_function("std", |b| {
        b.iter(|| drop(black_box(black_box(&std_lock).read().unwrap())))
    });
    let pl = parking_lot::RwLock::new(());
    read.bench_function("parking_lot", |b| {
        b.iter(|| drop(black_box(black_box(&pl).read())))
    });
    read.finish();

    let mut write = c.benchmark_group("write_cycle");
    write.bench_function("fasteners", |b| {
        b.iter(|| drop(black_box(black_box(&ours).write().unwrap())))
    });
    write.bench_function("std", |b| {
        b.iter(|| drop(black_box(black_box(&std_lock).write().unwrap())))
    });
    write.bench_function("parking_lot", |b| {
        b.iter(|| drop(black_box(black_box(&pl).write())))
    });
    write.finish();

    // A re-entrant read: the thread already reads, so only its own count changes.
    let mut nested = c.benchmark_group("nested_read_cycle");
    let _outer = ours.read().unwrap();
    nested.bench_function("fasteners", |b| {
        b.iter(|| drop(black_box(black_box(&ours).read().unwrap())))
    });
    nested.finish();
}

/// Runs `cycle` `iters` times on each of two threads at once and returns the
/// wall time: the time per iteration is then the time per *pair* of reads.
fn two_readers(iters: u64, cycle: &(dyn Fn() + Sync)) -> Duration {
    let start = Barrier::new(3);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                start.wait();
                for _ in 0..iters {
                    cycle();
                }
            });
        }
        start.wait();
        let began = Instant::now();
        // Leaving the scope joins both readers.
        began
    })
    .elapsed()
}

fn concurrent_readers(c: &mut Criterion) {
    let mut group = c.benchmark_group("two_threads_read");
    let ours = ReaderWriterLock::new();
    group.bench_function("fasteners", |b| {
        b.iter_custom(|iters| two_readers(iters, &|| drop(black_box(ours.read().unwrap()))))
    });
    let std_lock = std::sync::RwLock::new(());
    group.bench_function("std", |b| {
        b.iter_custom(|iters| two_readers(iters, &|| drop(black_box(std_lock.read().unwrap()))))
    });
    let pl = parking_lot::RwLock::new(());
    group.bench_function("parking_lot", |b| {
        b.iter_custom(|iters| two_readers(iters, &|| drop(black_box(pl.read()))))
    });
    group.finish();
}

criterion_group!(benches, uncontended, concurrent_readers);
criterion_main!(benches);
