//! PostgreSQL advisory locks behind the crate's lock traits and attributes
//! (feature `postgres`): locks that reach beyond one machine.
//!
//! [`PgLock`] (exclusive) and [`PgReaderWriterLock`] (shared / exclusive)
//! take a session-level advisory lock on a server, identified by a
//! [`PgLockKey`], and offer what the file locks offer: blocking, try and
//! timed acquisition, async acquisition (cancel-safe, `Send` guards, any
//! executor), guards that release on drop, Python-style `acquire` /
//! `release`, `WouldDeadlock` for a thread asking again, and exclusion of
//! the threads of one process as well as of other processes. They implement
//! [`Lockable`](crate::Lockable), [`TimedLockable`](crate::TimedLockable),
//! [`SharedLockable`](crate::SharedLockable),
//! [`SharedTimedLockable`](crate::SharedTimedLockable) and the async traits,
//! so `#[locked(lock = ORDERS)]` works on a
//! `static ORDERS: LazyLock<PgLock>`, on sync and async functions.
//!
//! # Examples
//!
//! ```no_run
//! use std::sync::LazyLock;
//! use fasteners::postgres::{PgLock, PgLockKey};
//!
//! static ORDERS: LazyLock<PgLock> = LazyLock::new(|| {
//!     PgLock::new("postgres://app@db.example/app", PgLockKey::from_name("orders"))
//! });
//!
//! /// Runs on one thread of one process at a time, across every machine
//! /// that uses the server.
//! #[fasteners::locked(lock = ORDERS)]
//! fn ship_next_order() -> fasteners::Result<()> {
//!     Ok(())
//! }
//!
//! ship_next_order()?;
//! # Ok::<(), fasteners::Error>(())
//! ```
//!
//! # Connections
//!
//! A lock object connects on its first acquisition and keeps that one
//! connection, dedicated to it (never from a pool: a pooled connection could
//! go back to the pool still holding the lock), until it is dropped; it
//! reconnects when the connection has ended. Every acquisition and release
//! is one round trip on it. If an unlock fails, the connection is closed,
//! which makes the server release the lock.
//!
//! The session gets `client_connection_check_interval` (250 ms; the server
//! then notices a vanished client even while its backend waits for a lock,
//! and drops its request) and server-side TCP keepalives (5 s idle, 1 s
//! apart, 5 probes, 10 s user timeout); the client side gets keepalives
//! (2 s idle, 1 s apart, 2 probes) and a 4 s TCP user timeout. Connections
//! use no TLS.
//!
//! # Who drives the connection
//!
//! tokio-postgres needs a tokio runtime. The backend owns one, a
//! current-thread runtime started with the first connection of the process,
//! which runs a watch task for each connection. A sync lock call drives that
//! runtime itself on the caller's thread while it waits, so its queries and
//! answers need no other thread; between sync calls one thread,
//! `fasteners-postgres`, drives it (heartbeats, waits that tasks left). A
//! sync call made inside a tokio runtime (where another runtime cannot be
//! driven) parks its thread while that thread drives instead, so it also
//! works inside another runtime's task, where it blocks that thread as any
//! blocking lock does. The in-process side is the one the file locks use
//! (holders by thread or token, writers first, `WouldDeadlock`, wake-ups of
//! waiting threads and tasks).
//!
//! An async call (an acquisition that has to ask the server, an async
//! release) is driven by the task that awaits it, connection included: its
//! query goes out from the task's own poll. Its answer is heard by the
//! backend's runtime, whose thread wakes the task, unless the lock object
//! was made [`with_callers_runtime`](PgLock::with_callers_runtime): then the
//! socket registers with the awaiting task's runtime, whose reactor wakes
//! the task directly, as for queries made with tokio-postgres on that
//! runtime (`BENCHMARKS.md` has both). Either way the backend's runtime
//! finishes a call that its task no longer drives: when the future is
//! dropped (a dropped acquisition that was the last to wait cancels its
//! request on the server; a dropped release still gives the lock back), and
//! when a thread of the process starts to wait for the same lock object
//! (which may be the thread that should poll the task). Other tasks waiting
//! for the same object wait for the first one's call, as they would for a
//! thread's.
//!
//! # Losing a lock
//!
//! The server releases a session's locks when the session ends: its client
//! process died (however it died), its connection broke, an administrator
//! ran `pg_terminate_backend`, or the server restarted. The guard notices:
//! [`is_lost`](PgLockGuard::is_lost), [`check`](PgLockGuard::check) and the
//! future [`lost`](PgLockGuard::lost) report it as soon as the connection
//! ends, and while the lock is held a heartbeat (`SELECT 1` every second by
//! default, see `with_heartbeat`) closes a connection that stops answering
//! within 5 s.
//!
//! **The window.** A holder cut off from the server without the connection
//! closing (a network partition, a stalled proxy) still sees `is_lost() ==
//! false` until the heartbeat gives up or the client's TCP timeouts fire:
//! with the defaults, at most about 6 s after the last answer (1 s to the
//! next heartbeat, 5 s for its answer; the 4 s TCP user timeout and the
//! keepalives often fire first). The server, meanwhile, keeps the lock until
//! *it* notices the connection is dead: at least 5 s of silence plus 5
//! probes, about 10 s. So with the defaults a cut-off holder learns of the
//! loss before anyone else can get the lock, unless its own process is
//! paused (a stop signal, a long swap storm) across both deadlines, or the
//! heartbeat is made slower than the server's detection. Whatever the
//! settings, work that must never run without the lock belongs on the
//! lock's own session: [`on_session`](PgLockGuard::on_session) runs it
//! there, so the server fences it: the session's end releases the lock and
//! rolls back its open transaction at the same moment.

mod drive;
mod guard;
mod key;
mod lock;
mod raw;
mod runtime;
mod session;
#[cfg(unix)]
mod socket;
mod traits;

pub use guard::{
    AsyncPgLockGuard, AsyncPgReadGuard, AsyncPgWriteGuard, PgLockGuard, PgReadGuard, PgWriteGuard,
};
pub use key::PgLockKey;
pub use lock::{PgLock, PgReaderWriterLock};
