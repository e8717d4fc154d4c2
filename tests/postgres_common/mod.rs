//! Shared by the PostgreSQL tests: the server's URL (or the skip notice),
//! and a runtime for the async calls.
#![allow(dead_code)] // each test file uses a different part

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use tokio_postgres::{NoTls, SimpleQueryMessage};

/// How long a test waits for what it expects to see.
const WAIT: Duration = Duration::from_secs(20);

/// The environment variable `name` set by `scripts/with-postgres.sh`, or
/// `None` (after a notice) when it is missing; under `CI=true` a missing
/// one fails the test instead.
pub fn from_script(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{name} is not set: under CI the PostgreSQL tests must run \
                 (through scripts/with-postgres.sh)"
            );
            // Straight to stderr, past the test harness's capture, so that
            // the skip shows in a normal run.
            let _ = writeln!(
                std::io::stderr(),
                "NOTICE: skipping a PostgreSQL test: {name} is not set \
                 (run the tests through scripts/with-postgres.sh)"
            );
            None
        }
    }
}

/// The server's URL, or returns from the test (see [`from_script`]).
#[macro_export]
macro_rules! server {
    () => {
        match postgres_common::from_script("FASTENERS_PG_URL") {
            Some(url) => url,
            None => return,
        }
    };
}

/// A current-thread tokio runtime with I/O and time.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A connection of the test's own, to look at the server's lock table.
pub struct Observer {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Observer {
    pub fn new(url: &str) -> Observer {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (client, connection) = runtime
            .block_on(tokio_postgres::connect(url, NoTls))
            .expect("observer connects");
        runtime.spawn(connection);
        Observer { runtime, client }
    }

    pub fn value(&self, sql: &str) -> String {
        let rows = self
            .runtime
            .block_on(self.client.simple_query(sql))
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        first_value(&rows)
    }

    pub fn number(&self, sql: &str) -> i64 {
        self.value(sql).parse().unwrap()
    }

    /// Requests for `key` in `mode` (`ExclusiveLock` or `ShareLock`), granted or not.
    pub fn requests(&self, key: i64, mode: &str, granted: bool) -> i64 {
        self.number(&format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 \
             AND classid = 0 AND objid = {key} AND mode = '{mode}' AND granted = {granted}"
        ))
    }

    /// Waits (at most [`WAIT`]) until `done` holds.
    pub fn until(&self, what: &str, done: impl Fn(&Observer) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "not seen within {WAIT:?}: {what}"
            );
            thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn terminate(&self, pid: &str) {
        assert_eq!(
            self.value(&format!("SELECT pg_terminate_backend({pid})")),
            "t"
        );
    }
}

pub fn first_value(messages: &[SimpleQueryMessage]) -> String {
    messages
        .iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default()
}
