//! Taking the kernel lock for an entry, at once, blocking in the calling
//! thread or through the background waiter, and giving it back.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::sys::Mode;
use crate::timer::Interrupt;

use super::identity::OpenFile;
use super::{Entry, Files, OsError};
use crate::arbiter::sync::MutexGuard;
use crate::arbiter::{Raw, State};

impl Entry {
    /// Takes the kernel lock without waiting, opening the file if needed.
    /// Always inline: it is most of an uncontended acquisition.
    #[inline(always)]
    pub(super) fn try_kernel(
        &self,
        state: &mut State<Files>,
        mode: Mode,
    ) -> std::result::Result<bool, OsError> {
        loop {
            let file = match &state.local.file {
                Some(file) => file,
                None => {
                    self.open_file(state)?;
                    continue;
                }
            };
            file.allows(mode)?;
            let locked = self
                .mechanism()
                .try_lock(&file.file, mode)
                .map_err(|err| ("lock", err))?;
            if !locked {
                return Ok(false);
            }
            if self.verify(state)? {
                state.raw = Raw::Held(mode);
                return Ok(true);
            }
        }
    }

    /// Releases the kernel lock. If unlocking fails, the description is
    /// dropped, which releases the lock once nothing else uses it.
    #[inline]
    pub(super) fn unlock_kernel(&self, state: &mut State<Files>) -> io::Result<()> {
        state.raw = Raw::Unlocked;
        let result = match &state.local.file {
            Some(file) => self.mechanism().unlock(&file.file),
            None => Ok(()),
        };
        if result.is_err() {
            self.forget_file(state);
        }
        result
    }

    /// Waits in the kernel in this thread, with the state unlocked meanwhile,
    /// until the lock is granted or `deadline` passes; on a grant the kernel
    /// lock is `Held(mode)` and unclaimed, otherwise `Unlocked`.
    pub(super) fn block_in_kernel<'a>(
        &'a self,
        mut state: MutexGuard<'a, State<Files>>,
        mode: Mode,
        deadline: Option<Instant>,
    ) -> (
        MutexGuard<'a, State<Files>>,
        std::result::Result<(), OsError>,
    ) {
        let Some(file) = state.local.file.clone() else {
            // try_kernel just opened it; nothing to wait on otherwise.
            return (state, Ok(()));
        };
        state.raw = Raw::Acquiring(mode);
        drop(state);
        let locked = match deadline {
            None => self.mechanism().lock(&file.file, mode).map(|()| true),
            Some(deadline) => self.lock_until(&file, mode, deadline),
        };
        let mut state = self.state();
        let result = match locked {
            Err(err) => {
                state.raw = Raw::Unlocked;
                Err(("lock", err))
            }
            // The deadline passed: the caller's next step reports it.
            Ok(false) => {
                state.raw = Raw::Unlocked;
                Ok(())
            }
            Ok(true) => match self.verify(&mut state) {
                Ok(true) => {
                    state.raw = Raw::Held(mode);
                    Ok(())
                }
                Ok(false) => {
                    state.raw = Raw::Unlocked;
                    Ok(())
                }
                Err(err) => {
                    state.raw = Raw::Unlocked;
                    Err(err)
                }
            },
        };
        // The waiting tasks hear of it when this acquisition ends (`leave`):
        // until then this thread keeps the state locked or waits in the kernel.
        self.tell_waiting_threads(&state);
        (state, result)
    }

    /// Waits in the kernel until the lock is granted (`true`) or `deadline`
    /// passes (`false`): the process timer interrupts the call at the
    /// deadline. Signals of the application's own that interrupt it are
    /// waited through. Without a usable wake-up signal, polls.
    fn lock_until(&self, file: &OpenFile, mode: Mode, deadline: Instant) -> io::Result<bool> {
        let Some(interrupt) = Interrupt::arm(Some(deadline)) else {
            return self.poll_until(file, mode, || Instant::now() >= deadline, Some(deadline));
        };
        #[cfg(test)]
        before_kernel_wait(self.path(), interrupt.id());
        let granted = loop {
            match self.mechanism().lock_once(&file.file, mode) {
                Ok(()) => break Ok(true),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                    if Instant::now() >= deadline {
                        break Ok(false);
                    }
                }
                Err(err) => break Err(err),
            }
        };
        // Disarmed only now: until here, a lost interrupt is sent again.
        drop(interrupt);
        granted
    }

    /// The fallback wait without a wake-up signal: non-blocking attempts, at
    /// growing intervals (up to [`POLL_MAX`]), until granted (`true`) or
    /// `give_up()` (`false`). Nothing stays queued in the kernel meanwhile.
    fn poll_until(
        &self,
        file: &OpenFile,
        mode: Mode,
        give_up: impl Fn() -> bool,
        deadline: Option<Instant>,
    ) -> io::Result<bool> {
        let mut pause = Duration::from_micros(500);
        loop {
            if self.mechanism().try_lock(&file.file, mode)? {
                return Ok(true);
            }
            if give_up() {
                return Ok(false);
            }
            let left = deadline.map_or(pause, |d| d.saturating_duration_since(Instant::now()));
            thread::sleep(pause.min(left));
            pause = (pause * 2).min(POLL_MAX);
        }
    }

    /// Has the background waiter wait in the kernel for `mode`, starting its
    /// thread if it does not run.
    pub(super) fn start_background(
        self: &Arc<Self>,
        state: &mut State<Files>,
        mode: Mode,
    ) -> std::result::Result<(), OsError> {
        let Some(file) = state.local.file.clone() else {
            return Ok(());
        };
        if !state.local.background.running {
            let entry = Arc::clone(self);
            thread::Builder::new()
                .name("fasteners-lock-waiter".into())
                .spawn(move || entry.run_background())
                .map_err(|err| ("start a waiting thread for", err))?;
            state.local.background.running = true;
        }
        state.local.background.job = Some((mode, file));
        state.raw = Raw::Acquiring(mode);
        self.backend.work.notify_one();
        Ok(())
    }

    /// Ends the background waiter's kernel wait, if it waits: called when the
    /// last waiter has left, so that nothing of this process stays queued in
    /// the kernel for the file.
    pub(super) fn stop_background_wait(state: &State<Files>) {
        if let Some(id) = state.local.background.interrupt {
            Interrupt::fire(id);
        }
    }

    /// The background waiter's thread: runs the jobs it is given, and exits
    /// once it has had none for [`LINGER`] (or no lock object uses the entry
    /// any more). Its `Arc` may be the last one: the entry then goes, closing
    /// the file.
    fn run_background(self: Arc<Self>) {
        let mut state = self.state();
        loop {
            if let Some((mode, file)) = state.local.background.job.take() {
                drop(state);
                self.wait_in_background(file, mode);
                state = self.state();
            } else if self.backend.handles.load(Ordering::Acquire) == 0 {
                break;
            } else {
                state.local.background.lingering = true;
                let timed_out;
                (state, timed_out) = self
                    .backend
                    .work
                    .wait_timeout(state, LINGER)
                    .map(|(state, result)| (state, result.timed_out()))
                    .unwrap_or_else(|poisoned| {
                        let (state, result) = poisoned.into_inner();
                        (state, result.timed_out())
                    });
                state.local.background.lingering = false;
                // A job that came as the wait timed out is still run.
                if timed_out && state.local.background.job.is_none() {
                    break;
                }
            }
        }
        state.local.background.running = false;
    }

    /// One job of the background waiter: waits in the kernel until the lock
    /// is granted or no waiter is left, then hands the lock to the waiters,
    /// or gives it back at once if all of them have given up.
    fn wait_in_background(&self, mut file: Arc<OpenFile>, mode: Mode) {
        loop {
            let mut state = self.state();
            if state.waiters == 0 {
                state.raw = Raw::Unlocked;
                return;
            }
            // Armed under the state mutex, so that the last waiter to leave
            // either finds it (and fires it) or is seen to have left above.
            let interrupt = Interrupt::arm(None);
            state.local.background.interrupt = interrupt.as_ref().map(Interrupt::id);
            drop(state);
            #[cfg(test)]
            if let Some(interrupt) = &interrupt {
                before_kernel_wait(self.path(), interrupt.id());
            }
            let locked = match &interrupt {
                Some(_) => match self.mechanism().lock_once(&file.file, mode) {
                    Ok(()) => Ok(true),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(false),
                    Err(err) => Err(err),
                },
                None => self.poll_until(&file, mode, || self.state().waiters == 0, None),
            };
            drop(interrupt);
            let mut state = self.state();
            state.local.background.interrupt = None;
            let outcome = match locked {
                // Interrupted (the waiters left) or polled out: look again.
                Ok(false) => continue,
                Ok(true) => self.verify(&mut state),
                Err(err) => Err(("lock", err)),
            };
            let outcome = match outcome {
                // The path names a new file: wait for that one instead.
                Ok(false) if state.waiters > 0 => match self
                    .open_file(&mut state)
                    .and_then(|reopened| reopened.allows(mode).map(|()| reopened))
                {
                    Ok(reopened) => {
                        file = reopened;
                        continue;
                    }
                    Err(err) => Err(err),
                },
                other => other,
            };
            let wakeups = self.background_done(&mut state, mode, outcome);
            drop(state);
            wakeups.wake();
            return;
        }
    }
}

/// How long the background waiter's thread stays for a next job.
pub(super) const LINGER: Duration = Duration::from_millis(10);

/// Run once, with the interrupt's id, by the next wait on that path that
/// interrupts can end (a timed wait, or the background waiter's), between
/// the arming of its interrupt and its call into the kernel (unit tests: a
/// wake-up signal that comes before the call).
#[cfg(test)]
type WaitHook = Option<(std::path::PathBuf, fn(u64))>;

#[cfg(test)]
static BEFORE_KERNEL_WAIT: std::sync::Mutex<WaitHook> = std::sync::Mutex::new(None);

#[cfg(test)]
fn before_kernel_wait(path: &std::path::Path, id: u64) {
    let mut hook = BEFORE_KERNEL_WAIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if hook.as_ref().is_some_and(|(hooked, _)| hooked == path) {
        let (_, run) = hook.take().unwrap();
        drop(hook);
        run(id);
    }
}

/// The longest pause between two attempts of a polling wait.
const POLL_MAX: Duration = Duration::from_millis(10);

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::lock_file::test_support::{
        hold_elsewhere, pending_acquisition, queued_in_kernel, temp_path,
    };
    use crate::lock_file::{LockFile, Wait};
    use crate::sys::Mechanism;

    /// Polls `done` every millisecond for at most `bound`.
    fn within(bound: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + bound;
        loop {
            if done() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_timed_wait_waits_in_the_kernel_in_its_own_thread() {
        let path = temp_path("timed-in-kernel.lock");
        let elsewhere = hold_elsewhere(&path);
        let lock = LockFile::new(&path, Mechanism::Ofd);
        thread::scope(|s| {
            let waiter = s.spawn(|| {
                lock.acquire(Mode::Exclusive, Wait::For(Duration::from_secs(60)))
                    .map(drop)
            });
            // The waiter's own request is queued in the kernel...
            assert!(within(Duration::from_secs(20), || queued_in_kernel(&path) == 1));
            // ...with no background waiter to relay it.
            assert!(!lock.entry().unwrap().state().local.background.running);
            Mechanism::Ofd.unlock(&elsewhere).unwrap();
            waiter.join().unwrap().unwrap();
        });
        drop((lock, elsewhere));
        std::fs::remove_file(&path).unwrap();
    }

    /// The race a re-sent interrupt closes: the deadline's signal reaches
    /// the waiting thread after it armed its interrupt but before it entered
    /// the kernel, so the handler runs and the call that follows does not
    /// see it. Sent once only, that call would block until the holder let go.
    #[test]
    fn an_interrupt_that_comes_before_the_kernel_call_is_sent_again() {
        let path = temp_path("interrupt-before-call.lock");
        let elsewhere = hold_elsewhere(&path);
        let lock = LockFile::new(&path, Mechanism::Ofd);
        // Holds the waiting thread back until the timer has sent its signal
        // for this wait (which the empty handler takes in the meantime).
        *BEFORE_KERNEL_WAIT.lock().unwrap() = Some((path.clone(), |id| {
            let sent = within(Duration::from_secs(20), || {
                crate::timer::interrupts_sent(id) > 0
            });
            assert!(sent, "the deadline's signal was never sent");
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        thread::scope(|s| {
            s.spawn(|| {
                let result = lock.acquire(Mode::Exclusive, Wait::For(Duration::from_millis(20)));
                tx.send(result.map(drop).map_err(|err| err.kind())).unwrap();
            });
            let result = rx.recv_timeout(Duration::from_secs(10));
            // Lets a waiter stuck in the kernel go, pass or fail.
            Mechanism::Ofd.unlock(&elsewhere).unwrap();
            assert_eq!(
                result,
                Ok(Err(crate::ErrorKind::TimedOut)),
                "the timed wait blocked past its deadline: its interrupt was not sent again"
            );
        });
        drop((lock, elsewhere));
        std::fs::remove_file(&path).unwrap();
    }

    /// The same race for the background waiter of an async wait: its
    /// interrupt (sent when the last task leaves) reaches it before its call.
    #[test]
    fn a_background_interrupt_that_comes_before_the_kernel_call_is_sent_again() {
        static IN_HOOK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let path = temp_path("background-interrupt-before-call.lock");
        let elsewhere = hold_elsewhere(&path);
        let lock = LockFile::new(&path, Mechanism::Ofd);
        let entry = Arc::downgrade(lock.entry().unwrap());
        *BEFORE_KERNEL_WAIT.lock().unwrap() = Some((path.clone(), |id| {
            IN_HOOK.store(true, std::sync::atomic::Ordering::SeqCst);
            let sent = within(Duration::from_secs(20), || {
                crate::timer::interrupts_sent(id) > 0
            });
            assert!(sent, "the interrupt was never sent");
        }));
        let future = pending_acquisition(&lock, Mode::Exclusive);
        // The background waiter has armed its interrupt and not yet called
        // the kernel; the task leaves, which sends the interrupt.
        assert!(within(Duration::from_secs(20), || IN_HOOK
            .load(std::sync::atomic::Ordering::SeqCst)));
        drop(future);
        let left = within(Duration::from_secs(5), || {
            queued_in_kernel(&path) == 0
                && !entry.upgrade().unwrap().state().local.background.running
        });
        // Lets a background waiter stuck in the kernel go, pass or fail.
        Mechanism::Ofd.unlock(&elsewhere).unwrap();
        assert!(
            left,
            "the background waiter stayed in the kernel: its interrupt was not sent again"
        );
        drop((lock, elsewhere));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_timed_out_wait_leaves_no_request_and_no_thread() {
        let path = temp_path("timed-out.lock");
        let elsewhere = hold_elsewhere(&path);
        let lock = LockFile::new(&path, Mechanism::Ofd);
        for _ in 0..3 {
            let start = Instant::now();
            let err = lock
                .acquire(Mode::Exclusive, Wait::For(Duration::from_millis(20)))
                .unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::TimedOut);
            assert!(start.elapsed() >= Duration::from_millis(20));
            assert_eq!(queued_in_kernel(&path), 0);
            let state = lock.entry().unwrap().state();
            assert!(!state.local.background.running);
            assert_eq!(state.raw, Raw::Unlocked);
        }
        drop((lock, elsewhere));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_dropped_async_wait_ends_the_background_wait_in_the_kernel() {
        let path = temp_path("dropped-async.lock");
        let elsewhere = hold_elsewhere(&path);
        let lock = LockFile::new(&path, Mechanism::Ofd);
        let entry = Arc::downgrade(lock.entry().unwrap());
        let future = pending_acquisition(&lock, Mode::Exclusive);
        // The background waiter waits in the kernel for the task...
        assert!(within(Duration::from_secs(20), || queued_in_kernel(&path) == 1));
        assert!(entry.upgrade().unwrap().state().local.background.running);
        drop(future);
        // ...and leaves it (and its thread ends) once the task is gone, while
        // the lock is still held elsewhere.
        assert!(within(Duration::from_millis(50), || queued_in_kernel(
            &path
        ) == 0));
        drop(lock);
        assert!(within(Duration::from_millis(50), || entry.strong_count() == 0));
        assert!(Mechanism::Ofd
            .try_lock(&elsewhere, Mode::Exclusive)
            .unwrap());
        drop(elsewhere);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_job_given_as_the_background_waiters_linger_times_out_is_run() {
        let path = temp_path("linger-job.lock");
        let elsewhere = hold_elsewhere(&path);
        let lock = LockFile::new(&path, Mechanism::Ofd);
        // A first async wait starts the thread; dropped, it leaves the
        // thread waiting for a next job.
        drop(pending_acquisition(&lock, Mode::Exclusive));
        let entry = lock.entry().unwrap();
        assert!(within(Duration::from_secs(20), || entry
            .state()
            .local
            .background
            .lingering));
        // Held across the end of its linger, so that its wait returns timed
        // out with a job given meanwhile (as an async acquisition gives it).
        let mut state = entry.state();
        thread::sleep(LINGER + Duration::from_millis(20));
        state.waiters += 1;
        state.waiting_writers += 1;
        entry.start_background(&mut state, Mode::Exclusive).unwrap();
        drop(state);
        assert!(
            within(Duration::from_secs(20), || queued_in_kernel(&path) == 1),
            "the job was dropped"
        );
        // Nobody waits after all: the kernel wait ends.
        let mut state = entry.state();
        state.waiters -= 1;
        state.waiting_writers -= 1;
        Entry::stop_background_wait(&state);
        drop(state);
        assert!(within(Duration::from_secs(20), || queued_in_kernel(&path) == 0));
        drop((lock, elsewhere));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn the_background_waiter_exits_when_idle_even_while_objects_live() {
        let path = temp_path("idle-waiter.lock");
        let elsewhere = hold_elsewhere(&path);
        let lock = LockFile::new(&path, Mechanism::Ofd);
        let future = pending_acquisition(&lock, Mode::Shared);
        assert!(within(Duration::from_secs(20), || queued_in_kernel(&path) == 1));
        drop(future);
        let entry = lock.entry().unwrap();
        assert!(within(Duration::from_millis(50), || !entry
            .state()
            .local
            .background
            .running));
        assert_eq!(queued_in_kernel(&path), 0);
        drop((lock, elsewhere));
        std::fs::remove_file(&path).unwrap();
    }
}
