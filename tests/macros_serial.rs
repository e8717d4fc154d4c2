//! Serialising tests with the file-lock attributes, the way test runners run
//! them: `cargo nextest` gives each test its own process, `cargo test` its
//! own thread of one process. The tests of `serial` and `serial_fns` take one
//! lock file (on a whole module, and on single functions with the attribute
//! above and below `#[test]` / `#[tokio::test]`).
//!
//! Run directly (by `cargo test` or `cargo nextest run`), each of them checks
//! that no other one is inside. The driver tests below run the same tests as
//! children of this binary, one process per test and all in one process, and
//! hold each test inside until every other one is seen waiting for the lock
//! (in `/proc/locks`, or as a sleeping thread of the child), so that a lock
//! that let a second test in would be caught. The `control` tests, the same
//! bodies without the lock, are seen all inside at once.

mod process_common;

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use process_common::{TempDir, STEP};

/// Set (to the directory of the run) in the children the driver starts.
const DRIVER: &str = "FASTENERS_SERIAL_DRIVER";

/// Starts the lines the children print for the driver.
const MARK: &str = "@@fasteners-serial";

fn driven() -> bool {
    std::env::var_os(DRIVER).is_some()
}

/// The directory of the lock file: the driver's, or one shared by every
/// direct run of these tests on the machine.
fn serial_dir() -> PathBuf {
    match std::env::var_os(DRIVER) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = std::env::temp_dir().join("fasteners-serial-tests");
            fs::create_dir_all(&dir).expect("create the serial tests' directory");
            dir
        }
    }
}

fn serial_lock() -> PathBuf {
    serial_dir().join("serial.lock")
}

/// The running test's name (libtest names each test's thread after it).
fn test_name() -> String {
    thread::current().name().unwrap_or("main").to_owned()
}

/// Tells the driver, if any, what this test is doing.
fn say(what: &str) {
    if driven() {
        let mut out = io::stdout().lock();
        writeln!(out, "{MARK} {what} {}", test_name()).expect("write to the driver");
        out.flush().expect("flush to the driver");
    }
}

/// The attributes' timeout, evaluated on each call before the lock is taken:
/// the moment to tell the driver that this test is about to wait.
fn taking() -> Duration {
    say("taking");
    STEP
}

/// The body of every serialised test.
fn section() -> io::Result<()> {
    if driven() {
        say("inside");
        // The driver says when to leave (or closes stdin).
        let mut line = String::new();
        io::stdin().read_line(&mut line)?;
        return Ok(());
    }
    let marker = serial_dir().join("inside");
    let _inside = Inside::enter(&marker)?;
    Ok(())
}

/// A marker file saying which test is inside, removed on drop.
struct Inside<'a>(&'a Path);

impl<'a> Inside<'a> {
    /// Panics if another test of the group is inside (a marker left by a
    /// process that no longer runs is taken over).
    fn enter(marker: &'a Path) -> io::Result<Inside<'a>> {
        let me = format!("{} {}", std::process::id(), test_name());
        loop {
            match OpenOptions::new().write(true).create_new(true).open(marker) {
                Ok(mut file) => {
                    file.write_all(me.as_bytes())?;
                    return Ok(Inside(marker));
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                    let other = fs::read_to_string(marker).unwrap_or_default();
                    let pid = other.split(' ').next().unwrap_or("");
                    let alive =
                        cfg!(not(target_os = "linux")) || Path::new("/proc").join(pid).exists();
                    assert!(
                        pid.is_empty() || !alive,
                        "{me} entered while {other} was inside"
                    );
                    fs::remove_file(marker)?;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.0);
    }
}

/// The attribute on a whole module: a `#[test]` and a `#[tokio::test]`.
#[fasteners::interprocess_locked(serial_lock(), timeout = taking())]
mod serial {
    use std::io;

    #[test]
    fn a() -> io::Result<()> {
        super::section()
    }

    #[tokio::test]
    async fn b() -> io::Result<()> {
        tokio::task::yield_now().await;
        super::section()
    }
}

/// The attribute on single functions, above and below the test attributes.
mod serial_fns {
    use std::io;

    use super::{section, serial_lock, taking};

    #[fasteners::interprocess_locked(serial_lock(), timeout = taking())]
    #[test]
    fn c() -> io::Result<()> {
        section()
    }

    #[test]
    #[fasteners::interprocess_locked(serial_lock(), timeout = taking())]
    fn d() -> io::Result<()> {
        section()
    }

    #[fasteners::interprocess_locked(serial_lock(), timeout = taking())]
    #[tokio::test]
    async fn e() -> io::Result<()> {
        tokio::task::yield_now().await;
        section()
    }

    #[tokio::test]
    #[fasteners::interprocess_locked(serial_lock(), timeout = taking())]
    async fn f() -> io::Result<()> {
        tokio::task::yield_now().await;
        section()
    }
}

/// The same work without the lock, run only by the driver.
mod control {
    use std::io;

    use super::{section, taking};

    #[test]
    #[ignore = "the control of the serialisation driver tests, run by them"]
    fn a() -> io::Result<()> {
        taking();
        section()
    }

    #[test]
    #[ignore = "the control of the serialisation driver tests, run by them"]
    fn b() -> io::Result<()> {
        taking();
        section()
    }

    #[tokio::test]
    #[ignore = "the control of the serialisation driver tests, run by them"]
    async fn c() -> io::Result<()> {
        taking();
        section()
    }
}

const SERIAL_TESTS: [&str; 6] = [
    "serial::a",
    "serial::b",
    "serial_fns::c",
    "serial_fns::d",
    "serial_fns::e",
    "serial_fns::f",
];

const CONTROL_TESTS: [&str; 3] = ["control::a", "control::b", "control::c"];

/// How a test runner runs the tests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runner {
    /// Each test its own process (`cargo nextest`).
    Processes,
    /// Each test its own thread of one process (`cargo test`).
    Threads,
}

/// What the children print for the driver.
enum Event {
    Taking(String),
    Inside(String),
    /// A child's output closed: it exited.
    Closed,
}

/// The children of one driven run, killed and reaped if the test fails.
struct Run {
    runner: Runner,
    dir: TempDir,
    children: Vec<(Child, Option<ChildStdin>)>,
    events: Receiver<Event>,
    /// For `Processes`: which child runs which test.
    tests: Vec<String>,
    /// How many children have exited.
    closed: usize,
}

impl Run {
    fn start(runner: Runner, tests: &[&str]) -> Run {
        let dir = TempDir::new("serial-driver");
        let exe = std::env::current_exe().expect("this test binary");
        let commands: Vec<Command> = match runner {
            Runner::Processes => tests
                .iter()
                .map(|test| {
                    let mut command = Command::new(&exe);
                    command.args([test, "--exact"]);
                    command
                })
                .collect(),
            Runner::Threads => {
                let mut command = Command::new(&exe);
                command
                    .args(tests)
                    .args(["--exact", &format!("--test-threads={}", tests.len())]);
                vec![command]
            }
        };
        let (sender, events) = mpsc::channel();
        let mut children = Vec::new();
        for mut command in commands {
            let mut child = command
                .args(["--nocapture", "--include-ignored"])
                .env(DRIVER, dir.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start a child test process");
            let stdout = child.stdout.take().expect("piped stdout");
            let sender = sender.clone();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let Some(at) = line.find(MARK) else { continue };
                    let mut words = line[at + MARK.len()..].split_whitespace();
                    let event = match (words.next(), words.next()) {
                        (Some("taking"), Some(test)) => Event::Taking(test.to_owned()),
                        (Some("inside"), Some(test)) => Event::Inside(test.to_owned()),
                        _ => panic!("unexpected line from a child: {line:?}"),
                    };
                    if sender.send(event).is_err() {
                        return;
                    }
                }
                let _ = sender.send(Event::Closed);
            });
            let stdin = child.stdin.take();
            children.push((child, stdin));
        }
        Run {
            runner,
            dir,
            children,
            events,
            tests: tests.iter().map(|t| (*t).to_owned()).collect(),
            closed: 0,
        }
    }

    /// The next event within 5 ms (`None` if there is none yet), failing
    /// the test once `deadline` has passed. Exits are counted, not returned.
    fn next(&mut self, deadline: Instant) -> Option<Event> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(left.min(Duration::from_millis(5))) {
            Ok(Event::Closed) => {
                self.closed += 1;
                None
            }
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => {
                assert!(Instant::now() < deadline, "no progress within {STEP:?}");
                None
            }
            Err(RecvTimeoutError::Disconnected) => panic!("every child exited early"),
        }
    }

    /// Lets `test` leave its section.
    fn release(&mut self, test: &str) {
        let index = match self.runner {
            Runner::Processes => self
                .tests
                .iter()
                .position(|t| t == test)
                .expect("a test of the run"),
            Runner::Threads => 0,
        };
        let stdin = self.children[index].1.as_mut().expect("stdin open");
        writeln!(stdin, "leave")
            .and_then(|()| stdin.flush())
            .expect("tell a child to leave");
    }

    /// How many of `tests` are waiting for the lock: blocked requests on the
    /// lock file in `/proc/locks` (one per waiting process), or sleeping
    /// threads of the child named after them.
    fn waiting(&self, tests: &HashSet<String>) -> usize {
        match self.runner {
            Runner::Processes => blocked_requests(&self.dir.join("serial.lock")),
            Runner::Threads => {
                let pid = self.children[0].0.id();
                sleeping_threads(pid, tests)
            }
        }
    }

    /// Waits for every child to exit, successfully.
    fn finish(mut self) {
        for (_, stdin) in &mut self.children {
            stdin.take();
        }
        let deadline = Instant::now() + STEP;
        while self.closed < self.children.len() {
            if let Some(Event::Inside(test) | Event::Taking(test)) = self.next(deadline) {
                panic!("{test} started after every test had run");
            }
        }
        for (child, _) in &mut self.children {
            let status = child.wait().expect("reap a child");
            assert!(status.success(), "a child test failed: {status}");
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        for (child, _) in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Blocked lock requests on the file at `path` (Linux: `/proc/locks`, lines
/// with `->`, matched by inode).
fn blocked_requests(path: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = fs::metadata(path) else {
        return 0;
    };
    let inode = metadata.ino().to_string();
    process_common::proc_locks()
        .lines()
        .filter(|line| line.contains("->"))
        .filter(|line| {
            line.split_whitespace()
                .any(|field| field.split(':').nth(2) == Some(inode.as_str()))
        })
        .count()
}

/// Threads of process `pid` named after one of `tests` and asleep.
fn sleeping_threads(pid: u32, tests: &HashSet<String>) -> usize {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            // The kernel keeps 15 bytes of a thread's name.
            let named = tests
                .iter()
                .any(|t| t.get(..15).unwrap_or(t) == comm.trim_end());
            let stat = fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // The state follows the name, which is in parentheses.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            named && state == Some("S")
        })
        .count()
}

/// Runs the serialised tests under `runner`: each enters alone, and stays
/// inside until every test yet to run is seen waiting for the lock.
fn serialised(runner: Runner) {
    let mut run = Run::start(runner, &SERIAL_TESTS);
    let mut left: HashSet<String> = SERIAL_TESTS.iter().map(|t| (*t).to_owned()).collect();
    let mut taking: HashSet<String> = HashSet::new();
    let mut order = Vec::new();
    while !left.is_empty() {
        let deadline = Instant::now() + STEP;
        let entered = loop {
            match run.next(deadline) {
                Some(Event::Taking(test)) => {
                    taking.insert(test);
                }
                Some(Event::Inside(test)) => break test,
                Some(Event::Closed) | None => {}
            }
        };
        assert!(left.remove(&entered), "{entered} entered twice");
        // Every other test still to run must be waiting, and none may enter.
        let deadline = Instant::now() + STEP;
        loop {
            let all_waiting = left.is_subset(&taking) && run.waiting(&left) == left.len();
            if all_waiting {
                break;
            }
            match run.next(deadline) {
                Some(Event::Taking(test)) => {
                    taking.insert(test);
                }
                Some(Event::Inside(second)) => {
                    panic!("{second} entered while {entered} was inside")
                }
                Some(Event::Closed) | None => {}
            }
        }
        run.release(&entered);
        order.push(entered);
    }
    assert_eq!(order.len(), SERIAL_TESTS.len());
    run.finish();
}

/// Runs the control tests under `runner`: without a lock they are all
/// inside at once.
fn overlapping(runner: Runner) {
    let mut run = Run::start(runner, &CONTROL_TESTS);
    let mut inside = HashSet::new();
    let deadline = Instant::now() + STEP;
    while inside.len() < CONTROL_TESTS.len() {
        match run.next(deadline) {
            Some(Event::Inside(test)) => {
                inside.insert(test);
            }
            Some(Event::Taking(_) | Event::Closed) | None => {}
        }
    }
    for test in CONTROL_TESTS {
        run.release(test);
    }
    run.finish();
}

#[cfg(target_os = "linux")]
#[test]
fn serialised_tests_in_their_own_processes_run_one_at_a_time() {
    serialised(Runner::Processes);
}

#[cfg(target_os = "linux")]
#[test]
fn serialised_tests_on_threads_of_one_process_run_one_at_a_time() {
    serialised(Runner::Threads);
}

#[cfg(target_os = "linux")]
#[test]
fn control_without_the_lock_the_same_tests_in_processes_overlap() {
    overlapping(Runner::Processes);
}

#[cfg(target_os = "linux")]
#[test]
fn control_without_the_lock_the_same_tests_on_threads_overlap() {
    overlapping(Runner::Threads);
}
