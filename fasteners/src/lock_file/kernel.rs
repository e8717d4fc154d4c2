//! Taking the kernel lock for an entry, at once, blocking in the calling
//! thread or through the background waiter, and giving it back.

use std::io;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::thread;

use crate::sys::Mode;

use super::identity::OpenFile;
use super::{Entry, Kernel, OsError, State};

impl Entry {
    /// Takes the kernel lock without waiting, opening the file if needed.
    pub(super) fn try_kernel(
        &self,
        state: &mut State,
        mode: Mode,
    ) -> std::result::Result<bool, OsError> {
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
    pub(super) fn unlock_kernel(&self, state: &mut State) -> io::Result<()> {
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

    /// Waits in the kernel in this thread, with the state unlocked meanwhile;
    /// on success the kernel lock is `Held(mode)` and unclaimed.
    pub(super) fn block_in_kernel<'a>(
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
    pub(super) fn start_background(
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
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::lock_file::test_support::{hold_elsewhere, temp_path};
    use crate::lock_file::{LockFile, Wait};
    use crate::sys::Mechanism;

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
}
