//! The per-file state that every process lock object of one process shares.
//!
//! A process registry maps (mechanism, absolute path) to one [`Entry`]: one
//! open file description and so one kernel lock per file per process. The
//! entry arbitrates between the threads of this process (readers, a writer,
//! writers first) and takes the kernel lock for them: the first holder takes
//! it, further readers join without a system call, the last holder releases it.
//!
//! A blocking acquire waits in the kernel in the calling thread. A timed
//! acquire waits on a condition variable while a background thread waits in
//! the kernel on the entry's descriptor; if every timed caller gives up, that
//! thread still gets the kernel lock eventually, releases it at once, and exits.
//! At most one kernel acquisition is pending per entry; later callers share it,
//! whatever mode they want: when it is granted in the other mode, the lock is
//! given back and taken again in the mode needed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use crate::sys::{Mechanism, Mode};
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
}

#[derive(Debug)]
struct State {
    readers: Vec<ThreadId>,
    writer: Option<ThreadId>,
    /// Threads inside an exclusive acquire; new readers wait for them.
    waiting_writers: usize,
    /// Threads inside any acquire (writers included).
    waiters: usize,
    kernel: Kernel,
    /// `Some` whenever `kernel` is not `Unlocked`.
    file: Option<Arc<OpenFile>>,
    /// A failure of the background waiter, for the next waiter to report.
    background_error: Option<OsError>,
}

type Key = (Mechanism, PathBuf);

/// The shared state of one lock file in this process.
#[derive(Debug)]
struct Entry {
    key: Key,
    state: Mutex<State>,
    changed: Condvar,
}

fn registry() -> &'static Mutex<HashMap<Key, Weak<Entry>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<Key, Weak<Entry>>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The entry of `path`, shared with every other lock object for it.
fn entry_for(mechanism: Mechanism, path: &Path) -> io::Result<Arc<Entry>> {
    let key = (mechanism, std::path::absolute(path)?);
    let mut map = registry().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(entry) = map.get(&key).and_then(Weak::upgrade) {
        return Ok(entry);
    }
    let entry = Arc::new(Entry {
        key: key.clone(),
        state: Mutex::new(State {
            readers: Vec::new(),
            writer: None,
            waiting_writers: 0,
            waiters: 0,
            kernel: Kernel::Unlocked,
            file: None,
            background_error: None,
        }),
        changed: Condvar::new(),
    });
    map.insert(key, Arc::downgrade(&entry));
    Ok(entry)
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
    Ok(OpenFile { file, id })
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
    fn verify(&self, state: &mut State) -> std::result::Result<bool, OsError> {
        #[cfg(unix)]
        {
            let Some(file) = &state.file else {
                return Ok(false);
            };
            let same = match std::fs::metadata(self.path()) {
                Ok(metadata) => FileId::of(&metadata) == file.id,
                Err(err) if err.kind() == io::ErrorKind::NotFound => false,
                Err(err) => {
                    let _ = self.mechanism().unlock(&file.file);
                    state.file = None;
                    return Err(("stat", err));
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

    fn notify_waiters(&self, state: &State) {
        // Skipping the wake-up when nobody waits keeps the uncontended path
        // free of futex system calls.
        if state.waiters > 0 {
            self.changed.notify_all();
        }
    }

    fn acquire(self: &Arc<Self>, path: &Path, mode: Mode, wait: Wait, me: ThreadId) -> Result<()> {
        let deadline = match wait {
            Wait::For(timeout) => Instant::now().checked_add(timeout),
            _ => None,
        };
        // A timeout too long to represent is no timeout.
        let wait = match (wait, deadline) {
            (Wait::For(_), None) => Wait::Forever,
            _ => wait,
        };
        let mut state = self.state();
        if state.writer == Some(me) || state.readers.contains(&me) {
            return Err(Error::would_deadlock(
                path,
                "this thread already holds this lock file (process locks are not re-entrant)",
            ));
        }
        state.waiters += 1;
        if mode == Mode::Exclusive {
            state.waiting_writers += 1;
        }
        let (mut state, result) = self.acquire_as_waiter(state, path, mode, wait, deadline, me);
        state.waiters -= 1;
        if mode == Mode::Exclusive {
            state.waiting_writers -= 1;
        }
        if result.is_err()
            && state.waiters == 0
            && state.writer.is_none()
            && state.readers.is_empty()
            && matches!(state.kernel, Kernel::Held(_))
        {
            // Granted to waiters who have all given up: nobody will claim it.
            let _ = self.unlock_kernel(&mut state);
        }
        self.notify_waiters(&state);
        result
    }

    fn acquire_as_waiter<'a>(
        self: &'a Arc<Self>,
        mut state: MutexGuard<'a, State>,
        path: &Path,
        mode: Mode,
        wait: Wait,
        deadline: Option<Instant>,
        me: ThreadId,
    ) -> (MutexGuard<'a, State>, Result<()>) {
        let io_error = |(action, err): OsError| Error::io(path, action, err);
        loop {
            if let Some(err) = state.background_error.take() {
                return (state, Err(io_error(err)));
            }
            let conflict = state.writer.is_some()
                || match mode {
                    Mode::Exclusive => !state.readers.is_empty(),
                    Mode::Shared => state.waiting_writers > 0,
                };
            if !conflict {
                if !state.readers.is_empty() {
                    // Readers hold the kernel lock shared: join them.
                    state.readers.push(me);
                    return (state, Ok(()));
                }
                match state.kernel {
                    Kernel::Held(held) if held == mode => {
                        claim(&mut state, mode, me);
                        return (state, Ok(()));
                    }
                    Kernel::Held(_) => {
                        // Granted in the other mode to a waiter who left.
                        if let Err(err) = self.unlock_kernel(&mut state) {
                            return (state, Err(io_error(("unlock", err))));
                        }
                        continue;
                    }
                    Kernel::Unlocked => match self.try_kernel(&mut state, mode) {
                        Err(err) => return (state, Err(io_error(err))),
                        Ok(true) => {
                            claim(&mut state, mode, me);
                            return (state, Ok(()));
                        }
                        Ok(false) => match wait {
                            Wait::Try => return (state, Err(Error::would_block(path))),
                            Wait::Forever => {
                                let result;
                                (state, result) = self.block_in_kernel(state, mode);
                                if let Err(err) = result {
                                    return (state, Err(io_error(err)));
                                }
                                continue;
                            }
                            Wait::For(timeout) => {
                                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                                    return (state, Err(Error::timed_out(path, timeout)));
                                }
                                if let Err(err) = self.start_background(&mut state, mode) {
                                    return (state, Err(io_error(err)));
                                }
                            }
                        },
                    },
                    Kernel::Acquiring(_) => {
                        if let Wait::Try = wait {
                            return (state, Err(Error::would_block(path)));
                        }
                    }
                }
            } else if let Wait::Try = wait {
                return (state, Err(Error::would_block(path)));
            }
            state = match (wait, deadline) {
                (Wait::For(timeout), Some(deadline)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return (state, Err(Error::timed_out(path, timeout)));
                    }
                    self.changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                _ => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
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
        self.notify_waiters(&state);
        (state, result)
    }

    fn start_background(
        self: &Arc<Self>,
        state: &mut State,
        mode: Mode,
    ) -> std::result::Result<(), OsError> {
        let Some(file) = state.file.clone() else {
            return Ok(());
        };
        let entry = Arc::clone(self);
        thread::Builder::new()
            .name("fasteners-lock-waiter".into())
            .spawn(move || entry.wait_in_background(file, mode))
            .map_err(|err| ("start a waiting thread for", err))?;
        state.kernel = Kernel::Acquiring(mode);
        Ok(())
    }

    /// The background waiter: blocks in the kernel, then hands the lock to
    /// the waiters, or releases it at once if all of them have given up.
    fn wait_in_background(self: Arc<Self>, mut file: Arc<OpenFile>, mode: Mode) {
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
            self.notify_waiters(&state);
            return;
        }
    }

    fn release(&self, path: &Path, mode: Mode, me: ThreadId) -> Result<()> {
        let mut state = self.state();
        match mode {
            Mode::Exclusive if state.writer == Some(me) => state.writer = None,
            Mode::Shared => match state.readers.iter().position(|&reader| reader == me) {
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
        // the waiters, so a woken thread of this process finds the kernel lock
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
        self.notify_waiters(&state);
        result
    }
}

fn claim(state: &mut State, mode: Mode, me: ThreadId) {
    match mode {
        Mode::Shared => state.readers.push(me),
        Mode::Exclusive => state.writer = Some(me),
    }
}

/// One lock object's handle on its file: the path as the user gave it (for
/// errors), the mechanism, the shared entry once resolved, and the holders of
/// the Python-style `acquire`/`release` pairs, which have no guard.
#[derive(Debug)]
pub(crate) struct LockFile {
    path: PathBuf,
    mechanism: Mechanism,
    entry: OnceLock<Arc<Entry>>,
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
        let me = thread::current().id();
        self.entry()?.acquire(&self.path, mode, wait, me)?;
        Ok(Held {
            file: Some(self),
            mode,
            thread: me,
            _not_send: PhantomData,
        })
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
                acquired.push((held.thread, mode));
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
        self.release(mode, me)
    }

    fn release(&self, mode: Mode, me: ThreadId) -> Result<()> {
        match self.entry.get() {
            Some(entry) => entry.release(&self.path, mode, me),
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
            let _ = self.release(mode, thread);
        }
    }
}

/// The part every process lock guard shares: releases on drop.
///
/// `!Send`: the in-process bookkeeping records the holding thread, so the
/// guard must be released by the thread that took it.
#[derive(Debug)]
pub(crate) struct Held<'a> {
    file: Option<&'a LockFile>,
    mode: Mode,
    thread: ThreadId,
    _not_send: PhantomData<*const ()>,
}

impl Held<'_> {
    pub(crate) fn path(&self) -> &Path {
        self.file.map_or(Path::new(""), LockFile::path)
    }

    pub(crate) fn release(mut self) -> Result<()> {
        match self.file.take() {
            Some(file) => file.release(self.mode, self.thread),
            None => Ok(()),
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Nobody to report an unlock error to; `release` reports it.
            let _ = file.release(self.mode, self.thread);
        }
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

    #[test]
    fn an_empty_path_is_an_io_error() {
        let err = LockFile::new(Path::new(""), Mechanism::default())
            .acquire(Mode::Shared, Wait::Forever)
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Io);
    }
}
