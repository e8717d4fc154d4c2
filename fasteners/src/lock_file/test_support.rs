//! Helpers shared by the unit tests of the lock file modules.

use std::path::PathBuf;
#[cfg(target_os = "linux")]
use std::{fs::File, path::Path};

#[cfg(target_os = "linux")]
use crate::sys::{Mechanism, Mode};

pub(super) fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fasteners-unit-{}-{name}", std::process::id()))
}

/// Another open file description holds the lock, as another process would.
#[cfg(target_os = "linux")]
pub(super) fn hold_elsewhere(path: &Path) -> File {
    let file = super::identity::open(path).unwrap().file;
    assert!(Mechanism::Ofd.try_lock(&file, Mode::Exclusive).unwrap());
    file
}

/// How many blocked lock requests the kernel has queued for the file at
/// `path` (`/proc/locks` shows them as `->` lines), from any process.
#[cfg(target_os = "linux")]
pub(super) fn queued_in_kernel(path: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(path).unwrap().ino();
    // One `read` call: one pass of the kernel over its table (reads in
    // pieces can skip a line when another lock goes between them).
    let mut locks = vec![0; 1 << 20];
    let read =
        std::io::Read::read(&mut std::fs::File::open("/proc/locks").unwrap(), &mut locks).unwrap();
    locks.truncate(read);
    let locks = String::from_utf8(locks).unwrap();
    locks
        .lines()
        .filter(|line| line.contains("->"))
        .filter(|line| {
            line.split_whitespace()
                .any(|field| field.rsplit(':').next() == Some(&inode.to_string()))
        })
        .count()
}
