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

/// The watch tests, one at a time: the overflow test must fill the process's
/// one inotify queue without another test's check draining it.
pub(super) static WATCH_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The temporary directory's files can be watched (a local file system);
/// otherwise the test is reported skipped (it fails under `CI`).
fn watchable_here(test: &str) -> bool {
    let dir = std::env::temp_dir();
    if crate::lock_file::watch::watchable(&dir) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {} is not on a local file system, under CI",
        dir.display()
    );
    eprintln!(
        "\nSKIPPED: {test}: {} is not on a local file system\n",
        dir.display()
    );
    false
}

/// Acquires `lock` exclusively `times` times; for each, the checks made by
/// its watch and by the path.
fn checks_of_acquisitions(lock: &LockFile, times: usize) -> Vec<(usize, usize)> {
    (0..times)
        .map(|_| {
            let (watch_checks, (path_checks, held)) =
                counted(&crate::lock_file::watch::WATCH_CHECKS, || {
                    counted(&crate::lock_file::identity::PATH_CHECKS, || {
                        lock.acquire(Mode::Exclusive, Wait::Try)
                    })
                });
            drop(held.unwrap());
            (watch_checks, path_checks)
        })
        .collect()
}

#[test]
fn a_file_locked_again_and_again_is_checked_by_its_watch_with_no_settle_window() {
    let _one_at_a_time = WATCH_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    if !watchable_here("a_file_locked_again_and_again_is_checked_by_its_watch") {
        return;
    }
    // The first lock checks by `fstat` as it opens; the next two by `fstat`
    // (the second of them after adding the watch); then by the watch alone,
    // with no `stat(path)` even within the settle window of a change.
    for attempt in 0..20 {
        let path = temp_path(&format!("watched-{attempt}.lock"));
        let created = Instant::now();
        std::fs::write(&path, "").unwrap();
        let lock = LockFile::new(&path, Mechanism::Ofd);
        let checks = checks_of_acquisitions(&lock, 5);
        let in_window = created.elapsed() < Duration::from_millis(40);
        drop(lock);
        std::fs::remove_file(&path).unwrap();
        if in_window {
            assert_eq!(checks, [(0, 1), (0, 1), (0, 1), (1, 0), (1, 0)]);
            return;
        }
    }
    panic!("never five acquisitions within 40 ms of a change");
}

/// Replaces the file at `path` the way `how` says.
fn replace(path: &std::path::Path, how: &str) {
    match how {
        "renamed over" => {
            let new = path.with_extension("new");
            std::fs::write(&new, "").unwrap();
            std::fs::rename(&new, path).unwrap();
        }
        "renamed away" => {
            std::fs::rename(path, path.with_extension("old")).unwrap();
            std::fs::write(path, "").unwrap();
        }
        "unlinked" => {
            std::fs::remove_file(path).unwrap();
            std::fs::write(path, "").unwrap();
        }
        _ => unreachable!(),
    }
}

/// Whether the lock on the file now at `path` is taken: another description
/// of it is refused.
fn held_at_path(path: &std::path::Path) -> bool {
    let other = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    !Mechanism::Ofd.try_lock(&other, Mode::Exclusive).unwrap()
}

#[test]
fn a_watched_file_replaced_at_its_path_is_caught() {
    let _one_at_a_time = WATCH_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    if !watchable_here("a_watched_file_replaced_at_its_path_is_caught") {
        return;
    }
    for how in ["renamed over", "renamed away", "unlinked"] {
        let path = temp_path("watched-replaced.lock");
        std::fs::write(&path, "").unwrap();
        let lock = LockFile::new(&path, Mechanism::Ofd);
        let watched = checks_of_acquisitions(&lock, 4);
        assert_eq!(watched[3], (1, 0), "{how}: watched by now");
        replace(&path, how);
        let held = lock.acquire(Mode::Exclusive, Wait::Try).unwrap();
        assert!(held_at_path(&path), "{how}: the lock is on the old file");
        drop(held);
        drop(lock);
        let _ = std::fs::remove_file(path.with_extension("old"));
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn a_watch_queue_that_overflowed_counts_as_a_change_of_every_file() {
    let _one_at_a_time = WATCH_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    if !watchable_here("a_watch_queue_that_overflowed_counts_as_a_change_of_every_file") {
        return;
    }
    let limit: u64 = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let paths: Vec<_> = ["overflow-a", "overflow-b", "overflow-c"]
        .iter()
        .map(|name| temp_path(&format!("{name}.lock")))
        .collect();
    let locks: Vec<_> = paths
        .iter()
        .map(|path| {
            std::fs::write(path, "").unwrap();
            let lock = LockFile::new(path, Mechanism::Ofd);
            assert_eq!(checks_of_acquisitions(&lock, 4)[3], (1, 0));
            lock
        })
        .collect();
    // Changes of b and c, in turn (the kernel merges an event with the one
    // before it only), until the queue is full: further events are lost.
    use std::os::unix::fs::PermissionsExt;
    for i in 0..limit + 2 {
        let path = &paths[1 + (i % 2) as usize];
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let event_size = 16;
    assert!(
        crate::lock_file::watch::queued_bytes() >= limit * event_size,
        "the queue did not fill"
    );
    // The rename of a's file is one of the events lost.
    replace(&paths[0], "renamed over");
    let held = locks[0].acquire(Mode::Exclusive, Wait::Try).unwrap();
    assert!(
        held_at_path(&paths[0]),
        "the lost event was not made up for"
    );
    drop(held);
    drop(locks);
    for path in &paths {
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn a_watch_outlives_the_watch_of_another_file() {
    let _one_at_a_time = WATCH_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    if !watchable_here("a_watch_outlives_the_watch_of_another_file") {
        return;
    }
    let paths = [temp_path("outlives-a.lock"), temp_path("outlives-b.lock")];
    let mut locks: Vec<_> = paths
        .iter()
        .map(|path| {
            let lock = LockFile::new(path, Mechanism::Ofd);
            assert_eq!(checks_of_acquisitions(&lock, 4)[3].0, 1, "watched");
            lock
        })
        .collect();
    // The process's instance stays open for the watch still in use.
    drop(locks.pop());
    assert_eq!(
        checks_of_acquisitions(&locks[0], 1)[0].0,
        1,
        "still watched"
    );
    drop(locks);
    for path in &paths {
        std::fs::remove_file(path).unwrap();
    }
}
