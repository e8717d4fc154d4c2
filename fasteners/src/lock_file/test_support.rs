//! Helpers shared by the unit tests of the lock file modules.

use std::path::PathBuf;
#[cfg(target_os = "linux")]
use std::{fs::File, path::Path};

#[cfg(target_os = "linux")]
use crate::sys::{Mechanism, Mode};

pub(super) fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fasteners-unit-{}-{name}", std::process::id()))
}

/// Another open file description holds the lock, as another process would.
#[cfg(target_os = "linux")]
pub(super) fn hold_elsewhere(path: &Path) -> File {
    let file = super::identity::open(path).unwrap().file;
    assert!(Mechanism::Ofd.try_lock(&file, Mode::Exclusive).unwrap());
    file
}

/// How many blocked lock requests the kernel has queued for the file at
/// `path` (`/proc/locks` shows them as `->` lines), from any process.
#[cfg(target_os = "linux")]
pub(super) fn queued_in_kernel(path: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(path).unwrap().ino();
    // Two reads that agree: the kernel writes the table a page per read
    // call, and a lock that goes between two calls makes a line be skipped.
    let read = || std::fs::read_to_string("/proc/locks").unwrap();
    let mut locks = read();
    for _ in 0..100 {
        let again = read();
        if again == locks {
            break;
        }
        locks = again;
    }
    locks
        .lines()
        .filter(|line| line.contains("->"))
        .filter(|line| {
            line.split_whitespace()
                .any(|field| field.rsplit(':').next() == Some(&inode.to_string()))
        })
        .count()
}

/// An async acquisition of `lock` in `mode`, polled once: pending, as the
/// file is held elsewhere. Dropping it abandons the acquisition.
#[cfg(target_os = "linux")]
pub(super) fn pending_acquisition(
    lock: &super::LockFile,
    mode: Mode,
) -> std::pin::Pin<Box<impl std::future::Future + '_>> {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};
    struct Nothing;
    impl Wake for Nothing {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Nothing));
    let mut future = Box::pin(lock.acquire_async(mode, super::Wait::Forever));
    assert!(future
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    future
}
