//! Cross-process benchmarks: handoff latency and contended throughput.
//!
//! `cargo bench --bench cross_process`, optionally with `-- --iterations 1000
//! --python-iterations 100 --rounds 10 --hold-ms 2 --duration-ms 300
//! --throughput-rounds 3 --scenarios raw-ofd,lock --handoff-only
//! --guarantees FILE`. Linux only: the baselines are raw Linux system calls.
//!
//! Every peer that can wait for a lock held by another process takes part:
//! std `File::lock`, fs4, fd-lock, file-guard, named-lock, fslock (each
//! process of a scenario uses the same peer), and Python fasteners 0.20
//! (`scripts/bench_python.py`, its processes started from here; in the
//! handoff, the holder here takes the POSIX lock Python's `lockf` takes).
//! `--guarantees FILE` (written by `benches/process_lock.rs`) adds what
//! each peer guarantees beside its figures.
//!
//! Handoff: a holder process takes the lock, lets a waiter process block on
//! it, releases it, and the waiter reports when it got it. The latency is the
//! time from the holder's release to the waiter holding the lock, read from
//! the system clock in both processes. The baseline is the kernel's own
//! blocking handoff: a raw blocking lock call (OFD `fcntl` and `flock`).
//!
//! Throughput: N processes each take the lock, increment a counter file and
//! release it, again and again until a common deadline, in interleaved
//! rounds; we report the acquisitions per second, the fairness (the fewest
//! acquisitions of one process ÷ the most), the longest wait any one
//! acquisition saw, and the longest run of consecutive acquisitions by one
//! process. The counter must equal the sum of the processes' counts.

mod support;

use support::{arg, median, paired, verdict};

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fasteners::{InterProcessLock, Mechanism};
use support::peers::{Handle, Kind};

/// How a process takes and releases the lock in one scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    /// Raw blocking `F_OFD_SETLKW` on an open file: the kernel's floor.
    RawOfd,
    /// The same, then one `fstat` of the descriptor: the floor of a blocking
    /// lock that checks, after the grant, that its file is still the file at
    /// the path.
    RawOfdFstat,
    /// The same, then one `FIONREAD` of an inotify instance watching the
    /// file: the floor of a lock that checks its file by a watch, as the
    /// crate's do once a file is locked again and again.
    RawOfdWatch,
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
    /// Raw blocking traditional POSIX `F_SETLKW`, what Python's `lockf` takes.
    RawPosix,
    /// A peer crate's blocking lock.
    Peer(Kind),
    /// Python fasteners' `InterProcessLock.acquire()` (it polls).
    Python,
}

impl Scenario {
    const ALL: [Scenario; 20] = [
        Scenario::RawOfd,
        Scenario::RawOfdFstat,
        Scenario::RawOfdWatch,
        Scenario::RawFlock,
        Scenario::RawOfdRelay,
        Scenario::RawOfdOneshot,
        Scenario::Lock,
        Scenario::LockTimeout,
        Scenario::LockFlock,
        Scenario::LockAsync,
        Scenario::LockAsyncTimeout,
        Scenario::LockAsyncPark,
        Scenario::RawPosix,
        Scenario::Peer(Kind::Std),
        Scenario::Peer(Kind::Fs4),
        Scenario::Peer(Kind::FdLock),
        Scenario::Peer(Kind::FileGuard),
        Scenario::Peer(Kind::NamedLock),
        Scenario::Peer(Kind::Fslock),
        Scenario::Python,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::RawOfd => "raw-ofd",
            Scenario::RawOfdFstat => "raw-ofd-fstat",
            Scenario::RawOfdWatch => "raw-ofd-watch",
            Scenario::RawFlock => "raw-flock",
            Scenario::RawOfdRelay => "raw-ofd-relay",
            Scenario::RawOfdOneshot => "raw-ofd-oneshot",
            Scenario::Lock => "lock",
            Scenario::LockTimeout => "lock-timeout",
            Scenario::LockFlock => "lock-flock",
            Scenario::LockAsync => "lock-async",
            Scenario::LockAsyncTimeout => "lock-async-timeout",
            Scenario::LockAsyncPark => "lock-async-park",
            Scenario::RawPosix => "raw-posix",
            Scenario::Peer(kind) => kind.id(),
            Scenario::Python => "python",
        }
    }

    fn describe(self) -> String {
        String::from(match self {
            Scenario::RawOfd => "raw OFD fcntl, blocking (kernel floor)",
            Scenario::RawOfdFstat => {
                "raw OFD fcntl, blocking, then `fstat` (floor of a lock that checks its file)"
            }
            Scenario::RawOfdWatch => {
                "raw OFD fcntl, blocking, then inotify `FIONREAD` (floor of a lock that checks its file by a watch)"
            }
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
            Scenario::RawPosix => "raw POSIX fcntl (F_SETLKW), blocking (floor of Python's lockf)",
            Scenario::Peer(kind) => return format!("{}, blocking lock", kind.describe()),
            Scenario::Python => "Python fasteners 0.20 acquire() (polls; holder: raw POSIX)",
        })
    }

    /// The peer, for the guarantees column.
    fn kind(self) -> Option<Kind> {
        match self {
            Scenario::RawOfd
            | Scenario::RawOfdFstat
            | Scenario::RawOfdWatch
            | Scenario::RawFlock
            | Scenario::RawPosix => None,
            Scenario::RawOfdRelay | Scenario::RawOfdOneshot => None,
            Scenario::LockFlock => Some(Kind::FastenersFlock),
            Scenario::Peer(kind) => Some(kind),
            Scenario::Python => None,
            _ => Some(Kind::Fasteners),
        }
    }

    fn parse(name: &str) -> Scenario {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .unwrap_or_else(|| panic!("unknown scenario {name}"))
    }
}

/// What a raw scenario checks after each grant.
enum Check {
    None,
    /// An `fstat` of the descriptor.
    Fstat,
    /// `FIONREAD` of an inotify instance watching the file.
    Watch(support::Inotify),
}

/// One process's way into the lock: an open file for the raw scenarios, a
/// lock object for the crate's.
enum Locker {
    Raw {
        file: File,
        ofd: bool,
        /// The check of the file after each grant.
        check: Check,
    },
    Relay(relay::Relay),
    Oneshot(oneshot::Oneshot),
    Crate {
        lock: InterProcessLock,
        timeout: Option<Duration>,
    },
    /// A peer's lock (and the raw POSIX floor), through [`Handle`].
    Peer(std::cell::RefCell<Handle>),
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
            Scenario::RawOfd | Scenario::RawOfdFstat | Scenario::RawOfdWatch => Locker::Raw {
                file: open(),
                ofd: true,
                check: match scenario {
                    Scenario::RawOfdFstat => Check::Fstat,
                    Scenario::RawOfdWatch => Check::Watch(support::Inotify::watch(path)),
                    _ => Check::None,
                },
            },
            Scenario::RawFlock => Locker::Raw {
                file: open(),
                ofd: false,
                check: Check::None,
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
            Scenario::RawPosix | Scenario::Python => {
                Locker::Peer(Handle::open(Kind::RawPosix, path).into())
            }
            Scenario::Peer(kind) => Locker::Peer(Handle::open(kind, path).into()),
        }
    }

    /// Runs `f` under the lock.
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        match self {
            Locker::Raw { file, ofd, check } => {
                raw::lock(file, *ofd, true);
                match check {
                    Check::None => {}
                    Check::Fstat => {
                        std::hint::black_box(support::fstat_nlink(file));
                    }
                    Check::Watch(watch) => {
                        std::hint::black_box(watch.pending());
                    }
                }
                let r = f();
                raw::lock(file, *ofd, false);
                r
            }
            Locker::Peer(handle) => handle.borrow_mut().with(true, f).unwrap(),
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
        let child = Command::new(std::env::current_exe().unwrap())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn child");
        ChildProc::of(child)
    }

    /// The process of `scenario` for the child role `args[0]` (this
    /// harness, or `scripts/bench_python.py` for Python, which takes the
    /// same arguments after the scenario's name).
    fn of_scenario(scenario: Scenario, args: &[&str]) -> ChildProc {
        match scenario {
            Scenario::Python => {
                let mut python_args = vec![args[0]];
                python_args.extend(&args[2..]);
                ChildProc::of(support::python(&python_args).expect("Python fasteners"))
            }
            _ => ChildProc::spawn(args),
        }
    }

    fn of(mut child: Child) -> ChildProc {
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
    let mut waiter = ChildProc::of_scenario(
        scenario,
        &["child-handoff", scenario.name(), path.to_str().unwrap()],
    );
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

/// One throughput run of one scenario.
struct Throughput {
    /// Acquisitions of each process.
    counts: Vec<u64>,
    /// From the start to the last process's report.
    elapsed: Duration,
    longest_wait: Duration,
    longest_run: u64,
}

/// Runs `procs` processes that increment the counter until `duration` has
/// passed.
fn throughput(scenario: Scenario, dir: &Path, procs: usize, duration: Duration) -> Throughput {
    let path = throughput_lock_file(dir, scenario, procs);
    let counter = dir.join(format!("throughput-{}-{procs}.count", scenario.name()));
    std::fs::write(&counter, "0 -1\n").unwrap();
    let mut children: Vec<ChildProc> = (0..procs)
        .map(|id| {
            ChildProc::of_scenario(
                scenario,
                &[
                    "child-count",
                    scenario.name(),
                    path.to_str().unwrap(),
                    counter.to_str().unwrap(),
                    &id.to_string(),
                ],
            )
        })
        .collect();
    for child in &mut children {
        assert_eq!(child.recv(), "ready");
    }
    let start = Instant::now();
    let deadline = now_ns() + duration.as_nanos();
    for child in &mut children {
        child.send(&format!("go {deadline}"));
    }
    let mut run = Throughput {
        counts: Vec::new(),
        elapsed: Duration::ZERO,
        longest_wait: Duration::ZERO,
        longest_run: 0,
    };
    for child in &mut children {
        let report = child.recv();
        let mut fields = report.split_whitespace().map(|f| f.parse::<u64>().unwrap());
        run.counts.push(fields.next().unwrap());
        run.longest_wait = run
            .longest_wait
            .max(Duration::from_nanos(fields.next().unwrap()));
        run.longest_run = run.longest_run.max(fields.next().unwrap());
    }
    run.elapsed = start.elapsed();
    let text = std::fs::read_to_string(&counter).unwrap();
    let count: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(
        count,
        run.counts.iter().sum::<u64>(),
        "lost updates under {}",
        scenario.name()
    );
    run
}

fn child_count(scenario: Scenario, path: &Path, counter: &Path, id: u64) {
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
    let deadline: u128 = line
        .split_whitespace()
        .nth(1)
        .and_then(|d| d.parse().ok())
        .expect("go DEADLINE");
    let (mut count, mut longest_wait, mut longest_run) = (0u64, 0u128, 0u64);
    let mut buf = String::new();
    while now_ns() < deadline {
        let asked = Instant::now();
        locker.with(|| {
            longest_wait = longest_wait.max(asked.elapsed().as_nanos());
            buf.clear();
            file.seek(SeekFrom::Start(0)).unwrap();
            file.read_to_string(&mut buf).unwrap();
            let mut fields = buf.split_whitespace();
            let total: u64 = fields.next().unwrap().parse().unwrap();
            let last: i64 = fields.next().unwrap().parse().unwrap();
            let run: u64 = fields.next().map_or(0, |f| f.parse().unwrap());
            let run = if last == id as i64 { run + 1 } else { 1 };
            longest_run = longest_run.max(run);
            let text = format!("{} {id} {run}\n", total + 1);
            file.seek(SeekFrom::Start(0)).unwrap();
            file.write_all(text.as_bytes()).unwrap();
        });
        count += 1;
    }
    writeln!(out, "{count} {longest_wait} {longest_run}").unwrap();
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
    // At most one thread more (the process timer), no descriptor and no
    // kernel request left behind by the waits that gave up.
    let (threads, fds) = (settled.0 <= before.0 + 1, settled.1 <= before.1);
    println!("\n| target | this run | status |");
    println!("|---|---|---|");
    println!(
        "| waits that gave up leave at most one thread (the process timer), no descriptor and no kernel request | {} → {} threads, {} → {} descriptors, {queued} requests | {} |",
        before.0,
        settled.0,
        before.1,
        settled.1,
        verdict(threads && fds && queued == 0)
    );
}

/// What each peer guarantees, one `id summary` a line, from the file
/// `benches/process_lock.rs` writes (`--guarantees FILE`).
fn guarantees(args: &[String]) -> std::collections::HashMap<String, String> {
    let Some(file) = args
        .iter()
        .position(|a| a == "--guarantees")
        .and_then(|i| args.get(i + 1))
    else {
        return Default::default();
    };
    std::fs::read_to_string(file)
        .unwrap_or_else(|err| panic!("--guarantees {file}: {err}"))
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(id, summary)| (id.to_owned(), summary.to_owned()))
        .collect()
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
            );
        }
        _ => {}
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs us with no
    // such flag: then do a tiny smoke run so the harness stays compiled and working.
    let smoke = !args.iter().any(|a| a == "--bench");
    let iterations: usize = arg(&args, "--iterations", if smoke { 5 } else { 1000 });
    let python_iterations: usize = arg(&args, "--python-iterations", if smoke { 2 } else { 100 });
    let hold = Duration::from_millis(arg(&args, "--hold-ms", 2));
    let duration = Duration::from_millis(arg(&args, "--duration-ms", if smoke { 20 } else { 300 }));
    let rounds = arg(&args, "--rounds", if smoke { 1 } else { 10 }).max(1);
    let throughput_rounds = arg(&args, "--throughput-rounds", if smoke { 1 } else { 3 }).max(1);
    let mut scenarios: Vec<Scenario> = match args.iter().position(|a| a == "--scenarios") {
        Some(i) => args[i + 1].split(',').map(Scenario::parse).collect(),
        None => Scenario::ALL.to_vec(),
    };
    let guarantees = guarantees(&args);
    let guarantee = |scenario: Scenario| match (scenario, scenario.kind()) {
        (Scenario::Python, _) => guarantees.get("python").cloned().unwrap_or_default(),
        (_, Some(kind)) => guarantees.get(kind.id()).cloned().unwrap_or_default(),
        (_, None) => String::from("(floor)"),
    };
    let mut notes = Vec::new();
    if scenarios.contains(&Scenario::Python) {
        if let Err(why) = support::python(&["probe-threads", "/dev/null"]).map(|mut child| {
            let _ = child.kill();
            let _ = child.wait();
        }) {
            notes.push(format!("Python fasteners not measured: {why}."));
            scenarios.retain(|&s| s != Scenario::Python);
        }
    }

    let dir = TempDir::new();
    settle_lock_files(dir.path(), &scenarios, smoke);
    println!(
        "## Handoff latency to a waiter blocked in another process \
         ({iterations} handoffs per scenario, {python_iterations} for Python, in {rounds} \
         interleaved rounds, lock held {hold:?} before each)\n"
    );
    for note in &notes {
        println!("{note}\n");
    }
    // The scenarios take turns, a slice of the handoffs each per round, so
    // that a slow spell of the machine falls on all of them alike. Each round
    // starts one scenario further on, so that no scenario always runs right
    // after the same other one.
    let mut samples: Vec<Vec<u128>> = vec![Vec::new(); scenarios.len()];
    // Each round's median of each scenario, for the paired ratios.
    let mut round_p50s: Vec<Vec<f64>> = vec![Vec::new(); scenarios.len()];
    for round in 0..rounds {
        for turn in 0..scenarios.len() {
            let i = (round + turn) % scenarios.len();
            let (scenario, samples, p50s) = (&scenarios[i], &mut samples[i], &mut round_p50s[i]);
            let total = if *scenario == Scenario::Python {
                python_iterations.min(iterations)
            } else {
                iterations
            };
            let share = total / rounds + usize::from(round < total % rounds);
            if share == 0 {
                continue;
            }
            let round_samples = handoff(*scenario, dir.path(), share, hold);
            p50s.push(percentiles(round_samples.clone()).p50);
            samples.extend(round_samples);
        }
    }
    let row_of = |wanted: Scenario| scenarios.iter().position(|s| *s == wanted);
    // Paired ratio of the p50s over the rounds both took part in.
    let versus = |i: usize, row: Option<usize>| -> Option<f64> {
        let row = row?;
        let n = round_p50s[i].len().min(round_p50s[row].len());
        (n > 0).then(|| paired(&round_p50s[i][..n], &round_p50s[row][..n]))
    };
    let show = |ratio: Option<f64>| ratio.map_or(String::from("-"), |r| format!("{r:.2}x"));
    let (kernel_row, lock_row, async_floor_row) = (
        row_of(Scenario::RawOfd),
        row_of(Scenario::Lock),
        row_of(Scenario::RawOfdOneshot),
    );
    println!(
        "| scenario | guarantees | p50 µs | p90 µs | p99 µs | max µs | p50 vs the kernel (raw OFD), paired | vs `lock()` | vs the async floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, (scenario, samples)) in scenarios.iter().zip(&samples).enumerate() {
        let p = percentiles(samples.clone());
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} |",
            scenario.describe(),
            guarantee(*scenario),
            p.p50,
            p.p90,
            p.p99,
            p.max,
            show(versus(i, kernel_row)),
            show(versus(i, lock_row)),
            show(versus(i, async_floor_row)),
        );
    }
    let targets: [(&str, Scenario, Option<usize>, f64); 6] = [
        (
            "`lock()` handoff within 1.5x of the kernel's blocking handoff (DESIGN.md)",
            Scenario::Lock,
            kernel_row,
            1.5,
        ),
        (
            "`try_lock_for(60 s)` handoff within 1.2x of `lock()`'s (DESIGN.md)",
            Scenario::LockTimeout,
            lock_row,
            1.2,
        ),
        (
            "`try_lock_for(60 s)` handoff within 1.3x of the kernel's blocking handoff (issue 10)",
            Scenario::LockTimeout,
            kernel_row,
            1.3,
        ),
        (
            "`lock_async()` handoff within 1.2x of the async floor (DESIGN.md)",
            Scenario::LockAsync,
            async_floor_row,
            1.2,
        ),
        (
            "`lock_async_for(60 s)` handoff within 1.2x of the async floor (DESIGN.md)",
            Scenario::LockAsyncTimeout,
            async_floor_row,
            1.2,
        ),
        (
            "`lock()` with `Mechanism::Flock` within 1.5x of the kernel's blocking handoff",
            Scenario::LockFlock,
            kernel_row,
            1.5,
        ),
    ];
    println!("\n| target | this run | status |");
    println!("|---|---|---|");
    for (what, scenario, floor, limit) in targets {
        match row_of(scenario).and_then(|i| versus(i, floor)) {
            Some(ratio) => println!("| {what} | {ratio:.2}x | {} |", verdict(ratio <= limit)),
            None => println!("| {what} | not run | not measured |"),
        }
    }
    if args.iter().any(|a| a == "--handoff-only") {
        return;
    }
    abandoned_waits(dir.path(), if smoke { 20 } else { 2000 });

    println!(
        "\n## Contended throughput (N processes increment a counter file under the lock for \
         {duration:?}, {throughput_rounds} interleaved rounds)\n"
    );
    for note in &notes {
        println!("{note}\n");
    }
    println!(
        "| scenario | guarantees | processes | acquisitions per s (median) | µs per acquisition | time per acquisition ÷ raw OFD's, paired | fairness: fewest ÷ most acquisitions of one process | longest wait ms | longest run by one process |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for procs in PROCESS_COUNTS {
        // Acquisitions per second by scenario, one per round; counts summed.
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); scenarios.len()];
        let mut counts: Vec<Vec<u64>> = vec![vec![0; procs]; scenarios.len()];
        let mut waits = vec![Duration::ZERO; scenarios.len()];
        let mut runs = vec![0; scenarios.len()];
        for _ in 0..throughput_rounds {
            for (i, &scenario) in scenarios.iter().enumerate() {
                let t = throughput(scenario, dir.path(), procs, duration);
                rates[i].push(t.counts.iter().sum::<u64>() as f64 / t.elapsed.as_secs_f64());
                for (sum, count) in counts[i].iter_mut().zip(&t.counts) {
                    *sum += count;
                }
                waits[i] = waits[i].max(t.longest_wait);
                runs[i] = runs[i].max(t.longest_run);
            }
        }
        for (i, scenario) in scenarios.iter().enumerate() {
            let rate = median(rates[i].clone());
            let fewest = *counts[i].iter().min().unwrap() as f64;
            let most = *counts[i].iter().max().unwrap() as f64;
            // Slower is worse: the floor's rate over this one's.
            let versus = kernel_row.map_or(String::from("-"), |k| {
                format!("{:.2}x", paired(&rates[k], &rates[i]))
            });
            println!(
                "| {} | {} | {procs} | {rate:.0} | {:.2} | {versus} | {:.2} | {:.2} | {} |",
                scenario.describe(),
                guarantee(*scenario),
                1e6 / rate,
                fewest / most.max(1.0),
                waits[i].as_secs_f64() * 1e3,
                runs[i]
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
