//! The process-wide registry of entries, keyed by the identity of the file
//! (device and inode, read after opening it), so that every spelling of one
//! file (`..`, symlinks, hard links, bind mounts) shares one entry; and the
//! lock objects' handles on the entries.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use crate::sys::{Mechanism, Mode};

use super::identity::{FileId, OpenFile};
use super::{Entry, FileState, Files, Identity};
use crate::arbiter::{sync, Arbiter, Holder, Raw, State};

type Key = (Mechanism, FileId);

/// The registry's hasher: keys are device and inode numbers, not chosen by
/// an adversary, so a multiply-and-rotate mix is enough (and cheaper than
/// the default SipHash on every first lock of a lock object).
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Map = HashMap<Key, Weak<Entry>, std::hash::BuildHasherDefault<IdHasher>>;

/// A lock object's reference to an entry; when the last one goes, the
/// background waiter exits as soon as it has nothing to wait for.
#[derive(Debug)]
pub(super) struct Handle(Arc<Entry>);

impl Deref for Handle {
    type Target = Arc<Entry>;

    fn deref(&self) -> &Arc<Entry> {
        &self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.0.backend.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Under the state mutex, so that a background waiter about to
            // wait for work sees the count or hears this.
            let state = self.0.state();
            if state.local.background.running {
                self.0.backend.work.notify_one();
            }
        }
    }
}

// Lock order: an entry's state, then the registry, then an entry's identity.
fn registry() -> &'static Mutex<Map> {
    static REGISTRY: OnceLock<Mutex<Map>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The entry of the file `opened` (opened through `path`), shared with every
/// other lock object for the same file, whatever its path; `opened` is
/// closed if an entry for the file exists already.
///
/// `held`: `opened` holds the kernel lock in that mode, for that holder.
/// A new entry starts with it held (`true`); an existing one does not get
/// it (`false`): closing `opened` gives the kernel lock back, and the
/// caller acquires through the entry.
pub(super) fn entry_for(
    mechanism: Mechanism,
    path: Arc<Path>,
    opened: OpenFile,
    held: Option<(Mode, Holder)>,
) -> (Handle, bool) {
    let key = (mechanism, opened.id);
    // Declared before the registry's guard, so dropped after it: if this is
    // the last reference to a stale entry, its drop takes the registry.
    let _stale: Option<Arc<Entry>>;
    let mut map = registry().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(entry) = map.get(&key).and_then(Weak::upgrade) {
        #[cfg(test)]
        tests::AFTER_UPGRADE.with(|hook| hook.take().map(|hook| hook()));
        let identity = *entry.identity();
        if identity.open && identity.id == opened.id {
            entry.backend.handles.fetch_add(1, Ordering::AcqRel);
            return (Handle(entry), false);
        }
        _stale = Some(entry);
    }
    let mut state = State::new(FileState {
        file: Some(Arc::new(opened)),
        ..FileState::default()
    });
    if let Some((mode, holder)) = held {
        state.raw = Raw::Held(mode);
        state.claim(mode, holder);
    }
    let entry = Arbiter::new_cyclic(|me| {
        let files = Files {
            mechanism,
            path,
            identity: Mutex::new(Identity {
                id: key.1,
                open: true,
            }),
            handles: AtomicUsize::new(1),
            me: me.clone(),
            work: sync::Condvar::new(),
        };
        (files, state)
    });
    map.insert(key, Arc::downgrade(&entry));
    (Handle(entry), held.is_some())
}

impl Entry {
    /// Moves the entry to the identity of `file`, which it has just opened
    /// (its path now names a new file). If another entry has that file open
    /// already (a lock object opened the new file first), both stay: the
    /// kernel still excludes their holders, but a thread holding the lock
    /// through one is not told that asking through the other would deadlock.
    pub(super) fn known_as(&self, file: &OpenFile) {
        let mut map = registry().lock().unwrap_or_else(PoisonError::into_inner);
        let mut identity = self.identity();
        let old = (self.mechanism(), identity.id);
        if map
            .get(&old)
            .is_some_and(|weak| weak.as_ptr() == self.backend.me.as_ptr())
        {
            map.remove(&old);
        }
        *identity = Identity {
            id: file.id,
            open: true,
        };
        let new = (self.mechanism(), file.id);
        let other = map.get(&new).and_then(Weak::upgrade);
        if !other.as_ref().is_some_and(|other| other.identity().open) {
            map.insert(new, self.backend.me.clone());
        }
        // The registry first: if `other` is the last reference to its entry,
        // its drop takes the registry.
        drop((identity, map));
        drop(other);
    }
}

impl Drop for Files {
    /// The entry goes: the registry forgets it.
    fn drop(&mut self) {
        let mut map = registry().lock().unwrap_or_else(PoisonError::into_inner);
        let identity = self
            .identity
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (self.mechanism, identity.id);
        // One lookup: the key is nearly always this entry's. Another entry
        // may have taken it since; then it goes back (into the slot just
        // freed, so the table never grows here).
        if let Some(weak) = map.remove(&key) {
            if weak.as_ptr() != self.me.as_ptr() {
                map.insert(key, weak);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock_file::test_support::temp_path;
    use crate::lock_file::LockFile;
    use std::cell::{Cell, RefCell};
    use std::time::Duration;

    thread_local! {
        /// Run once in [`entry_for`], right after it found an entry in the
        /// registry and took a reference to it.
        pub(super) static AFTER_UPGRADE: Cell<Option<fn()>> = const { Cell::new(None) };
        static DROPPED_THERE: RefCell<Option<LockFile>> = const { RefCell::new(None) };
    }

    /// A new lock object finds in the registry an entry that has closed its
    /// file, and while it looks, the last other object of that entry goes:
    /// the reference the lookup took is then the entry's last, and dropping
    /// it drops the entry, which takes the registry's mutex. It must not be
    /// dropped while that mutex is held (a self-deadlock).
    #[test]
    fn the_last_reference_to_a_stale_entry_goes_after_the_registry() {
        let path = temp_path("stale.lock");
        let done = std::sync::mpsc::channel();
        let worker = {
            let path = path.clone();
            std::thread::spawn(move || {
                let first = LockFile::new(&path, Mechanism::Flock);
                let stale = Arc::downgrade(first.entry().unwrap());
                // As after a failed identity check: the file closed, the
                // entry still registered under it.
                stale.upgrade().unwrap().identity().open = false;
                DROPPED_THERE.with(|slot| *slot.borrow_mut() = Some(first));
                AFTER_UPGRADE
                    .with(|hook| hook.set(Some(|| DROPPED_THERE.with(|slot| drop(slot.take())))));
                let second = LockFile::new(&path, Mechanism::Flock);
                let fresh = Arc::downgrade(second.entry().unwrap());
                let _ = done
                    .0
                    .send((stale.upgrade().is_none(), fresh.upgrade().is_some()));
                drop(second);
            })
        };
        let (stale_gone, fresh_made) = done
            .1
            .recv_timeout(Duration::from_secs(10))
            .expect("the second lock object resolved its entry (no deadlock on the registry)");
        assert!(stale_gone, "the stale entry was dropped");
        assert!(fresh_made, "the new object has an entry of its own");
        worker.join().unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn objects_for_one_file_share_one_entry_per_mechanism() {
        let path = temp_path("shared.lock");
        let dotted = path
            .parent()
            .unwrap()
            .join(".")
            .join(path.file_name().unwrap());
        let a = LockFile::new(&path, Mechanism::Flock);
        let b = LockFile::new(&dotted, Mechanism::Flock);
        assert!(Arc::ptr_eq(a.entry().unwrap(), b.entry().unwrap()));
        #[cfg(target_os = "linux")]
        {
            let c = LockFile::new(&path, Mechanism::Ofd);
            assert!(!Arc::ptr_eq(a.entry().unwrap(), c.entry().unwrap()));
        }
        drop((a, b));
        std::fs::remove_file(&path).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_hard_link_shares_the_entry() {
        let path = temp_path("linked.lock");
        let link = temp_path("linked-too.lock");
        let a = LockFile::new(&path, Mechanism::Flock);
        a.entry().unwrap();
        std::fs::hard_link(&path, &link).unwrap();
        let b = LockFile::new(&link, Mechanism::Flock);
        assert!(Arc::ptr_eq(a.entry().unwrap(), b.entry().unwrap()));
        drop((a, b));
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(&link).unwrap();
    }

    #[test]
    fn the_registry_forgets_dropped_entries() {
        let path = temp_path("forgotten.lock");
        let lock = LockFile::new(&path, Mechanism::Flock);
        let entry = Arc::downgrade(lock.entry().unwrap());
        let key = (Mechanism::Flock, entry.upgrade().unwrap().identity().id);
        assert!(registry().lock().unwrap().contains_key(&key));
        drop(lock);
        assert!(entry.upgrade().is_none());
        assert!(!registry().lock().unwrap().contains_key(&key));
        std::fs::remove_file(&path).unwrap();
    }
}
