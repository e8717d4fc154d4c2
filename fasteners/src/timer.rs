//! Deadlines for async waits without a timer runtime: one process-wide thread,
//! started on first use, sleeps until the earliest armed deadline and wakes
//! the tasks whose deadline has passed.
//!
//! Executor-agnostic on purpose: the crate's timed async acquisitions (and
//! the timed async impls for tokio's locks) work on any executor, with or
//! without tokio's time driver.

use std::future::Future;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Alarms {
    next_id: u64,
    /// Armed alarms; few at a time, so a vector scanned in full will do.
    armed: Vec<(u64, Instant, Waker)>,
    thread_started: bool,
}

struct Timer {
    alarms: Mutex<Alarms>,
    /// Signalled when an alarm earlier than all others is armed.
    earlier: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<Timer> = OnceLock::new();
    TIMER.get_or_init(|| Timer {
        alarms: Mutex::default(),
        earlier: Condvar::new(),
    })
}

impl Timer {
    fn alarms(&self) -> MutexGuard<'_, Alarms> {
        self.alarms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The timer thread: wakes the tasks whose deadline has passed, outside
    /// the mutex, then sleeps until the next deadline.
    fn run(&self) {
        let mut alarms = self.alarms();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            alarms.armed.retain(|(_, deadline, waker)| {
                let passed = *deadline <= now;
                if passed {
                    due.push(waker.clone());
                }
                !passed
            });
            if !due.is_empty() {
                drop(alarms);
                due.into_iter().for_each(Waker::wake);
                alarms = self.alarms();
                continue;
            }
            let next = alarms.armed.iter().map(|(_, deadline, _)| *deadline).min();
            alarms = match next {
                Some(deadline) => {
                    self.earlier
                        .wait_timeout(alarms, deadline.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .earlier
                    .wait(alarms)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// Wakes a task at a deadline, until dropped.
#[derive(Debug)]
pub(crate) struct Alarm {
    deadline: Instant,
    /// Its id among the armed alarms, once armed.
    id: Option<u64>,
}

impl Alarm {
    pub(crate) fn new(deadline: Instant) -> Self {
        Alarm { deadline, id: None }
    }

    /// Has `waker` woken at the deadline (at once if it has passed); a later
    /// call replaces the waker.
    pub(crate) fn arm(&mut self, waker: &Waker) {
        if self.deadline <= Instant::now() {
            waker.wake_by_ref();
            return;
        }
        let timer = timer();
        let mut alarms = timer.alarms();
        if let Some(id) = self.id {
            if let Some((_, _, armed)) = alarms.armed.iter_mut().find(|(at, _, _)| *at == id) {
                armed.clone_from(waker);
                return;
            }
        }
        if !alarms.thread_started {
            let started = thread::Builder::new()
                .name("fasteners-timer".into())
                .spawn(|| self::timer().run());
            if started.is_err() {
                // No timer: fall back to waking at once, so the caller polls
                // again (busily) rather than missing its deadline.
                waker.wake_by_ref();
                return;
            }
            alarms.thread_started = true;
        }
        let earliest = alarms.armed.iter().all(|(_, at, _)| self.deadline < *at);
        let id = alarms.next_id;
        alarms.next_id += 1;
        alarms.armed.push((id, self.deadline, waker.clone()));
        self.id = Some(id);
        if earliest {
            timer.earlier.notify_one();
        }
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            timer().alarms().armed.retain(|(at, _, _)| *at != id);
        }
    }
}

/// The error of [`with_timeout`]: the deadline passed first.
#[derive(Debug)]
pub(crate) struct Elapsed;

/// Runs `future` to completion, or gives up at `timeout` from now.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) async fn with_timeout<F: Future>(
    timeout: Duration,
    future: F,
) -> Result<F::Output, Elapsed> {
    let Some(deadline) = Instant::now().checked_add(timeout) else {
        return Ok(future.await);
    };
    let mut future = std::pin::pin!(future);
    let mut alarm = Alarm::new(deadline);
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if Instant::now() >= deadline {
            return Poll::Ready(Err(Elapsed));
        }
        alarm.arm(cx.waker());
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Unpark(thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
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

    #[test]
    fn a_pending_future_times_out_after_the_deadline() {
        let start = Instant::now();
        let result = block_on(with_timeout(
            Duration::from_millis(30),
            std::future::pending::<()>(),
        ));
        assert!(result.is_err());
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn a_ready_future_does_not_time_out() {
        assert_eq!(
            block_on(with_timeout(Duration::from_secs(5), async { 7 })).unwrap(),
            7
        );
    }

    #[test]
    fn dropped_alarms_are_disarmed() {
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut alarm = Alarm::new(Instant::now() + Duration::from_secs(3600));
        alarm.arm(&waker);
        let id = alarm.id.unwrap();
        assert!(timer().alarms().armed.iter().any(|(at, _, _)| *at == id));
        drop(alarm);
        assert!(!timer().alarms().armed.iter().any(|(at, _, _)| *at == id));
    }
}
