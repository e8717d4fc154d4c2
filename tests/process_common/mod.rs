//! Shared by the integration tests: unique temporary directories, the helper
//! child process with line-based, time-bounded conversation, the list of
//! mechanisms to run every scenario with, and the bounded waits every test
//! uses (joins, child exits, conditions, kernel waiters), so that a
//! regression fails in seconds instead of hanging.
#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{JoinHandle, ScopedJoinHandle};
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

    /// Starts the helper in its no-lock mode: the same `<command>`, with
    /// every acquisition skipped. The controls run exclusion scenarios this
    /// way to show that the checks see a violation when nothing excludes.
    pub fn start_unlocked(command: &str, path: &Path, args: &[&str]) -> Helper {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fasteners-test-helper"));
        cmd.arg(command).arg("none").arg(path).args(args);
        Helper::spawn(cmd, format!("unlocked helper {command} {args:?}"))
    }

    /// Tells a `hold` helper to release, waits for it to say so, and for it
    /// to exit cleanly.
    pub fn release_and_finish(mut self) {
        self.send("release");
        self.expect("released");
        let what = self.what.clone();
        assert!(self.finish().success(), "{what}: failed");
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Starts any command that talks the same line protocol.
    pub fn spawn(mut cmd: Command, what: String) -> Helper {
        Helper::spawn_with_stderr(cmd.stderr(Stdio::inherit()), what)
    }

    /// As [`Helper::spawn`], with the lines of its stderr on a channel.
    pub fn spawn_capturing_stderr(mut cmd: Command, what: String) -> (Helper, Receiver<String>) {
        let mut helper = Helper::spawn_with_stderr(cmd.stderr(Stdio::piped()), what);
        let stderr = helper.child.stderr.take().expect("piped stderr");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        (helper, lines)
    }

    fn spawn_with_stderr(cmd: &mut Command, what: String) -> Helper {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
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
        wait_child(&mut self.child, &self.what)
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
        wait_child(&mut self.child, &self.what);
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

/// The local file systems on which a lock file locked again and again is
/// watched (`statfs` magic numbers; the crate's list).
const WATCHED_FILE_SYSTEMS: [u32; 6] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0x0102_1994,
    0xF2F5_2010,
    0x8584_58F6,
];

/// Whether lock files in `dir` are watched once locked again and again.
pub fn watched_here(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: `statfs` is a plain C struct of integers; all-zero is valid.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid out-parameter.
    assert_eq!(unsafe { libc::statfs(dir.as_ptr(), &mut fs) }, 0);
    #[allow(clippy::unnecessary_cast)]
    WATCHED_FILE_SYSTEMS.contains(&(fs.f_type as u32))
}

/// How many inotify instances this process has open.
pub fn inotify_instances() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.as_os_str() == "anon_inode:inotify")
        .count()
}

/// How many threads this process has (Linux: `/proc/self/task`).
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Waits (bounded by [`STEP`]) until `done()` holds: the background waiter
/// exits on its own once the lock is released, with no event to wait on.
pub fn settles(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + STEP;
    let mut polls = 0u32;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        // Yield first (the usual wait is a few microseconds), then sleep so
        // that a long wait does not take a core from the threads it awaits.
        polls += 1;
        if polls < 1000 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    done()
}

/// Waits (bounded by [`STEP`]) until `done()` holds, failing the test with
/// `what` if it does not: the "B is waiting" check before acting on it.
pub fn wait_until(what: &str, done: impl Fn() -> bool) {
    assert!(
        settles(done),
        "timed out after {STEP:?} waiting until {what}"
    );
}

/// A thread handle that can be joined with a bound: std's and scoped ones.
pub trait Joinable<T> {
    fn is_finished(&self) -> bool;
    fn join(self) -> std::thread::Result<T>;
    /// What to do when the thread did not end in time. A plain thread is
    /// abandoned and the test fails; a scoped one would make the scope wait
    /// for it forever, so the whole test process fails at once instead.
    fn hung(what: &str) -> !;
}

impl<T> Joinable<T> for JoinHandle<T> {
    fn is_finished(&self) -> bool {
        JoinHandle::is_finished(self)
    }
    fn join(self) -> std::thread::Result<T> {
        JoinHandle::join(self)
    }
    fn hung(what: &str) -> ! {
        panic!("{what}: the thread did not finish within {STEP:?} (deadlock?)")
    }
}

impl<T> Joinable<T> for ScopedJoinHandle<'_, T> {
    fn is_finished(&self) -> bool {
        ScopedJoinHandle::is_finished(self)
    }
    fn join(self) -> std::thread::Result<T> {
        ScopedJoinHandle::join(self)
    }
    fn hung(what: &str) -> ! {
        let message = format!(
            "\n{what}: a scoped thread did not finish within {STEP:?} (deadlock?): \
             aborting the test process, whose scope would wait for it forever\n"
        );
        let _ = std::io::stderr().write_all(message.as_bytes());
        std::process::abort()
    }
}

/// The thread's result, or its panic, waiting at most [`STEP`] for it.
pub fn join_result<T, J: Joinable<T>>(handle: J, what: &str) -> std::thread::Result<T> {
    let deadline = Instant::now() + STEP;
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            J::hung(what);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    handle.join()
}

/// The thread's result, waiting at most [`STEP`]; its panic fails the test.
pub fn join<T>(handle: impl Joinable<T>, what: &str) -> T {
    match join_result(handle, what) {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Reaps `child`, waiting at most [`STEP`] for it to exit; kills it and
/// fails the test if it does not.
pub fn wait_child(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: did not exit within {STEP:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Reports a test that cannot run here as skipped and returns, so the
/// caller can `return`: the notice goes to the terminal past the test
/// harness's capture, and `scripts/test.sh` counts it as skipped, not passed.
/// Under `CI=true` a missing prerequisite fails the test instead.
pub fn skip(test: &str, reason: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI is set, and a prerequisite is missing: {reason}"
    );
    let notice = format!("\nSKIPPED: {test}: {reason}\n");
    let _ = std::io::stderr().write_all(notice.as_bytes());
}

/// Waits (bounded by [`STEP`]) until at least `count` lock requests on
/// `path`'s file wait in the kernel: the check that a waiter is blocked
/// before the test acts on it. Linux only shows them (`/proc/locks`); other
/// systems wait a fixed 200 ms instead, which only makes the path likely.
pub fn wait_for_kernel_waiters(what: &str, path: &Path, count: usize) {
    #[cfg(target_os = "linux")]
    wait_until(what, || kernel_waiters(path) >= count);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (what, path, count);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How many lock requests on `path`'s file wait in the kernel right now,
/// across all processes (Linux: the `->` lines of `/proc/locks`). OFD and
/// flock requests alike; OFD lines carry no pid, so they are told apart by
/// device and inode only.
#[cfg(target_os = "linux")]
pub fn kernel_waiters(path: &Path) -> usize {
    locks_on(path, true)
}

/// How many locks on `path`'s file the kernel has granted right now, across
/// all processes and descriptions (Linux: the lines of `/proc/locks` that
/// are not `->`): one per open file description holding it.
#[cfg(target_os = "linux")]
pub fn granted_locks(path: &Path) -> usize {
    locks_on(path, false)
}

/// How many locks (`blocked`: blocked requests) the kernel has on `path`'s file.
#[cfg(target_os = "linux")]
fn locks_on(path: &Path, blocked: bool) -> usize {
    let device = device_and_inode(path);
    kernel_locks(blocked)
        .into_iter()
        .filter(|file| *file == device)
        .count()
}

/// The kernel's lock table, `/proc/locks`, as one consistent snapshot. The
/// kernel writes it a page per `read` call, finding its place again by line
/// number, so a lock that goes (or comes) between two calls makes a later
/// line be skipped (or repeated). Two reads in a row that agree saw no such
/// change; tries again until they do (at most a hundred times).
#[cfg(target_os = "linux")]
pub fn proc_locks() -> String {
    let read = || std::fs::read_to_string("/proc/locks").expect("read /proc/locks");
    let mut table = read();
    for _ in 0..100 {
        let again = read();
        if again == table {
            break;
        }
        table = again;
    }
    table
}

/// `maj:min:inode` of `path`'s file, as `/proc/locks` writes it.
#[cfg(target_os = "linux")]
fn device_and_inode(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).expect("stat lock file");
    let (major, minor) = (libc::major(meta.dev()), libc::minor(meta.dev()));
    format!("{major:02x}:{minor:02x}:{}", meta.ino())
}

/// The `maj:min:inode` of every lock the kernel has granted (`blocked`:
/// queued instead), from any process (`/proc/locks` lines
/// `N: KIND ADVISORY MODE PID maj:min:inode START END`, with `->` after
/// the number for a blocked request).
#[cfg(target_os = "linux")]
fn kernel_locks(blocked: bool) -> Vec<String> {
    let table = proc_locks();
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let queued = fields.get(1) == Some(&"->");
            let file = fields.get(if queued { 6 } else { 5 })?;
            (queued == blocked).then(|| (*file).to_owned())
        })
        .collect()
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

/// Waits (at most 5 s) until the crate runs no thread but the process timer,
/// and fails the test if it still does then. Called before counting this
/// process's descriptors as a baseline: a background waiter of an earlier
/// wait exits shortly after its last job, closing the descriptor it holds,
/// and on a loaded machine that can come after the next count.
pub fn crate_threads_gone() {
    assert!(
        within(Duration::from_secs(5), || only_the_timer(&crate_threads())),
        "the crate's threads of earlier waits are still running: {:?}",
        crate_threads()
    );
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
#[cfg(target_os = "linux")]
pub fn queued_in_kernel(inodes: &[u64]) -> usize {
    kernel_locks(true)
        .iter()
        .filter_map(|file| file.rsplit(':').next()?.parse::<u64>().ok())
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

/// Serialises the tests of one test binary that count process-wide things
/// (descriptors, threads, kernel requests, signals): under `cargo test` they
/// share one process.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A tokio current-thread runtime with its time driver, for the async tests.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}
