//! A child process for the multi-process tests and benchmarks.
//!
//! `fasteners-test-helper <command> <mechanism> <lock path> [args...]`, where
//! `<mechanism>` is `ofd` or `flock` and `<kind>` is `ex` (InterProcessLock),
//! `read` or `write` (InterProcessReaderWriterLock). It reports on stdout, one
//! line per event, and takes orders from stdin, one line each:
//!
//! - `hold <kind>`: lock, print `locked`, wait for a line (or EOF), release,
//!   print `released`.
//! - `exit-holding <kind>`: lock, print `locked`, wait for a line, exit without
//!   releasing.
//! - `try <kind>`: one non-blocking attempt, print `got` or `busy`.
//! - `try-then-hold <kind>`: a non-blocking attempt that must fail (`busy`),
//!   then a blocking lock with the same object (`locked`), wait for a line,
//!   release (`released`).
//! - `sections <kind|mix> <log> <count> <seed>`: wait for `go`, then `count`
//!   times lock, append `+K pid` to `log`, check nobody else is inside, append
//!   `-K pid`, release; print `done` (or `violation ...` and exit 1).
//! - `counter <kind> <counter file> <threads> <increments>`: wait for `go`,
//!   then each thread with its own lock object increments the number in the
//!   counter file under the lock; print `done`.
//! - `async-counter <ex|write> <counter file> <tasks> <increments> <current|multi>`:
//!   wait for `go`, then in a tokio runtime of that flavour each task with its
//!   own lock object increments the counter under the async lock, yielding to
//!   the runtime inside the section and checking (with a sentinel `flock`)
//!   that nobody else is inside; print `done` (or `violation N`, exit 1).
//! - `hold-async <kind>`: as `hold`, but acquired with the async API in a
//!   current-thread runtime.
//! - `hold-many <kind> <count>`: the lock path is a directory; lock
//!   `<dir>/0.lock` .. `<dir>/<count - 1>.lock`, print `locked`, wait for a
//!   line, release them all, print `released`.
//! - `wait-for <kind> <ms>`: one timed attempt; on success print `got`, wait
//!   for a line, release, print `released`; on timeout print
//!   `timed-out <elapsed ms>`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fasteners::{InterProcessLock, InterProcessReaderWriterLock, Mechanism};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ex,
    Read,
    Write,
}

/// A lock object of either type, held through a guard of either type.
enum Lock {
    Ex(InterProcessLock),
    Rw(InterProcessReaderWriterLock),
}

enum Guard<'a> {
    Ex(fasteners::InterProcessLockGuard<'a>),
    Read(fasteners::InterProcessReadGuard<'a>),
    Write(fasteners::InterProcessWriteGuard<'a>),
}

impl Guard<'_> {
    fn release(self) -> fasteners::Result<()> {
        match self {
            Guard::Ex(g) => g.release(),
            Guard::Read(g) => g.release(),
            Guard::Write(g) => g.release(),
        }
    }
}

impl Lock {
    fn new(kind: Kind, mechanism: Mechanism, path: &Path) -> Lock {
        match kind {
            Kind::Ex => Lock::Ex(InterProcessLock::with_mechanism(path, mechanism)),
            Kind::Read | Kind::Write => Lock::Rw(InterProcessReaderWriterLock::with_mechanism(
                path, mechanism,
            )),
        }
    }

    fn acquire(&self, kind: Kind, blocking: bool) -> fasteners::Result<Guard<'_>> {
        Ok(match (self, kind, blocking) {
            (Lock::Ex(l), _, true) => Guard::Ex(l.lock()?),
            (Lock::Ex(l), _, false) => Guard::Ex(l.try_lock()?),
            (Lock::Rw(l), Kind::Read, true) => Guard::Read(l.read()?),
            (Lock::Rw(l), Kind::Read, false) => Guard::Read(l.try_read()?),
            (Lock::Rw(l), _, true) => Guard::Write(l.write()?),
            (Lock::Rw(l), _, false) => Guard::Write(l.try_write()?),
        })
    }
}

fn parse_kind(word: &str) -> Kind {
    match word {
        "ex" => Kind::Ex,
        "read" => Kind::Read,
        "write" => Kind::Write,
        other => panic!("unknown lock kind {other:?}"),
    }
}

fn parse_mechanism(word: &str) -> Mechanism {
    match word {
        #[cfg(target_os = "linux")]
        "ofd" => Mechanism::Ofd,
        "flock" => Mechanism::Flock,
        other => panic!("unknown mechanism {other:?}"),
    }
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .expect("stdout");
}

fn read_line() -> String {
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line).expect("stdin");
    line.trim().to_owned()
}

fn wait_for_go() {
    let line = read_line();
    assert_eq!(line, "go", "expected `go` on stdin");
}

/// Appends one line with a single write, so lines of processes never interleave.
fn log(file: &mut File, line: &str) {
    file.write_all(format!("{line}\n").as_bytes()).expect("log");
}

/// A small xorshift generator: the mix of readers and writers per seed.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn sections(mechanism: Mechanism, path: &Path, args: &[String]) -> ExitCode {
    let mix = args[0].as_str();
    let log_path = PathBuf::from(&args[1]);
    let count: usize = args[2].parse().expect("count");
    let mut seed: u64 = args[3].parse::<u64>().expect("seed") | 1;
    let mut log_file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&log_path)
        .expect("open log");
    // A second, independent exclusive flock on a sentinel file: a writer must
    // always get it at once, or someone else is inside.
    let sentinel_path = log_path.with_extension("sentinel");
    let sentinel = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&sentinel_path)
        .expect("open sentinel");
    let pid = std::process::id();
    let lock = Lock::new(
        if mix == "ex" { Kind::Ex } else { Kind::Write },
        mechanism,
        path,
    );
    wait_for_go();
    for _ in 0..count {
        let kind = match mix {
            "ex" => Kind::Ex,
            "write" => Kind::Write,
            "mix" if next_random(&mut seed) % 3 == 0 => Kind::Write,
            "mix" => Kind::Read,
            other => panic!("unknown mix {other:?}"),
        };
        let guard = lock.acquire(kind, true).expect("lock");
        let tag = if kind == Kind::Read { 'R' } else { 'W' };
        log(&mut log_file, &format!("+{tag} {pid}"));
        let inside = if kind == Kind::Read {
            fs4::FileExt::try_lock_shared(&sentinel)
        } else {
            fs4::FileExt::try_lock(&sentinel)
        };
        if inside.is_err() {
            say(&format!("violation: {tag} {pid} found the sentinel taken"));
            return ExitCode::FAILURE;
        }
        for _ in 0..50 {
            std::thread::yield_now();
        }
        fs4::FileExt::unlock(&sentinel).expect("unlock sentinel");
        log(&mut log_file, &format!("-{tag} {pid}"));
        guard.release().expect("release");
    }
    say("done");
    ExitCode::SUCCESS
}

fn counter(mechanism: Mechanism, path: &Path, args: &[String]) -> ExitCode {
    let kind = parse_kind(&args[0]);
    let counter_path = PathBuf::from(&args[1]);
    let threads: usize = args[2].parse().expect("threads");
    let increments: usize = args[3].parse().expect("increments");
    wait_for_go();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let lock = Lock::new(kind, mechanism, path);
                for _ in 0..increments {
                    let guard = lock.acquire(kind, true).expect("lock");
                    increment(&counter_path);
                    guard.release().expect("release");
                }
            });
        }
    });
    say("done");
    ExitCode::SUCCESS
}

/// Reads the decimal number in the file, adds one, writes it back.
fn increment(path: &Path) {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .expect("open counter");
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read counter");
    let value: u64 = text.trim().parse().unwrap_or(0);
    file.seek(SeekFrom::Start(0)).expect("seek");
    file.set_len(0).expect("truncate");
    file.write_all((value + 1).to_string().as_bytes())
        .expect("write counter");
}

/// One task's share of `async-counter`; returns the overlaps it saw.
async fn async_increments(
    kind: Kind,
    mechanism: Mechanism,
    path: PathBuf,
    counter_path: PathBuf,
    increments: usize,
) -> usize {
    let lock = Lock::new(kind, mechanism, &path);
    let sentinel = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(counter_path.with_extension("sentinel"))
        .expect("open sentinel");
    let mut violations = 0;
    for _ in 0..increments {
        let guard = match &lock {
            Lock::Ex(l) => AsyncGuard::Ex(l.lock_async().await.expect("lock")),
            Lock::Rw(l) => AsyncGuard::Write(l.write_async().await.expect("lock")),
        };
        if fs4::FileExt::try_lock(&sentinel).is_err() {
            violations += 1;
        }
        let value = read_counter(&counter_path);
        tokio::task::yield_now().await;
        write_counter(&counter_path, value + 1);
        fs4::FileExt::unlock(&sentinel).expect("unlock sentinel");
        guard.release().expect("release");
    }
    violations
}

enum AsyncGuard<'a> {
    Ex(fasteners::AsyncInterProcessLockGuard<'a>),
    Write(fasteners::AsyncInterProcessWriteGuard<'a>),
    Read(fasteners::AsyncInterProcessReadGuard<'a>),
}

impl AsyncGuard<'_> {
    fn release(self) -> fasteners::Result<()> {
        match self {
            AsyncGuard::Ex(g) => g.release(),
            AsyncGuard::Write(g) => g.release(),
            AsyncGuard::Read(g) => g.release(),
        }
    }
}

fn runtime(flavour: &str) -> tokio::runtime::Runtime {
    match flavour {
        "current" => tokio::runtime::Builder::new_current_thread(),
        "multi" => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
        other => panic!("unknown runtime flavour {other:?}"),
    }
    .enable_all()
    .build()
    .expect("runtime")
}

fn async_counter(mechanism: Mechanism, path: &Path, args: &[String]) -> ExitCode {
    let kind = parse_kind(&args[0]);
    let counter_path = PathBuf::from(&args[1]);
    let tasks: usize = args[2].parse().expect("tasks");
    let increments: usize = args[3].parse().expect("increments");
    let runtime = runtime(&args[4]);
    wait_for_go();
    let violations: usize = runtime.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                tokio::spawn(async_increments(
                    kind,
                    mechanism,
                    path.to_owned(),
                    counter_path.clone(),
                    increments,
                ))
            })
            .collect();
        let mut total = 0;
        for handle in handles {
            total += handle.await.expect("task");
        }
        total
    });
    if violations > 0 {
        say(&format!("violation {violations}"));
        return ExitCode::FAILURE;
    }
    say("done");
    ExitCode::SUCCESS
}

fn hold_async(mechanism: Mechanism, path: &Path, kind: Kind) {
    let lock = Lock::new(kind, mechanism, path);
    runtime("current").block_on(async {
        let guard = match (&lock, kind) {
            (Lock::Ex(l), _) => AsyncGuard::Ex(l.lock_async().await.expect("lock")),
            (Lock::Rw(l), Kind::Read) => AsyncGuard::Read(l.read_async().await.expect("lock")),
            (Lock::Rw(l), _) => AsyncGuard::Write(l.write_async().await.expect("lock")),
        };
        say("locked");
        read_line();
        guard.release().expect("release");
        say("released");
    });
}

fn read_counter(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

fn write_counter(path: &Path, value: u64) {
    std::fs::write(path, value.to_string()).expect("write counter");
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: fasteners-test-helper <command> <ofd|flock> <lock path> [args...]");
        return ExitCode::from(2);
    }
    let mechanism = parse_mechanism(&args[1]);
    let path = PathBuf::from(&args[2]);
    let rest = &args[3..];
    match args[0].as_str() {
        "hold" | "exit-holding" => {
            let kind = parse_kind(&rest[0]);
            let lock = Lock::new(kind, mechanism, &path);
            let guard = lock.acquire(kind, true).expect("lock");
            say("locked");
            read_line();
            if args[0] == "exit-holding" {
                std::process::exit(0);
            }
            guard.release().expect("release");
            say("released");
        }
        "try" => {
            let kind = parse_kind(&rest[0]);
            let lock = Lock::new(kind, mechanism, &path);
            match lock.acquire(kind, false) {
                Ok(_guard) => say("got"),
                Err(err) if err.kind() == fasteners::ErrorKind::WouldBlock => say("busy"),
                Err(err) => {
                    say(&format!("error: {err}"));
                    return ExitCode::FAILURE;
                }
            };
        }
        "try-then-hold" => {
            let kind = parse_kind(&rest[0]);
            let lock = Lock::new(kind, mechanism, &path);
            match lock.acquire(kind, false) {
                Ok(_) => {
                    say("unexpectedly got");
                    return ExitCode::FAILURE;
                }
                Err(err) if err.kind() == fasteners::ErrorKind::WouldBlock => say("busy"),
                Err(err) => panic!("{err}"),
            }
            let guard = lock.acquire(kind, true).expect("lock");
            say("locked");
            read_line();
            guard.release().expect("release");
            say("released");
        }
        "hold-async" => hold_async(mechanism, &path, parse_kind(&rest[0])),
        "hold-many" => {
            let kind = parse_kind(&rest[0]);
            let count: usize = rest[1].parse().expect("count");
            let locks: Vec<Lock> = (0..count)
                .map(|i| Lock::new(kind, mechanism, &path.join(format!("{i}.lock"))))
                .collect();
            let guards: Vec<Guard<'_>> = locks
                .iter()
                .map(|lock| lock.acquire(kind, false).expect("lock"))
                .collect();
            say("locked");
            read_line();
            for guard in guards {
                guard.release().expect("release");
            }
            say("released");
        }
        "wait-for" => {
            let kind = parse_kind(&rest[0]);
            let timeout = std::time::Duration::from_millis(rest[1].parse().expect("ms"));
            let lock = Lock::new(kind, mechanism, &path);
            let start = std::time::Instant::now();
            let attempt = match &lock {
                Lock::Ex(l) => l.try_lock_for(timeout).map(Guard::Ex),
                Lock::Rw(l) if kind == Kind::Read => l.try_read_for(timeout).map(Guard::Read),
                Lock::Rw(l) => l.try_write_for(timeout).map(Guard::Write),
            };
            match attempt {
                Ok(guard) => {
                    say("got");
                    read_line();
                    guard.release().expect("release");
                    say("released");
                }
                Err(err) if err.kind() == fasteners::ErrorKind::TimedOut => {
                    say(&format!("timed-out {}", start.elapsed().as_millis()));
                }
                Err(err) => {
                    say(&format!("error: {err}"));
                    return ExitCode::FAILURE;
                }
            }
        }
        "async-counter" => return async_counter(mechanism, &path, rest),
        "sections" => return sections(mechanism, &path, rest),
        "counter" => return counter(mechanism, &path, rest),
        other => {
            eprintln!("unknown command {other:?}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
