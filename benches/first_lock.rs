//! The cost of a first lock and of a lock soon after a change of the file,
//! interleaved in rounds with their floors so that every case sees the same
//! machine: paired ratios (case ÷ floor in the same round), median over rounds.
//!
//! `cargo bench --bench first_lock -- [--rounds 15] [--iterations 2000]
//! [--instructions FILE]`; `... -- --syscalls <case> <count>` runs one case
//! without timing, for `strace -c -f` and `valgrind --tool=callgrind` (as
//! `scripts/bench.sh` does; FILE holds the instructions per cycle it
//! counted, one `case count` a line); `... -- --list` prints each case's
//! number and name, a tab between them. Linux only: the floors are raw Linux
//! system calls.

mod support;

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{arg, median, open, paired, raw_flock_pair, raw_ofd_pair, verdict};

use fasteners::{InterProcessLock, Mechanism};

/// The cases, each one cycle of lock and release.
struct Cases {
    raw: File,
    fresh_path: PathBuf,
    settled: InterProcessLock,
    recent: InterProcessLock,
    recent_path: PathBuf,
}

const CASES: [&str; 9] = [
    "raw OFD pair on an open file",
    "open + raw OFD pair + close (by hand)",
    "fs4 on a fresh open (flock)",
    "InterProcessLock::new(p).lock() (OFD)",
    "InterProcessLock::with_mechanism(p, Flock).lock()",
    "reused object, file settled",
    "reused object, file changed 100 ms before",
    "open + raw OFD pair + fstat + close (by hand: the floor of a lock that reads its file's identity)",
    "open + raw flock pair + fstat + close (by hand: the same floor with flock)",
];

impl Cases {
    fn new(dir: &Path) -> Cases {
        let fresh_path = dir.join("fresh.lock");
        drop(open(&fresh_path));
        let recent_path = dir.join("recent.lock");
        let settled_path = dir.join("settled.lock");
        drop(open(&settled_path));
        // Past every settle window (2 s for whole-second change times).
        std::thread::sleep(Duration::from_millis(2100));
        Cases {
            raw: open(&dir.join("raw.lock")),
            settled: InterProcessLock::new(&settled_path),
            recent: InterProcessLock::new(&recent_path),
            recent_path,
            fresh_path,
        }
    }

    /// Changes the recent file's change time (a `chmod` to the same mode),
    /// then lets the window for nanosecond change times pass.
    fn touch_recent(&self) {
        drop(open(&self.recent_path));
        std::fs::set_permissions(&self.recent_path, std::fs::Permissions::from_mode(0o644))
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }

    fn run(&self, case: usize) {
        match case {
            0 => raw_ofd_pair(&self.raw),
            1 => raw_ofd_pair(&open(&self.fresh_path)),
            2 => {
                let file = open(&self.fresh_path);
                fs4::FileExt::lock(&file).unwrap();
                fs4::FileExt::unlock(&file).unwrap();
            }
            3 => drop(InterProcessLock::new(&self.fresh_path).lock().unwrap()),
            4 => drop(
                InterProcessLock::with_mechanism(&self.fresh_path, Mechanism::Flock)
                    .lock()
                    .unwrap(),
            ),
            5 => drop(self.settled.lock().unwrap()),
            6 => drop(self.recent.lock().unwrap()),
            7 => {
                let file = open(&self.fresh_path);
                raw_ofd_pair(&file);
                std::hint::black_box(support::fstat_nlink(&file));
            }
            _ => {
                let file = open(&self.fresh_path);
                raw_flock_pair(&file);
                std::hint::black_box(support::fstat_nlink(&file));
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (case, name) in CASES.iter().enumerate() {
            println!("{case}\t{name}");
        }
        return;
    }
    let dir = std::env::temp_dir().join(format!("fasteners-first-lock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let smoke = !args.iter().any(|a| a == "--bench");
    if let Some(i) = args.iter().position(|a| a == "--syscalls") {
        let case: usize = args[i + 1].parse().expect("case number");
        let count: usize = args[i + 2].parse().expect("count");
        let cases = Cases::new(&dir);
        if case == 6 {
            cases.touch_recent();
        }
        for _ in 0..count {
            cases.run(case);
        }
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    let rounds = arg(&args, "--rounds", if smoke { 1 } else { 15 });
    let iterations = arg(&args, "--iterations", if smoke { 10 } else { 2000 });
    let cases = Cases::new(&dir);
    // ns per cycle, by case, one value per round.
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    for _ in 0..rounds {
        for (case, times) in times.iter_mut().enumerate() {
            if case == 6 {
                cases.touch_recent();
            }
            let start = Instant::now();
            for _ in 0..iterations {
                cases.run(case);
            }
            times.push(start.elapsed().as_nanos() as f64 / iterations as f64);
        }
    }
    let ratio = |case: usize, floor: usize| paired(&times[case], &times[floor]);
    let instructions = support::instructions(&args);
    println!(
        "## First lock and lock after a change ({rounds} rounds of {iterations} cycles per case, interleaved)\n"
    );
    println!(
        "| case | median ns per cycle | ÷ raw pair | ÷ fs4 fresh open | ÷ open + raw pair | instructions per cycle |"
    );
    println!("|---|---|---|---|---|---|");
    for (case, name) in CASES.iter().enumerate() {
        println!(
            "| {name} | {:.0} | {:.2}x | {:.2}x | {:.2}x | {} |",
            median(times[case].clone()),
            ratio(case, 0),
            ratio(case, 2),
            ratio(case, 1),
            instructions
                .get(&case.to_string())
                .map_or(String::from("-"), |count| format!("{count:.0}")),
        );
    }
    let targets = [
        (
            "`new(p).lock()` on a fresh object within 1.3x of opening and locking by hand (DESIGN.md)",
            ratio(3, 1),
            1.3,
        ),
        (
            "`new(p).lock()` on a fresh object within 1.3x of fs4's fresh open-and-lock",
            ratio(3, 2),
            1.3,
        ),
        (
            "the same with `Mechanism::Flock` within 1.3x of fs4's fresh open-and-lock (also `flock`)",
            ratio(4, 2),
            1.3,
        ),
        (
            "a lock 100 ms after a change of the file within 1.7x of the raw pair",
            ratio(6, 0),
            1.7,
        ),
        (
            "the settled cycle within 1.4x of the raw pair (DESIGN.md)",
            ratio(5, 0),
            1.4,
        ),
    ];
    println!("\n| target | this run | status |");
    println!("|---|---|---|");
    for (what, ratio, limit) in targets {
        println!("| {what} | {ratio:.2}x | {} |", verdict(ratio <= limit));
    }
    println!(
        "\nThe floor under the fresh-object targets: a lock that knows which file it locked (its \
         device and inode, for one entry per file and for the check that the file was not deleted \
         meanwhile) makes at least one `fstat` more than fs4. Opening, OFD-locking, `fstat` and \
         closing by hand is {:.2}x fs4's fresh open-and-lock in this run, and the same with `flock` \
         {:.2}x; `new(p).lock()` is {:.2}x that OFD floor, and the `Flock` object {:.2}x the `flock` one.",
        ratio(7, 2),
        ratio(8, 2),
        ratio(3, 7),
        ratio(4, 8),
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
