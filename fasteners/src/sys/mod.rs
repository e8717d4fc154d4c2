//! The raw layer: lock, try-lock and unlock one open file with one mechanism.
//!
//! Everything above this module is mechanism-independent; everything
//! OS-specific lives here (`ofd.rs` for Linux open-file-description locks,
//! `flock.rs` for fs4's flock / `LockFileEx`).

use std::fs::File;
use std::io;

mod flock;
pub(crate) mod fork;
#[cfg(target_os = "linux")]
mod ofd;
pub(crate) mod signal;

/// Which kernel locking primitive a process lock uses on its lock file.
///
/// All users of one lock file, in every process and in every language, must
/// use the same mechanism: on Linux, `flock` locks and `fcntl` locks (OFD and
/// POSIX `lockf`) do not see each other, so a [`Mechanism::Flock`] holder and
/// a [`Mechanism::Ofd`](crate::Mechanism#variant.Ofd) holder would both get
/// the lock.
///
/// # Examples
///
/// ```
/// use fasteners::{InterProcessLock, Mechanism};
///
/// let path = std::env::temp_dir().join(format!("mechanism-doc-{}.lock", std::process::id()));
/// let lock = InterProcessLock::with_mechanism(&path, Mechanism::Flock);
/// assert_eq!(lock.mechanism(), Mechanism::Flock);
/// drop(lock.lock().unwrap());
/// # std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    /// Linux open-file-description locks (`fcntl` with `F_OFD_SETLK` /
    /// `F_OFD_SETLKW`) over the whole file: the default on Linux.
    ///
    /// They conflict with POSIX record locks (`fcntl` / `lockf`), which is what
    /// Python fasteners uses, so a Rust process and a Python fasteners process
    /// exclude each other. They also work on NFS. Linux only (kernel 3.15+).
    #[cfg(target_os = "linux")]
    Ofd,
    /// Whole-file locks through the fs4 crate: `flock(2)` on Unix,
    /// `LockFileEx` on Windows. The default on every platform but Linux, and
    /// available everywhere.
    ///
    /// On Linux they do not interact with Python fasteners' `lockf` locks.
    Flock,
}

impl Default for Mechanism {
    /// [`Mechanism::Ofd`](crate::Mechanism#variant.Ofd) on Linux,
    /// [`Mechanism::Flock`] elsewhere: what
    /// [`InterProcessLock::new`](crate::InterProcessLock::new) uses.
    ///
    /// ```
    /// use fasteners::Mechanism;
    ///
    /// if cfg!(target_os = "linux") {
    ///     assert_ne!(Mechanism::default(), Mechanism::Flock);
    /// } else {
    ///     assert_eq!(Mechanism::default(), Mechanism::Flock);
    /// }
    /// ```
    fn default() -> Self {
        #[cfg(target_os = "linux")]
        return Mechanism::Ofd;
        #[cfg(not(target_os = "linux"))]
        return Mechanism::Flock;
    }
}

#[cfg(test)]
thread_local! {
    /// The calling thread's non-blocking kernel lock attempts (unit tests).
    pub(crate) static TRIES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The two sides of a kernel lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Shared,
    Exclusive,
}

impl Mechanism {
    /// Takes the lock in `mode` if that needs no waiting: `Ok(false)` when
    /// another open file description holds a conflicting lock.
    #[inline]
    pub(crate) fn try_lock(self, file: &File, mode: Mode) -> io::Result<bool> {
        #[cfg(test)]
        TRIES.with(|tries| tries.set(tries.get() + 1));
        match self {
            #[cfg(target_os = "linux")]
            Mechanism::Ofd => ofd::try_lock(file, mode),
            Mechanism::Flock => flock::try_lock(file, mode),
        }
    }

    /// Waits in the kernel until the lock in `mode` is granted.
    pub(crate) fn lock(self, file: &File, mode: Mode) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Mechanism::Ofd => ofd::lock(file, mode),
            Mechanism::Flock => flock::lock(file, mode),
        }
    }

    /// Waits in the kernel until the lock in `mode` is granted or a signal
    /// interrupts the wait (`Err` of kind `Interrupted`).
    pub(crate) fn lock_once(self, file: &File, mode: Mode) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Mechanism::Ofd => ofd::lock_once(file, mode),
            Mechanism::Flock => flock::lock_once(file, mode),
        }
    }

    /// Releases the lock held through `file`.
    #[inline]
    pub(crate) fn unlock(self, file: &File) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Mechanism::Ofd => ofd::unlock(file),
            Mechanism::Flock => flock::unlock(file),
        }
    }
}

/// Who else holds a lock on the file open as `file` (Linux OFD locks and
/// POSIX record locks, through `F_OFD_GETLK`): the mode of the first
/// conflicting lock, and its holder's pid where the kernel reports one.
#[cfg(target_os = "linux")]
pub(crate) fn ofd_conflicting(file: &File) -> io::Result<Option<(Mode, Option<u32>)>> {
    ofd::conflicting(file)
}

/// Repeats `op` while it fails with `EINTR` (a signal arrived during the call).
fn retry_interrupted<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}
