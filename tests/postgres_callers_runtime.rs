//! `with_callers_runtime()` of the PostgreSQL locks (feature `postgres`):
//! the socket of a lock's session follows the runtime of the task that
//! awaits its async calls, and goes back to the backend's runtime when that
//! one needs it. A test binary of its own: it counts the wake-ups of the
//! backend's threads, which other tests' locks would add to, so its tests
//! also take turns. Run through `scripts/with-postgres.sh`; skips (or fails
//! under `CI=true`) without a server.

mod postgres_common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fasteners::postgres::PgLock;
use fasteners::ErrorKind;
use postgres_common::{runtime, Observer};

/// The tests of this binary run one at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Voluntary context switches so far of the backend's threads (its
/// runtime's driver and blocking pool, all named `fasteners-postgres`, cut
/// to 15 bytes): each is a sleep, so each wake-up counts one.
fn backend_switches() -> u64 {
    let mut switches = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        let Ok(name) = std::fs::read_to_string(task.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        if name.trim() != "fasteners-postg" {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(task.join("status")) else {
            continue;
        };
        switches += status
            .lines()
            .filter(|line| line.starts_with("voluntary_ctxt_switches"))
            .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    switches
}

/// Wake-ups of the backend's threads over `cycles` async acquire +
/// release cycles of `lock` on a current-thread runtime.
fn switches_over_async_cycles(lock: &PgLock, cycles: u64) -> u64 {
    let runtime = runtime();
    runtime.block_on(async {
        // Connected, and the backend's driver settled after the sync calls.
        lock.lock_async()
            .await
            .unwrap()
            .release_async()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = backend_switches();
        for _ in 0..cycles {
            let guard = lock.lock_async().await.unwrap();
            guard.release_async().await.unwrap();
        }
        backend_switches() - before
    })
}

#[test]
fn async_calls_on_the_callers_runtime_do_not_wake_the_backends_thread() {
    let url = server!();
    let _turn = one_at_a_time();
    let cycles = 300;
    let here = PgLock::new(&url, 14_080).with_callers_runtime();
    let on_the_backend = PgLock::new(&url, 14_081);
    let switches_here = switches_over_async_cycles(&here, cycles);
    // The control: by default the backend's thread hears every answer.
    let switches_by_default = switches_over_async_cycles(&on_the_backend, cycles);
    assert!(
        switches_by_default >= cycles,
        "by default: {switches_by_default} switches over {cycles} cycles"
    );
    // None on an idle machine but a heartbeat's (a beat a second at most).
    // With both cores busy, tokio's timer wheel of the backend's runtime is
    // sometimes woken for the give-back's timeout (up to about one a cycle,
    // measured with two CPU hogs): still well under the default's two.
    assert!(
        switches_here * 3 < switches_by_default * 2,
        "on the caller's runtime: {switches_here} switches over {cycles} cycles \
         ({switches_by_default} by default)"
    );
}

#[test]
fn a_lock_held_past_its_callers_runtime_is_watched_by_the_backend() {
    let url = server!();
    let _turn = one_at_a_time();
    let key = 14_082;
    let observer = Observer::new(&url);
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.application_name("fasteners-test-past-runtime");
    let lock = PgLock::from_config(config, key).with_callers_runtime();
    let guard = {
        let runtime = runtime();
        runtime.block_on(lock.lock_async()).unwrap()
        // The runtime that the socket is registered with shuts down here.
    };
    assert!(!guard.is_lost());
    let pid = observer.value(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'fasteners-test-past-runtime'",
    );
    observer.terminate(&pid);
    // Noticed by the backend's runtime, with no call of the lock's made.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !guard.is_lost() {
        assert!(
            std::time::Instant::now() < deadline,
            "the ended session was not noticed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(guard.release().unwrap_err().kind(), ErrorKind::Lost);
    // The object connects again, for sync and async calls.
    lock.lock().unwrap().release().unwrap();
    let runtime = runtime();
    runtime
        .block_on(async { lock.lock_async().await?.release_async().await })
        .unwrap();
    assert_eq!(observer.requests(key, "ExclusiveLock", true), 0);
}

#[test]
fn an_async_call_on_a_runtime_without_io_panics_and_the_lock_recovers() {
    let url = server!();
    let _turn = one_at_a_time();
    let key = 14_083;
    let observer = Observer::new(&url);
    let lock = PgLock::new(&url, key).with_callers_runtime();
    lock.lock().unwrap().release().unwrap();
    let no_io = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let panicked = catch_unwind(AssertUnwindSafe(|| no_io.block_on(lock.lock_async())));
    assert!(panicked.is_err(), "the call did not panic");
    // Nothing is held or queued for it, and the object works on.
    observer.until("nothing held or queued", |o| {
        o.requests(key, "ExclusiveLock", true) + o.requests(key, "ExclusiveLock", false) == 0
    });
    lock.lock().unwrap().release().unwrap();
    runtime()
        .block_on(async { lock.lock_async().await?.release_async().await })
        .unwrap();
}
