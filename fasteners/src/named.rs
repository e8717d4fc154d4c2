//! Named locks: a lock file called by a name, in one per-user directory.
//!
//! [`InterProcessLock::named`](crate::InterProcessLock::named) and
//! [`InterProcessReaderWriterLock::named`](crate::InterProcessReaderWriterLock::named)
//! lock the file `named_lock_dir().join(name)`. The name is checked by
//! [`check_name`]; the directory is made, private to the user, by
//! [`prepare_dir`] at the first acquire.

use std::io;
use std::path::{Path, PathBuf};

/// The longest name, in bytes: the usual file-name limit (`NAME_MAX`).
const MAX_NAME_BYTES: usize = 255;

/// The directory in which named locks keep their lock files.
///
/// | platform | directory |
/// |---|---|
/// | Unix, `XDG_RUNTIME_DIR` set to an absolute path | `$XDG_RUNTIME_DIR/fasteners` |
/// | Unix otherwise | `fasteners-<uid>` in [`std::env::temp_dir`] (`$TMPDIR`, else `/tmp`) |
/// | Windows | `fasteners` in [`std::env::temp_dir`] (the user's own `%TEMP%`) |
///
/// The directory depends on the environment of the process: two processes
/// share named locks only if they see the same directory. A login session
/// has `XDG_RUNTIME_DIR` set on most Linux systems; a cron job, a system
/// service or `sudo` often has not, and then looks in the temporary
/// directory instead. For locks shared between such processes, set
/// `XDG_RUNTIME_DIR` alike in both, or give a path to
/// [`InterProcessLock::new`](crate::InterProcessLock::new).
///
/// Nothing is created here. The first acquire of a named lock creates the
/// directory if needed (on Unix with mode `0o700`) and, on Unix, refuses a
/// directory that is not a directory of its own (a symlink, for example),
/// belongs to another user or is open to other users (mode bits in `0o077`),
/// so that another user cannot plant or take the lock files.
///
/// # Examples
///
/// ```
/// let dir = fasteners::named_lock_dir();
/// let lock = fasteners::InterProcessLock::named("nightly-report");
/// assert_eq!(lock.path(), dir.join("nightly-report"));
/// ```
#[must_use]
pub fn named_lock_dir() -> PathBuf {
    #[cfg(unix)]
    {
        if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
            let runtime = PathBuf::from(runtime);
            if runtime.is_absolute() {
                return runtime.join("fasteners");
            }
        }
        let uid = rustix::process::getuid().as_raw();
        std::env::temp_dir().join(format!("fasteners-{uid}"))
    }
    #[cfg(not(unix))]
    {
        std::env::temp_dir().join("fasteners")
    }
}

/// Checks a lock name: `Err` says which rule it breaks.
///
/// A name is a file name of its own on every platform: not empty, not `.`
/// or `..`, no path separator (`/` or `\`, on every platform), no NUL byte,
/// at most 255 bytes; on Windows also no `:` (it would name a stream of
/// another file), no trailing `.` or space (Windows drops them) and no
/// device name (`CON`, `NUL`, `COM1`, ...).
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a lock name must not be empty");
    }
    if name == "." || name == ".." {
        return Err("a lock name must not be `.` or `..`");
    }
    if name.contains(['/', '\\']) {
        return Err("a lock name must not contain a path separator (`/` or `\\`)");
    }
    if name.contains('\0') {
        return Err("a lock name must not contain a NUL byte");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("a lock name must be at most 255 bytes long");
    }
    #[cfg(windows)]
    check_windows_name(name)?;
    Ok(())
}

#[cfg(windows)]
fn check_windows_name(name: &str) -> Result<(), &'static str> {
    if name.contains(':') {
        return Err("a lock name must not contain `:` (on Windows it names a stream of a file)");
    }
    if name.ends_with(['.', ' ']) {
        return Err("a lock name must not end with `.` or a space (Windows drops them)");
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    let upper = stem.to_ascii_uppercase();
    let device = matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper.as_bytes()[3].is_ascii_digit());
    if device {
        return Err("a lock name must not be a Windows device name (`CON`, `NUL`, `COM1`, ...)");
    }
    Ok(())
}

/// Makes sure the directory of named locks exists and is the user's own.
pub(crate) fn prepare_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};

        let metadata = match std::fs::symlink_metadata(dir) {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                    Ok(()) => {}
                    // Another thread or process made it meanwhile: check theirs.
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(err) => return Err(err),
                }
                std::fs::symlink_metadata(dir)?
            }
            Err(err) => return Err(err),
        };
        let refuse = |why: String| Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
        if !metadata.is_dir() {
            return refuse("the directory of named locks is not a directory".into());
        }
        let uid = rustix::process::getuid().as_raw();
        if metadata.uid() != uid {
            return refuse(format!(
                "the directory of named locks belongs to uid {}, not to this user (uid {uid})",
                metadata.uid()
            ));
        }
        if metadata.mode() & 0o077 != 0 {
            return refuse(format!(
                "the directory of named locks is open to other users (mode {:o}; 700 expected)",
                metadata.mode() & 0o777
            ));
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_is_named() {
        assert_eq!(check_name("db-migrations"), Ok(()));
        assert_eq!(check_name(".hidden.lock"), Ok(()));
        assert_eq!(check_name(&"x".repeat(255)), Ok(()));
        for (name, rule) in [
            ("", "empty"),
            (".", "`.` or `..`"),
            ("..", "`.` or `..`"),
            ("a/b", "path separator"),
            ("/abs", "path separator"),
            ("a\\b", "path separator"),
            ("a\0b", "NUL"),
        ] {
            let err = check_name(name).unwrap_err();
            assert!(err.contains(rule), "{name:?}: {err}");
        }
        assert!(check_name(&"x".repeat(256))
            .unwrap_err()
            .contains("255 bytes"));
        // The limit is in bytes, not characters.
        assert!(check_name(&"é".repeat(128)).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_open_to_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;

        let dir = std::env::temp_dir().join(format!("fasteners-unit-{}-named", std::process::id()));
        prepare_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        prepare_dir(&dir).unwrap(); // existing and private: fine
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = prepare_dir(&dir).unwrap_err();
        assert!(err.to_string().contains("open to other users"), "{err}");
        std::fs::remove_dir(&dir).unwrap();
        // A symlink to a private directory is not the directory itself.
        let target = dir.with_extension("target");
        prepare_dir(&target).unwrap();
        std::os::unix::fs::symlink(&target, &dir).unwrap();
        let err = prepare_dir(&dir).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        std::fs::remove_file(&dir).unwrap();
        std::fs::remove_dir(&target).unwrap();
    }
}
