//! No acquire, failed or not, leaks a descriptor or a thread, and the lock
//! file's descriptor is close-on-exec. One test function: descriptor counts
//! must not see other tests' files.
#![cfg(target_os = "linux")]

mod process_common;

use std::path::Path;
use std::time::Duration;

use fasteners::{ErrorKind, InterProcessLock, InterProcessReaderWriterLock};
use process_common::{
    crate_threads, inotify_instances, mechanisms, only_the_timer, open_descriptors, skip, threads,
    watched_here, within, Helper, TempDir, STEP,
};

/// The descriptor this process has open on `path`, if any.
fn descriptor_of(path: &Path) -> Option<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .find_map(|entry| {
            let entry = entry.ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            (target == path).then(|| entry.file_name().to_string_lossy().into_owned())
        })
}

#[test]
fn no_descriptor_or_thread_leaks_and_close_on_exec() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("fd-leaks");
        let path = dir.join("a.lock");
        let (base_fds, base_threads) = (open_descriptors(), threads());
        let mut holder = Helper::start("hold", mechanism, &path, &["ex"]);
        holder.expect("locked");
        // With the holder's pipes and output reader.
        let fds = open_descriptors();
        let thread_count = threads();

        // 1000 failed tries, each with a fresh object.
        for i in 0..1000 {
            let err = if i % 3 == 0 {
                InterProcessLock::with_mechanism(&path, mechanism)
                    .try_lock()
                    .map(drop)
            } else if i % 3 == 1 {
                InterProcessReaderWriterLock::with_mechanism(&path, mechanism)
                    .try_read()
                    .map(drop)
            } else {
                InterProcessReaderWriterLock::with_mechanism(&path, mechanism)
                    .try_write()
                    .map(drop)
            };
            assert_eq!(err.unwrap_err().kind(), ErrorKind::WouldBlock);
        }
        assert_eq!(open_descriptors(), fds, "fresh objects");

        // 1000 failed tries with one object: one descriptor while it lives.
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        for _ in 0..1000 {
            assert_eq!(lock.try_lock().unwrap_err().kind(), ErrorKind::WouldBlock);
        }
        assert_eq!(open_descriptors(), fds + 1, "one object");
        // Close-on-exec.
        let fd = descriptor_of(&path).expect("the lock file is open");
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .unwrap()
            .trim();
        let flags = u32::from_str_radix(flags, 8).unwrap();
        assert_ne!(flags & libc::O_CLOEXEC as u32, 0, "flags {flags:o}");
        drop(lock);
        assert_eq!(open_descriptors(), fds, "object dropped");

        // Failed opens leak nothing either.
        for _ in 0..100 {
            let err = InterProcessLock::with_mechanism(dir.path(), mechanism)
                .lock()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Io);
        }
        assert_eq!(open_descriptors(), fds, "failed opens");

        // Timed-out attempts leave nothing behind, even while the holder
        // still holds: no descriptor once the objects are gone, no thread but
        // the process timer, no request queued in the kernel.
        for _ in 0..20 {
            let lock = InterProcessLock::with_mechanism(&path, mechanism);
            let err = lock.try_lock_for(Duration::from_millis(1)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut);
        }
        assert_eq!(open_descriptors(), fds, "timed-out attempts");
        assert!(threads() <= thread_count + 1);
        assert!(only_the_timer(&crate_threads()), "{:?}", crate_threads());
        holder.send("release");
        holder.expect("released");
        assert!(holder.finish().success());
        assert_eq!(open_descriptors(), base_fds);
        // The helper's output reader may still be on its way out.
        assert!(within(STEP, || threads() <= base_threads + 1));
        // And it left the lock free.
        drop(
            InterProcessLock::with_mechanism(&path, mechanism)
                .try_lock()
                .unwrap(),
        );

        // Lock files locked again and again are watched: one inotify
        // instance for the process however many files, closed with the last
        // lock object of a watched file.
        if !watched_here(dir.path()) {
            skip(
                "no_descriptor_or_thread_leaks_and_close_on_exec (watched files)",
                "the temporary directory is not on a local file system",
            );
            continue;
        }
        let fds = open_descriptors();
        let watched: Vec<_> = (0..3)
            .map(|i| InterProcessLock::with_mechanism(dir.join(&format!("w{i}.lock")), mechanism))
            .collect();
        for _ in 0..4 {
            for lock in &watched {
                drop(lock.lock().unwrap());
            }
        }
        assert_eq!(inotify_instances(), 1, "watched files");
        assert_eq!(open_descriptors(), fds + 3 + 1, "watched files");
        drop(watched);
        assert_eq!(inotify_instances(), 0, "watched files dropped");
        assert_eq!(open_descriptors(), fds, "watched files dropped");
    }
}
