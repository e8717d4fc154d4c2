//! A cheaper identity check for a lock file locked again and again: an
//! inotify watch on the file, asked with one `FIONREAD`.
//!
//! The check after each grant must notice that the file locked is no longer
//! the file at the path: renamed over, renamed away, unlinked. Without a
//! watch it reads the descriptor's link count and change time (`fstat`),
//! and trusts them only once the change time is older than the file
//! system's timestamp granularity (the settle window of `identity.rs`). A
//! watch sees each of those changes of the file's inode the moment it is
//! made (`IN_ATTRIB` for a link count that changed, `IN_MOVE_SELF`,
//! `IN_DELETE_SELF`), so "no event pending, none drained for this file"
//! means the file is still where the last check found it, with no window.
//! `FIONREAD` costs less than `fstat`, and a file changed a moment ago needs
//! no `stat(path)` at every acquisition.
//!
//! - **One instance per process**, with one watch per watched file:
//!   instances are few per user (128 by default), and a library must not use
//!   them up. It is closed when its last watch goes.
//! - **No event slips between the queue and the marks.** A check that finds
//!   events queued (`FIONREAD` above 0) drains them all, under the
//!   instance's mutex, marking each watch they name as changed (every watch,
//!   if the queue overflowed). A drain makes the instance's version odd
//!   before its `read` and even again once its marks are made; a check that
//!   finds nothing queued trusts its marks only if the version was the same
//!   even number before and after its `FIONREAD`. So every event queued
//!   before that `FIONREAD` was still queued, or drained and marked before
//!   the check began: a check takes no lock and makes one system call.
//! - **Only where every change goes through this kernel**: local file
//!   systems (ext2/3/4, xfs, btrfs, tmpfs, f2fs). On NFS another machine's
//!   rename sends no event here; on FUSE or an overlay, changes can bypass
//!   the inode watched. Those files keep the `fstat` check.
//! - **Watched only once used again and again**: from an entry's
//!   [`WATCH_AFTER`]th check on, so that a lock object locked once or twice
//!   pays nothing for it. A file the instance cannot watch (limits, no
//!   `/proc`, no read access) keeps the `fstat` check.
//! - **Fork**: the instance's descriptor is registered with the lock files'
//!   (see `sys/fork.rs`), so a forked child's copy points at `/dev/null` and
//!   cannot drain its parent's events; the child makes its own instance.
//!
//! Not seen, as with `fstat`: a parent directory renamed or replaced while
//! the file's own inode is untouched.

use std::collections::HashMap;
use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;

use crate::sys::fork;

/// How many checks of an open file are made by `fstat` before it is watched.
pub(super) const WATCH_AFTER: u32 = 2;

/// The file systems whose changes all go through this kernel's inodes
/// (`statfs` magic numbers).
const LOCAL_FILE_SYSTEMS: [u32; 6] = [
    0xEF53,      // ext2, ext3, ext4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
    0xF2F5_2010, // f2fs
    0x8584_58F6, // ramfs
];

#[cfg(test)]
thread_local! {
    /// The calling thread's checks answered by a watch (unit tests).
    pub(super) static WATCH_CHECKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The watch of one open lock file, once it is watched. Read and written
/// under the entry's state mutex; the atomics make `OpenFile` shareable.
#[derive(Debug, Default)]
pub(super) struct Watching {
    checks: AtomicU32,
    watch: OnceLock<Arc<Watch>>,
}

/// What the watch says of the file since the last check.
pub(super) enum Watched {
    /// Nothing touched its inode: it is still where the last check found it.
    Unchanged,
    /// Something may have: check in full (the watch is ready for the next one).
    Changed,
    /// Not watched (yet, or any more): check by `fstat`.
    Unwatched,
}

impl Watching {
    /// The check of `file` by its watch, watching it from the
    /// [`WATCH_AFTER`]th check on (that check is still `Unwatched`: the
    /// caller's `fstat` after the watch was added covers what came before it).
    #[inline]
    pub(super) fn check(&self, file: &File) -> Watched {
        let Some(watch) = self.watch.get() else {
            if self.checks.fetch_add(1, Ordering::Relaxed) + 1 == WATCH_AFTER {
                if let Some(watch) = Watch::new(file) {
                    let _ = self.watch.set(watch);
                }
            }
            return Watched::Unwatched;
        };
        let seen = watch.check();
        #[cfg(test)]
        if !matches!(seen, Watched::Unwatched) {
            WATCH_CHECKS.with(|checks| checks.set(checks.get() + 1));
        }
        seen
    }
}

#[derive(Debug)]
pub(super) struct Watch {
    /// The watch descriptor, in this process's instance.
    wd: i32,
    /// An event named this file since the last check.
    changed: AtomicBool,
    /// The kernel dropped the watch (the file system was unmounted).
    gone: AtomicBool,
    watcher: &'static Watcher,
}

/// This process's inotify instance and its watches.
#[derive(Debug)]
struct Watcher {
    generation: u64,
    /// Odd while a drain reads events and marks watches, or the instance
    /// closes; even otherwise.
    version: AtomicU64,
    /// The instance's descriptor, -1 when closed. It cannot close while a
    /// watch that checks exists (it closes with the last watch).
    fd: AtomicI32,
    instance: Mutex<Instance>,
}

#[derive(Debug, Default)]
struct Instance {
    /// Dropped before `fd`: see [`fork::Registration`].
    fork: Option<fork::Registration>,
    fd: Option<OwnedFd>,
    watches: HashMap<i32, Weak<Watch>>,
}

fn watcher() -> &'static Watcher {
    static WATCHER: fork::PerProcess<Watcher> = fork::PerProcess::new();
    WATCHER.get(|| Watcher {
        generation: fork::generation(),
        version: AtomicU64::new(0),
        fd: AtomicI32::new(-1),
        instance: Mutex::default(),
    })
}

/// Whether every change of `file` goes through this kernel's inode.
fn on_local_file_system(file: &File) -> bool {
    #[allow(clippy::unnecessary_cast)] // the field's type differs between targets
    rustix::fs::fstatfs(file).is_ok_and(|fs| LOCAL_FILE_SYSTEMS.contains(&(fs.f_type as u32)))
}

impl Watch {
    /// Watches the inode of `file`; `None` where it cannot be watched.
    fn new(file: &File) -> Option<Arc<Watch>> {
        if !on_local_file_system(file) {
            return None;
        }
        let watcher = watcher();
        let mut instance = watcher.lock();
        if instance.fd.is_none() {
            let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok()?;
            instance.fork = Some(fork::register(fd.as_raw_fd()));
            watcher.fd.store(fd.as_raw_fd(), Ordering::SeqCst);
            instance.fd = Some(fd);
        }
        let fd = instance.fd.as_ref()?;
        // The descriptor's own inode, whatever the path names by now.
        let added = inotify::add_watch(
            fd,
            format!("/proc/self/fd/{}", file.as_raw_fd()),
            WatchFlags::ATTRIB | WatchFlags::MOVE_SELF | WatchFlags::DELETE_SELF,
        );
        let Ok(wd) = added else {
            watcher.close_if_unused(&mut instance);
            return None;
        };
        // Another open file of this process on the same inode has this
        // watch: its checks clear the mark, so this one cannot share it.
        if instance
            .watches
            .get(&wd)
            .is_some_and(|other| other.strong_count() > 0)
        {
            return None;
        }
        let watch = Arc::new(Watch {
            wd,
            changed: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            watcher,
        });
        instance.watches.insert(wd, Arc::downgrade(&watch));
        Some(watch)
    }

    /// Only ever called in the process that made the watch: a forked child
    /// discards its parent's open files before it checks one.
    #[inline]
    fn check(&self) -> Watched {
        let watcher = self.watcher;
        let before = watcher.version.load(Ordering::Acquire);
        let fd: RawFd = watcher.fd.load(Ordering::Relaxed);
        if before % 2 == 0 && fd >= 0 {
            // SAFETY: the instance stays open while this watch exists (it
            // closes with its last watch), so `fd` is its descriptor.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let queued = rustix::io::ioctl_fionread(fd);
            // The kernel's read of the queue (in this thread) comes before
            // the second read of the version (no instruction on x86).
            fence(Ordering::Acquire);
            if queued == Ok(0) && watcher.version.load(Ordering::Relaxed) == before {
                return self.seen();
            }
        }
        if watcher.drain() {
            self.seen()
        } else {
            Watched::Unwatched
        }
    }

    /// What the marks say; a `Changed` clears the mark, before the caller's
    /// full check, so that an event during that check is not lost.
    #[inline]
    fn seen(&self) -> Watched {
        if self.gone.load(Ordering::Acquire) {
            Watched::Unwatched
        } else if self.changed.load(Ordering::Acquire) && self.changed.swap(false, Ordering::AcqRel)
        {
            Watched::Changed
        } else {
            Watched::Unchanged
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // In a forked child, the instance is the parent's: leave it be.
        if self.watcher.generation != fork::generation() {
            return;
        }
        let mut instance = self.watcher.lock();
        // A watch made anew for the same inode since this one's last
        // reference went has taken the descriptor over: it is not ours to end.
        let ours = instance
            .watches
            .get(&self.wd)
            .is_some_and(|watch| std::ptr::eq(watch.as_ptr(), self));
        if ours {
            instance.watches.remove(&self.wd);
            if let Some(fd) = &instance.fd {
                let _ = inotify::remove_watch(fd, self.wd);
            }
        }
        self.watcher.close_if_unused(&mut instance);
    }
}

impl Watcher {
    fn lock(&self) -> MutexGuard<'_, Instance> {
        self.instance.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads every queued event, marking the watches they name; all of them
    /// if events were lost (the queue overflowed) or cannot be read. `false`
    /// if the instance is closed.
    fn drain(&self) -> bool {
        let instance = self.lock();
        let Some(fd) = &instance.fd else {
            return false;
        };
        // Odd before the kernel empties the queue: a check whose `FIONREAD`
        // finds it empty then sees the drain under way.
        self.version.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
        let mut events = inotify::Reader::new(fd, &mut buffer);
        loop {
            match events.next() {
                Ok(event) if event.events().contains(ReadFlags::QUEUE_OVERFLOW) => {
                    instance.mark_all();
                }
                Ok(event) => {
                    let gone = event
                        .events()
                        .intersects(ReadFlags::IGNORED | ReadFlags::UNMOUNT);
                    instance.mark(event.wd(), gone);
                }
                Err(Errno::WOULDBLOCK) => break,
                Err(Errno::INTR) => {}
                Err(_) => {
                    instance.mark_all();
                    break;
                }
            }
        }
        // Even once the marks are made: a check that reads this version sees them.
        self.version.fetch_add(1, Ordering::Release);
        true
    }

    /// Closes the instance once it has no watch left.
    fn close_if_unused(&self, instance: &mut Instance) {
        if instance.watches.is_empty() && instance.fd.is_some() {
            self.version.fetch_add(1, Ordering::SeqCst);
            self.fd.store(-1, Ordering::SeqCst);
            instance.fork = None;
            instance.fd = None;
            self.version.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Instance {
    fn mark(&self, wd: i32, gone: bool) {
        if let Some(watch) = self.watches.get(&wd).and_then(Weak::upgrade) {
            if gone {
                watch.gone.store(true, Ordering::Release);
            }
            watch.changed.store(true, Ordering::Release);
        }
    }

    fn mark_all(&self) {
        for watch in self.watches.values().filter_map(Weak::upgrade) {
            watch.changed.store(true, Ordering::Release);
        }
    }
}

/// The bytes of events queued in this process's instance (unit tests).
#[cfg(test)]
pub(super) fn queued_bytes() -> u64 {
    let instance = watcher().lock();
    instance
        .fd
        .as_ref()
        .map_or(0, |fd| rustix::io::ioctl_fionread(fd).unwrap())
}

/// Whether files in the directory `dir` can be watched (unit tests).
#[cfg(test)]
pub(super) fn watchable(dir: &std::path::Path) -> bool {
    File::open(dir).is_ok_and(|dir| on_local_file_system(&dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn files_on_other_file_systems_are_not_watched() {
        // procfs: its files change without going through an inode's events.
        let proc_file = File::open("/proc/self/status").unwrap();
        assert!(!on_local_file_system(&proc_file));
        assert!(Watch::new(&proc_file).is_none());
    }

    /// A check that finds the queue empty while another thread's drain has
    /// read the events but not yet marked the watches waits for the marks.
    #[test]
    fn a_check_during_a_drain_sees_the_marks_it_makes() {
        let _one_at_a_time = super::super::tests::WATCH_TESTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let path = std::env::temp_dir().join(format!(
            "fasteners-unit-{}-drain-race.lock",
            std::process::id()
        ));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        if !on_local_file_system(&file) {
            assert!(
                std::env::var_os("CI").is_none(),
                "no local file system under CI"
            );
            eprintln!("\nSKIPPED: a_check_during_a_drain_sees_the_marks_it_makes: not a local file system\n");
            return;
        }
        let watch = Watch::new(&file).expect("watched");
        let watcher = watch.watcher;
        // A drain, half-way: it holds the mutex, has made the version odd
        // and has read the event of a change, but not marked the watch yet.
        let instance = watcher.lock();
        watcher.version.fetch_add(1, Ordering::SeqCst);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
        let mut events = inotify::Reader::new(instance.fd.as_ref().unwrap(), &mut buffer);
        let mut read = 0;
        while events.next().is_ok() {
            read += 1;
        }
        assert!(read > 0, "the change sent no event");
        let (seen, checked) = mpsc::channel();
        let checking = {
            let watch = Arc::clone(&watch);
            std::thread::spawn(move || {
                let changed = matches!(watch.check(), Watched::Changed);
                seen.send(changed).unwrap();
            })
        };
        // It cannot trust the empty queue: it waits for the drain.
        assert!(
            checked.recv_timeout(Duration::from_millis(200)).is_err(),
            "the check ended while the drain was under way"
        );
        instance.mark(watch.wd, false);
        watcher.version.fetch_add(1, Ordering::Release);
        drop(instance);
        assert!(
            checked.recv_timeout(Duration::from_secs(20)).unwrap(),
            "the check missed the change the drain marked"
        );
        checking.join().unwrap();
        drop(watch);
        std::fs::remove_file(&path).unwrap();
    }
}
