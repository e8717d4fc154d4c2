//! Uncontended costs of the process locks against the kernel's floor: a raw
//! lock + unlock pair on an already-open file, per mechanism.
//!
//! `cargo bench --bench process_lock -- --warm-up-time 1 --measurement-time 3`

mod support;

use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc;

use criterion::{criterion_group, criterion_main, Criterion};
use support::open;
#[cfg(target_os = "linux")]
use support::raw_ofd_pair;

use fasteners::{InterProcessLock, InterProcessReaderWriterLock, Mechanism};

fn bench_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fasteners-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A plain `fstat`, as the locks make on Linux; returns the link count.
#[cfg(target_os = "linux")]
fn raw_fstat(file: &File) -> u64 {
    use std::os::unix::io::AsRawFd;
    // SAFETY: `stat` is plain integers; all-zero is a valid value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open and `stat` is a valid buffer.
    assert_eq!(unsafe { libc::fstat(file.as_raw_fd(), &mut stat) }, 0);
    stat.st_nlink
}

fn mechanisms() -> Vec<(&'static str, Mechanism)> {
    #[cfg(target_os = "linux")]
    return vec![("ofd", Mechanism::Ofd), ("flock", Mechanism::Flock)];
    #[cfg(not(target_os = "linux"))]
    return vec![("flock", Mechanism::Flock)];
}

fn uncontended(c: &mut Criterion) {
    let dir = bench_dir();
    for (name, mechanism) in mechanisms() {
        let mut group = c.benchmark_group(format!("uncontended/{name}"));
        let raw_file = open(&dir.join(format!("raw-{name}.lock")));
        // The lock objects' files are created now, so that by the time they
        // are measured their change time has settled, as a lock file's in
        // use has: a file changed in the last 2 s is checked with a full
        // `stat(path)` at every acquisition.
        for file in ["ipl", "rw"] {
            drop(open(&dir.join(format!("{file}-{name}.lock"))));
        }
        group.bench_function("raw lock+unlock pair", |b| match mechanism {
            #[cfg(target_os = "linux")]
            Mechanism::Ofd => b.iter(|| raw_ofd_pair(&raw_file)),
            _ => b.iter(|| {
                fs4::FileExt::lock(&raw_file).unwrap();
                fs4::FileExt::unlock(&raw_file).unwrap();
            }),
        });
        // Python fasteners' way: open, lock, unlock and close at every cycle.
        let fresh_path = dir.join(format!("fresh-{name}.lock"));
        group.bench_function("fs4 on a fresh open", |b| {
            b.iter(|| {
                let file = open(&fresh_path);
                fs4::FileExt::lock(&file).unwrap();
                fs4::FileExt::unlock(&file).unwrap();
            })
        });
        let stat_path = dir.join(format!("raw-{name}.lock"));
        group.bench_function("stat(path) alone", |b| {
            b.iter(|| std::fs::metadata(&stat_path).unwrap())
        });
        // The floor of a lock that checks the file's identity after locking.
        group.bench_function("raw pair + stat(path)", |b| match mechanism {
            #[cfg(target_os = "linux")]
            Mechanism::Ofd => b.iter(|| {
                raw_ofd_pair(&raw_file);
                std::fs::metadata(&stat_path).unwrap()
            }),
            _ => b.iter(|| {
                fs4::FileExt::lock(&raw_file).unwrap();
                let metadata = std::fs::metadata(&stat_path).unwrap();
                fs4::FileExt::unlock(&raw_file).unwrap();
                metadata
            }),
        });
        // The floor of the check the locks make: `fstat` of the descriptor.
        group.bench_function("raw pair + fstat", |b| match mechanism {
            #[cfg(target_os = "linux")]
            Mechanism::Ofd => b.iter(|| {
                raw_ofd_pair(&raw_file);
                raw_fstat(&raw_file)
            }),
            _ => b.iter(|| {
                fs4::FileExt::lock(&raw_file).unwrap();
                let metadata = raw_file.metadata().unwrap();
                fs4::FileExt::unlock(&raw_file).unwrap();
                metadata
            }),
        });

        let lock =
            InterProcessLock::with_mechanism(dir.join(format!("ipl-{name}.lock")), mechanism);
        group.bench_function("InterProcessLock lock+release", |b| {
            b.iter(|| drop(lock.lock().unwrap()))
        });
        group.bench_function("InterProcessLock try_lock+release", |b| {
            b.iter(|| drop(lock.try_lock().unwrap()))
        });

        let rw = InterProcessReaderWriterLock::with_mechanism(
            dir.join(format!("rw-{name}.lock")),
            mechanism,
        );
        group.bench_function("RW read+release", |b| b.iter(|| drop(rw.read().unwrap())));
        group.bench_function("RW write+release", |b| b.iter(|| drop(rw.write().unwrap())));

        // Another thread of this process already holds the shared side: a
        // second reader pays only the in-process bookkeeping.
        let (hold, holding) = mpsc::channel();
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            let rw = &rw;
            s.spawn(move || {
                let guard = rw.read().unwrap();
                hold.send(()).unwrap();
                let _ = stopped.recv();
                drop(guard);
            });
            holding.recv().unwrap();
            group.bench_function("RW second reader in the process", |b| {
                b.iter(|| drop(rw.read().unwrap()))
            });
            stop.send(()).unwrap();
        });
        group.finish();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What single system calls cost here, for the floors in BENCHMARKS.md: the
/// cheapest call, the `fstat` of the identity check, and `FIONREAD` on an
/// inotify descriptor (what a check through an inotify watch would need at
/// every acquisition to know that no event is pending), each also between
/// a raw lock and unlock as the check runs.
#[cfg(target_os = "linux")]
fn system_calls(c: &mut Criterion) {
    let dir = bench_dir();
    let path = dir.join("syscalls.lock");
    let file = open(&path);
    // SAFETY: plain calls on a valid path and a descriptor this function owns.
    let inotify = unsafe {
        let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
        assert!(fd >= 0);
        let path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        let mask = libc::IN_ATTRIB | libc::IN_MOVE_SELF | libc::IN_DELETE_SELF;
        assert!(libc::inotify_add_watch(fd, path.as_ptr(), mask) >= 0);
        fd
    };
    let pending = || {
        let mut bytes: libc::c_int = 0;
        // SAFETY: `inotify` is open and `bytes` is a valid out-parameter.
        assert_eq!(
            unsafe { libc::ioctl(inotify, libc::FIONREAD, &mut bytes) },
            0
        );
        bytes
    };
    let mut group = c.benchmark_group("system calls");
    // SAFETY: `getppid` has no arguments and cannot fail.
    group.bench_function("getppid", |b| b.iter(|| unsafe { libc::getppid() }));
    group.bench_function("fstat", |b| b.iter(|| raw_fstat(&file)));
    group.bench_function("inotify FIONREAD", |b| b.iter(pending));
    group.bench_function("raw pair", |b| b.iter(|| raw_ofd_pair(&file)));
    group.bench_function("raw pair + fstat", |b| {
        b.iter(|| {
            raw_ofd_pair(&file);
            raw_fstat(&file)
        })
    });
    group.bench_function("raw pair + inotify FIONREAD", |b| {
        b.iter(|| {
            raw_ofd_pair(&file);
            pending()
        })
    });
    group.finish();
    // SAFETY: `inotify` is open and owned here.
    unsafe { libc::close(inotify) };
    drop(file);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(target_os = "linux"))]
fn system_calls(_: &mut Criterion) {}

criterion_group!(benches, uncontended, system_calls);
criterion_main!(benches);
