//! The steps of an async acquisition, which its future takes as it is polled.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::sys::Mode;
use crate::timer::Alarm;
use crate::Result;

use super::{Arbiter, Holder, RawLock, Step, Wait};

/// An async acquisition's progress, kept in its future.
#[derive(Debug)]
pub(crate) struct Progress {
    pub(crate) mode: Mode,
    wait: Wait,
    pub(crate) deadline: Option<Instant>,
    pub(crate) holder: Holder,
    /// Counted among the arbiter's waiters.
    entered: bool,
    /// The fork generation it was counted in: a forked child's copy of the
    /// future was counted in its parent's state, which the child discarded.
    generation: u64,
    /// Wakes the task at the deadline, once the acquisition has had to wait.
    alarm: Option<Alarm>,
}

impl Progress {
    /// The progress of a new acquisition of `mode` by a `Send` guard's token.
    pub(crate) fn new(mode: Mode, wait: Wait) -> Self {
        let (wait, deadline) = wait.deadline();
        Progress {
            mode,
            wait,
            deadline,
            holder: Holder::new_token(),
            entered: false,
            generation: 0,
            alarm: None,
        }
    }

    fn token(&self) -> u64 {
        match self.holder {
            Holder::Token(token) => token,
            Holder::Thread(_) => unreachable!("async acquisitions hold by token"),
        }
    }

    /// After a pending poll: has the task woken at the deadline, if any.
    fn arm_alarm(&mut self, waker: &Waker) {
        if let Some(deadline) = self.deadline {
            self.alarm
                .get_or_insert_with(|| Alarm::new(deadline))
                .arm(waker);
        }
    }
}

impl<B: RawLock> Arbiter<B> {
    /// One poll of an async acquisition: `Ready` once it holds the lock or
    /// failed; otherwise its waker is registered for the next change, and
    /// for the deadline.
    pub(crate) fn poll_acquire(
        self: &Arc<Self>,
        name: &B::Name,
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
            name,
            progress.mode,
            progress.wait,
            progress.deadline,
            progress.holder,
            false,
            false,
        );
        match step {
            Step::Done(result) => {
                progress.entered = false;
                progress.alarm = None;
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
                drop(state);
                progress.arm_alarm(cx.waker());
                Poll::Pending
            }
        }
    }

    /// Abandons an async acquisition under way (its future was dropped): a
    /// grant that came for it goes to the other waiters, or back.
    pub(crate) fn cancel(&self, progress: &mut Progress) {
        progress.alarm = None;
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
