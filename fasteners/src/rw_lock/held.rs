//! Who the current thread is, and how many read entries it holds on each
//! reader-writer lock, in a thread-local table keyed by the lock's id.
//!
//! The shared state word only says how many *threads* read; re-entrant
//! entries are counted here, so that taking a lock again costs no atomic
//! operation and a thread's own holdings can be checked without a mutex.
//! (The writer, being one thread, is recorded in the lock itself by its
//! [`thread_token`].)
//!
//! The table is a "favourite" slot, which a thread holding no read entries
//! uses for the lock it starts reading (so the common cycle, one lock at a
//! time, never searches anything), then a few inline slots, and a vector for
//! a thread that holds more locks than that at once. All but the vector are
//! `Cell`s without a destructor, so each access is a plain thread-local
//! address computation; nothing here is shared with other threads.

use std::cell::{Cell, RefCell};

use super::sync::thread_local_table;

/// The calling thread's read entries on one lock.
type Entries = usize;

/// Lock ids start at 1: 0 marks a free slot.
const FREE: usize = 0;
const INLINE_SLOTS: usize = 4;

struct Slot {
    lock: Cell<usize>,
    entries: Cell<Entries>,
}

struct Inline {
    /// The favourite slot: a lock id (or `FREE`) and its read entries.
    favourite: Slot,
    /// The first `len` slots are in use, the rest free: a thread holding no
    /// lock finds that out without looking at any slot.
    slots: [Slot; INLINE_SLOTS],
    len: Cell<usize>,
    /// How many locks are counted in `SPILLED`: zero almost always.
    spilled: Cell<usize>,
}

#[allow(clippy::declare_interior_mutable_const)] // a template, copied per slot
const EMPTY_SLOT: Slot = Slot {
    lock: Cell::new(FREE),
    entries: Cell::new(0),
};

thread_local_table! {
    static INLINE: Inline = Inline {
        favourite: EMPTY_SLOT,
        slots: [EMPTY_SLOT; INLINE_SLOTS],
        len: Cell::new(0),
        spilled: Cell::new(0),
    };
}

thread_local_table! {
    /// This thread's token (0 until first asked for).
    static TOKEN: Cell<usize> = Cell::new(0);
}

thread_local_table! {
    static SPILLED: RefCell<Vec<(usize, Entries)>> = RefCell::new(Vec::new());
}

/// A number that identifies the calling thread among all threads the
/// process ever ran (never reused, unlike thread-local addresses or OS ids),
/// and is never 0.
#[inline]
pub(super) fn thread_token() -> usize {
    match TOKEN.with(Cell::get) {
        0 => new_thread_token(),
        token => token,
    }
}

/// The calling thread's [`thread_token`] if it has one yet, else 0 (a thread
/// that never asked for one cannot be any lock's writer).
#[inline]
pub(super) fn known_thread_token() -> usize {
    TOKEN.with(Cell::get)
}

#[cold]
fn new_thread_token() -> usize {
    // A 64-bit counter cannot wrap in practice.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let token = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    TOKEN.with(|cell| cell.set(token));
    token
}

/// Runs `f` on the calling thread's read entries for the lock with id `lock`
/// (zero entries if it holds none) and stores what `f` leaves; a lock whose
/// counts are back to zero leaves the table.
///
/// `f` may block; it must not use the table itself.
#[inline]
pub(super) fn with_reads<R>(lock: usize, f: impl FnOnce(&mut Entries) -> R) -> R {
    debug_assert_ne!(lock, FREE);
    // Several accesses with tiny closures rather than one with `f` inside:
    // the compiler inlines tiny ones, and then each access is a plain
    // thread-local load or store.
    match INLINE.with(|table| table.find_or_claim(lock)) {
        Some(index) => {
            let mut entries = INLINE.with(|table| table.slots[index].entries.get());
            let result = f(&mut entries);
            INLINE.with(|table| table.store(index, entries));
            result
        }
        None => INLINE.with(|table| with_spilled_entries(table, lock, f)),
    }
}

/// Whether the calling thread holds no read entry on any lock.
#[inline]
pub(super) fn holds_no_reads() -> bool {
    INLINE.with(|table| {
        table.favourite.lock.get() == FREE && table.len.get() == 0 && table.spilled.get() == 0
    })
}

/// Takes one more read entry on `lock` if it is in the favourite slot.
#[inline]
pub(super) fn reenter_favourite(lock: usize) -> bool {
    INLINE.with(|table| {
        let favourite = &table.favourite;
        let hit = favourite.lock.get() == lock;
        if hit {
            favourite.entries.set(favourite.entries.get() + 1);
        }
        hit
    })
}

/// Records the first read entry on `lock` in the favourite slot; only for a
/// thread that [holds no reads](holds_no_reads).
#[inline]
pub(super) fn enter_favourite(lock: usize) {
    INLINE.with(|table| {
        table.favourite.lock.set(lock);
        table.favourite.entries.set(1);
    });
}

/// Gives back one read entry on `lock` if it is in the favourite slot:
/// `Some(true)` if that was the last one, `None` if `lock` is not there.
#[inline]
pub(super) fn leave_favourite(lock: usize) -> Option<bool> {
    INLINE.with(|table| {
        let favourite = &table.favourite;
        if favourite.lock.get() != lock {
            return None;
        }
        let left = favourite.entries.get() - 1;
        favourite.entries.set(left);
        if left == 0 {
            favourite.lock.set(FREE);
        }
        Some(left == 0)
    })
}

/// The calling thread's read entries on the lock with id `lock`.
pub(super) fn reads(lock: usize) -> Entries {
    INLINE.with(|table| match table.find(lock) {
        _ if table.favourite.lock.get() == lock => table.favourite.entries.get(),
        Some(index) => table.slots[index].entries.get(),
        None if table.spilled.get() > 0 => spilled_entries(lock).unwrap_or(0),
        None => 0,
    })
}

impl Inline {
    #[inline]
    fn find(&self, lock: usize) -> Option<usize> {
        self.slots[..self.len.get()]
            .iter()
            .position(|slot| slot.lock.get() == lock)
    }

    /// The index of the inline slot of `lock`, or of a free one claimed for
    /// it, unless the table has spilled (then `lock` may be counted in
    /// `SPILLED`) or is full.
    #[inline]
    fn find_or_claim(&self, lock: usize) -> Option<usize> {
        let found = self.find(lock);
        if found.is_some() || self.spilled.get() > 0 {
            return found;
        }
        self.claim(lock)
    }

    /// A free inline slot, now holding `lock` with no entries, if any.
    #[inline]
    fn claim(&self, lock: usize) -> Option<usize> {
        let index = self.len.get();
        let slot = self.slots.get(index)?;
        slot.lock.set(lock);
        slot.entries.set(0);
        self.len.set(index + 1);
        Some(index)
    }

    /// Stores the entries of the slot at `index`, freeing it if they are zero.
    #[inline]
    fn store(&self, index: usize, entries: Entries) {
        if entries == 0 {
            self.free(index);
        } else {
            self.slots[index].entries.set(entries);
        }
    }

    /// Frees the slot at `index` by moving the last slot in use into it.
    /// Out of line, so that the accesses calling it stay small enough to be
    /// inlined.
    #[inline(never)]
    fn free(&self, index: usize) {
        let last = self.len.get() - 1;
        if index != last {
            self.slots[index].lock.set(self.slots[last].lock.get());
            self.slots[index]
                .entries
                .set(self.slots[last].entries.get());
        }
        self.slots[last].lock.set(FREE);
        self.len.set(last);
    }
}

/// [`with_reads`] for a lock that is not in an inline slot.
#[cold]
#[inline(never)]
fn with_spilled_entries<R>(table: &Inline, lock: usize, f: impl FnOnce(&mut Entries) -> R) -> R {
    let spilled = spilled_entries(lock);
    let mut entries = spilled.unwrap_or(0);
    let result = f(&mut entries);
    if spilled.is_some() || entries == 0 {
        store_spilled(table, lock, entries);
    } else if let Some(index) = table.claim(lock) {
        table.slots[index].entries.set(entries);
    } else {
        store_spilled(table, lock, entries);
    }
    result
}

#[cold]
fn spilled_entries(lock: usize) -> Option<Entries> {
    SPILLED.with(|spilled| {
        spilled
            .borrow()
            .iter()
            .find(|(id, _)| *id == lock)
            .map(|&(_, entries)| entries)
    })
}

#[cold]
fn store_spilled(table: &Inline, lock: usize, entries: Entries) {
    SPILLED.with(|spilled| {
        let mut spilled = spilled.borrow_mut();
        let position = spilled.iter().position(|(id, _)| *id == lock);
        match (position, entries == 0) {
            (Some(index), true) => {
                spilled.swap_remove(index);
            }
            (Some(index), false) => spilled[index].1 = entries,
            (None, true) => {}
            (None, false) => spilled.push((lock, entries)),
        }
        table.spilled.set(spilled.len());
    });
}
