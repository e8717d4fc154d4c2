//! The in-process reader-writer lock, Python fasteners' `ReaderWriterLock`.

mod guard;
mod held;
mod state;
mod sync;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::lock_traits::{Lockable, SharedLockable, SharedTimedLockable, TimedLockable};
use crate::{Error, ErrorKind, Result};
pub use guard::{ReadGuard, WriteGuard};
use state::{RawRwLock, Wait};

/// The lock's name in error messages.
const NAME: &str = "reader-writer lock";

/// Which side goes first when readers and writers both want a
/// [`ReaderWriterLock`].
///
/// Under both, a thread that already holds the lock (either side) can
/// always take the read side again at once, and waiting writers are served
/// in arrival order (FIFO).
///
/// # Examples
///
/// ```
/// use fasteners::{Preference, ReaderWriterLock};
///
/// let lock = ReaderWriterLock::with_preference(Preference::Reader);
/// assert_eq!(lock.preference(), Preference::Reader);
/// assert_eq!(ReaderWriterLock::new().preference(), Preference::Writer);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Preference {
    /// Writers first (the default, and Python fasteners' only policy): once
    /// a writer waits, a thread that does not hold the lock yet cannot
    /// start reading until every waiting writer has had its turn. Writers
    /// cannot starve; readers wait while writers keep coming. (A writer
    /// waits from when it queues, which it does after a brief re-check of a
    /// busy lock, and from then on
    /// [`has_pending_writers`](ReaderWriterLock::has_pending_writers) is
    /// true.)
    #[default]
    Writer,
    /// Readers first: a thread may start reading whenever no writer *holds*
    /// the lock, even while writers wait. Readers never wait for a writer
    /// that is only waiting; writers wait until no thread reads, so a steady
    /// stream of overlapping readers starves them.
    Reader,
}

/// Which side of a [`ReaderWriterLock`] a thread holds, as reported by
/// [`ReaderWriterLock::owner`] (Python's `owner`, `'r'` or `'w'`).
///
/// # Examples
///
/// ```
/// use fasteners::{Owner, ReaderWriterLock};
///
/// let lock = ReaderWriterLock::new();
/// let _read = lock.read().unwrap();
/// assert_eq!(lock.owner(), Some(Owner::Reader));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The read side only.
    Reader,
    /// The write side (possibly with read entries too).
    Writer,
}

/// A reader-writer lock for the threads of one process: re-entrant, writers
/// first, with blocking, non-blocking and timed acquisition of both sides.
///
/// It is Python fasteners' `ReaderWriterLock`:
///
/// - Many threads may read at once; one thread at a time may write, while
///   nobody else reads.
/// - It is re-entrant and counted: a reader may read again, a writer may
///   write again and may also read. Each entry is released once. A writer
///   that still reads when it releases its last write entry stays a reader:
///   the lock is downgraded atomically, with no gap for another writer.
/// - A thread that only reads cannot start writing: asking for the write side
///   gives [`ErrorKind::WouldDeadlock`] at once (blocking, non-blocking and
///   timed alike) instead of waiting forever for itself.
/// - Writers go first by default, in arrival order; see [`Preference`].
/// - There is no poisoning: a thread that panics while holding the lock
///   releases it as its guards drop, and the next caller proceeds.
///
/// Holdings belong to threads: guards are not [`Send`], and releasing what
/// the calling thread does not hold is an [`ErrorKind::NotHeld`] error. A
/// thread that ends while holding entries it took by hand
/// ([`acquire_read_lock`](Self::acquire_read_lock) and friends, no guard)
/// leaves them held, as in Python; no later thread can release them for it.
///
/// Uncontended, taking and releasing either side costs one compare-exchange
/// and one atomic subtraction, plus a little per-thread bookkeeping. A thread
/// that finds the lock busy while nobody waits for it re-checks it for about
/// a microsecond before it queues (never past a queued thread); queued
/// threads sleep on a condition variable and are woken by the release that
/// lets them in.
///
/// # Examples
///
/// ```
/// use fasteners::ReaderWriterLock;
///
/// let lock = ReaderWriterLock::new();
/// {
///     let _w = lock.write().unwrap();
///     // The writer may also read, and may write again.
///     let _r = lock.read().unwrap();
///     let _w2 = lock.write().unwrap();
///     assert!(lock.is_writer());
/// }
/// let r1 = lock.read().unwrap();
/// let r2 = lock.read().unwrap();
/// // A reader asking to write would wait for itself forever: refused.
/// assert!(lock.try_write().is_err());
/// drop((r1, r2));
/// assert!(lock.try_write().is_ok());
/// ```
///
/// The Python way, with explicit acquire and release:
///
/// ```
/// use fasteners::ReaderWriterLock;
///
/// let lock = ReaderWriterLock::new();
/// assert!(lock.acquire_read_lock(true, None).unwrap());
/// assert!(lock.is_reader());
/// lock.release_read_lock().unwrap();
/// assert!(lock.release_read_lock().is_err());
/// ```
// Layout (`repr(C)`): the fields that every read loads and nothing writes
// after the first use (`id`, and the raw lock's `read_blockers`) come first;
// the state word that every operation writes comes at least a cache line
// further on, followed by the writer's own fields, which only a thread that
// holds the write side (and so owns the state word's line) writes. Sharing a
// line with the state word, a reader's load of `id` would fetch the line
// shared and its atomic update would then fetch it again exclusively; with
// the writer's fields beside `id`, every write would take that line from
// every reader: either way, twice the cache traffic of std's lock under
// contention.
#[repr(C)]
pub struct ReaderWriterLock {
    /// Unique among all locks ever made in this process (0 until first
    /// used): the key of this lock in each thread's table of holdings. A
    /// lock's address would not do, as a lock may move or be freed and
    /// replaced while some thread still counts entries on it.
    id: AtomicUsize,
    preference: Preference,
    raw: RawRwLock,
    /// The [`held::thread_token`] of the writing thread, 0 when none writes.
    /// Only a thread itself stores or clears its token here, so a thread
    /// finds its own token here exactly while it writes.
    writer: sync::AtomicUsize,
    /// The writer's entry count; only the writer touches it.
    write_entries: sync::AtomicUsize,
}

// Checked where it is known to hold (on 32-bit targets the fields are
// smaller and may share a line, which costs speed, not correctness).
#[cfg(all(not(loom), target_pointer_width = "64"))]
const _: () = assert!(
    std::mem::offset_of!(ReaderWriterLock, raw) + state::STATE_OFFSET
        >= std::mem::offset_of!(ReaderWriterLock, id) + 64,
    "the state word must not share a cache line with the fields read before it"
);

/// How an acquisition waits, and what it reports when it gets nothing.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Block,
    Try,
    Timed(Duration),
}

impl Mode {
    fn from_python(blocking: bool, timeout: Option<Duration>) -> Self {
        match (blocking, timeout) {
            (false, _) => Mode::Try,
            (true, None) => Mode::Block,
            (true, Some(timeout)) => Mode::Timed(timeout),
        }
    }

    fn wait(self) -> Wait {
        match self {
            Mode::Block => Wait::Forever,
            Mode::Try => Wait::No,
            Mode::Timed(timeout) => Wait::For(timeout),
        }
    }

    fn busy(self) -> Error {
        match self {
            Mode::Timed(timeout) => Error::in_process_timed_out(NAME, timeout),
            Mode::Block | Mode::Try => Error::would_block_in_process(NAME),
        }
    }
}

#[cold]
fn not_held(message: &'static str) -> Error {
    Error::in_process(ErrorKind::NotHeld, NAME, message)
}

/// Turns a busy lock into `Ok(false)`, as Python's `acquire` returns.
fn acquired(result: Result<()>) -> Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(err) if err.is_contention() => Ok(false),
        Err(err) => Err(err),
    }
}

impl ReaderWriterLock {
    /// Makes an unlocked, writer-first lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// static LOCK: ReaderWriterLock = ReaderWriterLock::new();
    ///
    /// let _read = LOCK.read().unwrap();
    /// ```
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new() -> Self {
        Self::with_preference(Preference::Writer)
    }

    /// Makes an unlocked lock with the given [`Preference`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{Preference, ReaderWriterLock};
    ///
    /// let lock = ReaderWriterLock::with_preference(Preference::Reader);
    /// let _read = lock.read().unwrap();
    /// ```
    #[cfg(not(loom))]
    #[must_use]
    pub const fn with_preference(preference: Preference) -> Self {
        ReaderWriterLock {
            raw: RawRwLock::new(matches!(preference, Preference::Writer)),
            id: AtomicUsize::new(0),
            writer: sync::AtomicUsize::new(0),
            write_entries: sync::AtomicUsize::new(0),
            preference,
        }
    }

    /// Makes an unlocked, writer-first lock (loom build: not `const`).
    #[cfg(loom)]
    #[must_use]
    pub fn new() -> Self {
        Self::with_preference(Preference::Writer)
    }

    /// Makes an unlocked lock with the given [`Preference`] (loom build).
    #[cfg(loom)]
    #[must_use]
    pub fn with_preference(preference: Preference) -> Self {
        ReaderWriterLock {
            raw: RawRwLock::new(matches!(preference, Preference::Writer)),
            id: AtomicUsize::new(0),
            writer: sync::AtomicUsize::new(0),
            write_entries: sync::AtomicUsize::new(0),
            preference,
        }
    }

    /// The lock's [`Preference`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{Preference, ReaderWriterLock};
    ///
    /// assert_eq!(ReaderWriterLock::new().preference(), Preference::Writer);
    /// ```
    #[must_use]
    pub fn preference(&self) -> Preference {
        self.preference
    }

    /// Takes the read side, waiting as long as needed.
    ///
    /// Returns at once if the calling thread already holds either side.
    /// Otherwise waits while a writer holds the lock and, under
    /// [`Preference::Writer`], while writers wait for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// let first = lock.read().unwrap();
    /// let again = lock.read().unwrap();
    /// assert!(lock.is_reader());
    /// drop((first, again));
    /// assert!(!lock.is_reader());
    /// ```
    ///
    /// # Errors
    ///
    /// None: reading never conflicts with what the calling thread holds. The
    /// [`Result`] is there so that code written for
    /// `InterProcessReaderWriterLock` works unchanged.
    #[inline]
    pub fn read(&self) -> Result<ReadGuard<'_>> {
        self.acquire_read(Mode::Block)
            .map(|()| ReadGuard::new(self))
    }

    /// Takes the read side only if that needs no waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{ErrorKind, ReaderWriterLock};
    ///
    /// let lock = ReaderWriterLock::new();
    /// assert!(lock.try_read().is_ok());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`] when another thread writes or, under
    /// [`Preference::Writer`], writers wait.
    #[inline]
    pub fn try_read(&self) -> Result<ReadGuard<'_>> {
        self.acquire_read(Mode::Try).map(|()| ReadGuard::new(self))
    }

    /// Takes the read side, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// let _read = lock.try_read_for(Duration::from_millis(10)).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`] when the read side could not be had in time.
    #[inline]
    pub fn try_read_for(&self, timeout: Duration) -> Result<ReadGuard<'_>> {
        self.acquire_read(Mode::Timed(timeout))
            .map(|()| ReadGuard::new(self))
    }

    /// Takes the write side, waiting as long as needed (Python's
    /// `write_lock()` context manager is [`write_lock`](Self::write_lock)).
    ///
    /// Returns at once if the calling thread already writes. Otherwise waits
    /// until no other thread reads or writes and every writer that came
    /// earlier has had its turn.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// let guard = lock.write().unwrap();
    /// assert!(lock.is_writer());
    /// guard.release().unwrap();
    /// assert!(!lock.is_writer());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`] when the calling thread reads but does not
    /// write: it would wait for itself (upgrades are not supported).
    #[inline]
    pub fn write(&self) -> Result<WriteGuard<'_>> {
        self.acquire_write(Mode::Block)
            .map(|()| WriteGuard::new(self))
    }

    /// Takes the write side only if that needs no waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{ErrorKind, ReaderWriterLock};
    ///
    /// let lock = ReaderWriterLock::new();
    /// let _read = lock.read().unwrap();
    /// let err = lock.try_write().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::WouldDeadlock);
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`] when other threads hold the lock or
    /// writers are queued for it, and [`ErrorKind::WouldDeadlock`] as for
    /// [`write`](Self::write).
    #[inline]
    pub fn try_write(&self) -> Result<WriteGuard<'_>> {
        self.acquire_write(Mode::Try)
            .map(|()| WriteGuard::new(self))
    }

    /// Takes the write side, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// let _write = lock.try_write_for(Duration::from_millis(10)).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TimedOut`] when the write side could not be had in time,
    /// and [`ErrorKind::WouldDeadlock`] as for [`write`](Self::write).
    #[inline]
    pub fn try_write_for(&self, timeout: Duration) -> Result<WriteGuard<'_>> {
        self.acquire_write(Mode::Timed(timeout))
            .map(|()| WriteGuard::new(self))
    }

    /// Python's `read_lock()` context manager: the same as [`read`](Self::read).
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// let _guard = lock.read_lock().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`read`](Self::read).
    #[inline]
    pub fn read_lock(&self) -> Result<ReadGuard<'_>> {
        self.read()
    }

    /// Python's `write_lock()` context manager: the same as [`write`](Self::write).
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// let _guard = lock.write_lock().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`write`](Self::write).
    #[inline]
    pub fn write_lock(&self) -> Result<WriteGuard<'_>> {
        self.write()
    }

    /// Python's `acquire_read_lock()`, with the blocking and timeout choices
    /// of the other locks: takes one read entry for the calling thread,
    /// to be given back with [`release_read_lock`](Self::release_read_lock).
    ///
    /// `blocking = false` makes one attempt (the timeout is then ignored);
    /// `blocking = true` waits at most `timeout`, or as long as needed when
    /// it is `None`. Returns whether the lock was acquired.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// assert!(lock.acquire_read_lock(true, Some(Duration::from_secs(1))).unwrap());
    /// lock.release_read_lock().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// None at present (a busy lock gives `Ok(false)`); see [`read`](Self::read).
    pub fn acquire_read_lock(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
        acquired(self.acquire_read(Mode::from_python(blocking, timeout)))
    }

    /// Python's `release_read_lock()`: gives back one read entry of the
    /// calling thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// lock.acquire_read_lock(true, None).unwrap();
    /// lock.release_read_lock().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotHeld`] when the calling thread holds no read entry.
    #[inline]
    pub fn release_read_lock(&self) -> Result<()> {
        if self.release_read_entry() {
            Ok(())
        } else {
            Err(not_held("the calling thread holds no read lock"))
        }
    }

    /// Python's `acquire_write_lock()`, with the blocking and timeout choices
    /// of [`acquire_read_lock`](Self::acquire_read_lock): takes one write
    /// entry for the calling thread, to be given back with
    /// [`release_write_lock`](Self::release_write_lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// assert!(lock.acquire_write_lock(false, None).unwrap());
    /// lock.release_write_lock().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`] when the calling thread reads but does not
    /// write (a busy lock gives `Ok(false)`).
    pub fn acquire_write_lock(&self, blocking: bool, timeout: Option<Duration>) -> Result<bool> {
        acquired(self.acquire_write(Mode::from_python(blocking, timeout)))
    }

    /// Python's `release_write_lock()`: gives back one write entry of the
    /// calling thread. Giving back the last one while still holding read
    /// entries leaves the thread a plain reader.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// lock.acquire_write_lock(true, None).unwrap();
    /// lock.acquire_read_lock(true, None).unwrap();
    /// lock.release_write_lock().unwrap();
    /// assert!(lock.is_reader() && !lock.is_writer());
    /// lock.release_read_lock().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotHeld`] when the calling thread holds no write entry.
    #[inline]
    pub fn release_write_lock(&self) -> Result<()> {
        if self.release_write_entry() {
            Ok(())
        } else {
            Err(not_held("the calling thread holds no write lock"))
        }
    }

    /// Whether the *calling thread* holds the read side (Python's
    /// `is_reader()`); a writer that also took read entries is a reader too.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// assert!(!lock.is_reader());
    /// let _read = lock.read().unwrap();
    /// assert!(lock.is_reader());
    /// ```
    #[must_use]
    pub fn is_reader(&self) -> bool {
        held::reads(self.id()) > 0
    }

    /// Whether the *calling thread* holds the write side (Python's
    /// `is_writer(check_pending=False)`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// let _write = lock.write().unwrap();
    /// assert!(lock.is_writer());
    /// ```
    #[must_use]
    pub fn is_writer(&self) -> bool {
        self.writer.load(sync::Ordering::Relaxed) == held::thread_token()
    }

    /// Whether the *calling thread* holds the write side or waits for it
    /// (Python's `is_writer()`, whose `check_pending` defaults to true).
    ///
    /// A thread waiting for the write side is blocked inside the acquiring
    /// call, so it can never be the caller here: this always equals
    /// [`is_writer`](Self::is_writer). It exists so that code ported from
    /// Python keeps its shape; to ask whether *any* thread waits to write,
    /// use [`has_pending_writers`](Self::has_pending_writers).
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// assert!(!lock.is_writer_or_pending());
    /// let _write = lock.write().unwrap();
    /// assert!(lock.is_writer_or_pending());
    /// ```
    #[must_use]
    pub fn is_writer_or_pending(&self) -> bool {
        self.is_writer()
    }

    /// What the *calling thread* holds: [`Owner::Writer`] if it writes
    /// (whether or not it also reads), [`Owner::Reader`] if it only reads,
    /// `None` if neither.
    ///
    /// Python's `owner` property is documented the same way, but its code
    /// reports whether *any* thread holds the lock; this follows the
    /// documentation, which is the useful, race-free question.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{Owner, ReaderWriterLock};
    ///
    /// let lock = ReaderWriterLock::new();
    /// assert_eq!(lock.owner(), None);
    /// let _write = lock.write().unwrap();
    /// let _read = lock.read().unwrap();
    /// assert_eq!(lock.owner(), Some(Owner::Writer));
    /// ```
    #[must_use]
    pub fn owner(&self) -> Option<Owner> {
        if self.is_writer() {
            Some(Owner::Writer)
        } else if self.is_reader() {
            Some(Owner::Reader)
        } else {
            None
        }
    }

    /// Whether *any* thread is waiting for the write side of the lock
    /// (Python's `has_pending_writers`). The answer may be stale as soon as
    /// it is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::ReaderWriterLock;
    ///
    /// let lock = ReaderWriterLock::new();
    /// assert!(!lock.has_pending_writers());
    /// ```
    #[must_use]
    pub fn has_pending_writers(&self) -> bool {
        self.raw.waiting_writers() > 0
    }

    /// How many threads are waiting for the read side right now: for tests
    /// that must know a reader is held back before they act. Not part of
    /// the API (it may change without notice); the answer may be stale as
    /// soon as it is returned.
    #[doc(hidden)]
    #[must_use]
    pub fn waiting_readers(&self) -> usize {
        self.raw.waiting_readers()
    }

    /// Moves the lock's virtual clock on by `by` (loom build only, where the
    /// lock has no real time): timed waiters whose deadline passes give up.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn advance_clock(&self, by: Duration) {
        self.raw.advance_clock(by);
    }

    /// Takes a read entry: the uncontended and re-entrant cases in
    /// [`Self::try_read_entry_fast`], the rest (waiting, errors) out of line.
    #[inline]
    fn acquire_read(&self, mode: Mode) -> Result<()> {
        if self.try_read_entry_fast() {
            Ok(())
        } else {
            self.acquire_read_slow(mode)
        }
    }

    // The functions that touch the thread-local table are deliberately not
    // `#[inline]`: compiled in this crate, a thread-local access is a plain
    // `fs`-relative address; inlined into a user's crate it becomes a call
    // through the thread-local key's accessor, which costs more than the call.

    /// Takes a read entry if the caller already reads or the lock is free
    /// of writers and waiters.
    //
    // The fast paths make no call other than a final one (a jump), so they
    // need no stack frame: each rare case (a lock's first use, a thread's
    // first write, more than one lock held) is a function of its own.
    fn try_read_entry_fast(&self) -> bool {
        let id = self.id.load(Ordering::Relaxed);
        if id == 0 {
            return self.try_first_read_entry();
        }
        if held::reenter_favourite(id) {
            return true;
        }
        // With no read entries anywhere, the caller cannot already read
        // this lock, so the table need not be searched.
        if held::holds_no_reads() {
            if !self.raw.try_lock_read_fast() {
                return false;
            }
            held::enter_favourite(id);
            return true;
        }
        self.try_read_entry_in_table(id)
    }

    /// [`Self::try_read_entry_fast`] on a lock that has no id yet.
    #[cold]
    #[inline(never)]
    fn try_first_read_entry(&self) -> bool {
        self.assign_id();
        self.try_read_entry_fast()
    }

    /// [`Self::try_read_entry_fast`] for a thread that holds read entries
    /// on some lock: out of line, so that the common case stays small.
    #[inline(never)]
    fn try_read_entry_in_table(&self, id: usize) -> bool {
        let raw = &self.raw;
        held::with_reads(id, |reads| {
            if *reads > 0 {
                *reads += 1;
            } else if raw.try_lock_read_fast() {
                *reads = 1;
            } else {
                return false;
            }
            true
        })
    }

    /// The rest of [`Self::acquire_read`]: the fast path refused, so the
    /// caller holds no read entry on this lock (a re-entrant read never
    /// gets here: the fast path counts it in the favourite slot or the table).
    #[cold]
    fn acquire_read_slow(&self, mode: Mode) -> Result<()> {
        let raw = &self.raw;
        held::with_reads(self.id(), |reads| {
            debug_assert_eq!(*reads, 0, "a re-entrant read reached the slow path");
            if self.is_writer() {
                raw.writer_add_read();
            } else if !raw.lock_read(mode.wait()) {
                return Err(mode.busy());
            }
            *reads = 1;
            Ok(())
        })
    }

    /// Gives back one read entry; false if the caller holds none.
    fn release_read_entry(&self) -> bool {
        let id = self.id.load(Ordering::Relaxed);
        if id == 0 {
            // Never used: nobody holds it.
            return false;
        }
        match held::leave_favourite(id) {
            // The favourite slot only holds reads taken on the fast path,
            // which a writer never takes: this is a plain reader.
            Some(true) => self.raw.unlock_read(),
            Some(false) => {}
            None => return self.release_read_entry_in_table(id),
        }
        true
    }

    /// [`Self::release_read_entry`] for a lock not in the favourite slot:
    /// out of line, like [`Self::try_read_entry_in_table`].
    #[inline(never)]
    fn release_read_entry_in_table(&self, id: usize) -> bool {
        let raw = &self.raw;
        held::with_reads(id, |reads| match *reads {
            0 => false,
            1 => {
                *reads = 0;
                if self.is_writer() {
                    raw.writer_remove_read();
                } else {
                    raw.unlock_read();
                }
                true
            }
            _ => {
                *reads -= 1;
                true
            }
        })
    }

    /// Takes a write entry, like [`Self::acquire_read`].
    #[inline]
    fn acquire_write(&self, mode: Mode) -> Result<()> {
        if self.try_write_entry_fast() {
            Ok(())
        } else {
            self.acquire_write_slow(mode)
        }
    }

    /// Takes a write entry if the caller already writes or the lock is free.
    fn try_write_entry_fast(&self) -> bool {
        let me = held::known_thread_token();
        if me == 0 {
            return self.try_first_write_entry();
        }
        // The compare-exchange first: the writer's fields share the state
        // word's line, which it then owns.
        if self.raw.try_lock_write_fast() {
            self.become_writer(me);
            return true;
        }
        if self.writer.load(sync::Ordering::Relaxed) == me {
            let entries = self.write_entries.load(sync::Ordering::Relaxed);
            self.write_entries
                .store(entries + 1, sync::Ordering::Relaxed);
            return true;
        }
        false
    }

    /// [`Self::try_write_entry_fast`] on a thread that has no token yet.
    #[cold]
    #[inline(never)]
    fn try_first_write_entry(&self) -> bool {
        held::thread_token();
        self.try_write_entry_fast()
    }

    #[cold]
    fn acquire_write_slow(&self, mode: Mode) -> Result<()> {
        if self.is_reader() {
            return Err(Error::in_process(
                ErrorKind::WouldDeadlock,
                NAME,
                "the calling thread holds the read side and asks for the write side \
                 (upgrading is not supported: release the read lock first)",
            ));
        }
        if !self.raw.lock_write(mode.wait()) {
            return Err(mode.busy());
        }
        self.become_writer(held::thread_token());
        Ok(())
    }

    /// Records the calling thread, which just took the write side, as the writer.
    #[inline]
    fn become_writer(&self, me: usize) {
        self.writer.store(me, sync::Ordering::Relaxed);
        self.write_entries.store(1, sync::Ordering::Relaxed);
    }

    /// Gives back one write entry; false if the caller holds none.
    fn release_write_entry(&self) -> bool {
        let me = held::known_thread_token();
        // A thread without a token has never written.
        if me == 0 || self.writer.load(sync::Ordering::Relaxed) != me {
            return false;
        }
        let entries = self.write_entries.load(sync::Ordering::Relaxed);
        if entries > 1 {
            self.write_entries
                .store(entries - 1, sync::Ordering::Relaxed);
        } else {
            self.write_entries.store(0, sync::Ordering::Relaxed);
            // Cleared before the release, so that the next writer's token
            // is the later store.
            self.writer.store(0, sync::Ordering::Relaxed);
            self.raw.unlock_write();
        }
        true
    }

    #[inline]
    fn id(&self) -> usize {
        match self.id.load(Ordering::Relaxed) {
            0 => self.assign_id(),
            id => id,
        }
    }

    #[cold]
    fn assign_id(&self) -> usize {
        // A 64-bit counter cannot wrap in practice; ids are never reused.
        static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
        let fresh = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(assigned) => assigned,
        }
    }
}

impl Default for ReaderWriterLock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ReaderWriterLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (readers, writer) = self.raw.holders();
        f.debug_struct("ReaderWriterLock")
            .field("preference", &self.preference)
            .field("reading_threads", &readers)
            .field("writing", &writer)
            .field("waiting_writers", &self.raw.waiting_writers())
            .finish()
    }
}

/// The write side is the exclusive side.
impl Lockable for ReaderWriterLock {
    type Guard<'a> = WriteGuard<'a>;

    #[inline]
    fn lock(&self) -> Result<WriteGuard<'_>> {
        self.write()
    }

    #[inline]
    fn try_lock(&self) -> Result<WriteGuard<'_>> {
        self.try_write()
    }
}

impl TimedLockable for ReaderWriterLock {
    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> Result<WriteGuard<'_>> {
        self.try_write_for(timeout)
    }
}

impl SharedLockable for ReaderWriterLock {
    type SharedGuard<'a> = ReadGuard<'a>;

    #[inline]
    fn lock_shared(&self) -> Result<ReadGuard<'_>> {
        self.read()
    }

    #[inline]
    fn try_lock_shared(&self) -> Result<ReadGuard<'_>> {
        self.try_read()
    }
}

impl SharedTimedLockable for ReaderWriterLock {
    #[inline]
    fn try_lock_shared_for(&self, timeout: Duration) -> Result<ReadGuard<'_>> {
        self.try_read_for(timeout)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn downgrade_lets_other_readers_in_but_not_writers() {
        let lock = ReaderWriterLock::new();
        let write = lock.write().unwrap();
        let read = lock.read().unwrap();
        drop(write);
        assert_eq!(lock.owner(), Some(Owner::Reader));
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(lock.try_read().is_ok());
                assert_eq!(lock.try_write().unwrap_err().kind(), ErrorKind::WouldBlock);
            });
        });
        drop(read);
        assert!(lock.try_write().is_ok());
    }

    /// More locks than the inline slots of the per-thread table: the rest
    /// spill into its vector, and come back as slots free up.
    #[test]
    fn a_thread_holding_many_locks() {
        let locks: Vec<_> = (0..11).map(|_| ReaderWriterLock::new()).collect();
        let mut guards = Vec::new();
        for (n, lock) in locks.iter().enumerate() {
            if n % 2 == 0 {
                guards.push((Some(lock.write().unwrap()), lock.read().unwrap()));
            } else {
                guards.push((None, lock.read().unwrap()));
                let _again = lock.read().unwrap();
            }
        }
        for (n, lock) in locks.iter().enumerate() {
            assert!(lock.is_reader(), "lock {n}");
            assert_eq!(lock.is_writer(), n % 2 == 0, "lock {n}");
        }
        // Release from the front: inline slots free up while later locks
        // are still counted in the spilled vector.
        for (n, (write, read)) in guards.into_iter().enumerate() {
            drop(write);
            assert_eq!(locks[n].owner(), Some(Owner::Reader));
            read.release().unwrap();
            assert_eq!(locks[n].owner(), None);
            assert_eq!(
                locks[n].release_read_lock().unwrap_err().kind(),
                ErrorKind::NotHeld
            );
            for later in &locks[n + 1..] {
                assert!(later.is_reader());
            }
        }
        for lock in &locks {
            lock.try_write().unwrap().release().unwrap();
        }
    }

    #[test]
    fn ids_are_distinct_per_lock() {
        let a = ReaderWriterLock::new();
        let b = ReaderWriterLock::new();
        let _write_a = a.write().unwrap();
        assert!(!b.is_writer());
        assert!(b.try_write().is_ok());
    }
}
