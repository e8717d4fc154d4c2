//! The lock object of one file, the future of its async acquisitions, and
//! its guards.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use crate::notice::Notice;
use crate::owned::FileRef;
use crate::sys::{fork, Mechanism, Mode};
use crate::{named, Error, ErrorKind, Result};

use super::identity;
use super::registry::{entry_for, Handle};
use super::{Entry, Holder, Wait};
use crate::arbiter::{Progress, Raw};

/// One lock object's handle on its file: the path as the user gave it (for
/// errors), the mechanism, the shared entry once resolved, the holders of
/// the Python-style `acquire`/`release` pairs, which have no guard, and what
/// to run when an acquisition has to wait.
pub(crate) struct LockFile {
    /// Shared with the entry when absolute (the entry's path for reopening).
    path: Arc<Path>,
    mechanism: Mechanism,
    /// For a named lock: the name, and the rule it breaks if it is invalid.
    name: Option<(String, Option<&'static str>)>,
    entry: OnceLock<Handle>,
    /// The holds of `acquire_unguarded`, with the fork generation they were
    /// taken in: a forked child does not hold its parent's.
    acquired: Mutex<Vec<(ThreadId, Mode, u64)>>,
    notice: Option<Notice>,
}

/// What came of the first acquisition's try on a lock object's new description.
enum First {
    /// The lock is taken, and held through the entry.
    Claimed,
    /// The kernel refused it: held elsewhere (or by another description of
    /// this process).
    Refused,
    /// Not tried, or taken and given back: the entry's own description
    /// takes it.
    Unclaimed,
}

impl LockFile {
    pub(crate) fn new(path: &Path, mechanism: Mechanism) -> Self {
        LockFile {
            path: Arc::from(path),
            mechanism,
            name: None,
            entry: OnceLock::new(),
            acquired: Mutex::new(Vec::new()),
            notice: None,
        }
    }

    /// The lock file of a named lock; an invalid name fails at the first acquire.
    pub(crate) fn named(name: &str, mechanism: Mechanism) -> Self {
        let mut file = LockFile::new(&named::named_lock_dir().join(name), mechanism);
        file.name = Some((name.to_owned(), named::check_name(name).err()));
        file
    }

    /// Runs `notice` with the path whenever an acquisition has to wait.
    pub(crate) fn set_notice(&mut self, notice: Notice) {
        self.notice = Some(notice);
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    #[inline]
    pub(super) fn entry(&self) -> Result<&Arc<Entry>> {
        match self.entry.get() {
            Some(entry) => Ok(entry),
            None => self.resolve_entry(None).map(|(entry, _)| entry),
        }
    }

    /// An acquisition through the entry, for `holder`. The lock object's first
    /// one tries the lock on the file it has just opened, before reading the
    /// file's identity (see [`identity::open_and_try`]): an uncontended first
    /// lock then costs one `fstat`, not two, and a refused one is not asked
    /// again at once through the entry.
    #[inline]
    fn acquire_in_entry(&self, mode: Mode, wait: Wait, holder: Holder) -> Result<()> {
        let (entry, refused) = match self.entry.get() {
            Some(entry) => (&**entry, false),
            None => match self.resolve_entry(Some((mode, holder)))? {
                (_, First::Claimed) => return Ok(()),
                (entry, First::Refused) => (entry, true),
                (entry, First::Unclaimed) => (entry, false),
            },
        };
        entry.acquire_after(&self.path, mode, wait, holder, refused)
    }

    /// The first [`LockFile::entry`]: opens the file and finds (or makes) its
    /// entry. With `held`, also tries to take the lock in that mode for that
    /// holder on the new description, and says what came of it.
    #[cold]
    #[inline(never)]
    fn resolve_entry(&self, held: Option<(Mode, Holder)>) -> Result<(&Arc<Entry>, First)> {
        if let Some((name, invalid)) = &self.name {
            if let Some(rule) = invalid {
                return Err(Error::invalid_name(&self.path, name, rule));
            }
            if let Some(dir) = self.path.parent() {
                named::prepare_dir(dir).map_err(|err| {
                    Error::io(&self.path, "use the directory of named locks", err)
                })?;
            }
        }
        let io_error = |(action, err)| Error::io(&self.path, action, err);
        // Made absolute once, so that a later change of the working
        // directory does not move a reopened file (not normalised: the
        // registry goes by the file's identity, not by its spelling).
        let path = if self.path.as_os_str().is_empty() {
            let empty = std::io::Error::new(std::io::ErrorKind::NotFound, "the path is empty");
            return Err(io_error(("open", empty)));
        } else if self.path.is_absolute() {
            Arc::clone(&self.path)
        } else {
            let cwd = std::env::current_dir().map_err(|err| io_error(("open", err)))?;
            Arc::from(cwd.join(&self.path))
        };
        let lock = held.map(|(mode, _)| (self.mechanism, mode));
        let (opened, tried) = identity::open_and_try(&path, lock).map_err(io_error)?;
        let locked = tried == Some(true);
        let (entry, claimed) = entry_for(self.mechanism, path, opened, held.filter(|_| locked));
        let ours = Arc::clone(&entry);
        let entry = self.entry.get_or_init(|| entry);
        match held {
            Some((mode, holder)) if claimed && !Arc::ptr_eq(entry, &ours) => {
                // Another thread resolved this object's entry meanwhile, to
                // an entry the file has since moved from: hold through that.
                ours.release(&self.path, mode, holder)?;
                Ok((entry, First::Unclaimed))
            }
            _ if claimed => Ok((entry, First::Claimed)),
            _ if tried == Some(false) => Ok((entry, First::Refused)),
            _ => Ok((entry, First::Unclaimed)),
        }
    }

    /// Takes the lock in `mode` for the calling thread, returning its guard.
    #[inline]
    pub(crate) fn acquire(&self, mode: Mode, wait: Wait) -> Result<Held<&LockFile>> {
        let holder = Holder::current_thread();
        self.acquire_noticed(mode, wait, holder)?;
        Ok(Held {
            inner: SendHeld::new(self, mode, holder),
            _not_send: PhantomData,
        })
    }

    /// Takes the lock in `mode` without waiting, for a `Send` guard.
    pub(crate) fn try_acquire_send(&self, mode: Mode) -> Result<SendHeld<&LockFile>> {
        let holder = Holder::new_token();
        self.acquire_in_entry(mode, Wait::Try, holder)
            .map_err(|err| self.name_holder(mode, err))?;
        Ok(SendHeld::new(self, mode, holder))
    }

    /// The future of an async acquisition of `mode`, for a `Send` guard.
    pub(crate) fn acquire_async(&self, mode: Mode, wait: Wait) -> Acquire<'_> {
        Acquire {
            file: self,
            progress: Progress::new(mode, wait),
            done: false,
            waiting_since: None,
        }
    }

    /// Whether the calling thread holds this lock file, in either mode,
    /// through this or any other lock object of the process (not counting
    /// the `Send` guards, which belong to acquisitions, not threads).
    pub(crate) fn is_held_by_current_thread(&self) -> bool {
        let me = Holder::current_thread();
        let holds = |entry: &Entry| entry.state().holds(me);
        if let Some(entry) = self.entry.get() {
            return holds(entry);
        }
        if matches!(self.name, Some((_, Some(_)))) || !self.path.exists() {
            // Nobody holds a file that does not exist (and none is created).
            return false;
        }
        // Another lock object of the process for the same file may hold it:
        // resolving the entry (which opens the existing file) finds out.
        self.entry().is_ok_and(|entry| holds(entry))
    }

    /// How many acquisitions of this process (threads and tasks, through any
    /// lock object) are under way for this lock file right now.
    pub(crate) fn waiting_in_process(&self) -> usize {
        if self.entry.get().is_none() && !self.path.exists() {
            return 0;
        }
        self.entry().map_or(0, |entry| entry.state().waiters)
    }

    /// A thread's acquisition; when it has to wait, the notice runs first.
    ///
    /// With a notice, a first non-blocking attempt tells whether the
    /// acquisition has to wait; without one, the acquisition goes straight
    /// to the entry, as if there were no notice at all.
    #[inline]
    fn acquire_noticed(&self, mode: Mode, wait: Wait, holder: Holder) -> Result<()> {
        let watched = self.notice.is_some() || cfg!(feature = "tracing");
        if watched && matches!(wait, Wait::Forever | Wait::For(_)) {
            return self.acquire_watched(mode, wait, holder);
        }
        match self.acquire_in_entry(mode, wait, holder) {
            Ok(()) => Ok(()),
            Err(err) => Err(self.name_holder(mode, err)),
        }
    }

    /// [`LockFile::acquire_noticed`] with a notice or tracing: a first
    /// non-blocking attempt finds out whether the acquisition has to wait.
    /// Out of line, so that the path without either stays as short as if
    /// neither existed.
    #[inline(never)]
    fn acquire_watched(&self, mode: Mode, wait: Wait, holder: Holder) -> Result<()> {
        match self.acquire_in_entry(mode, Wait::Try, holder) {
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            other => return other.map_err(|err| self.name_holder(mode, err)),
        }
        let entry = self.entry()?;
        self.starts_waiting(mode);
        #[cfg(feature = "tracing")]
        let since = Instant::now();
        let result = entry.acquire(&self.path, mode, wait, holder);
        #[cfg(feature = "tracing")]
        crate::trace::waited(
            &self.path,
            mode,
            self.mechanism,
            since.elapsed(),
            result.as_ref().map(drop).map_err(Error::kind),
        );
        result.map_err(|err| self.name_holder(mode, err))
    }

    /// An acquisition found the lock taken and is about to wait: the notice
    /// and the `waiting for lock` event.
    fn starts_waiting(&self, mode: Mode) {
        if let Some(notice) = &self.notice {
            notice(&self.path);
        }
        #[cfg(feature = "tracing")]
        crate::trace::waiting(&self.path, mode, self.mechanism);
        #[cfg(not(feature = "tracing"))]
        let _ = mode;
    }

    /// Adds the holder's pid to a contention error, where it is known: this
    /// process if one of its threads or tasks holds a conflicting share,
    /// else whatever the kernel reports (OFD: the pid of a POSIX-lock holder).
    #[cold]
    fn name_holder(&self, mode: Mode, err: Error) -> Error {
        if !err.is_contention() {
            return err;
        }
        let Some(entry) = self.entry.get() else {
            return err;
        };
        let state = entry.state();
        let here = state.writer.is_some() || (mode == Mode::Exclusive && !state.readers.is_empty());
        let pid = if here {
            Some(std::process::id())
        } else {
            match (self.mechanism, &state.local.file) {
                #[cfg(target_os = "linux")]
                (Mechanism::Ofd, Some(open)) => crate::sys::ofd_conflicting(&open.file)
                    .ok()
                    .flatten()
                    .and_then(|(_, pid)| pid),
                _ => None,
            }
        };
        drop(state);
        match pid {
            Some(pid) => err.with_holder_pid(pid),
            None => err,
        }
    }

    /// Whether another process holds the lock file now, in which mode, and
    /// (where the kernel says) which process; acquires nothing.
    ///
    /// OFD: `F_OFD_GETLK` through the entry's description (whose own lock
    /// never counts) if its file is still the one at the path, else through
    /// a fresh read-only one.
    /// Flock: a non-blocking exclusive, then shared, attempt through a fresh
    /// description, released at once; while this process holds the kernel
    /// lock it cannot tell other readers from its own hold and says `None`.
    /// A missing file is held by nobody (and is not created).
    pub(crate) fn held_elsewhere(&self) -> Result<Option<(Mode, Option<u32>)>> {
        let invalid_name = matches!(self.name, Some((_, Some(_))));
        if self.entry.get().is_none() && !invalid_name && !self.path.exists() {
            // Nobody holds a file that does not exist (and none is created).
            return Ok(None);
        }
        let entry = self.entry()?;
        // The state stays locked so that no acquisition of this process
        // runs meanwhile (and, with flock, trips over the probe).
        let state = entry.state();
        let fail = |err| Error::io(&self.path, "query the holder of", err);
        #[cfg(target_os = "linux")]
        if self.mechanism == Mechanism::Ofd {
            // The entry's description, while its file is the one at the path
            // (a file replaced since is asked about afresh).
            let current = state
                .local
                .file
                .as_ref()
                .filter(|open| identity::at_path(&self.path, open.id).unwrap_or(false));
            if let Some(open) = current {
                return crate::sys::ofd_conflicting(&open.file).map_err(fail);
            }
            return match open_existing(&self.path).map_err(fail)? {
                Some(file) => crate::sys::ofd_conflicting(&file).map_err(fail),
                None => Ok(None),
            };
        }
        if matches!(state.raw, Raw::Held(_)) {
            return Ok(None);
        }
        let Some(file) = open_existing(&self.path).map_err(fail)? else {
            return Ok(None);
        };
        let probe = |mode| -> std::io::Result<bool> {
            let free = self.mechanism.try_lock(&file, mode)?;
            if free {
                self.mechanism.unlock(&file)?;
            }
            Ok(free)
        };
        if probe(Mode::Exclusive).map_err(fail)? {
            return Ok(None);
        }
        let mode = if probe(Mode::Shared).map_err(fail)? {
            Mode::Shared
        } else {
            Mode::Exclusive
        };
        Ok(Some((mode, None)))
    }

    /// Python's `acquire(blocking, timeout)`: `Ok(false)` when the lock is
    /// taken elsewhere; the lock stays held until [`LockFile::release_acquired`].
    pub(crate) fn acquire_unguarded(
        &self,
        mode: Mode,
        blocking: bool,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        match self.acquire(mode, Wait::from_python(blocking, timeout)) {
            Ok(held) => {
                let mut acquired = self.acquired.lock().unwrap_or_else(PoisonError::into_inner);
                acquired.push((thread::current().id(), mode, fork::generation()));
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
        let generation = fork::generation();
        let mut acquired = self.acquired.lock().unwrap_or_else(PoisonError::into_inner);
        // A forked child's copies of its parent's holds release nothing.
        acquired.retain(|&(_, _, taken_in)| taken_in == generation);
        let Some(index) = acquired
            .iter()
            .position(|&(thread, held, _)| (thread, held) == (me, mode))
        else {
            return Err(Error::not_held(&self.path, what));
        };
        acquired.swap_remove(index);
        drop(acquired);
        self.release(mode, Holder::Thread(me))
    }

    #[inline]
    fn release(&self, mode: Mode, holder: Holder) -> Result<()> {
        match self.entry.get() {
            Some(entry) => entry.release(&self.path, mode, holder),
            None => Err(Error::not_held(&self.path, "never acquired")),
        }
    }
}

/// Opens the file at `path` for reading if it exists, creating nothing.
fn open_existing(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    match std::fs::File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

impl fmt::Debug for LockFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockFile")
            .field("path", &self.path)
            .field("mechanism", &self.mechanism)
            .field("name", &self.name)
            .field("entry", &self.entry)
            .field("notice", &self.notice.is_some())
            .finish_non_exhaustive()
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
        let generation = fork::generation();
        for (thread, mode, taken_in) in std::mem::take(acquired) {
            if taken_in == generation {
                let _ = self.release(mode, Holder::Thread(thread));
            }
        }
    }
}

/// The future of an async acquisition: resolves to a `Send` guard.
///
/// Cancel-safe: dropped before it is ready, it leaves the acquisition (see
/// [`Arbiter::cancel`](crate::arbiter::Arbiter::cancel)); it never holds the lock without handing out the guard,
/// which it makes in the same poll that takes the lock.
#[derive(Debug)]
pub(crate) struct Acquire<'a> {
    file: &'a LockFile,
    progress: Progress,
    done: bool,
    /// Since when it waits, once it has found the lock taken (and run the notice).
    waiting_since: Option<Instant>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SendHeld<&'a LockFile>>;

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
                let mode = this.progress.mode;
                #[cfg(feature = "tracing")]
                if let Some(since) = this.waiting_since {
                    let outcome = result.as_ref().map(drop).map_err(Error::kind);
                    crate::trace::waited(
                        &file.path,
                        mode,
                        file.mechanism,
                        since.elapsed(),
                        outcome,
                    );
                }
                Poll::Ready(match result {
                    Ok(()) => Ok(SendHeld::new(file, mode, this.progress.holder)),
                    Err(err) => Err(file.name_holder(mode, err)),
                })
            }
            Poll::Pending => {
                if this.waiting_since.is_none() {
                    this.waiting_since = Some(Instant::now());
                    file.starts_waiting(this.progress.mode);
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
/// lock guard holds, with `F` the guard's way to its lock file (a borrow of
/// the lock object, or an `Arc` of it for the owned guards). `Send` and
/// `Sync` when `F` is: it names its holder explicitly.
#[derive(Debug)]
pub(crate) struct SendHeld<F: FileRef> {
    file: Option<F>,
    mode: Mode,
    holder: Holder,
    /// When the lock was taken, for the `lock held long` event.
    #[cfg(feature = "tracing")]
    since: Instant,
}

impl<F: FileRef> SendHeld<F> {
    fn new(file: F, mode: Mode, holder: Holder) -> Self {
        SendHeld {
            file: Some(file),
            mode,
            holder,
            #[cfg(feature = "tracing")]
            since: Instant::now(),
        }
    }

    /// Gives the share back, unless it was already.
    #[inline]
    fn give_back(&mut self) -> Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let file = file.lock_file();
        let result = file.release(self.mode, self.holder);
        #[cfg(feature = "tracing")]
        crate::trace::released(
            file.path(),
            self.mode,
            file.mechanism(),
            self.since.elapsed(),
        );
        result
    }

    pub(crate) fn path(&self) -> &Path {
        self.file
            .as_ref()
            .map_or(Path::new(""), |file| file.lock_file().path())
    }

    pub(crate) fn release(mut self) -> Result<()> {
        self.give_back()
    }

    /// Takes the share out of this value, unreleased, to move it to a
    /// value that reaches the lock file another way (see [`Share`]).
    pub(crate) fn detach(mut self) -> Share {
        self.file = None;
        Share {
            mode: self.mode,
            holder: self.holder,
            #[cfg(feature = "tracing")]
            since: self.since,
        }
    }
}

/// A held share of a lock file between two guards: the borrowing guard an
/// acquisition gives, and the owned guard made of it once the borrow of the
/// lock object ends (`detach`, then [`Share::attach`] or
/// [`Share::attach_thread`] with the `Arc` of that same lock object).
#[derive(Debug)]
#[must_use = "a detached share stays held until it is attached to a guard"]
pub(crate) struct Share {
    mode: Mode,
    holder: Holder,
    #[cfg(feature = "tracing")]
    since: Instant,
}

impl Share {
    /// The share as a `Send` guard part reaching its file through `file`.
    pub(crate) fn attach<F: FileRef>(self, file: F) -> SendHeld<F> {
        SendHeld {
            file: Some(file),
            mode: self.mode,
            holder: self.holder,
            #[cfg(feature = "tracing")]
            since: self.since,
        }
    }

    /// The share as a thread's `!Send` guard part reaching its file through `file`.
    pub(crate) fn attach_thread<F: FileRef>(self, file: F) -> Held<F> {
        Held {
            inner: self.attach(file),
            _not_send: PhantomData,
        }
    }
}

impl<F: FileRef> Drop for SendHeld<F> {
    fn drop(&mut self) {
        // Nobody to report an unlock error to; `release` reports it.
        let _ = self.give_back();
    }
}

/// The guard part of the `!Send` guards of threads.
///
/// `!Send`: the in-process bookkeeping records the holding thread, so the
/// guard must be released by the thread that took it.
#[derive(Debug)]
pub(crate) struct Held<F: FileRef> {
    inner: SendHeld<F>,
    _not_send: PhantomData<*const ()>,
}

impl<F: FileRef> Held<F> {
    pub(crate) fn path(&self) -> &Path {
        self.inner.path()
    }

    pub(crate) fn release(self) -> Result<()> {
        self.inner.release()
    }

    /// See [`SendHeld::detach`].
    pub(crate) fn detach(self) -> Share {
        self.inner.detach()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock_file::test_support::temp_path;

    #[test]
    fn dropping_the_object_gives_back_an_unreleased_acquire() {
        let path = temp_path("unreleased.lock");
        let keeper = LockFile::new(&path, Mechanism::default());
        // Resolved now, so that the entry outlives `lock`.
        keeper.entry().unwrap();
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
    fn the_object_keeps_its_mechanism_and_shows_its_path() {
        let path = temp_path("shown.lock");
        let lock = LockFile::new(&path, Mechanism::Flock);
        assert_eq!(lock.mechanism(), Mechanism::Flock);
        let shown = format!("{lock:?}");
        assert!(shown.starts_with("LockFile {"), "{shown}");
        assert!(shown.contains(&format!("{path:?}")), "{shown}");
        assert!(shown.contains("Flock"), "{shown}");
    }

    /// Two threads resolve one object's entry at once, and the file at the
    /// path changes between them: the thread whose first try took the lock
    /// on an entry the object did not keep gives it back there and takes it
    /// through the entry the object keeps, so that the file at the path ends
    /// up locked, and the guard's release finds its hold.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_first_lock_that_lost_the_race_for_the_objects_entry_holds_through_the_winner() {
        use crate::lock_file::identity::AFTER_OPEN;
        use std::path::PathBuf;
        static PATH: OnceLock<PathBuf> = OnceLock::new();
        static RACED: OnceLock<LockFile> = OnceLock::new();
        let path = PATH.get_or_init(|| temp_path("raced.lock"));
        let aside = path.with_extension("aside");
        std::fs::File::create(path).unwrap();
        let lock = RACED.get_or_init(|| LockFile::new(path, Mechanism::Ofd));
        // Right after this thread's open of the file: it is moved aside, a
        // new file takes its place, another thread resolves the object's
        // entry (to the new file), and the first file is moved back.
        AFTER_OPEN.with(|hook| {
            hook.set(Some(|path: &Path| {
                let aside = path.with_extension("aside");
                std::fs::rename(path, &aside).unwrap();
                std::fs::File::create(path).unwrap();
                thread::spawn(|| {
                    RACED.get().unwrap().entry().unwrap();
                })
                .join()
                .unwrap();
                std::fs::rename(&aside, path).unwrap();
            }))
        });
        let held = lock.acquire(Mode::Exclusive, Wait::Try).unwrap();
        assert!(AFTER_OPEN.with(|hook| hook.get().is_none()), "the hook ran");
        let other = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        assert!(
            !Mechanism::Ofd.try_lock(&other, Mode::Shared).unwrap(),
            "the file at the path is locked"
        );
        held.release()
            .expect("the hold is found where it is released");
        assert!(Mechanism::Ofd.try_lock(&other, Mode::Exclusive).unwrap());
        drop(other);
        assert!(!aside.exists());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn an_empty_path_is_an_io_error() {
        let err = LockFile::new(Path::new(""), Mechanism::default())
            .acquire(Mode::Shared, Wait::Forever)
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Io);
    }
}
