//! The lock object of one file, the future of its async acquisitions, and
//! its guards.

use std::future::Future;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::Duration;

use crate::sys::{fork, Mechanism, Mode};
use crate::timer::Alarm;
use crate::{Error, Result};

use super::identity;
use super::registry::{entry_for, Handle};
use super::task::Progress;
use super::{Entry, Holder, Wait};

/// One lock object's handle on its file: the path as the user gave it (for
/// errors), the mechanism, the shared entry once resolved, and the holders of
/// the Python-style `acquire`/`release` pairs, which have no guard.
#[derive(Debug)]
pub(crate) struct LockFile {
    path: PathBuf,
    mechanism: Mechanism,
    entry: OnceLock<Handle>,
    /// The holds of `acquire_unguarded`, with the fork generation they were
    /// taken in: a forked child does not hold its parent's.
    acquired: Mutex<Vec<(ThreadId, Mode, u64)>>,
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

    pub(super) fn entry(&self) -> Result<&Arc<Entry>> {
        if let Some(entry) = self.entry.get() {
            return Ok(entry);
        }
        let io_error = |(action, err)| Error::io(&self.path, action, err);
        let path = std::path::absolute(&self.path).map_err(|err| io_error(("open", err)))?;
        let opened = identity::open(&path).map_err(io_error)?;
        let entry = entry_for(self.mechanism, &path, opened);
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
                generation: 0,
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
    use crate::lock_file::test_support::temp_path;

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
