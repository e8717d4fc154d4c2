//! Linux open-file-description locks: `fcntl(F_OFD_SETLK / F_OFD_SETLKW)`
//! over the whole file (`l_whence = SEEK_SET`, `l_start = 0`, `l_len = 0`).
//!
//! Unlike POSIX record locks (`F_SETLK`, `lockf`), these belong to the open
//! file description, not to the process: closing another descriptor of the
//! same file does not drop them, and two descriptions in one process conflict.
//! They do conflict with POSIX record locks, which is what makes a Rust process
//! and a Python fasteners process (`fcntl.lockf`) exclude each other.
//! Neither rustix nor std exposes these commands, hence the raw call.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

use super::{retry_interrupted, Mode};

/// Applies `l_type` to the whole file with the given `F_OFD_*` command,
/// again while a signal interrupts the call.
#[inline]
fn set_lock(file: &File, command: libc::c_int, l_type: libc::c_int) -> io::Result<()> {
    loop {
        match set_lock_once(file, command, l_type) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// One `fcntl` call: `Err(Interrupted)` if a signal ended it.
#[inline]
fn set_lock_once(file: &File, command: libc::c_int, l_type: libc::c_int) -> io::Result<()> {
    // SAFETY: `flock` is a plain C struct of integers, for which all-zero
    // bytes are a valid value; the fields that matter are set below.
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    // The constants are small (0..=2); the field types differ between targets.
    request.l_type = l_type as _;
    request.l_whence = libc::SEEK_SET as _;
    request.l_start = 0;
    request.l_len = 0; // to the end of the file, however long it grows
    request.l_pid = 0; // required to be 0 for OFD locks
    if fcntl_lock(file, command, &request) == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `fcntl(fd, command, request)` for the lock commands. On 64-bit targets
/// the system call itself: libc's `fcntl` wrapper only adds the handling of
/// its variadic argument and of commands other than these, which costs more
/// than the call's own entry on the uncontended path.
#[inline]
fn fcntl_lock(file: &File, command: libc::c_int, request: &libc::flock) -> libc::c_long {
    let fd = file.as_raw_fd();
    #[cfg(target_pointer_width = "64")]
    // SAFETY: the descriptor is open for the lifetime of `file`, and
    // `request` is a valid `flock` that lives across the call, as the
    // `F_OFD_SETLK` / `F_OFD_SETLKW` commands require; on 64-bit Linux
    // `SYS_fcntl` takes the 64-bit `flock` that `libc::flock` is. The
    // integers go as `long`s, the width of the registers the call reads.
    return unsafe {
        libc::syscall(
            libc::SYS_fcntl,
            libc::c_long::from(fd),
            libc::c_long::from(command),
            std::ptr::from_ref(request),
        )
    };
    #[cfg(not(target_pointer_width = "64"))]
    // SAFETY: as above, through libc's wrapper (which picks `fcntl64`).
    return libc::c_long::from(unsafe { libc::fcntl(fd, command, std::ptr::from_ref(request)) });
}

fn lock_type(mode: Mode) -> libc::c_int {
    match mode {
        Mode::Shared => libc::F_RDLCK,
        Mode::Exclusive => libc::F_WRLCK,
    }
}

#[inline]
pub(super) fn try_lock(file: &File, mode: Mode) -> io::Result<bool> {
    match set_lock(file, libc::F_OFD_SETLK, lock_type(mode)) {
        Ok(()) => Ok(true),
        // POSIX allows either errno for "held by someone else".
        Err(err) if matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
        Err(err) => Err(err),
    }
}

pub(super) fn lock(file: &File, mode: Mode) -> io::Result<()> {
    set_lock(file, libc::F_OFD_SETLKW, lock_type(mode))
}

pub(super) fn lock_once(file: &File, mode: Mode) -> io::Result<()> {
    set_lock_once(file, libc::F_OFD_SETLKW, lock_type(mode))
}

#[inline]
pub(super) fn unlock(file: &File) -> io::Result<()> {
    set_lock(file, libc::F_OFD_SETLK, libc::F_UNLCK)
}

/// The first lock on the file that an exclusive lock taken through this
/// description would conflict with (`F_OFD_GETLK`; this description's own
/// lock never conflicts): its mode, and its holder's pid where the kernel
/// reports one, which it does for POSIX record locks (`fcntl`, `lockf`, so a
/// Python fasteners process) and not for OFD locks (reported as pid -1).
pub(super) fn conflicting(file: &File) -> io::Result<Option<(Mode, Option<u32>)>> {
    // SAFETY: as in `set_lock`: all-zero bytes are a valid `flock`.
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    request.l_type = libc::F_WRLCK as _;
    request.l_whence = libc::SEEK_SET as _;
    request.l_start = 0;
    request.l_len = 0;
    request.l_pid = 0; // required to be 0 for OFD commands
    retry_interrupted(|| {
        // SAFETY: the descriptor is open for the lifetime of `file`, and
        // `request` is a valid `flock` that the kernel overwrites with the
        // conflicting lock, as `F_OFD_GETLK` requires.
        let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut request) };
        if result == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    })?;
    let mode = match libc::c_int::from(request.l_type) {
        libc::F_UNLCK => return Ok(None),
        libc::F_RDLCK => Mode::Shared,
        _ => Mode::Exclusive,
    };
    let pid = u32::try_from(request.l_pid).ok().filter(|&pid| pid > 0);
    Ok(Some((mode, pid)))
}
