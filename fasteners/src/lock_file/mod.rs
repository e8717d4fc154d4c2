//! The per-file state that every process lock object of one process shares.
//!
//! A process registry maps (mechanism, file identity) to one [`Entry`]: one
//! open file description and so one kernel lock per file per process. The
//! entry arbitrates between the threads of this process (readers, a writer,
//! writers first) and takes the kernel lock for them: the first holder takes
//! it, further readers join without a system call, the last holder releases it.
//!
//! A blocking or timed acquire of a thread waits in the kernel in the calling
//! thread; a timed one arms an [`Interrupt`](crate::timer::Interrupt), with
//! which the process timer ends the kernel call at the deadline (and again
//! every millisecond until the thread has left it, so a signal that comes
//! just before the call is not lost). An async acquire waits with its waker
//! registered in the entry while the entry's background waiter, one thread
//! per entry started on first need, waits in the kernel and hands the grant
//! over; when the last waiter leaves, [`Entry::leave`] fires the background
//! waiter's interrupt, so no request of this process stays queued in the
//! kernel for nobody, and the thread exits 10 ms after its last job. Without
//! a usable wake-up signal ([`crate::sys::signal`]) both poll instead.
//! At most one kernel acquisition is pending per entry; later callers share it,
//! whatever mode they want: when it is granted in the other mode, the lock is
//! given back and taken again in the mode needed.
//!
//! Holders are recorded as a [`Holder`]: the thread, for the `!Send` guards
//! (so that a thread asking again is told it would deadlock), or a token per
//! acquisition, for the `Send` guards of async acquisitions.
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
//! - here: the entry's state and the acquire/release state machine;
//! - [`identity`]: the open lock file, and the check that it is still the
//!   file at the path;
//! - [`registry`]: the process-wide map from paths to entries, and the
//!   lock objects' handles on them;
//! - [`kernel`]: taking and giving back the kernel lock, in the calling
//!   thread or through the background waiter;
//! - [`task`]: the steps of an async acquisition;
//! - [`object`]: the lock object and its guards.

mod identity;
mod kernel;
mod object;
mod registry;
mod task;
#[cfg(test)]
mod test_support;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Waker;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use crate::sys::{fork, Mechanism, Mode};
use crate::{Error, Result};

use identity::{FileId, OpenFile};
pub(crate) use object::{Held, LockFile, SendHeld};

/// How long an acquire may wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Not at all.
    Try,
    /// As long as it takes.
    Forever,
    /// At most this long.
    For(Duration),
}

/// Who holds a share of the lock in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// A thread, through a `!Send` guard or a Python-style acquire.
    Thread(ThreadId),
    /// One acquisition with a `Send` guard, on whatever thread it runs.
    Token(u64),
}

impl Holder {
    fn current_thread() -> Self {
        thread_local! {
            // `thread::current()` clones the thread's handle: cache its id.
            static ME: ThreadId = thread::current().id();
        }
        Holder::Thread(ME.with(|me| *me))
    }

    pub(crate) fn new_token() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Holder::Token(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// What this process holds, or is getting, in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Unlocked,
    /// One thread (a caller, or the background waiter) is blocked in the kernel.
    Acquiring(Mode),
    /// Granted; it belongs to the in-process holders, or, if there are none,
    /// to whichever waiter claims it next.
    Held(Mode),
}

/// An operation on the lock file that the OS refused, before the path is known.
type OsError = (&'static str, io::Error);

#[derive(Debug)]
struct State {
    readers: Vec<Holder>,
    writer: Option<Holder>,
    /// Acquisitions of the exclusive side under way; new readers wait for them.
    waiting_writers: usize,
    /// Acquisitions under way, of either side, by threads and tasks.
    waiters: usize,
    /// Those of `waiters` that are threads, which wait on `Entry::changed`.
    sync_waiters: usize,
    /// The wakers of the waiting tasks, by token; taken (and woken) at every change.
    wakers: Vec<(u64, Waker)>,
    kernel: Kernel,
    /// `Some` whenever `kernel` is not `Unlocked`.
    file: Option<Arc<OpenFile>>,
    /// A failure of the background waiter, for the next waiter to report.
    background_error: Option<OsError>,
    background: Background,
    /// The fork generation this state belongs to (see [`fork`]): a forked
    /// child discards its parent's state on first use.
    generation: u64,
}

impl State {
    fn new(file: Option<Arc<OpenFile>>) -> Self {
        State {
            readers: Vec::new(),
            writer: None,
            waiting_writers: 0,
            waiters: 0,
            sync_waiters: 0,
            wakers: Vec::new(),
            kernel: Kernel::Unlocked,
            file,
            background_error: None,
            background: Background::default(),
            generation: fork::generation(),
        }
    }
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
}

/// The waiters to wake, taken out of the state, to wake once the state mutex
/// is unlocked: a woken thread then finds the mutex free instead of blocking
/// on it again, and a waker may run executor code, which must not find the
/// mutex held.
#[must_use = "wake them after unlocking the state"]
struct Wakeups<'a> {
    /// The condition variable of the waiting threads, if any wait.
    threads: Option<&'a Condvar>,
    tasks: Vec<(u64, Waker)>,
}

impl Wakeups<'_> {
    fn wake(self) {
        if let Some(threads) = self.threads {
            threads.notify_all();
        }
        for (_, waker) in self.tasks {
            waker.wake();
        }
    }
}

/// The shared state of one lock file in this process.
///
/// Lock objects reach it through a [`Handle`]; the background waiter holds
/// it directly, so it outlives the handles while a kernel wait is pending.
///
/// [`Handle`]: registry::Handle
#[derive(Debug)]
pub(crate) struct Entry {
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
    state: Mutex<State>,
    /// Signalled for the waiting threads.
    changed: Condvar,
    /// Signalled for the background waiter: a job, or no handles left.
    work: Condvar,
}

impl Entry {
    fn path(&self) -> &Path {
        &self.path
    }

    fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    #[inline]
    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.generation != fork::generation() {
            self.forked(&mut state);
        }
        state
    }

    /// A forked child's first use of the entry: the holders, waiters and
    /// kernel state are the parent's, and the descriptor now points at
    /// /dev/null. Start afresh; the parent's guards in the child release
    /// nothing.
    #[cold]
    #[inline(never)]
    fn forked(&self, state: &mut State) {
        *state = State::new(None);
        self.identity().open = false;
    }

    fn identity(&self) -> MutexGuard<'_, Identity> {
        self.identity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the entry's file (the next attempt reopens the path); the
    /// registry no longer finds the entry by that file's identity.
    fn forget_file(&self, state: &mut State) {
        state.file = None;
        self.identity().open = false;
    }

    /// Takes the waiters to wake after a change of the state.
    fn notify_waiters(&self, state: &mut State) -> Wakeups<'_> {
        Wakeups {
            // Skipping the wake-up when no thread waits keeps the uncontended
            // path free of futex system calls.
            threads: (state.sync_waiters > 0).then_some(&self.changed),
            tasks: std::mem::take(&mut state.wakers),
        }
    }

    /// Counts an acquisition as under way.
    fn enter(state: &mut State, mode: Mode) {
        state.waiters += 1;
        if mode == Mode::Exclusive {
            state.waiting_writers += 1;
        }
    }

    /// Counts an acquisition as over, acquired or not, and tells the others.
    fn leave(&self, state: &mut State, mode: Mode, acquired: bool) -> Wakeups<'_> {
        state.waiters -= 1;
        if mode == Mode::Exclusive {
            state.waiting_writers -= 1;
        }
        if !acquired && state.waiters == 0 {
            match state.kernel {
                // Granted to waiters who have all given up: nobody will claim it.
                Kernel::Held(_) if state.writer.is_none() && state.readers.is_empty() => {
                    let _ = self.unlock_kernel(state);
                }
                // Only the background waiter can be in the kernel for nobody.
                Kernel::Acquiring(_) => self.stop_background_wait(state),
                _ => {}
            }
        }
        self.notify_waiters(state)
    }

    fn acquire(
        self: &Arc<Self>,
        path: &Path,
        mode: Mode,
        wait: Wait,
        holder: Holder,
    ) -> Result<()> {
        let mut state = self.state();
        if let Some(result) = self.acquire_uncontended(&mut state, path, mode, holder) {
            return result;
        }
        let (wait, deadline) = wait.deadline();
        if matches!(holder, Holder::Thread(_))
            && (state.writer == Some(holder) || state.readers.contains(&holder))
        {
            return Err(Error::would_deadlock(
                path,
                "this thread already holds this lock file (process locks are not re-entrant)",
            ));
        }
        Self::enter(&mut state, mode);
        state.sync_waiters += 1;
        let (mut state, result) = self.acquire_as_waiter(state, path, mode, wait, deadline, holder);
        state.sync_waiters -= 1;
        let wakeups = self.leave(&mut state, mode, result.is_ok());
        drop(state);
        wakeups.wake();
        result
    }

    /// The fast path of an acquisition: nobody of this process holds the
    /// lock or waits for it, and the kernel lock is free of this process's
    /// requests, so one attempt in the kernel decides (with the identity
    /// check after a grant). `None` if the state is not that simple, or the
    /// attempt failed: the caller takes the general path.
    fn acquire_uncontended(
        &self,
        state: &mut State,
        path: &Path,
        mode: Mode,
        holder: Holder,
    ) -> Option<Result<()>> {
        let idle = state.writer.is_none()
            && state.readers.is_empty()
            && state.waiters == 0
            && state.kernel == Kernel::Unlocked
            && state.background_error.is_none();
        let file = state.file.as_ref().filter(|_| idle)?;
        if file.allows(mode).is_err() {
            return None;
        }
        match self.mechanism().try_lock(&file.file, mode) {
            Ok(true) => {}
            Ok(false) | Err(_) => return None,
        }
        match self.verify(state) {
            Ok(true) => {
                state.kernel = Kernel::Held(mode);
                claim(state, mode, holder);
                Some(Ok(()))
            }
            // The path names another file now; the general path reopens.
            Ok(false) => None,
            Err((action, err)) => Some(Err(Error::io(path, action, err))),
        }
    }

    fn acquire_as_waiter<'a>(
        self: &'a Arc<Self>,
        mut state: MutexGuard<'a, State>,
        path: &Path,
        mode: Mode,
        wait: Wait,
        deadline: Option<Instant>,
        holder: Holder,
    ) -> (MutexGuard<'a, State>, Result<()>) {
        loop {
            match self.step(&mut state, path, mode, wait, deadline, holder, true) {
                Step::Done(result) => return (state, result),
                Step::Block => {
                    let result;
                    (state, result) = self.block_in_kernel(state, mode, deadline);
                    if let Err((action, err)) = result {
                        return (state, Err(Error::io(path, action, err)));
                    }
                }
                Step::Wait => {
                    state = match deadline {
                        Some(deadline) => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            self.changed
                                .wait_timeout(state, left)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0
                        }
                        None => self
                            .changed
                            .wait(state)
                            .unwrap_or_else(PoisonError::into_inner),
                    };
                }
            }
        }
    }

    /// Everything an acquirer can do now without waiting: take the lock (from
    /// the kernel, from readers it may join, or as a grant nobody claimed),
    /// fail, or start the kernel wait and say what to wait for.
    #[allow(clippy::too_many_arguments)]
    fn step(
        self: &Arc<Self>,
        state: &mut State,
        path: &Path,
        mode: Mode,
        wait: Wait,
        deadline: Option<Instant>,
        holder: Holder,
        can_block: bool,
    ) -> Step {
        let io_error = |(action, err): OsError| Step::Done(Err(Error::io(path, action, err)));
        let wait_or_give_up = || match wait {
            Wait::Try => Step::Done(Err(Error::would_block(path))),
            Wait::For(timeout) if deadline.is_some_and(|d| Instant::now() >= d) => {
                Step::Done(Err(Error::timed_out(path, timeout)))
            }
            _ => Step::Wait,
        };
        loop {
            if let Some(err) = state.background_error.take() {
                return io_error(err);
            }
            let conflict = state.writer.is_some()
                || match mode {
                    Mode::Exclusive => !state.readers.is_empty(),
                    Mode::Shared => state.waiting_writers > 0,
                };
            if conflict {
                return wait_or_give_up();
            }
            if !state.readers.is_empty() {
                // Readers hold the kernel lock shared: join them.
                state.readers.push(holder);
                return Step::Done(Ok(()));
            }
            match state.kernel {
                Kernel::Held(held) if held == mode => {
                    claim(state, mode, holder);
                    return Step::Done(Ok(()));
                }
                Kernel::Held(_) => {
                    // Granted in the other mode to a waiter who left.
                    if let Err(err) = self.unlock_kernel(state) {
                        return io_error(("unlock", err));
                    }
                }
                Kernel::Unlocked => match self.try_kernel(state, mode) {
                    Err(err) => return io_error(err),
                    Ok(true) => {
                        claim(state, mode, holder);
                        return Step::Done(Ok(()));
                    }
                    Ok(false) => {
                        if let step @ Step::Done(_) = wait_or_give_up() {
                            return step;
                        }
                        if can_block {
                            return Step::Block;
                        }
                        if let Err(err) = self.start_background(state, mode) {
                            return io_error(err);
                        }
                        return Step::Wait;
                    }
                },
                Kernel::Acquiring(_) => return wait_or_give_up(),
            }
        }
    }

    fn release(&self, path: &Path, mode: Mode, holder: Holder) -> Result<()> {
        let mut state = self.state();
        match mode {
            Mode::Exclusive if state.writer == Some(holder) => state.writer = None,
            Mode::Shared => match state.readers.iter().position(|&reader| reader == holder) {
                Some(index) => {
                    state.readers.swap_remove(index);
                }
                None => return Err(Error::not_held(path, "this thread holds no read lock")),
            },
            Mode::Exclusive => {
                return Err(Error::not_held(path, "this thread holds no write lock"))
            }
        }
        // Release order: the in-process hold first, then (if it was the last
        // one) the kernel lock, both under the state mutex, and only then wake
        // the waiters, so a woken waiter of this process finds the kernel lock
        // already given back and competes for it on equal terms with others.
        let last = state.writer.is_none() && state.readers.is_empty();
        let result = match state.kernel {
            Kernel::Held(_) if last => self
                .unlock_kernel(&mut state)
                .map_err(|err| Error::io(path, "unlock", err)),
            _ => Ok(()),
        };
        if state.waiters == 0 {
            // Nobody to tell (no thread waits, no task has a waker here).
            return result;
        }
        let wakeups = self.notify_waiters(&mut state);
        drop(state);
        wakeups.wake();
        result
    }
}

/// What an acquirer does next, as [`Entry::step`] decides.
enum Step {
    /// Acquired, or failed.
    Done(Result<()>),
    /// Wait in the kernel in this thread, until the deadline if there is one
    /// (acquires of threads only).
    Block,
    /// Wait for a change of the state (or the deadline).
    Wait,
}

fn claim(state: &mut State, mode: Mode, holder: Holder) {
    match mode {
        Mode::Shared => state.readers.push(holder),
        Mode::Exclusive => state.writer = Some(holder),
    }
}

impl Wait {
    /// The deadline of a timed wait; a timeout too long to represent is no timeout.
    fn deadline(self) -> (Wait, Option<Instant>) {
        match self {
            Wait::For(timeout) => match Instant::now().checked_add(timeout) {
                Some(deadline) => (self, Some(deadline)),
                None => (Wait::Forever, None),
            },
            _ => (self, None),
        }
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
