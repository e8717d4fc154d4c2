//! Cancelled async acquisitions leave nothing held and nothing open. One test
//! function: descriptor counts must not see other tests' files.
#![cfg(target_os = "linux")]

mod process_common;

use std::time::{Duration, Instant};

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock};
use process_common::{
    crate_threads, inode, mechanisms, only_the_timer, open_descriptors, queued_in_kernel, threads,
    try_elsewhere, within, Helper, TempDir, STEP,
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
        // Nothing left while the holder still holds: no descriptor (the lock
        // objects are gone), no thread but the process timer, no request
        // queued in the kernel.
        let inodes = [inode(&path)];
        assert!(
            within(Duration::from_millis(500), || open_descriptors() == fds
                && only_the_timer(&crate_threads())
                && queued_in_kernel(&inodes) == 0),
            "descriptors {} (were {fds}), crate threads {:?}, queued {}",
            open_descriptors(),
            crate_threads(),
            queued_in_kernel(&inodes)
        );
        holder.send("release");
        holder.expect("released");
        assert!(holder.finish().success());
        assert_eq!(open_descriptors(), base_fds);
        // The helper's output reader may still be on its way out.
        assert!(
            within(STEP, || threads() <= base_threads + 1),
            "only the timer is left"
        );
        // The lock is free for another process.
        assert_eq!(try_elsewhere(mechanism, &path, "ex"), "got");
    }
}
