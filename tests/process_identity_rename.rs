//! The lock file renamed away, or given and losing hard links, between holds
//! of a reused lock object: the next acquisition locks the file now at the
//! path. Each case runs on a fresh file and on one whose change time has
//! settled, which is when the lock trusts `fstat` of its descriptor (link
//! count and change time) instead of a `stat` of the path.
#![cfg(unix)]

mod process_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fasteners::{ErrorKind, InterProcessLock, Mechanism};
use process_common::{mechanisms, try_elsewhere, Helper, TempDir};

/// Longer than the age after which the lock trusts a file's change time.
const SETTLE: Duration = Duration::from_millis(2500);

/// Waits until the change time of the files at `paths` is older than
/// [`SETTLE`]. This ages a timestamp; it synchronises nothing.
fn settle(paths: &[&Path]) {
    use std::os::unix::fs::MetadataExt;
    for path in paths {
        let metadata = std::fs::metadata(path).unwrap();
        let changed = SystemTime::UNIX_EPOCH
            + Duration::new(metadata.ctime() as u64, metadata.ctime_nsec() as u32);
        let age = SystemTime::now()
            .duration_since(changed)
            .unwrap_or_default();
        if let Some(rest) = SETTLE.checked_sub(age) {
            std::thread::sleep(rest);
        }
    }
}

/// Another process's non-blocking attempt on `path`: `true` if it got it.
fn other_process_gets(mechanism: Mechanism, path: &Path) -> bool {
    match try_elsewhere(mechanism, path, "ex").as_str() {
        "got" => true,
        "busy" => false,
        other => panic!("unexpected helper output {other:?}"),
    }
}

/// Holds `lock` and checks, with another process, that it holds the file at
/// `path` and not the file at `old` (if any).
fn assert_holds_the_file_at(lock: &InterProcessLock, mechanism: Mechanism, old: Option<&Path>) {
    let guard = lock.try_lock().unwrap();
    assert!(!other_process_gets(mechanism, lock.path()));
    if let Some(old) = old {
        assert!(other_process_gets(mechanism, old));
    }
    drop(guard);
    // And the other way round: another process holding the file at the path
    // keeps this lock object out.
    let mut holder = Helper::start("hold", mechanism, lock.path(), &["ex"]);
    holder.expect("locked");
    assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
    holder.send("release");
    holder.expect("released");
    assert!(holder.finish().success());
}

/// One empty lock file in `dir` per mechanism, aged past [`SETTLE`] if `settled`.
fn empty_lock_files(dir: &TempDir, settled: bool) -> Vec<(Mechanism, PathBuf)> {
    let cases: Vec<_> = mechanisms()
        .into_iter()
        .enumerate()
        .map(|(i, mechanism)| (mechanism, dir.join(&format!("{i}.lock"))))
        .collect();
    for (_, path) in &cases {
        std::fs::write(path, b"").unwrap();
    }
    if settled {
        let paths: Vec<&Path> = cases.iter().map(|(_, path)| path.as_path()).collect();
        settle(&paths);
    }
    cases
}

fn renamed_away(settled: bool) {
    let dir = TempDir::new("identity-rename");
    let cases = empty_lock_files(&dir, settled);
    for (mechanism, path) in &cases {
        let lock = InterProcessLock::with_mechanism(path, *mechanism);
        // The first hold checks in full (and, once settled, records the
        // descriptor's stamp); the second may rely on the stamp.
        drop(lock.lock().unwrap());
        drop(lock.lock().unwrap());
        let away = path.with_extension("away");
        std::fs::rename(path, &away).unwrap();
        std::fs::write(path, b"new").unwrap();
        assert_holds_the_file_at(&lock, *mechanism, Some(&away));
        assert_eq!(std::fs::read(path).unwrap(), b"new");
    }
}

#[test]
fn renamed_away_between_holds_of_a_fresh_file() {
    renamed_away(false);
}

#[test]
fn renamed_away_between_holds_of_a_settled_file() {
    renamed_away(true);
}

fn hard_links(settled: bool) {
    let dir = TempDir::new("identity-links");
    let cases = empty_lock_files(&dir, settled);
    for (mechanism, path) in &cases {
        let lock = InterProcessLock::with_mechanism(path, *mechanism);
        drop(lock.lock().unwrap());
        drop(lock.lock().unwrap());
        // A second name for the same file: still the file at the path.
        let link = path.with_extension("link");
        std::fs::hard_link(path, &link).unwrap();
        assert_holds_the_file_at(&lock, *mechanism, None);
        // The second name removed again: still the file at the path.
        std::fs::remove_file(&link).unwrap();
        assert_holds_the_file_at(&lock, *mechanism, None);
        // A second name added, then the path's own name removed and a new
        // file created there: the old file lives on, with one link, under
        // the other name, but it is not the lock file any more.
        std::fs::hard_link(path, &link).unwrap();
        drop(lock.lock().unwrap());
        std::fs::remove_file(path).unwrap();
        std::fs::write(path, b"new").unwrap();
        assert_holds_the_file_at(&lock, *mechanism, Some(&link));
    }
}

#[test]
fn hard_link_added_and_removed_between_holds_of_a_fresh_file() {
    hard_links(false);
}

#[test]
fn hard_link_added_and_removed_between_holds_of_a_settled_file() {
    hard_links(true);
}
