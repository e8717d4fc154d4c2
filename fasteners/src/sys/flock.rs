//! Whole-file locks through fs4: `flock(2)` on Unix, `LockFileEx` on Windows.
//!
//! The calls use trait syntax because std (1.89+) has inherent `File` methods
//! of the same names, which the declared MSRV does not have.

use std::fs::File;
use std::io;

use super::{retry_interrupted, Mode};

pub(super) fn try_lock(file: &File, mode: Mode) -> io::Result<bool> {
    retry_interrupted(|| {
        let result = match mode {
            Mode::Shared => fs4::FileExt::try_lock_shared(file),
            Mode::Exclusive => fs4::FileExt::try_lock(file),
        };
        match result {
            Ok(()) => Ok(true),
            Err(fs4::TryLockError::WouldBlock) => Ok(false),
            Err(fs4::TryLockError::Error(err)) => Err(err),
        }
    })
}

pub(super) fn lock(file: &File, mode: Mode) -> io::Result<()> {
    retry_interrupted(|| lock_once(file, mode))
}

/// One blocking call: `Err(Interrupted)` if a signal ended it (fs4 does not
/// retry; `LockFileEx` on Windows is never interrupted).
pub(super) fn lock_once(file: &File, mode: Mode) -> io::Result<()> {
    match mode {
        Mode::Shared => fs4::FileExt::lock_shared(file),
        Mode::Exclusive => fs4::FileExt::lock(file),
    }
}

pub(super) fn unlock(file: &File) -> io::Result<()> {
    retry_interrupted(|| fs4::FileExt::unlock(file))
}
