//! The raw reader-writer lock: who holds it, counted per thread, with no
//! knowledge of re-entrancy (the caller, `mod.rs` with `held.rs`, counts
//! each thread's entries and asks this layer only for a thread's first one).
//!
//! One atomic word says everything the uncontended paths need:
//!
//! ```text
//!  bit 0      WRITER           a thread holds the write side
//!  bit 1      WRITERS_WAITING  a writer is queued
//!  bit 2      READERS_WAITING  a reader is queued
//!  bits 3..   readers          how many threads hold the read side (the
//!                              writer counts too once it takes a read: that
//!                              makes releasing the write side an atomic
//!                              downgrade)
//! ```
//!
//! Taking the read side is a compare-exchange on the word that succeeds
//! while no writer holds the lock and, writers first, none is queued:
//! readers queued behind a writer that holds the lock do not send the
//! others through the mutex. Taking the write side is a compare-exchange
//! from a word of zero: nobody holds or waits. Releasing is one atomic
//! subtraction.
//!
//! An acquisition that finds the lock busy while nobody is queued re-reads
//! the word a bounded number of times ([`SPINS`]) before it queues: holds
//! are often shorter than a sleep and a wake-up. Spinning never passes a
//! queued thread: it stops as soon as a waiting bit is set, and a spinning
//! thread is not queued, so it holds back nobody (`has_pending_writers` is
//! false for a spinning writer). The exception is a writer that finds only
//! readers in its way while writers go first: overlapping readers may keep
//! the lock busy indefinitely, so it queues at once (which holds back new
//! readers) and then, first in the queue, spins a while without the mutex
//! for the readers to leave before it sleeps.
//!
//! A thread that must wait takes the mutex, registers in the queue, sets
//! its waiting bit with an atomic OR and looks at the word the OR replaced:
//! if that was free by then, it tries again; if not, every later release
//! sees the bit, and such a release then takes the mutex to wake the
//! waiters, which it can only get once they wait (or have re-examined the
//! word, for a writer back from spinning). Readers and writers wait
//! on separate condition variables, and a release wakes only the side it
//! lets in: the last reader leaving wakes the writers; a writer leaving
//! wakes the writers if no reader is left (it may have downgraded) and the
//! readers unless writers first holds them back behind a queued writer
//! (that writer wakes them in turn, when it releases or gives up). A side
//! is notified only if one of its threads sleeps (the queue counts them):
//! a notification is a system call even when nobody waits. Queued
//! writers go in ticket order. The last waiter of each side to leave the
//! queue clears its bit. Every change of the word is a read-modify-write,
//! so none is lost to a concurrent one.

use std::collections::VecDeque;
use std::time::Duration;

use super::sync::{spin_loop, AtomicUsize, Clock, Condvar, Instant, Mutex, MutexGuard, Ordering};

const WRITER: usize = 1;
const WRITERS_WAITING: usize = 2;
const READERS_WAITING: usize = 4;
const WAITING: usize = WRITERS_WAITING | READERS_WAITING;
const READER: usize = 8;
const READERS: usize = !(WRITER | WAITING);

/// How many times an acquisition re-reads a busy word before it queues
/// (only while nobody is queued). About a microsecond on current machines,
/// the order of a sleep and a wake-up; under loom, one re-read, so that the
/// models see a spin that succeeds and one that gives up without their
/// interleavings multiplying.
#[cfg(not(loom))]
const SPINS: u32 = 100;
#[cfg(loom)]
const SPINS: u32 = 1;

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

/// The threads waiting, guarded by the mutex.
#[derive(Debug)]
struct Queue {
    /// Waiting writers' tickets, in arrival order: the front one goes next.
    writers: VecDeque<u64>,
    next_ticket: u64,
    /// How many threads wait for the read side.
    readers: usize,
    /// How many queued threads sleep on each condition variable now.
    sleeping_readers: usize,
    sleeping_writers: usize,
}

/// `repr(C)`: `read_blockers`, which every read loads, first, and the
/// state word, which every operation writes, last, more than a cache line
/// further on (see [`super::ReaderWriterLock`]'s layout).
#[derive(Debug)]
#[repr(C)]
pub(super) struct RawRwLock {
    /// The bits of the word that keep a new reader out: `WRITER`, and
    /// `WRITERS_WAITING` when writers go first.
    read_blockers: usize,
    queue: Mutex<Queue>,
    /// Where queued readers wait.
    readers_go: Condvar,
    /// Where queued writers wait.
    writers_go: Condvar,
    /// The real clock; a virtual one under loom.
    clock: Clock,
    state: AtomicUsize,
}

/// Where the state word sits in a [`RawRwLock`].
#[cfg(all(not(loom), target_pointer_width = "64"))]
pub(super) const STATE_OFFSET: usize = std::mem::offset_of!(RawRwLock, state);

#[cfg(all(not(loom), target_pointer_width = "64"))]
const _: () = assert!(
    STATE_OFFSET >= std::mem::offset_of!(RawRwLock, read_blockers) + 64,
    "the state word must not share a cache line with `read_blockers`"
);

const fn read_blockers(prefer_writers: bool) -> usize {
    if prefer_writers {
        WRITER | WRITERS_WAITING
    } else {
        WRITER
    }
}

impl RawRwLock {
    #[cfg(not(loom))]
    pub(super) const fn new(prefer_writers: bool) -> Self {
        RawRwLock {
            read_blockers: read_blockers(prefer_writers),
            queue: Mutex::new(Queue {
                writers: VecDeque::new(),
                next_ticket: 0,
                readers: 0,
                sleeping_readers: 0,
                sleeping_writers: 0,
            }),
            readers_go: Condvar::new(),
            writers_go: Condvar::new(),
            clock: Clock::new(),
            state: AtomicUsize::new(0),
        }
    }

    #[cfg(loom)]
    pub(super) fn new(prefer_writers: bool) -> Self {
        RawRwLock {
            read_blockers: read_blockers(prefer_writers),
            queue: Mutex::new(Queue {
                writers: VecDeque::new(),
                next_ticket: 0,
                readers: 0,
                sleeping_readers: 0,
                sleeping_writers: 0,
            }),
            readers_go: Condvar::new(),
            writers_go: Condvar::new(),
            clock: Clock::new(),
            state: AtomicUsize::new(0),
        }
    }

    /// Whether waiting writers hold back new readers.
    fn prefer_writers(&self) -> bool {
        self.read_blockers & WRITERS_WAITING != 0
    }

    /// Takes the read side for a thread that holds neither side, if that
    /// is a single compare-exchange (no writer holds the lock and, writers
    /// first, none is queued); false if the slow path must decide.
    #[inline]
    pub(super) fn try_lock_read_fast(&self) -> bool {
        let state = self.state.load(Ordering::Relaxed);
        state & self.read_blockers == 0
            && self
                .state
                .compare_exchange_weak(state, state + READER, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Takes the write side for a thread that holds neither side, if the
    /// lock is entirely free and nobody waits.
    #[inline]
    pub(super) fn try_lock_write_fast(&self) -> bool {
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the read side for a thread that holds neither side: spinning
    /// a little while the lock is busy and nobody is queued, then queueing.
    pub(super) fn lock_read(&self, wait: Wait) -> bool {
        let mut spins = 0;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & self.read_blockers == 0 {
                match self.state.compare_exchange_weak(
                    state,
                    state + READER,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => state = now,
                }
                continue;
            }
            if !self.may_spin(wait, state, &mut spins) {
                break;
            }
            state = self.state.load(Ordering::Relaxed);
        }
        self.lock_read_slow(self.deadline(wait))
    }

    /// Whether an acquisition that found the word `state` busy spins once
    /// more (and if so, spins): not for a single attempt, not once anybody
    /// is queued (spinning would then pass them), not more than [`SPINS`]
    /// times.
    #[inline]
    fn may_spin(&self, wait: Wait, state: usize, spins: &mut u32) -> bool {
        if matches!(wait, Wait::No) || state & WAITING != 0 || *spins >= SPINS {
            return false;
        }
        *spins += 1;
        spin_loop();
        true
    }

    #[cold]
    fn lock_read_slow(&self, deadline: Deadline) -> bool {
        let mut queue = self.lock_queue();
        let mut waiting = false;
        loop {
            let state = self.state.load(Ordering::Relaxed);
            let blocked =
                state & WRITER != 0 || (self.prefer_writers() && !queue.writers.is_empty());
            if !blocked {
                if self.cas(state, state + READER) {
                    if waiting {
                        self.leave_readers_queue(&mut queue);
                    }
                    return true;
                }
                continue;
            }
            if !waiting {
                if let Deadline::Now = deadline {
                    return false;
                }
                queue.readers += 1;
                waiting = true;
                // No writer held the lock any more when the bit went on?
                // Then look again; otherwise the writer's release sees it.
                let before = self.state.fetch_or(READERS_WAITING, Ordering::Relaxed);
                if before & WRITER == 0 {
                    continue;
                }
            }
            let (next, timed_out) = self.wait(false, queue, deadline);
            queue = next;
            if timed_out {
                self.leave_readers_queue(&mut queue);
                return false;
            }
        }
    }

    fn leave_readers_queue(&self, queue: &mut Queue) {
        queue.readers -= 1;
        if queue.readers == 0 {
            self.state.fetch_and(!READERS_WAITING, Ordering::Relaxed);
        }
    }

    /// Releases the read side of a thread that is not the writer.
    #[inline]
    pub(super) fn unlock_read(&self) {
        let before = self.state.fetch_sub(READER, Ordering::Release);
        // Readers never wait for readers: only the last one leaving frees
        // anything, and only for a writer.
        if before & WRITERS_WAITING != 0 && before & READERS == READER {
            self.wake(false, true);
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

    /// Takes the write side for a thread that holds neither side: spinning
    /// a little while the lock is busy and nobody is queued, then queueing.
    pub(super) fn lock_write(&self, wait: Wait) -> bool {
        let mut spins = 0;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state == 0 {
                match self.state.compare_exchange_weak(
                    0,
                    WRITER,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => state = now,
                }
                continue;
            }
            // Writers first, only readers in the way: queue at once (see
            // the module's documentation).
            if (self.prefer_writers() && state & WRITER == 0)
                || !self.may_spin(wait, state, &mut spins)
            {
                break;
            }
            state = self.state.load(Ordering::Relaxed);
        }
        self.lock_write_slow(self.deadline(wait))
    }

    #[cold]
    fn lock_write_slow(&self, deadline: Deadline) -> bool {
        let mut queue = self.lock_queue();
        let mut ticket = None;
        let mut drained = false;
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
                        self.leave_writers_queue_if_empty(&queue);
                    }
                    return true;
                }
                continue;
            }
            if ticket.is_none() {
                if let Deadline::Now = deadline {
                    return false;
                }
                let mine = queue.next_ticket;
                queue.next_ticket += 1;
                queue.writers.push_back(mine);
                ticket = Some(mine);
                // Freed since `state`? Then try again (first in the queue
                // only: a writer behind others waits for its turn anyway).
                let before = self.state.fetch_or(WRITERS_WAITING, Ordering::Relaxed);
                if my_turn && before & (WRITER | READERS) == 0 {
                    continue;
                }
                // Writers first and only readers in the way, which new
                // readers no longer join: spin for them to leave (once),
                // then look again.
                if my_turn && !drained && self.prefer_writers() && before & WRITER == 0 {
                    drained = true;
                    drop(queue);
                    let mut spins = 0;
                    while self.state.load(Ordering::Relaxed) & READERS != 0 && spins < SPINS {
                        spins += 1;
                        spin_loop();
                    }
                    queue = self.lock_queue();
                    continue;
                }
            }
            let (next, timed_out) = self.wait(true, queue, deadline);
            queue = next;
            if timed_out {
                queue.writers.retain(|&queued| Some(queued) != ticket);
                self.leave_writers_queue_if_empty(&queue);
                drop(queue);
                // Readers held back by this writer, or the writer behind it,
                // may go now.
                self.wake(true, true);
                return false;
            }
        }
    }

    fn leave_writers_queue_if_empty(&self, queue: &Queue) {
        if queue.writers.is_empty() {
            self.state.fetch_and(!WRITERS_WAITING, Ordering::Relaxed);
        }
    }

    /// Releases the write side; the writer's own read entries stay, which
    /// makes it a plain reader (an atomic downgrade).
    #[inline]
    pub(super) fn unlock_write(&self) {
        let before = self.state.fetch_sub(WRITER, Ordering::Release);
        if before & WAITING != 0 {
            self.wake_after_write(before);
        }
    }

    /// Wakes the side(s) that the release of the write side from the word
    /// `before` lets in.
    #[cold]
    fn wake_after_write(&self, before: usize) {
        // Writers, if no reader is left (after a downgrade, the last reader
        // wakes them).
        let writers = before & WRITERS_WAITING != 0 && before & READERS == 0;
        // Readers, unless a queued writer holds them back (it wakes them
        // when it releases the lock or gives up).
        let readers = before & READERS_WAITING != 0
            && !(self.prefer_writers() && before & WRITERS_WAITING != 0);
        self.wake(readers, writers);
    }

    /// Wakes the waiting readers and/or writers. A waiter examines the word
    /// and starts waiting under the mutex, so taking the mutex first means
    /// each waiter has either seen the release already or is waiting now
    /// and gets the notification.
    #[cold]
    fn wake(&self, readers: bool, writers: bool) {
        let queue = self.lock_queue();
        let readers = readers && queue.sleeping_readers > 0;
        let writers = writers && queue.sleeping_writers > 0;
        drop(queue);
        if readers {
            self.readers_go.notify_all();
        }
        if writers {
            self.writers_go.notify_all();
        }
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
        self.wake(true, true);
    }

    /// Compare-exchange of the whole word, under the mutex.
    fn cas(&self, current: usize, new: usize) -> bool {
        self.state
            .compare_exchange(current, new, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Waits on the writers' or the readers' condition variable for a
    /// release (or a spurious wake-up), counted as sleeping meanwhile; true
    /// in the second field if the deadline passed instead.
    fn wait<'a>(
        &self,
        writer: bool,
        mut queue: MutexGuard<'a, Queue>,
        deadline: Deadline,
    ) -> (MutexGuard<'a, Queue>, bool) {
        let go = if writer {
            &self.writers_go
        } else {
            &self.readers_go
        };
        let timeout = match deadline {
            Deadline::Now => return (queue, true),
            Deadline::Never => None,
            Deadline::At(deadline) => {
                let now = self.clock.now();
                if now >= deadline {
                    return (queue, true);
                }
                Some(deadline - now)
            }
        };
        fn sleeping(queue: &mut Queue, writer: bool) -> &mut usize {
            if writer {
                &mut queue.sleeping_writers
            } else {
                &mut queue.sleeping_readers
            }
        }
        *sleeping(&mut queue, writer) += 1;
        let mut queue = match timeout {
            None => go
                .wait(queue)
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            // Under loom this waits until notified: moving the virtual
            // clock notifies.
            Some(timeout) => {
                go.wait_timeout(queue, timeout)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0
            }
        };
        *sleeping(&mut queue, writer) -= 1;
        (queue, false)
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
