//! The raw reader-writer lock: who holds it, counted per thread, with no
//! knowledge of re-entrancy (the caller, `mod.rs` with `held.rs`, counts
//! each thread's entries and asks this layer only for a thread's first one).
//!
//! One atomic word says everything the uncontended paths need:
//!
//! ```text
//!  bit 0      WRITER   a thread holds the write side
//!  bit 1      WAITERS  a thread waits (or a writer is queued): slow mode
//!  bits 2..   readers  how many threads hold the read side (the writer
//!                      counts too once it takes a read: that makes
//!                      releasing the write side an atomic downgrade)
//! ```
//!
//! Acquiring is a compare-exchange on the word, which succeeds only while
//! `WAITERS` is clear; releasing is one atomic subtraction. A thread that
//! must wait takes the mutex, registers in the queue and sets `WAITERS` with
//! a compare-exchange that also re-checks the word, so a release either
//! happened before (and the waiter sees it) or sees `WAITERS` and then takes
//! the mutex to wake the waiters, which it can only get once they wait.
//! While `WAITERS` is set, every acquisition goes through the mutex, where
//! the queue decides who is next. The last waiter to leave the queue clears
//! `WAITERS`. Every change of the word is a read-modify-write, so none is
//! lost to a concurrent one.

use std::collections::VecDeque;
use std::time::Duration;

use super::sync::{AtomicUsize, Clock, Condvar, Instant, Mutex, MutexGuard, Ordering};

const WRITER: usize = 1;
const WAITERS: usize = 2;
const READER: usize = 4;
const READERS: usize = !(WRITER | WAITERS);

/// How long an acquisition may wait.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wait {
    /// Not at all.
    No,
    /// Until the lock is granted.
    Forever,
    /// At most this long (counted from when waiting starts).
    For(Duration),
}

/// When a waiting acquisition gives up.
#[derive(Debug, Clone, Copy)]
enum Deadline {
    Now,
    Never,
    At(Instant),
}

/// The threads waiting in slow mode, guarded by the mutex.
#[derive(Debug)]
struct Queue {
    /// Waiting writers' tickets, in arrival order: the front one goes next.
    writers: VecDeque<u64>,
    next_ticket: u64,
    /// How many threads wait for the read side.
    readers: usize,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.writers.is_empty() && self.readers == 0
    }
}

/// `repr(C)`, with the state word last: see [`super::ReaderWriterLock`]'s layout.
#[derive(Debug)]
#[repr(C)]
pub(super) struct RawRwLock {
    queue: Mutex<Queue>,
    changed: Condvar,
    prefer_writers: bool,
    /// The real clock; a virtual one under loom.
    clock: Clock,
    state: AtomicUsize,
}

/// Where the state word sits in a [`RawRwLock`].
#[cfg(all(not(loom), target_pointer_width = "64"))]
pub(super) const STATE_OFFSET: usize = std::mem::offset_of!(RawRwLock, state);

impl RawRwLock {
    #[cfg(not(loom))]
    pub(super) const fn new(prefer_writers: bool) -> Self {
        RawRwLock {
            state: AtomicUsize::new(0),
            queue: Mutex::new(Queue {
                writers: VecDeque::new(),
                next_ticket: 0,
                readers: 0,
            }),
            changed: Condvar::new(),
            prefer_writers,
            clock: Clock::new(),
        }
    }

    #[cfg(loom)]
    pub(super) fn new(prefer_writers: bool) -> Self {
        RawRwLock {
            state: AtomicUsize::new(0),
            queue: Mutex::new(Queue {
                writers: VecDeque::new(),
                next_ticket: 0,
                readers: 0,
            }),
            changed: Condvar::new(),
            prefer_writers,
            clock: Clock::new(),
        }
    }

    /// Takes the read side for a thread that holds neither side, if that
    /// is a single compare-exchange (no writer, nobody waiting): `Some(true)`
    /// if no other thread was reading, `Some(false)` if some were, `None` if
    /// the slow path must decide.
    #[inline]
    pub(super) fn try_lock_read_fast(&self) -> Option<bool> {
        let state = self.state.load(Ordering::Relaxed);
        let taken = state & (WRITER | WAITERS) == 0
            && self
                .state
                .compare_exchange_weak(state, state + READER, Ordering::Acquire, Ordering::Relaxed)
                .is_ok();
        taken.then_some(state & READERS == 0)
    }

    /// Takes the write side for a thread that holds neither side, if the
    /// lock is entirely free.
    #[inline]
    pub(super) fn try_lock_write_fast(&self) -> bool {
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the read side for a thread that holds neither side.
    pub(super) fn lock_read(&self, wait: Wait) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & (WRITER | WAITERS) == 0 {
            match self.state.compare_exchange_weak(
                state,
                state + READER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        self.lock_read_slow(self.deadline(wait))
    }

    #[cold]
    fn lock_read_slow(&self, deadline: Deadline) -> bool {
        let mut queue = self.lock_queue();
        let mut waiting = false;
        loop {
            let state = self.state.load(Ordering::Relaxed);
            let blocked = state & WRITER != 0 || (self.prefer_writers && !queue.writers.is_empty());
            if !blocked {
                if self.cas(state, state + READER) {
                    if waiting {
                        queue.readers -= 1;
                        self.leave_slow_mode_if_idle(&queue);
                    }
                    return true;
                }
                continue;
            }
            if !waiting {
                if let Deadline::Now = deadline {
                    return false;
                }
                if !self.enter_slow_mode(state) {
                    continue;
                }
                queue.readers += 1;
                waiting = true;
            }
            let (next, timed_out) = self.wait(queue, deadline);
            queue = next;
            if timed_out {
                queue.readers -= 1;
                self.leave_slow_mode_if_idle(&queue);
                return false;
            }
        }
    }

    /// Releases the read side of a thread that is not the writer.
    #[inline]
    pub(super) fn unlock_read(&self) {
        let before = self.state.fetch_sub(READER, Ordering::Release);
        // Only the last reader leaving frees anything a waiter waits for.
        if before & WAITERS != 0 && before & READERS == READER {
            self.wake_waiters();
        }
    }

    /// Adds the writer's own read entry: nobody waits on it, as the writer
    /// keeps the write side meanwhile, so it needs neither the mutex nor a
    /// wake-up.
    pub(super) fn writer_add_read(&self) {
        self.state.fetch_add(READER, Ordering::Relaxed);
    }

    /// Removes the writer's own read entry (see [`Self::writer_add_read`]).
    #[inline]
    pub(super) fn writer_remove_read(&self) {
        self.state.fetch_sub(READER, Ordering::Relaxed);
    }

    /// Takes the write side for a thread that holds neither side.
    pub(super) fn lock_write(&self, wait: Wait) -> bool {
        if self.try_lock_write_fast() {
            return true;
        }
        self.lock_write_slow(self.deadline(wait))
    }

    #[cold]
    fn lock_write_slow(&self, deadline: Deadline) -> bool {
        let mut queue = self.lock_queue();
        let mut ticket = None;
        loop {
            let state = self.state.load(Ordering::Relaxed);
            let my_turn = match ticket {
                None => queue.writers.is_empty(),
                Some(mine) => queue.writers.front() == Some(&mine),
            };
            if my_turn && state & (WRITER | READERS) == 0 {
                if self.cas(state, state | WRITER) {
                    if ticket.is_some() {
                        queue.writers.pop_front();
                        self.leave_slow_mode_if_idle(&queue);
                    }
                    return true;
                }
                continue;
            }
            if ticket.is_none() {
                if let Deadline::Now = deadline {
                    return false;
                }
                if !self.enter_slow_mode(state) {
                    continue;
                }
                let mine = queue.next_ticket;
                queue.next_ticket += 1;
                queue.writers.push_back(mine);
                ticket = Some(mine);
            }
            let (next, timed_out) = self.wait(queue, deadline);
            queue = next;
            if timed_out {
                queue.writers.retain(|&queued| Some(queued) != ticket);
                self.leave_slow_mode_if_idle(&queue);
                // Readers held back by this writer, or the writer behind it,
                // may go now.
                self.changed.notify_all();
                return false;
            }
        }
    }

    /// Releases the write side; the writer's own read entries stay, which
    /// makes it a plain reader (an atomic downgrade).
    #[inline]
    pub(super) fn unlock_write(&self) {
        let before = self.state.fetch_sub(WRITER, Ordering::Release);
        if before & WAITERS != 0 {
            self.wake_waiters();
        }
    }

    /// Wakes the waiters after a release that may let one of them in. A
    /// waiter examines the word and starts waiting under the mutex, so
    /// taking the mutex first means each waiter has either seen the release
    /// already or is waiting now and gets the notification.
    #[cold]
    fn wake_waiters(&self) {
        let _queue = self.lock_queue();
        self.changed.notify_all();
    }

    /// How many writers are queued, waiting for the write side.
    pub(super) fn waiting_writers(&self) -> usize {
        self.lock_queue().writers.len()
    }

    /// How many threads wait for the read side.
    pub(super) fn waiting_readers(&self) -> usize {
        self.lock_queue().readers
    }

    /// How many threads hold the read side, and whether one holds the write
    /// side: a snapshot for `Debug`.
    pub(super) fn holders(&self) -> (usize, bool) {
        let state = self.state.load(Ordering::Relaxed);
        (state / READER, state & WRITER != 0)
    }

    fn deadline(&self, wait: Wait) -> Deadline {
        match wait {
            Wait::No => Deadline::Now,
            Wait::Forever => Deadline::Never,
            // A timeout too long to represent is no timeout.
            Wait::For(timeout) => self
                .clock
                .now()
                .checked_add(timeout)
                .map_or(Deadline::Never, Deadline::At),
        }
    }

    /// Moves the virtual clock on and wakes the waiters, as reaching their
    /// deadlines would.
    #[cfg(loom)]
    pub(super) fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
        self.wake_waiters();
    }

    /// Compare-exchange of the whole word, under the mutex.
    fn cas(&self, current: usize, new: usize) -> bool {
        self.state
            .compare_exchange(current, new, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Sets `WAITERS` if the word still is `state`; false if it changed, in
    /// which case the caller re-examines it (it may be free by now).
    fn enter_slow_mode(&self, state: usize) -> bool {
        state & WAITERS != 0 || self.cas(state, state | WAITERS)
    }

    fn leave_slow_mode_if_idle(&self, queue: &Queue) {
        if queue.is_empty() {
            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
    }

    /// Waits for a change of the word; true in the second field if the
    /// deadline passed instead.
    fn wait<'a>(
        &self,
        queue: MutexGuard<'a, Queue>,
        deadline: Deadline,
    ) -> (MutexGuard<'a, Queue>, bool) {
        match deadline {
            Deadline::Now => (queue, true),
            Deadline::Never => (
                self.changed
                    .wait(queue)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                false,
            ),
            Deadline::At(deadline) => {
                let now = self.clock.now();
                if now >= deadline {
                    return (queue, true);
                }
                // Under loom this waits until notified: moving the virtual
                // clock notifies.
                let (queue, _) = self
                    .changed
                    .wait_timeout(queue, deadline - now)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (queue, false)
            }
        }
    }

    /// The queue's mutex is only held by this module's code, which does not
    /// panic while holding it, so poisoning cannot happen; it is ignored
    /// anyway.
    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
