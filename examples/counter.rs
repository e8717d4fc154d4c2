//! Several processes increment one counter file; under an `InterProcessLock`
//! the total is exact, without it updates get lost.
//!
//! Run with `cargo run --example counter`. The program re-starts itself as
//! the worker processes (`counter worker <lock> <counter> <increments> <locked>`).

use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fasteners::InterProcessLock;

const WORKERS: usize = 4;
const INCREMENTS: usize = 500;

/// Reads the number in the file, adds one, writes it back in place: a
/// read-modify-write that two processes must not interleave.
fn increment(counter: &Path) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(counter)?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let value: u64 = text.trim().parse().unwrap_or(0);
    // The number only grows, so overwriting from the start never leaves
    // stale digits behind.
    file.seek(SeekFrom::Start(0))?;
    file.write_all((value + 1).to_string().as_bytes())
}

fn worker(
    lock_path: &Path,
    counter: &Path,
    increments: usize,
    locked: bool,
) -> fasteners::Result<()> {
    let lock = InterProcessLock::new(lock_path);
    // Start together with the other workers: wait for the parent's "go".
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).expect("stdin");
    for _ in 0..increments {
        if locked {
            let _guard = lock.lock()?;
            increment(counter).expect("counter file");
        } else {
            increment(counter).expect("counter file");
        }
    }
    Ok(())
}

/// Runs the workers and returns the final count.
fn run(dir: &Path, locked: bool) -> u64 {
    let counter = dir.join("counter.txt");
    std::fs::write(&counter, "0").expect("counter file");
    let lock_path = dir.join("counter.lock");
    let exe = std::env::current_exe().expect("current_exe");
    let mut children: Vec<_> = (0..WORKERS)
        .map(|_| {
            Command::new(&exe)
                .arg("worker")
                .arg(&lock_path)
                .arg(&counter)
                .arg(INCREMENTS.to_string())
                .arg(if locked { "locked" } else { "unlocked" })
                .stdin(Stdio::piped())
                .spawn()
                .expect("start a worker")
        })
        .collect();
    for child in &mut children {
        let stdin = child.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "go").expect("start the worker");
    }
    for mut child in children {
        assert!(child.wait().expect("wait").success(), "a worker failed");
    }
    std::fs::read_to_string(&counter)
        .expect("counter file")
        .trim()
        .parse()
        .expect("a number")
}

fn main() -> fasteners::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 6 && args[1] == "worker" {
        let increments = args[4].parse().expect("increments");
        return worker(
            Path::new(&args[2]),
            Path::new(&args[3]),
            increments,
            args[5] == "locked",
        );
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("fasteners-counter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let expected = (WORKERS * INCREMENTS) as u64;
    println!("{WORKERS} processes x {INCREMENTS} increments of one counter file");
    let with_lock = run(&dir, true);
    println!("with InterProcessLock:    {with_lock} of {expected}");
    let without = run(&dir, false);
    println!(
        "without a lock:           {without} of {expected} ({} updates lost)",
        expected - without.min(expected)
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
    assert_eq!(with_lock, expected, "the lock must make the total exact");
    Ok(())
}
