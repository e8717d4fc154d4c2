//! Shared locks on a lock file the process may only read: an existing file
//! on a read-only mount, or one of another user with mode 0644. The read lock
//! works (and excludes writers elsewhere); an exclusive lock is an error that
//! says the file could only be opened read-only.
#![cfg(target_os = "linux")]

mod process_common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use fasteners::Mechanism;
use process_common::{mechanism_arg, mechanisms, skip, try_elsewhere, Helper, TempDir};

const HELPER: &str = env!("CARGO_BIN_EXE_fasteners-test-helper");

fn expect_read_only(mut helper: Helper) {
    helper.expect("read ok");
    for side in ["write", "ex"] {
        let line = helper.next_line();
        assert!(
            line.starts_with(&format!("{side} Io: ")) && line.contains("read-only"),
            "{line}"
        );
    }
    assert!(helper.finish().success());
}

#[test]
fn a_lock_file_on_a_read_only_mount_takes_shared_locks() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("ro-mount");
        let mount = dir.join("mnt");
        std::fs::create_dir(&mount).unwrap();
        let script = format!(
            "mount -t tmpfs tmpfs {m} && : > {m}/a.lock && mount -o remount,ro {m} \
             && exec {HELPER} ro-check {mech} {m}/a.lock",
            m = mount.display(),
            mech = mechanism_arg(mechanism),
        );
        let probe = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .status();
        if !probe.is_ok_and(|status| status.success()) {
            return skip(
                "a_lock_file_on_a_read_only_mount_takes_shared_locks",
                "no private mount namespace (needs root and unshare)",
            );
        }
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
        let helper = Helper::spawn(
            cmd,
            format!("ro-check on a read-only tmpfs ({mechanism:?})"),
        );
        expect_read_only(helper);
    }
}

/// Runs the helper as the unprivileged user `nobody`.
fn as_nobody(mechanism: Mechanism, command: &str, path: &Path, args: &[&str]) -> Helper {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        HELPER,
        command,
    ])
    .arg(mechanism_arg(mechanism))
    .arg(path)
    .args(args);
    Helper::spawn(cmd, format!("{command} as nobody ({mechanism:?})"))
}

#[test]
fn another_users_0644_lock_file_takes_shared_locks() {
    // SAFETY: plain geteuid(2).
    if unsafe { libc::geteuid() } != 0 {
        return skip(
            "another_users_0644_lock_file_takes_shared_locks",
            "needs root to run a helper as another user",
        );
    }
    for mechanism in mechanisms() {
        let dir = TempDir::new("ro-user");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("a.lock");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        expect_read_only(as_nobody(mechanism, "ro-check", &path, &[]));

        // The read-only reader excludes writers and shares with readers.
        let mut reader = as_nobody(mechanism, "hold", &path, &["read"]);
        reader.expect("locked");
        assert_eq!(try_elsewhere(mechanism, &path, "write"), "busy");
        assert_eq!(try_elsewhere(mechanism, &path, "read"), "got");
        reader.release_and_finish();
        assert_eq!(try_elsewhere(mechanism, &path, "write"), "got");
    }
}
