//! What [`InterProcessLock::held_elsewhere`](crate::InterProcessLock::held_elsewhere)
//! reports: another process's hold on a lock file.

use crate::sys::Mode;

/// The side of a lock a holder has.
///
/// # Examples
///
/// ```
/// use fasteners::LockMode;
///
/// assert_ne!(LockMode::Shared, LockMode::Exclusive);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockMode {
    /// The read side: other readers may hold it at the same time.
    Shared,
    /// The write side (or an [`InterProcessLock`](crate::InterProcessLock)):
    /// nobody else holds it meanwhile.
    Exclusive,
}

impl From<Mode> for LockMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Shared => LockMode::Shared,
            Mode::Exclusive => LockMode::Exclusive,
        }
    }
}

/// Another process's hold on a lock file, as the kernel reported it when
/// asked: in which mode, and by which process where the kernel says.
///
/// # Examples
///
/// ```
/// use fasteners::{InterProcessLock, LockMode};
///
/// let path = std::env::temp_dir().join(format!("holder-doc-{}.lock", std::process::id()));
/// let lock = InterProcessLock::new(&path);
/// match lock.held_elsewhere()? {
///     Some(holder) => println!("held ({:?}) by pid {:?}", holder.mode(), holder.pid()),
///     None => println!("free, as far as other processes go"),
/// }
/// # Ok::<(), fasteners::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockHolder {
    mode: LockMode,
    pid: Option<u32>,
}

impl LockHolder {
    pub(crate) fn new(mode: Mode, pid: Option<u32>) -> Self {
        LockHolder {
            mode: mode.into(),
            pid,
        }
    }

    /// The side it holds (with several readers, one of them is reported).
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("holder-mode-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessLock::new(&path);
    /// if let Some(holder) = lock.held_elsewhere()? {
    ///     assert_eq!(holder.mode(), fasteners::LockMode::Exclusive);
    /// }
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    #[must_use]
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// The holder's process id, where the kernel reports one: for a POSIX
    /// record lock (`fcntl` / `lockf`, as Python fasteners takes) on Linux;
    /// `None` for an open-file-description lock (this crate's default on
    /// Linux) and with [`Mechanism::Flock`](crate::Mechanism::Flock).
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("holder-pid-doc-{}.lock", std::process::id()));
    /// let lock = fasteners::InterProcessLock::new(&path);
    /// if let Some(pid) = lock.held_elsewhere()?.and_then(|holder| holder.pid()) {
    ///     eprintln!("waiting for process {pid}");
    /// }
    /// # Ok::<(), fasteners::Error>(())
    /// ```
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }
}
