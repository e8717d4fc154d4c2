//! Cross-process benchmarks: handoff latency and contended throughput.
//!
//! `cargo bench --bench cross_process`, optionally with `-- --iterations 300
//! --rounds 5 --count 2000 --hold-ms 2 --scenarios raw-ofd,lock --handoff-only`.
//! Linux only: the baselines are raw Linux system calls.
//!
//! Handoff: a holder process takes the lock, lets a waiter process block on
//! it, releases it, and the waiter reports when it got it. The latency is the
//! time from the holder's release to the waiter holding the lock, read from
//! the system clock in both processes. The baseline is the kernel's own
//! blocking handoff: a raw blocking lock call (OFD `fcntl` and `flock`).
//!
//! Throughput: N processes each take the lock, increment a counter file and
//! release it, a fixed number of times; we report the total time, the longest
//! wait any one acquisition saw, and the longest run of consecutive
//! acquisitions by one process (fairness).
//!
//! The same scenarios for Python fasteners are in `scripts/bench_python.py`;
//! `scripts/bench.sh` runs both in one go.

mod support;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fasteners::{InterProcessLock, Mechanism};

/// How a process takes and releases the lock in one scenario.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// Raw blocking `F_OFD_SETLKW` on an open file: the kernel's floor.
    RawOfd,
    /// Raw blocking `flock` on an open file.
    RawFlock,
    /// Raw blocking `F_OFD_SETLKW` in a helper thread, handed to the waiting
    /// thread through a mutex and condition variable: the floor of a waiter
    /// that cannot sit in the kernel call itself (a timed or async one).
    RawOfdRelay,
    /// Raw blocking `F_OFD_SETLKW` in a helper thread that completes a tokio
    /// oneshot the waiting task awaits: the floor of an async waiter.
    RawOfdOneshot,
    /// `InterProcessLock::lock` (default mechanism).
    Lock,
    /// `InterProcessLock::try_lock_for` with a long timeout.
    LockTimeout,
    /// `InterProcessLock` with the fs4 (`flock`) mechanism.
    LockFlock,
    /// `InterProcessLock::lock_async` in a tokio current-thread runtime.
    LockAsync,
    /// `InterProcessLock::lock_async_for` with a long timeout, same runtime.
    LockAsyncTimeout,
    /// `InterProcessLock::lock_async` under a minimal executor (thread
    /// park/unpark): the crate's part of the async handoff, without tokio's.
    LockAsyncPark,
}

impl Scenario {
    const ALL: [Scenario; 10] = [
        Scenario::RawOfd,
        Scenario::RawFlock,
        Scenario::RawOfdRelay,
        Scenario::RawOfdOneshot,
        Scenario::Lock,
        Scenario::LockTimeout,
        Scenario::LockFlock,
        Scenario::LockAsync,
        Scenario::LockAsyncTimeout,
        Scenario::LockAsyncPark,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::RawOfd => "raw-ofd",
            Scenario::RawFlock => "raw-flock",
            Scenario::RawOfdRelay => "raw-ofd-relay",
            Scenario::RawOfdOneshot => "raw-ofd-oneshot",
            Scenario::Lock => "lock",
            Scenario::LockTimeout => "lock-timeout",
            Scenario::LockFlock => "lock-flock",
            Scenario::LockAsync => "lock-async",
            Scenario::LockAsyncTimeout => "lock-async-timeout",
            Scenario::LockAsyncPark => "lock-async-park",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Scenario::RawOfd => "raw OFD fcntl, blocking (kernel floor)",
            Scenario::RawFlock => "raw flock, blocking (kernel floor)",
            Scenario::RawOfdRelay => {
                "raw OFD fcntl in a helper thread, handed over by condvar (two-wake-up floor)"
            }
            Scenario::RawOfdOneshot => {
                "raw OFD fcntl in a helper thread, completing a tokio oneshot (async floor)"
            }
            Scenario::Lock => "InterProcessLock::lock()",
            Scenario::LockTimeout => "InterProcessLock::try_lock_for(60 s)",
            Scenario::LockFlock => "InterProcessLock (Mechanism::Flock)::lock()",
            Scenario::LockAsync => "InterProcessLock::lock_async() (tokio current-thread)",
            Scenario::LockAsyncTimeout => {
                "InterProcessLock::lock_async_for(60 s) (tokio current-thread)"
            }
            Scenario::LockAsyncPark => "InterProcessLock::lock_async() (park/unpark block_on)",
        }
    }

    fn parse(name: &str) -> Scenario {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .unwrap_or_else(|| panic!("unknown scenario {name}"))
    }
}

/// One process's way into the lock: an open file for the raw scenarios, a
/// lock object for the crate's.
enum Locker {
    Raw {
        file: File,
        ofd: bool,
    },
    Relay(relay::Relay),
    Oneshot(oneshot::Oneshot),
    Crate {
        lock: InterProcessLock,
        timeout: Option<Duration>,
    },
    /// The async API, each acquisition awaited in a current-thread runtime
    /// (or, without one, in [`park_block_on`]).
    Async {
        lock: InterProcessLock,
        timeout: Option<Duration>,
        runtime: Option<tokio::runtime::Runtime>,
    },
}

impl Locker {
    fn new(scenario: Scenario, path: &Path) -> Locker {
        let open = || support::open(path);
        match scenario {
            Scenario::RawOfd => Locker::Raw {
                file: open(),
                ofd: true,
            },
            Scenario::RawFlock => Locker::Raw {
                file: open(),
                ofd: false,
            },
            Scenario::RawOfdRelay => Locker::Relay(relay::Relay::new(open())),
            Scenario::RawOfdOneshot => Locker::Oneshot(oneshot::Oneshot::new(open())),
            Scenario::Lock => Locker::Crate {
                lock: InterProcessLock::new(path),
                timeout: None,
            },
            Scenario::LockTimeout => Locker::Crate {
                lock: InterProcessLock::new(path),
                timeout: Some(Duration::from_secs(60)),
            },
            Scenario::LockFlock => Locker::Crate {
                lock: InterProcessLock::with_mechanism(path, Mechanism::Flock),
                timeout: None,
            },
            Scenario::LockAsync | Scenario::LockAsyncTimeout => Locker::Async {
                lock: InterProcessLock::new(path),
                timeout: matches!(scenario, Scenario::LockAsyncTimeout)
                    .then_some(Duration::from_secs(60)),
                runtime: Some(
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime"),
                ),
            },
            Scenario::LockAsyncPark => Locker::Async {
                lock: InterProcessLock::new(path),
                timeout: None,
                runtime: None,
            },
        }
    }

    /// Runs `f` under the lock.
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        match self {
            Locker::Raw { file, ofd } => {
                raw::lock(file, *ofd, true);
                let r = f();
                raw::lock(file, *ofd, false);
                r
            }
            Locker::Relay(relay) => {
                relay.lock();
                let r = f();
                relay.unlock();
                r
            }
            Locker::Oneshot(oneshot) => {
                oneshot.lock();
                let r = f();
                oneshot.unlock();
                r
            }
            Locker::Crate { lock, timeout } => {
                let guard = match timeout {
                    None => lock.lock(),
                    Some(t) => lock.try_lock_for(*t),
                }
                .expect("acquire");
                let r = f();
                guard.release().expect("release");
                r
            }
            Locker::Async {
                lock,
                timeout,
                runtime,
            } => {
                let section = async {
                    let guard = match timeout {
                        None => lock.lock_async().await,
                        Some(t) => lock.lock_async_for(*t).await,
                    }
                    .expect("acquire");
                    let r = f();
                    guard.release().expect("release");
                    r
                };
                match runtime {
                    Some(runtime) => runtime.block_on(section),
                    None => park_block_on(section),
                }
            }
        }
    }
}

/// Wakes a thread parked in [`park_block_on`].
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// The smallest executor: polls `future`, parks the thread until woken.
fn park_block_on<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// The raw baselines: the two kernel calls, nothing else.
mod raw {
    use super::*;

    /// `F_OFD_SETLK` for a write lock: `false` if it is held elsewhere.
    pub fn try_lock(file: &File) -> bool {
        // SAFETY: `flock` is a plain C struct of integers; all-zero is a valid value.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        // SAFETY: `file` is open; `fl` is a valid flock.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
        if rc == 0 {
            return true;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::WouldBlock,
            "raw try-lock failed: {err}"
        );
        false
    }

    pub fn lock(file: &File, ofd: bool, acquire: bool) {
        let fd = file.as_raw_fd();
        let rc = if ofd {
            // SAFETY: `flock` is a plain C struct of integers; all-zero is a valid value.
            let mut fl: libc::flock = unsafe { std::mem::zeroed() };
            fl.l_type = if acquire {
                libc::F_WRLCK
            } else {
                libc::F_UNLCK
            } as _;
            fl.l_whence = libc::SEEK_SET as _;
            // SAFETY: `fd` is open for the lifetime of `file`; `fl` is a valid flock.
            unsafe { libc::fcntl(fd, libc::F_OFD_SETLKW, &fl) }
        } else {
            let op = if acquire {
                libc::LOCK_EX
            } else {
                libc::LOCK_UN
            };
            // SAFETY: `fd` is open for the lifetime of `file`.
            unsafe { libc::flock(fd, op) }
        };
        assert_eq!(
            rc,
            0,
            "raw lock call failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// The two-wake-up baseline: a persistent helper thread waits in the kernel
/// and hands each grant to the asking thread.
mod relay {
    use std::fs::File;
    use std::sync::{Arc, Condvar, Mutex};

    #[derive(Default)]
    struct State {
        asked: bool,
        granted: bool,
    }

    struct Shared {
        file: File,
        state: Mutex<State>,
        changed: Condvar,
    }

    pub struct Relay(Arc<Shared>);

    impl Relay {
        pub fn new(file: File) -> Relay {
            let shared = Arc::new(Shared {
                file,
                state: Mutex::default(),
                changed: Condvar::new(),
            });
            let helper = Arc::clone(&shared);
            std::thread::spawn(move || loop {
                let mut state = helper.state.lock().unwrap();
                while !state.asked {
                    state = helper.changed.wait(state).unwrap();
                }
                state.asked = false;
                drop(state);
                super::raw::lock(&helper.file, true, true);
                helper.state.lock().unwrap().granted = true;
                helper.changed.notify_all();
            });
            Relay(shared)
        }

        /// Tries without waiting first, as the crate's locks do; only a
        /// waiter goes through the helper thread.
        pub fn lock(&self) {
            if super::raw::try_lock(&self.0.file) {
                return;
            }
            let mut state = self.0.state.lock().unwrap();
            state.asked = true;
            self.0.changed.notify_all();
            while !state.granted {
                state = self.0.changed.wait(state).unwrap();
            }
            state.granted = false;
        }

        pub fn unlock(&self) {
            super::raw::lock(&self.0.file, true, false);
        }
    }
}

/// The async floor: a persistent helper thread waits in the kernel and
/// completes a tokio oneshot that the waiting task awaits in a current-thread
/// runtime; no crate code.
mod oneshot {
    use std::fs::File;
    use std::sync::mpsc;
    use std::sync::Arc;

    use tokio::sync::oneshot;

    pub struct Oneshot {
        file: Arc<File>,
        jobs: mpsc::Sender<oneshot::Sender<()>>,
        runtime: tokio::runtime::Runtime,
    }

    impl Oneshot {
        pub fn new(file: File) -> Oneshot {
            let file = Arc::new(file);
            let (jobs, asked) = mpsc::channel::<oneshot::Sender<()>>();
            let helper = Arc::clone(&file);
            std::thread::spawn(move || {
                for granted in asked {
                    super::raw::lock(&helper, true, true);
                    let _ = granted.send(());
                }
            });
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            Oneshot {
                file,
                jobs,
                runtime,
            }
        }

        /// Tries without waiting first, as the crate's locks do.
        pub fn lock(&self) {
            self.runtime.block_on(async {
                if super::raw::try_lock(&self.file) {
                    return;
                }
                let (granted, grant) = oneshot::channel();
                self.jobs.send(granted).expect("helper thread");
                grant.await.expect("grant");
            });
        }

        pub fn unlock(&self) {
            super::raw::lock(&self.file, true, false);
        }
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

struct ChildProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl ChildProc {
    fn spawn(args: &[&str]) -> ChildProc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn child");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        ChildProc {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn recv(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "child exited early");
        line.trim().to_owned()
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Latency percentiles in microseconds.
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

fn percentiles(mut samples_ns: Vec<u128>) -> Percentiles {
    samples_ns.sort_unstable();
    let at = |q: f64| {
        let i = ((samples_ns.len() as f64 - 1.0) * q).round() as usize;
        samples_ns[i] as f64 / 1000.0
    };
    Percentiles {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// Handoff latencies in nanoseconds, one per handoff.
fn handoff(scenario: Scenario, dir: &Path, iterations: usize, hold: Duration) -> Vec<u128> {
    let path = handoff_lock_file(dir, scenario);
    let locker = Locker::new(scenario, &path);
    let mut waiter = ChildProc::spawn(&["child-handoff", scenario.name(), path.to_str().unwrap()]);
    assert_eq!(waiter.recv(), "ready");
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let released_at = locker.with(|| {
            waiter.send("go");
            assert_eq!(waiter.recv(), "waiting");
            // Pacing only: give the waiter time to enter its blocking call,
            // so that we measure a handoff to a blocked waiter.
            std::thread::sleep(hold);
            now_ns()
        });
        let acquired_at: u128 = waiter.recv().parse().unwrap();
        samples.push(acquired_at.saturating_sub(released_at));
    }
    waiter.send("quit");
    samples
}

fn child_handoff(scenario: Scenario, path: &Path) {
    let locker = Locker::new(scenario, path);
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    for line in stdin.lock().lines() {
        match line.unwrap().as_str() {
            "go" => {
                writeln!(out, "waiting").unwrap();
                out.flush().unwrap();
                let acquired_at = locker.with(now_ns);
                writeln!(out, "{acquired_at}").unwrap();
                out.flush().unwrap();
            }
            _ => return,
        }
    }
}

struct Throughput {
    total: Duration,
    longest_wait: Duration,
    longest_run: u64,
}

/// Runs `procs` processes that each increment the counter `per_proc` times.
fn throughput(scenario: Scenario, dir: &Path, procs: usize, per_proc: u64) -> Throughput {
    let path = throughput_lock_file(dir, scenario, procs);
    let counter = dir.join(format!("throughput-{}-{procs}.count", scenario.name()));
    std::fs::write(&counter, "0 -1\n").unwrap();
    let mut children: Vec<ChildProc> = (0..procs)
        .map(|id| {
            ChildProc::spawn(&[
                "child-count",
                scenario.name(),
                path.to_str().unwrap(),
                counter.to_str().unwrap(),
                &id.to_string(),
                &per_proc.to_string(),
            ])
        })
        .collect();
    for child in &mut children {
        assert_eq!(child.recv(), "ready");
    }
    let start = Instant::now();
    for child in &mut children {
        child.send("go");
    }
    let mut longest_wait = Duration::ZERO;
    let mut longest_run = 0;
    for child in &mut children {
        let report = child.recv();
        let mut fields = report.split_whitespace().map(|f| f.parse::<u64>().unwrap());
        longest_wait = longest_wait.max(Duration::from_nanos(fields.next().unwrap()));
        longest_run = longest_run.max(fields.next().unwrap());
    }
    let total = start.elapsed();
    let text = std::fs::read_to_string(&counter).unwrap();
    let count: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(
        count,
        procs as u64 * per_proc,
        "lost updates under {}",
        scenario.name()
    );
    Throughput {
        total,
        longest_wait,
        longest_run,
    }
}

fn child_count(scenario: Scenario, path: &Path, counter: &Path, id: u64, per_proc: u64) {
    let locker = Locker::new(scenario, path);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(counter)
        .unwrap();
    let mut out = std::io::stdout();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let (mut longest_wait, mut longest_run) = (0u128, 0u64);
    let mut buf = String::new();
    for _ in 0..per_proc {
        let asked = Instant::now();
        locker.with(|| {
            longest_wait = longest_wait.max(asked.elapsed().as_nanos());
            buf.clear();
            file.seek(SeekFrom::Start(0)).unwrap();
            file.read_to_string(&mut buf).unwrap();
            let mut fields = buf.split_whitespace();
            let count: u64 = fields.next().unwrap().parse().unwrap();
            let last: i64 = fields.next().unwrap().parse().unwrap();
            let run: u64 = fields.next().map_or(0, |f| f.parse().unwrap());
            let run = if last == id as i64 { run + 1 } else { 1 };
            longest_run = longest_run.max(run);
            let text = format!("{} {id} {run}\n", count + 1);
            file.seek(SeekFrom::Start(0)).unwrap();
            file.write_all(text.as_bytes()).unwrap();
        });
    }
    writeln!(out, "{longest_wait} {longest_run}").unwrap();
    out.flush().unwrap();
}

/// Holds `<dir>/<i>.lock` for i below `count` until stdin closes.
fn child_hold_many(dir: &Path, count: &str) {
    let count: usize = count.parse().unwrap();
    let files: Vec<File> = (0..count)
        .map(|i| support::open(&dir.join(format!("held-{i}.lock"))))
        .collect();
    for file in &files {
        assert!(raw::try_lock(file), "held elsewhere");
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().lock().lines().next();
}

/// What the process has: threads, descriptors, resident memory.
fn resources() -> (usize, usize, u64) {
    let count = |dir| std::fs::read_dir(dir).unwrap().count();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss_kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (count("/proc/self/task"), count("/proc/self/fd"), rss_kb)
}

/// The resource figures of abandoned waits: `count` sequential
/// `try_lock_for(1 ms)`, each on its own file held by another process.
fn abandoned_waits(dir: &Path, count: usize) {
    let mut holder =
        ChildProc::spawn(&["child-hold-many", dir.to_str().unwrap(), &count.to_string()]);
    assert_eq!(holder.recv(), "ready");
    let before = resources();
    let start = Instant::now();
    for i in 0..count {
        let lock = InterProcessLock::new(dir.join(format!("held-{i}.lock")));
        let err = lock.try_lock_for(Duration::from_millis(1)).unwrap_err();
        assert!(err.is_contention(), "{err}");
    }
    let spent = start.elapsed();
    let after = resources();
    std::thread::sleep(Duration::from_millis(200));
    let settled = resources();
    let inodes: Vec<String> = (0..count)
        .map(|i| {
            let metadata = std::fs::metadata(dir.join(format!("held-{i}.lock"))).unwrap();
            std::os::unix::fs::MetadataExt::ino(&metadata).to_string()
        })
        .collect();
    let queued = std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|line| line.contains("->"))
        .filter_map(|line| {
            line.split_whitespace()
                .nth(6)?
                .rsplit(':')
                .next()
                .map(str::to_owned)
        })
        .filter(|inode| inodes.contains(inode))
        .count();
    holder.send("quit");
    println!(
        "\n## Abandoned waits ({count} sequential `try_lock_for(1 ms)` on files held by another process, {:.1} s)\n",
        spent.as_secs_f64()
    );
    println!("| | threads | descriptors | RSS MB |");
    println!("|---|---|---|---|");
    for (what, (threads, fds, rss)) in [
        ("before", before),
        ("right after", after),
        ("200 ms later", settled),
    ] {
        println!(
            "| {what} | {threads} | {fds} | {:.1} |",
            rss as f64 / 1024.0
        );
    }
    println!("\nBlocked kernel requests left for those files (`->` in /proc/locks): {queued}");
}

fn arg_value(args: &[String], flag: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("child-handoff") => {
            return child_handoff(Scenario::parse(&args[1]), Path::new(&args[2]));
        }
        Some("child-hold-many") => return child_hold_many(Path::new(&args[1]), &args[2]),
        Some("child-count") => {
            return child_count(
                Scenario::parse(&args[1]),
                Path::new(&args[2]),
                Path::new(&args[3]),
                args[4].parse().unwrap(),
                args[5].parse().unwrap(),
            );
        }
        _ => {}
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs us with no
    // such flag: then do a tiny smoke run so the harness stays compiled and working.
    let smoke = !args.iter().any(|a| a == "--bench");
    let iterations = arg_value(&args, "--iterations", if smoke { 5 } else { 500 });
    let per_proc = arg_value(&args, "--count", if smoke { 20 } else { 2000 }) as u64;
    let hold = Duration::from_millis(arg_value(&args, "--hold-ms", 2) as u64);

    let rounds = arg_value(&args, "--rounds", if smoke { 1 } else { 5 }).max(1);
    let scenarios: Vec<Scenario> = match args.iter().position(|a| a == "--scenarios") {
        Some(i) => args[i + 1].split(',').map(Scenario::parse).collect(),
        None => Scenario::ALL.to_vec(),
    };

    let dir = TempDir::new();
    settle_lock_files(dir.path(), &scenarios, smoke);
    println!(
        "## Handoff latency to a waiter blocked in another process \
         ({iterations} handoffs per scenario in {rounds} interleaved rounds, \
         lock held {hold:?} before each)\n"
    );
    // The scenarios take turns, a slice of the handoffs each per round, so
    // that a slow spell of the machine falls on all of them alike.
    let mut samples: Vec<Vec<u128>> = vec![Vec::new(); scenarios.len()];
    // Each round's median of each scenario, for the paired ratios.
    let mut round_p50s: Vec<Vec<f64>> = vec![Vec::new(); scenarios.len()];
    for round in 0..rounds {
        let share = iterations / rounds + usize::from(round < iterations % rounds);
        for ((scenario, samples), p50s) in scenarios.iter().zip(&mut samples).zip(&mut round_p50s) {
            let round_samples = handoff(*scenario, dir.path(), share, hold);
            p50s.push(percentiles(round_samples.clone()).p50);
            samples.extend(round_samples);
        }
    }
    // Paired ratio: in each round, the scenario's median over the reference's
    // median in the same round; the median of those over the rounds.
    let paired = |case: &[f64], reference: &[f64]| {
        let mut ratios: Vec<f64> = case.iter().zip(reference).map(|(c, r)| c / r).collect();
        ratios.sort_by(f64::total_cmp);
        ratios[ratios.len() / 2]
    };
    let row_of = |wanted: Scenario| scenarios.iter().position(|s| s.name() == wanted.name());
    let (lock_row, async_floor_row) = (row_of(Scenario::Lock), row_of(Scenario::RawOfdOneshot));
    println!(
        "| scenario | p50 µs | p90 µs | p99 µs | max µs | paired p50 ratio vs the first row | vs `lock()` | vs the async floor |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (i, (scenario, samples)) in scenarios.iter().zip(samples).enumerate() {
        let p = percentiles(samples);
        let versus = |row: Option<usize>| {
            row.map_or(String::from("-"), |row| {
                format!("{:.2}x", paired(&round_p50s[i], &round_p50s[row]))
            })
        };
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}x | {} | {} |",
            scenario.describe(),
            p.p50,
            p.p90,
            p.p99,
            p.max,
            paired(&round_p50s[i], &round_p50s[0]),
            versus(lock_row),
            versus(async_floor_row),
        );
    }
    if args.iter().any(|a| a == "--handoff-only") {
        return;
    }
    abandoned_waits(dir.path(), if smoke { 20 } else { 2000 });

    println!("\n## Contended throughput ({per_proc} increments of a counter file per process)\n");
    println!(
        "| scenario | processes | total ms | µs per acquisition | longest wait ms | longest run |"
    );
    println!("|---|---|---|---|---|---|");
    for procs in PROCESS_COUNTS {
        for &scenario in &scenarios {
            let t = throughput(scenario, dir.path(), procs, per_proc);
            let acquisitions = (procs as u64 * per_proc) as f64;
            println!(
                "| {} | {procs} | {:.1} | {:.2} | {:.2} | {} |",
                scenario.describe(),
                t.total.as_secs_f64() * 1e3,
                t.total.as_secs_f64() * 1e6 / acquisitions,
                t.longest_wait.as_secs_f64() * 1e3,
                t.longest_run
            );
        }
    }
}

/// The numbers of processes of the throughput runs.
const PROCESS_COUNTS: [usize; 2] = [2, 4];

fn handoff_lock_file(dir: &Path, scenario: Scenario) -> PathBuf {
    dir.join(format!("handoff-{}.lock", scenario.name()))
}

fn throughput_lock_file(dir: &Path, scenario: Scenario, procs: usize) -> PathBuf {
    dir.join(format!("throughput-{}-{procs}.lock", scenario.name()))
}

/// Creates every lock file the scenarios use and, unless this is a smoke
/// run, lets their change time age past 2 s: a lock file changed more
/// recently is checked with a full `stat(path)` at every acquisition, which
/// a lock file in long use is not.
fn settle_lock_files(dir: &Path, scenarios: &[Scenario], smoke: bool) {
    let created = Instant::now();
    for scenario in scenarios {
        drop(support::open(&handoff_lock_file(dir, *scenario)));
        for procs in PROCESS_COUNTS {
            drop(support::open(&throughput_lock_file(dir, *scenario, procs)));
        }
    }
    if !smoke {
        std::thread::sleep(Duration::from_millis(2100).saturating_sub(created.elapsed()));
    }
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("fasteners-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
