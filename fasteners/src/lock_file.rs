//! The per-file state that every process lock object of one process shares.
//!
//! A process registry maps (mechanism, absolute path) to one [`Entry`]: one
//! open file description and so one kernel lock per file per process. The
//! entry arbitrates between the threads of this process (readers, a writer,
//! writers first) and takes the kernel lock for them: the first holder takes
//! it, further readers join without a system call, the last holder releases it.
//!
//! A blocking acquire waits in the kernel in the calling thread. A timed or
//! async acquire waits on a condition variable (threads) or with its waker
//! registered in the entry (tasks) while the entry's background waiter, one
//! thread per entry started on first need and parked when idle, waits in the
//! kernel on the entry's descriptor and hands the grant over. If every waiter
//! gives up, the background waiter still gets the kernel lock eventually and
//! releases it at once. It exits when no lock object uses the entry any more
//! and it has nothing left to wait for.
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

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use crate::sys::{Mechanism, Mode};
use crate::timer::Alarm;
use crate::{Error, Result};

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
        Holder::Thread(thread::current().id())
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
struct OpenFile {
    file: File,
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
    /// Lock objects of this process that use the entry.
    handles: usize,
}

/// The background waiter's side of the state.
#[derive(Debug, Default)]
struct Background {
    /// Its thread runs (it may be parked).
    running: bool,
    /// The kernel acquisition it is to start next.
    job: Option<(Mode, Arc<OpenFile>)>,
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

type Key = (Mechanism, PathBuf);

/// The shared state of one lock file in this process.
///
/// Lock objects reach it through a [`Handle`]; the background waiter holds
/// it directly, so it outlives the handles while a kernel wait is pending.
#[derive(Debug)]
pub(crate) struct Entry {
    key: Key,
    state: Mutex<State>,
    /// Signalled for the waiting threads.
    changed: Condvar,
    /// Signalled for the background waiter: a job, or no handles left.
    work: Condvar,
}

/// A lock object's reference to an entry; when the last one goes, the
/// background waiter exits as soon as it has nothing to wait for.
#[derive(Debug)]
struct Handle(Arc<Entry>);

impl Deref for Handle {
    type Target = Arc<Entry>;

    fn deref(&self) -> &Arc<Entry> {
        &self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.handles -= 1;
        if state.handles == 0 {
            self.0.work.notify_one();
        }
    }
}

fn registry() -> &'static Mutex<HashMap<Key, Weak<Entry>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<Key, Weak<Entry>>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The entry of `path`, shared with every other lock object for it.
fn entry_for(mechanism: Mechanism, path: &Path) -> io::Result<Handle> {
    let key = (mechanism, std::path::absolute(path)?);
    let mut map = registry().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(entry) = map.get(&key).and_then(Weak::upgrade) {
        entry.state().handles += 1;
        return Ok(Handle(entry));
    }
    let entry = Arc::new(Entry {
        key: key.clone(),
        state: Mutex::new(State {
            readers: Vec::new(),
            writer: None,
            waiting_writers: 0,
            waiters: 0,
            sync_waiters: 0,
            wakers: Vec::new(),
            kernel: Kernel::Unlocked,
            file: None,
            background_error: None,
            background: Background::default(),
            handles: 1,
        }),
        changed: Condvar::new(),
        work: Condvar::new(),
    });
    map.insert(key, Arc::downgrade(&entry));
    Ok(Handle(entry))
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut map = registry().lock().unwrap_or_else(PoisonError::into_inner);
        // A new entry may already have replaced this one under the same key.
        if map
            .get(&self.key)
            .is_some_and(|weak| weak.strong_count() == 0)
        {
            map.remove(&self.key);
        }
    }
}

/// Opens (creating it and its parent directories if needed) the lock file,
/// without truncating or writing it.
fn open(path: &Path) -> std::result::Result<OpenFile, OsError> {
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
    fn path(&self) -> &Path {
        &self.key.1
    }

    fn mechanism(&self) -> Mechanism {
        self.key.0
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open_file(&self, state: &mut State) -> std::result::Result<Arc<OpenFile>, OsError> {
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
    fn verify(&self, state: &mut State) -> std::result::Result<bool, OsError> {
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

    /// Takes the kernel lock without waiting, opening the file if needed.
    fn try_kernel(&self, state: &mut State, mode: Mode) -> std::result::Result<bool, OsError> {
        loop {
            let file = self.open_file(state)?;
            let locked = self
                .mechanism()
                .try_lock(&file.file, mode)
                .map_err(|err| ("lock", err))?;
            if !locked {
                return Ok(false);
            }
            if self.verify(state)? {
                state.kernel = Kernel::Held(mode);
                return Ok(true);
            }
        }
    }

    /// Releases the kernel lock. If unlocking fails, the description is
    /// dropped, which releases the lock once nothing else uses it.
    fn unlock_kernel(&self, state: &mut State) -> io::Result<()> {
        state.kernel = Kernel::Unlocked;
        let result = match &state.file {
            Some(file) => self.mechanism().unlock(&file.file),
            None => Ok(()),
        };
        if result.is_err() {
            state.file = None;
        }
        result
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
        if !acquired
            && state.waiters == 0
            && state.writer.is_none()
            && state.readers.is_empty()
            && matches!(state.kernel, Kernel::Held(_))
        {
            // Granted to waiters who have all given up: nobody will claim it.
            let _ = self.unlock_kernel(state);
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
        let (wait, deadline) = wait.deadline();
        let mut state = self.state();
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
                    (state, result) = self.block_in_kernel(state, mode);
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
                        if matches!(wait, Wait::Forever) && can_block {
                            return Step::Block;
                        }
                        if let step @ Step::Done(_) = wait_or_give_up() {
                            return step;
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

    /// Waits in the kernel in this thread, with the state unlocked meanwhile;
    /// on success the kernel lock is `Held(mode)` and unclaimed.
    fn block_in_kernel<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        mode: Mode,
    ) -> (MutexGuard<'a, State>, std::result::Result<(), OsError>) {
        let Some(file) = state.file.clone() else {
            // try_kernel just opened it; nothing to wait on otherwise.
            return (state, Ok(()));
        };
        state.kernel = Kernel::Acquiring(mode);
        drop(state);
        let locked = self.mechanism().lock(&file.file, mode);
        let mut state = self.state();
        let result = match locked {
            Err(err) => {
                state.kernel = Kernel::Unlocked;
                Err(("lock", err))
            }
            Ok(()) => match self.verify(&mut state) {
                Ok(true) => {
                    state.kernel = Kernel::Held(mode);
                    Ok(())
                }
                Ok(false) => {
                    state.kernel = Kernel::Unlocked;
                    Ok(())
                }
                Err(err) => {
                    state.kernel = Kernel::Unlocked;
                    Err(err)
                }
            },
        };
        // The waiting tasks hear of it when this acquisition ends (`leave`):
        // until then this thread keeps the state locked or waits in the kernel.
        if state.sync_waiters > 1 {
            self.changed.notify_all();
        }
        (state, result)
    }

    /// Has the background waiter wait in the kernel for `mode`, starting its
    /// thread if it does not run.
    fn start_background(
        self: &Arc<Self>,
        state: &mut State,
        mode: Mode,
    ) -> std::result::Result<(), OsError> {
        let Some(file) = state.file.clone() else {
            return Ok(());
        };
        if !state.background.running {
            let entry = Arc::clone(self);
            thread::Builder::new()
                .name("fasteners-lock-waiter".into())
                .spawn(move || entry.run_background())
                .map_err(|err| ("start a waiting thread for", err))?;
            state.background.running = true;
        }
        state.background.job = Some((mode, file));
        state.kernel = Kernel::Acquiring(mode);
        self.work.notify_one();
        Ok(())
    }

    /// The background waiter's thread: runs the jobs it is given, parks in
    /// between, and exits once no lock object uses the entry (its `Arc` may
    /// be the last one: the entry then goes, closing the file).
    fn run_background(self: Arc<Self>) {
        let mut state = self.state();
        loop {
            if let Some((mode, file)) = state.background.job.take() {
                drop(state);
                self.wait_in_background(file, mode);
                state = self.state();
            } else if state.handles == 0 {
                state.background.running = false;
                return;
            } else {
                state = self
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    /// One job of the background waiter: blocks in the kernel, then hands
    /// the lock to the waiters, or releases it at once if all of them have
    /// given up.
    fn wait_in_background(&self, mut file: Arc<OpenFile>, mode: Mode) {
        loop {
            let locked = self.mechanism().lock(&file.file, mode);
            let mut state = self.state();
            let outcome = locked
                .map_err(|err| ("lock", err))
                .and_then(|()| self.verify(&mut state));
            match outcome {
                Ok(true) => {
                    state.kernel = Kernel::Held(mode);
                    if state.waiters == 0 {
                        let _ = self.unlock_kernel(&mut state);
                    }
                }
                Ok(false) if state.waiters > 0 => match self.open_file(&mut state) {
                    // The path names a new file: wait for that one instead.
                    Ok(reopened) => {
                        file = reopened;
                        continue;
                    }
                    Err(err) => {
                        state.kernel = Kernel::Unlocked;
                        state.background_error = Some(err);
                    }
                },
                Ok(false) => state.kernel = Kernel::Unlocked,
                Err(err) => {
                    state.kernel = Kernel::Unlocked;
                    if state.waiters > 0 {
                        state.background_error = Some(err);
                    }
                }
            }
            let wakeups = self.notify_waiters(&mut state);
            drop(state);
            wakeups.wake();
            return;
        }
    }

    /// One poll of an async acquisition: `Ready` once it holds the lock or
    /// failed; otherwise its waker is registered for the next change.
    fn poll_acquire(
        self: &Arc<Self>,
        path: &Path,
        progress: &mut Progress,
        cx: &mut Context<'_>,
    ) -> Poll<Result<()>> {
        let mut state = self.state();
        if !progress.entered {
            Self::enter(&mut state, progress.mode);
            progress.entered = true;
        }
        let step = self.step(
            &mut state,
            path,
            progress.mode,
            progress.wait,
            progress.deadline,
            progress.holder,
            false,
        );
        match step {
            Step::Done(result) => {
                progress.entered = false;
                let token = progress.token();
                state.wakers.retain(|(waiting, _)| *waiting != token);
                let wakeups = self.leave(&mut state, progress.mode, result.is_ok());
                drop(state);
                wakeups.wake();
                Poll::Ready(result)
            }
            Step::Wait | Step::Block => {
                let token = progress.token();
                match state
                    .wakers
                    .iter_mut()
                    .find(|(waiting, _)| *waiting == token)
                {
                    Some((_, waker)) => waker.clone_from(cx.waker()),
                    None => state.wakers.push((token, cx.waker().clone())),
                }
                Poll::Pending
            }
        }
    }

    /// Abandons an async acquisition under way (its future was dropped): a
    /// grant that came for it goes to the other waiters, or back to the kernel.
    fn cancel(&self, progress: &mut Progress) {
        if !progress.entered {
            return;
        }
        progress.entered = false;
        let mut state = self.state();
        let token = progress.token();
        state.wakers.retain(|(waiting, _)| *waiting != token);
        let wakeups = self.leave(&mut state, progress.mode, false);
        drop(state);
        wakeups.wake();
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
        let mut result = Ok(());
        if state.writer.is_none()
            && state.readers.is_empty()
            && matches!(state.kernel, Kernel::Held(_))
        {
            result = self
                .unlock_kernel(&mut state)
                .map_err(|err| Error::io(path, "unlock", err));
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
    /// Wait in the kernel in this thread (blocking acquires of threads only).
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

/// An async acquisition's progress, kept in its future.
#[derive(Debug)]
struct Progress {
    mode: Mode,
    wait: Wait,
    deadline: Option<Instant>,
    holder: Holder,
    /// Counted among the entry's waiters.
    entered: bool,
}

impl Progress {
    fn token(&self) -> u64 {
        match self.holder {
            Holder::Token(token) => token,
            Holder::Thread(_) => unreachable!("async acquisitions hold by token"),
        }
    }
}

/// One lock object's handle on its file: the path as the user gave it (for
/// errors), the mechanism, the shared entry once resolved, and the holders of
/// the Python-style `acquire`/`release` pairs, which have no guard.
#[derive(Debug)]
pub(crate) struct LockFile {
    path: PathBuf,
    mechanism: Mechanism,
    entry: OnceLock<Handle>,
    acquired: Mutex<Vec<(ThreadId, Mode)>>,
}

impl LockFile {
    pub(crate) fn new(path: &Path, mechanism: Mechanism) -> Self {
        LockFile {
            path: path.to_owned(),
            mechanism,
            entry: OnceLock::new(),
            acquired: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    fn entry(&self) -> Result<&Arc<Entry>> {
        if let Some(entry) = self.entry.get() {
            return Ok(entry);
        }
        let entry = entry_for(self.mechanism, &self.path)
            .map_err(|err| Error::io(&self.path, "open", err))?;
        Ok(self.entry.get_or_init(|| entry))
    }

    /// Takes the lock in `mode` for the calling thread, returning its guard.
    pub(crate) fn acquire(&self, mode: Mode, wait: Wait) -> Result<Held<'_>> {
        let holder = Holder::current_thread();
        self.entry()?.acquire(&self.path, mode, wait, holder)?;
        Ok(Held {
            inner: SendHeld {
                file: Some(self),
                mode,
                holder,
            },
            _not_send: PhantomData,
        })
    }

    /// Takes the lock in `mode` without waiting, for a `Send` guard.
    pub(crate) fn try_acquire_send(&self, mode: Mode) -> Result<SendHeld<'_>> {
        let holder = Holder::new_token();
        self.entry()?.acquire(&self.path, mode, Wait::Try, holder)?;
        Ok(SendHeld {
            file: Some(self),
            mode,
            holder,
        })
    }

    /// The future of an async acquisition of `mode`, for a `Send` guard.
    pub(crate) fn acquire_async(&self, mode: Mode, wait: Wait) -> Acquire<'_> {
        let (wait, deadline) = wait.deadline();
        Acquire {
            file: self,
            progress: Progress {
                mode,
                wait,
                deadline,
                holder: Holder::new_token(),
                entered: false,
            },
            alarm: None,
            done: false,
        }
    }

    /// Python's `acquire(blocking, timeout)`: `Ok(false)` when the lock is
    /// taken elsewhere; the lock stays held until [`LockFile::release_acquired`].
    pub(crate) fn acquire_unguarded(
        &self,
        mode: Mode,
        blocking: bool,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let wait = match (blocking, timeout) {
            (false, _) => Wait::Try,
            (true, None) => Wait::Forever,
            (true, Some(timeout)) => Wait::For(timeout),
        };
        match self.acquire(mode, wait) {
            Ok(held) => {
                let mut acquired = self.acquired.lock().unwrap_or_else(PoisonError::into_inner);
                acquired.push((thread::current().id(), mode));
                std::mem::forget(held);
                Ok(true)
            }
            Err(err) if err.is_contention() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Releases what the calling thread took with [`LockFile::acquire_unguarded`].
    pub(crate) fn release_acquired(&self, mode: Mode, what: &'static str) -> Result<()> {
        let me = thread::current().id();
        let mut acquired = self.acquired.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(index) = acquired.iter().position(|&taken| taken == (me, mode)) else {
            return Err(Error::not_held(&self.path, what));
        };
        acquired.swap_remove(index);
        drop(acquired);
        self.release(mode, Holder::Thread(me))
    }

    fn release(&self, mode: Mode, holder: Holder) -> Result<()> {
        match self.entry.get() {
            Some(entry) => entry.release(&self.path, mode, holder),
            None => Err(Error::not_held(&self.path, "never acquired")),
        }
    }
}

impl Drop for LockFile {
    /// Gives back what `acquire_unguarded` took and nobody released, so that
    /// it does not stay held by the other lock objects of the process.
    fn drop(&mut self) {
        let acquired = self
            .acquired
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for (thread, mode) in std::mem::take(acquired) {
            let _ = self.release(mode, Holder::Thread(thread));
        }
    }
}

/// The future of an async acquisition: resolves to a `Send` guard.
///
/// Cancel-safe: dropped before it is ready, it leaves the acquisition (see
/// [`Entry::cancel`]); it never holds the lock without handing out the guard,
/// which it makes in the same poll that takes the lock.
#[derive(Debug)]
pub(crate) struct Acquire<'a> {
    file: &'a LockFile,
    progress: Progress,
    alarm: Option<Alarm>,
    done: bool,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SendHeld<'a>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "an acquire future polled after it completed");
        let file = this.file;
        let entry = match file.entry() {
            Ok(entry) => entry,
            Err(err) => {
                this.done = true;
                return Poll::Ready(Err(err));
            }
        };
        match entry.poll_acquire(&file.path, &mut this.progress, cx) {
            Poll::Ready(result) => {
                this.done = true;
                this.alarm = None;
                Poll::Ready(result.map(|()| SendHeld {
                    file: Some(file),
                    mode: this.progress.mode,
                    holder: this.progress.holder,
                }))
            }
            Poll::Pending => {
                if let Some(deadline) = this.progress.deadline {
                    this.alarm
                        .get_or_insert_with(|| Alarm::new(deadline))
                        .arm(cx.waker());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.file.entry.get() {
            entry.cancel(&mut self.progress);
        }
    }
}

/// One holder's share of a lock file, given back on drop: what every process
/// lock guard holds. `Send` and `Sync`: it names its holder explicitly.
#[derive(Debug)]
pub(crate) struct SendHeld<'a> {
    file: Option<&'a LockFile>,
    mode: Mode,
    holder: Holder,
}

impl SendHeld<'_> {
    pub(crate) fn path(&self) -> &Path {
        self.file.map_or(Path::new(""), LockFile::path)
    }

    pub(crate) fn release(mut self) -> Result<()> {
        match self.file.take() {
            Some(file) => file.release(self.mode, self.holder),
            None => Ok(()),
        }
    }
}

impl Drop for SendHeld<'_> {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Nobody to report an unlock error to; `release` reports it.
            let _ = file.release(self.mode, self.holder);
        }
    }
}

/// The guard part of the `!Send` guards of threads.
///
/// `!Send`: the in-process bookkeeping records the holding thread, so the
/// guard must be released by the thread that took it.
#[derive(Debug)]
pub(crate) struct Held<'a> {
    inner: SendHeld<'a>,
    _not_send: PhantomData<*const ()>,
}

impl Held<'_> {
    pub(crate) fn path(&self) -> &Path {
        self.inner.path()
    }

    pub(crate) fn release(self) -> Result<()> {
        self.inner.release()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("fasteners-unit-{}-{name}", std::process::id()))
    }

    #[test]
    fn objects_for_one_file_share_one_entry_per_mechanism() {
        let path = temp_path("shared.lock");
        let dotted = path
            .parent()
            .unwrap()
            .join(".")
            .join(path.file_name().unwrap());
        let a = LockFile::new(&path, Mechanism::Flock);
        let b = LockFile::new(&dotted, Mechanism::Flock);
        assert!(Arc::ptr_eq(a.entry().unwrap(), b.entry().unwrap()));
        #[cfg(target_os = "linux")]
        {
            let c = LockFile::new(&path, Mechanism::Ofd);
            assert!(!Arc::ptr_eq(a.entry().unwrap(), c.entry().unwrap()));
        }
    }

    #[test]
    fn the_registry_forgets_dropped_entries() {
        let path = temp_path("forgotten.lock");
        let key = (Mechanism::Flock, std::path::absolute(&path).unwrap());
        let lock = LockFile::new(&path, Mechanism::Flock);
        lock.entry().unwrap();
        assert!(registry().lock().unwrap().contains_key(&key));
        drop(lock);
        assert!(!registry().lock().unwrap().contains_key(&key));
    }

    #[test]
    fn dropping_the_object_gives_back_an_unreleased_acquire() {
        let path = temp_path("unreleased.lock");
        let keeper = LockFile::new(&path, Mechanism::default());
        let lock = LockFile::new(&path, Mechanism::default());
        assert!(lock
            .acquire_unguarded(Mode::Exclusive, false, None)
            .unwrap());
        drop(lock);
        // The entry lives on through `keeper`, and it is free.
        drop(keeper.acquire(Mode::Exclusive, Wait::Try).unwrap());
        drop(keeper);
        std::fs::remove_file(&path).unwrap();
    }

    /// Another open file description holds the lock, as another process would.
    #[cfg(target_os = "linux")]
    fn hold_elsewhere(path: &Path) -> File {
        let file = open(path).unwrap().file;
        assert!(Mechanism::Ofd.try_lock(&file, Mode::Exclusive).unwrap());
        file
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn one_persistent_background_waiter_per_entry_gone_with_the_last_object() {
        let path = temp_path("persistent-waiter.lock");
        let elsewhere = hold_elsewhere(&path);
        let lock = LockFile::new(&path, Mechanism::Ofd);
        let entry = Arc::downgrade(lock.entry().unwrap());
        for _ in 0..3 {
            let err = lock
                .acquire(Mode::Exclusive, Wait::For(Duration::from_millis(2)))
                .unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::TimedOut);
        }
        // Another object shares the entry and its waiter, still in the kernel.
        let other = LockFile::new(&path, Mechanism::Ofd);
        assert!(Arc::ptr_eq(
            &entry.upgrade().unwrap(),
            other.entry().unwrap()
        ));
        assert!(other.entry().unwrap().state().background.running);
        drop((lock, other));
        // The waiter outlives the objects while in the kernel...
        assert!(entry.upgrade().is_some());
        Mechanism::Ofd.unlock(&elsewhere).unwrap();
        // ...then gives the grant back and exits, dropping the entry.
        let deadline = Instant::now() + Duration::from_secs(20);
        while entry.strong_count() > 0 {
            assert!(
                Instant::now() < deadline,
                "the background waiter did not exit"
            );
            thread::sleep(Duration::from_millis(1));
        }
        assert!(Mechanism::Ofd
            .try_lock(&elsewhere, Mode::Exclusive)
            .unwrap());
        drop(elsewhere);
        std::fs::remove_file(&path).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_dropped_acquire_future_leaves_the_waiter_list() {
        use std::task::Wake;
        struct Nothing;
        impl Wake for Nothing {
            fn wake(self: Arc<Self>) {}
        }
        let path = temp_path("dropped-future.lock");
        let elsewhere = hold_elsewhere(&path);
        let lock = LockFile::new(&path, Mechanism::Ofd);
        let waker = Waker::from(Arc::new(Nothing));
        let mut cx = Context::from_waker(&waker);
        let mut future = Box::pin(lock.acquire_async(Mode::Exclusive, Wait::Forever));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        {
            let state = lock.entry().unwrap().state();
            assert_eq!(
                (state.waiters, state.waiting_writers, state.wakers.len()),
                (1, 1, 1)
            );
        }
        drop(future);
        {
            let state = lock.entry().unwrap().state();
            assert_eq!(
                (state.waiters, state.waiting_writers, state.wakers.len()),
                (0, 0, 0)
            );
        }
        Mechanism::Ofd.unlock(&elsewhere).unwrap();
        // The grant that comes for nobody is given back at once.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Mechanism::Ofd
            .try_lock(&elsewhere, Mode::Exclusive)
            .unwrap()
        {
            assert!(Instant::now() < deadline, "the grant was kept");
            thread::sleep(Duration::from_millis(1));
        }
        drop((lock, elsewhere));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_empty_path_is_an_io_error() {
        let err = LockFile::new(Path::new(""), Mechanism::default())
            .acquire(Mode::Shared, Wait::Forever)
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Io);
    }
}
