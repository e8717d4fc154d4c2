//! How a guard reaches its lock file: through a borrow of the lock object
//! (the guards with a lifetime) or through an `Arc` of it (the owned guards,
//! `'static`, which keep their lock object alive).

use std::sync::Arc;

use crate::lock_file::LockFile;
use crate::{InterProcessLock, InterProcessReaderWriterLock};

/// A guard's way to the lock file it releases.
pub(crate) trait FileRef {
    fn lock_file(&self) -> &LockFile;
}

impl FileRef for &LockFile {
    fn lock_file(&self) -> &LockFile {
        self
    }
}

impl FileRef for Arc<InterProcessLock> {
    fn lock_file(&self) -> &LockFile {
        &self.file
    }
}

impl FileRef for Arc<InterProcessReaderWriterLock> {
    fn lock_file(&self) -> &LockFile {
        &self.file
    }
}
