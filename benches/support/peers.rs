//! The file locks the benches measure side by side with the crate's: the raw
//! kernel calls (the floors) and the crates a user would pick instead, each
//! driven the way its documentation shows, through one [`Handle`] so that
//! every peer pays the same harness code around its calls.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use fasteners::{InterProcessLock, Mechanism};

use super::open;

/// A way to lock a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Raw `F_OFD_SETLK(W)` on an open file: the crate's mechanism on Linux.
    RawOfd,
    /// Raw `flock` on an open file.
    RawFlock,
    /// Raw traditional POSIX `F_SETLK(W)` over the whole file, as Python's
    /// `fcntl.lockf` makes it.
    RawPosix,
    /// `std::fs::File::lock` / `try_lock` / `unlock` (Rust 1.89).
    Std,
    /// `fs4::FileExt::lock` / `try_lock` / `unlock`.
    Fs4,
    /// `fd_lock::RwLock::write` / `try_write` (the guard unlocks).
    FdLock,
    /// `file_guard::lock` / `try_lock` of byte 0, exclusive (the guard unlocks).
    FileGuard,
    /// `named_lock::NamedLock::with_path(p)`, `lock` / `try_lock`.
    NamedLock,
    /// `fslock::LockFile::open(p)`, `lock` / `try_lock` / `unlock`.
    Fslock,
    /// `fasteners::InterProcessLock::new(p)` (OFD on Linux).
    Fasteners,
    /// `fasteners::InterProcessLock::with_mechanism(p, Mechanism::Flock)`.
    FastenersFlock,
}

impl Kind {
    /// Every kind, floors first.
    pub const ALL: [Kind; 11] = [
        Kind::RawOfd,
        Kind::RawFlock,
        Kind::RawPosix,
        Kind::Std,
        Kind::Fs4,
        Kind::FdLock,
        Kind::FileGuard,
        Kind::NamedLock,
        Kind::Fslock,
        Kind::Fasteners,
        Kind::FastenersFlock,
    ];

    /// The name on the command line of the harnesses' child processes.
    pub fn id(self) -> &'static str {
        match self {
            Kind::RawOfd => "raw-ofd",
            Kind::RawFlock => "raw-flock",
            Kind::RawPosix => "raw-posix",
            Kind::Std => "std",
            Kind::Fs4 => "fs4",
            Kind::FdLock => "fd-lock",
            Kind::FileGuard => "file-guard",
            Kind::NamedLock => "named-lock",
            Kind::Fslock => "fslock",
            Kind::Fasteners => "fasteners",
            Kind::FastenersFlock => "fasteners-flock",
        }
    }

    pub fn parse(id: &str) -> Kind {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.id() == id)
            .unwrap_or_else(|| panic!("unknown lock kind {id}"))
    }

    /// How the peer is named in the tables.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::RawOfd => "raw OFD `fcntl`",
            Kind::RawFlock => "raw `flock`",
            Kind::RawPosix => "raw POSIX `fcntl` (`F_SETLK`, what Python's `lockf` makes)",
            Kind::Std => "std `File::lock`",
            Kind::Fs4 => "fs4 1.1",
            Kind::FdLock => "fd-lock 4.0",
            Kind::FileGuard => "file-guard 0.2",
            Kind::NamedLock => "named-lock 0.4",
            Kind::Fslock => "fslock 0.2",
            Kind::Fasteners => "fasteners `InterProcessLock`",
            Kind::FastenersFlock => "fasteners `InterProcessLock` (`Mechanism::Flock`)",
        }
    }

    /// The kernel lock the peer takes on Linux (read in its source).
    pub fn mechanism(self) -> &'static str {
        match self {
            Kind::RawOfd | Kind::Fasteners => "OFD",
            Kind::RawPosix | Kind::FileGuard => "POSIX",
            _ => "flock",
        }
    }

    /// The raw pair of the same kernel lock: the floor of this peer.
    pub fn floor(self) -> Kind {
        match self.mechanism() {
            "OFD" => Kind::RawOfd,
            "POSIX" => Kind::RawPosix,
            _ => Kind::RawFlock,
        }
    }

    /// Whether the API can give up a wait after a timeout (from its
    /// documentation and source: only the crate has timed waits).
    pub fn timeouts(self) -> bool {
        matches!(self, Kind::Fasteners | Kind::FastenersFlock)
    }

    /// Whether the API offers a shared (read) lock besides the exclusive one:
    /// std `lock_shared`, fs4 `lock_shared`, fd-lock `read`, file-guard
    /// `Lock::Shared`, the crate's `InterProcessReaderWriterLock`; named-lock
    /// and fslock are exclusive only.
    pub fn shared(self) -> bool {
        !matches!(self, Kind::NamedLock | Kind::Fslock)
    }

    /// Whether the kind is a raw floor rather than a library.
    pub fn is_raw(self) -> bool {
        matches!(self, Kind::RawOfd | Kind::RawFlock | Kind::RawPosix)
    }
}

/// One open lock of some [`Kind`] on one path.
pub enum Handle {
    File(Kind, File),
    FdLock(fd_lock::RwLock<File>),
    NamedLock(named_lock::NamedLock),
    Fslock(fslock::LockFile),
    Crate(InterProcessLock),
}

/// Which raw call: the kernel lock and whether it waits.
fn raw(kind: Kind, file: &File, lock: bool, block: bool) -> bool {
    let fd = file.as_raw_fd();
    let rc = match kind {
        Kind::RawFlock => {
            let op = match (lock, block) {
                (false, _) => libc::LOCK_UN,
                (true, true) => libc::LOCK_EX,
                (true, false) => libc::LOCK_EX | libc::LOCK_NB,
            };
            // SAFETY: `fd` is open for the lifetime of `file`.
            unsafe { libc::flock(fd, op) }
        }
        _ => {
            // SAFETY: `flock` is plain integers; all-zero is a valid value
            // (and `l_len` 0 means the whole file).
            let mut request: libc::flock = unsafe { std::mem::zeroed() };
            request.l_type = if lock { libc::F_WRLCK } else { libc::F_UNLCK } as _;
            request.l_whence = libc::SEEK_SET as _;
            let command = match (kind == Kind::RawOfd, block) {
                (true, true) => libc::F_OFD_SETLKW,
                (true, false) => libc::F_OFD_SETLK,
                (false, true) => libc::F_SETLKW,
                (false, false) => libc::F_SETLK,
            };
            // SAFETY: `fd` is open and `request` is a valid `flock`.
            unsafe { libc::fcntl(fd, command, &request) }
        }
    };
    if rc == 0 {
        return true;
    }
    let err = std::io::Error::last_os_error();
    assert!(
        !block && lock && is_contention(&err),
        "raw {kind:?} call failed: {err}"
    );
    false
}

fn is_contention(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::WouldBlock || err.raw_os_error() == Some(libc::EACCES)
}

impl Handle {
    /// Opens (or creates) the lock on `path` the way the peer does.
    pub fn open(kind: Kind, path: &Path) -> Handle {
        match kind {
            Kind::FdLock => Handle::FdLock(fd_lock::RwLock::new(open(path))),
            Kind::NamedLock => Handle::NamedLock(named_lock::NamedLock::with_path(path).unwrap()),
            Kind::Fslock => Handle::Fslock(fslock::LockFile::open(path).unwrap()),
            Kind::Fasteners => Handle::Crate(InterProcessLock::new(path)),
            Kind::FastenersFlock => {
                Handle::Crate(InterProcessLock::with_mechanism(path, Mechanism::Flock))
            }
            _ => Handle::File(kind, open(path)),
        }
    }

    /// The open file of the raw kinds.
    pub fn file(&self) -> Option<&File> {
        match self {
            Handle::File(_, file) => Some(file),
            _ => None,
        }
    }

    /// Runs `f` holding the lock: waits for it if `block`, else returns
    /// `None` at once when it is held elsewhere.
    pub fn with<R>(&mut self, block: bool, f: impl FnOnce() -> R) -> Option<R> {
        match self {
            Handle::File(kind, file) => file_with(*kind, file, block, f),
            Handle::FdLock(lock) => {
                let guard = if block {
                    lock.write().unwrap()
                } else {
                    match lock.try_write() {
                        Ok(guard) => guard,
                        Err(err) if is_contention(&err) => return None,
                        Err(err) => panic!("fd-lock: {err}"),
                    }
                };
                let r = f();
                drop(guard);
                Some(r)
            }
            Handle::NamedLock(lock) => {
                let guard = if block {
                    lock.lock().unwrap()
                } else {
                    match lock.try_lock() {
                        Ok(guard) => guard,
                        Err(named_lock::Error::WouldBlock) => return None,
                        Err(err) => panic!("named-lock: {err}"),
                    }
                };
                let r = f();
                drop(guard);
                Some(r)
            }
            Handle::Fslock(lock) => {
                if block {
                    lock.lock().unwrap();
                } else if !lock.try_lock().unwrap() {
                    return None;
                }
                let r = f();
                lock.unlock().unwrap();
                Some(r)
            }
            Handle::Crate(lock) => {
                let guard = if block {
                    lock.lock().unwrap()
                } else {
                    match lock.try_lock() {
                        Ok(guard) => guard,
                        Err(err) if err.is_contention() => return None,
                        Err(err) => panic!("fasteners: {err}"),
                    }
                };
                let r = f();
                drop(guard);
                Some(r)
            }
        }
    }
}

/// The peers that lock an open `File` through a call on it.
fn file_with<R>(kind: Kind, file: &File, block: bool, f: impl FnOnce() -> R) -> Option<R> {
    match kind {
        Kind::Std => {
            // The benches need Rust 1.89 (std's file locks); the crate does not.
            #[allow(clippy::incompatible_msrv)]
            if block {
                file.lock().unwrap();
            } else {
                match file.try_lock() {
                    Ok(()) => {}
                    Err(std::fs::TryLockError::WouldBlock) => return None,
                    Err(err) => panic!("std: {err}"),
                }
            }
            let r = f();
            #[allow(clippy::incompatible_msrv)]
            file.unlock().unwrap();
            Some(r)
        }
        Kind::Fs4 => {
            if block {
                fs4::FileExt::lock(file).unwrap();
            } else {
                match fs4::FileExt::try_lock(file) {
                    Ok(()) => {}
                    Err(fs4::TryLockError::WouldBlock) => return None,
                    Err(err) => panic!("fs4: {err}"),
                }
            }
            let r = f();
            fs4::FileExt::unlock(file).unwrap();
            Some(r)
        }
        Kind::FileGuard => {
            let guard = if block {
                file_guard::lock(file, file_guard::Lock::Exclusive, 0, 1).unwrap()
            } else {
                match file_guard::try_lock(file, file_guard::Lock::Exclusive, 0, 1) {
                    Ok(guard) => guard,
                    Err(err) if is_contention(&err) => return None,
                    Err(err) => panic!("file-guard: {err}"),
                }
            };
            let r = f();
            drop(guard);
            Some(r)
        }
        _ => {
            if !raw(kind, file, true, block) {
                return None;
            }
            let r = f();
            raw(kind, file, false, true);
            Some(r)
        }
    }
}
