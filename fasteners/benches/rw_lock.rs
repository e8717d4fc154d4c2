//! The in-process `ReaderWriterLock` against `std::sync::RwLock` and
//! `parking_lot::RwLock`, on the same work in the same run: uncontended read
//! and write cycles (acquire + release), and 2 or 4 threads cycling on one
//! lock, reading only or writing once in every 16 cycles.
//!
//! ```text
//! cargo bench -p fasteners --bench rw_lock                      # the table
//! cargo bench -p fasteners --bench rw_lock -- --rounds 21 --sample-ms 30
//! cargo bench -p fasteners --bench rw_lock -- --instructions    # callgrind counts
//! cargo bench -p fasteners --bench rw_lock -- --callgrind read fasteners 100000
//! ```
//!
//! Timings are taken in interleaved rounds: each round runs every case on
//! every lock once, always in the same order, so a burst of load from
//! elsewhere on the machine hits all three locks of a case alike. Each
//! case's figure is the median over the rounds, and its ratio to std is
//! *paired*: the ratio within each round, then the median of those, which
//! cancels most of the drift a shared machine adds between rounds.
//!
//! `--instructions` runs this benchmark under `valgrind --tool=callgrind`
//! (which must be installed) in `--callgrind` mode, once with N and once
//! with 2N cycles of a case, and reports the difference divided by N: the
//! instructions of one cycle, start-up excluded. Those repeat exactly from
//! run to run, whatever the load.
//!
//! `--callgrind CASE LOCK N` only runs N uncontended cycles (`CASE` is
//! `read`, `write` or `nested-read`; `LOCK` is `fasteners`, `std` or
//! `parking_lot`) and prints nothing, for counting under a profiler.

use std::hint::black_box;
use std::process::Command;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use fasteners::ReaderWriterLock;

/// One write in this many cycles, in the mixed cases.
const WRITE_EVERY: u64 = 16;

/// The three locks, cycled the same way.
trait Subject: Sync {
    fn read_cycle(&self);
    fn write_cycle(&self);
}

impl Subject for ReaderWriterLock {
    #[inline]
    fn read_cycle(&self) {
        drop(black_box(black_box(self).read().unwrap()));
    }

    #[inline]
    fn write_cycle(&self) {
        drop(black_box(black_box(self).write().unwrap()));
    }
}

impl Subject for std::sync::RwLock<()> {
    #[inline]
    fn read_cycle(&self) {
        drop(black_box(black_box(self).read().unwrap()));
    }

    #[inline]
    fn write_cycle(&self) {
        drop(black_box(black_box(self).write().unwrap()));
    }
}

impl Subject for parking_lot::RwLock<()> {
    #[inline]
    fn read_cycle(&self) {
        drop(black_box(black_box(self).read()));
    }

    #[inline]
    fn write_cycle(&self) {
        drop(black_box(black_box(self).write()));
    }
}

#[derive(Clone, Copy)]
enum Case {
    /// Uncontended read cycles on one thread.
    Read,
    /// Uncontended write cycles on one thread.
    Write,
    /// `threads` threads cycling at once; every `WRITE_EVERY`-th cycle of
    /// each thread writes if `mixed`, else all read.
    Threads { threads: u64, mixed: bool },
}

impl Case {
    fn label(self) -> String {
        match self {
            Case::Read => "uncontended read cycle".into(),
            Case::Write => "uncontended write cycle".into(),
            Case::Threads {
                threads,
                mixed: false,
            } => format!("{threads} threads, read only"),
            Case::Threads {
                threads,
                mixed: true,
            } => format!("{threads} threads, 1 write in {WRITE_EVERY}"),
        }
    }

    /// The issue's target for `fasteners ÷ std` (and `fasteners ÷
    /// parking_lot` where that is a target too), if there is one.
    fn target(self) -> Option<(f64, bool)> {
        match self {
            Case::Read | Case::Write => Some((1.5, false)),
            Case::Threads {
                threads: 4,
                mixed: false,
            } => Some((1.2, false)),
            Case::Threads {
                threads: 4,
                mixed: true,
            } => Some((2.0, true)),
            Case::Threads { .. } => None,
        }
    }

    /// Runs `cycles` cycles (per thread) and returns nanoseconds per cycle
    /// (wall time over all threads' cycles).
    fn sample(self, lock: &dyn Sampler, cycles: u64) -> f64 {
        let (elapsed, total) = match self {
            Case::Read => (lock.single(false, cycles), cycles),
            Case::Write => (lock.single(true, cycles), cycles),
            Case::Threads { threads, mixed } => {
                (lock.threads(threads, mixed, cycles), threads * cycles)
            }
        };
        elapsed.as_nanos() as f64 / total as f64
    }
}

/// A [`Subject`] behind a trait object, with the loops monomorphised.
trait Sampler: Sync {
    fn single(&self, write: bool, cycles: u64) -> Duration;
    fn threads(&self, threads: u64, mixed: bool, cycles: u64) -> Duration;
}

impl<S: Subject> Sampler for S {
    fn single(&self, write: bool, cycles: u64) -> Duration {
        let began = Instant::now();
        if write {
            for _ in 0..cycles {
                self.write_cycle();
            }
        } else {
            for _ in 0..cycles {
                self.read_cycle();
            }
        }
        began.elapsed()
    }

    /// The span from the first thread's start to the last one's end, as
    /// the threads see it (the main thread may be descheduled meanwhile).
    fn threads(&self, threads: u64, mixed: bool, cycles: u64) -> Duration {
        let start = Barrier::new(threads as usize);
        let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|n| {
                    let start = &start;
                    s.spawn(move || {
                        start.wait();
                        let began = Instant::now();
                        // The threads write at different points of their 16.
                        let offset = n * WRITE_EVERY / threads;
                        for i in 0..cycles {
                            if mixed && (i + offset) % WRITE_EVERY == 0 {
                                self.write_cycle();
                            } else {
                                self.read_cycle();
                            }
                        }
                        (began, Instant::now())
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let began = spans.iter().map(|s| s.0).min().unwrap();
        let ended = spans.iter().map(|s| s.1).max().unwrap();
        ended - began
    }
}

struct Options {
    rounds: usize,
    sample: Duration,
    /// A check that the harness runs (`cargo test`), not a measurement.
    smoke: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--callgrind") {
        let usage = "--callgrind read|write|nested-read fasteners|std|parking_lot N";
        let case = args.get(at + 1).expect(usage);
        let lock = args.get(at + 2).expect(usage);
        let cycles: u64 = args.get(at + 3).and_then(|n| n.parse().ok()).expect(usage);
        callgrind_cycles(case, lock, cycles);
        return;
    }
    if args.iter().any(|a| a == "--instructions") {
        instructions();
        return;
    }
    let value = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .map(|at| {
                args.get(at + 1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{name} takes a number"))
            })
            .unwrap_or(default)
    };
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with
    // no such flag: then one short round, so the harness stays working.
    let smoke = !args.iter().any(|a| a == "--bench");
    let options = Options {
        rounds: value("--rounds", if smoke { 1 } else { 15 }).max(1) as usize,
        sample: Duration::from_millis(value("--sample-ms", if smoke { 1 } else { 20 })),
        smoke,
    };
    timings(&options);
}

fn timings(options: &Options) {
    let fasteners = ReaderWriterLock::new();
    let std_lock = std::sync::RwLock::new(());
    let parking_lot = parking_lot::RwLock::new(());
    let locks: [&dyn Sampler; 3] = [&fasteners, &std_lock, &parking_lot];
    let cases = [
        Case::Read,
        Case::Write,
        Case::Threads {
            threads: 2,
            mixed: false,
        },
        Case::Threads {
            threads: 4,
            mixed: false,
        },
        Case::Threads {
            threads: 2,
            mixed: true,
        },
        Case::Threads {
            threads: 4,
            mixed: true,
        },
    ];
    let load_before = load_average();

    // Cycles per sample, per case: enough for std to take about
    // `options.sample`; the same count for all three locks.
    let cycles: Vec<u64> = cases
        .iter()
        .map(|&case| {
            let mut cycles = 1_000;
            loop {
                let threads = match case {
                    Case::Threads { threads, .. } => threads as f64,
                    _ => 1.0,
                };
                let elapsed = case.sample(&std_lock, cycles) * cycles as f64 * threads;
                if elapsed >= 2e6 {
                    let wanted = options.sample.as_nanos() as f64 / elapsed * cycles as f64;
                    break (wanted as u64).max(1);
                }
                cycles *= 4;
            }
        })
        .collect();

    // results[case][lock][round], in ns per cycle.
    let mut results = vec![vec![Vec::new(); 3]; cases.len()];
    // One round first to warm up, not counted.
    for round in 0..=options.rounds {
        for (c, &case) in cases.iter().enumerate() {
            for (l, lock) in locks.iter().enumerate() {
                let ns = case.sample(*lock, cycles[c]);
                if round > 0 {
                    results[c][l].push(ns);
                }
            }
        }
    }
    let load_after = load_average();

    if options.smoke {
        println!(
            "Smoke run (no `--bench`: probably `cargo test`, maybe unoptimised): the figures \
             below are not a measurement; run `cargo bench -p fasteners --bench rw_lock`."
        );
        println!();
    }
    println!("## In-process reader-writer locks: fasteners vs std vs parking_lot");
    println!();
    println!("`cargo bench -p fasteners --bench rw_lock`");
    println!();
    println!(
        "{} rounds (after one warm-up round); each round runs every case below on each lock \
         once, in this order, for about {} ms per sample. Times are the median ns per \
         cycle (acquire + release) over the rounds; with several threads, wall time over \
         all threads' cycles. Ratios are paired: the ratio within each round, then the \
         median over rounds (min-max across rounds in brackets). Load average (1 min) \
         {load_before} before, {load_after} after, on {} CPUs.",
        options.rounds,
        options.sample.as_millis(),
        thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!();
    println!(
        "| case | fasteners | std | parking_lot | fasteners ÷ std | fasteners ÷ parking_lot \
         | target | met |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut verdicts = Vec::new();
    for (c, &case) in cases.iter().enumerate() {
        let times = &results[c];
        let vs_std = paired(&times[0], &times[1]);
        let vs_pl = paired(&times[0], &times[2]);
        let (target, met) = match case.target() {
            None => ("-".to_string(), "-".to_string()),
            Some((limit, with_parking_lot)) => {
                let met = vs_std.0 <= limit && (!with_parking_lot || vs_pl.0 <= limit);
                let text = if with_parking_lot {
                    format!("≤ {limit}x std and parking_lot")
                } else {
                    format!("≤ {limit}x std")
                };
                let this_run = if with_parking_lot {
                    format!("{:.2}x std, {:.2}x parking_lot", vs_std.0, vs_pl.0)
                } else {
                    format!("{:.2}x std", vs_std.0)
                };
                verdicts.push((case.label(), text.clone(), met, this_run));
                (text, if met { "yes" } else { "**no**" }.to_string())
            }
        };
        println!(
            "| {} | {:.1} ns | {:.1} ns | {:.1} ns | {} | {} | {target} | {met} |",
            case.label(),
            median(&times[0]),
            median(&times[1]),
            median(&times[2]),
            ratio_text(vs_std),
            ratio_text(vs_pl),
        );
    }
    println!();
    let met: Vec<_> = verdicts.iter().filter(|v| v.2).map(|v| &v.0).collect();
    let missed: Vec<_> = verdicts.iter().filter(|v| !v.2).map(|v| &v.0).collect();
    println!(
        "Targets met: {} of {}{}{}.",
        met.len(),
        verdicts.len(),
        if missed.is_empty() { "" } else { "; missed: " },
        missed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    );
    println!();
    println!("| target | this run | status |");
    println!("|---|---|---|");
    for (label, target, met, this_run) in &verdicts {
        let status = if *met { "met" } else { "**missed**" };
        println!("| `ReaderWriterLock`, {label}: {target} | {this_run} | {status} |");
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The median, min and max of the per-round ratios `a / b`.
fn paired(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let ratios: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
    let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ratios.iter().copied().fold(0.0, f64::max);
    (median(&ratios), min, max)
}

fn ratio_text((median, min, max): (f64, f64, f64)) -> String {
    format!("{median:.2}x ({min:.2}-{max:.2})")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// `--callgrind`: `cycles` uncontended cycles of one case on one lock.
fn callgrind_cycles(case: &str, lock: &str, cycles: u64) {
    fn run<S: Subject>(lock: &S, case: &str, cycles: u64) {
        match case {
            "read" => (0..cycles).for_each(|_| lock.read_cycle()),
            "write" => (0..cycles).for_each(|_| lock.write_cycle()),
            other => panic!("unknown case {other:?} for this lock: read or write"),
        }
    }
    match lock {
        "fasteners" => {
            let lock = ReaderWriterLock::new();
            if case == "nested-read" {
                // The thread reads already: only its own count changes.
                let _outer = lock.read().unwrap();
                (0..cycles).for_each(|_| lock.read_cycle());
            } else {
                run(&lock, case, cycles);
            }
        }
        "std" => run(&std::sync::RwLock::new(()), case, cycles),
        "parking_lot" => run(&parking_lot::RwLock::new(()), case, cycles),
        other => panic!("unknown lock {other:?}: fasteners, std or parking_lot"),
    }
}

/// `--instructions`: instructions per cycle under callgrind, for each
/// uncontended case and lock.
fn instructions() {
    const N: u64 = 100_000;
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let count = |case: &str, lock: &str, cycles: u64| -> u64 {
        let output = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .args(["--callgrind", case, lock, &cycles.to_string()])
            .output()
            .expect("valgrind (install it: apt-get install -y valgrind)");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "valgrind failed:\n{stderr}");
        stderr
            .lines()
            .find_map(|line| line.split("Collected :").nth(1))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no instruction count in:\n{stderr}"))
    };
    println!("## Instructions per uncontended cycle (callgrind)");
    println!();
    println!("`cargo bench -p fasteners --bench rw_lock -- --instructions`");
    println!();
    println!(
        "Instructions counted by `valgrind --tool=callgrind` in a run of {N} cycles and one \
         of {} cycles: the difference over {N}, so start-up is excluded. Each count includes \
         the benchmark's own loop (the same few instructions for every lock). They repeat \
         exactly from run to run.",
        2 * N
    );
    println!();
    println!("| cycle | fasteners | std | parking_lot | fasteners ÷ std |");
    println!("|---|---|---|---|---|");
    for case in ["read", "write", "nested-read"] {
        let per_cycle = |lock: &str| {
            let once = count(case, lock, N);
            let twice = count(case, lock, 2 * N);
            twice.saturating_sub(once) as f64 / N as f64
        };
        let ours = per_cycle("fasteners");
        if case == "nested-read" {
            println!("| re-entrant read (the thread already reads) | {ours:.1} | - | - | - |");
            continue;
        }
        let std_count = per_cycle("std");
        let pl = per_cycle("parking_lot");
        println!(
            "| {case} | {ours:.1} | {std_count:.1} | {pl:.1} | {:.2}x |",
            ours / std_count
        );
    }
}
