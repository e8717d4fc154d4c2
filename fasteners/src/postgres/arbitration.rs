//! TEMPORARY: the in-process arbitration of one PostgreSQL lock object.
//!
//! This file stands in for the arbitration that the file locks have
//! (`lock_file`'s entry: holders by thread or token, `WouldDeadlock`,
//! writers first, wake-ups, futures), until that is shared by every
//! backend; then this file goes and the backend keeps only its raw calls
//! ([`super::session`]) and its public types.
//!
//! The threads and tasks of this process that use one lock object share its
//! one session. A gate (tokio's fair reader-writer lock: once a writer
//! queues, later readers queue behind it) decides which of them may hold the
//! lock; the server lock is taken by the first holder and given back by the
//! last (readers share one shared lock on the server). Every acquisition and
//! release runs as a task on the backend's runtime and answers through a
//! oneshot channel, so that a caller that goes away (a dropped future) is
//! noticed by the task, which then withdraws cleanly.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use tokio::sync::{oneshot, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use super::runtime;
use super::session::{NotTaken, ServerWait, Session, Target};
// The file locks' vocabulary for waits and holders.
pub(crate) use crate::lock_file::{Holder, Wait};
use crate::sys::Mode;
use crate::{Error, ErrorKind, Result};

/// The in-process state of one lock object.
#[derive(Debug)]
pub(crate) struct Arbiter {
    pub(crate) target: Target,
    gate: Arc<RwLock<()>>,
    /// The readers' session and their number, while readers hold the lock.
    readers: tokio::sync::Mutex<Option<(Arc<Session>, usize)>>,
    /// The object's connection, once made and until it ends.
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    holders: Mutex<Vec<Holder>>,
}

/// The in-process permit of a holder.
#[derive(Debug)]
enum Permit {
    Read(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Write(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

/// One holder's share of the lock: the in-process permit and the server
/// session that holds the lock. Given back by one of the `release` methods,
/// or, if dropped, by a task on the backend's runtime.
#[derive(Debug)]
pub(crate) struct Grant {
    arbiter: Arc<Arbiter>,
    session: Arc<Session>,
    mode: Mode,
    holder: Holder,
    permit: Option<Permit>,
}

impl Arbiter {
    pub(crate) fn new(target: Target) -> Arc<Self> {
        Arc::new(Arbiter {
            target,
            gate: Arc::new(RwLock::new(())),
            readers: tokio::sync::Mutex::new(None),
            session: tokio::sync::Mutex::new(None),
            holders: Mutex::new(Vec::new()),
        })
    }

    fn holders(&self) -> MutexGuard<'_, Vec<Holder>> {
        self.holders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a new holder, here and, for a thread, process-wide.
    fn record(&self, holder: Holder) {
        self.holders().push(holder);
        if let Holder::Thread(thread) = holder {
            threads_holding().push((Arc::clone(&self.target.name), thread));
        }
    }

    fn forget(&self, holder: Holder) {
        let mut holders = self.holders();
        if let Some(index) = holders.iter().position(|&h| h == holder) {
            holders.swap_remove(index);
            drop(holders);
            if let Holder::Thread(thread) = holder {
                let mut threads = threads_holding();
                let name = &self.target.name;
                if let Some(index) = threads.iter().position(|(n, t)| n == name && *t == thread) {
                    threads.swap_remove(index);
                }
            }
        }
    }

    /// Whether anyone in this process holds the lock through this object.
    pub(crate) fn is_held(&self) -> bool {
        !self.holders().is_empty()
    }

    /// Takes the lock for the calling thread, waiting on this thread.
    pub(crate) fn acquire_blocking(self: &Arc<Self>, mode: Mode, wait: Wait) -> Result<Grant> {
        let me = thread::current().id();
        let holder = Holder::Thread(me);
        // Also through another lock object for the same key on the same
        // server (as spelled): its session would wait for this one forever.
        let name = &self.target.name;
        if threads_holding().iter().any(|(n, t)| n == name && *t == me) {
            return Err(Error::server_refused(
                ErrorKind::WouldDeadlock,
                &self.target.name,
                "this thread already holds this lock (PostgreSQL locks are not re-entrant)",
            ));
        }
        let answer = self.start(mode, wait, holder)?;
        runtime::block_on(answer).unwrap_or_else(|_| Err(self.runtime_gone()))
    }

    /// Takes the lock for a `Send` guard, waiting as a future.
    pub(crate) async fn acquire_async(self: &Arc<Self>, mode: Mode, wait: Wait) -> Result<Grant> {
        let answer = self.start(mode, wait, Holder::new_token())?;
        answer.await.unwrap_or_else(|_| Err(self.runtime_gone()))
    }

    fn runtime_gone(&self) -> Error {
        Error::server(
            ErrorKind::Server,
            &self.target.name,
            "lock",
            "the PostgreSQL runtime stopped".into(),
            None,
        )
    }

    fn runtime_error(&self, err: std::io::Error) -> Error {
        Error::server(
            ErrorKind::Server,
            &self.target.name,
            "lock",
            err.to_string(),
            None,
        )
    }

    /// Starts the acquisition's task; its answer comes through the receiver.
    /// Dropping the receiver abandons the acquisition.
    fn start(
        self: &Arc<Self>,
        mode: Mode,
        wait: Wait,
        holder: Holder,
    ) -> Result<oneshot::Receiver<Result<Grant>>> {
        let handle = runtime::handle().map_err(|err| self.runtime_error(err))?;
        let (mut answer, receiver) = oneshot::channel();
        let arbiter = Arc::clone(self);
        let deadline = match wait {
            Wait::For(timeout) => Instant::now().checked_add(timeout),
            _ => None,
        };
        handle.spawn(async move {
            let result = {
                let abandoned = answer.closed();
                let abandoned = std::pin::pin!(abandoned);
                arbiter
                    .acquire(mode, wait, deadline, holder, abandoned)
                    .await
            };
            match result {
                Ok(grant) => {
                    if let Err(Ok(grant)) = answer.send(Ok(grant)) {
                        // Nobody took it: give it back at once.
                        let _ = grant.release_here().await;
                    }
                }
                Err(NotTaken::Abandoned) => {}
                Err(NotTaken::Busy) => {
                    let _ = answer.send(Err(arbiter.busy(wait)));
                }
                Err(NotTaken::Failed(err)) => {
                    let _ = answer.send(Err(err));
                }
            }
        });
        Ok(receiver)
    }

    fn busy(&self, wait: Wait) -> Error {
        match wait {
            Wait::For(timeout) => Error::server_timed_out(&self.target.name, timeout),
            _ => Error::server_refused(
                ErrorKind::WouldBlock,
                &self.target.name,
                "held elsewhere (would block)",
            ),
        }
    }

    /// The acquisition itself, on the backend's runtime.
    async fn acquire<A>(
        self: &Arc<Self>,
        mode: Mode,
        wait: Wait,
        deadline: Option<Instant>,
        holder: Holder,
        mut abandoned: std::pin::Pin<&mut A>,
    ) -> std::result::Result<Grant, NotTaken>
    where
        A: std::future::Future<Output = ()>,
    {
        // In process: the gate.
        let permit = match mode {
            Mode::Exclusive => {
                let take = Arc::clone(&self.gate).write_owned();
                in_process(take, wait, deadline, abandoned.as_mut(), || {
                    Arc::clone(&self.gate).try_write_owned().ok()
                })
                .await
                .map(Permit::Write)?
            }
            Mode::Shared => {
                let take = Arc::clone(&self.gate).read_owned();
                in_process(take, wait, deadline, abandoned.as_mut(), || {
                    Arc::clone(&self.gate).try_read_owned().ok()
                })
                .await
                .map(Permit::Read)?
            }
        };
        // On the server.
        let session = match mode {
            Mode::Exclusive => {
                let session = self.session(abandoned.as_mut()).await?;
                session
                    .take(&self.target, mode, server_wait(wait, deadline), abandoned)
                    .await?;
                session
            }
            Mode::Shared => {
                let mut readers = in_process(
                    self.readers.lock(),
                    wait,
                    deadline,
                    abandoned.as_mut(),
                    || self.readers.try_lock().ok(),
                )
                .await?;
                match &mut *readers {
                    Some((session, count)) if session.ended().is_none() => {
                        *count += 1;
                        Arc::clone(session)
                    }
                    _ => {
                        // The first reader (or the first after the readers'
                        // session was lost) takes the shared lock.
                        let session = self.session(abandoned.as_mut()).await?;
                        session
                            .take(&self.target, mode, server_wait(wait, deadline), abandoned)
                            .await?;
                        *readers = Some((Arc::clone(&session), 1));
                        session
                    }
                }
            }
        };
        session.hold();
        self.record(holder);
        Ok(Grant {
            arbiter: Arc::clone(self),
            session,
            mode,
            holder,
            permit: Some(permit),
        })
    }

    /// The object's session, connecting if there is none or it has ended.
    async fn session<A>(
        &self,
        abandoned: std::pin::Pin<&mut A>,
    ) -> std::result::Result<Arc<Session>, NotTaken>
    where
        A: std::future::Future<Output = ()>,
    {
        let mut slot = self.session.lock().await;
        if let Some(session) = &*slot {
            if session.ended().is_none() {
                return Ok(Arc::clone(session));
            }
        }
        tokio::select! {
            biased;
            session = Session::connect(&self.target) => {
                let session = session?;
                *slot = Some(Arc::clone(&session));
                Ok(session)
            }
            () = abandoned => Err(NotTaken::Abandoned),
        }
    }
}

/// The threads of this process holding a lock, by the lock's description
/// (its key and server as spelled in the configuration), whatever the object.
fn threads_holding() -> MutexGuard<'static, Vec<(Arc<str>, thread::ThreadId)>> {
    static HOLDING: Mutex<Vec<(Arc<str>, thread::ThreadId)>> = Mutex::new(Vec::new());
    HOLDING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server-side wait left of `wait` at its deadline.
fn server_wait(wait: Wait, deadline: Option<Instant>) -> ServerWait {
    match (wait, deadline) {
        (Wait::Try, _) => ServerWait::Try,
        (Wait::For(_), Some(deadline)) => {
            ServerWait::For(deadline.saturating_duration_since(Instant::now()))
        }
        _ => ServerWait::Forever,
    }
}

/// Waits in process for `take` as `wait` says (`try_take` for a try),
/// giving up if the caller goes away.
async fn in_process<T, F, A>(
    take: F,
    wait: Wait,
    deadline: Option<Instant>,
    abandoned: std::pin::Pin<&mut A>,
    try_take: impl FnOnce() -> Option<T>,
) -> std::result::Result<T, NotTaken>
where
    F: std::future::Future<Output = T>,
    A: std::future::Future<Output = ()>,
{
    if let Wait::Try = wait {
        return try_take().ok_or(NotTaken::Busy);
    }
    let timed = async {
        match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), take)
                .await
                .map_err(|_| NotTaken::Busy),
            None => Ok(take.await),
        }
    };
    tokio::select! {
        biased;
        taken = timed => taken,
        () = abandoned => Err(NotTaken::Abandoned),
    }
}

impl Grant {
    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.session
    }

    pub(crate) fn target(&self) -> &Target {
        &self.arbiter.target
    }

    /// Gives the share back and waits for the server's answer (from any
    /// thread but the backend's).
    pub(crate) fn release_blocking(self) -> Result<()> {
        let name = Arc::clone(&self.arbiter.target.name);
        match runtime::handle() {
            Ok(handle) => runtime::block_on(handle.spawn(self.release_here()))
                .unwrap_or_else(|_| Err(gone(&name))),
            Err(_) => Err(gone(&name)),
        }
    }

    /// Gives the share back, as a future that any executor can run.
    pub(crate) async fn release_async(self) -> Result<()> {
        let name = Arc::clone(&self.arbiter.target.name);
        match runtime::handle() {
            Ok(handle) => handle
                .spawn(self.release_here())
                .await
                .unwrap_or_else(|_| Err(gone(&name))),
            Err(_) => Err(gone(&name)),
        }
    }

    /// Gives the share back, on the backend's runtime. Release order: the
    /// server lock first (if this is the last holder), then the in-process
    /// permit, so that the next holder of this process finds the server lock
    /// given back and competes for it with everyone else.
    async fn release_here(mut self) -> Result<()> {
        let permit = self.permit.take();
        let arbiter = Arc::clone(&self.arbiter);
        let session = Arc::clone(&self.session);
        let target = &arbiter.target;
        arbiter.forget(self.holder);
        let result = match self.mode {
            Mode::Exclusive => session.give_back(target, Mode::Exclusive).await,
            Mode::Shared => {
                let mut readers = arbiter.readers.lock().await;
                match &mut *readers {
                    Some((current, count)) if Arc::ptr_eq(current, &session) => {
                        *count -= 1;
                        if *count == 0 {
                            *readers = None;
                            session.give_back(target, Mode::Shared).await
                        } else {
                            session.lost_error(target).map_or(Ok(()), Err)
                        }
                    }
                    // A reader of a session that was lost and replaced.
                    _ => session.lost_error(target).map_or(Ok(()), Err),
                }
            }
        };
        session.unhold();
        drop(permit);
        result
    }
}

fn gone(name: &Arc<str>) -> Error {
    Error::server(
        ErrorKind::Server,
        name,
        "unlock",
        "the PostgreSQL runtime stopped".into(),
        None,
    )
}

impl Drop for Grant {
    /// A grant dropped without being released (nobody took it from its
    /// task) is given back by a task, without waiting for the server.
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        // The holder leaves at once (a thread may ask again right away);
        // the permit waits for the server's lock to be given back.
        self.arbiter.forget(self.holder);
        let grant = Grant {
            arbiter: Arc::clone(&self.arbiter),
            session: Arc::clone(&self.session),
            mode: self.mode,
            holder: self.holder,
            permit: Some(permit),
        };
        if let Ok(handle) = runtime::handle() {
            handle.spawn(grant.release_here());
        }
    }
}
