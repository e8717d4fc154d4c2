//! Cancelled async acquisitions leave nothing held and nothing open. One test
//! function: descriptor counts must not see other tests' files.
#![cfg(target_os = "linux")]

mod process_common;

use std::time::{Duration, Instant};

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock};
use process_common::{
    mechanisms, open_descriptors, settles, threads, try_elsewhere, Helper, TempDir, STEP,
};

#[test]
fn cancelled_acquires_leave_nothing_held_or_open() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for mechanism in mechanisms() {
        let dir = TempDir::new("async-cancel");
        let path = dir.join("a.lock");
        let (base_fds, base_threads) = (open_descriptors(), threads());
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        let fds = open_descriptors();
        let started = Instant::now();
        rt.block_on(async {
            let shared = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
            for i in 0..1000 {
                let tiny = Duration::from_micros(200);
                let timed_out = match i % 5 {
                    0 => {
                        let lock = InterProcessLock::with_mechanism(&path, mechanism);
                        let result = tokio::time::timeout(tiny, lock.lock_async()).await;
                        result.is_err()
                    }
                    1 => tokio::time::timeout(tiny, shared.read_async())
                        .await
                        .is_err(),
                    2 => tokio::time::timeout(tiny, shared.write_async())
                        .await
                        .is_err(),
                    3 => {
                        let lock = InterProcessLock::with_mechanism(&path, mechanism);
                        let err = lock.lock_async_for(tiny).await.unwrap_err();
                        err.kind() == ErrorKind::TimedOut
                    }
                    _ => {
                        let err = shared.write_async_for(tiny).await.unwrap_err();
                        err.kind() == ErrorKind::TimedOut
                    }
                };
                assert!(
                    timed_out,
                    "round {i}: acquired a lock held by another process"
                );
            }
        });
        assert!(
            started.elapsed() < STEP,
            "1000 cancellations took {:?}",
            started.elapsed()
        );
        // At most the background waiter's descriptor and thread (and the
        // process-wide timer thread of the timed acquisitions).
        assert!(open_descriptors() <= fds + 1);
        assert!(threads() <= base_threads + 1 + 1 + 1);
        holder.send("release");
        holder.expect("released");
        assert!(holder.finish().success());
        assert!(
            settles(|| open_descriptors() <= base_fds),
            "background waiter's descriptor"
        );
        assert!(
            settles(|| threads() <= base_threads + 1),
            "background waiter's thread"
        );
        // The lock is free for another process.
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "got");
    }
}
