//! A call of an annotated method against the same method written by hand
//! with a guard, in one run: the attribute should cost nothing extra. The
//! same for `async fn`, each call polled once (the lock is free, so the
//! future is ready at its first poll).
//!
//! Interleaved rounds: each round runs every case once (as many calls as
//! take about `--batch-ms`, 3 ms, found before the first round); the ratio is attribute ÷ hand-written in the same round, median
//! over the rounds. Instructions per call (callgrind, exact from run to run)
//! decide the target when `--instructions FILE` gives them: the time of a
//! few nanoseconds moves with where the code lands in memory.
//!
//! - `cargo bench --bench macros -- [--rounds 21] [--batch-ms 3]
//!   [--instructions FILE]` prints the markdown section;
//! - `... -- --list` prints the case ids, `... -- --cycles ID N` makes N
//!   calls of one case without timing, for `valgrind --tool=callgrind`
//!   (`scripts/bench.sh` counts each case that way, minus a run with N = 0).

use std::hint::black_box;
use std::sync::{Mutex, PoisonError, RwLock};

use std::time::{Duration, Instant};

mod support;

use support::{arg, median, paired, verdict};

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

/// One call of a case.
type Call<'a> = Box<dyn Fn() + 'a>;

/// The pairs: what is locked, the attribute's call, the hand-written one.
fn pairs(counter: &Counter) -> Vec<(&'static str, &'static str, Call<'_>, Call<'_>)> {
    vec![
        (
            "std-mutex",
            "`std::sync::Mutex`, `#[locked]`",
            Box::new(|| {
                black_box(counter.attribute(black_box(7)));
            }),
            Box::new(|| {
                black_box(counter.by_hand(black_box(7)));
            }),
        ),
        (
            "std-mutex-try",
            "`std::sync::Mutex`, `#[locked(blocking = false)]`",
            Box::new(|| {
                black_box(counter.try_attribute(black_box(7)).unwrap());
            }),
            Box::new(|| {
                black_box(counter.try_by_hand(black_box(7)).unwrap());
            }),
        ),
        (
            "std-rwlock-read",
            "`std::sync::RwLock`, `#[read_locked]`",
            Box::new(|| {
                black_box(counter.read_attribute(black_box(7)));
            }),
            Box::new(|| {
                black_box(counter.read_by_hand(black_box(7)));
            }),
        ),
        (
            "std-rwlock-write",
            "`std::sync::RwLock`, `#[write_locked]`",
            Box::new(|| {
                black_box(counter.write_attribute(black_box(7)));
            }),
            Box::new(|| {
                black_box(counter.write_by_hand(black_box(7)));
            }),
        ),
        (
            "rw-read",
            "`ReaderWriterLock`, `#[read_locked]`",
            Box::new(|| {
                black_box(counter.crate_read_attribute(black_box(7)));
            }),
            Box::new(|| {
                black_box(counter.crate_read_by_hand(black_box(7)));
            }),
        ),
        (
            "rw-write",
            "`ReaderWriterLock`, `#[write_locked]`",
            Box::new(|| {
                black_box(counter.crate_write_attribute(black_box(7)));
            }),
            Box::new(|| {
                black_box(counter.crate_write_by_hand(black_box(7)));
            }),
        ),
        (
            "file",
            "`InterProcessLock`, `#[interprocess_locked]`",
            Box::new(|| {
                black_box(file_attribute(black_box(7)));
            }),
            Box::new(|| {
                black_box(file_by_hand(black_box(7)));
            }),
        ),
        (
            "tokio-async",
            "`tokio::sync::Mutex`, `#[locked] async fn`",
            Box::new(|| {
                black_box(ready(counter.async_attribute(black_box(7))));
            }),
            Box::new(|| {
                black_box(ready(counter.async_by_hand(black_box(7))));
            }),
        ),
        (
            "file-async",
            "`InterProcessLock`, `#[interprocess_locked] async fn`",
            Box::new(|| {
                black_box(ready(async_file_attribute(black_box(7))));
            }),
            Box::new(|| {
                black_box(ready(async_file_by_hand(black_box(7))));
            }),
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` runs us with no
    // such flag: then a tiny smoke run keeps the harness compiled and working.
    let smoke = !args.iter().any(|a| a == "--bench");
    // Created now, so that its change time has settled by the time the
    // file lock cases run: a lock file changed in the last 2 s is checked
    // with a full `stat(path)` at every acquisition.
    let created = Instant::now();
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
    let pairs = pairs(&counter);
    if args.iter().any(|a| a == "--list") {
        for (id, ..) in &pairs {
            println!("{id}/attribute\n{id}/by-hand");
        }
        return;
    }
    if !smoke {
        std::thread::sleep(Duration::from_millis(2100).saturating_sub(created.elapsed()));
    }
    if let Some(i) = args.iter().position(|a| a == "--cycles") {
        let (id, count) = (&args[i + 1], args[i + 2].parse::<usize>().expect("count"));
        let (pair, side) = id
            .split_once('/')
            .expect("ID is PAIR/attribute or PAIR/by-hand");
        let (_, _, attribute, by_hand) = pairs.iter().find(|p| p.0 == pair).expect("pair id");
        let call = if side == "attribute" {
            attribute
        } else {
            by_hand
        };
        for _ in 0..count {
            call();
        }
        let _ = std::fs::remove_file(file_lock_path());
        return;
    }
    let rounds = arg(&args, "--rounds", if smoke { 1 } else { 21 });
    let batch =
        Duration::from_secs_f64(arg(&args, "--batch-ms", if smoke { 0.1 } else { 3.0 }) / 1e3);
    let instructions = support::instructions(&args);
    let time = |call: &Call<'_>, calls: usize| {
        let start = Instant::now();
        for _ in 0..calls {
            call();
        }
        start.elapsed().as_nanos() as f64 / calls as f64
    };
    // Calls per batch, by pair: the same for both sides of a pair.
    let calls: Vec<usize> = pairs
        .iter()
        .map(|(_, _, attribute, _)| {
            let ns = time(attribute, 1000);
            ((batch.as_nanos() as f64 / ns) as usize).max(100)
        })
        .collect();
    // ns per call: [pair][attribute, by hand][round].
    let mut times = vec![[Vec::new(), Vec::new()]; pairs.len()];
    for round in 0..rounds {
        for (((_, _, attribute, by_hand), times), &calls) in
            pairs.iter().zip(&mut times).zip(&calls)
        {
            // Alternate which goes first, so neither always runs warm.
            if round % 2 == 0 {
                times[0].push(time(attribute, calls));
                times[1].push(time(by_hand, calls));
            } else {
                times[1].push(time(by_hand, calls));
                times[0].push(time(attribute, calls));
            }
        }
    }
    let _ = std::fs::remove_file(file_lock_path());
    println!(
        "## Attributes vs the same code written by hand ({rounds} interleaved rounds, about {batch:?} of calls per case in each)\n"
    );
    println!(
        "| lock | attribute ns | by hand ns | paired ratio of times | attribute instructions | by hand instructions | ratio of instructions | same cost |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut all_met = true;
    // The ratio furthest from 1 (of instructions where counted, else of times).
    let mut worst: f64 = 1.0;
    for ((id, what, ..), times) in pairs.iter().zip(&times) {
        let ratio = paired(&times[0], &times[1]);
        let counts = (
            instructions.get(&format!("{id}/attribute")),
            instructions.get(&format!("{id}/by-hand")),
        );
        let (a, b, r, met) = match counts {
            (Some(a), Some(b)) => {
                // Exact counts: the same cost within 2% (a few instructions).
                let r = a / b;
                if (r - 1.0).abs() > (worst - 1.0).abs() {
                    worst = r;
                }
                (
                    format!("{a:.0}"),
                    format!("{b:.0}"),
                    format!("{r:.3}"),
                    (r - 1.0).abs() <= 0.02,
                )
            }
            // Times only: within the spread of identical machine code.
            _ => {
                if (ratio - 1.0).abs() > (worst - 1.0).abs() {
                    worst = ratio;
                }
                (
                    String::from("-"),
                    String::from("-"),
                    String::from("-"),
                    (ratio - 1.0).abs() <= 0.1,
                )
            }
        };
        all_met &= met;
        println!(
            "| {what} | {:.2} | {:.2} | {ratio:.2} | {a} | {b} | {r} | {} |",
            median(times[0].clone()),
            median(times[1].clone()),
            verdict(met)
        );
    }
    println!(
        "\n| target | this run | status |\n|---|---|---|\n| an attribute costs the same as the hand-written guard (DESIGN.md): \
         instructions within 2% where counted, else times within 10% | furthest from 1: {worst:.3} ({}) | {} |",
        if instructions.is_empty() { "times" } else { "instructions" },
        verdict(all_met)
    );
}
