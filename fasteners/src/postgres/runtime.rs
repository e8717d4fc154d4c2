//! The backend's own runtime, and who drives it.
//!
//! tokio-postgres needs a tokio runtime with I/O and time drivers for its
//! connections. Callers of this crate may have none (sync code), another
//! executor, or a tokio runtime of their own that may not have the drivers
//! enabled or may be shut down before a lock object is dropped. So the
//! backend owns one small current-thread tokio runtime, started on the first
//! connection of the process and kept for its life. Every connection's watch
//! task and heartbeat run there, and so do the calls that async callers
//! left to it (see `session::Foreground`).
//!
//! Whoever waits drives it. A sync lock call ([`run`]) drives the runtime
//! itself while it waits (`Runtime::block_on` on the caller's thread), so
//! its queries and their answers need no other thread: the caller's own
//! wait in the kernel sees the server's answer arrive. Between such calls
//! one thread, `fasteners-postgres`, drives it (heartbeats, async waits, a
//! connection that ends): it steps aside when a sync call comes, and takes
//! over again once no sync call has come for [`IDLE`], or at once when
//! async work needs it ([`spawn`], [`wake_driver`]). A caller already inside
//! a tokio runtime cannot drive another one from its thread: it waits with a
//! minimal executor of its own in this runtime's context while the driver
//! thread drives (it also works inside another runtime's task, where it
//! blocks that thread, as any blocking lock does).

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How long the driver thread leaves the runtime to sync callers after the
/// last one, before it drives it again. Meanwhile nobody drives it, so the
/// heartbeat and the notice of a connection that ended may come up to this
/// much later (async work wakes the driver at once). The longer it is, the
/// longer a lock may be held before its release must take the runtime back
/// from the driver thread (two more thread wake-ups): with 1 ms, a holder
/// that held for a few milliseconds paid them at every release (handoff
/// 1.14-1.18x of the direct SQL; 0.94-1.05x with 20 ms, same runs).
const IDLE: Duration = Duration::from_millis(20);

/// The runtime and the state of who drives it.
struct Backend {
    runtime: Runtime,
    /// Sync calls driving (or about to drive) the runtime now.
    callers: AtomicUsize,
    /// Sync calls made so far: the driver takes over once it stays put.
    calls: AtomicU64,
    /// Tells the driving driver thread that a sync call wants the runtime.
    wanted: Notify,
    /// Wakes the driver thread from its pause: async work needs it.
    needed: (Mutex<bool>, Condvar),
}

impl Backend {
    /// The driver thread: drives the runtime until a sync call wants it,
    /// then pauses while sync calls drive it.
    fn drive(&self) {
        loop {
            self.runtime.block_on(async {
                loop {
                    let wanted = self.wanted.notified();
                    if self.callers.load(Ordering::SeqCst) > 0 {
                        return;
                    }
                    wanted.await;
                }
            });
            let (needed, pause) = &self.needed;
            let mut needed = needed.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                let calls = self.calls.load(Ordering::SeqCst);
                needed = pause
                    .wait_timeout(needed, IDLE)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                let idle = calls == self.calls.load(Ordering::SeqCst);
                if self.callers.load(Ordering::SeqCst) == 0 && (idle || *needed) {
                    *needed = false;
                    break;
                }
            }
        }
    }
}

fn backend() -> io::Result<&'static Backend> {
    static BACKEND: OnceLock<Result<&'static Backend, String>> = OnceLock::new();
    let backend = BACKEND.get_or_init(|| {
        let runtime = Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .thread_name("fasteners-postgres")
            .build()
            .map_err(|err| err.to_string())?;
        let backend: &'static Backend = Box::leak(Box::new(Backend {
            runtime,
            callers: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
            wanted: Notify::new(),
            needed: (Mutex::new(false), Condvar::new()),
        }));
        thread::Builder::new()
            .name("fasteners-postgres".into())
            .spawn(move || backend.drive())
            .map_err(|err| err.to_string())?;
        Ok(backend)
    });
    backend
        .as_ref()
        .copied()
        .map_err(|err| io::Error::other(format!("cannot start the PostgreSQL runtime: {err}")))
}

/// The backend's runtime, started on first use.
pub(super) fn handle() -> io::Result<&'static Handle> {
    Ok(backend()?.runtime.handle())
}

/// Has the driver thread drive the runtime now if no sync call does: async
/// work is about to need it.
pub(super) fn wake_driver() {
    if let Ok(backend) = backend() {
        let (needed, pause) = &backend.needed;
        *needed.lock().unwrap_or_else(PoisonError::into_inner) = true;
        pause.notify_one();
    }
}

/// Work of the backend's under way: sync calls, tasks spawned on its
/// runtime, heartbeats, work on a lock's session.
static WORK: AtomicUsize = AtomicUsize::new(0);

/// Counts work of the backend's as under way until dropped.
pub(super) struct Work(());

impl Drop for Work {
    fn drop(&mut self) {
        WORK.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(super) fn work() -> Work {
    WORK.fetch_add(1, Ordering::SeqCst);
    Work(())
}

/// Whether work of the backend's is under way, which may need a session's
/// connection driven on the backend's runtime (see `session::Foreground`).
pub(super) fn busy() -> bool {
    WORK.load(Ordering::SeqCst) > 0
}

/// Spawns `future` on the backend's runtime, and sees that it is driven.
pub(super) fn spawn<F>(future: F) -> io::Result<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let work = work();
    let handle = handle()?.spawn(async move {
        let _work = work;
        future.await
    });
    wake_driver();
    Ok(handle)
}

/// Runs `f` on a thread of the backend's blocking pool.
pub(super) fn spawn_blocking<F, R>(f: F) -> io::Result<JoinHandle<R>>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let work = work();
    let handle = handle()?.spawn_blocking(move || {
        let _work = work;
        f()
    });
    wake_driver();
    Ok(handle)
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on the calling thread, parking between polls.
///
/// For futures that need no runtime of their own: answers from the backend's
/// tasks, and the client's queries (whose connection runs on the backend's
/// runtime).
pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

/// Runs `future` on the calling thread in the backend runtime's context (so
/// that it may spawn on it and use its timers), until it completes, driving
/// the runtime meanwhile unless the thread is inside a tokio runtime already.
pub(super) fn run<F: Future>(future: F) -> io::Result<F::Output> {
    let backend = backend()?;
    let _work = work();
    if Handle::try_current().is_ok() {
        let _context = backend.runtime.enter();
        wake_driver();
        return Ok(block_on(future));
    }
    backend.calls.fetch_add(1, Ordering::SeqCst);
    backend.callers.fetch_add(1, Ordering::SeqCst);
    backend.wanted.notify_one();
    let output = backend.runtime.block_on(future);
    backend.callers.fetch_sub(1, Ordering::SeqCst);
    Ok(output)
}
