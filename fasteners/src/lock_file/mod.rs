//! The per-file state that every process lock object of one process shares.
//!
//! A process registry maps (mechanism, file identity) to one [`Entry`]: one
//! open file description and so one kernel lock per file per process. The
//! entry is an [`Arbiter`] (the in-process arbitration every backend shares:
//! readers, a writer, writers first, the first holder takes the kernel lock,
//! the last gives it back) over [`Files`], the raw calls of lock files.
//!
//! A blocking or timed acquire of a thread waits in the kernel in the calling
//! thread; a timed one arms an [`Interrupt`](crate::timer::Interrupt), with
//! which the process timer ends the kernel call at the deadline (and again
//! every millisecond until the thread has left it, so a signal that comes
//! just before the call is not lost). An async acquire waits with its waker
//! registered in the entry while the entry's background waiter, one thread
//! per entry started on first need, waits in the kernel and hands the grant
//! over; when the last waiter leaves, the arbiter stops that wait
//! ([`RawLock::stop_wait`]: the background waiter's interrupt fires), so no request of this process stays queued in the
//! kernel for nobody, and the thread exits 10 ms after its last job. Without
//! a usable wake-up signal ([`crate::sys::signal`]) both poll instead.
//!
//! After every kernel grant, [`Entry::verify`] checks (Unix) that the file
//! locked is still the file at the path, so that nobody settles on a deleted
//! or replaced file. It costs one `fstat` of the descriptor: a link count of 0
//! means the file was deleted or renamed over; the link count and change time
//! recorded at the last full check mean no rename, link or unlink has touched
//! the file's inode since (Linux updates its change time for each), so it is
//! still at the path. Elsewhere (POSIX does not require a rename to update
//! the change time) every check is a full one. Anything else (a first check, a change time
//! that moved, also by someone else's write) costs a full check, `stat(path)`
//! compared by device and inode, which records the stamp again if the file
//! still matches and its change time is over 2 s old (a more recent one could
//! be shared by a later change within the same timestamp tick). What the
//! check cannot see: a parent directory renamed or replaced (the path now
//! leads elsewhere) while the file's own inode is untouched.
//!
//! The code, by concern:
//! - here: the file backend's parts of the entry, and its raw calls;
//! - [`identity`]: the open lock file, and the check that it is still the
//!   file at the path;
//! - [`registry`]: the process-wide map from paths to entries, and the
//!   lock objects' handles on them;
//! - [`kernel`]: taking and giving back the kernel lock, in the calling
//!   thread or through the background waiter;
//! - [`object`]: the lock object and its guards.

mod identity;
mod kernel;
mod object;
mod registry;
#[cfg(test)]
mod test_support;
#[cfg(all(test, target_os = "linux"))]
mod tests;
#[cfg(target_os = "linux")]
mod watch;

use std::io;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Instant;

use crate::arbiter::{sync, Arbiter, RawLock, Refusal, State};
use crate::sys::{Mechanism, Mode};
use crate::Error;

use identity::{FileId, OpenFile};
pub(crate) use object::{Held, LockFile, SendHeld};

pub(crate) use crate::arbiter::{Holder, Wait};

/// The shared state of one lock file in this process.
///
/// Lock objects reach it through a [`Handle`]; the background waiter holds
/// it directly, so it outlives the handles while a kernel wait is pending.
///
/// [`Handle`]: registry::Handle
pub(crate) type Entry = Arbiter<Files>;

/// An operation on the lock file that the OS refused, before the path is known.
type OsError = (&'static str, io::Error);

/// The lock file's part of an entry, outside its state mutex.
#[derive(Debug)]
pub(crate) struct Files {
    mechanism: Mechanism,
    /// The absolute path of the lock object that made the entry: the path the
    /// identity check compares with and a replaced file is reopened from.
    path: Arc<Path>,
    /// The file the registry knows the entry by (a leaf lock: nothing else is
    /// locked while it is held).
    identity: Mutex<Identity>,
    /// Lock objects of this process that use the entry.
    handles: AtomicUsize,
    /// The entry itself, for the registry when the entry moves to a new file.
    me: Weak<Entry>,
    /// Signalled for the background waiter: a job, or no handles left.
    work: sync::Condvar,
}

/// The lock file's part of an entry's state.
#[derive(Debug, Default)]
pub(crate) struct FileState {
    /// `Some` whenever the kernel lock is not `Unlocked`.
    file: Option<Arc<OpenFile>>,
    background: Background,
}

/// The background waiter's side of the state.
#[derive(Debug, Default)]
struct Background {
    /// Its thread runs (it may be parked).
    running: bool,
    /// The kernel acquisition it is to start next.
    job: Option<(Mode, Arc<OpenFile>)>,
    /// The interrupt that ends its kernel wait under way, if it is in one.
    interrupt: Option<u64>,
    /// Its thread waits for a next job (at most [`kernel::LINGER`]).
    lingering: bool,
}

impl RawLock for Files {
    type Local = FileState;
    type Failure = OsError;
    type Name = Path;

    /// A system call or two: quick enough to make as a task is polled.
    const TRY_WHEN_POLLED: bool = true;

    fn forked(entry: &Entry) -> FileState {
        // The descriptor now points at /dev/null: the file is reopened.
        entry.identity().open = false;
        FileState::default()
    }

    #[inline(always)]
    fn try_take(
        entry: &Entry,
        state: &mut State<Files>,
        mode: Mode,
    ) -> std::result::Result<bool, OsError> {
        entry.try_kernel(state, mode)
    }

    fn block<'a>(
        entry: &'a Entry,
        state: sync::MutexGuard<'a, State<Files>>,
        mode: Mode,
        deadline: Option<Instant>,
    ) -> (
        sync::MutexGuard<'a, State<Files>>,
        std::result::Result<(), OsError>,
    ) {
        entry.block_in_kernel(state, mode, deadline)
    }

    fn start_wait(
        entry: &Arc<Entry>,
        state: &mut State<Files>,
        mode: Mode,
    ) -> std::result::Result<(), OsError> {
        entry.start_background(state, mode)
    }

    fn stop_wait(state: &State<Files>) {
        Entry::stop_background_wait(state);
    }

    #[inline]
    fn give_back(
        entry: &Entry,
        state: &mut State<Files>,
        _: Mode,
    ) -> std::result::Result<(), OsError> {
        entry.unlock_kernel(state).map_err(|err| ("unlock", err))
    }

    #[cold]
    fn failed(path: &Path, (action, err): OsError) -> Error {
        Error::io(path, action, err)
    }

    #[cold]
    fn refused(path: &Path, refusal: Refusal) -> Error {
        match refusal {
            Refusal::WouldBlock => Error::would_block(path),
            Refusal::TimedOut(timeout) => Error::timed_out(path, timeout),
            Refusal::WouldDeadlock => Error::would_deadlock(
                path,
                "this thread already holds this lock file (process locks are not re-entrant)",
            ),
            Refusal::NotHeld(what) => Error::not_held(path, what),
        }
    }
}

impl Entry {
    fn path(&self) -> &Path {
        &self.backend.path
    }

    fn mechanism(&self) -> Mechanism {
        self.backend.mechanism
    }

    fn identity(&self) -> MutexGuard<'_, Identity> {
        self.backend
            .identity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the entry's file (the next attempt reopens the path); the
    /// registry no longer finds the entry by that file's identity.
    fn forget_file(&self, state: &mut State<Files>) {
        state.local.file = None;
        self.identity().open = false;
    }
}

/// The file an entry is known by in the registry.
#[derive(Debug, Clone, Copy)]
struct Identity {
    id: FileId,
    /// The entry has that file open; once it does not, a new file with the
    /// same device and inode numbers is another file.
    open: bool,
}
