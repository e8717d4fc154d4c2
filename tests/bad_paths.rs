//! Bad lock paths give a clear `Io` error naming the path, never a panic or a
//! hang, and create nothing anywhere; existing lock files keep their bytes.

mod process_common;

use std::path::{Path, PathBuf};

use fasteners::{Error, ErrorKind, InterProcessLock, InterProcessReaderWriterLock, Mechanism};
use process_common::{mechanisms, TempDir};

/// Every way to acquire, each of which must fail with `Io` for `path`.
fn assert_every_acquire_fails(path: &Path, mechanism: Mechanism) {
    let lock = InterProcessLock::with_mechanism(path, mechanism);
    let rw = InterProcessReaderWriterLock::with_mechanism(path, mechanism);
    let timeout = std::time::Duration::from_millis(10);
    let errors: Vec<Error> = vec![
        lock.lock().unwrap_err(),
        lock.try_lock().unwrap_err(),
        lock.try_lock_for(timeout).unwrap_err(),
        lock.acquire(true, None).unwrap_err(),
        rw.read().unwrap_err(),
        rw.try_write_for(timeout).unwrap_err(),
        rw.acquire_read_lock(false, None).unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.kind(), ErrorKind::Io, "{path:?}: {err}");
        assert_eq!(err.path(), Some(path));
        assert!(err.io_error().is_some());
        let text = err.to_string();
        assert!(text.contains(&*path.to_string_lossy()), "{text}");
        let reason = err.io_error().unwrap().to_string();
        assert!(text.contains(&reason), "{text}");
    }
}

/// Every file and directory under `dir`, recursively, with file contents.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                pending.push(path.clone());
                out.push((path, None));
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, Some(bytes)));
            } else {
                out.push((path, None));
            }
        }
    }
    out.sort();
    out
}

/// The names directly in `dir` (the current directory is large: names suffice
/// to see that nothing was created there).
fn names_in(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    names.sort();
    names
}

#[test]
fn bad_paths_are_io_errors_and_create_nothing() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("bad-paths");
        std::fs::write(dir.join("a-file"), b"plain file").unwrap();
        std::fs::create_dir(dir.join("a-dir")).unwrap();
        let before = snapshot(dir.path());
        let cwd_before = names_in(&std::env::current_dir().unwrap());

        // The path is a directory.
        assert_every_acquire_fails(&dir.join("a-dir"), mechanism);
        // A parent is a file.
        assert_every_acquire_fails(&dir.join("a-file/x.lock"), mechanism);
        assert_every_acquire_fails(&dir.join("a-file/deeper/x.lock"), mechanism);
        // Empty.
        assert_every_acquire_fails(Path::new(""), mechanism);
        // A NUL byte.
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let with_nul = dir
                .path()
                .join(std::ffi::OsStr::from_bytes(b"nul\0byte.lock"));
            assert_every_acquire_fails(&with_nul, mechanism);
        }
        // A name longer than any file system allows.
        assert_every_acquire_fails(&dir.join(&"n".repeat(300)), mechanism);
        assert_every_acquire_fails(&dir.join(&format!("{}/x.lock", "d".repeat(300))), mechanism);

        assert_eq!(snapshot(dir.path()), before);
        assert_eq!(names_in(&std::env::current_dir().unwrap()), cwd_before);
    }
}

/// No permission to create the file: a read-only directory, or, where the
/// tests run with privileges that ignore permissions (root), a location no
/// one can create files in.
#[cfg(unix)]
#[test]
fn no_permission_is_an_io_error() {
    use std::os::unix::fs::PermissionsExt;
    for mechanism in mechanisms() {
        let dir = TempDir::new("no-permission");
        let locked_dir = dir.join("read-only");
        std::fs::create_dir(&locked_dir).unwrap();
        std::fs::set_permissions(&locked_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        let probe = locked_dir.join("probe");
        let privileged = std::fs::File::create(&probe).is_ok();
        if privileged {
            std::fs::remove_file(&probe).unwrap();
        }
        let targets = if privileged {
            vec![
                PathBuf::from("/proc/fasteners-no-such-dir/x.lock"),
                PathBuf::from("/proc/version/x.lock"),
            ]
        } else {
            vec![locked_dir.join("x.lock"), locked_dir.join("sub/x.lock")]
        };
        for target in targets {
            assert_every_acquire_fails(&target, mechanism);
            assert!(!target.exists());
        }
        std::fs::set_permissions(&locked_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(std::fs::read_dir(&locked_dir).unwrap().count(), 0);
    }
}

#[test]
fn existing_content_is_untouched_also_through_a_symlink() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("content");
        let content: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let path = dir.join("has-content.lock");
        std::fs::write(&path, &content).unwrap();
        let lock = InterProcessLock::with_mechanism(&path, mechanism);
        lock.lock().unwrap().release().unwrap();
        drop(lock.try_lock().unwrap());
        let rw = InterProcessReaderWriterLock::with_mechanism(&path, mechanism);
        drop(rw.read().unwrap());
        drop(rw.write().unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), content);

        #[cfg(unix)]
        {
            let target = dir.join("target");
            std::fs::write(&target, &content).unwrap();
            let link = dir.join("link.lock");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            let lock = InterProcessLock::with_mechanism(&link, mechanism);
            lock.lock().unwrap().release().unwrap();
            assert_eq!(std::fs::read(&target).unwrap(), content);
            assert!(std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
        }
    }
}

#[test]
fn parent_directories_are_created_on_demand() {
    let dir = TempDir::new("mkdir");
    let path = dir.join("a/b/c/x.lock");
    let lock = InterProcessLock::new(&path);
    assert!(
        !dir.join("a").exists(),
        "nothing touches the disk before acquiring"
    );
    drop(lock.lock().unwrap());
    assert!(path.is_file());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}
