//! The in-process attributes as a user writes them: a method under a lock
//! field, the read and write sides of a reader-writer lock, and a free
//! function under a static lock that skips its work when the lock is busy.
//!
//! Run with `cargo run --example attributes`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::thread;

use fasteners::{locked, read_locked, write_locked, ErrorKind};

/// An audit log whose records span several writes: the lock keeps each
/// record whole when many threads log at once.
struct AuditLog {
    lock: Mutex<()>,
    file: File,
}

impl AuditLog {
    #[locked]
    fn record(&self, who: &str, what: &str) -> io::Result<()> {
        let mut file = &self.file;
        writeln!(file, "BEGIN {who}")?;
        writeln!(file, "  {what}")?;
        writeln!(file, "END {who}")
    }
}

/// Settings in a file: many readers at once, one writer with no reader
/// seeing a half-written file.
struct Settings {
    lock: RwLock<()>,
    path: PathBuf,
}

impl Settings {
    #[read_locked]
    fn theme(&self) -> io::Result<String> {
        fs::read_to_string(&self.path)
    }

    #[write_locked]
    fn set_theme(&self, theme: &str) -> io::Result<()> {
        // Two steps: truncate, then write. Readers never see the gap.
        let mut file = File::create(&self.path)?;
        file.write_all(theme.as_bytes())
    }
}

static BACKUP: Mutex<()> = Mutex::new(());

/// Runs a backup unless one is already running (then returns `WouldBlock`).
#[locked(lock = BACKUP, blocking = false)]
fn backup(source: &Path) -> fasteners::Result<u64> {
    Ok(fs::metadata(source).map_or(0, |m| m.len()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("fasteners-example-{}", std::process::id()));
    fs::create_dir_all(&dir)?;

    let log_path = dir.join("audit.log");
    let log = AuditLog {
        lock: Mutex::new(()),
        file: OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?,
    };
    thread::scope(|s| {
        for worker in ["alice", "bob", "carol", "dave"] {
            let log = &log;
            s.spawn(move || {
                for i in 0..25 {
                    log.record(worker, &format!("step {i}")).unwrap();
                }
            });
        }
    });
    let text = fs::read_to_string(&log_path)?;
    let lines: Vec<&str> = text.lines().collect();
    let whole = lines.chunks(3).all(|record| {
        let who = record[0].strip_prefix("BEGIN ").unwrap_or("?");
        record[2] == format!("END {who}")
    });
    assert!(whole, "a record was torn apart");
    println!("audit log: {} records, every one whole", lines.len() / 3);

    let settings = Settings {
        lock: RwLock::new(()),
        path: dir.join("theme"),
    };
    settings.set_theme("light")?;
    thread::scope(|s| {
        s.spawn(|| {
            for theme in ["dark", "solarized", "light"].iter().cycle().take(60) {
                settings.set_theme(theme).unwrap();
            }
        });
        s.spawn(|| {
            for _ in 0..60 {
                let theme = settings.theme().unwrap();
                assert!(
                    ["dark", "solarized", "light"].contains(&theme.as_str()),
                    "{theme:?}"
                );
            }
        });
    });
    println!(
        "settings: readers never saw a half-written theme; now {:?}",
        settings.theme()?
    );

    println!("backup: {} bytes", backup(&log_path)?);
    let running = BACKUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match backup(&log_path) {
        Err(err) if err.kind() == ErrorKind::WouldBlock => println!("backup: skipped ({err})"),
        other => println!("backup: unexpected {other:?}"),
    }
    drop(running);

    fs::remove_dir_all(&dir)?;
    Ok(())
}
