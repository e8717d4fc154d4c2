//! The in-process arbitration every backend shares: who of this process holds
//! a lock or waits for it, and when the lock outside the process (the
//! kernel's lock on a file, a server's advisory lock) is taken and given back.
//!
//! An [`Arbiter`] is one lock as the threads and tasks of this process see it.
//! It arbitrates between them (readers, a writer, writers first among them;
//! `WouldDeadlock` for a thread asking again) and takes the raw lock for them:
//! the first holder takes it, further readers join without asking the
//! backend, the last holder gives it back. A [`RawLock`] is what differs per
//! backend: take without waiting, wait in the calling thread (until a
//! deadline), wait for the async waiters in the background (and stop that
//! wait when nobody waits any more), give back. A backend is those calls and
//! its errors; everything here is written once.
//!
//! At most one raw acquisition is pending per arbiter; later callers share
//! it, whatever mode they want: when it is granted in the other mode, the
//! lock is given back and taken again in the mode needed.
//!
//! Holders are recorded as a [`Holder`]: the thread, for the `!Send` guards
//! (so that a thread asking again is told it would deadlock), or a token per
//! acquisition, for the `Send` guards of async acquisitions.
//!
//! The code, by concern: here the state and the acquire/release state
//! machine; [`task`] the steps of an async acquisition; [`sync`] its
//! primitives (loom's for the model checks in `models`).

#[cfg(all(test, loom))]
mod models;
pub(crate) mod sync;
mod task;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, Weak};
use std::task::Waker;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use crate::sys::{fork, Mode};
use crate::{Error, Result};

use sync::{Condvar, Mutex, MutexGuard};
pub(crate) use task::Progress;

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
    pub(crate) fn current_thread() -> Self {
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

/// What this process holds, or is getting, of the raw lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Raw {
    Unlocked,
    /// One thread (a caller, or the backend's background wait) waits for it.
    Acquiring(Mode),
    /// Granted; it belongs to the in-process holders, or, if there are none,
    /// to whichever waiter claims it next.
    Held(Mode),
}

/// Why an acquisition or release was refused, for the backend to word.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    /// Held elsewhere, and the caller would not wait.
    WouldBlock,
    /// Held elsewhere for the whole timeout.
    TimedOut(Duration),
    /// The calling thread holds it already.
    WouldDeadlock,
    /// Released without being held; says what was not held.
    NotHeld(&'static str),
}

/// One backend's raw lock: the calls that take and give back the lock
/// outside the process, which the [`Arbiter`] makes for the holders and
/// waiters of this process, under its state mutex unless said otherwise.
pub(crate) trait RawLock: Sized + Send + Sync + 'static {
    /// The backend's part of the state, kept under the arbiter's mutex.
    type Local: Send;
    /// A failure of a raw call, before it names the lock.
    type Failure: Send;
    /// What errors name the lock by (a path, a server lock's description).
    type Name: ?Sized;

    /// Whether an async acquisition, as it is polled, may try the raw lock
    /// itself; if not (a call that is not quick), the background wait takes
    /// it for the task.
    const TRY_WHEN_POLLED: bool;

    /// The backend's part of a new state: for a forked child, whose parent's
    /// is discarded on its first use of the arbiter.
    fn forked(arbiter: &Arbiter<Self>) -> Self::Local;

    /// Takes the raw lock in `mode` without waiting: `Ok(true)` and
    /// `state.raw` set to `Held(mode)` if it did, `Ok(false)` if it is held
    /// elsewhere.
    fn try_take(
        arbiter: &Arbiter<Self>,
        state: &mut State<Self>,
        mode: Mode,
    ) -> std::result::Result<bool, Self::Failure>;

    /// Waits in the calling thread, with the state unlocked meanwhile, until
    /// the raw lock is granted in `mode` or `deadline` passes: `state.raw` is
    /// `Acquiring(mode)` during the wait, `Held(mode)` (unclaimed) after a
    /// grant, `Unlocked` otherwise.
    fn block<'a>(
        arbiter: &'a Arbiter<Self>,
        state: MutexGuard<'a, State<Self>>,
        mode: Mode,
        deadline: Option<Instant>,
    ) -> (
        MutexGuard<'a, State<Self>>,
        std::result::Result<(), Self::Failure>,
    );

    /// Starts the background wait for `mode` on behalf of the waiting tasks
    /// and sets `state.raw` to `Acquiring(mode)`. When it ends, the backend
    /// calls [`Arbiter::background_done`].
    fn start_wait(
        arbiter: &Arc<Arbiter<Self>>,
        state: &mut State<Self>,
        mode: Mode,
    ) -> std::result::Result<(), Self::Failure>;

    /// Ends the background wait under way, if any: nobody waits any more.
    fn stop_wait(state: &State<Self>);

    /// A thread of this process is about to wait for the lock (with the
    /// state locked): whatever of the backend's that tasks drive must go on
    /// without them, since the thread may be the one that polls them.
    fn thread_waits(state: &mut State<Self>) {
        let _ = state;
    }

    /// Gives the raw lock (held in `mode`) back and sets `state.raw` to
    /// `Unlocked`, also if that fails (the backend then makes sure the lock
    /// goes: it closes what holds it).
    fn give_back(
        arbiter: &Arbiter<Self>,
        state: &mut State<Self>,
        mode: Mode,
    ) -> std::result::Result<(), Self::Failure>;

    /// Whether the raw lock held now was lost (a server session that ended):
    /// nobody new may join its holders, and a grant nobody claimed is given
    /// back and taken afresh.
    fn lost(state: &State<Self>) -> bool {
        let _ = state;
        false
    }

    /// The error of a raw call that failed.
    fn failed(name: &Self::Name, failure: Self::Failure) -> Error;

    /// The error of a refused acquisition or release.
    fn refused(name: &Self::Name, refusal: Refusal) -> Error;
}

/// The state of one arbiter, under its mutex.
pub(crate) struct State<B: RawLock> {
    pub(crate) readers: Vec<Holder>,
    pub(crate) writer: Option<Holder>,
    /// Acquisitions of the exclusive side under way; new readers wait for them.
    pub(crate) waiting_writers: usize,
    /// Acquisitions under way, of either side, by threads and tasks.
    pub(crate) waiters: usize,
    /// Those of `waiters` that are threads, which wait on `Arbiter::changed`.
    pub(crate) sync_waiters: usize,
    /// The wakers of the waiting tasks, by token; taken (and woken) at every change.
    pub(crate) wakers: Vec<(u64, Waker)>,
    pub(crate) raw: Raw,
    /// A failure of the background wait, for the next waiter to report.
    pub(crate) failure: Option<B::Failure>,
    pub(crate) local: B::Local,
    /// The fork generation this state belongs to (see [`fork`]): a forked
    /// child discards its parent's state on first use.
    generation: u64,
}

impl<B: RawLock> State<B> {
    pub(crate) fn new(local: B::Local) -> Self {
        State {
            readers: Vec::new(),
            writer: None,
            waiting_writers: 0,
            waiters: 0,
            sync_waiters: 0,
            wakers: Vec::new(),
            raw: Raw::Unlocked,
            failure: None,
            local,
            generation: fork::generation(),
        }
    }

    /// Whether anyone of this process holds a share, in either mode.
    pub(crate) fn has_holders(&self) -> bool {
        self.writer.is_some() || !self.readers.is_empty()
    }

    /// Whether `holder` holds a share, in either mode.
    pub(crate) fn holds(&self, holder: Holder) -> bool {
        self.writer == Some(holder) || self.readers.contains(&holder)
    }

    /// Records `holder` as holding the lock in `mode`.
    pub(crate) fn claim(&mut self, mode: Mode, holder: Holder) {
        match mode {
            Mode::Shared => self.readers.push(holder),
            Mode::Exclusive => self.writer = Some(holder),
        }
    }
}

impl<B: RawLock> fmt::Debug for State<B>
where
    B::Local: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("readers", &self.readers)
            .field("writer", &self.writer)
            .field("waiting_writers", &self.waiting_writers)
            .field("waiters", &self.waiters)
            .field("raw", &self.raw)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

/// The waiters to wake, taken out of the state, to wake once the state mutex
/// is unlocked: a woken thread then finds the mutex free instead of blocking
/// on it again, and a waker may run executor code, which must not find the
/// mutex held.
#[must_use = "wake them after unlocking the state"]
pub(crate) struct Wakeups<'a> {
    /// The condition variable of the waiting threads, if any wait.
    threads: Option<&'a Condvar>,
    tasks: Vec<(u64, Waker)>,
}

impl Wakeups<'_> {
    pub(crate) fn wake(self) {
        if let Some(threads) = self.threads {
            threads.notify_all();
        }
        for (_, waker) in self.tasks {
            waker.wake();
        }
    }
}

/// One lock as the threads and tasks of this process share it.
pub(crate) struct Arbiter<B: RawLock> {
    /// The backend's own part, outside the mutex.
    pub(crate) backend: B,
    state: Mutex<State<B>>,
    /// Signalled for the waiting threads.
    changed: Condvar,
}

impl<B: RawLock> fmt::Debug for Arbiter<B>
where
    B: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arbiter")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl<B: RawLock> Arbiter<B> {
    /// An arbiter whose backend may refer to the arbiter itself.
    pub(crate) fn new_cyclic(make: impl FnOnce(&Weak<Self>) -> (B, State<B>)) -> Arc<Self> {
        Arc::new_cyclic(|me| {
            let (backend, state) = make(me);
            Arbiter {
                backend,
                state: Mutex::new(state),
                changed: Condvar::new(),
            }
        })
    }

    #[inline]
    pub(crate) fn state(&self) -> MutexGuard<'_, State<B>> {
        self.of_this_process(self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The state, if its mutex is free now: for a backend's thread that must
    /// never wait for it.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn try_state(&self) -> Option<MutexGuard<'_, State<B>>> {
        let state = match self.state.try_lock() {
            Ok(state) => state,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(self.of_this_process(state))
    }

    /// The locked state, started afresh if it is a forked parent's.
    #[inline]
    fn of_this_process<'a>(&self, mut state: MutexGuard<'a, State<B>>) -> MutexGuard<'a, State<B>> {
        if state.generation != fork::generation() {
            self.forked(&mut state);
        }
        state
    }

    /// A forked child's first use of the arbiter: the holders, waiters and
    /// raw lock are the parent's. Start afresh; the parent's guards in the
    /// child release nothing.
    #[cold]
    #[inline(never)]
    fn forked(&self, state: &mut State<B>) {
        *state = State::new(B::forked(self));
    }

    /// Tells the waiting threads of a change made while one of them waits
    /// in the raw lock's call (the others wait for the state).
    pub(crate) fn tell_waiting_threads(&self, state: &State<B>) {
        if state.sync_waiters > 1 {
            self.changed.notify_all();
        }
    }

    /// Takes the waiters to wake after a change of the state.
    pub(crate) fn notify_waiters(&self, state: &mut State<B>) -> Wakeups<'_> {
        Wakeups {
            // Skipping the wake-up when no thread waits keeps the uncontended
            // path free of futex system calls.
            threads: (state.sync_waiters > 0).then_some(&self.changed),
            tasks: std::mem::take(&mut state.wakers),
        }
    }

    /// Counts an acquisition as under way.
    fn enter(state: &mut State<B>, mode: Mode) {
        state.waiters += 1;
        if mode == Mode::Exclusive {
            state.waiting_writers += 1;
        }
    }

    /// Counts an acquisition as over, acquired or not, and tells the others.
    fn leave(&self, state: &mut State<B>, mode: Mode, acquired: bool) -> Wakeups<'_> {
        state.waiters -= 1;
        if mode == Mode::Exclusive {
            state.waiting_writers -= 1;
        }
        if !acquired && state.waiters == 0 {
            match state.raw {
                // Granted to waiters who have all given up: nobody will claim it.
                Raw::Held(held) if !state.has_holders() => {
                    let _ = B::give_back(self, state, held);
                }
                // Only the background wait can be under way for nobody.
                Raw::Acquiring(_) => B::stop_wait(state),
                _ => {}
            }
        }
        self.notify_waiters(state)
    }

    /// Takes the lock in `mode` for `holder`, waiting in this thread as `wait` says.
    pub(crate) fn acquire(
        self: &Arc<Self>,
        name: &B::Name,
        mode: Mode,
        wait: Wait,
        holder: Holder,
    ) -> Result<()> {
        self.acquire_after(name, mode, wait, holder, false)
    }

    /// [`acquire`](Self::acquire), by a caller that the raw lock (another
    /// description of it, for the file locks) has just `refused`: it is not
    /// asked again at once.
    #[inline]
    pub(crate) fn acquire_after(
        self: &Arc<Self>,
        name: &B::Name,
        mode: Mode,
        wait: Wait,
        holder: Holder,
        refused: bool,
    ) -> Result<()> {
        let mut state = self.state();
        let refused = refused
            || match self.acquire_uncontended(&mut state, name, mode, holder) {
                Attempt::Done(result) => return result,
                Attempt::Refused => true,
                Attempt::NotMade => false,
            };
        let (wait, deadline) = wait.deadline();
        if matches!(holder, Holder::Thread(_)) && state.holds(holder) {
            return Err(B::refused(name, Refusal::WouldDeadlock));
        }
        Self::enter(&mut state, mode);
        state.sync_waiters += 1;
        B::thread_waits(&mut state);
        let (mut state, result) =
            self.acquire_as_waiter(state, name, mode, wait, deadline, holder, refused);
        state.sync_waiters -= 1;
        let wakeups = self.leave(&mut state, mode, result.is_ok());
        drop(state);
        wakeups.wake();
        result
    }

    /// The fast path of an acquisition: nobody of this process holds the
    /// lock or waits for it, and the raw lock is free of this process's
    /// requests, so one attempt decides. Unless it is done, the caller takes
    /// the general path.
    #[inline]
    fn acquire_uncontended(
        &self,
        state: &mut State<B>,
        name: &B::Name,
        mode: Mode,
        holder: Holder,
    ) -> Attempt {
        let idle = !state.has_holders()
            && state.waiters == 0
            && state.raw == Raw::Unlocked
            && state.failure.is_none();
        if !idle {
            return Attempt::NotMade;
        }
        match B::try_take(self, state, mode) {
            Ok(true) => {
                state.claim(mode, holder);
                Attempt::Done(Ok(()))
            }
            Ok(false) => Attempt::Refused,
            Err(failure) => Attempt::Done(Err(B::failed(name, failure))),
        }
    }

    /// `refused`: the raw lock refused this acquisition just now, and the
    /// state has stayed locked since, so the first step does not ask again.
    #[allow(clippy::too_many_arguments)]
    fn acquire_as_waiter<'a>(
        self: &'a Arc<Self>,
        mut state: MutexGuard<'a, State<B>>,
        name: &B::Name,
        mode: Mode,
        wait: Wait,
        deadline: Option<Instant>,
        holder: Holder,
        mut refused: bool,
    ) -> (MutexGuard<'a, State<B>>, Result<()>) {
        loop {
            let step = self.step(
                &mut state, name, mode, wait, deadline, holder, true, refused,
            );
            refused = false;
            match step {
                Step::Done(result) => return (state, result),
                Step::Block => {
                    let result;
                    (state, result) = B::block(self, state, mode, deadline);
                    if let Err(failure) = result {
                        return (state, Err(B::failed(name, failure)));
                    }
                    // Waited until the deadline: that wait was the attempt.
                    // (Granted, the lock is taken next whatever the time: no
                    // clock read on the way from the grant to the caller.)
                    refused = !matches!(state.raw, Raw::Held(_))
                        && deadline.is_some_and(|deadline| Instant::now() >= deadline);
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

    /// Everything an acquirer can do now without waiting: take the lock (raw,
    /// from readers it may join, or as a grant nobody claimed), fail, or start
    /// the raw wait and say what to wait for. `refused`: the raw lock refused
    /// this acquirer a moment ago with the state locked since; a second try
    /// now would be a wasted call (a system call, for the file locks).
    #[allow(clippy::too_many_arguments)]
    fn step(
        self: &Arc<Self>,
        state: &mut State<B>,
        name: &B::Name,
        mode: Mode,
        wait: Wait,
        deadline: Option<Instant>,
        holder: Holder,
        can_block: bool,
        refused: bool,
    ) -> Step {
        let failed = |failure| Step::Done(Err(B::failed(name, failure)));
        let wait_or_give_up = || match wait {
            Wait::Try => Step::Done(Err(B::refused(name, Refusal::WouldBlock))),
            Wait::For(timeout) if deadline.is_some_and(|d| Instant::now() >= d) => {
                Step::Done(Err(B::refused(name, Refusal::TimedOut(timeout))))
            }
            _ => Step::Wait,
        };
        loop {
            if let Some(failure) = state.failure.take() {
                return failed(failure);
            }
            let conflict = state.writer.is_some()
                || match mode {
                    Mode::Exclusive => !state.readers.is_empty(),
                    Mode::Shared => state.waiting_writers > 0,
                };
            if conflict {
                return wait_or_give_up();
            }
            if let Raw::Held(held) = state.raw {
                if B::lost(state) {
                    if !state.readers.is_empty() {
                        // Its holders will give it back; then take it afresh.
                        return wait_or_give_up();
                    }
                    // Granted to a waiter who left, and lost since.
                    let _ = B::give_back(self, state, held);
                    continue;
                }
            }
            if !state.readers.is_empty() {
                // Readers hold the raw lock shared: join them.
                state.readers.push(holder);
                return Step::Done(Ok(()));
            }
            match state.raw {
                Raw::Held(held) if held == mode => {
                    state.claim(mode, holder);
                    return Step::Done(Ok(()));
                }
                Raw::Held(held) => {
                    // Granted in the other mode to a waiter who left.
                    if let Err(failure) = B::give_back(self, state, held) {
                        return failed(failure);
                    }
                }
                Raw::Unlocked if can_block || B::TRY_WHEN_POLLED || matches!(wait, Wait::Try) => {
                    // (Every outcome of this arm returns: one look at most.)
                    let taken = if refused {
                        Ok(false)
                    } else {
                        B::try_take(self, state, mode)
                    };
                    match taken {
                        Err(failure) => return failed(failure),
                        Ok(true) => {
                            state.claim(mode, holder);
                            return Step::Done(Ok(()));
                        }
                        Ok(false) => {
                            if let step @ Step::Done(_) = wait_or_give_up() {
                                return step;
                            }
                            if can_block {
                                return Step::Block;
                            }
                            if let Err(failure) = B::start_wait(self, state, mode) {
                                return failed(failure);
                            }
                            return Step::Wait;
                        }
                    }
                }
                Raw::Unlocked => {
                    // A task, and trying is not quick: the background wait
                    // takes the lock for it.
                    if let step @ Step::Done(_) = wait_or_give_up() {
                        return step;
                    }
                    if let Err(failure) = B::start_wait(self, state, mode) {
                        return failed(failure);
                    }
                    return Step::Wait;
                }
                Raw::Acquiring(_) => return wait_or_give_up(),
            }
        }
    }

    /// The end of a background wait for `mode`: `granted` says whether the
    /// raw lock was granted (and checked by the backend), or why it failed.
    /// Hands the grant to the waiters, or gives it back at once if all of
    /// them have given up; a failure goes to the next waiter. Called by the
    /// backend with the state locked, never from a thread the state's
    /// holders may be waiting for.
    pub(crate) fn background_done(
        &self,
        state: &mut State<B>,
        mode: Mode,
        granted: std::result::Result<bool, B::Failure>,
    ) -> Wakeups<'_> {
        match granted {
            Ok(true) => {
                state.raw = Raw::Held(mode);
                if state.waiters == 0 {
                    let _ = B::give_back(self, state, mode);
                }
            }
            Ok(false) => state.raw = Raw::Unlocked,
            Err(failure) => {
                state.raw = Raw::Unlocked;
                if state.waiters > 0 {
                    state.failure = Some(failure);
                }
            }
        }
        self.notify_waiters(state)
    }

    /// Gives back `holder`'s share of the lock in `mode`; the last holder
    /// gives the raw lock back.
    pub(crate) fn release(&self, name: &B::Name, mode: Mode, holder: Holder) -> Result<()> {
        let mut state = self.state();
        Self::remove_holder(&mut state, name, mode, holder)?;
        // Release order: the in-process hold first, then (if it was the last
        // one) the raw lock, both under the state mutex, and only then wake
        // the waiters, so a woken waiter of this process finds the raw lock
        // already given back and competes for it on equal terms with others.
        let last = !state.has_holders();
        let result = match state.raw {
            Raw::Held(held) if last => {
                B::give_back(self, &mut state, held).map_err(|failure| B::failed(name, failure))
            }
            _ => Ok(()),
        };
        self.tell_waiters(state);
        result
    }

    /// Gives back `holder`'s share as [`release`](Self::release) does, except
    /// that the last holder's raw lock is not given back here: `last` runs
    /// with the state locked, the raw lock is marked busy (`Acquiring`: other
    /// acquisitions wait, a try is refused), and the caller gives it back
    /// without the state locked, then calls [`given_back`](Self::given_back).
    /// For a backend whose give-back is a round trip, made by an async caller
    /// that should not block a thread for it.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn release_holder<T>(
        &self,
        name: &B::Name,
        mode: Mode,
        holder: Holder,
        last: impl FnOnce(&mut State<B>, Mode) -> T,
    ) -> Result<Option<T>> {
        let mut state = self.state();
        Self::remove_holder(&mut state, name, mode, holder)?;
        if let Raw::Held(held) = state.raw {
            if !state.has_holders() {
                // The waiters hear of it once it is given back.
                state.raw = Raw::Acquiring(held);
                return Ok(Some(last(&mut state, held)));
            }
        }
        self.tell_waiters(state);
        Ok(None)
    }

    /// The end of a give-back that [`release_holder`](Self::release_holder)
    /// left to its caller, given back or failed: the raw lock is free (a
    /// failed give-back is the backend's to make good, as a failed
    /// [`RawLock::give_back`] is), and the waiters hear of it.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn given_back(&self, mut state: MutexGuard<'_, State<B>>) {
        state.raw = Raw::Unlocked;
        self.tell_waiters(state);
    }

    /// Unlocks the state, then wakes the waiters, if any, to look at it again.
    #[inline]
    fn tell_waiters(&self, mut state: MutexGuard<'_, State<B>>) {
        if state.waiters == 0 {
            // Nobody to tell (no thread waits, no task has a waker here).
            return;
        }
        let wakeups = self.notify_waiters(&mut state);
        drop(state);
        wakeups.wake();
    }

    /// Takes `holder` off the holders of `mode`.
    fn remove_holder(
        state: &mut State<B>,
        name: &B::Name,
        mode: Mode,
        holder: Holder,
    ) -> Result<()> {
        match mode {
            Mode::Exclusive if state.writer == Some(holder) => state.writer = None,
            Mode::Shared => match state.readers.iter().position(|&reader| reader == holder) {
                Some(index) => {
                    state.readers.swap_remove(index);
                }
                None => {
                    return Err(B::refused(
                        name,
                        Refusal::NotHeld("this thread holds no read lock"),
                    ))
                }
            },
            Mode::Exclusive => {
                return Err(B::refused(
                    name,
                    Refusal::NotHeld("this thread holds no write lock"),
                ))
            }
        }
        Ok(())
    }
}

/// What the fast path of an acquisition did.
enum Attempt {
    /// Took the lock, or failed.
    Done(Result<()>),
    /// Asked the raw lock, which is held elsewhere.
    Refused,
    /// Made no attempt: the state is not simple enough.
    NotMade,
}

/// What an acquirer does next, as [`Arbiter::step`] decides.
enum Step {
    /// Acquired, or failed.
    Done(Result<()>),
    /// Wait for the raw lock in this thread, until the deadline if there is
    /// one (acquires of threads only).
    Block,
    /// Wait for a change of the state (or the deadline).
    Wait,
}

impl Wait {
    /// The wait of Python's `acquire(blocking, timeout)`.
    pub(crate) fn from_python(blocking: bool, timeout: Option<Duration>) -> Wait {
        match (blocking, timeout) {
            (false, _) => Wait::Try,
            (true, None) => Wait::Forever,
            (true, Some(timeout)) => Wait::For(timeout),
        }
    }

    /// The deadline of a timed wait; a timeout too long to represent is no timeout.
    pub(crate) fn deadline(self) -> (Wait, Option<Instant>) {
        match self {
            Wait::For(timeout) => match Instant::now().checked_add(timeout) {
                Some(deadline) => (self, Some(deadline)),
                None => (Wait::Forever, None),
            },
            _ => (self, None),
        }
    }
}
