//! Tests of the entry's state across the file backend and the shared arbitration.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::lock_file::test_support::{hold_elsewhere, pending_acquisition, temp_path};
use crate::lock_file::{LockFile, Wait};
use crate::sys::{Mechanism, Mode, TRIES};

#[test]
fn a_dropped_acquire_future_leaves_the_waiter_list() {
    let path = temp_path("dropped-future.lock");
    let elsewhere = hold_elsewhere(&path);
    let lock = LockFile::new(&path, Mechanism::Ofd);
    let future = pending_acquisition(&lock, Mode::Exclusive);
    {
        let state = lock.entry().unwrap().state();
        assert_eq!(
            (state.waiters, state.waiting_writers, state.wakers.len()),
            (1, 1, 1)
        );
    }
    drop(future);
    {
        let state = lock.entry().unwrap().state();
        assert_eq!(
            (state.waiters, state.waiting_writers, state.wakers.len()),
            (0, 0, 0)
        );
    }
    Mechanism::Ofd.unlock(&elsewhere).unwrap();
    // The grant that comes for nobody is given back at once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Mechanism::Ofd
        .try_lock(&elsewhere, Mode::Exclusive)
        .unwrap()
    {
        assert!(Instant::now() < deadline, "the grant was kept");
        thread::sleep(Duration::from_millis(1));
    }
    drop((lock, elsewhere));
    std::fs::remove_file(&path).unwrap();
}

/// What `f` adds to one of the calling thread's test-only counters.
fn counted<R>(
    counter: &'static std::thread::LocalKey<std::cell::Cell<usize>>,
    f: impl FnOnce() -> R,
) -> (usize, R) {
    let before = counter.with(std::cell::Cell::get);
    let result = f();
    (counter.with(std::cell::Cell::get) - before, result)
}

/// The calling thread's non-blocking kernel attempts made by `f`.
fn tries_of<R>(f: impl FnOnce() -> R) -> (usize, R) {
    counted(&TRIES, f)
}

#[test]
fn a_refused_try_asks_the_kernel_once() {
    let path = temp_path("refused-once.lock");
    let elsewhere = hold_elsewhere(&path);
    let lock = LockFile::new(&path, Mechanism::Ofd);
    // The lock object's first acquisition (on its new description), then
    // one through its entry.
    for _ in 0..2 {
        let (tries, result) = tries_of(|| lock.acquire(Mode::Exclusive, Wait::Try).map(drop));
        assert_eq!(result.unwrap_err().kind(), crate::ErrorKind::WouldBlock);
        assert_eq!(tries, 1);
    }
    drop((lock, elsewhere));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_waiting_acquisition_tries_once_before_it_waits() {
    let path = temp_path("tries-before-waiting.lock");
    let elsewhere = hold_elsewhere(&path);
    let lock = LockFile::new(&path, Mechanism::Ofd);
    for _ in 0..2 {
        let wait = Wait::For(Duration::from_millis(20));
        let (tries, result) = tries_of(|| lock.acquire(Mode::Exclusive, wait).map(drop));
        assert_eq!(result.unwrap_err().kind(), crate::ErrorKind::TimedOut);
        assert_eq!(tries, 1, "one try, then the wait in the kernel");
    }
    // Free, it is taken at the first try.
    Mechanism::Ofd.unlock(&elsewhere).unwrap();
    let (tries, result) = tries_of(|| lock.acquire(Mode::Exclusive, Wait::Forever).map(drop));
    result.unwrap();
    assert_eq!(tries, 1);
    drop((lock, elsewhere));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn an_entry_that_moved_to_a_replaced_file_is_found_by_new_objects() {
    let path = temp_path("moved-entry.lock");
    let first = LockFile::new(&path, Mechanism::Ofd);
    drop(first.acquire(Mode::Exclusive, Wait::Try).unwrap());
    // The file at the path is replaced (renamed over); the next acquisition
    // through the first object finds out, and its entry moves to the new file.
    let replacement = temp_path("moved-entry.new");
    std::fs::write(&replacement, "").unwrap();
    std::fs::rename(&replacement, &path).unwrap();
    let held = first.acquire(Mode::Exclusive, Wait::Try).unwrap();
    // A new object for the path finds that entry by the new file's identity:
    // the holding thread is told it would deadlock, not that the lock is
    // held elsewhere (which a second entry, a second description, would say).
    let second = LockFile::new(&path, Mechanism::Ofd);
    let err = second.acquire(Mode::Exclusive, Wait::Try).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::WouldDeadlock);
    assert!(Arc::ptr_eq(first.entry().unwrap(), second.entry().unwrap()));
    drop(held);
    drop((first, second));
    std::fs::remove_file(&path).unwrap();
}

/// The `stat(path)` checks of each of three acquisitions through `lock`.
#[cfg(unix)]
fn path_checks_of_three_acquisitions(lock: &LockFile) -> Vec<usize> {
    (0..3)
        .map(|_| {
            let (checks, held) = counted(&crate::lock_file::identity::PATH_CHECKS, || {
                lock.acquire(Mode::Exclusive, Wait::Try)
            });
            drop(held.unwrap());
            checks
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn a_file_changed_within_the_settle_window_is_checked_by_its_path_every_time() {
    // Its change time could be shared by a later rename in the same clock
    // tick, so the descriptor's stamp is not trusted: each acquisition makes
    // the full check. On a loaded machine the 50 ms may run out before the
    // acquisitions are done; then the attempt does not count, and another
    // file is tried.
    for attempt in 0..20 {
        let path = temp_path(&format!("recent-{attempt}.lock"));
        let created = Instant::now();
        std::fs::write(&path, "").unwrap();
        let lock = LockFile::new(&path, Mechanism::Ofd);
        let checks = path_checks_of_three_acquisitions(&lock);
        let in_window = created.elapsed() < Duration::from_millis(40);
        drop(lock);
        std::fs::remove_file(&path).unwrap();
        if in_window {
            assert_eq!(checks, [1, 1, 1]);
            return;
        }
    }
    panic!("never three acquisitions within 40 ms of a change");
}

#[cfg(unix)]
#[test]
fn a_settled_file_is_checked_by_its_descriptor_alone() {
    let path = temp_path("settled-checks.lock");
    std::fs::write(&path, "").unwrap();
    // Ages the change time past the 50 ms window; it synchronises nothing.
    thread::sleep(Duration::from_millis(120));
    let lock = LockFile::new(&path, Mechanism::Ofd);
    let checks = path_checks_of_three_acquisitions(&lock);
    // The first lock's `fstat` finds the change time older than the open:
    // nothing renamed the file since, and its stamp is recorded.
    assert_eq!(checks, [0, 0, 0]);
    drop(lock);
    std::fs::remove_file(&path).unwrap();
}
