//! The file-lock attributes as a user writes them: free functions under
//! `#[interprocess_locked(path)]` and the reader-writer pair, run by several
//! processes at once, and a timeout that returns an error instead of waiting
//! forever behind another holder.
//!
//! Run with `cargo run --example interprocess_attributes`. It starts copies
//! of itself as worker processes.

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;
use std::{env, fs, io, thread};

use fasteners::{
    interprocess_locked, interprocess_read_locked, interprocess_write_locked, ErrorKind,
    InterProcessLock,
};

const WORKERS: usize = 4;
const INCREMENTS: u64 = 200;

fn work_dir() -> PathBuf {
    env::temp_dir().join("fasteners-example-interprocess")
}

fn counter_file() -> PathBuf {
    work_dir().join("counter")
}

/// Read, add one, write back: safe only because no other process or thread
/// runs it at the same time.
#[interprocess_locked(work_dir().join("counter.lock"))]
fn increment() -> io::Result<u64> {
    let count: u64 = fs::read_to_string(counter_file())?
        .trim()
        .parse()
        .unwrap_or(0);
    fs::write(counter_file(), (count + 1).to_string())?;
    Ok(count + 1)
}

/// Many processes may read the report at once...
#[interprocess_read_locked(work_dir().join("report.lock"))]
fn read_report() -> io::Result<String> {
    fs::read_to_string(work_dir().join("report"))
}

/// ...and none reads it while one rewrites it.
#[interprocess_write_locked(work_dir().join("report.lock"))]
fn write_report(text: &str) -> io::Result<()> {
    fs::write(work_dir().join("report"), text)
}

fn maintenance_lock() -> PathBuf {
    work_dir().join("maintenance.lock")
}

/// Gives up, with an error, rather than wait long behind another holder.
#[interprocess_locked(maintenance_lock(), timeout = Duration::from_millis(100))]
fn compact() -> fasteners::Result<&'static str> {
    Ok("compacted")
}

fn worker() -> io::Result<()> {
    for _ in 0..INCREMENTS {
        increment()?;
    }
    let report = read_report()?;
    assert!(
        report.starts_with("report"),
        "readers see whole reports: {report:?}"
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if env::args().nth(1).as_deref() == Some("worker") {
        return Ok(worker()?);
    }

    fs::create_dir_all(work_dir())?;
    fs::write(counter_file(), "0")?;
    write_report("report: workers are counting")?;
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| Command::new(env::current_exe()?).arg("worker").spawn())
        .collect::<io::Result<_>>()?;
    for mut child in workers {
        assert!(child.wait()?.success(), "a worker failed");
    }
    let total = fs::read_to_string(counter_file())?;
    println!("{WORKERS} processes x {INCREMENTS} increments: counter = {total}");
    assert_eq!(total, (WORKERS as u64 * INCREMENTS).to_string());
    write_report(&format!("report: total {total}"))?;
    println!("{}", read_report()?);

    println!("compact: {}", compact()?);
    // Another holder (here a thread with its own lock object for the same
    // file; it could be another process) keeps the lock past the timeout.
    let (holding_tx, holding_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        s.spawn(move || {
            let lock = InterProcessLock::new(maintenance_lock());
            let _held = lock.lock().expect("lock file");
            holding_tx.send(()).expect("main thread waits");
            let _ = done_rx.recv_timeout(Duration::from_secs(10));
        });
        holding_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("holder started");
        match compact() {
            Err(err) if err.kind() == ErrorKind::TimedOut => println!("compact: {err}"),
            other => println!("compact: unexpected {other:?}"),
        }
        done_tx.send(()).expect("holder waits");
    });

    fs::remove_dir_all(work_dir())?;
    Ok(())
}
