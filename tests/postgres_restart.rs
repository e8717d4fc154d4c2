//! A server restart under a held PostgreSQL lock (feature `postgres`): a
//! test binary of its own, since the restart ends every session on the
//! server. Run through `scripts/with-postgres.sh`, which exports
//! `FASTENERS_PG_RESTART`; skips (or fails under `CI=true`) without it.

mod postgres_common;

use std::process::Command;
use std::time::Duration;

use fasteners::postgres::PgReaderWriterLock;
use fasteners::ErrorKind;
use postgres_common::{from_script, runtime};

#[test]
fn a_server_restart_is_reported_lost_and_the_lock_object_connects_again() {
    let url = server!();
    let Some(restart) = from_script("FASTENERS_PG_RESTART") else {
        return;
    };
    let lock = PgReaderWriterLock::new(&url, 14_070);
    let reading = lock.read().unwrap();
    let writing_elsewhere = PgReaderWriterLock::new(&url, 14_070);
    // From another thread: this one would be told it would deadlock.
    let other_thread = |attempt: &(dyn Fn() -> ErrorKind + Sync)| {
        std::thread::scope(|s| s.spawn(attempt).join().unwrap())
    };
    assert_eq!(
        other_thread(&|| writing_elsewhere.try_write().unwrap_err().kind()),
        ErrorKind::WouldBlock
    );
    assert!(Command::new(&restart).status().unwrap().success());
    let lost = runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(20), reading.lost())
            .await
            .expect("the restart is noticed")
    });
    assert_eq!(lost.kind(), ErrorKind::Lost);
    assert!(reading.is_lost());
    assert_eq!(reading.release().unwrap_err().kind(), ErrorKind::Lost);
    // Both objects connect again to the restarted server.
    let writing = writing_elsewhere
        .try_write_for(Duration::from_secs(20))
        .unwrap();
    assert_eq!(
        other_thread(&|| lock.try_read().unwrap_err().kind()),
        ErrorKind::WouldBlock
    );
    writing.release().unwrap();
    lock.read().unwrap().release().unwrap();
}
