//! What the current thread holds of each reader-writer lock: its read and
//! write entry counts, kept in a thread-local table keyed by the lock's id.
//!
//! The shared state word only says how many *threads* read; re-entrant
//! entries are counted here, so that taking a lock again costs no atomic
//! operation and a thread's own holdings can be checked without a mutex.
//!
//! The table is a few inline slots of `Cell`s (no destructor, so each access
//! is a plain thread-local address computation, which keeps the uncontended
//! cycle close to std's), and a vector for a thread that holds more locks
//! than that at once.

use std::cell::{Cell, RefCell};

use super::sync::thread_local_table;

/// The calling thread's entries on one lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Entries {
    pub(super) reads: usize,
    pub(super) writes: usize,
}

/// Lock ids start at 1: 0 marks a free slot.
const FREE: usize = 0;
const INLINE_SLOTS: usize = 4;

struct Slot {
    lock: Cell<usize>,
    entries: Cell<Entries>,
}

struct Inline {
    slots: [Slot; INLINE_SLOTS],
    /// How many locks are counted in `SPILLED`: zero almost always.
    spilled: Cell<usize>,
}

#[allow(clippy::declare_interior_mutable_const)] // a template, copied per slot
const EMPTY_SLOT: Slot = Slot {
    lock: Cell::new(FREE),
    entries: Cell::new(Entries {
        reads: 0,
        writes: 0,
    }),
};

thread_local_table! {
    static INLINE: Inline = Inline {
        slots: [EMPTY_SLOT; INLINE_SLOTS],
        spilled: Cell::new(0),
    };
}

thread_local_table! {
    static SPILLED: RefCell<Vec<(usize, Entries)>> = RefCell::new(Vec::new());
}

/// Runs `f` on the calling thread's entries for the lock with id `lock`
/// (zero entries if it holds none) and stores what `f` leaves; a lock whose
/// counts are back to zero leaves the table.
///
/// `f` may block; it must not use the table itself.
#[inline]
pub(super) fn with_entries<R>(lock: usize, f: impl FnOnce(&mut Entries) -> R) -> R {
    debug_assert_ne!(lock, FREE);
    INLINE.with(|table| match table.find_or_claim(lock) {
        Some(slot) => {
            let mut entries = slot.entries.get();
            let result = f(&mut entries);
            slot.entries.set(entries);
            if entries == Entries::default() {
                slot.lock.set(FREE);
            }
            result
        }
        None => with_spilled_entries(table, lock, f),
    })
}

impl Inline {
    /// The inline slot of `lock`, or a free one claimed for it, unless the
    /// table has spilled (then `lock` may be counted in `SPILLED`) or is full.
    #[inline]
    fn find_or_claim(&self, lock: usize) -> Option<&Slot> {
        if let Some(slot) = self.slots.iter().find(|slot| slot.lock.get() == lock) {
            return Some(slot);
        }
        if self.spilled.get() > 0 {
            return None;
        }
        let slot = self.slots.iter().find(|slot| slot.lock.get() == FREE)?;
        slot.lock.set(lock);
        Some(slot)
    }
}

/// [`with_entries`] for a lock that is not in an inline slot.
#[cold]
#[inline(never)]
fn with_spilled_entries<R>(table: &Inline, lock: usize, f: impl FnOnce(&mut Entries) -> R) -> R {
    let mut entries = spilled_entries(lock).unwrap_or_default();
    let result = f(&mut entries);
    match table.slots.iter().find(|slot| slot.lock.get() == FREE) {
        Some(slot) if entries != Entries::default() && spilled_entries(lock).is_none() => {
            slot.lock.set(lock);
            slot.entries.set(entries);
        }
        _ => store_spilled(table, lock, entries),
    }
    result
}

/// The calling thread's entries for the lock with id `lock`.
pub(super) fn entries(lock: usize) -> Entries {
    INLINE.with(|table| {
        if let Some(slot) = table.slots.iter().find(|slot| slot.lock.get() == lock) {
            return slot.entries.get();
        }
        if table.spilled.get() > 0 {
            return spilled_entries(lock).unwrap_or_default();
        }
        Entries::default()
    })
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
        match (position, entries == Entries::default()) {
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
