//! The steps of an async acquisition, which its future takes as it is polled.

use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::sys::Mode;
use crate::Result;

use super::{Entry, Holder, Step, Wait};

/// An async acquisition's progress, kept in its future.
#[derive(Debug)]
pub(super) struct Progress {
    pub(super) mode: Mode,
    pub(super) wait: Wait,
    pub(super) deadline: Option<Instant>,
    pub(super) holder: Holder,
    /// Counted among the entry's waiters.
    pub(super) entered: bool,
    /// The fork generation it was counted in: a forked child's copy of the
    /// future was counted in its parent's state, which the child discarded.
    pub(super) generation: u64,
}

impl Progress {
    fn token(&self) -> u64 {
        match self.holder {
            Holder::Token(token) => token,
            Holder::Thread(_) => unreachable!("async acquisitions hold by token"),
        }
    }
}

impl Entry {
    /// One poll of an async acquisition: `Ready` once it holds the lock or
    /// failed; otherwise its waker is registered for the next change.
    pub(super) fn poll_acquire(
        self: &Arc<Self>,
        path: &Path,
        progress: &mut Progress,
        cx: &mut Context<'_>,
    ) -> Poll<Result<()>> {
        let mut state = self.state();
        if !progress.entered || progress.generation != state.generation {
            Self::enter(&mut state, progress.mode);
            progress.entered = true;
            progress.generation = state.generation;
        }
        let step = self.step(
            &mut state,
            path,
            progress.mode,
            progress.wait,
            progress.deadline,
            progress.holder,
            false,
        );
        match step {
            Step::Done(result) => {
                progress.entered = false;
                let token = progress.token();
                state.wakers.retain(|(waiting, _)| *waiting != token);
                let wakeups = self.leave(&mut state, progress.mode, result.is_ok());
                drop(state);
                wakeups.wake();
                Poll::Ready(result)
            }
            Step::Wait | Step::Block => {
                let token = progress.token();
                match state
                    .wakers
                    .iter_mut()
                    .find(|(waiting, _)| *waiting == token)
                {
                    Some((_, waker)) => waker.clone_from(cx.waker()),
                    None => state.wakers.push((token, cx.waker().clone())),
                }
                Poll::Pending
            }
        }
    }

    /// Abandons an async acquisition under way (its future was dropped): a
    /// grant that came for it goes to the other waiters, or back to the kernel.
    pub(super) fn cancel(&self, progress: &mut Progress) {
        if !progress.entered {
            return;
        }
        progress.entered = false;
        let mut state = self.state();
        if progress.generation != state.generation {
            return;
        }
        let token = progress.token();
        state.wakers.retain(|(waiting, _)| *waiting != token);
        let wakeups = self.leave(&mut state, progress.mode, false);
        drop(state);
        wakeups.wake();
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::future::Future;
    use std::task::Waker;
    use std::thread;
    use std::time::Duration;

    use super::*;
    use crate::lock_file::test_support::{hold_elsewhere, temp_path};
    use crate::lock_file::LockFile;
    use crate::sys::Mechanism;

    #[test]
    fn a_dropped_acquire_future_leaves_the_waiter_list() {
        use std::task::Wake;
        struct Nothing;
        impl Wake for Nothing {
            fn wake(self: Arc<Self>) {}
        }
        let path = temp_path("dropped-future.lock");
        let elsewhere = hold_elsewhere(&path);
        let lock = LockFile::new(&path, Mechanism::Ofd);
        let waker = Waker::from(Arc::new(Nothing));
        let mut cx = Context::from_waker(&waker);
        let mut future = Box::pin(lock.acquire_async(Mode::Exclusive, Wait::Forever));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        {
            let state = lock.entry().unwrap().state();
            assert_eq!(
                (state.waiters, state.waiting_writers, state.wakers.len()),
                (1, 1, 1)
            );
        }
        drop(future);
        {
            let state = lock.entry().unwrap().state();
            assert_eq!(
                (state.waiters, state.waiting_writers, state.wakers.len()),
                (0, 0, 0)
            );
        }
        Mechanism::Ofd.unlock(&elsewhere).unwrap();
        // The grant that comes for nobody is given back at once.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Mechanism::Ofd
            .try_lock(&elsewhere, Mode::Exclusive)
            .unwrap()
        {
            assert!(Instant::now() < deadline, "the grant was kept");
            thread::sleep(Duration::from_millis(1));
        }
        drop((lock, elsewhere));
        std::fs::remove_file(&path).unwrap();
    }
}
