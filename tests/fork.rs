//! A child forked without exec neither keeps its parent's kernel locks alive
//! nor releases them (as with Python fasteners' `lockf`), releases nothing
//! through the guards and holds it inherited, may take locks of its own, and
//! does not hang on the waits its parent had under way.
#![cfg(target_os = "linux")]

mod process_common;

use process_common::{
    inode, mechanisms, queued_in_kernel, try_elsewhere, within, Helper, TempDir, STEP,
};

/// The lock kinds of the helper: `InterProcessLock`, and the write side of
/// `InterProcessReaderWriterLock` (tried elsewhere as a write).
const KINDS: [(&str, &str); 2] = [("ex", "ex"), ("write", "write")];

#[test]
fn a_child_dropping_its_inherited_guard_leaves_the_parent_holding() {
    for mechanism in mechanisms() {
        for (kind, elsewhere) in KINDS {
            let dir = TempDir::new("fork-drop");
            let path = dir.join("a.lock");
            let mut parent = Helper::start("fork-drop", mechanism, &path, &[kind]);
            parent.expect("locked");
            // The inherited guard and Python-style hold release nothing.
            parent.expect("child-release NotHeld");
            parent.expect("child-mirror NotHeld");
            parent.expect("child-dropped");
            assert_eq!(
                try_elsewhere(mechanism, &path, elsewhere),
                "busy",
                "{mechanism:?} {kind}"
            );
            assert_eq!(
                try_elsewhere(mechanism, &path.with_extension("mirror"), "ex"),
                "busy",
                "{mechanism:?} {kind}: mirror"
            );
            // Once the parent releases, the child takes the lock itself.
            parent.send("release");
            parent.expect("child-got");
            parent.expect("child-exit 0");
            assert!(parent.finish().success());
        }
    }
}

/// Kills `pid` on drop, so a failing test leaves no orphan behind.
struct Reap(u32);

impl Drop for Reap {
    fn drop(&mut self) {
        // SAFETY: plain kill(2); the process may already be gone.
        unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGKILL) };
    }
}

#[test]
fn a_child_does_not_keep_its_dead_parents_lock_alive() {
    for mechanism in mechanisms() {
        for (kind, elsewhere) in KINDS {
            let dir = TempDir::new("fork-orphan");
            let path = dir.join("a.lock");
            let mut parent = Helper::start("fork-orphan", mechanism, &path, &[kind]);
            let mut lines = [parent.next_line(), parent.next_line()];
            lines.sort();
            assert_eq!(lines[1], "locked");
            let child: u32 = lines[0]
                .strip_prefix("child-ready ")
                .and_then(|pid| pid.parse().ok())
                .unwrap_or_else(|| panic!("{lines:?}"));
            let _reap = Reap(child);
            assert_eq!(try_elsewhere(mechanism, &path, elsewhere), "busy");
            parent.kill_leader();
            parent.expect("child-orphaned");
            // The parent's death freed the lock although its child lives.
            assert_eq!(
                try_elsewhere(mechanism, &path, elsewhere),
                "got",
                "{mechanism:?} {kind}"
            );
            parent.send("go");
            parent.expect("child-got");
            parent.output_closed();
        }
    }
}

#[test]
fn a_child_forked_while_its_parent_waits_does_not_hang() {
    for mechanism in mechanisms() {
        for (kind, holder_kind) in KINDS {
            let dir = TempDir::new("fork-waiting");
            let path = dir.join("a.lock");
            let other = dir.join("other.lock");
            let mut holder = Helper::start("hold", mechanism, &path, &[holder_kind]);
            holder.expect("locked");
            let inodes = [inode(&path)];
            let mut parent = Helper::start(
                "fork-waiting",
                mechanism,
                &path,
                &[kind, other.to_str().unwrap()],
            );
            parent.expect("waiting");
            // The parent's timed waiter is in the kernel.
            assert!(within(STEP, || queued_in_kernel(&inodes) == 1));
            parent.send("fork");
            parent.expect("child-timed TimedOut");
            parent.expect("child-async TimedOut");
            parent.expect("child-other ok");
            parent.expect("child-exit 0");
            // The parent's own waiters are served as before.
            holder.send("release");
            holder.expect("released");
            parent.send("go on");
            parent.expect("parent-got-both");
            assert!(parent.finish().success());
            assert!(holder.finish().success());
        }
    }
}

#[test]
fn a_child_does_not_share_its_parents_watch_of_a_lock_file() {
    for mechanism in mechanisms() {
        let dir = TempDir::new("fork-watch");
        if !process_common::watched_here(dir.path()) {
            process_common::skip(
                "a_child_does_not_share_its_parents_watch_of_a_lock_file",
                "the temporary directory is not on a local file system",
            );
            return;
        }
        let path = dir.join("a.lock");
        let mut parent = Helper::start("fork-watch", mechanism, &path, &[]);
        // Locked again and again, the file is watched: one instance.
        parent.expect("watching 1");
        // The child's copy of the instance's descriptor points at /dev/null:
        // it cannot drain the parent's events. It watches with its own.
        parent.expect("child-inherited /dev/null");
        parent.expect("child-watching 1");
        parent.expect("child-exit 0");
        // The parent, its watch intact, moved to the file renamed over the
        // path: its lock is on the file there.
        parent.expect("locked");
        assert_eq!(
            try_elsewhere(mechanism, &path, "ex"),
            "busy",
            "{mechanism:?}"
        );
        parent.send("release");
        parent.expect("released");
        assert!(parent.finish().success());
    }
}
