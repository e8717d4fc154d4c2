//! The guards of the PostgreSQL locks: what they hold, how they release, and
//! how they tell that the lock was lost.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use tokio_postgres::Client;

use super::lock::forget_thread;
use super::raw::PgArbiter;
use super::runtime;
use super::session::{Session, Target};
use crate::arbiter::Holder;
use crate::sys::Mode;
use crate::{Error, Result};

/// One holder's share of a lock: the in-process hold, and the session that
/// holds the server lock for it.
#[derive(Debug)]
pub(crate) struct Share {
    pub(crate) arbiter: Arc<PgArbiter>,
    pub(crate) mode: Mode,
    pub(crate) holder: Holder,
    pub(crate) session: Arc<Session>,
}

impl Share {
    fn target(&self) -> &Target {
        &self.arbiter.backend.target
    }

    /// Gives the share back (the last holder gives the server lock back,
    /// waiting for the server's answer). A share of a lock that was lost
    /// says so, whoever gives the server lock back.
    fn release(self) -> Result<()> {
        let name = &self.target().name;
        forget_thread(name, self.holder);
        let released = self.arbiter.release(name, self.mode, self.holder);
        match (released, self.session.lost_error(self.target())) {
            (Ok(()), Some(lost)) => Err(lost),
            (result, _) => result,
        }
    }
}

/// One holder's share, given back on drop, waiting for the server's answer
/// so that whoever is told next finds the lock free.
#[derive(Debug)]
pub(crate) struct Held<'a> {
    share: Option<Share>,
    _lock: PhantomData<&'a ()>,
}

impl Held<'_> {
    pub(crate) fn new(share: Share) -> Self {
        Held {
            share: Some(share),
            _lock: PhantomData,
        }
    }

    fn share(&self) -> &Share {
        self.share
            .as_ref()
            .expect("a guard holds its share until released")
    }

    pub(crate) fn name(&self) -> &str {
        &self.share().target().name
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.share().session.ended().is_some()
    }

    pub(crate) fn check(&self) -> Result<()> {
        let share = self.share();
        share.session.lost_error(share.target()).map_or(Ok(()), Err)
    }

    pub(crate) async fn lost(&self) -> Error {
        let share = self.share();
        runtime::wake_driver();
        let cause = share.session.wait_ended().await;
        share
            .session
            .lost_error(share.target())
            .unwrap_or_else(|| share.target().lost("held", cause))
    }

    pub(crate) async fn on_session<'c, F, Fut, T>(&'c self, work: F) -> Result<T>
    where
        F: FnOnce(&'c Client) -> Fut,
        Fut: Future<Output = T> + 'c,
    {
        self.check()?;
        let session = &self.share().session;
        let _busy = session.busy();
        // The work's queries need the connection driven, whoever awaits them.
        runtime::wake_driver();
        let output = work(session.client()).await;
        Ok(output)
    }

    pub(crate) fn on_session_blocking<'c, F, Fut, T>(&'c self, work: F) -> Result<T>
    where
        F: FnOnce(&'c Client) -> Fut,
        Fut: Future<Output = T> + 'c,
    {
        let share = self.share();
        runtime::run(self.on_session(work))
            .map_err(|err| share.arbiter.backend.runtime_error(err))?
    }

    pub(crate) fn release(mut self) -> Result<()> {
        self.share.take().map_or(Ok(()), Share::release)
    }

    /// Gives the share back without blocking the awaiting task's thread:
    /// the last holder's unlock runs on the backend's runtime
    /// ([`PgArbiter::release_async`]).
    pub(crate) async fn release_async(mut self) -> Result<()> {
        let Some(share) = self.share.take() else {
            return Ok(());
        };
        let name = &share.target().name;
        forget_thread(name, share.holder);
        let released = share.arbiter.release_async(share.mode, share.holder).await;
        match (released, share.session.lost_error(share.target())) {
            (Ok(()), Some(lost)) => Err(lost),
            (result, _) => result,
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(share) = self.share.take() {
            // Nobody to report an error to; `release` reports it.
            let _ = share.release();
        }
    }
}

/// Defines a guard type: its doc, the `Held` inside, `!Send` for the
/// guards of threads, and the methods every guard has.
macro_rules! guard {
    ($(#[$doc:meta])* $name:ident, thread) => {
        guard!(@define $(#[$doc])* $name, PhantomData<*const ()>);
    };
    ($(#[$doc:meta])* $name:ident, send) => {
        guard!(@define $(#[$doc])* $name, PhantomData<()>);
    };
    (@define $(#[$doc:meta])* $name:ident, $marker:ty) => {
        $(#[$doc])*
        #[must_use = "the lock is released as soon as the guard is dropped"]
        pub struct $name<'a> {
            pub(crate) held: Held<'a>,
            pub(crate) _marker: $marker,
        }

        impl<'a> $name<'a> {
            pub(crate) fn new(held: Held<'a>) -> Self {
                $name { held, _marker: PhantomData }
            }

            /// Whether the lock was lost: its session ended (the connection
            /// dropped, the backend was terminated, the server restarted) or
            /// stopped answering the heartbeat. Once lost, the server no
            /// longer holds the lock for this guard and others may take it.
            ///
            /// `false` is not a promise for the future: see [the module
            /// docs](crate::postgres#losing-a-lock) for the window in which a
            /// cut-off holder still sees `false`, and [`on_session`](Self::on_session)
            /// for work that the server fences.
            #[must_use]
            pub fn is_lost(&self) -> bool {
                self.held.is_lost()
            }

            /// `Ok(())` while the lock is held; the reason once it is lost.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Lost`](crate::ErrorKind::Lost), naming the server
            /// and why the session ended.
            pub fn check(&self) -> Result<()> {
                self.held.check()
            }

            /// Resolves when the lock is lost, with the error that says why
            /// (never, while it is held): `select!` it against the protected
            /// work to stop the work when the lock goes. Any executor.
            pub async fn lost(&self) -> Error {
                self.held.lost().await
            }

            /// Runs `work` on the lock's own session (the connection that
            /// holds the lock), so that the server fences it: if the session
            /// ends, the lock is released and the work's uncommitted
            /// transaction is rolled back together, so a cut-off holder
            /// cannot write after others took the lock. The client's futures
            /// run on any executor. The heartbeat pauses while it runs.
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Lost`](crate::ErrorKind::Lost) if the lock was
            /// already lost (the work does not run); the work's own errors
            /// are in its output.
            pub async fn on_session<'c, F, Fut, T>(&'c self, work: F) -> Result<T>
            where
                F: FnOnce(&'c tokio_postgres::Client) -> Fut,
                Fut: std::future::Future<Output = T> + 'c,
            {
                self.held.on_session(work).await
            }

            /// [`on_session`](Self::on_session) for sync code: runs the work's
            /// future on this thread until it completes.
            ///
            /// # Errors
            ///
            /// As for [`on_session`](Self::on_session).
            pub fn on_session_blocking<'c, F, Fut, T>(&'c self, work: F) -> Result<T>
            where
                F: FnOnce(&'c tokio_postgres::Client) -> Fut,
                Fut: std::future::Future<Output = T> + 'c,
            {
                self.held.on_session_blocking(work)
            }

            /// Releases the lock now and waits for the server's answer,
            /// reporting a failure (dropping the guard releases too, but
            /// cannot report).
            ///
            /// # Errors
            ///
            /// [`ErrorKind::Lost`](crate::ErrorKind::Lost) if the lock had
            /// been lost before; [`ErrorKind::Server`](crate::ErrorKind::Server)
            /// if the unlock failed, in which case the connection is closed,
            /// which releases the lock on the server.
            pub fn release(self) -> Result<()> {
                self.held.release()
            }

            /// [`release`](Self::release) as a future, for async code. Any executor.
            ///
            /// # Errors
            ///
            /// As for [`release`](Self::release).
            pub async fn release_async(self) -> Result<()> {
                self.held.release_async().await
            }
        }

        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("lock", &self.held.name())
                    .field("lost", &self.is_lost())
                    .finish()
            }
        }
    };
}

guard!(
    /// Holds a [`PgLock`](super::PgLock); releases it when dropped, waiting
    /// for the server's answer.
    ///
    /// `!Send`: the lock records the thread that holds it, so drop it (or
    /// [`release`](Self::release) it) on that thread.
    PgLockGuard,
    thread
);

guard!(
    /// Holds the read side of a [`PgReaderWriterLock`](super::PgReaderWriterLock);
    /// releases it when dropped, waiting for the server's answer. `!Send`.
    PgReadGuard,
    thread
);

guard!(
    /// Holds the write side of a [`PgReaderWriterLock`](super::PgReaderWriterLock);
    /// releases it when dropped, waiting for the server's answer. `!Send`.
    PgWriteGuard,
    thread
);

guard!(
    /// Holds a [`PgLock`](super::PgLock) taken by an async (or `Send`)
    /// acquisition. `Send` and `Sync`.
    ///
    /// Dropping it releases the lock and waits for the server's answer (one
    /// round trip, as the file locks' guards make their unlock call), so that
    /// the lock is free for anyone told about it afterwards; a drop cannot
    /// `.await`, so that wait blocks the thread.
    /// [`release_async`](Self::release_async) waits without blocking it.
    AsyncPgLockGuard,
    send
);

guard!(
    /// Holds the read side of a [`PgReaderWriterLock`](super::PgReaderWriterLock)
    /// taken by an async (or `Send`) acquisition. `Send` and `Sync`; see
    /// [`AsyncPgLockGuard`] for what its drop waits for.
    AsyncPgReadGuard,
    send
);

guard!(
    /// Holds the write side of a [`PgReaderWriterLock`](super::PgReaderWriterLock)
    /// taken by an async (or `Send`) acquisition. `Send` and `Sync`; see
    /// [`AsyncPgLockGuard`] for what its drop waits for.
    AsyncPgWriteGuard,
    send
);
