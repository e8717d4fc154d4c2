//! Who drives a session's connection.
//!
//! A tokio-postgres connection is a future that must be polled for its
//! queries to be sent and their answers read. The session keeps it in a
//! slot that anyone may poll: the session's watch task on the backend's
//! runtime, which serves sync callers, background waits and the heartbeat,
//! and an async caller's own task, which drives it while it awaits a call of
//! its own ([`Foreground`]): its query goes out from its own poll, and its
//! answer wakes it without a hand-over to the backend's thread. Whoever
//! polls last is the one woken when something comes, so a task that is done
//! with the connection hands it back: it polls it once more for the watch
//! task (which then hears what comes next), and a task dropped mid-call
//! leaves the rest of its call to the backend's runtime.
//!
//! The socket's registration follows the poll ([`super::socket`]): with the
//! backend's reactor for the watch task, and for a task's call with the
//! reactor of the task's runtime if the lock object was made
//! `with_callers_runtime`, else with the backend's.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};

use tokio::runtime::Handle;
use tokio::sync::watch;

use super::runtime;
use super::session::{describe, Session, Target};
#[cfg(unix)]
use super::socket;

/// A tokio-postgres connection, boxed: the socket type differs by platform.
pub(crate) type ConnectionFuture =
    Pin<Box<dyn Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send>>;

/// A session's connection and what tells that it ended, shared by the
/// session and its watch task (see the module docs).
pub(crate) struct Driven {
    /// `None` once the connection ended or was closed.
    connection: Mutex<Option<ConnectionFuture>>,
    /// The watch task's waker, for hand-backs.
    watch: Mutex<Option<Waker>>,
    /// `None` while the connection lives; why it ended, once it has.
    ended: watch::Sender<Option<String>>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps `waker` in `slot` to wake later (cloned only if it is another).
fn remember(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|kept| kept.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}

impl Driven {
    pub(crate) fn new(connection: ConnectionFuture) -> Driven {
        Driven {
            connection: Mutex::new(Some(connection)),
            watch: Mutex::new(None),
            ended: watch::channel(None).0,
        }
    }

    /// Why the connection ended, if it has.
    pub(crate) fn ended(&self) -> Option<String> {
        self.ended.borrow().clone()
    }

    /// Tells when the connection ends, and why.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<String>> {
        self.ended.subscribe()
    }

    /// Polls the connection for `cx`'s task: `Ready` once it has ended.
    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut slot = lock(&self.connection);
        let Some(connection) = slot.as_mut() else {
            return Poll::Ready(());
        };
        let Poll::Ready(outcome) = connection.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        let connection = slot.take();
        drop(slot);
        drop(connection);
        self.end(match outcome {
            Ok(()) => "the server closed the connection".to_owned(),
            Err(err) => describe(&err),
        });
        Poll::Ready(())
    }

    /// Records why the connection ended (the first cause only) and tells
    /// the watch task.
    fn end(&self, cause: String) {
        self.ended
            .send_if_modified(|ended| ended.is_none() && ended.replace(cause).is_none());
        self.wake_watch();
    }

    /// Closes the connection: dropping it closes the socket.
    pub(crate) fn close(&self, cause: String) {
        let connection = lock(&self.connection).take();
        drop(connection);
        self.end(cause);
    }

    /// Wakes the watch task, which then polls the connection on the
    /// backend's runtime.
    fn wake_watch(&self) {
        if let Some(watch) = lock(&self.watch).as_ref() {
            watch.wake_by_ref();
        }
    }

    /// Polls the connection once for the watch task, so that it is the one
    /// woken when something comes next.
    fn hand_back(&self) {
        let watch = lock(&self.watch).clone();
        if let Some(watch) = watch {
            let _ = self.poll(&mut Context::from_waker(&watch));
        }
    }

    /// The watch task of a session, on the backend's runtime: drives the
    /// connection whenever nobody else does, until it ends.
    pub(crate) async fn watch(self: Arc<Self>) {
        std::future::poll_fn(|cx| {
            remember(&mut lock(&self.watch), cx.waker());
            self.poll(cx)
        })
        .await;
    }
}

/// A call of an async caller's on a session (a query and what follows from
/// its answer), driven by the awaiting task together with the session's
/// connection ([`Foreground`]) until it is rescued: moved to the backend's
/// runtime, which then finishes it. A call is rescued when its task drops
/// it, and when a thread of the process starts to wait for the lock object
/// (that thread may be the one that should poll the task).
pub(crate) struct Call<T> {
    session: Arc<Session>,
    state: Mutex<CallState<T>>,
}

enum CallState<T> {
    /// Driven by the awaiting task, with the waker of its last poll.
    Here(Pin<Box<dyn Future<Output = T> + Send>>, Option<Waker>),
    /// On the backend's runtime; the awaiting task's waker, if it waits.
    Rescued(Option<Waker>),
    /// Finished on the backend's runtime.
    Done(T),
    /// Its output handed to the awaiting task.
    Taken,
}

/// A call in flight that can be rescued, whatever its output.
pub(crate) trait Rescue: Send + Sync {
    fn rescue(self: Arc<Self>);
}

impl<T: Send + 'static> Rescue for Call<T> {
    /// Moves the call to the backend's runtime if the awaiting task still
    /// drives it; the backend's runtime takes the socket back too.
    fn rescue(self: Arc<Self>) {
        let mut state = lock(&self.state);
        let call = match std::mem::replace(&mut *state, CallState::Taken) {
            // The awaiting task, if any, hears of the end from the backend's
            // runtime now: nothing else will wake it for this call.
            CallState::Here(call, waker) => {
                *state = CallState::Rescued(waker);
                call
            }
            other => {
                *state = other;
                return;
            }
        };
        drop(state);
        let Ok(backend) = runtime::handle() else {
            return;
        };
        in_io_home(backend, || self.session.driven.hand_back());
        // The runtime runs (a session exists), so the spawn cannot fail.
        let _ = runtime::spawn(async move {
            let output = call.await;
            let mut state = lock(&self.state);
            if let CallState::Rescued(waker) =
                std::mem::replace(&mut *state, CallState::Done(output))
            {
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        });
    }
}

/// An async caller's [`Call`], as the awaiting task sees it: it polls the
/// call with the session's connection, in the backend runtime's context
/// (its timers), with the socket registered with the caller's runtime if
/// the lock object says so and the task runs on one, else with the
/// backend's. Done, it hands the connection back to the watch task;
/// dropped before that, it rescues the call, so that a call sent is always
/// seen through.
pub(crate) struct Foreground<T: Send + 'static> {
    call: Arc<Call<T>>,
    callers_runtime: bool,
    /// Polled before: the connection was taken from the watch task.
    polled: bool,
}

impl<T: Send + 'static> std::fmt::Debug for Foreground<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Foreground").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Foreground<T> {
    /// `call` on `session`, driven by the awaiting task, or on the backend's
    /// runtime from the start unless `here`.
    pub(crate) fn new(
        session: Arc<Session>,
        target: &Target,
        here: bool,
        call: impl Future<Output = T> + Send + 'static,
    ) -> Self {
        let call = Arc::new(Call {
            session,
            state: Mutex::new(CallState::Here(Box::pin(call), None)),
        });
        if !here {
            Arc::clone(&call).rescue();
        }
        Foreground {
            call,
            callers_runtime: target.callers_runtime(),
            polled: false,
        }
    }

    /// The call, to be rescued while it is in flight.
    pub(crate) fn rescuer(&self) -> Weak<dyn Rescue> {
        let call: Arc<dyn Rescue> = self.call.clone();
        Arc::downgrade(&call)
    }
}

impl<T: Send + 'static> Future for Foreground<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let mut state = lock(&this.call.state);
        let call = match &mut *state {
            CallState::Here(call, waker) => {
                remember(waker, cx.waker());
                call
            }
            CallState::Rescued(waker) => {
                remember(waker, cx.waker());
                return Poll::Pending;
            }
            CallState::Done(_) => {
                let CallState::Done(output) = std::mem::replace(&mut *state, CallState::Taken)
                else {
                    return Poll::Pending;
                };
                return Poll::Ready(output);
            }
            CallState::Taken => return Poll::Pending,
        };
        let Ok(backend) = runtime::handle() else {
            // A session exists, so the runtime started: cannot happen.
            return Poll::Pending;
        };
        let caller = if this.callers_runtime {
            Handle::try_current().ok()
        } else {
            None
        };
        let home = caller.as_ref().unwrap_or(backend);
        let driven = &this.call.session.driven;
        let first = !std::mem::replace(&mut this.polled, true);
        let _context = backend.enter();
        let polled = in_io_home(home, || {
            if first {
                // Takes the connection from the watch task before the call
                // asks anything of it: the request then wakes this task
                // (already running), not the backend's thread.
                let _ = driven.poll(cx);
            }
            if let Poll::Ready(output) = call.as_mut().poll(cx) {
                return Poll::Ready(output);
            }
            // Sends what the call asked, reads what came, and wakes this
            // task for what comes next.
            let _ = driven.poll(cx);
            call.as_mut().poll(cx)
        });
        match polled {
            Poll::Ready(output) => {
                *state = CallState::Taken;
                drop(state);
                in_io_home(home, || driven.hand_back());
                if caller.is_some() && runtime::busy() {
                    // Work of the backend's may wait for an answer that the
                    // hand-back had this runtime's reactor listen for: the
                    // watch task takes the socket to the backend's reactor.
                    driven.wake_watch();
                }
                Poll::Ready(output)
            }
            Poll::Pending => {
                if caller.is_none() {
                    // The backend's reactor hears the answer: see that it runs.
                    runtime::wake_driver();
                }
                Poll::Pending
            }
        }
    }
}

impl<T: Send + 'static> Drop for Foreground<T> {
    fn drop(&mut self) {
        Arc::clone(&self.call).rescue();
    }
}

#[cfg(unix)]
fn in_io_home<R>(home: &Handle, f: impl FnOnce() -> R) -> R {
    socket::io_home(home, f)
}

/// Elsewhere the socket is tokio-postgres' own, on the backend's runtime.
#[cfg(not(unix))]
fn in_io_home<R>(_: &Handle, f: impl FnOnce() -> R) -> R {
    f()
}
