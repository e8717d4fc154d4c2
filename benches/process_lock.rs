//! The uncontended cycle (lock + release of a free lock) of the crate's
//! process locks and of every peer, with the lock object reused and with a
//! fresh open at each cycle, against the kernel's floors: the raw lock +
//! unlock pair on an open file (and the pair + the `fstat` of an identity
//! check), per mechanism. Python fasteners 0.20 runs its cycles in a child
//! process (`scripts/bench_python.py serve`) that takes its turn in the
//! same rounds.
//!
//! Interleaved rounds: each round runs every case once (`--iterations`
//! cycles, `--python-iterations` for Python); a case's ratio is case ÷
//! floor in the same round, median over the rounds.
//!
//! - `cargo bench --bench process_lock -- [--rounds 15] [--iterations 3000]
//!   [--python-iterations 300] [--instructions FILE]` prints the markdown
//!   section, with instruction counts per cycle from FILE beside the times;
//! - `... -- --list` prints the ids of the cases that `--cycles` can run;
//! - `... -- --cycles ID N` runs N cycles of one case without timing, for
//!   `valgrind --tool=callgrind` (`scripts/bench.sh` counts each case that
//!   way, minus a run with N = 0, so start-up is not counted).
//!
//! The section begins with what each peer guarantees, probed at run time:
//! two threads of this process, each with its own lock object on one path;
//! a lock object whose file was deleted and made again by another process
//! that holds the new one (identity check); a holder that is Python
//! fasteners (interop); and, as the control of the probes, a holder that is
//! another process of the same peer. Linux only.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use support::peers::{Handle, Kind};
use support::{arg, median, paired, verdict};

use fasteners::{InterProcessLock, InterProcessReaderWriterLock};

/// How a case runs its cycles.
enum Run {
    Rust(Box<dyn FnMut()>),
    /// A case of `bench_python.py serve`.
    Python(&'static str),
}

struct Case {
    /// The id on the command line (`--cycles`, the instruction counts).
    id: String,
    name: String,
    /// The peer, for the guarantees column; `None` for the floors' variants.
    kind: Option<Kind>,
    /// The case whose time is this case's floor (its mechanism's raw pair).
    floor: &'static str,
    /// Fresh open at each cycle (else the lock object is reused).
    fresh: bool,
    run: Run,
}

/// The file of `id` in `dir`, created now so that its change time has
/// settled by the time it is measured, as a lock file's in use has (a file
/// changed in the last 2 s gets a full `stat(path)` at every acquisition).
fn lock_file(dir: &Path, id: &str) -> PathBuf {
    let path = dir.join(format!("{}.lock", id.replace('/', "-")));
    drop(support::open(&path));
    path
}

fn cases(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |id: String, name: String, kind, floor, fresh, run| {
        cases.push(Case {
            id,
            name,
            kind,
            floor,
            fresh,
            run,
        })
    };
    let floor_id = |kind: Kind, fresh: bool| -> &'static str {
        match (kind.floor(), fresh) {
            (Kind::RawOfd, false) => "reused/raw-ofd",
            (Kind::RawFlock, false) => "reused/raw-flock",
            (Kind::RawPosix, false) => "reused/raw-posix",
            (Kind::RawOfd, true) => "fresh/raw-ofd",
            (Kind::RawFlock, true) => "fresh/raw-flock",
            _ => "fresh/raw-posix",
        }
    };
    for kind in Kind::ALL {
        let id = format!("reused/{}", kind.id());
        let mut handle = Handle::open(kind, &lock_file(dir, &id));
        let name = if kind.is_raw() {
            format!("{} lock + unlock on an open file", kind.describe())
        } else {
            format!("{} lock + release", kind.describe())
        };
        add(
            id,
            name,
            Some(kind),
            floor_id(kind, false),
            false,
            Run::Rust(Box::new(move || {
                handle.with(true, || ());
            })),
        );
        if kind.is_raw() {
            let id = format!("reused/{}+fstat", kind.id());
            let mut handle = Handle::open(kind, &lock_file(dir, &id));
            let file = handle.file().unwrap().try_clone().unwrap();
            add(
                id,
                format!(
                    "{} pair + `fstat` (floor of an identity check)",
                    kind.describe()
                ),
                None,
                floor_id(kind, false),
                false,
                Run::Rust(Box::new(move || {
                    handle.with(true, || support::fstat_nlink(&file));
                })),
            );
        }
    }
    let path = lock_file(dir, "reused/fasteners-try");
    let lock = InterProcessLock::new(path);
    add(
        "reused/fasteners-try".into(),
        "fasteners `InterProcessLock` `try_lock()` + release".into(),
        Some(Kind::Fasteners),
        "reused/raw-ofd",
        false,
        Run::Rust(Box::new(move || drop(lock.try_lock().unwrap()))),
    );
    let rw = InterProcessReaderWriterLock::new(lock_file(dir, "reused/fasteners-rw"));
    let rw_write = InterProcessReaderWriterLock::new(lock_file(dir, "reused/fasteners-rw-write"));
    add(
        "reused/fasteners-rw-read".into(),
        "fasteners `InterProcessReaderWriterLock` read + release".into(),
        Some(Kind::Fasteners),
        "reused/raw-ofd",
        false,
        Run::Rust(Box::new(move || drop(rw.read().unwrap()))),
    );
    add(
        "reused/fasteners-rw-write".into(),
        "fasteners `InterProcessReaderWriterLock` write + release".into(),
        Some(Kind::Fasteners),
        "reused/raw-ofd",
        false,
        Run::Rust(Box::new(move || drop(rw_write.write().unwrap()))),
    );
    add(
        "reused/python".into(),
        "Python fasteners `InterProcessLock` acquire + release (it reopens the file at each acquire)".into(),
        None,
        "reused/raw-posix",
        false,
        Run::Python("reused"),
    );
    add(
        "reused/python-rw-write".into(),
        "Python fasteners `InterProcessReaderWriterLock` write + release".into(),
        None,
        "reused/raw-posix",
        false,
        Run::Python("rw-write"),
    );
    // Single system calls, for the floors' prose: the cheapest call, the
    // `fstat` of the identity check alone, and `FIONREAD` on an inotify
    // descriptor watching the file (what a check through an inotify watch
    // would need at every acquisition to know that no event is pending),
    // also between a raw lock and unlock as the check runs.
    // SAFETY: `getppid` has no arguments and cannot fail.
    let getppid = || unsafe { libc::getppid() };
    add(
        "syscall/getppid".into(),
        "`getppid` alone (the cheapest system call)".into(),
        None,
        "reused/raw-ofd",
        false,
        Run::Rust(Box::new(move || {
            std::hint::black_box(getppid());
        })),
    );
    let stat_file = support::open(&lock_file(dir, "syscall/fstat"));
    add(
        "syscall/fstat".into(),
        "`fstat` alone".into(),
        None,
        "reused/raw-ofd",
        false,
        Run::Rust(Box::new(move || {
            std::hint::black_box(support::fstat_nlink(&stat_file));
        })),
    );
    let watched = lock_file(dir, "syscall/inotify");
    let inotify = support::Inotify::watch(&watched);
    let mut handle = Handle::open(Kind::RawOfd, &watched);
    add(
        "syscall/inotify".into(),
        "raw OFD pair + inotify `FIONREAD` (floor of a check by inotify)".into(),
        None,
        "reused/raw-ofd",
        false,
        Run::Rust(Box::new(move || {
            handle.with(true, || inotify.pending());
        })),
    );
    for kind in Kind::ALL {
        let id = format!("fresh/{}", kind.id());
        let path = lock_file(dir, &id);
        let name = if kind.is_raw() {
            format!("open + {} lock + unlock + close (by hand)", kind.describe())
        } else {
            format!(
                "{} on a fresh open: open, lock, release, close",
                kind.describe()
            )
        };
        add(
            id,
            name,
            Some(kind),
            floor_id(kind, true),
            true,
            Run::Rust(Box::new(move || {
                Handle::open(kind, &path).with(true, || ());
            })),
        );
    }
    add(
        "fresh/python".into(),
        "Python fasteners: a new `InterProcessLock(p)` acquired and released".into(),
        None,
        "fresh/raw-posix",
        true,
        Run::Python("fresh"),
    );
    cases
}

/// The Python side of the rounds.
struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    fn start(dir: &Path) -> Result<Python, String> {
        let mut child = support::python(&["serve", dir.to_str().unwrap()])?;
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|err| err.to_string())?;
        if line.trim() != "ready" {
            return Err(format!("bench_python.py serve said {line:?}"));
        }
        Ok(Python {
            child,
            stdin,
            stdout,
        })
    }

    /// Nanoseconds per cycle of `count` cycles of `case`.
    fn cycles(&mut self, case: &str, count: usize) -> f64 {
        writeln!(self.stdin, "{case} {count}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().parse().expect("bench_python.py: ns per cycle")
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process that holds a lock until its stdin closes.
struct Holder(Child);

impl Holder {
    fn new(mut child: Child) -> Holder {
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held", "the holder did not take the lock");
        Holder(child)
    }

    /// Another process of this harness holding `kind` on `path`.
    fn same_kind(kind: Kind, path: &Path) -> Holder {
        Holder::new(
            Command::new(std::env::current_exe().unwrap())
                .args(["probe-hold", kind.id(), path.to_str().unwrap()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

fn child_hold(kind: Kind, path: &Path) {
    let mut handle = Handle::open(kind, path);
    handle.with(true, || {
        println!("held");
        std::io::stdout().flush().unwrap();
        let _ = std::io::stdin().lock().lines().next();
    });
}

/// What one peer guarantees, probed.
struct Guarantees {
    processes: bool,
    threads: bool,
    identity: bool,
    python: Option<bool>,
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "**no**"
    }
}

fn probe(kind: Kind, dir: &Path, python: bool) -> Guarantees {
    let path = |what: &str| dir.join(format!("probe-{what}-{}.lock", kind.id()));
    // Control: another process of the same peer holds the lock.
    let processes = {
        let path = path("processes");
        let _holder = Holder::same_kind(kind, &path);
        Handle::open(kind, &path).with(false, || ()).is_none()
    };
    // Two threads, each with its own lock object on the path.
    let threads = {
        let path = path("threads");
        let mut first = Handle::open(kind, &path);
        let mut second = Handle::open(kind, &path);
        first
            .with(true, || {
                std::thread::scope(|s| {
                    s.spawn(|| second.with(false, || ()).is_none())
                        .join()
                        .unwrap()
                })
            })
            .unwrap()
    };
    // The lock file is deleted and made again by another process, which
    // holds the new file; a lock object that had used the old one tries.
    let identity = {
        let path = path("identity");
        let mut old = Handle::open(kind, &path);
        old.with(true, || ());
        std::fs::remove_file(&path).unwrap();
        let _holder = Holder::same_kind(kind, &path);
        old.with(false, || ()).is_none()
    };
    let python = python.then(|| {
        let path = path("python");
        let _holder = Holder::new(support::python(&["hold", path.to_str().unwrap()]).unwrap());
        Handle::open(kind, &path).with(false, || ()).is_none()
    });
    Guarantees {
        processes,
        threads,
        identity,
        python,
    }
}

/// The short form of what a peer guarantees, for the figures' tables.
fn summary(kind: Kind, g: &Guarantees) -> String {
    let mut has = Vec::new();
    if g.threads {
        has.push("threads");
    }
    if g.identity {
        has.push("identity");
    }
    if g.python == Some(true) {
        has.push("Python");
    }
    if kind.timeouts() {
        has.push("timeouts");
    }
    if kind.shared() {
        has.push("shared");
    }
    if has.is_empty() {
        String::from("—")
    } else {
        has.join(" · ")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("probe-hold") {
        return child_hold(Kind::parse(&args[1]), Path::new(&args[2]));
    }
    let dir = std::env::temp_dir().join(format!("fasteners-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let result = std::panic::catch_unwind(|| run(&args, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn run(args: &[String], dir: &Path) {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs us with no
    // such flag: then a tiny smoke run keeps the harness compiled and working.
    let smoke = !args.iter().any(|a| a == "--bench");
    let created = Instant::now();
    let mut cases = cases(dir);
    if args.iter().any(|a| a == "--list") {
        for case in cases.iter().filter(|c| matches!(c.run, Run::Rust(_))) {
            println!("{}", case.id);
        }
        return;
    }
    if !smoke {
        std::thread::sleep(Duration::from_millis(2100).saturating_sub(created.elapsed()));
    }
    if let Some(i) = args.iter().position(|a| a == "--cycles") {
        let (id, count) = (&args[i + 1], args[i + 2].parse::<usize>().expect("count"));
        let case = cases.iter_mut().find(|c| &c.id == id).expect("case id");
        let Run::Rust(cycle) = &mut case.run else {
            panic!("{id} runs in Python");
        };
        for _ in 0..count {
            cycle();
        }
        return;
    }
    let rounds = arg(args, "--rounds", if smoke { 1 } else { 15 });
    let iterations = arg(args, "--iterations", if smoke { 10 } else { 3000 });
    let python_iterations = arg(args, "--python-iterations", if smoke { 5 } else { 300 });
    let instructions = support::instructions(args);
    let mut python = Python::start(dir);

    println!("## What each peer guarantees (probed in this run)\n");
    let python_ok = python.is_ok();
    let probes: HashMap<&str, Guarantees> = Kind::ALL
        .iter()
        .map(|&kind| (kind.id(), probe(kind, dir, python_ok)))
        .collect();
    let python_threads = support::python(&[
        "probe-threads",
        dir.join("probe-py-threads.lock").to_str().unwrap(),
    ])
    .ok()
    .and_then(|child| child.wait_with_output().ok())
    .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "yes");
    println!(
        "| peer | kernel lock | another process kept out (control) | threads of one process kept out | \
         identity check (file deleted and made again) | interop with Python fasteners | timeouts | shared + exclusive |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for kind in Kind::ALL {
        let g = &probes[kind.id()];
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            kind.describe(),
            kind.mechanism(),
            yes_no(g.processes),
            yes_no(g.threads),
            yes_no(g.identity),
            g.python.map_or("not probed", yes_no),
            yes_no(kind.timeouts()),
            yes_no(kind.shared()),
        );
    }
    println!(
        "| Python fasteners 0.20 | POSIX (`lockf`) | not probed | {} | not probed: no check after locking; it reopens the path at each acquire | (itself) | yes | yes |",
        python_threads.map_or("not probed", yes_no)
    );
    // Python fasteners: its threads probed; interop with itself, its
    // timeouts (`acquire(timeout=...)`) and its reader-writer lock from its
    // source.
    let python_summary = if python_threads == Some(true) {
        "threads · Python · timeouts · shared"
    } else {
        "Python · timeouts · shared"
    };
    if let Some(file) = std::env::var_os("FASTENERS_BENCH_GUARANTEES") {
        // For the other harnesses' tables (`scripts/bench.sh` sets it).
        let mut text: String = Kind::ALL
            .iter()
            .map(|&kind| format!("{} {}\n", kind.id(), summary(kind, &probes[kind.id()])))
            .collect();
        text.push_str(&format!("python {python_summary}\n"));
        std::fs::write(file, text).unwrap();
    }

    // ns per cycle, by case, one value per round.
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut skipped: Option<String> = python.as_ref().err().cloned();
    for _ in 0..rounds {
        for (case, times) in cases.iter_mut().zip(&mut times) {
            match &mut case.run {
                Run::Rust(cycle) => {
                    let start = Instant::now();
                    for _ in 0..iterations {
                        cycle();
                    }
                    times.push(start.elapsed().as_nanos() as f64 / iterations as f64);
                }
                Run::Python(name) => {
                    if let Ok(python) = &mut python {
                        times.push(python.cycles(name, python_iterations));
                    }
                }
            }
        }
    }
    drop(python);
    let row = |id: &str| cases.iter().position(|c| c.id == id).unwrap();
    let ratio = |case: usize, floor: &str| -> Option<f64> {
        let floor = &times[row(floor)];
        (!times[case].is_empty()).then(|| paired(&times[case], floor))
    };
    let guarantees = |case: &Case| match case.kind {
        Some(kind) if kind.is_raw() => String::from("(floor)"),
        Some(kind) => summary(kind, &probes[kind.id()]),
        None if case.id.contains("python") => String::from(python_summary),
        None => String::from("(floor)"),
    };
    let instr = |id: &str| instructions.get(id).copied();
    for fresh in [false, true] {
        let (floor, title) = if fresh {
            (
                "fresh/raw-ofd",
                "Uncontended cycle, a fresh open (or a new lock object) at each cycle",
            )
        } else {
            (
                "reused/raw-ofd",
                "Uncontended cycle, the lock object reused",
            )
        };
        println!(
            "\n## {title} ({rounds} interleaved rounds of {iterations} cycles per case, \
             {python_iterations} for Python)\n"
        );
        println!(
            "| case | guarantees | median ns per cycle | ÷ {} | ÷ its kernel lock's floor | instructions per cycle | ÷ the floor's instructions |",
            cases[row(floor)].name.split(" (").next().unwrap()
        );
        println!("|---|---|---|---|---|---|---|");
        for (i, case) in cases.iter().enumerate().filter(|(_, c)| c.fresh == fresh) {
            if times[i].is_empty() {
                println!(
                    "| {} | {} | not measured: {} | | | | |",
                    case.name,
                    guarantees(case),
                    skipped.take().unwrap_or_default()
                );
                continue;
            }
            let (count, versus) = match (instr(&case.id), instr(case.floor)) {
                (Some(count), Some(floor)) => {
                    (format!("{count:.0}"), format!("{:.2}x", count / floor))
                }
                (Some(count), None) => (format!("{count:.0}"), String::new()),
                _ => (String::from("-"), String::from("-")),
            };
            println!(
                "| {} | {} | {:.0} | {:.2}x | {:.2}x | {count} | {versus} |",
                case.name,
                guarantees(case),
                median(times[i].clone()),
                ratio(i, floor).unwrap(),
                ratio(i, case.floor).unwrap(),
            );
        }
    }
    let lock = ratio(row("reused/fasteners"), "reused/raw-ofd").unwrap();
    let fresh = ratio(row("fresh/fasteners"), "fresh/raw-ofd").unwrap();
    let lock_instructions = instr("reused/fasteners").map(|count| {
        let floor = instr("reused/raw-ofd").unwrap_or(0.0);
        (count, count - floor)
    });
    println!("\n| target | this run | status |");
    println!("|---|---|---|");
    println!(
        "| `lock()` + release, settled file, within 1.4x of the raw OFD pair (DESIGN.md, issue 15) | {lock:.2}x | {} |",
        verdict(lock <= 1.4)
    );
    match lock_instructions {
        Some((count, own)) => println!(
            "| `lock()` + release: at most 400 user-space instructions per cycle (issue 15) | {count:.0} ({own:.0} more than the raw pair) | {} |",
            verdict(count <= 400.0)
        ),
        None => println!(
            "| `lock()` + release: at most 400 user-space instructions per cycle (issue 15) | not counted (no `--instructions`) | not measured |"
        ),
    }
    println!(
        "| a fresh `InterProcessLock::new(p).lock()` within 1.3x of opening and locking by hand (DESIGN.md) | {fresh:.2}x | {} |",
        verdict(fresh <= 1.3)
    );
}
