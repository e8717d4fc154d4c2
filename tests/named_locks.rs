//! Named locks: one name, one file in the per-user directory, exclusion
//! between processes; invalid names are errors that name the rule, and touch
//! nothing; the directory is the documented one, private to the user.

mod process_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fasteners::{named_lock_dir, ErrorKind, InterProcessLock, InterProcessReaderWriterLock};
use process_common::{Helper, TempDir};

/// A name no other test (or run) uses.
fn unique_name(what: &str) -> String {
    format!("fasteners-test-{what}-{}", std::process::id())
}

/// Another process's one attempt at the named lock `name` in mode `kind`.
fn try_named_elsewhere(name: &str, kind: &str) -> String {
    let mut other = Helper::start(
        "try-named",
        fasteners::Mechanism::default(),
        Path::new(name),
        &[kind],
    );
    let line = other.next_line();
    assert!(other.finish().success(), "helper try-named: {line}");
    line
}

/// Removes the lock file of `name` when dropped.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn two_processes_using_one_name_exclude_each_other() {
    let name = unique_name("exclude");
    let lock = InterProcessLock::named(&name);
    let _cleanup = Cleanup(lock.path().to_owned());
    assert_eq!(lock.path(), named_lock_dir().join(&name));

    let guard = lock.lock().unwrap();
    assert!(lock.path().is_file());
    assert_eq!(try_named_elsewhere(&name, "ex"), "busy");
    assert_eq!(try_named_elsewhere(&name, "read"), "busy");
    // Control: another name is another lock, free meanwhile.
    let other_name = unique_name("exclude-other");
    let _cleanup_other = Cleanup(named_lock_dir().join(&other_name));
    assert_eq!(try_named_elsewhere(&other_name, "ex"), "got");
    drop(guard);
    assert_eq!(try_named_elsewhere(&name, "ex"), "got");
}

#[test]
fn named_reader_writer_lock_shares_the_file_of_the_name() {
    let name = unique_name("rw");
    let rw = InterProcessReaderWriterLock::named(&name);
    let _cleanup = Cleanup(rw.path().to_owned());
    assert_eq!(rw.path(), InterProcessLock::named(&name).path());
    let reading = rw.read().unwrap();
    assert_eq!(try_named_elsewhere(&name, "read"), "got");
    assert_eq!(try_named_elsewhere(&name, "write"), "busy");
    assert_eq!(try_named_elsewhere(&name, "ex"), "busy");
    drop(reading);
    assert_eq!(try_named_elsewhere(&name, "write"), "got");
}

#[test]
fn an_invalid_name_is_an_error_naming_the_rule_at_every_acquire() {
    let cases = [
        ("", "empty"),
        (".", "`.` or `..`"),
        ("..", "`.` or `..`"),
        ("../escape", "path separator"),
        ("sub/dir", "path separator"),
        ("back\\slash", "path separator"),
        ("nul\0byte", "NUL"),
    ];
    let long = "x".repeat(256);
    let dir = named_lock_dir();
    let outside = dir.parent().unwrap().join("escape");
    let existed = outside.exists();
    for (name, rule) in cases.iter().copied().chain([(long.as_str(), "255 bytes")]) {
        let lock = InterProcessLock::named(name);
        let errors = [
            lock.lock().map(drop),
            lock.try_lock().map(drop),
            lock.try_lock_for(Duration::from_secs(60)).map(drop),
            lock.acquire(true, None).map(drop),
            lock.try_lock_async().map(drop),
        ];
        for err in errors {
            let err = err.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidName, "{name:?}");
            assert!(err.to_string().contains(rule), "{name:?}: {err}");
            assert!(!err.is_contention());
            assert_eq!(
                std::io::Error::from(err).kind(),
                std::io::ErrorKind::InvalidInput
            );
        }
        assert!(!lock.is_held());
        let rw = InterProcessReaderWriterLock::named(name);
        assert_eq!(rw.read().unwrap_err().kind(), ErrorKind::InvalidName);
        assert_eq!(rw.try_write().unwrap_err().kind(), ErrorKind::InvalidName);
    }
    // Nothing was created outside the directory.
    assert_eq!(outside.exists(), existed);
}

#[cfg(unix)]
fn run_named_dir(env: &[(&str, Option<&Path>)], name: &str) -> (String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fasteners-test-helper"));
    cmd.args(["named-dir", "ofd", name]);
    for (key, value) in env {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let mut child = Helper::spawn(cmd, "helper named-dir".into());
    let dir = child.next_line();
    let locked = child.next_line();
    assert!(child.finish().success());
    (dir, locked)
}

#[cfg(unix)]
#[test]
fn the_directory_is_xdg_runtime_dir_or_a_private_one_in_the_temp_dir() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    let base = TempDir::new("named-dir");
    let runtime = base.join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (dir, locked) = run_named_dir(&[("XDG_RUNTIME_DIR", Some(&runtime))], "job");
    let expected = runtime.join("fasteners");
    assert_eq!(dir, format!("dir {}", expected.display()));
    assert_eq!(locked, format!("locked {}", expected.join("job").display()));
    assert_eq!(std::fs::metadata(&expected).unwrap().mode() & 0o777, 0o700);
    assert!(expected.join("job").is_file());

    // Without XDG_RUNTIME_DIR (or with a relative one): the temp dir.
    let tmp = base.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let uid = std::fs::metadata(&tmp).unwrap().uid();
    let expected = tmp.join(format!("fasteners-{uid}"));
    for xdg in [None, Some(Path::new("relative"))] {
        let (dir, locked) =
            run_named_dir(&[("XDG_RUNTIME_DIR", xdg), ("TMPDIR", Some(&tmp))], "job");
        assert_eq!(dir, format!("dir {}", expected.display()));
        assert_eq!(locked, format!("locked {}", expected.join("job").display()));
    }
    assert_eq!(std::fs::metadata(&expected).unwrap().mode() & 0o777, 0o700);

    // A directory open to other users is refused, with the reason.
    std::fs::set_permissions(&expected, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (_, locked) = run_named_dir(&[("XDG_RUNTIME_DIR", None), ("TMPDIR", Some(&tmp))], "job");
    assert!(locked.starts_with("error Io "), "{locked}");
    assert!(locked.contains("open to other users"), "{locked}");
    assert!(
        locked.contains(&*expected.display().to_string()),
        "{locked}"
    );
}
