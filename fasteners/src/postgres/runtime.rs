//! The backend's own runtime, and how callers outside it wait for it.
//!
//! tokio-postgres needs a tokio runtime with I/O and time drivers for its
//! connections. Callers of this crate may have none (sync code), another
//! executor, or a tokio runtime of their own that may not have the drivers
//! enabled or may be shut down before a lock object is dropped. So the
//! backend owns one small runtime: a current-thread tokio runtime driven by
//! one thread, `fasteners-postgres`, started on the first connection of the
//! process and kept for its life. Every connection and its watch run there
//! as tasks, and so does the background wait of async acquisitions.
//!
//! A lock call of a caller runs on the caller's thread, in the runtime's
//! context ([`run`]): the thread hands its query to the connection's task
//! and parks until the answer comes back, one hand-over each way. A minimal
//! executor (it also works inside another runtime's task, where it blocks
//! that thread, as any blocking lock does).

use std::future::Future;
use std::io;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use tokio::runtime::{Builder, Handle};

/// The backend's runtime, started on first use.
pub(super) fn handle() -> io::Result<&'static Handle> {
    static HANDLE: OnceLock<Result<Handle, String>> = OnceLock::new();
    let handle = HANDLE.get_or_init(|| {
        let runtime = Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .thread_name("fasteners-postgres")
            .build()
            .map_err(|err| err.to_string())?;
        let handle = runtime.handle().clone();
        thread::Builder::new()
            .name("fasteners-postgres".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .map_err(|err| err.to_string())?;
        Ok(handle)
    });
    handle
        .as_ref()
        .map_err(|err| io::Error::other(format!("cannot start the PostgreSQL runtime: {err}")))
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
/// that it may spawn on it and use its timers), until it completes.
pub(super) fn run<F: Future>(future: F) -> io::Result<F::Output> {
    let _context = handle()?.enter();
    Ok(block_on(future))
}
