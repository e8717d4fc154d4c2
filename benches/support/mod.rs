//! What the benches share: opening a lock file by hand and the kernel's
//! floor for OFD locks.
#![allow(dead_code)] // each bench uses a different part

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Opens `path` read-write, creating it if needed, without truncating it.
pub fn open(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap()
}

/// The kernel floor for OFD locks: `F_OFD_SETLK` write lock, then unlock.
#[cfg(target_os = "linux")]
pub fn raw_ofd_pair(file: &File) {
    use std::os::unix::io::AsRawFd;
    let set = |l_type: libc::c_int| {
        // SAFETY: `flock` is plain integers; all-zero is a valid value.
        let mut request: libc::flock = unsafe { std::mem::zeroed() };
        request.l_type = l_type as _;
        request.l_whence = libc::SEEK_SET as _;
        // SAFETY: the descriptor is open and `request` is a valid `flock`.
        let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &request) };
        assert_eq!(result, 0);
    };
    set(libc::F_WRLCK);
    set(libc::F_UNLCK);
}
