//! The `tracing` feature's events: `waiting for lock`, `lock acquired after
//! waiting`, `lock wait timed out`, `lock held long`, with their documented
//! target, levels and fields; nothing for an acquisition that does not wait.
//!
//! `cargo test -p fasteners --features tracing --test tracing_events`
#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::Duration;

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One event as recorded: target, level, and every field as text.
#[derive(Debug, Clone)]
struct Recorded {
    target: String,
    level: Level,
    fields: BTreeMap<String, String>,
}

impl Recorded {
    fn message(&self) -> &str {
        &self.fields["message"]
    }
}

/// A subscriber that keeps every event, and signals each.
#[derive(Clone, Default)]
struct Recorder(Arc<(Mutex<Vec<Recorded>>, Condvar)>);

impl Recorder {
    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.0 .0.lock().unwrap())
    }

    /// Waits (at most 20 s) until some event is recorded.
    fn wait_for_an_event(&self) {
        let (events, arrived) = &*self.0;
        let events = events.lock().unwrap();
        let _ = arrived
            .wait_timeout_while(events, Duration::from_secs(20), |events| events.is_empty())
            .unwrap();
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let (events, arrived) = &*self.0;
        events.lock().unwrap().push(Recorded {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
        });
        arrived.notify_all();
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fasteners-tracing-{}-{name}", std::process::id()))
}

fn mechanism_name() -> &'static str {
    if cfg!(target_os = "linux") {
        "ofd"
    } else {
        "flock"
    }
}

/// Runs `wait` in this thread (where the recorder is the default subscriber)
/// while another thread holds `path` exclusively. With `release_early`, the
/// other thread releases once `wait` has started waiting (the first event is
/// in); otherwise once `wait` is over.
fn while_held_elsewhere<T>(
    path: &PathBuf,
    recorder: &Recorder,
    release_early: bool,
    wait: impl FnOnce() -> T,
) -> T {
    let (release, released) = mpsc::channel::<()>();
    let (locked, is_locked) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let lock = InterProcessLock::new(path);
            let guard = lock.lock().unwrap();
            locked.send(()).unwrap();
            let _ = released.recv_timeout(Duration::from_secs(20));
            drop(guard);
        });
        is_locked.recv_timeout(Duration::from_secs(20)).unwrap();
        let result = if release_early {
            let recorder = recorder.clone();
            let release = release.clone();
            let watcher = s.spawn(move || {
                recorder.wait_for_an_event();
                let _ = release.send(());
            });
            let result = wait();
            watcher.join().unwrap();
            result
        } else {
            wait()
        };
        let _ = release.send(());
        result
    })
}

#[test]
fn a_wait_emits_waiting_then_acquired_with_the_documented_fields() {
    let path = temp_path("waited.lock");
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        let lock = InterProcessReaderWriterLock::new(&path);
        // Free: nothing.
        drop(lock.write().unwrap());
        drop(lock.read().unwrap());
        assert!(recorder.take().is_empty());

        while_held_elsewhere(&path, &recorder, true, || drop(lock.read().unwrap()));
        let events = recorder.take();
        assert_eq!(events.len(), 2, "{events:?}");
        let (waiting, acquired) = (&events[0], &events[1]);
        assert_eq!(waiting.message(), "waiting for lock");
        assert_eq!(acquired.message(), "lock acquired after waiting");
        for event in &events {
            assert_eq!(event.target, "fasteners");
            assert_eq!(event.level, Level::DEBUG);
            assert_eq!(event.fields["path"], path.display().to_string());
            assert_eq!(event.fields["mode"], "shared");
            assert_eq!(event.fields["mechanism"], mechanism_name());
        }
        let waited: u64 = acquired.fields["waited_us"].parse().unwrap();
        assert!(waited > 0);
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_timed_out_wait_emits_waiting_then_timed_out() {
    let path = temp_path("timed-out.lock");
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        let lock = InterProcessLock::new(&path);
        let err = while_held_elsewhere(&path, &recorder, false, || {
            lock.try_lock_for(Duration::from_millis(30)).unwrap_err()
        });
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        let events = recorder.take();
        let messages: Vec<_> = events.iter().map(Recorded::message).collect();
        assert_eq!(messages, ["waiting for lock", "lock wait timed out"]);
        assert_eq!(events[1].fields["mode"], "exclusive");
        let waited: u64 = events[1].fields["waited_us"].parse().unwrap();
        assert!(waited >= 30_000, "{waited}");
        // A try never waits: nothing.
        let _ = while_held_elsewhere(&path, &recorder, false, || lock.try_lock().map(drop));
        assert!(recorder.take().is_empty());
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn an_async_wait_emits_the_same_events() {
    let path = temp_path("async.lock");
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let lock = InterProcessLock::new(&path);
        while_held_elsewhere(&path, &recorder, true, || {
            runtime.block_on(async { drop(lock.lock_async().await.unwrap()) });
        });
        let messages: Vec<_> = recorder
            .take()
            .iter()
            .map(|e| e.message().to_owned())
            .collect();
        assert_eq!(
            messages,
            ["waiting for lock", "lock acquired after waiting"]
        );
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_guard_held_for_a_second_or_more_emits_held_long_on_release() {
    let path = temp_path("held-long.lock");
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        let lock = InterProcessLock::new(&path);
        drop(lock.lock().unwrap());
        assert!(recorder.take().is_empty(), "a short hold is not reported");
        let guard = lock.lock().unwrap();
        // The hold itself is what is measured here (the threshold is 1 s).
        std::thread::sleep(Duration::from_millis(1_050));
        guard.release().unwrap();
        let events = recorder.take();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].message(), "lock held long");
        assert_eq!(events[0].level, Level::INFO);
        assert_eq!(events[0].fields["mode"], "exclusive");
        let held: u64 = events[0].fields["held_us"].parse().unwrap();
        assert!(held >= 1_000_000, "{held}");
    });
    std::fs::remove_file(&path).unwrap();
}
