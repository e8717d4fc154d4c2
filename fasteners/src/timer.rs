//! Deadlines without a timer runtime: one process-wide thread, started on
//! first use, sleeps until the earliest armed deadline, then wakes the tasks
//! whose deadline has passed ([`Alarm`]) and interrupts the threads whose
//! blocking lock call is to end ([`Interrupt`]).
//!
//! Executor-agnostic on purpose: the crate's timed async acquisitions (and
//! the timed async impls for tokio's locks) work on any executor, with or
//! without tokio's time driver. It is the only thread the crate keeps for
//! long; a forked child starts its own on first use.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crate::sys::{fork, signal};

/// What the timer does at an alarm's deadline.
enum Action {
    /// Wakes a task, once.
    Wake(Waker),
    /// Sends the wake-up signal to a thread, then again every [`REPEAT`]
    /// until the thread disarms it: a signal that arrives just before the
    /// thread enters the kernel is not lost for good.
    Interrupt(signal::Thread, i32),
}

/// How often an interrupt is sent again until its thread has left its wait.
const REPEAT: Duration = Duration::from_millis(1);

struct Armed {
    id: u64,
    /// `None`: not before [`Interrupt::fire`].
    at: Option<Instant>,
    action: Action,
    /// How many times its interrupt was sent (unit tests).
    #[cfg(test)]
    sent: usize,
}

impl Armed {
    /// Sends the wake-up signal to `thread` now, and again [`REPEAT`] later
    /// (the time it returns) unless disarmed first.
    fn interrupt(&mut self, thread: signal::Thread, sig: i32, now: Instant) -> Instant {
        signal::interrupt(thread, sig);
        #[cfg(test)]
        {
            self.sent += 1;
        }
        let again = now + REPEAT;
        self.at = Some(again);
        again
    }
}

#[derive(Default)]
struct Alarms {
    /// Armed alarms; few at a time, so a vector scanned in full will do.
    armed: Vec<Armed>,
    thread_started: bool,
    /// What the timer thread does now. It is woken only for an alarm due
    /// before the time it sleeps until: waking a sleeping thread costs far
    /// more than the arming itself, and a wait that starts just after the
    /// last one ended (a timed lock taken again and again) would pay for it
    /// every time, although the thread still sleeps until a deadline as late.
    sleep: Sleep,
}

/// What the timer thread does, as the thread last said under the mutex.
#[derive(Clone, Copy, Default)]
enum Sleep {
    /// Awake (or not yet started): it looks at every armed alarm before it
    /// sleeps again.
    #[default]
    Awake,
    /// Asleep until then (or woken early, if a wake-up is on its way).
    Until(Instant),
    /// Asleep until woken.
    Forever,
}

impl Sleep {
    /// Whether an alarm due `at` needs the timer thread woken: it would not
    /// look at the alarms again before then otherwise.
    fn wakes_for(self, at: Instant) -> bool {
        match self {
            Sleep::Awake => false,
            Sleep::Until(until) => at < until,
            Sleep::Forever => true,
        }
    }
}

struct Timer {
    alarms: Mutex<Alarms>,
    /// Signalled when an alarm is due before the timer thread would wake.
    earlier: Condvar,
}

/// The timer of this process. A forked child gets a timer of its own on
/// first use: its parent's has no thread in the child, alarms for threads and
/// tasks the child does not have, and a mutex the timer thread may have held
/// at the fork.
fn timer() -> &'static Timer {
    static TIMER: fork::PerProcess<Timer> = fork::PerProcess::new();
    TIMER.get(Timer::new)
}

/// Alarm ids, unique in the process and its forked children alike.
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Timer {
    /// A timer with no thread yet.
    fn new() -> Timer {
        Timer {
            alarms: Mutex::default(),
            earlier: Condvar::new(),
        }
    }

    fn alarms(&self) -> MutexGuard<'_, Alarms> {
        self.alarms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The timer thread: at each deadline, interrupts the threads (under the
    /// mutex, so that none of them has left its wait meanwhile) and wakes the
    /// tasks (outside it), then sleeps until the next deadline.
    fn run(&self) {
        let mut alarms = self.alarms();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            alarms.armed.retain_mut(|armed| {
                if armed.at.map_or(true, |at| at > now) {
                    return true;
                }
                match &armed.action {
                    Action::Wake(waker) => {
                        due.push(waker.clone());
                        false
                    }
                    &Action::Interrupt(thread, sig) => {
                        armed.interrupt(thread, sig, now);
                        true
                    }
                }
            });
            if !due.is_empty() {
                drop(alarms);
                due.into_iter().for_each(Waker::wake);
                alarms = self.alarms();
                continue;
            }
            let next = alarms.armed.iter().filter_map(|armed| armed.at).min();
            // An alarm removed since does not wake the thread: it sleeps
            // until then anyway, and an alarm armed meanwhile for a later
            // time needs no wake-up (see `Alarms::sleep`).
            alarms.sleep = next.map_or(Sleep::Forever, Sleep::Until);
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
            alarms.sleep = Sleep::Awake;
        }
    }

    /// Adds an alarm, starting the timer thread if this process has none;
    /// `None` if it cannot be started.
    fn add(&'static self, at: Option<Instant>, action: Action) -> Option<u64> {
        let mut alarms = self.alarms();
        if !alarms.thread_started {
            thread::Builder::new()
                .name("fasteners-timer".into())
                .spawn(move || self.run())
                .ok()?;
            alarms.thread_started = true;
        }
        let id = next_id();
        alarms.armed.push(Armed {
            id,
            at,
            action,
            #[cfg(test)]
            sent: 0,
        });
        if let Some(at) = at {
            self.wake_for(&mut alarms, at);
        }
        Some(id)
    }

    /// Wakes the timer thread if it would not look at the alarms before `at`.
    fn wake_for(&self, alarms: &mut Alarms, at: Instant) {
        if alarms.sleep.wakes_for(at) {
            // Said here, not by the thread once awake: a second alarm armed
            // before it runs needs no second wake-up.
            alarms.sleep = Sleep::Awake;
            self.earlier.notify_one();
        }
    }

    fn remove(&self, id: u64) {
        self.alarms().armed.retain(|armed| armed.id != id);
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
        if let Some(id) = self.id {
            let mut alarms = timer.alarms();
            if let Some(armed) = alarms.armed.iter_mut().find(|armed| armed.id == id) {
                if let Action::Wake(armed) = &mut armed.action {
                    armed.clone_from(waker);
                }
                return;
            }
        }
        self.id = timer.add(Some(self.deadline), Action::Wake(waker.clone()));
        if self.id.is_none() {
            // No timer: fall back to waking at once, so the caller polls
            // again (busily) rather than missing its deadline.
            waker.wake_by_ref();
        }
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            timer().remove(id);
        }
    }
}

/// Ends the calling thread's blocking lock call (with `EINTR`) from a
/// deadline on, or when [`fire`](Interrupt::fire)d, until dropped; dropping
/// it is the thread's acknowledgement that it has left its wait.
///
/// `!Send`: it names the thread that armed it, which must also drop it.
#[derive(Debug)]
pub(crate) struct Interrupt {
    id: u64,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Interrupt {
    /// Arms an interrupt of the calling thread at `deadline` (`None`: only
    /// when fired). `None` if this wait cannot be interrupted (no usable
    /// wake-up signal, or no timer thread): the caller must poll instead.
    pub(crate) fn arm(deadline: Option<Instant>) -> Option<Interrupt> {
        let sig = signal::usable()?;
        let action = Action::Interrupt(signal::current_thread(), sig);
        let id = timer().add(deadline, action)?;
        Some(Interrupt {
            id,
            _not_send: std::marker::PhantomData,
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Interrupts the thread of the interrupt `id` now (and again every
    /// millisecond until it disarms); nothing if it is already disarmed.
    pub(crate) fn fire(id: u64) {
        let timer = timer();
        let mut alarms = timer.alarms();
        if let Some(armed) = alarms.armed.iter_mut().find(|armed| armed.id == id) {
            if let Action::Interrupt(thread, sig) = armed.action {
                let again = armed.interrupt(thread, sig, Instant::now());
                timer.wake_for(&mut alarms, again);
            }
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        timer().remove(self.id);
    }
}

/// How many times the interrupt `id` was sent, at its deadline or fired;
/// an interrupt no longer armed counts as sent (unit tests; only Linux
/// interrupts waits).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn interrupts_sent(id: u64) -> usize {
    timer()
        .alarms()
        .armed
        .iter()
        .find(|armed| armed.id == id)
        .map_or(usize::MAX, |armed| armed.sent)
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
    use std::sync::mpsc::Receiver;
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

    /// A timer of the test's own, so that other tests' alarms do not wake it.
    fn private_timer() -> &'static Timer {
        Box::leak(Box::new(Timer::new()))
    }

    /// A waker that says on a channel that it woke.
    fn channel_waker() -> (Waker, Receiver<()>) {
        struct Send(std::sync::mpsc::Sender<()>);
        impl Wake for Send {
            fn wake(self: Arc<Self>) {
                let _ = self.0.send(());
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        (Waker::from(Arc::new(Send(tx))), rx)
    }

    /// Waits (at most 20 s) until the timer's thread sleeps, and says until when.
    fn asleep(timer: &Timer) -> Option<Instant> {
        let bound = Instant::now() + Duration::from_secs(20);
        loop {
            match timer.alarms().sleep {
                Sleep::Until(until) => return Some(until),
                Sleep::Forever => return None,
                Sleep::Awake => {
                    assert!(Instant::now() < bound, "the timer thread never slept");
                    thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    #[test]
    fn an_alarm_due_after_the_timers_sleep_does_not_wake_it() {
        let timer = private_timer();
        let (waker, _woken) = channel_waker();
        let hour = Instant::now() + Duration::from_secs(3600);
        let first = timer.add(Some(hour), Action::Wake(waker.clone())).unwrap();
        assert_eq!(asleep(timer), Some(hour));
        // Removed: the thread still sleeps until then, and an alarm armed
        // for later needs no wake-up.
        timer.remove(first);
        let later = hour + Duration::from_millis(1);
        timer.add(Some(later), Action::Wake(waker.clone())).unwrap();
        assert!(matches!(timer.alarms().sleep, Sleep::Until(until) if until == hour));
        // An earlier one wakes it, and it then sleeps until that one.
        let earlier = Instant::now() + Duration::from_secs(1800);
        timer.add(Some(earlier), Action::Wake(waker)).unwrap();
        // (It may be asleep again already, until that one.)
        assert_eq!(asleep(timer), Some(earlier));
    }

    #[test]
    fn an_alarm_due_before_the_timers_sleep_is_kept() {
        let timer = private_timer();
        let (waker, woken) = channel_waker();
        let hour = Instant::now() + Duration::from_secs(3600);
        timer.add(Some(hour), Action::Wake(waker.clone())).unwrap();
        asleep(timer);
        fires_at_its_deadline(timer, waker, &woken);
    }

    /// Arms an alarm 30 ms from now with `waker`, and checks that it wakes
    /// `woken`'s waker then (within 5 s), not before.
    fn fires_at_its_deadline(timer: &'static Timer, waker: Waker, woken: &Receiver<()>) {
        let start = Instant::now();
        timer
            .add(Some(start + Duration::from_millis(30)), Action::Wake(waker))
            .unwrap();
        woken.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn an_alarm_wakes_a_timer_that_sleeps_until_woken() {
        let timer = private_timer();
        let (waker, woken) = channel_waker();
        // Only an alarm without a deadline: the thread sleeps until woken.
        timer.add(None, Action::Wake(waker.clone())).unwrap();
        assert_eq!(asleep(timer), None);
        fires_at_its_deadline(timer, waker, &woken);
    }

    #[test]
    fn an_alarm_armed_after_a_removed_one_is_kept() {
        let timer = private_timer();
        // The removed alarm's own waker: on a loaded machine it may fire
        // before the removal, which changes nothing here.
        let (first_waker, _first_woken) = channel_waker();
        let (waker, woken) = channel_waker();
        let start = Instant::now();
        let first = timer
            .add(
                Some(start + Duration::from_millis(200)),
                Action::Wake(first_waker),
            )
            .unwrap();
        asleep(timer);
        timer.remove(first);
        // Armed without a wake-up: the thread wakes for the removed one, finds
        // this one not due yet, and sleeps again until it.
        timer
            .add(
                Some(start + Duration::from_millis(300)),
                Action::Wake(waker),
            )
            .unwrap();
        woken.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(woken.try_recv().is_err(), "woken once");
    }

    #[test]
    fn dropped_alarms_are_disarmed() {
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut alarm = Alarm::new(Instant::now() + Duration::from_secs(3600));
        alarm.arm(&waker);
        let id = alarm.id.unwrap();
        assert!(timer().alarms().armed.iter().any(|armed| armed.id == id));
        drop(alarm);
        assert!(!timer().alarms().armed.iter().any(|armed| armed.id == id));
    }
}
