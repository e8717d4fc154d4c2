//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A specialised [`Result`](std::result::Result) whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as a value to match on.
///
/// # Examples
///
/// ```
/// use fasteners::{ErrorKind, ReaderWriterLock};
///
/// let lock = ReaderWriterLock::new();
/// let err = lock.release_read_lock().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotHeld);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A non-blocking attempt found the lock taken.
    WouldBlock,
    /// A timed attempt gave up: the lock stayed taken for the whole timeout.
    TimedOut,
    /// Waiting could never end: the calling thread already holds the lock in a
    /// way that conflicts with the request (re-acquiring a lock that is not
    /// re-entrant, or asking for the write side while holding the read side).
    WouldDeadlock,
    /// A release was asked for a lock that the caller does not hold.
    NotHeld,
    /// The operating system refused an operation on the lock file: opening it,
    /// creating its directory, locking or unlocking it.
    /// [`Error::io_error`] (and [`std::error::Error::source`]) gives the OS error.
    Io,
    /// An argument cannot be used: for a PostgreSQL lock, a connection string
    /// that does not parse.
    InvalidInput,
    /// The lock's server could not be used: the connection was refused, the
    /// login failed, a query failed, or the connection was lost while waiting.
    /// [`std::error::Error::source`] gives the client library's error.
    Server,
    /// A lock that was held has been lost: its server session ended (the
    /// connection dropped, the backend was terminated, the server restarted)
    /// or stopped answering, so the server no longer holds it for this caller.
    Lost,
    /// The name of a named lock ([`InterProcessLock::named`](crate::InterProcessLock::named))
    /// breaks a rule; the message names the rule.
    InvalidName,
}

/// The error of every fallible operation in this crate.
///
/// It names the lock it is about (the lock file's path, or the kind of
/// in-process lock), says what happened, and, for [`ErrorKind::Io`], carries
/// the [`io::Error`] the operating system returned, available through
/// [`source`](std::error::Error::source).
///
/// # Examples
///
/// ```
/// use fasteners::{ErrorKind, InterProcessLock};
///
/// let dir = std::env::temp_dir();
/// // A directory cannot be a lock file.
/// let lock = InterProcessLock::new(&dir);
/// let err = lock.lock().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Io);
/// assert_eq!(err.path(), Some(dir.as_path()));
/// assert!(err.to_string().contains(&*dir.to_string_lossy()));
/// ```
pub struct Error(Box<Inner>);

/// What an [`Error`] says, behind one pointer: every `Result` of an
/// acquisition carries an `Error`, so a small one keeps the successful path
/// from copying (and dropping) a large value.
struct Inner {
    kind: ErrorKind,
    lock: LockName,
    detail: Detail,
}

/// Which lock an error is about.
#[derive(Debug, Clone)]
enum LockName {
    Path(PathBuf),
    InProcess(&'static str),
    /// A lock on a server, described (never with a password).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Server(std::sync::Arc<str>),
}

#[derive(Debug)]
enum Detail {
    /// Found taken (would block); the holder's pid where known.
    Busy(Option<u32>),
    Message(&'static str),
    /// Timed out after this long; the holder's pid where known.
    Timeout(Duration, Option<u32>),
    Io {
        action: &'static str,
        source: io::Error,
    },
    /// A failure of a server lock: what failed, and why (the client
    /// library's error chain, flattened to text, without a password).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Server {
        action: &'static str,
        cause: String,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The name, and the rule it breaks.
    InvalidName(String, &'static str),
}

impl Error {
    fn new(kind: ErrorKind, lock: LockName, detail: Detail) -> Self {
        Error(Box::new(Inner { kind, lock, detail }))
    }

    /// A non-blocking attempt on the lock file at `path` found it taken.
    pub(crate) fn would_block(path: &Path) -> Self {
        Self::new(
            ErrorKind::WouldBlock,
            LockName::Path(path.to_owned()),
            Detail::Busy(None),
        )
    }

    /// A timed attempt on the lock file at `path` gave up after `timeout`.
    pub(crate) fn timed_out(path: &Path, timeout: Duration) -> Self {
        Self::new(
            ErrorKind::TimedOut,
            LockName::Path(path.to_owned()),
            Detail::Timeout(timeout, None),
        )
    }

    /// The lock file at `path` cannot be acquired by this caller without
    /// deadlocking; `why` completes the sentence "would deadlock: ...".
    pub(crate) fn would_deadlock(path: &Path, why: &'static str) -> Self {
        Self::new(
            ErrorKind::WouldDeadlock,
            LockName::Path(path.to_owned()),
            Detail::Message(why),
        )
    }

    /// The caller released the lock file at `path` without holding it.
    pub(crate) fn not_held(path: &Path, what: &'static str) -> Self {
        Self::new(
            ErrorKind::NotHeld,
            LockName::Path(path.to_owned()),
            Detail::Message(what),
        )
    }

    /// The name of a named lock, whose file would be `path`, breaks `rule`.
    pub(crate) fn invalid_name(path: &Path, name: &str, rule: &'static str) -> Self {
        Self::new(
            ErrorKind::InvalidName,
            LockName::Path(path.to_owned()),
            Detail::InvalidName(name.to_owned(), rule),
        )
    }

    /// The OS refused `action` (for example "open", "lock", "unlock") on `path`.
    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> Self {
        Self::new(
            ErrorKind::Io,
            LockName::Path(path.to_owned()),
            Detail::Io { action, source },
        )
    }

    /// An in-process lock, described by `lock` (for example
    /// "reader-writer lock"), refused with `kind`; `message` says why.
    pub(crate) fn in_process(kind: ErrorKind, lock: &'static str, message: &'static str) -> Self {
        Self::new(kind, LockName::InProcess(lock), Detail::Message(message))
    }

    /// An in-process lock, described by `lock`, timed out after `timeout`.
    pub(crate) fn in_process_timed_out(lock: &'static str, timeout: Duration) -> Self {
        Self::new(
            ErrorKind::TimedOut,
            LockName::InProcess(lock),
            Detail::Timeout(timeout, None),
        )
    }

    /// A server lock, described by `lock`, failed with `kind` while doing
    /// `action` ("connect", "lock", "unlock"...), because of `cause`.
    #[cfg(feature = "postgres")]
    pub(crate) fn server(
        kind: ErrorKind,
        lock: &std::sync::Arc<str>,
        action: &'static str,
        cause: String,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::new(
            kind,
            LockName::Server(std::sync::Arc::clone(lock)),
            Detail::Server {
                action,
                cause,
                source,
            },
        )
    }

    /// A server lock, described by `lock`, refused with `kind`: `message`
    /// says why ([`ErrorKind::WouldBlock`], [`ErrorKind::WouldDeadlock`],
    /// [`ErrorKind::NotHeld`]).
    #[cfg(feature = "postgres")]
    pub(crate) fn server_refused(
        kind: ErrorKind,
        lock: &std::sync::Arc<str>,
        message: &'static str,
    ) -> Self {
        Self::new(
            kind,
            LockName::Server(std::sync::Arc::clone(lock)),
            Detail::Message(message),
        )
    }

    /// A server lock, described by `lock`, timed out after `timeout`.
    #[cfg(feature = "postgres")]
    pub(crate) fn server_timed_out(lock: &std::sync::Arc<str>, timeout: Duration) -> Self {
        Self::new(
            ErrorKind::TimedOut,
            LockName::Server(std::sync::Arc::clone(lock)),
            Detail::Timeout(timeout, None),
        )
    }

    /// The same error, naming `pid` as the lock's holder.
    pub(crate) fn with_holder_pid(mut self, pid: u32) -> Self {
        if let Detail::Busy(holder) | Detail::Timeout(_, holder) = &mut self.0.detail {
            *holder = Some(pid);
        }
        self
    }

    /// What went wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::{ErrorKind, InterProcessLock};
    ///
    /// let path = std::env::temp_dir().join(format!("err-kind-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessLock::new(&path);
    /// let _guard = lock.lock()?;
    /// match lock.try_lock() {
    ///     Err(err) if err.kind() == ErrorKind::WouldDeadlock => {} // this thread holds it
    ///     other => panic!("{other:?}"),
    /// }
    /// # drop(_guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The path of the lock file this error is about, if it is about a file lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// use fasteners::{InterProcessLock, ReaderWriterLock};
    ///
    /// let err = InterProcessLock::new("").lock().unwrap_err();
    /// assert_eq!(err.path(), Some(Path::new("")));
    /// // An in-process lock has no path.
    /// let err = ReaderWriterLock::new().release_read_lock().unwrap_err();
    /// assert_eq!(err.path(), None);
    /// ```
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match &self.0.lock {
            LockName::Path(path) => Some(path),
            LockName::InProcess(_) | LockName::Server(_) => None,
        }
    }

    /// The operating system's error, for [`ErrorKind::Io`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::InterProcessLock;
    ///
    /// // A directory cannot be a lock file: the OS says why.
    /// let err = InterProcessLock::new(std::env::temp_dir()).lock().unwrap_err();
    /// let os = err.io_error().expect("an OS error");
    /// println!("{}: {os} ({:?})", err.path().unwrap().display(), os.kind());
    /// ```
    #[must_use]
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.0.detail {
            Detail::Io { source, .. } => Some(source),
            _ => None,
        }
    }

    /// For contention ([`ErrorKind::WouldBlock`], [`ErrorKind::TimedOut`]) on
    /// a lock file: the process id of the holder, where it is known. It is
    /// this process's own id when another thread or task of this process
    /// holds the lock; another process's id when the kernel reports it (on
    /// Linux, for a POSIX `lockf` / `fcntl` holder such as a Python fasteners
    /// process); `None` otherwise (another process holding an OFD or `flock`
    /// lock: the kernel does not say which).
    ///
    /// # Examples
    ///
    /// ```
    /// use fasteners::InterProcessLock;
    ///
    /// let path = std::env::temp_dir().join(format!("err-pid-doc-{}.lock", std::process::id()));
    /// let lock = InterProcessLock::new(&path);
    /// let _guard = lock.lock()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let err = InterProcessLock::new(&path).try_lock().unwrap_err();
    ///         // Another thread of this process holds it.
    ///         assert_eq!(err.holder_pid(), Some(std::process::id()));
    ///         assert!(err.to_string().contains(&format!("held by pid {}", std::process::id())));
    ///     });
    /// });
    /// # drop(_guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn holder_pid(&self) -> Option<u32> {
        match self.0.detail {
            Detail::Busy(holder) | Detail::Timeout(_, holder) => holder,
            _ => None,
        }
    }

    /// Whether a later attempt may succeed without anything changing on the
    /// caller's side: true for [`ErrorKind::WouldBlock`] and [`ErrorKind::TimedOut`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fasteners::InterProcessLock;
    ///
    /// let path = std::env::temp_dir().join(format!("err-cont-doc-{}.lock", std::process::id()));
    /// let holder = InterProcessLock::new(&path);
    /// let _guard = holder.lock()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let other = InterProcessLock::new(&path);
    ///         match other.try_lock_for(Duration::from_millis(10)).map(drop) {
    ///             Err(err) if err.is_contention() => println!("busy, try later: {err}"),
    ///             Err(err) => panic!("a real failure: {err}"),
    ///             Ok(()) => panic!("it is held"),
    ///         }
    ///     });
    /// });
    /// # drop(_guard);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_contention(&self) -> bool {
        matches!(self.0.kind, ErrorKind::WouldBlock | ErrorKind::TimedOut)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("kind", &self.0.kind);
        match &self.0.lock {
            LockName::Path(path) => s.field("path", path),
            LockName::InProcess(name) => s.field("lock", name),
            LockName::Server(name) => s.field("lock", name),
        };
        match &self.0.detail {
            Detail::Busy(_) => {}
            Detail::Message(message) => {
                s.field("message", message);
            }
            Detail::Timeout(timeout, _) => {
                s.field("timeout", timeout);
            }
            Detail::Io { action, source } => {
                s.field("action", action).field("source", source);
            }
            Detail::Server { action, cause, .. } => {
                s.field("action", action).field("cause", cause);
            }
            Detail::InvalidName(name, rule) => {
                s.field("name", name).field("rule", rule);
            }
        }
        if let Some(pid) = self.holder_pid() {
            s.field("holder_pid", &pid);
        }
        s.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.lock {
            LockName::Path(path) => write!(f, "lock file `{}`: ", path.display())?,
            LockName::InProcess(name) => write!(f, "{name}: ")?,
            LockName::Server(name) => write!(f, "{name}: ")?,
        }
        match (&self.0.detail, self.0.kind) {
            (Detail::Io { action, source }, _) => write!(f, "cannot {action}: {source}")?,
            (Detail::Server { action, cause, .. }, ErrorKind::Lost) => {
                write!(f, "lost while {action}: {cause}")?;
            }
            (Detail::Server { action, cause, .. }, _) => write!(f, "cannot {action}: {cause}")?,
            (Detail::InvalidName(name, rule), _) => {
                write!(f, "invalid lock name {name:?}: {rule}")?;
            }
            (Detail::Timeout(timeout, _), _) => write!(f, "timed out after {timeout:?}")?,
            (Detail::Message(message), ErrorKind::WouldDeadlock) => {
                write!(f, "would deadlock: {message}")?;
            }
            (Detail::Message(message), ErrorKind::NotHeld) => write!(f, "not held: {message}")?,
            (Detail::Message(message), _) => f.write_str(message)?,
            (Detail::Busy(_), _) => f.write_str("held elsewhere (would block)")?,
        }
        match self.holder_pid() {
            Some(pid) => write!(f, "; held by pid {pid}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.detail {
            Detail::Io { source, .. } => Some(source),
            Detail::Server {
                source: Some(source),
                ..
            } => Some(&**source),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    /// Turns the error into an [`io::Error`] of the matching kind
    /// ([`io::ErrorKind::WouldBlock`], [`io::ErrorKind::TimedOut`],
    /// [`io::ErrorKind::Deadlock`] is unstable so [`io::ErrorKind::Other`]
    /// stands for would-deadlock and not-held, [`io::ErrorKind::InvalidInput`]
    /// for an invalid name, and the OS error's own kind for I/O), keeping the message, so that functions returning [`io::Result`]
    /// can use `?` on this crate's results.
    fn from(err: Error) -> Self {
        let kind = match err.kind() {
            ErrorKind::WouldBlock => io::ErrorKind::WouldBlock,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::WouldDeadlock | ErrorKind::NotHeld | ErrorKind::Server => {
                io::ErrorKind::Other
            }
            ErrorKind::InvalidName | ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
            ErrorKind::Lost => io::ErrorKind::ConnectionAborted,
            ErrorKind::Io => err.io_error().map_or(io::ErrorKind::Other, io::Error::kind),
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_path_and_the_os_reason() {
        let source = io::Error::from_raw_os_error(13);
        let reason = source.to_string();
        let err = Error::io(Path::new("/x/y.lock"), "open", source);
        let text = err.to_string();
        assert!(text.contains("/x/y.lock"), "{text}");
        assert!(text.contains(&reason), "{text}");
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn io_conversion_keeps_the_kind() {
        let err = Error::timed_out(Path::new("a.lock"), Duration::from_millis(5));
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);
        let err = Error::would_block(Path::new("a.lock"));
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::WouldBlock);
        let err = Error::io(
            Path::new("a.lock"),
            "open",
            io::ErrorKind::PermissionDenied.into(),
        );
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn in_process_errors_name_the_lock() {
        let err = Error::in_process(ErrorKind::NotHeld, "reader-writer lock", "no read lock");
        assert_eq!(err.path(), None);
        assert_eq!(
            err.to_string(),
            "reader-writer lock: not held: no read lock"
        );
    }
}
