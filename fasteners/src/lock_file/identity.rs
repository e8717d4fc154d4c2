//! The open lock file, and the check that it is still the file at the path.

use crate::sys::{fork, Mechanism, Mode};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
#[cfg(unix)]
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

#[cfg(target_os = "linux")]
use super::watch::{Watched, Watching};
use super::{Entry, Files, OsError};
use crate::arbiter::State;

/// Device and inode of a file: what the registry keys entries by, and how
/// the check notices that the path now names another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct FileId {
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
}

#[derive(Debug)]
pub(super) struct OpenFile {
    /// Declared before `file`, so dropped first: a fork must not find the
    /// descriptor registered once it is closed.
    _fork: fork::Registration,
    pub(super) file: File,
    pub(super) id: FileId,
    /// Only read access was granted: shared locks only.
    pub(super) read_only: bool,
    /// The descriptor's link count and change time when a check last found
    /// it at the path.
    #[cfg(unix)]
    checked: Stamp,
    /// The inotify watch that replaces the `fstat` check once the file is
    /// locked again and again.
    #[cfg(target_os = "linux")]
    watching: Watching,
}

/// Link count and change time of an open file, recorded when the file was
/// known to be at the path and the change time old enough to be trusted (see
/// [`Seen::settled`]). While `fstat` of the descriptor shows the same values,
/// the file has not been renamed, linked or unlinked since, so it is still
/// the file at the path. Read and written under the entry's state mutex; the
/// atomics only make `OpenFile` shareable.
#[cfg(unix)]
#[derive(Debug)]
struct Stamp {
    /// `NEVER` until recorded.
    nlink: AtomicU64,
    ctime: AtomicI64,
    ctime_nsec: AtomicI64,
}

/// What `fstat` of a descriptor says about the file's identity, links and
/// changes.
#[cfg(unix)]
struct Seen {
    id: FileId,
    nlink: u64,
    ctime: i64,
    ctime_nsec: i64,
}

#[cfg(unix)]
impl Seen {
    /// One `fstat` (through rustix: `File::metadata` asks `statx` for every
    /// field, which costs more).
    fn of(file: &File) -> io::Result<Self> {
        let stat = rustix::fs::fstat(file)?;
        #[allow(clippy::unnecessary_cast)] // the field types differ between targets
        Ok(Seen {
            id: FileId {
                dev: stat.st_dev as u64,
                ino: stat.st_ino as u64,
            },
            nlink: stat.st_nlink as u64,
            ctime: stat.st_ctime as i64,
            ctime_nsec: stat.st_ctime_nsec as i64,
        })
    }

    /// Whether the change time is old enough, compared with `now`, that no
    /// later change can share it: older than the file system's timestamp
    /// granularity. Change times with nanoseconds tick with the kernel's
    /// coarse clock (a jiffy, at most 10 ms): 50 ms is a safe margin. A change
    /// time in whole seconds may come from a file system that keeps no more
    /// (FAT keeps 2 s): then 2 s.
    fn settled(&self, now: WallClock) -> bool {
        let window = if self.ctime_nsec != 0 {
            50_000_000 // 50 ms
        } else {
            2_000_000_000 // 2 s
        };
        let ctime = WallClock::at(self.ctime, self.ctime_nsec);
        // POSIX leaves it to the system whether a rename updates the file's
        // change time; Linux does, so only there is a stamp trusted.
        cfg!(any(target_os = "linux", target_os = "android"))
            && ctime.is_some_and(|ctime| now.0 - ctime.0 > window)
    }
}

/// A moment of the wall clock (the clock change times are taken from), in
/// nanoseconds since the epoch: plain integers, compared without the
/// conversions of `SystemTime`.
#[cfg(unix)]
#[derive(Debug, Clone, Copy)]
struct WallClock(i64);

#[cfg(unix)]
impl WallClock {
    fn now() -> Self {
        // Through libc, which reads the clock without a system call where
        // the kernel offers that (the vDSO).
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid, writable `timespec`; CLOCK_REALTIME
        // always exists, so the call cannot fail.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
        // After 1970 and before 2262 (the range of an i64 of nanoseconds).
        #[allow(clippy::unnecessary_cast)] // the field types differ between targets
        WallClock::at(now.tv_sec as i64, now.tv_nsec as i64).unwrap_or(WallClock(0))
    }

    /// The moment `secs` and `nanos` after the epoch, if it is after it
    /// and representable.
    fn at(secs: i64, nanos: i64) -> Option<Self> {
        if secs < 0 || !(0..1_000_000_000).contains(&nanos) {
            return None;
        }
        secs.checked_mul(1_000_000_000)
            .and_then(|ns| ns.checked_add(nanos))
            .map(WallClock)
    }
}

#[cfg(unix)]
impl Stamp {
    const NEVER: u64 = u64::MAX;

    fn new() -> Self {
        Stamp {
            nlink: AtomicU64::new(Self::NEVER),
            ctime: AtomicI64::new(0),
            ctime_nsec: AtomicI64::new(0),
        }
    }

    /// Whether a stamp was recorded (and not cleared since).
    fn is_recorded(&self) -> bool {
        self.nlink.load(Ordering::Relaxed) != Self::NEVER
    }

    fn matches(&self, seen: &Seen) -> bool {
        self.nlink.load(Ordering::Relaxed) == seen.nlink
            && self.ctime.load(Ordering::Relaxed) == seen.ctime
            && self.ctime_nsec.load(Ordering::Relaxed) == seen.ctime_nsec
    }

    /// Records `seen`, which was taken when the file was at the path, if its
    /// change time is settled as of `now` (the earliest moment the file was
    /// known to be at the path); otherwise the next acquisition checks in
    /// full again.
    fn record(&self, seen: &Seen, now: WallClock) {
        if seen.settled(now) {
            self.ctime.store(seen.ctime, Ordering::Relaxed);
            self.ctime_nsec.store(seen.ctime_nsec, Ordering::Relaxed);
            self.nlink.store(seen.nlink, Ordering::Relaxed);
        } else {
            self.nlink.store(Self::NEVER, Ordering::Relaxed);
        }
    }
}

/// Opens the lock file read-write, creating it and its parent directories if
/// needed, without truncating or writing it; read-only if write access is
/// refused and the file exists (shared locks only).
fn open_path(path: &Path) -> std::result::Result<(File, bool), OsError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o666);
    let opened = match options.open(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|err| ("create directory", err))?;
            }
            options.open(path)
        }
        other => other,
    };
    match opened {
        Ok(file) => Ok((file, false)),
        Err(err) if refused_write(&err) => match File::open(path) {
            Ok(file) => Ok((file, true)),
            // Not readable either: report why writing was refused.
            Err(_) => Err(("open", err)),
        },
        Err(err) => Err(("open", err)),
    }
}

/// Write access refused: no permission, or a read-only file system.
fn refused_write(err: &io::Error) -> bool {
    #[cfg(unix)]
    if err.raw_os_error() == Some(libc::EROFS) {
        return true;
    }
    err.kind() == io::ErrorKind::PermissionDenied
}

/// Opens the lock file (see [`open_path`]) and reads its identity: one
/// `open` and one `fstat`.
pub(super) fn open(path: &Path) -> std::result::Result<OpenFile, OsError> {
    open_and_try(path, None).map(|(file, _)| file)
}

/// Opens the lock file and reads its identity, as [`open`]; with `lock`,
/// first tries to take the lock in that mode without waiting (`Some(true)`
/// if taken, `Some(false)` if refused, `None` if not tried), before the `fstat`, so that one `fstat` both identifies the file
/// and checks that the file locked is the file at the path: a link count
/// above 0 and a change time settled before the open mean that nothing has
/// renamed, linked or unlinked the file since the open found it at the path.
/// A change time more recent than that costs a `stat(path)`; a file replaced
/// between the open and the lock is opened afresh.
///
/// A path that resolves to a deleted file (link count 0) twice in a row, to
/// the same file, is an error: retrying would find it again and again (a
/// `/proc/self/fd/N` link to a deleted file does that). A path whose file a
/// cleaner deletes between the two opens is opened afresh.
pub(super) fn open_and_try(
    path: &Path,
    lock: Option<(Mechanism, Mode)>,
) -> std::result::Result<(OpenFile, Option<bool>), OsError> {
    // `None`: not tried (an exclusive lock through a read-only description
    // is the entry's error to report).
    let try_lock = |file: &File, read_only: bool| match lock {
        Some((_, Mode::Exclusive)) if read_only => Ok(None),
        Some((mechanism, mode)) => mechanism
            .try_lock(file, mode)
            .map(Some)
            .map_err(|err| ("lock", err)),
        None => Ok(None),
    };
    #[cfg(unix)]
    {
        let mut deleted = None;
        loop {
            // The file is at the path from the open on: a change time older
            // than this moment (by the settle window) has seen no rename.
            let opened_at = WallClock::now();
            // Dropped on every `continue`, which gives back a lock taken.
            let (file, read_only) = open_path(path)?;
            #[cfg(test)]
            AFTER_OPEN.with(|hook| hook.take().map(|hook| hook(path)));
            let tried = try_lock(&file, read_only)?;
            let seen = Seen::of(&file).map_err(|err| ("stat", err))?;
            if seen.nlink == 0 {
                if deleted == Some(seen.id) {
                    return Err(("lock", deleted_file()));
                }
                deleted = Some(seen.id);
                continue;
            }
            let checked = Stamp::new();
            checked.record(&seen, opened_at);
            if tried == Some(true) && !checked.is_recorded() && !at_path(path, seen.id)? {
                continue;
            }
            use std::os::fd::AsRawFd;
            let file = OpenFile {
                _fork: fork::register(file.as_raw_fd()),
                file,
                id: seen.id,
                read_only,
                checked,
                #[cfg(target_os = "linux")]
                watching: Watching::default(),
            };
            return Ok((file, tried));
        }
    }
    #[cfg(not(unix))]
    {
        let (file, read_only) = open_path(path)?;
        let tried = try_lock(&file, read_only)?;
        let file = OpenFile {
            _fork: fork::Registration,
            file,
            id: FileId {},
            read_only,
        };
        Ok((file, tried))
    }
}

#[cfg(test)]
thread_local! {
    /// The calling thread's `stat(path)` checks (unit tests).
    pub(super) static PATH_CHECKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Run once, with the path, right after the calling thread's next open
    /// in [`open_and_try`] (unit tests: a cleaner acting in that window).
    pub(super) static AFTER_OPEN: std::cell::Cell<Option<fn(&Path)>> = const { std::cell::Cell::new(None) };
}

/// Whether the file at `path` is the file `id` (`stat(path)`).
#[cfg(unix)]
pub(super) fn at_path(path: &Path, id: FileId) -> std::result::Result<bool, OsError> {
    #[cfg(test)]
    PATH_CHECKS.with(|checks| checks.set(checks.get() + 1));
    match rustix::fs::stat(path) {
        #[allow(clippy::unnecessary_cast)] // the field types differ between targets
        Ok(stat) => Ok(FileId {
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
        } == id),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(err) => Err(("stat", err.into())),
    }
}

#[cfg(unix)]
fn deleted_file() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "the file at the path is deleted (the path resolves to an unlinked file)",
    )
}

/// The error of an exclusive lock through a description opened read-only.
pub(super) fn read_only_file() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "the lock file could only be opened read-only (no write permission, or a read-only \
         file system): shared locks only",
    )
}

impl OpenFile {
    /// Whether this description can take the lock in `mode`.
    pub(super) fn allows(&self, mode: Mode) -> std::result::Result<(), OsError> {
        if self.read_only && mode == Mode::Exclusive {
            return Err(("lock", read_only_file()));
        }
        Ok(())
    }
}

impl Entry {
    pub(super) fn open_file(
        &self,
        state: &mut State<Files>,
    ) -> std::result::Result<Arc<OpenFile>, OsError> {
        if let Some(file) = &state.local.file {
            return Ok(Arc::clone(file));
        }
        let file = Arc::new(open(self.path())?);
        self.known_as(&file);
        state.local.file = Some(Arc::clone(&file));
        Ok(file)
    }

    /// Checks that the file just locked is still the file at the path. If the
    /// path is gone or names another file, unlocks and forgets the old file
    /// (the next attempt reopens the path) and returns `false`.
    ///
    /// A watched file (Linux, locked again and again: see `watch.rs`) is
    /// checked by its watch: no event for its inode since the last check
    /// means it is still at the path; an event means a full check.
    ///
    /// Otherwise `fstat` of the descriptor first: a link count of 0 means the file was
    /// deleted or renamed over. The same link count and change time as at the
    /// last full check mean the file's own inode has seen no rename, link or
    /// unlink since (each updates its change time), so it is still at the
    /// path. Otherwise (or the first time) `stat(path)` compares device and
    /// inode. Not seen: a parent directory renamed or replaced while the
    /// file's own inode is untouched.
    #[inline]
    pub(super) fn verify(&self, state: &mut State<Files>) -> std::result::Result<bool, OsError> {
        #[cfg(unix)]
        {
            let Some(file) = &state.local.file else {
                return Ok(false);
            };
            #[cfg(target_os = "linux")]
            match file.watching.check(&file.file) {
                Watched::Unchanged => return Ok(true),
                Watched::Changed => {
                    let seen = Seen::of(&file.file);
                    return self.verify_in_full(state, seen);
                }
                Watched::Unwatched => {}
            }
            match Seen::of(&file.file) {
                // Nothing touched the inode since the last full check.
                Ok(own) if own.nlink != 0 && file.checked.matches(&own) => Ok(true),
                seen => self.verify_in_full(state, seen),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = state;
            Ok(true)
        }
    }

    /// The rest of [`Entry::verify`], after the `fstat` of the descriptor
    /// (`seen`) did not settle it.
    #[cfg(unix)]
    #[cold]
    #[inline(never)]
    fn verify_in_full(
        &self,
        state: &mut State<Files>,
        seen: io::Result<Seen>,
    ) -> std::result::Result<bool, OsError> {
        let Some(file) = state.local.file.clone() else {
            return Ok(false);
        };
        let fail = |state: &mut State<Files>, err| {
            let _ = self.mechanism().unlock(&file.file);
            self.forget_file(state);
            Err(("stat", err))
        };
        let own = match seen {
            Ok(seen) => seen,
            Err(err) => return fail(state, err),
        };
        let same = if own.nlink == 0 {
            false
        } else {
            let checked_at = WallClock::now();
            match at_path(self.path(), file.id) {
                Ok(same) => {
                    if same {
                        file.checked.record(&own, checked_at);
                    }
                    same
                }
                Err((_, err)) => return fail(state, err),
            }
        };
        if !same {
            let result = self.mechanism().unlock(&file.file);
            self.forget_file(state);
            result.map_err(|err| ("unlock", err))?;
        }
        Ok(same)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::lock_file::test_support::temp_path;

    /// A recorded stamp matches the same `fstat` only: another link count,
    /// or a change time that differs in its seconds or in its nanoseconds
    /// alone (two changes within one second), is a change of the file.
    #[test]
    fn a_stamp_matches_only_the_same_links_and_change_time() {
        let path = temp_path("stamp.lock");
        let seen = Seen::of(&File::create(&path).unwrap()).unwrap();
        let stamp = Stamp::new();
        stamp.nlink.store(seen.nlink, Ordering::Relaxed);
        stamp.ctime.store(seen.ctime, Ordering::Relaxed);
        stamp.ctime_nsec.store(seen.ctime_nsec, Ordering::Relaxed);
        let same = |nlink, ctime, ctime_nsec| {
            stamp.matches(&Seen {
                id: seen.id,
                nlink,
                ctime,
                ctime_nsec,
            })
        };
        assert!(same(seen.nlink, seen.ctime, seen.ctime_nsec));
        assert!(!same(seen.nlink + 1, seen.ctime, seen.ctime_nsec));
        assert!(!same(seen.nlink, seen.ctime + 1, seen.ctime_nsec));
        assert!(!same(seen.nlink, seen.ctime, seen.ctime_nsec + 1));
        std::fs::remove_file(&path).unwrap();
    }

    /// A file deleted by a cleaner between the open and the `fstat`, with a
    /// new file made at the path, is opened afresh: only the same deleted
    /// file found twice at the path is an error.
    #[test]
    fn a_file_deleted_once_behind_the_open_is_opened_afresh() {
        let path = temp_path("cleaned.lock");
        File::create(&path).unwrap();
        AFTER_OPEN.with(|hook| {
            hook.set(Some(|path: &Path| {
                std::fs::remove_file(path).unwrap();
                File::create(path).unwrap();
            }))
        });
        let (opened, tried) = open_and_try(&path, Some((Mechanism::Flock, Mode::Exclusive)))
            .expect("the new file at the path");
        assert_eq!(tried, Some(true));
        let meta = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            (opened.id.dev, opened.id.ino),
            (meta.dev(), meta.ino()),
            "the file opened is the one now at the path"
        );
        drop(opened);
        std::fs::remove_file(&path).unwrap();
    }
}
