//! The open lock file, and the check that it is still the file at the path.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
#[cfg(unix)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
#[cfg(unix)]
use std::time::Duration;

use super::{Entry, OsError, State};

/// Device and inode of a file, to notice that the path now names another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
}

impl FileId {
    #[cfg(unix)]
    fn of(metadata: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: metadata.dev(),
            ino: metadata.ino(),
        }
    }
}

#[derive(Debug)]
pub(super) struct OpenFile {
    pub(super) file: File,
    #[cfg_attr(not(unix), allow(dead_code))]
    id: FileId,
    /// The descriptor's link count and change time when a full check last
    /// found it at the path.
    #[cfg(unix)]
    checked: Stamp,
}

/// Link count and change time of an open file, recorded by the last full
/// identity check (`stat(path)`) that found the file at the path and that can
/// be trusted (see [`Stamp::record`]). While `fstat` of the descriptor shows
/// the same values, the file has not been renamed, linked or unlinked since,
/// so it is still the file at the path. Read and written under the entry's
/// state mutex; the atomics only make `OpenFile` shareable.
#[cfg(unix)]
#[derive(Debug)]
struct Stamp {
    /// `NEVER` until a full check records the values.
    nlink: AtomicU64,
    ctime: std::sync::atomic::AtomicI64,
    ctime_nsec: std::sync::atomic::AtomicI64,
}

/// What `fstat` of the descriptor says about the file's links and changes.
#[cfg(unix)]
struct Seen {
    nlink: u64,
    ctime: i64,
    ctime_nsec: i64,
}

#[cfg(unix)]
impl Seen {
    /// A plain `fstat`: on Linux, `File::metadata` asks `statx` for every
    /// field, which costs more on the uncontended path.
    #[cfg(target_os = "linux")]
    fn of(file: &File) -> io::Result<Self> {
        use std::os::unix::io::AsRawFd;
        // SAFETY: `stat` is plain integers; all-zero is a valid value.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: the descriptor is open and `stat` is a valid buffer.
        if unsafe { libc::fstat(file.as_raw_fd(), &mut stat) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Seen {
            nlink: stat.st_nlink as u64,
            ctime: stat.st_ctime as i64,
            ctime_nsec: stat.st_ctime_nsec as i64,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn of(file: &File) -> io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let metadata = file.metadata()?;
        Ok(Seen {
            nlink: metadata.nlink(),
            ctime: metadata.ctime(),
            ctime_nsec: metadata.ctime_nsec(),
        })
    }
}

#[cfg(unix)]
impl Stamp {
    const NEVER: u64 = u64::MAX;

    /// A change time this close to the clock may be shared by a change made
    /// later within the same tick of the file system's timestamp clock (a
    /// jiffy, or 1 to 2 s on file systems with coarse timestamps), which the
    /// stamp could then not see. Such a stamp is not recorded.
    const SETTLED: Duration = Duration::from_secs(2);

    fn new() -> Self {
        Stamp {
            nlink: AtomicU64::new(Self::NEVER),
            ctime: std::sync::atomic::AtomicI64::new(0),
            ctime_nsec: std::sync::atomic::AtomicI64::new(0),
        }
    }

    fn matches(&self, seen: &Seen) -> bool {
        self.nlink.load(Ordering::Relaxed) == seen.nlink
            && self.ctime.load(Ordering::Relaxed) == seen.ctime
            && self.ctime_nsec.load(Ordering::Relaxed) == seen.ctime_nsec
    }

    /// Records `seen`, taken by `fstat` before the `stat(path)` that found
    /// the file at the path, unless its change time is too recent to be
    /// trusted (then the next acquisition checks in full again).
    fn record(&self, seen: &Seen) {
        let ctime = u64::try_from(seen.ctime)
            .ok()
            .and_then(|secs| u32::try_from(seen.ctime_nsec).ok().map(|ns| (secs, ns)))
            .map(|(secs, ns)| std::time::UNIX_EPOCH + Duration::new(secs, ns));
        let settled = ctime
            .and_then(|ctime| std::time::SystemTime::now().duration_since(ctime).ok())
            .is_some_and(|age| age > Self::SETTLED);
        // POSIX leaves it to the system whether a rename updates the file's
        // change time; Linux does, so only there is the stamp trusted.
        if cfg!(any(target_os = "linux", target_os = "android")) && settled {
            self.ctime.store(seen.ctime, Ordering::Relaxed);
            self.ctime_nsec.store(seen.ctime_nsec, Ordering::Relaxed);
            self.nlink.store(seen.nlink, Ordering::Relaxed);
        } else {
            self.nlink.store(Self::NEVER, Ordering::Relaxed);
        }
    }
}

/// Opens (creating it and its parent directories if needed) the lock file,
/// without truncating or writing it.
pub(super) fn open(path: &Path) -> std::result::Result<OpenFile, OsError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o666);
    let file = match options.open(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|err| ("create directory", err))?;
            }
            options.open(path)
        }
        other => other,
    }
    .map_err(|err| ("open", err))?;
    #[cfg(unix)]
    let id = FileId::of(&file.metadata().map_err(|err| ("stat", err))?);
    #[cfg(not(unix))]
    let id = FileId {};
    Ok(OpenFile {
        file,
        id,
        // The first acquisition checks in full: the file may have been
        // renamed between the open and the `fstat` above.
        #[cfg(unix)]
        checked: Stamp::new(),
    })
}

impl Entry {
    pub(super) fn open_file(
        &self,
        state: &mut State,
    ) -> std::result::Result<Arc<OpenFile>, OsError> {
        if let Some(file) = &state.file {
            return Ok(Arc::clone(file));
        }
        let file = Arc::new(open(self.path())?);
        state.file = Some(Arc::clone(&file));
        Ok(file)
    }

    /// Checks that the file just locked is still the file at the path. If the
    /// path is gone or names another file, unlocks and forgets the old file
    /// (the next attempt reopens the path) and returns `false`.
    ///
    /// `fstat` of the descriptor first: a link count of 0 means the file was
    /// deleted or renamed over. The same link count and change time as at the
    /// last full check mean the file's own inode has seen no rename, link or
    /// unlink since (each updates its change time), so it is still at the
    /// path. Otherwise (or the first time) `stat(path)` compares device and
    /// inode. Not seen: a parent directory renamed or replaced while the
    /// file's own inode is untouched.
    pub(super) fn verify(&self, state: &mut State) -> std::result::Result<bool, OsError> {
        #[cfg(unix)]
        {
            let Some(file) = &state.file else {
                return Ok(false);
            };
            let fail = |state: &mut State, file: &OpenFile, err| {
                let _ = self.mechanism().unlock(&file.file);
                state.file = None;
                Err(("stat", err))
            };
            let own = match Seen::of(&file.file) {
                Ok(seen) => seen,
                Err(err) => {
                    let file = Arc::clone(file);
                    return fail(state, &file, err);
                }
            };
            let same = if own.nlink == 0 {
                false
            } else if file.checked.matches(&own) {
                true
            } else {
                match std::fs::metadata(self.path()) {
                    Ok(metadata) => {
                        let same = FileId::of(&metadata) == file.id;
                        if same {
                            file.checked.record(&own);
                        }
                        same
                    }
                    Err(err) if err.kind() == io::ErrorKind::NotFound => false,
                    Err(err) => {
                        let file = Arc::clone(file);
                        return fail(state, &file, err);
                    }
                }
            };
            if !same {
                let result = self.mechanism().unlock(&file.file);
                state.file = None;
                result.map_err(|err| ("unlock", err))?;
            }
            Ok(same)
        }
        #[cfg(not(unix))]
        {
            let _ = state;
            Ok(true)
        }
    }
}
