//! The PostgreSQL locks against a real server (feature `postgres`): run
//! through `scripts/with-postgres.sh`, which starts a throwaway cluster and
//! exports `FASTENERS_PG_URL`. Without it each test skips with a notice,
//! except under `CI=true`, where a missing server fails the test.
//!
//! Each test uses keys of its own, so that they can run in parallel on one
//! server. "B waits" is checked in `pg_locks` before acting on it.

mod postgres_common;
mod process_common;

use std::future::Future;
use std::io::{Read, Write};

use std::net::{Shutdown, TcpListener, TcpStream};
use std::pin::pin;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, LazyLock, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use fasteners::postgres::{PgLock, PgLockKey, PgReaderWriterLock};
use fasteners::ErrorKind;
use postgres_common::{first_value, runtime, Observer};
use process_common::{Helper, TempDir, STEP};
use tokio_postgres::Config;

/// Starts `fasteners-pg-helper <command> <kind> <url> <key> <args...>`.
fn helper(command: &str, kind: &str, url: &str, key: i64, args: &[&str]) -> Helper {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fasteners-pg-helper"));
    cmd.args([command, kind, url, &key.to_string()]).args(args);
    Helper::spawn(cmd, format!("pg helper {command} {kind} {key} {args:?}"))
}

/// A helper that holds `key` in `kind`; returns it and its backend's pid.
fn holder(kind: &str, url: &str, key: i64) -> (Helper, String) {
    let mut helper = helper("hold", kind, url, key, &[]);
    let line = helper.next_line();
    let pid = line
        .strip_prefix("held ")
        .unwrap_or_else(|| panic!("expected `held <pid>`, got {line:?}"))
        .to_owned();
    (helper, pid)
}

fn try_elsewhere(kind: &str, url: &str, key: i64) -> String {
    let mut other = helper("try", kind, url, key, &[]);
    let line = other.next_line();
    assert!(other.finish().success());
    line
}

fn config(url: &str) -> Config {
    url.parse().expect("FASTENERS_PG_URL parses")
}

fn run_counter(url: &str, key: i64, dir: &TempDir, mode: &str) -> u64 {
    let path = dir.join("counter");
    std::fs::write(&path, "0").unwrap();
    let path = path.to_str().unwrap().to_owned();
    let mut helpers: Vec<Helper> = (0..3)
        .map(|_| helper("counter", "ex", url, key, &[&path, "4", "100", mode]))
        .collect();
    for helper in &mut helpers {
        helper.send("go");
    }
    for helper in &mut helpers {
        helper.expect("done");
    }
    for helper in helpers {
        assert!(helper.finish().success());
    }
    std::fs::read_to_string(&path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn three_processes_of_four_threads_count_exactly_under_one_lock() {
    let url = server!();
    let dir = TempDir::new("pg-counter");
    assert_eq!(run_counter(&url, 14_001, &dir, "lock"), 3 * 4 * 100);
}

#[test]
fn control_without_the_lock_the_same_counting_loses_increments() {
    let url = server!();
    let dir = TempDir::new("pg-counter-control");
    assert!(run_counter(&url, 14_002, &dir, "nolock") < 3 * 4 * 100);
}

#[test]
fn readers_share_across_processes_and_exclude_writers() {
    let url = server!();
    let key = 14_010;
    let observer = Observer::new(&url);
    let (mut first, _) = holder("read", &url, key);
    let (mut second, _) = holder("read", &url, key);
    // Both hold at once.
    assert_eq!(observer.requests(key, "ShareLock", true), 2);
    assert_eq!(try_elsewhere("write", &url, key), "busy");
    // A reader here joins them; a writer here cannot.
    let lock = PgReaderWriterLock::new(&url, key);
    let reading = lock.try_read().unwrap();
    assert_eq!(
        lock.try_write().unwrap_err().kind(),
        ErrorKind::WouldDeadlock
    );
    thread::scope(|s| {
        s.spawn(|| assert_eq!(lock.try_write().unwrap_err().kind(), ErrorKind::WouldBlock));
    });
    drop(reading);
    let mut writer = helper("wait", "write", &url, key, &[]);
    writer.expect("waiting");
    observer.until("the writer waits", |o| {
        o.requests(key, "ExclusiveLock", false) == 1
    });
    first.send("release");
    first.expect("released");
    // One reader left: the writer still waits.
    assert_eq!(observer.requests(key, "ExclusiveLock", false), 1);
    second.send("release");
    second.expect("released");
    writer.expect("held");
    assert_eq!(observer.requests(key, "ShareLock", true), 0);
    writer.send("done");
    writer.expect("released");
}

#[test]
fn writers_go_first_on_the_server() {
    let url = server!();
    let key = 14_011;
    let observer = Observer::new(&url);
    let (mut reader, _) = holder("read", &url, key);
    let mut writer = helper("wait", "write", &url, key, &[]);
    writer.expect("waiting");
    observer.until("the writer waits", |o| {
        o.requests(key, "ExclusiveLock", false) == 1
    });
    // A new reader may not pass the waiting writer, neither by try...
    assert_eq!(try_elsewhere("read", &url, key), "busy");
    // ...nor by waiting.
    let mut late_reader = helper("wait", "read", &url, key, &[]);
    late_reader.expect("waiting");
    observer.until("the late reader waits", |o| {
        o.requests(key, "ShareLock", false) == 1
    });
    reader.send("release");
    reader.expect("released");
    writer.expect("held");
    assert_eq!(observer.requests(key, "ShareLock", false), 1);
    writer.send("done");
    writer.expect("released");
    late_reader.expect("held");
    late_reader.send("done");
    late_reader.expect("released");
}

#[test]
fn writers_go_first_among_the_threads_of_one_process() {
    let url = server!();
    let lock = PgReaderWriterLock::new(&url, 14_012);
    let (held, release) = mpsc::channel();
    let (go, wait_go) = mpsc::channel::<()>();
    thread::scope(|s| {
        let lock = &lock;
        s.spawn(move || {
            let reading = lock.read().unwrap();
            held.send(()).unwrap();
            wait_go.recv_timeout(STEP).unwrap();
            drop(reading);
        });
        release.recv_timeout(STEP).unwrap();
        let writer = s.spawn(move || {
            let writing = lock.write().unwrap();
            assert!(lock.is_held());
            drop(writing);
        });
        // Once the writer waits, a new reader is refused.
        let deadline = Instant::now() + STEP;
        loop {
            match lock.try_read() {
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Ok(reading) => drop(reading),
                Err(err) => panic!("{err}"),
            }
            assert!(Instant::now() < deadline, "the writer never queued");
            thread::yield_now();
        }
        go.send(()).unwrap();
        writer.join().unwrap();
    });
    assert!(!lock.is_held());
}

#[test]
fn a_thread_asking_again_gets_would_deadlock_and_other_threads_wait() {
    let url = server!();
    let lock = PgLock::new(&url, 14_020);
    assert!(!lock.is_held());
    let guard = lock.lock().unwrap();
    assert!(lock.is_held());
    // One at a time, the blocking form last: were the check missing, the
    // first two would fail the test before the third could hang it.
    let err = lock.try_lock().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock, "{err}");
    let err = lock.try_lock_for(Duration::from_millis(10)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock, "{err}");
    let err = lock.lock().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock, "{err}");
    // Through another object for the same key and server too (its session
    // would wait for this one's forever), of either type.
    let again = PgLock::new(&url, 14_020);
    let err = again.try_lock().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock, "{err}");
    let err = again.lock().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock, "{err}");
    let err = PgReaderWriterLock::new(&url, 14_020).read().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldDeadlock, "{err}");
    let (waiting, is_waiting) = mpsc::channel();
    thread::scope(|s| {
        let other = s.spawn(|| {
            assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
            assert!(!lock.acquire(false, None).unwrap());
            waiting.send(()).unwrap();
            let start = Instant::now();
            let guard = lock.lock().unwrap();
            drop(guard);
            start.elapsed()
        });
        is_waiting.recv_timeout(STEP).unwrap();
        thread::sleep(Duration::from_millis(50));
        drop(guard);
        assert!(other.join().unwrap() >= Duration::from_millis(40));
    });
    // Python-style, from one thread.
    assert!(lock.acquire(true, None).unwrap());
    assert_eq!(
        lock.acquire(false, None).unwrap_err().kind(),
        ErrorKind::WouldDeadlock
    );
    lock.release().unwrap();
    assert_eq!(lock.release().unwrap_err().kind(), ErrorKind::NotHeld);
    // Released in process and on the server: another process gets it at once.
    assert_eq!(try_elsewhere("ex", &url, 14_020), "got");
}

#[test]
fn sync_calls_work_inside_a_tokio_runtime_and_async_work_right_after_them() {
    let url = server!();
    let lock = PgLock::new(&url, 14_090);
    // A sync call from inside another runtime's task cannot drive the
    // backend's runtime from that thread: it waits while the driver thread
    // drives (a runtime started inside a runtime would panic).
    runtime().block_on(async {
        let guard = lock.lock().unwrap();
        guard.release().unwrap();
    });
    // Right after a sync call, which drove the runtime itself, async work
    // on the lock's session and an async acquisition are driven too.
    let guard = lock.lock().unwrap();
    let answer = runtime()
        .block_on(guard.on_session(|client| client.simple_query("SELECT 41 + 1")))
        .unwrap()
        .unwrap();
    assert_eq!(first_value(&answer), "42");
    guard.release().unwrap();
    runtime().block_on(async {
        let guard = lock.lock_async().await.unwrap();
        guard.release_async().await.unwrap();
    });
    assert!(!lock.is_held());
}

#[test]
fn one_lock_object_uses_one_connection_for_all_its_threads() {
    let url = server!();
    let observer = Observer::new(&url);
    let mut config = config(&url);
    config.application_name("fasteners-test-one-connection");
    let lock = PgReaderWriterLock::from_config(config, 14_021);
    thread::scope(|s| {
        for i in 0..6 {
            let lock = &lock;
            s.spawn(move || {
                for _ in 0..20 {
                    if i % 2 == 0 {
                        drop(lock.read().unwrap());
                    } else {
                        drop(lock.write().unwrap());
                    }
                }
            });
        }
    });
    assert_eq!(
        observer.number(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = 'fasteners-test-one-connection'"
        ),
        1
    );
    drop(lock);
    observer.until("the connection closes with the object", |o| {
        o.number(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = 'fasteners-test-one-connection'",
        ) == 0
    });
}

#[test]
fn a_killed_holder_process_frees_the_lock_within_a_second() {
    let url = server!();
    let key = 14_030;
    let (holder, _) = holder("ex", &url, key);
    let lock = PgLock::new(&url, key);
    assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
    holder.kill();
    let start = Instant::now();
    let guard = lock.try_lock_for(Duration::from_secs(1)).unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    guard.release().unwrap();
}

#[test]
fn a_holder_whose_backend_is_terminated_reports_the_lock_lost() {
    let url = server!();
    let key = 14_031;
    let observer = Observer::new(&url);
    // In this process: the guard says so, at once and on demand.
    let lock = PgLock::new(&url, key);
    let guard = lock.lock().unwrap();
    let pid = guard
        .on_session_blocking(|client| async move {
            first_value(
                &client
                    .simple_query("SELECT pg_backend_pid()")
                    .await
                    .unwrap(),
            )
        })
        .unwrap();
    assert!(!guard.is_lost());
    guard.check().unwrap();
    observer.terminate(&pid);
    let lost = runtime().block_on(async {
        tokio::time::timeout(STEP, guard.lost())
            .await
            .expect("lost within STEP")
    });
    assert_eq!(lost.kind(), ErrorKind::Lost);
    assert!(lost.to_string().contains("127.0.0.1"), "{lost}");
    assert!(
        lost.to_string().contains("terminating connection"),
        "{lost}"
    );
    assert!(guard.is_lost());
    assert_eq!(guard.check().unwrap_err().kind(), ErrorKind::Lost);
    assert_eq!(try_elsewhere("ex", &url, key), "got");
    assert_eq!(guard.release().unwrap_err().kind(), ErrorKind::Lost);
    // The object reconnects for the next acquisition.
    lock.lock().unwrap().release().unwrap();

    // In another process: its guard reports it, and the lock is free.
    let (mut other, pid) = holder("ex", &url, key);
    other.send("wait-lost");
    assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
    observer.terminate(&pid);
    other.expect("lost");
    lock.try_lock_for(STEP).unwrap().release().unwrap();
}

/// A TCP proxy to the server that can cut its connections or silently stop
/// forwarding (a partition that closes nothing).
struct Proxy {
    port: u16,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    fn to(url: &str) -> Proxy {
        let config = config(url);
        let upstream_port = config.get_ports()[0];
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let streams = Arc::new(Mutex::new(Vec::new()));
        let frozen = Arc::new(AtomicBool::new(false));
        let (s, f) = (Arc::clone(&streams), Arc::clone(&frozen));
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let server = TcpStream::connect(("127.0.0.1", upstream_port)).unwrap();
                s.lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let frozen = Arc::clone(&f);
                    thread::spawn(move || {
                        let mut buffer = [0; 8192];
                        loop {
                            match from.read(&mut buffer) {
                                Ok(0) | Err(_) => {
                                    let _ = to.shutdown(Shutdown::Both);
                                    return;
                                }
                                Ok(n) if !frozen.load(Ordering::SeqCst) => {
                                    if to.write_all(&buffer[..n]).is_err() {
                                        return;
                                    }
                                }
                                Ok(_) => {} // dropped on the floor
                            }
                        }
                    });
                }
            }
        });
        Proxy {
            port,
            streams,
            frozen,
        }
    }

    fn config(&self, url: &str) -> Config {
        let mut config = config(url);
        let mut through = Config::new();
        through
            .host("127.0.0.1")
            .port(self.port)
            .user(config.get_user().unwrap())
            .password(config.get_password().unwrap())
            .dbname(config.get_dbname().unwrap());
        config = through;
        config
    }

    fn cut(&self) {
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_dropped_connection_is_reported_lost_and_frees_the_lock() {
    let url = server!();
    let key = 14_032;
    let proxy = Proxy::to(&url);
    let lock = PgLock::from_config(proxy.config(&url), key);
    let guard = lock.lock().unwrap();
    assert_eq!(try_elsewhere("ex", &url, key), "busy");
    proxy.cut();
    let lost =
        runtime().block_on(async { tokio::time::timeout(STEP, guard.lost()).await.unwrap() });
    assert_eq!(lost.kind(), ErrorKind::Lost);
    assert!(guard.is_lost());
    let other = PgLock::new(&url, key);
    other.try_lock_for(STEP).unwrap().release().unwrap();
}

#[test]
fn a_connection_that_stops_answering_is_reported_lost_by_the_heartbeat() {
    let url = server!();
    let proxy = Proxy::to(&url);
    let lock = PgLock::from_config(proxy.config(&url), 14_033)
        .with_heartbeat(Duration::from_millis(100), Duration::from_millis(400));
    let guard = lock.lock().unwrap();
    // Held a while: the heartbeat is answered.
    thread::sleep(Duration::from_millis(350));
    guard.check().unwrap();
    proxy.freeze();
    let start = Instant::now();
    let lost =
        runtime().block_on(async { tokio::time::timeout(STEP, guard.lost()).await.unwrap() });
    assert_eq!(lost.kind(), ErrorKind::Lost);
    assert!(lost.to_string().contains("heartbeat"), "{lost}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    proxy.cut();
}

#[test]
fn try_and_timed_forms_give_up_and_leave_lock_timeout_as_it_was() {
    let url = server!();
    let key = 14_040;
    let (mut holder, _) = holder("ex", &url, key);
    let mut config = config(&url);
    config.options("-c lock_timeout=7s");
    let lock = PgLock::from_config(config, key);
    assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(!lock.acquire(false, None).unwrap());
    let start = Instant::now();
    let err = lock.try_lock_for(Duration::from_millis(300)).unwrap_err();
    let waited = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(!lock.acquire(true, Some(Duration::from_millis(50))).unwrap());
    let err = runtime()
        .block_on(lock.lock_async_for(Duration::from_millis(100)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(
        lock.try_lock_async().unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // A timed wait that the server grants (it waits on the server when the
    // holder releases) leaves the session's lock_timeout as it was too.
    let observer = Observer::new(&url);
    let timeout = thread::scope(|s| {
        let waiter = s.spawn(|| {
            let guard = lock.try_lock_for(STEP).unwrap();
            guard
                .on_session_blocking(|client| async move {
                    first_value(&client.simple_query("SHOW lock_timeout").await.unwrap())
                })
                .unwrap()
        });
        observer.until("the timed wait is queued on the server", |o| {
            o.requests(key, "ExclusiveLock", false) == 1
        });
        holder.send("release");
        holder.expect("released");
        process_common::join(waiter, "the timed waiter")
    });
    assert_eq!(timeout, "7s");
    let guard = lock.try_lock_async().unwrap();
    guard.release().unwrap();
}

struct Nothing;

impl Wake for Nothing {
    fn wake(self: Arc<Self>) {}
}

/// Polls `future` once.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(Nothing));
    future.poll(&mut Context::from_waker(&waker))
}

/// A `PgLock` on `config`, with its async calls' socket on the awaiting
/// runtime if `callers_runtime`.
fn pg_lock(config: Config, key: i64, callers_runtime: bool) -> PgLock {
    let lock = PgLock::from_config(config, key);
    if callers_runtime {
        lock.with_callers_runtime()
    } else {
        lock
    }
}

#[test]
fn a_thousand_cancelled_async_waits_leave_nothing_behind() {
    cancelled_async_waits_leave_nothing_behind(false, 14_050);
}

#[test]
fn a_thousand_cancelled_async_waits_on_the_callers_runtime_leave_nothing_behind() {
    cancelled_async_waits_leave_nothing_behind(true, 14_051);
}

fn cancelled_async_waits_leave_nothing_behind(callers_runtime: bool, key: i64) {
    let url = server!();
    let observer = Observer::new(&url);
    let (mut holder, _) = holder("ex", &url, key);
    let mut config = config(&url);
    let application = format!("fasteners-test-cancelled-{key}");
    config.application_name(&application);
    let lock = pg_lock(config, key, callers_runtime);
    // Polled in a runtime's context (which nobody drives: the polls write
    // the request, and the drops hand the socket back to the backend).
    let runtime = runtime();
    let _context = runtime.enter();
    // Connected (and refused) once: the baseline is its one session (other
    // tests open and close sessions of their own meanwhile).
    assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
    let sessions =
        format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{application}'");
    let sessions = sessions.as_str();
    let baseline = observer.number(sessions);
    assert_eq!(baseline, 1);
    for i in 0..1000 {
        let mut future = pin!(lock.lock_async());
        assert!(poll_once(future.as_mut()).is_pending());
        if i % 10 == 0 {
            // A tenth of them is dropped only once the server queued it.
            observer.until("the request is queued", |o| {
                o.requests(key, "ExclusiveLock", false) == 1
            });
        }
    }
    observer.until("no request left queued", |o| {
        o.requests(key, "ExclusiveLock", false) == 0
    });
    observer.until("the sessions back to the baseline", |o| {
        o.number(sessions) == baseline
    });
    holder.send("release");
    holder.expect("released");
    // Nothing queued took it: free at once for anyone.
    assert_eq!(try_elsewhere("ex", &url, key), "got");
    lock.try_lock().unwrap().release().unwrap();
}

#[test]
fn a_dropped_async_release_still_gives_the_lock_back() {
    a_dropped_async_release_gives_the_lock_back(false, 14_062);
}

#[test]
fn a_dropped_async_release_on_the_callers_runtime_still_gives_the_lock_back() {
    a_dropped_async_release_gives_the_lock_back(true, 14_063);
}

fn a_dropped_async_release_gives_the_lock_back(callers_runtime: bool, key: i64) {
    let url = server!();
    let observer = Observer::new(&url);
    let lock = pg_lock(config(&url), key, callers_runtime);
    let runtime = runtime();
    for _ in 0..20 {
        let guard = runtime.block_on(lock.lock_async()).unwrap();
        assert_eq!(observer.requests(key, "ExclusiveLock", true), 1);
        // Polled once in the runtime's context (the unlock is sent), then
        // dropped: the backend's runtime sees it through.
        let mut release = Box::pin(guard.release_async());
        {
            let _context = runtime.enter();
            let _ = poll_once(release.as_mut());
        }
        drop(release);
        observer.until("the server lock given back", |o| {
            o.requests(key, "ExclusiveLock", true) == 0
        });
        // Free in this process too, once the unlock's answer is in.
        let deadline = Instant::now() + STEP;
        let guard = loop {
            match lock.try_lock() {
                Ok(guard) => break guard,
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "never free in this process");
                    thread::sleep(Duration::from_millis(1));
                }
                Err(err) => panic!("{err}"),
            }
        };
        guard.release().unwrap();
    }
    assert_eq!(try_elsewhere("ex", &url, key), "got");
}

#[test]
fn an_async_release_hands_the_lock_to_a_waiting_thread() {
    an_async_release_hands_over_to_a_waiting_thread(false, 14_061);
}

#[test]
fn an_async_release_on_the_callers_runtime_hands_the_lock_to_a_waiting_thread() {
    an_async_release_hands_over_to_a_waiting_thread(true, 14_064);
}

fn an_async_release_hands_over_to_a_waiting_thread(callers_runtime: bool, key: i64) {
    let url = server!();
    let lock = pg_lock(config(&url), key, callers_runtime);
    let runtime = runtime();
    for _ in 0..10 {
        let guard = runtime.block_on(lock.lock_async()).unwrap();
        thread::scope(|s| {
            let waiter = s.spawn(|| {
                let guard = lock.try_lock_for(STEP).unwrap();
                let got = Instant::now();
                guard.release().unwrap();
                got
            });
            let deadline = Instant::now() + STEP;
            while lock.waiting_in_process() == 0 {
                assert!(Instant::now() < deadline, "the thread never waited");
                thread::sleep(Duration::from_millis(1));
            }
            let released = Instant::now();
            runtime.block_on(guard.release_async()).unwrap();
            // Told at once, not at the end of its own timeout.
            let got = waiter.join().unwrap();
            assert!(got.duration_since(released) < Duration::from_secs(2));
        });
    }
    assert!(!lock.is_held());
}

/// Tasks of a multi-thread runtime counting with a read, a yield and a
/// write, `under_lock` or not: what the count comes to.
fn count_in_tasks(lock: &'static PgLock, under_lock: bool) -> u64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    runtime.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let count = Arc::clone(&count);
                tokio::spawn(async move {
                    for _ in 0..50 {
                        let guard = if under_lock {
                            Some(lock.lock_async().await.unwrap())
                        } else {
                            None
                        };
                        let seen = count.load(Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        count.store(seen + 1, Ordering::SeqCst);
                        if let Some(guard) = guard {
                            guard.release_async().await.unwrap();
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    count.load(Ordering::SeqCst)
}

#[test]
fn tasks_of_a_multi_thread_runtime_exclude_each_other_in_both_socket_modes() {
    let url = server!();
    for (key, callers_runtime) in [(14_065, false), (14_066, true)] {
        let lock: &'static PgLock =
            Box::leak(Box::new(pg_lock(config(&url), key, callers_runtime)));
        assert_eq!(
            count_in_tasks(lock, true),
            200,
            "callers_runtime {callers_runtime}"
        );
        assert!(!lock.is_held());
        assert_eq!(try_elsewhere("ex", &url, key), "got");
    }
    // The control: the same counting without the lock loses updates.
    let lock: &'static PgLock = Box::leak(Box::new(PgLock::new(&url, 14_067)));
    assert!(count_in_tasks(lock, false) < 200);
}

/// Awaits `future`, failing the test if it is not ready within [`STEP`]:
/// the deadline is looked at first, so that a future that was only woken by
/// the deadline's own timer fails too.
async fn within_step<F: Future>(future: F, what: &str) -> F::Output {
    tokio::select! {
        biased;
        () = tokio::time::sleep(STEP) => panic!("not done within {STEP:?}: {what}"),
        output = future => output,
    }
}

#[test]
fn threads_and_tasks_of_one_lock_object_count_exactly_together_in_both_socket_modes() {
    let url = server!();
    for (key, callers_runtime) in [(14_076, false), (14_077, true)] {
        let lock: &'static PgLock =
            Box::leak(Box::new(pg_lock(config(&url), key, callers_runtime)));
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Tasks and threads of one object: a thread that waits takes over
        // the calls that tasks drive, which must still tell the tasks.
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let count = Arc::clone(&count);
                runtime.spawn(async move {
                    for _ in 0..40 {
                        let guard = within_step(lock.lock_async(), "a task's acquisition")
                            .await
                            .unwrap();
                        let seen = count.load(Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        count.store(seen + 1, Ordering::SeqCst);
                        within_step(guard.release_async(), "a task's release")
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let count = Arc::clone(&count);
                thread::spawn(move || {
                    for _ in 0..40 {
                        let guard = lock.try_lock_for(STEP).unwrap();
                        let seen = count.load(Ordering::SeqCst);
                        thread::yield_now();
                        count.store(seen + 1, Ordering::SeqCst);
                        guard.release().unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        runtime.block_on(async {
            for task in tasks {
                task.await.unwrap();
            }
        });
        assert_eq!(
            count.load(Ordering::SeqCst),
            200,
            "callers_runtime {callers_runtime}"
        );
        assert!(!lock.is_held());
        assert_eq!(try_elsewhere("ex", &url, key), "got");
    }
}

#[test]
fn sync_and_async_calls_on_the_callers_runtime_take_turns_on_one_session() {
    let url = server!();
    let key = 14_068;
    let observer = Observer::new(&url);
    let mut config = config(&url);
    config.application_name("fasteners-test-turns");
    let lock = pg_lock(config, key, true);
    let runtime = runtime();
    for i in 0..30 {
        // Async on a runtime (the socket moves there), sync from a plain
        // thread and from inside the runtime (the backend takes it back).
        runtime.block_on(async {
            let guard = lock.lock_async_for(STEP).await.unwrap();
            assert_eq!(observer_requests_granted(&url, key), 1);
            guard.release_async().await.unwrap();
        });
        let guard = lock.try_lock_for(STEP).unwrap();
        assert_eq!(observer.requests(key, "ExclusiveLock", true), 1);
        if i % 2 == 0 {
            guard.release().unwrap();
        } else {
            runtime
                .block_on(async { tokio::time::timeout(STEP, guard.release_async()).await })
                .expect("released within STEP")
                .unwrap();
        }
        runtime.block_on(async {
            lock.try_lock_for(STEP).unwrap().release().unwrap();
        });
    }
    assert_eq!(
        observer.number(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fasteners-test-turns'"
        ),
        1
    );
    assert_eq!(try_elsewhere("ex", &url, key), "got");
}

/// Granted requests for `key`, seen on a connection made for the look (for
/// use inside a runtime, where the observer's own runtime cannot run).
fn observer_requests_granted(url: &str, key: i64) -> i64 {
    let url = url.to_owned();
    thread::spawn(move || Observer::new(&url).requests(key, "ExclusiveLock", true))
        .join()
        .unwrap()
}

/// A waker that records that it was woken.
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls `future` once in the current task's context.
async fn poll_here<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *future).poll(cx))).await
}

#[test]
fn a_thread_that_waits_finishes_the_wait_its_own_task_was_driving() {
    let url = server!();
    for (key, callers_runtime) in [(14_069, false), (14_070, true)] {
        let lock = pg_lock(config(&url), key, callers_runtime);
        let (holder, _) = holder("ex", &url, key);
        // Connected (the first poll of an acquisition would only connect).
        assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
        let got = runtime().block_on(async {
            // A task's wait, driven by the task: its request is queued on
            // the server (the holder holds).
            let mut waiting = Box::pin(lock.lock_async());
            assert!(poll_here(&mut waiting).await.is_pending());
            // The holder lets go once this thread waits too.
            thread::scope(|s| {
                s.spawn(|| {
                    let mut holder = holder;
                    let deadline = Instant::now() + STEP;
                    while lock.waiting_in_process() < 2 {
                        assert!(Instant::now() < deadline, "the thread never waited");
                        thread::sleep(Duration::from_millis(1));
                    }
                    holder.send("release");
                    holder.expect("released");
                });
                // This thread now blocks: it never polls the task again, so
                // the backend must finish the wait for the grant to come.
                let guard = lock.try_lock_for(STEP);
                guard.map(|guard| guard.release())
            })
        });
        got.expect("the thread got the lock").unwrap();
        assert!(!lock.is_held());
        assert_eq!(try_elsewhere("ex", &url, key), "got");
    }
}

#[test]
fn a_thread_that_waits_finishes_the_release_its_own_task_was_driving() {
    let url = server!();
    for (key, callers_runtime) in [(14_071, false), (14_072, true)] {
        let lock = pg_lock(config(&url), key, callers_runtime);
        runtime().block_on(async {
            // The unlock is sent from a poll in this runtime, by a task
            // whose waker records that it was woken (a fast server may
            // answer within that first poll: then the lock is taken again
            // until the release is left waiting)...
            let mut attempts = 0;
            let (releasing, woken) = loop {
                attempts += 1;
                assert!(
                    attempts <= 100,
                    "every release was answered in its first poll"
                );
                let guard = lock.lock_async().await.unwrap();
                let mut releasing = Box::pin(guard.release_async());
                let woken = Arc::new(Woken(AtomicBool::new(false)));
                let waker = Waker::from(Arc::clone(&woken));
                let polled = releasing.as_mut().poll(&mut Context::from_waker(&waker));
                if polled.is_pending() {
                    break (releasing, woken);
                }
            };
            // ...and this thread then blocks in a wait for the lock.
            let guard = lock.try_lock_for(STEP).expect("the thread got the lock");
            guard.release().unwrap();
            // The task is told that its release is done.
            let deadline = Instant::now() + STEP;
            while !woken.0.load(Ordering::SeqCst) {
                assert!(
                    Instant::now() < deadline,
                    "the releasing task was never woken"
                );
                thread::sleep(Duration::from_millis(1));
            }
            assert!(releasing.await.is_ok());
        });
        assert!(!lock.is_held());
        assert_eq!(try_elsewhere("ex", &url, key), "got");
    }
}

/// A configuration of the server's user, password and database, without
/// hosts or ports.
fn credentials(url: &str) -> Config {
    let base = config(url);
    let mut config = Config::new();
    config
        .user(base.get_user().unwrap())
        .password(base.get_password().unwrap())
        .dbname(base.get_dbname().unwrap());
    config
}

/// Locks and releases `key` through a new object on `config`.
fn connects_and_locks(config: Config, key: i64) {
    PgLock::from_config(config, key)
        .lock()
        .unwrap()
        .release()
        .unwrap();
}

#[test]
fn the_connect_tries_each_host_and_address_in_turn() {
    let url = server!();
    let port = config(&url).get_ports()[0];
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A host that refuses, then one whose name resolves to addresses that
    // the server may not all listen on (it listens on 127.0.0.1 only).
    let mut hosts = credentials(&url);
    hosts
        .host("127.0.0.1")
        .port(dead)
        .host("localhost")
        .port(port);
    connects_and_locks(hosts, 14_073);
    // `hostaddr` is connected to without resolving the host's name.
    let mut addressed = credentials(&url);
    addressed
        .host("db.invalid")
        .hostaddr(std::net::Ipv4Addr::LOCALHOST.into())
        .port(port);
    connects_and_locks(addressed, 14_073);
    // All refuse: the error names the last address tried and the cause.
    let mut refusing = credentials(&url);
    refusing.host("127.0.0.1").port(dead);
    let err = PgLock::from_config(refusing, 14_073).lock().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{dead}")),
        "{err}"
    );
}

#[test]
fn the_connect_keeps_to_target_session_attrs() {
    use tokio_postgres::config::TargetSessionAttrs;
    let url = server!();
    let mut writable = config(&url);
    writable.target_session_attrs(TargetSessionAttrs::ReadWrite);
    connects_and_locks(writable, 14_074);
    let mut read_only = config(&url);
    read_only.target_session_attrs(TargetSessionAttrs::ReadOnly);
    let err = PgLock::from_config(read_only, 14_074).lock().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.to_string().contains("allows writes"), "{err}");
}

#[test]
fn a_lock_over_a_unix_socket_waits_times_out_and_cancels_on_its_session() {
    let url = server!();
    let Some(dir) = postgres_common::from_script("FASTENERS_PG_SOCKET_DIR") else {
        return;
    };
    let key = 14_075;
    let observer = Observer::new(&url);
    let port = config(&url).get_ports()[0];
    for callers_runtime in [false, true] {
        let mut unix = credentials(&url);
        let application = format!("fasteners-test-unix-{callers_runtime}");
        unix.host_path(&dir)
            .port(port)
            .application_name(&application);
        let lock = pg_lock(unix, key, callers_runtime);
        lock.lock().unwrap().release().unwrap();
        let runtime = runtime();
        runtime
            .block_on(async { lock.lock_async().await?.release_async().await })
            .unwrap();
        let pid = observer.value(&format!(
            "SELECT pid FROM pg_stat_activity WHERE application_name = '{application}'"
        ));
        // An async wait that times out is cancelled on the server with a
        // cancel request (sent over the socket's path), which keeps the
        // session: the same backend serves the lock afterwards.
        let (mut holder, _) = holder("ex", &url, key);
        let err = runtime
            .block_on(lock.lock_async_for(Duration::from_millis(200)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        observer.until("no request left queued", |o| {
            o.requests(key, "ExclusiveLock", false) == 0
        });
        holder.send("release");
        holder.expect("released");
        lock.lock().unwrap().release().unwrap();
        assert_eq!(
            observer.value(&format!(
                "SELECT pid FROM pg_stat_activity WHERE application_name = '{application}'"
            )),
            pid
        );
    }
}

static ORDERS: LazyLock<PgLock> = LazyLock::new(|| {
    PgLock::new(
        &std::env::var("FASTENERS_PG_URL").unwrap_or_default(),
        PgLockKey::from_name("fasteners-tests-orders"),
    )
});

#[fasteners::locked(lock = ORDERS, blocking = false)]
fn ship_now() -> fasteners::Result<bool> {
    Ok(ORDERS.is_held())
}

#[fasteners::locked(lock = ORDERS, timeout = Duration::from_millis(200))]
fn ship_soon() -> fasteners::Result<bool> {
    Ok(ORDERS.is_held())
}

#[fasteners::locked(lock = ORDERS)]
async fn ship_async() -> bool {
    tokio::task::yield_now().await;
    ORDERS.is_held()
}

#[fasteners::locked(lock = ORDERS, timeout = Duration::from_millis(200))]
async fn ship_async_soon() -> fasteners::Result<bool> {
    Ok(ORDERS.is_held())
}

#[test]
fn the_attributes_take_a_static_pg_lock_on_sync_and_async_functions() {
    let url = server!();
    let key = PgLockKey::hash_name("fasteners-tests-orders");
    assert!(ship_now().unwrap());
    assert!(ship_soon().unwrap());
    let runtime = runtime();
    assert!(runtime.block_on(ship_async()));
    assert!(runtime.block_on(ship_async_soon()).unwrap());
    assert!(!ORDERS.is_held());
    let (mut holder, _) = holder("ex", &url, key);
    assert_eq!(ship_now().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(ship_soon().unwrap_err().kind(), ErrorKind::TimedOut);
    assert_eq!(
        runtime.block_on(ship_async_soon()).unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    holder.send("release");
    holder.expect("released");
    assert!(runtime.block_on(ship_async()));
    assert!(ship_now().unwrap());
}

#[test]
fn a_connection_string_that_does_not_parse_is_invalid_input() {
    // No server needed.
    let lock = PgLock::new("postgres://app:hunter2@db.example:notaport/app", 1);
    let err = lock.lock().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let text = err.to_string();
    assert!(text.contains("connection string"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!format!("{err:?}").contains("hunter2"));
    let err = runtime().block_on(lock.lock_async()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn a_refused_connection_names_the_server_and_the_cause() {
    // No server needed: a loopback port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lock = PgLock::new(&format!("postgres://app:hunter2@127.0.0.1:{port}/app"), 1);
    let start = Instant::now();
    let err = lock.lock().unwrap_err();
    assert!(start.elapsed() < STEP);
    assert_eq!(err.kind(), ErrorKind::Server);
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}/app")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_wrong_password_names_the_server_and_the_cause_but_not_the_password() {
    let url = server!();
    let mut config = config(&url);
    config.password("not-the-password-4711");
    let lock = PgLock::from_config(config, 1);
    let err = lock.try_lock().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    let text = err.to_string();
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(text.contains("127.0.0.1:"), "{text}");
    assert!(!text.contains("not-the-password-4711"), "{text}");
    assert!(!format!("{err:?}").contains("not-the-password-4711"));
}

#[test]
fn a_server_session_gone_mid_wait_is_an_error_not_a_hang() {
    let url = server!();
    let key = 14_060;
    let observer = Observer::new(&url);
    let (_holder, _) = holder("ex", &url, key);
    let lock = PgLock::new(&url, key);
    let (done, result) = mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| done.send(lock.lock().map(drop)).unwrap());
        observer.until("the waiter waits", |o| {
            o.requests(key, "ExclusiveLock", false) == 1
        });
        let pid = observer.value(&format!(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = {key} \
             AND NOT granted"
        ));
        observer.terminate(&pid);
        let err = result.recv_timeout(STEP).expect("no hang").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server, "{err}");
        assert!(err.to_string().contains("127.0.0.1:"), "{err}");
    });
}
