//! What a child forked without exec must not share with its parent: the
//! open file descriptions of the lock files.
//!
//! OFD and `flock` locks belong to the open file description, which a forked
//! child shares. Left alone, the child could release its parent's lock (by
//! unlocking its copy) or keep it alive after the parent died. Python
//! fasteners' `lockf` locks are not inherited, and this crate matches that:
//! a `pthread_atfork` child handler, installed once, points every lock file
//! descriptor of the child at `/dev/null` (`dup3` keeps the number allocated,
//! so no other file takes it, and drops the child's share of the lock file's
//! description), and bumps the fork [`generation`]. Lock-file state recorded
//! under an older generation (holders, waiters, the open file, the timer) is
//! the parent's, and is discarded on first use in the child.
//!
//! The handler runs in the child right after `fork()`, where only
//! async-signal-safe functions may be called: it takes no lock and allocates
//! nothing. It walks a lock-free, append-only list of slots (atomics only),
//! opens `/dev/null`, `dup3`s it and closes it (`open`, `close` and `dup3`
//! are plain system calls, async-signal-safe) and does one atomic add.
//!
//! Unix only; elsewhere there is no `fork`.

#[cfg(unix)]
mod imp {
    use std::os::fd::RawFd;
    use std::ptr;
    use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};
    use std::sync::Once;

    static GENERATION: AtomicU64 = AtomicU64::new(0);
    /// The head of the list of slots; slots are never freed, only reused.
    static SLOTS: AtomicPtr<Slot> = AtomicPtr::new(ptr::null_mut());

    struct Slot {
        /// A lock file descriptor of this process, or -1 when the slot is free.
        fd: AtomicI32,
        next: *mut Slot,
    }

    /// The child handler: see the module docs for why it is async-signal-safe.
    extern "C" fn in_child() {
        // SAFETY: a plain system call with a static NUL-terminated path.
        let dev_null =
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        let mut slot = SLOTS.load(Ordering::Acquire);
        while !slot.is_null() {
            // SAFETY: slots are leaked, never freed: the pointer stays valid.
            let current = unsafe { &*slot };
            let fd = current.fd.load(Ordering::Relaxed);
            if fd >= 0 && dev_null >= 0 {
                // SAFETY: plain system call on descriptors of this process;
                // `fd` stays allocated (now to /dev/null), close-on-exec.
                unsafe { dup3(dev_null, fd) };
            }
            slot = current.next;
        }
        if dev_null >= 0 {
            // SAFETY: closes the descriptor opened above.
            unsafe { libc::close(dev_null) };
        }
        GENERATION.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    unsafe fn dup3(from: RawFd, to: RawFd) {
        // SAFETY: the caller passes descriptors of this process.
        unsafe { libc::dup3(from, to, libc::O_CLOEXEC) };
    }

    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    unsafe fn dup3(from: RawFd, to: RawFd) {
        // SAFETY: the caller passes descriptors of this process. Without
        // dup3, the close-on-exec flag is set again right after.
        unsafe {
            libc::dup2(from, to);
            libc::fcntl(to, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }

    /// Installs the child handler, once.
    pub(crate) fn watch() {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            // SAFETY: registers a handler that is async-signal-safe (above).
            unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        });
    }

    /// How many forks separate this process from the one that started the
    /// program: state recorded under another generation is a parent's.
    pub(crate) fn generation() -> u64 {
        GENERATION.load(Ordering::Relaxed)
    }

    /// A lock file descriptor that a forked child must not share; the
    /// registration must be dropped before the descriptor is closed.
    #[derive(Debug)]
    pub(crate) struct Registration(&'static AtomicI32);

    pub(crate) fn register(fd: RawFd) -> Registration {
        watch();
        let mut slot = SLOTS.load(Ordering::Acquire);
        while !slot.is_null() {
            // SAFETY: slots are never freed.
            let current = unsafe { &*slot };
            if current
                .fd
                .compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Registration(&current.fd);
            }
            slot = current.next;
        }
        let new = Box::leak(Box::new(Slot {
            fd: AtomicI32::new(fd),
            next: ptr::null_mut(),
        }));
        let mut head = SLOTS.load(Ordering::Acquire);
        loop {
            new.next = head;
            match SLOTS.compare_exchange(head, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Registration(&new.fd),
                Err(current) => head = current,
            }
        }
    }

    impl Drop for Registration {
        fn drop(&mut self) {
            self.0.store(-1, Ordering::Release);
        }
    }
}

#[cfg(not(unix))]
mod imp {
    pub(crate) fn watch() {}

    pub(crate) fn generation() -> u64 {
        0
    }

    /// Nothing to register without `fork`.
    #[derive(Debug)]
    pub(crate) struct Registration;
}

#[cfg(unix)]
pub(crate) use imp::register;
pub(crate) use imp::{generation, watch, Registration};

/// A value each process has its own of: made on first use, and again on
/// first use in each forked child, whose copy of its parent's is left
/// untouched (it names the parent's threads, and a mutex in it may have been
/// held at the fork). Never freed.
pub(crate) struct PerProcess<T: 'static> {
    current: std::sync::atomic::AtomicPtr<(u64, T)>,
}

impl<T: 'static> PerProcess<T> {
    pub(crate) const fn new() -> Self {
        PerProcess {
            current: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// This process's value, made by `make` if it has none yet.
    pub(crate) fn get(&self, make: impl FnOnce() -> T) -> &'static T {
        use std::sync::atomic::Ordering;
        let generation = generation();
        let current = self.current.load(Ordering::Acquire);
        // SAFETY: values are leaked, never freed: a non-null pointer stays valid.
        if let Some((made_in, value)) = unsafe { current.as_ref() } {
            if *made_in == generation {
                return value;
            }
        }
        watch();
        let new: &'static mut (u64, T) = Box::leak(Box::new((generation, make())));
        match self.current.compare_exchange(
            current,
            std::ptr::from_mut(new),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => &new.1,
            // Another thread made one first: use that (this one stays unused).
            // SAFETY: as above.
            Err(winner) => unsafe { &(*winner).1 },
        }
    }
}
