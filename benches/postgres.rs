//! The PostgreSQL locks against the floor of the same SQL calls made directly
//! with tokio-postgres on one connection (one round trip each).
//!
//! `scripts/with-postgres.sh cargo bench --features postgres --bench postgres`,
//! optionally with `-- --iterations 6000 --handoffs 600 --rounds 20` (what
//! `scripts/bench.sh` runs: the round-trip times are bimodal on a shared VM, so
//! a round's median moves between the modes, and the paired ratio needs many
//! rounds to settle).
//!
//! - Uncontended: acquire + release of a free lock, `PgLock::lock` + guard
//!   release (sync, and `lock_async` + `release_async` in a tokio
//!   current-thread runtime), against `pg_advisory_lock` +
//!   `pg_advisory_unlock` on one tokio-postgres connection driven by
//!   `block_on` of a current-thread runtime (and awaited in one).
//! - Handoff: this process holds the lock while a helper process waits for
//!   it on the server (seen in `pg_locks` before going on); the latency runs
//!   from just before the release here to the helper holding the lock, read
//!   from the system clock in both processes. The floor: both sides making
//!   the SQL calls directly.
//!
//! Rounds interleave the floors and the lock; the table gives percentiles
//! over all rounds, and each case against its floor paired by round (the
//! case's median in a round ÷ the floor's in the same round, the median of
//! those).

use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fasteners::postgres::PgLock;
use tokio_postgres::{Client, NoTls};

const KEY: i64 = 14_900;

struct Options {
    iterations: usize,
    handoffs: usize,
    rounds: usize,
}

fn options() -> Options {
    let mut options = Options {
        iterations: 2000,
        handoffs: 300,
        rounds: 5,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = || args.get(i + 1).and_then(|v| v.parse().ok());
        match args[i].as_str() {
            "--iterations" => options.iterations = value().expect("--iterations N"),
            "--handoffs" => options.handoffs = value().expect("--handoffs N"),
            "--rounds" => options.rounds = value().expect("--rounds N"),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    options
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One tokio-postgres connection, driven by its own current-thread runtime.
struct Raw {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Raw {
    fn connect(url: &str) -> Raw {
        let runtime = runtime();
        let (client, connection) = runtime
            .block_on(tokio_postgres::connect(url, NoTls))
            .expect("connect");
        runtime.spawn(connection);
        Raw { runtime, client }
    }

    fn run(&self, sql: &str) -> String {
        let rows = self
            .runtime
            .block_on(self.client.simple_query(sql))
            .expect("query");
        rows.iter()
            .find_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// The same queries on a connection that a runtime thread of its own
/// drives, each handed to that thread and its answer handed back: what any
/// design that owns a runtime thread for sync callers pays at least.
struct Relay {
    handle: tokio::runtime::Handle,
    client: std::sync::Arc<Client>,
}

impl Relay {
    fn start(url: &str) -> Relay {
        let runtime = runtime();
        let handle = runtime.handle().clone();
        let (client, connection) = runtime
            .block_on(tokio_postgres::connect(url, NoTls))
            .expect("connect");
        runtime.spawn(connection);
        std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
        Relay {
            handle,
            client: std::sync::Arc::new(client),
        }
    }

    fn run(&self, sql: &str) {
        let (done, answer) = std::sync::mpsc::channel();
        let client = std::sync::Arc::clone(&self.client);
        let sql = sql.to_owned();
        self.handle.spawn(async move {
            let _ = done.send(client.simple_query(&sql).await.map(drop));
        });
        answer.recv().expect("answer").expect("query");
    }
}

fn nanos_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Helper {
    fn start(command: &str, url: &str, rounds: usize) -> Helper {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fasteners-pg-helper"))
            .args([command, "ex", url, &KEY.to_string(), &rounds.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the helper");
        Helper {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
        }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("helper output");
        line.trim().to_owned()
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("helper input");
        self.stdin.flush().expect("helper input");
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(values, 0.5)
}

/// One case's samples, and the median of each round's, for paired ratios.
#[derive(Default)]
struct Samples {
    all: Vec<f64>,
    rounds: Vec<f64>,
}

impl Samples {
    /// Times `per_round` runs of `f`, as one round.
    fn round(&mut self, per_round: usize, mut f: impl FnMut()) {
        let mut round: Vec<f64> = (0..per_round)
            .map(|_| {
                let start = Instant::now();
                f();
                micros(start.elapsed())
            })
            .collect();
        self.add_round(&mut round);
    }

    /// [`Samples::round`] for async work: times `per_round` awaits of what `f` makes.
    async fn round_async<F: Future<Output = ()>>(
        &mut self,
        per_round: usize,
        mut f: impl FnMut() -> F,
    ) {
        let mut round = Vec::with_capacity(per_round);
        for _ in 0..per_round {
            let start = Instant::now();
            f().await;
            round.push(micros(start.elapsed()));
        }
        self.add_round(&mut round);
    }

    fn add_round(&mut self, round: &mut [f64]) {
        self.rounds.push(median(round));
        self.all.extend_from_slice(round);
    }

    /// This case ÷ `floor`, round by round (medians), the median over the rounds.
    fn paired(&self, floor: &Samples) -> f64 {
        let mut ratios: Vec<f64> = self
            .rounds
            .iter()
            .zip(&floor.rounds)
            .map(|(case, floor)| case / floor)
            .collect();
        median(&mut ratios)
    }
}

/// A table row: percentiles over every round, and the paired ratio to `floor`.
fn row(name: &str, samples: &mut Samples, floor: Option<&Samples>) -> f64 {
    let ratio = floor.map_or(1.0, |floor| samples.paired(floor));
    let all = &mut samples.all;
    let p50 = median(all);
    println!(
        "| {name} | {p50:.1} | {:.1} | {:.1} | {ratio:.2}x |",
        percentile(all, 0.9),
        percentile(all, 0.99),
    );
    ratio
}

fn micros(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1e6
}

fn main() {
    let Ok(url) = std::env::var("FASTENERS_PG_URL") else {
        eprintln!("set FASTENERS_PG_URL, or run through scripts/with-postgres.sh");
        std::process::exit(2);
    };
    let options = options();
    let raw = Raw::connect(&url);
    let lock = PgLock::new(&url, KEY);
    // The same lock with its async calls' socket on the awaiting runtime.
    let lock_here = PgLock::new(&url, KEY).with_callers_runtime();
    // The async floor's connection runs on the runtime that awaits it.
    let async_runtime = runtime();
    let async_client = async_runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
        tokio::spawn(connection);
        client
    });
    let lock_sql = format!("SELECT pg_advisory_lock({KEY})");
    let unlock_sql = format!("SELECT pg_advisory_unlock({KEY})");
    // Warm up: connections made, statements seen once.
    for _ in 0..100 {
        raw.run(&lock_sql);
        raw.run(&unlock_sql);
        lock.lock().unwrap().release().unwrap();
        lock_here.lock().unwrap().release().unwrap();
    }

    let relay = Relay::start(&url);

    let per_round = options.iterations / options.rounds;
    let [mut floor, mut relayed, mut sync, mut floor_async, mut relayed_async, mut ours_async, mut ours_here] =
        std::array::from_fn(|_| Samples::default());
    for _ in 0..options.rounds {
        floor.round(per_round, || {
            raw.run(&lock_sql);
            raw.run(&unlock_sql);
        });
        relayed.round(per_round, || {
            relay.run(&lock_sql);
            relay.run(&unlock_sql);
        });
        sync.round(per_round, || lock.lock().unwrap().release().unwrap());
        let (client, relayed_client, lock, lock_here) =
            (&async_client, &*relay.client, &lock, &lock_here);
        let (lock_sql, unlock_sql) = (&lock_sql, &unlock_sql);
        async_runtime.block_on(async {
            floor_async
                .round_async(per_round, move || async move {
                    client.simple_query(lock_sql).await.unwrap();
                    client.simple_query(unlock_sql).await.unwrap();
                })
                .await;
            // The relay's connection runs on its own runtime thread: each
            // query and its answer cross between the two threads.
            relayed_async
                .round_async(per_round, move || async move {
                    relayed_client.simple_query(lock_sql).await.unwrap();
                    relayed_client.simple_query(unlock_sql).await.unwrap();
                })
                .await;
            ours_async
                .round_async(per_round, move || async move {
                    let guard = lock.lock_async().await.unwrap();
                    guard.release_async().await.unwrap();
                })
                .await;
            ours_here
                .round_async(per_round, move || async move {
                    let guard = lock_here.lock_async().await.unwrap();
                    guard.release_async().await.unwrap();
                })
                .await;
        });
    }
    println!(
        "## Uncontended acquire + release ({} each)\n",
        per_round * options.rounds
    );
    println!("| scenario | p50 µs | p90 µs | p99 µs | vs its floor (paired) |");
    println!("|---|---|---|---|---|");
    row("floor: two simple queries, block_on", &mut floor, None);
    let handed_over = row(
        "floor + hand-over: each query run on a runtime thread, caller waiting",
        &mut relayed,
        Some(&floor),
    );
    let sync_ratio = row("PgLock::lock + release", &mut sync, Some(&floor));
    row("floor: two simple queries, awaited", &mut floor_async, None);
    let handed_over_async = row(
        "floor + hand-over, awaited: the connection on a runtime thread of its own",
        &mut relayed_async,
        Some(&floor_async),
    );
    let async_ratio = row(
        "PgLock::lock_async + release_async",
        &mut ours_async,
        Some(&floor_async),
    );
    let here_ratio = row(
        "PgLock::with_callers_runtime(): lock_async + release_async",
        &mut ours_here,
        Some(&floor_async),
    );
    let async_over_handed = ours_async.paired(&relayed_async);

    // Handoffs, the floor and the lock in alternating rounds.
    let observer = Raw::connect(&url);
    let waiting = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = {KEY} \
         AND objsubid = 1 AND NOT granted"
    );
    let per_round = options.handoffs / options.rounds;
    let (mut floor, mut ours) = (Samples::default(), Samples::default());
    for _ in 0..options.rounds {
        for raw_side in [true, false] {
            let mut helper = Helper::start(
                if raw_side { "raw-handoffs" } else { "handoffs" },
                &url,
                per_round,
            );
            let mut round = Vec::with_capacity(per_round);
            for _ in 0..per_round {
                assert_eq!(helper.line(), "ready");
                let guard = if raw_side {
                    raw.run(&lock_sql);
                    None
                } else {
                    Some(lock.lock().unwrap())
                };
                helper.send("go");
                while observer.run(&waiting) != "1" {
                    std::thread::yield_now();
                }
                let released = nanos_now();
                match guard {
                    None => {
                        raw.run(&unlock_sql);
                    }
                    Some(guard) => guard.release().unwrap(),
                }
                let line = helper.line();
                let got: u128 = line
                    .strip_prefix("got ")
                    .and_then(|t| t.parse().ok())
                    .expect("got <ns>");
                round.push(got.saturating_sub(released) as f64 / 1000.0);
            }
            if raw_side {
                floor.add_round(&mut round);
            } else {
                ours.add_round(&mut round);
            }
        }
    }
    println!(
        "\n## Handoff to a waiter in another process ({} each)\n",
        per_round * options.rounds
    );
    println!("| scenario | p50 µs | p90 µs | p99 µs | vs its floor (paired) |");
    println!("|---|---|---|---|---|");
    row(
        "floor: pg_advisory_unlock → pg_advisory_lock returns",
        &mut floor,
        None,
    );
    let handoff_ratio = row(
        "PgLock guard release → PgLock::lock returns",
        &mut ours,
        Some(&floor),
    );
    let verdict = |ratio: f64| if ratio <= 1.2 { "met" } else { "**missed**" };
    println!("\n| target | this run | status |");
    println!("|---|---|---|");
    for (what, ratio) in [
        (
            "`PgLock::lock` + release within 1.2x of the same SQL on tokio-postgres",
            sync_ratio,
        ),
        (
            "`PgLock::lock_async` + `release_async` within 1.2x of the same SQL awaited",
            async_ratio,
        ),
        ("the same with `with_callers_runtime()`", here_ratio),
        (
            "handoff to a waiter in another process within 1.2x of tokio-postgres'",
            handoff_ratio,
        ),
    ] {
        println!("| {what} | {ratio:.2}x | {} |", verdict(ratio));
    }
    println!(
        "\nThe hand-over floor (each query handed to a runtime thread and its answer back) is \
         {handed_over:.2}x of the direct floor for a sync caller and {handed_over_async:.2}x for an \
         awaiting task, in this run. `PgLock::lock` + release is {:.2}x of the sync hand-over \
         floor, and `lock_async` + `release_async` {async_over_handed:.2}x of the awaited one \
         (paired, as above).",
        sync.paired(&relayed),
    );
}
