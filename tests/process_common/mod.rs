//! Shared by the process-lock tests: unique temporary directories, the helper
//! child process with line-based, time-bounded conversation, and the list of
//! mechanisms to run every scenario with.
#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use fasteners::Mechanism;

/// The longest any single step of a test may take before it fails.
pub const STEP: Duration = Duration::from_secs(20);

/// Every mechanism this platform has.
pub fn mechanisms() -> Vec<Mechanism> {
    #[cfg(target_os = "linux")]
    return vec![Mechanism::Ofd, Mechanism::Flock];
    #[cfg(not(target_os = "linux"))]
    return vec![Mechanism::Flock];
}

/// The helper's name for `mechanism`.
pub fn mechanism_arg(mechanism: Mechanism) -> &'static str {
    match mechanism {
        #[cfg(target_os = "linux")]
        Mechanism::Ofd => "ofd",
        _ => "flock",
    }
}

/// A fresh directory, removed with its content when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fasteners-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `fasteners-test-helper`, killed and reaped when dropped.
pub struct Helper {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    what: String,
}

impl Helper {
    /// Starts `fasteners-test-helper <command> <mechanism> <path> <args...>`.
    pub fn start(command: &str, mechanism: Mechanism, path: &Path, args: &[&str]) -> Helper {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fasteners-test-helper"));
        cmd.arg(command)
            .arg(mechanism_arg(mechanism))
            .arg(path)
            .args(args);
        Helper::spawn(cmd, format!("helper {command} {args:?}"))
    }

    /// Starts any command that talks the same line protocol.
    pub fn spawn(mut cmd: Command, what: String) -> Helper {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Helper {
            stdin: child.stdin.take(),
            child,
            lines,
            what,
        }
    }

    /// The next line the child prints, waiting at most [`STEP`].
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(STEP) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("{}: no output within {STEP:?}", self.what),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{}: exited early ({:?})", self.what, self.child.wait())
            }
        }
    }

    /// Waits for the line `expected`, failing on any other.
    pub fn expect(&mut self, expected: &str) {
        let line = self.next_line();
        assert_eq!(line, expected, "{}", self.what);
    }

    /// Whether the child printed a line within `wait` (None if it did not).
    pub fn line_within(&mut self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    /// Sends one line to the child's stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|err| panic!("{}: cannot write: {err}", self.what));
    }

    /// Waits (at most [`STEP`]) for the child to exit and returns its status.
    pub fn finish(mut self) -> ExitStatus {
        self.stdin = None;
        // The output pipe closes when the child exits.
        match self.lines.recv_timeout(STEP) {
            Ok(line) => panic!("{}: unexpected output {line:?}", self.what),
            Err(RecvTimeoutError::Disconnected) => {}
            Err(RecvTimeoutError::Timeout) => panic!("{}: did not exit", self.what),
        }
        self.child.wait().expect("wait")
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child with SIGKILL and reaps it, keeping the pipes: a process
    /// the child forked may still talk through them.
    pub fn kill_leader(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }

    /// Waits (at most [`STEP`]) until every process writing to the child's
    /// output has closed it.
    pub fn output_closed(&mut self) {
        match self.lines.recv_timeout(STEP) {
            Ok(line) => panic!("{}: unexpected output {line:?}", self.what),
            Err(RecvTimeoutError::Disconnected) => {}
            Err(RecvTimeoutError::Timeout) => panic!("{}: output still open", self.what),
        }
    }

    /// Kills the child with SIGKILL and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }
}

/// Another process's one non-blocking attempt at `path`, in mode `kind`
/// (`ex`, `read` or `write`): `"got"` or `"busy"`, once it has exited cleanly.
pub fn try_elsewhere(mechanism: Mechanism, path: &Path, kind: &str) -> String {
    let mut other = Helper::start("try", mechanism, path, &[kind]);
    let line = other.next_line();
    assert!(other.finish().success(), "helper try {kind}: failed");
    line
}

impl Drop for Helper {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How many descriptors this process has open (Linux: `/proc/self/fd`).
pub fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// How many threads this process has (Linux: `/proc/self/task`).
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Waits (bounded by [`STEP`]) until `done()` holds: the background waiter
/// exits on its own once the lock is released, with no event to wait on.
pub fn settles(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + STEP;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// The names of this process's threads that the crate started (`fasteners-*`):
/// at most the process-wide `fasteners-timer` once no wait is under way.
pub fn crate_threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .filter(|name| name.starts_with("fasteners-"))
        .collect();
    names.sort();
    names
}

/// Whether `names` holds nothing but the timer thread.
pub fn only_the_timer(names: &[String]) -> bool {
    names.iter().all(|name| name == "fasteners-timer")
}

/// The inode of the file at `path`.
pub fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// How many blocked lock requests, from any process, the kernel has queued
/// for the files with these inodes (`/proc/locks` shows them as `->` lines).
pub fn queued_in_kernel(inodes: &[u64]) -> usize {
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    locks
        .lines()
        .filter(|line| line.contains("->"))
        .filter_map(|line| {
            // `N: -> KIND ADVISORY MODE PID MAJ:MIN:INODE START END`
            let id = line.split_whitespace().nth(6)?;
            id.rsplit(':').next()?.parse::<u64>().ok()
        })
        .filter(|ino| inodes.contains(ino))
        .count()
}

/// Polls `done` every millisecond until it holds or `bound` has passed.
pub fn within(bound: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Ends the whole test process if it is still alive `bound` from now and the
/// returned guard has not been dropped: a wait that the code under test
/// should end, but does not, fails the run instead of hanging it.
#[must_use = "the watchdog is disarmed when the guard is dropped"]
pub fn watchdog(what: &str, bound: Duration) -> Watchdog {
    let (disarm, disarmed) = mpsc::channel::<()>();
    let what = what.to_owned();
    std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = disarmed.recv_timeout(bound) {
            eprintln!("{what}: still running after {bound:?}; ending the test process");
            std::process::exit(101);
        }
    });
    Watchdog(Some(disarm))
}

/// See [`watchdog`].
pub struct Watchdog(Option<mpsc::Sender<()>>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(disarm) = self.0.take() {
            let _ = disarm.send(());
        }
    }
}
