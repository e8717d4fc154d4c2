//! A child process for the PostgreSQL lock tests and benchmark (feature
//! `postgres`).
//!
//! `fasteners-pg-helper <command> <kind> <connection string> <key> [args...]`,
//! where `<kind>` is `ex` (PgLock), `read` or `write` (PgReaderWriterLock)
//! and `<key>` an `i64`. It reports on stdout, one line per event, and takes
//! orders from stdin, one line each:
//!
//! - `hold`: lock, print `held <backend pid>`, then for each line: `release`
//!   releases (prints `released`) and exits; `wait-lost` waits until the
//!   guard reports the lock lost and prints `lost`; EOF exits (the process
//!   then dies holding, so the server releases).
//! - `wait`: print `waiting`, lock (blocking), print `held`, wait for a line,
//!   release, print `released`.
//! - `try`: one non-blocking attempt, print `got` or `busy`.
//! - `counter <counter file> <threads> <increments> <lock|nolock>`: wait for
//!   `go`, then `threads` threads sharing one lock object each increment the
//!   number in the file `increments` times, under the lock (or, for the
//!   control, without it); print `done`.
//! - `handoffs <rounds>`: for the benchmark: each round, print `ready`, wait
//!   for a line, lock (blocking), print `got <system clock in ns>`, release.
//! - `raw-handoffs <rounds>`: the same with the SQL calls made directly on
//!   one tokio-postgres connection (the benchmark's floor); `<kind>` is ignored.

use std::io::{self, BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use fasteners::postgres::{PgLock, PgReaderWriterLock};

enum Lock {
    Ex(PgLock),
    Rw(PgReaderWriterLock),
}

enum Guard<'a> {
    Ex(fasteners::postgres::PgLockGuard<'a>),
    Read(fasteners::postgres::PgReadGuard<'a>),
    Write(fasteners::postgres::PgWriteGuard<'a>),
}

impl Lock {
    fn new(kind: &str, conn: &str, key: i64) -> Lock {
        match kind {
            "ex" => Lock::Ex(PgLock::new(conn, key)),
            "read" | "write" => Lock::Rw(PgReaderWriterLock::new(conn, key)),
            other => panic!("unknown kind {other:?}"),
        }
    }

    fn acquire(&self, kind: &str, blocking: bool) -> fasteners::Result<Guard<'_>> {
        Ok(match (self, kind, blocking) {
            (Lock::Ex(lock), _, true) => Guard::Ex(lock.lock()?),
            (Lock::Ex(lock), _, false) => Guard::Ex(lock.try_lock()?),
            (Lock::Rw(lock), "read", true) => Guard::Read(lock.read()?),
            (Lock::Rw(lock), "read", false) => Guard::Read(lock.try_read()?),
            (Lock::Rw(lock), _, true) => Guard::Write(lock.write()?),
            (Lock::Rw(lock), _, false) => Guard::Write(lock.try_write()?),
        })
    }
}

impl Guard<'_> {
    fn release(self) -> fasteners::Result<()> {
        match self {
            Guard::Ex(guard) => guard.release(),
            Guard::Read(guard) => guard.release(),
            Guard::Write(guard) => guard.release(),
        }
    }

    fn backend_pid(&self) -> String {
        let query = backend_pid_of;
        let pid = match self {
            Guard::Ex(guard) => guard.on_session_blocking(query),
            Guard::Read(guard) => guard.on_session_blocking(query),
            Guard::Write(guard) => guard.on_session_blocking(query),
        };
        pid.expect("held").expect("pg_backend_pid()")
    }

    fn wait_lost(&self) {
        let _ = match self {
            Guard::Ex(guard) => block_on(guard.lost()),
            Guard::Read(guard) => block_on(guard.lost()),
            Guard::Write(guard) => block_on(guard.lost()),
        };
    }
}

async fn backend_pid_of(client: &tokio_postgres::Client) -> Result<String, tokio_postgres::Error> {
    let rows = client.simple_query("SELECT pg_backend_pid()").await?;
    Ok(first_value(&rows))
}

fn first_value(messages: &[tokio_postgres::SimpleQueryMessage]) -> String {
    messages
        .iter()
        .find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .expect("stdout");
}

/// The next line on stdin, `None` at EOF.
fn read_line() -> Option<String> {
    let mut line = String::new();
    match io::stdin().lock().read_line(&mut line).expect("stdin") {
        0 => None,
        _ => Some(line.trim().to_owned()),
    }
}

fn counter(lock: &Lock, kind: &str, path: &Path, threads: usize, increments: usize, locked: bool) {
    assert_eq!(read_line().as_deref(), Some("go"));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..increments {
                    let guard = locked.then(|| lock.acquire(kind, true).expect("lock"));
                    let value: u64 = std::fs::read_to_string(path)
                        .expect("read counter")
                        .trim()
                        .parse()
                        .unwrap_or(0);
                    // Widens the window a missing lock would leave open, so
                    // that the no-lock control loses updates on any machine.
                    // (A sleep, not a yield: with nobody else runnable on its
                    // core, a yield returns at once, and a loaded machine
                    // once ran the control's threads one after the other.)
                    std::thread::sleep(std::time::Duration::from_micros(100));
                    std::fs::write(path, (value + 1).to_string()).expect("write counter");
                    if let Some(guard) = guard {
                        guard.release().expect("release");
                    }
                }
            });
        }
    });
    say("done");
}

/// The system clock in nanoseconds, comparable across processes.
fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

/// `handoffs` with the same SQL calls made directly on one tokio-postgres
/// connection: the benchmark's floor.
fn raw_handoffs(conn: &str, key: i64, rounds: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (client, connection) = runtime
        .block_on(tokio_postgres::connect(conn, tokio_postgres::NoTls))
        .expect("connect");
    runtime.spawn(connection);
    let lock = format!("SELECT pg_advisory_lock({key})");
    let unlock = format!("SELECT pg_advisory_unlock({key})");
    for _ in 0..rounds {
        say("ready");
        if read_line().is_none() {
            break;
        }
        runtime.block_on(client.simple_query(&lock)).expect("lock");
        say(&format!("got {}", now_nanos()));
        runtime
            .block_on(client.simple_query(&unlock))
            .expect("unlock");
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [command, kind, conn, key, rest @ ..] = &args[..] else {
        eprintln!("usage: fasteners-pg-helper <command> <kind> <conn> <key> [args...]");
        return ExitCode::from(2);
    };
    let key: i64 = key.parse().expect("key");
    let lock = Lock::new(kind, conn, key);
    match command.as_str() {
        "hold" => {
            let guard = lock.acquire(kind, true).expect("lock");
            say(&format!("held {}", guard.backend_pid()));
            while let Some(line) = read_line() {
                match line.as_str() {
                    "release" => {
                        guard.release().expect("release");
                        say("released");
                        break;
                    }
                    "wait-lost" => {
                        guard.wait_lost();
                        say("lost");
                    }
                    other => panic!("unknown order {other:?}"),
                }
            }
        }
        "wait" => {
            say("waiting");
            let guard = lock.acquire(kind, true).expect("lock");
            say("held");
            let _ = read_line();
            guard.release().expect("release");
            say("released");
        }
        "try" => match lock.acquire(kind, false) {
            Ok(guard) => {
                say("got");
                guard.release().expect("release");
            }
            Err(err) if err.kind() == fasteners::ErrorKind::WouldBlock => say("busy"),
            Err(err) => panic!("try: {err}"),
        },
        "counter" => {
            let [path, threads, increments, mode] = rest else {
                panic!("counter <file> <threads> <increments> <lock|nolock>");
            };
            counter(
                &lock,
                kind,
                Path::new(path),
                threads.parse().expect("threads"),
                increments.parse().expect("increments"),
                mode == "lock",
            );
        }
        "handoffs" => {
            let rounds: usize = rest[0].parse().expect("rounds");
            for _ in 0..rounds {
                say("ready");
                if read_line().is_none() {
                    break;
                }
                let guard = lock.acquire(kind, true).expect("lock");
                say(&format!("got {}", now_nanos()));
                guard.release().expect("release");
            }
        }
        "raw-handoffs" => raw_handoffs(conn, key, rest[0].parse().expect("rounds")),
        other => panic!("unknown command {other:?}"),
    }
    ExitCode::SUCCESS
}
