//! The process-wide registry of entries, and the lock objects' handles on them.

use std::collections::HashMap;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};

use crate::sys::Mechanism;

use super::{Background, Entry, Kernel, State};

pub(super) type Key = (Mechanism, PathBuf);

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
        let mut state = self.0.state();
        state.handles -= 1;
        if state.handles == 0 {
            self.0.work.notify_one();
        }
    }
}

fn registry() -> &'static Mutex<HashMap<Key, Weak<Entry>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<Key, Weak<Entry>>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The entry of `path`, shared with every other lock object for it.
pub(super) fn entry_for(mechanism: Mechanism, path: &Path) -> io::Result<Handle> {
    let key = (mechanism, std::path::absolute(path)?);
    let mut map = registry().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(entry) = map.get(&key).and_then(Weak::upgrade) {
        entry.state().handles += 1;
        return Ok(Handle(entry));
    }
    let entry = Arc::new(Entry {
        key: key.clone(),
        state: Mutex::new(State {
            readers: Vec::new(),
            writer: None,
            waiting_writers: 0,
            waiters: 0,
            sync_waiters: 0,
            wakers: Vec::new(),
            kernel: Kernel::Unlocked,
            file: None,
            background_error: None,
            background: Background::default(),
            handles: 1,
        }),
        changed: Condvar::new(),
        work: Condvar::new(),
    });
    map.insert(key, Arc::downgrade(&entry));
    Ok(Handle(entry))
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut map = registry().lock().unwrap_or_else(PoisonError::into_inner);
        // A new entry may already have replaced this one under the same key.
        if map
            .get(&self.key)
            .is_some_and(|weak| weak.strong_count() == 0)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock_file::test_support::temp_path;
    use crate::lock_file::LockFile;

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
    }

    #[test]
    fn the_registry_forgets_dropped_entries() {
        let path = temp_path("forgotten.lock");
        let key = (Mechanism::Flock, std::path::absolute(&path).unwrap());
        let lock = LockFile::new(&path, Mechanism::Flock);
        lock.entry().unwrap();
        assert!(registry().lock().unwrap().contains_key(&key));
        drop(lock);
        assert!(!registry().lock().unwrap().contains_key(&key));
    }
}
