//! The PostgreSQL backend's raw lock: the advisory lock on the lock object's
//! own session, taken and given back for the [`Arbiter`] that arbitrates
//! between the object's threads and tasks, as it does for the file locks.
//!
//! The calls of threads run on the calling thread in the backend runtime's
//! context ([`runtime::run`]): a try is one round trip, a blocking or timed
//! wait waits on the server (`lock_timeout` for the timed one), a give-back
//! is one round trip. The background wait of async acquisitions, and an
//! async give-back, are driven by the task that started them, or by the
//! backend's runtime once that task is gone or a thread waits
//! ([`session::Foreground`](super::session::Foreground)). Neither the
//! runtime's own thread nor a task's call ever waits for the state mutex (a
//! caller holding it may be waiting for them), nor makes a round trip of a
//! sync call: a wait hands a grant to its waiters itself only if the state
//! is free at once, and reports from a blocking-pool thread otherwise.

use std::cell::RefCell;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Instant;

use tokio::sync::Notify;

use super::drive::{Foreground, Rescue};
use super::runtime;
use super::session::{NotTaken, ServerWait, Session, Target};
use crate::arbiter::{sync, Arbiter, Holder, Raw, RawLock, Refusal, State};
use crate::sys::Mode;
use crate::{Error, ErrorKind, Result};

/// One lock object's arbitration: its threads and tasks, its session.
pub(crate) type PgArbiter = Arbiter<Pg>;

/// The PostgreSQL part of an arbiter, outside its state mutex.
#[derive(Debug)]
pub(crate) struct Pg {
    pub(crate) target: Target,
    /// The object's connection, once made and until it ends.
    session: Mutex<Option<Arc<Session>>>,
    /// Held while a connection is being made, so that threads and tasks
    /// that find none at once make one between them.
    connecting: tokio::sync::Mutex<()>,
}

/// The PostgreSQL part of an arbiter's state.
#[derive(Debug, Default)]
pub(crate) struct PgState {
    /// The session that holds the server lock (while it is held), or waits
    /// for it in the background.
    holding: Option<Arc<Session>>,
    /// Ends the background wait under way.
    stop: Option<Arc<Notify>>,
    /// The calls that tasks drive, to rescue when a thread waits.
    in_flight: Vec<Weak<dyn Rescue>>,
}

impl PgState {
    /// Keeps `call` to rescue while it is in flight; made only while no
    /// thread waits.
    fn track<T: Send + 'static>(&mut self, call: &Foreground<T>) {
        self.in_flight.retain(|call| call.strong_count() > 0);
        self.in_flight.push(call.rescuer());
    }
}

thread_local! {
    /// `Some` while an async acquisition's task polls the arbitration, with
    /// the background wait that the poll started, if it started one.
    static TASK_POLL: RefCell<Option<Option<Foreground<()>>>> = const { RefCell::new(None) };
}

/// Runs `poll` (a poll of the arbitration by an async acquisition's task)
/// so that a background wait it starts is handed back, with the poll's
/// output, for the task to drive itself, connection included, rather than
/// spawned on the backend's runtime: the wait's query and its answer then
/// need no hand-over to the backend's thread. The task leaves the wait to
/// the backend if it goes before the wait ends (other tasks may wait for
/// it), as a dropped [`Foreground`] does.
pub(crate) fn polled_by_task<R>(poll: impl FnOnce() -> R) -> (R, Option<Foreground<()>>) {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            // Outside the borrow: a wait dropped here is rescued.
            let started = TASK_POLL.with(|slot| slot.borrow_mut().take());
            drop(started);
        }
    }
    TASK_POLL.with(|slot| *slot.borrow_mut() = Some(None));
    let _reset = Reset;
    let output = poll();
    let started = TASK_POLL.with(|slot| slot.borrow_mut().take()).flatten();
    (output, started)
}

impl Pg {
    pub(crate) fn arbiter(target: Target) -> Arc<PgArbiter> {
        Arbiter::new_cyclic(|_| {
            let pg = Pg {
                target,
                session: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
            };
            (pg, State::new(PgState::default()))
        })
    }

    fn slot(&self) -> MutexGuard<'_, Option<Arc<Session>>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The object's live session, if it has one.
    fn live_session(&self) -> Option<Arc<Session>> {
        self.slot()
            .as_ref()
            .filter(|session| session.ended().is_none())
            .cloned()
    }

    /// The object's session, connecting (on this thread) if there is none
    /// or it has ended.
    pub(crate) fn session(&self) -> Result<Arc<Session>> {
        if let Some(session) = self.live_session() {
            return Ok(session);
        }
        runtime::run(self.connected()).map_err(|err| self.runtime_error(err))?
    }

    /// The object's live session, connecting if there is none; one
    /// connection at a time.
    async fn connected(&self) -> Result<Arc<Session>> {
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(session) = self.live_session() {
            return Ok(session);
        }
        let session = Session::connect(&self.target).await?;
        *self.slot() = Some(Arc::clone(&session));
        Ok(session)
    }

    pub(crate) fn runtime_error(&self, err: std::io::Error) -> Error {
        Error::server(
            ErrorKind::Server,
            &self.target.name,
            "lock",
            err.to_string(),
            None,
        )
    }

    pub(crate) fn runtime_gone(&self) -> Error {
        Error::server(
            ErrorKind::Server,
            &self.target.name,
            "lock",
            "the PostgreSQL runtime stopped".into(),
            None,
        )
    }

    /// Takes the lock on `session` as `wait` says, on this thread.
    fn take(
        &self,
        session: &Session,
        mode: Mode,
        wait: ServerWait,
    ) -> std::result::Result<(), NotTaken> {
        let never = pin!(std::future::pending::<()>());
        runtime::run(session.take(&self.target, mode, wait, never))
            .map_err(|err| NotTaken::Failed(self.runtime_error(err)))?
    }
}

/// Records a grant of the server lock on `session`.
fn granted(state: &mut State<Pg>, mode: Mode, session: Arc<Session>) {
    session.hold();
    state.local.holding = Some(session);
    state.raw = Raw::Held(mode);
}

/// The background wait for `mode` on `session` on behalf of the waiting
/// tasks, until granted or `stop`ped, and its report to the arbiter. It runs
/// on the backend's runtime or in the task that started it, never where the
/// state's holders may wait for it: it takes the state only if it is free
/// at once, and reports from a blocking-pool thread otherwise.
fn background_wait(
    arbiter: Arc<PgArbiter>,
    session: Arc<Session>,
    mode: Mode,
    stop: &Arc<Notify>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let stopped = Arc::clone(stop);
    async move {
        // A stop that comes before this wait starts is kept by `Notify`.
        let stopped = pin!(stopped.notified());
        let taken = session
            .take(&arbiter.backend.target, mode, ServerWait::Forever, stopped)
            .await;
        // A grant that waiters are there for is handed over from here, if
        // the state is free at once: it needs no round trip, and it saves
        // the waiting task a thread wake-up.
        if taken.is_ok() {
            if let Some(mut state) = arbiter.try_state().filter(|state| state.waiters > 0) {
                state.local.stop = None;
                granted(&mut state, mode, session);
                let wakeups = arbiter.background_done(&mut state, mode, Ok(true));
                drop(state);
                wakeups.wake();
                return;
            }
        }
        // Otherwise from a blocking-pool thread, which may wait for the
        // state, and may give the grant back or wait again (round trips).
        let report = runtime::spawn_blocking(move || {
            let mut state = arbiter.state();
            state.local.stop = None;
            let outcome = match taken {
                Ok(()) => {
                    granted(&mut state, mode, session);
                    Ok(true)
                }
                // Stopped, and tasks wait again since: wait for them.
                Err(NotTaken::Busy | NotTaken::Abandoned) if state.waiters > 0 => {
                    match Pg::start_wait(&arbiter, &mut state, mode) {
                        Ok(()) => return,
                        Err(err) => Err(err),
                    }
                }
                Err(NotTaken::Busy | NotTaken::Abandoned) => Ok(false),
                Err(NotTaken::Failed(err)) => Err(err),
            };
            let wakeups = arbiter.background_done(&mut state, mode, outcome);
            drop(state);
            wakeups.wake();
        });
        if let Ok(report) = report {
            let _ = report.await;
        }
    }
}

impl RawLock for Pg {
    type Local = PgState;
    type Failure = Error;
    type Name = Arc<str>;

    /// A round trip to the server: never made as a task is polled.
    const TRY_WHEN_POLLED: bool = false;

    fn forked(_: &PgArbiter) -> PgState {
        PgState::default()
    }

    fn try_take(
        arbiter: &PgArbiter,
        state: &mut State<Pg>,
        mode: Mode,
    ) -> std::result::Result<bool, Error> {
        let pg = &arbiter.backend;
        let session = pg.session()?;
        match pg.take(&session, mode, ServerWait::Try) {
            Ok(()) => {
                granted(state, mode, session);
                Ok(true)
            }
            Err(NotTaken::Busy | NotTaken::Abandoned) => Ok(false),
            Err(NotTaken::Failed(err)) => Err(err),
        }
    }

    fn block<'a>(
        arbiter: &'a PgArbiter,
        mut state: sync::MutexGuard<'a, State<Pg>>,
        mode: Mode,
        deadline: Option<Instant>,
    ) -> (
        sync::MutexGuard<'a, State<Pg>>,
        std::result::Result<(), Error>,
    ) {
        let pg = &arbiter.backend;
        let session = match pg.session() {
            Ok(session) => session,
            Err(err) => return (state, Err(err)),
        };
        state.raw = Raw::Acquiring(mode);
        drop(state);
        let wait = match deadline {
            Some(deadline) => ServerWait::For(deadline.saturating_duration_since(Instant::now())),
            None => ServerWait::Forever,
        };
        let taken = pg.take(&session, mode, wait);
        let mut state = arbiter.state();
        let result = match taken {
            Ok(()) => {
                granted(&mut state, mode, session);
                Ok(())
            }
            // The timeout ran out on the server: the caller's next step says so.
            Err(NotTaken::Busy | NotTaken::Abandoned) => {
                state.raw = Raw::Unlocked;
                Ok(())
            }
            Err(NotTaken::Failed(err)) => {
                state.raw = Raw::Unlocked;
                Err(err)
            }
        };
        arbiter.tell_waiting_threads(&state);
        (state, result)
    }

    fn start_wait(
        arbiter: &Arc<PgArbiter>,
        state: &mut State<Pg>,
        mode: Mode,
    ) -> std::result::Result<(), Error> {
        let pg = &arbiter.backend;
        let session = pg.session()?;
        let stop = Arc::new(Notify::new());
        let wait = background_wait(Arc::clone(arbiter), Arc::clone(&session), mode, &stop);
        // A waiting thread may be the one that should poll the task.
        if TASK_POLL.with(|slot| slot.borrow().is_some()) && state.sync_waiters == 0 {
            let wait = Foreground::new(session, &pg.target, true, wait);
            state.local.track(&wait);
            TASK_POLL.with(|slot| *slot.borrow_mut() = Some(Some(wait)));
        } else {
            runtime::spawn(wait).map_err(|err| pg.runtime_error(err))?;
        }
        state.local.stop = Some(stop);
        state.raw = Raw::Acquiring(mode);
        Ok(())
    }

    /// A thread is about to wait: calls in flight that tasks drive go to
    /// the backend's runtime, which finishes them whether or not the tasks
    /// are polled (this thread may be the one that polls them).
    fn thread_waits(state: &mut State<Pg>) {
        for call in state.local.in_flight.drain(..) {
            if let Some(call) = call.upgrade() {
                call.rescue();
            }
        }
    }

    fn stop_wait(state: &State<Pg>) {
        if let Some(stop) = &state.local.stop {
            stop.notify_one();
        }
    }

    fn give_back(
        arbiter: &PgArbiter,
        state: &mut State<Pg>,
        mode: Mode,
    ) -> std::result::Result<(), Error> {
        state.raw = Raw::Unlocked;
        let Some(session) = state.local.holding.take() else {
            return Ok(());
        };
        session.unhold();
        let pg = &arbiter.backend;
        runtime::run(session.give_back(&pg.target, mode)).map_err(|err| pg.runtime_error(err))?
    }

    fn lost(state: &State<Pg>) -> bool {
        state
            .local
            .holding
            .as_ref()
            .is_some_and(|session| session.ended().is_some())
    }

    fn failed(_: &Arc<str>, err: Error) -> Error {
        err
    }

    fn refused(name: &Arc<str>, refusal: Refusal) -> Error {
        match refusal {
            Refusal::WouldBlock => {
                Error::server_refused(ErrorKind::WouldBlock, name, "held elsewhere (would block)")
            }
            Refusal::TimedOut(timeout) => Error::server_timed_out(name, timeout),
            Refusal::WouldDeadlock => Error::server_refused(
                ErrorKind::WouldDeadlock,
                name,
                "this thread already holds this lock (PostgreSQL locks are not re-entrant)",
            ),
            Refusal::NotHeld(what) => Error::server_refused(ErrorKind::NotHeld, name, what),
        }
    }
}

impl PgArbiter {
    /// Gives back `holder`'s share for an async caller: the last holder's
    /// unlock is a call that the awaiting task drives, connection included
    /// ([`Foreground`]), so that its query and answer cost no hand-over to
    /// the backend's thread; a dropped caller leaves it to the backend's
    /// runtime, which completes it. It reports at once if the state is free,
    /// else from a blocking-pool thread (the backend's thread never waits
    /// for the state).
    pub(crate) async fn release_async(self: &Arc<Self>, mode: Mode, holder: Holder) -> Result<()> {
        let name = &self.backend.target.name;
        let target = &self.backend.target;
        let call = self.release_holder(name, mode, holder, |state, _| {
            let session = state.local.holding.take()?;
            session.unhold();
            let arbiter = Arc::clone(self);
            let unlocking = Arc::clone(&session);
            let give_back = async move {
                let given_back = unlocking.give_back(&arbiter.backend.target, mode).await;
                arbiter.report_given_back();
                given_back
            };
            // Driven by this task unless a thread waits (see `thread_waits`).
            let here = state.sync_waiters == 0;
            let call = Foreground::new(session, target, here, give_back);
            if here {
                state.local.track(&call);
            }
            Some(call)
        })?;
        match call {
            Some(Some(call)) => call.await,
            Some(None) => {
                // Held without a session cannot happen; free it all the same.
                self.report_given_back();
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The end of an async give-back: the lock is free, the waiters hear.
    fn report_given_back(self: &Arc<Self>) {
        if let Some(state) = self.try_state() {
            return self.given_back(state);
        }
        let arbiter = Arc::clone(self);
        if runtime::spawn_blocking(move || arbiter.given_back(arbiter.state())).is_err() {
            // No blocking pool (the runtime failed to start): not on its thread.
            self.given_back(self.state());
        }
    }

    /// Acquisitions of this process under way.
    pub(crate) fn waiting(&self) -> usize {
        self.state().waiters
    }

    /// Whether any thread or task of this process holds the lock.
    pub(crate) fn is_held(&self) -> bool {
        self.state().has_holders()
    }

    /// The session holding the server lock, while this process holds it.
    pub(crate) fn holding_session(&self) -> Option<Arc<Session>> {
        self.state().local.holding.clone()
    }

    /// [`Pg::session`] for async callers: connects on the backend's runtime,
    /// so that a dropped caller leaves the connection to finish there.
    pub(crate) async fn session_async(self: &Arc<Self>) -> Result<Arc<Session>> {
        let pg = &self.backend;
        if let Some(session) = pg.live_session() {
            return Ok(session);
        }
        let arbiter = Arc::clone(self);
        let connect = runtime::spawn(async move { arbiter.backend.connected().await })
            .map_err(|err| pg.runtime_error(err))?;
        connect.await.map_err(|_| pg.runtime_gone())?
    }
}
