//! Child process of the multi-process tests of the attribute macros
//! (`tests/macros_interprocess.rs`): threads increment a counter file through
//! a function under `#[interprocess_locked]` or `#[interprocess_write_locked]`.
//!
//! Usage: `fasteners-macro-helper <exclusive|write> <counter file> <threads> <increments>`.
//! The lock file is `<counter file>.lock`. Prints `ready`, waits for a line
//! on stdin so that every process starts at once, works, then prints `done`.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::{env, fs, thread};

fn arg(index: usize) -> String {
    env::args().nth(index).unwrap_or_else(|| {
        eprintln!(
            "usage: fasteners-macro-helper <exclusive|write> <counter> <threads> <increments>"
        );
        std::process::exit(2)
    })
}

fn counter_path() -> PathBuf {
    PathBuf::from(arg(2))
}

fn lock_path() -> PathBuf {
    let mut path = counter_path().into_os_string();
    path.push(".lock");
    PathBuf::from(path)
}

/// Read, add one, write back: loses updates unless the lock excludes every
/// other thread and process.
fn read_add_write() -> io::Result<()> {
    let path = counter_path();
    let count: u64 = fs::read_to_string(&path)?.trim().parse().unwrap_or(0);
    fs::write(&path, (count + 1).to_string())
}

#[fasteners::interprocess_locked(lock_path())]
fn increment_exclusive() -> io::Result<()> {
    read_add_write()
}

#[fasteners::interprocess_write_locked(lock_path())]
fn increment_write() -> io::Result<()> {
    read_add_write()
}

fn main() -> io::Result<()> {
    let increment: fn() -> io::Result<()> = match arg(1).as_str() {
        "exclusive" => increment_exclusive,
        "write" => increment_write,
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2)
        }
    };
    let threads: usize = arg(3).parse().expect("threads");
    let increments: usize = arg(4).parse().expect("increments");

    println!("ready");
    io::stdout().flush()?;
    let mut go = String::new();
    io::stdin().lock().read_line(&mut go)?;

    thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| s.spawn(move || (0..increments).try_for_each(|_| increment())))
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("worker panicked"))
    })?;
    println!("done");
    Ok(())
}
