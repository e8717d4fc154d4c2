//! The wake-up signal that ends a blocking lock call early.
//!
//! A blocking `fcntl(F_OFD_SETLKW)` or `flock(2)` cannot be given a timeout,
//! but it returns `EINTR` when a signal whose handler was installed without
//! `SA_RESTART` interrupts it. Timed waits (and the background waiter of async
//! waits, when nobody waits for it any more) are ended that way: the process
//! timer ([`crate::timer`]) sends this signal to the waiting thread with
//! `pthread_kill`, again every millisecond until the thread has left its wait.
//!
//! The signal is chosen once, on the first wait that needs it: the highest
//! real-time signal whose disposition is still the default (`SIG_DFL`), so a
//! signal the application has claimed is never taken. Its handler is empty
//! (async-signal-safe by construction) and installed without `SA_RESTART`.
//! Before each wait, [`usable`] checks that the handler is still this one and
//! that the signal is not blocked in the calling thread; if either fails (or
//! no signal was free, or the application opted out), the wait polls instead
//! ([`crate::lock_file`]), which also leaves nothing behind.
//!
//! Opting out: `FASTENERS_WAIT_SIGNAL=none` in the environment (read once), or
//! [`disable_wait_signal`] before the first wait.
//! `FASTENERS_WAIT_SIGNAL=<number>` asks for that signal instead, used only if
//! its disposition is the default.
//!
//! Only Linux (and Android) has this path: elsewhere [`usable`] is `None` and
//! timed and async waits poll.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::OnceLock;

    pub(crate) type Thread = libc::pthread_t;

    static DISABLED: AtomicBool = AtomicBool::new(false);
    static CHOSEN: OnceLock<Option<libc::c_int>> = OnceLock::new();

    /// The handler: its only job is to exist, so that the blocked call
    /// returns `EINTR`. An empty body is async-signal-safe.
    extern "C" fn on_wake_signal(_: libc::c_int) {}

    fn handler_address() -> libc::sighandler_t {
        on_wake_signal as extern "C" fn(libc::c_int) as libc::sighandler_t
    }

    /// The current disposition of `signal`, or `None` if it cannot be read.
    fn disposition(signal: libc::c_int) -> Option<libc::sighandler_t> {
        // SAFETY: `sigaction` is plain data; all-zero is a valid value.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only queries; `current` is a valid buffer.
        let result = unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) };
        (result == 0).then_some(current.sa_sigaction)
    }

    /// Installs the empty handler on `signal`, without `SA_RESTART`.
    fn install(signal: libc::c_int) -> bool {
        // SAFETY: as above.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = handler_address();
        action.sa_flags = 0; // no SA_RESTART: the blocked call must return EINTR
                             // SAFETY: `sa_mask` is a valid set to initialise.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: `action` is fully initialised; the old action is not wanted.
        unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) == 0 }
    }

    fn choose() -> Option<libc::c_int> {
        let wanted = std::env::var("FASTENERS_WAIT_SIGNAL").ok();
        let candidates: Vec<libc::c_int> = match wanted.as_deref().map(str::trim) {
            Some("none" | "off" | "0") => return None,
            Some(number) if number.parse::<libc::c_int>().is_ok() => {
                vec![number.parse().unwrap_or_default()]
            }
            _ => (libc::SIGRTMIN()..=libc::SIGRTMAX()).rev().collect(),
        };
        // Check and install are two calls: a thread of the application that
        // installs a handler on the same signal in between would have it
        // replaced. Applications install their handlers at start-up, before
        // any lock waits; the window is that of the first wait.
        candidates
            .into_iter()
            .find(|&signal| disposition(signal) == Some(libc::SIG_DFL) && install(signal))
    }

    pub(crate) fn disable() {
        DISABLED.store(true, Ordering::Relaxed);
    }

    /// The wake-up signal chosen, if one was needed and it is not disabled.
    pub(crate) fn usable_quietly() -> Option<libc::c_int> {
        if DISABLED.load(Ordering::Relaxed) {
            return None;
        }
        CHOSEN.get().copied().flatten()
    }

    /// The wake-up signal, if a wait of the calling thread can use it now.
    pub(crate) fn usable() -> Option<libc::c_int> {
        if DISABLED.load(Ordering::Relaxed) {
            return None;
        }
        let signal = (*CHOSEN.get_or_init(choose))?;
        if disposition(signal) != Some(handler_address()) {
            // The application replaced the handler: poll from now on.
            return None;
        }
        // SAFETY: `sigset_t` is plain data; all-zero is a valid value.
        let mut blocked: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: a null new set only queries the calling thread's mask.
        let queried =
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut blocked) };
        // SAFETY: `blocked` was filled in by the call above.
        if queried != 0 || unsafe { libc::sigismember(&blocked, signal) } == 1 {
            return None;
        }
        Some(signal)
    }

    pub(crate) fn current_thread() -> Thread {
        // SAFETY: always safe to call.
        unsafe { libc::pthread_self() }
    }

    /// Sends the wake-up signal to `thread`.
    ///
    /// The caller guarantees that `thread` has not exited: the timer holds its
    /// mutex here, and a waiting thread unregisters (under the same mutex)
    /// before it leaves its wait.
    pub(crate) fn interrupt(thread: Thread, signal: libc::c_int) {
        // SAFETY: `thread` is a live thread of this process (see above).
        unsafe { libc::pthread_kill(thread, signal) };
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    /// No wake-up signal on this platform: timed and async waits poll, and
    /// no thread is ever interrupted.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Thread;

    pub(crate) fn disable() {}

    pub(crate) fn usable_quietly() -> Option<i32> {
        None
    }

    pub(crate) fn usable() -> Option<i32> {
        None
    }

    pub(crate) fn current_thread() -> Thread {
        Thread
    }

    pub(crate) fn interrupt(_: Thread, _: i32) {}
}

pub(crate) use imp::{current_thread, interrupt, usable, Thread};

/// Stops the process locks from using a signal to end timed and async waits;
/// they poll instead (every 0.5 ms at first, then every 10 ms at most).
///
/// On Linux a timed wait ([`InterProcessLock::try_lock_for`] & co., the
/// attributes' `timeout =`) waits in the kernel itself, and the process timer
/// thread ends the wait at the deadline by sending the waiting thread a
/// real-time signal; the background waiter of async waits is ended the same
/// way when its futures are dropped. The signal is the highest real-time
/// signal (`SIGRTMIN..=SIGRTMAX`) whose disposition is still the default when
/// the first such wait starts; its handler is empty and installed without
/// `SA_RESTART`. A signal the application has a handler for is never taken;
/// if the application blocks the signal in a thread or replaces the handler
/// later, waits that start afterwards poll. Call this before the first lock
/// wait (or set `FASTENERS_WAIT_SIGNAL=none`; `FASTENERS_WAIT_SIGNAL=<number>`
/// picks the signal) if the process must not have its signal dispositions
/// touched: already installed, the handler stays, and is no longer used.
///
/// Elsewhere than on Linux the waits always poll, and this does nothing.
///
/// [`InterProcessLock::try_lock_for`]: crate::InterProcessLock::try_lock_for
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// fasteners::disable_wait_signal();
/// let path = std::env::temp_dir().join(format!("no-signal-doc-{}.lock", std::process::id()));
/// let lock = fasteners::InterProcessLock::new(&path);
/// let guard = lock.try_lock_for(Duration::from_millis(10))?; // polls if it must wait
/// assert_eq!(fasteners::wait_signal(), None);
/// # drop(guard);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn disable_wait_signal() {
    imp::disable();
}

/// The signal the process locks use to end timed and async waits, if they use
/// one: `None` until a wait first needed it, and after
/// [`disable_wait_signal`]. See there for how it is chosen.
///
/// # Examples
///
/// ```
/// if let Some(signal) = fasteners::wait_signal() {
///     println!("lock waits are ended with signal {signal}");
/// }
/// ```
#[must_use]
pub fn wait_signal() -> Option<i32> {
    imp::usable_quietly()
}
