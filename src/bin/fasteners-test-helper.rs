//! A child process for the multi-process tests and benchmarks.
//!
//! `fasteners-test-helper <command> <mechanism> <lock path> [args...]`, where
//! `<mechanism>` is `ofd` or `flock` and `<kind>` is `ex` (InterProcessLock),
//! `read` or `write` (InterProcessReaderWriterLock). It reports on stdout, one
//! line per event, and takes orders from stdin, one line each.
//!
//! The mechanism `none` is the no-lock mode: every command runs the same,
//! but no acquisition happens (each "lock" succeeds at once and excludes
//! nobody). The tests' controls use it to show that an exclusion check sees
//! the violation when nothing excludes.
//!
//! Commands:
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
//! - `alias-check <alias path>`: lock the lock path exclusively, then try the
//!   same file through `<alias path>` from the same thread with `lock()`,
//!   `try_lock()` and `try_lock_for(300 ms)`; print the error kind of each
//!   (`lock WouldDeadlock`, ...) and how long the timed one took.
//! - `ro-check`: a read lock (`read ok` or `read <kind>: <error>`), then a
//!   write lock and an exclusive lock, each printed the same way.
//! - `fork-drop <kind>`: lock (and take a Python-style hold on
//!   `<lock path>.mirror`), print `locked`, fork. The child releases its
//!   inherited guard and hold (`child-release <result>`, `child-mirror
//!   <result>`), prints `child-dropped`, waits for the parent, tries the lock
//!   itself (`child-got` / `child-busy`) and exits. The parent waits for a
//!   line, releases, lets the child go and prints `child-exit <code>`.
//! - `fork-orphan <kind>`: lock, fork, print `locked`; the child prints
//!   `child-ready <pid>`, waits for the parent to die, prints
//!   `child-orphaned`, waits for a line on stdin, tries the lock
//!   (`child-got` / `child-busy`) and exits.
//! - `fork-waiting <kind> <other path>`: a thread waits in a 30 s timed
//!   acquire and a task in an async acquire of the lock path (held
//!   elsewhere); print `waiting`, wait for a line, fork. The child makes a
//!   200 ms timed and a 200 ms async attempt on the lock path (`child-timed
//!   <kind>`, `child-async <kind>`), locks `<other path>` (`child-other ok`)
//!   and exits; the parent prints `child-exit <code>`, waits for a line (the
//!   holder released), and prints `parent-got-both` once the thread and the
//!   task got the lock.
//! - `wait-for <kind> <ms>`: one timed attempt; on success print `got`, wait
//!   for a line, release, print `released`; on timeout print
//!   `timed-out <elapsed ms>`.
//! - `hold-noticed <kind>`: as `hold`, with the lock made
//!   `.on_wait(fasteners::notice::cargo_style)` (its notice goes to stderr).
//! - `try-named <kind>`: as `try`, on the named lock whose name is given in
//!   place of the lock path (the mechanism is ignored: named locks use the
//!   default).
//! - `named-dir`: print `dir <named_lock_dir()>`, then lock the named lock
//!   whose name is given in place of the lock path and print `locked <path>`,
//!   or `error <kind> <message>`.

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

/// A lock object of either type, held through a guard of either type; or,
/// in the no-lock mode, nothing.
enum Lock {
    Ex(InterProcessLock),
    Rw(InterProcessReaderWriterLock),
    Nothing,
}

enum Guard<'a> {
    Ex(fasteners::InterProcessLockGuard<'a>),
    Read(fasteners::InterProcessReadGuard<'a>),
    Write(fasteners::InterProcessWriteGuard<'a>),
    Nothing,
}

impl Guard<'_> {
    fn release(self) -> fasteners::Result<()> {
        match self {
            Guard::Ex(g) => g.release(),
            Guard::Read(g) => g.release(),
            Guard::Write(g) => g.release(),
            Guard::Nothing => Ok(()),
        }
    }
}

impl Lock {
    /// `mechanism` is `None` in the no-lock mode.
    fn new(kind: Kind, mechanism: Option<Mechanism>, path: &Path) -> Lock {
        let Some(mechanism) = mechanism else {
            return Lock::Nothing;
        };
        match kind {
            Kind::Ex => Lock::Ex(InterProcessLock::with_mechanism(path, mechanism)),
            Kind::Read | Kind::Write => Lock::Rw(InterProcessReaderWriterLock::with_mechanism(
                path, mechanism,
            )),
        }
    }

    fn named(kind: Kind, name: &str) -> Lock {
        match kind {
            Kind::Ex => Lock::Ex(InterProcessLock::named(name)),
            Kind::Read | Kind::Write => Lock::Rw(InterProcessReaderWriterLock::named(name)),
        }
    }

    fn on_wait(self, notice: fn(&Path)) -> Lock {
        match self {
            Lock::Ex(l) => Lock::Ex(l.on_wait(notice)),
            Lock::Rw(l) => Lock::Rw(l.on_wait(notice)),
            Lock::Nothing => Lock::Nothing,
        }
    }

    fn acquire(&self, kind: Kind, blocking: bool) -> fasteners::Result<Guard<'_>> {
        Ok(match (self, kind, blocking) {
            (Lock::Nothing, _, _) => Guard::Nothing,
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

/// `None` for `none`, the no-lock mode.
fn parse_mechanism(word: &str) -> Option<Mechanism> {
    match word {
        #[cfg(target_os = "linux")]
        "ofd" => Some(Mechanism::Ofd),
        "flock" => Some(Mechanism::Flock),
        "none" => None,
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

fn sections(mechanism: Option<Mechanism>, path: &Path, args: &[String]) -> ExitCode {
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

fn counter(mechanism: Option<Mechanism>, path: &Path, args: &[String]) -> ExitCode {
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
    // Widens the window between read and write, so that without exclusion
    // (the no-lock control) updates are lost on any machine. (A sleep, not
    // yields: a yielding holder hands its core to whoever polls.)
    std::thread::sleep(std::time::Duration::from_micros(100));
    file.seek(SeekFrom::Start(0)).expect("seek");
    file.set_len(0).expect("truncate");
    file.write_all((value + 1).to_string().as_bytes())
        .expect("write counter");
}

/// One task's share of `async-counter`; returns the overlaps it saw.
async fn async_increments(
    kind: Kind,
    mechanism: Option<Mechanism>,
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
            Lock::Nothing => AsyncGuard::Nothing,
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
    Nothing,
}

impl AsyncGuard<'_> {
    fn release(self) -> fasteners::Result<()> {
        match self {
            AsyncGuard::Ex(g) => g.release(),
            AsyncGuard::Write(g) => g.release(),
            AsyncGuard::Read(g) => g.release(),
            AsyncGuard::Nothing => Ok(()),
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

fn async_counter(mechanism: Option<Mechanism>, path: &Path, args: &[String]) -> ExitCode {
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

fn hold_async(mechanism: Option<Mechanism>, path: &Path, kind: Kind) {
    let lock = Lock::new(kind, mechanism, path);
    runtime("current").block_on(async {
        let guard = match (&lock, kind) {
            (Lock::Ex(l), _) => AsyncGuard::Ex(l.lock_async().await.expect("lock")),
            (Lock::Rw(l), Kind::Read) => AsyncGuard::Read(l.read_async().await.expect("lock")),
            (Lock::Rw(l), _) => AsyncGuard::Write(l.write_async().await.expect("lock")),
            (Lock::Nothing, _) => AsyncGuard::Nothing,
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
        eprintln!("usage: fasteners-test-helper <command> <ofd|flock|none> <lock path> [args...]");
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
        "hold-noticed" => {
            let kind = parse_kind(&rest[0]);
            let lock = Lock::new(kind, mechanism, &path).on_wait(fasteners::notice::cargo_style);
            let guard = lock.acquire(kind, true).expect("lock");
            say("locked");
            read_line();
            guard.release().expect("release");
            say("released");
        }
        "named-dir" => {
            say(&format!("dir {}", fasteners::named_lock_dir().display()));
            let lock = InterProcessLock::named(&args[2]);
            let locked = lock.lock().map(drop);
            match locked {
                Ok(()) => say(&format!("locked {}", lock.path().display())),
                Err(err) => say(&format!("error {:?} {err}", err.kind())),
            }
        }
        "try" | "try-named" => {
            let kind = parse_kind(&rest[0]);
            let lock = if args[0] == "try" {
                Lock::new(kind, mechanism, &path)
            } else {
                Lock::named(kind, &args[2])
            };
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
        "alias-check" => alias_check(locking(mechanism), &path, Path::new(&rest[0])),
        "ro-check" => ro_check(locking(mechanism), &path),
        "fork-drop" => fork_drop(locking(mechanism), &path, parse_kind(&rest[0])),
        "fork-orphan" => fork_orphan(locking(mechanism), &path, parse_kind(&rest[0])),
        "fork-watch" => fork_watch(locking(mechanism), &path),
        "fork-waiting" => fork_waiting(
            locking(mechanism),
            &path,
            parse_kind(&rest[0]),
            Path::new(&rest[1]),
        ),
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
                Lock::Nothing => panic!("wait-for needs a lock mechanism"),
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

/// The mechanism of a command that has no no-lock mode.
fn locking(mechanism: Option<Mechanism>) -> Mechanism {
    mechanism.expect("this command needs a lock mechanism (ofd or flock)")
}

/// The outcome of an attempt, as the fork and alias tests read it.
fn outcome<T>(result: &fasteners::Result<T>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(err) => format!("{:?}", err.kind()),
    }
}

fn alias_check(mechanism: Mechanism, path: &Path, alias: &Path) {
    let real = InterProcessLock::with_mechanism(path, mechanism);
    let _guard = real.lock().expect("lock");
    let other = InterProcessLock::with_mechanism(alias, mechanism);
    say(&format!("lock {}", outcome(&other.lock())));
    say(&format!("try {}", outcome(&other.try_lock())));
    let start = std::time::Instant::now();
    let timed = other.try_lock_for(std::time::Duration::from_millis(300));
    say(&format!(
        "timed {} {}",
        outcome(&timed),
        start.elapsed().as_millis()
    ));
}

fn ro_check(mechanism: Mechanism, path: &Path) {
    let describe = |result: fasteners::Result<()>| match result {
        Ok(()) => "ok".to_owned(),
        Err(err) => format!("{:?}: {err}", err.kind()),
    };
    let rw = InterProcessReaderWriterLock::with_mechanism(path, mechanism);
    say(&format!("read {}", describe(rw.try_read().map(drop))));
    say(&format!("write {}", describe(rw.try_write().map(drop))));
    let ex = InterProcessLock::with_mechanism(path, mechanism);
    say(&format!("ex {}", describe(ex.try_lock().map(drop))));
}

/// A pipe between a forked parent and child: (read end, write end).
fn pipe() -> (File, File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two descriptors to fill in.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: both descriptors were just opened and are owned here.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

fn fork() -> libc::pid_t {
    // SAFETY: the helper forks where the tests need it; the child only uses
    // the crate's API and std, as a program forking a worker would.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // A child that hangs (the bug the fork tests look for) must not keep
        // the test's output open for ever: SIGALRM ends it after 30 s.
        // SAFETY: plain alarm(2).
        unsafe { libc::alarm(30) };
    }
    pid
}

fn wait_child(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    }
}

fn fork_drop(mechanism: Mechanism, path: &Path, kind: Kind) {
    let lock = Lock::new(kind, Some(mechanism), path);
    let guard = lock.acquire(kind, true).expect("lock");
    let mirror = InterProcessLock::with_mechanism(path.with_extension("mirror"), mechanism);
    assert!(mirror.acquire(true, None).expect("mirror"));
    say("locked");
    let (mut from_parent, mut to_child) = pipe();
    let child = fork();
    if child == 0 {
        drop(to_child);
        say(&format!("child-release {}", outcome(&guard.release())));
        say(&format!("child-mirror {}", outcome(&mirror.release())));
        say("child-dropped");
        let mut byte = [0u8; 1];
        let _ = from_parent.read(&mut byte);
        match lock.acquire(kind, false) {
            Ok(guard) => {
                say("child-got");
                guard.release().expect("child release");
            }
            Err(err) => say(&format!("child-busy {:?}", err.kind())),
        }
        std::process::exit(0);
    }
    drop(from_parent);
    read_line();
    guard.release().expect("release");
    mirror.release().expect("mirror release");
    to_child.write_all(b"g").expect("to child");
    say(&format!("child-exit {}", wait_child(child)));
}

fn fork_orphan(mechanism: Mechanism, path: &Path, kind: Kind) {
    let lock = Lock::new(kind, Some(mechanism), path);
    let _guard = lock.acquire(kind, true).expect("lock");
    let (mut from_parent, to_child) = pipe();
    let child = fork();
    if child == 0 {
        drop(to_child);
        say(&format!("child-ready {}", std::process::id()));
        // EOF once the parent is gone (it holds the only write end).
        let mut rest = Vec::new();
        let _ = from_parent.read_to_end(&mut rest);
        say("child-orphaned");
        read_line();
        match lock.acquire(kind, false) {
            Ok(guard) => {
                say("child-got");
                guard.release().expect("child release");
            }
            Err(err) => say(&format!("child-busy {:?}", err.kind())),
        }
        std::process::exit(0);
    }
    drop(from_parent);
    say("locked");
    read_line();
    drop(to_child);
}

/// This process's descriptors that are inotify instances, by number.
fn inotify_descriptors() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            (target.as_os_str() == "anon_inode:inotify")
                .then(|| entry.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

/// A child forked while its parent watches its lock file (locked again and
/// again) does not share the parent's inotify instance, watches with one of
/// its own, and leaves the parent's watch working.
fn fork_watch(mechanism: Mechanism, path: &Path) {
    let lock = InterProcessLock::with_mechanism(path, mechanism);
    let lock_times = |times| {
        for _ in 0..times {
            lock.lock().expect("lock").release().expect("release");
        }
    };
    lock_times(4);
    let watching = inotify_descriptors();
    say(&format!("watching {}", watching.len()));
    let child = fork();
    if child == 0 {
        let inherited: Vec<String> = watching
            .iter()
            .map(
                |fd| match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
                    Ok(target) => target.display().to_string(),
                    Err(err) => err.to_string(),
                },
            )
            .collect();
        say(&format!("child-inherited {}", inherited.join(" ")));
        lock_times(4);
        say(&format!("child-watching {}", inotify_descriptors().len()));
        std::process::exit(0);
    }
    say(&format!("child-exit {}", wait_child(child)));
    // The parent's watch still sees the file replaced at its path.
    let new = path.with_extension("new");
    std::fs::write(&new, "").expect("write");
    std::fs::rename(&new, path).expect("rename");
    let guard = lock.lock().expect("lock");
    say("locked");
    read_line();
    guard.release().expect("release");
    say("released");
}

/// One timed attempt at the exclusive side (write, for a reader-writer lock).
fn timed_exclusive(lock: &Lock, timeout: std::time::Duration) -> fasteners::Result<()> {
    match lock {
        Lock::Ex(l) => l.try_lock_for(timeout).map(drop),
        Lock::Rw(l) => l.try_write_for(timeout).map(drop),
        Lock::Nothing => unreachable!("fork-waiting locks"),
    }
}

fn fork_waiting(mechanism: Mechanism, path: &Path, kind: Kind, other: &Path) {
    use std::time::Duration;
    let lock = std::sync::Arc::new(Lock::new(kind, Some(mechanism), path));
    let timed = {
        let lock = std::sync::Arc::clone(&lock);
        std::thread::spawn(move || {
            timed_exclusive(&lock, Duration::from_secs(30)).expect("timed waiter")
        })
    };
    let (pending, is_pending) = std::sync::mpsc::channel();
    let waiting_task = {
        let lock = std::sync::Arc::clone(&lock);
        std::thread::spawn(move || {
            runtime("current").block_on(async {
                // Says so once the acquisition has been polled and waits.
                let acquire: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> = match &*lock
                {
                    Lock::Ex(l) => Box::pin(async { drop(l.lock_async().await.expect("async")) }),
                    Lock::Rw(l) => Box::pin(async { drop(l.write_async().await.expect("async")) }),
                    Lock::Nothing => unreachable!("fork-waiting locks"),
                };
                let mut acquire = acquire;
                std::future::poll_fn(|cx| {
                    let poll = acquire.as_mut().poll(cx);
                    if poll.is_pending() {
                        let _ = pending.send(());
                    }
                    poll
                })
                .await;
            });
        })
    };
    is_pending.recv().expect("the async waiter waits");
    say("waiting");
    read_line();
    let child = fork();
    if child == 0 {
        let timeout = Duration::from_millis(200);
        let timed = timed_exclusive(&lock, timeout);
        say(&format!("child-timed {}", outcome(&timed)));
        let asynced = runtime("current").block_on(async {
            match &*lock {
                Lock::Ex(l) => l.lock_async_for(timeout).await.map(drop),
                Lock::Rw(l) => l.write_async_for(timeout).await.map(drop),
                Lock::Nothing => unreachable!("fork-waiting locks"),
            }
        });
        say(&format!("child-async {}", outcome(&asynced)));
        let other = Lock::new(kind, Some(mechanism), other);
        let got = other.acquire(kind, true).map(drop);
        say(&format!("child-other {}", outcome(&got)));
        std::process::exit(0);
    }
    say(&format!("child-exit {}", wait_child(child)));
    read_line();
    timed.join().expect("timed waiter");
    waiting_task.join().expect("async waiter");
    say("parent-got-both");
}
