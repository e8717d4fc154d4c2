//! Hygiene: the generated code uses absolute paths and private names only, so
//! annotated functions compile beside modules named `core` and `fasteners`,
//! without the prelude, and beside items named like the expansion's internals.
#![allow(dead_code, non_upper_case_globals)]

mod macros_support;

mod core {}
mod fasteners {}

/// Shadow the names the expansion uses internally; none may be picked up.
mod shadows {
    pub trait Lockable {
        fn lock(&self) -> u8 {
            0
        }
    }
    impl<T> Lockable for T {}
    pub fn guard_or_panic() {}
    pub struct Deadline;
    pub static __FASTENERS_LOCK: u8 = 0;
    pub struct LazyLock;
    pub struct InterProcessLock;
    pub type Result<T> = ::std::result::Result<T, super::MyError>;
    pub struct Holders;
    pub struct Entered;
    pub trait Timeout {}
    pub fn static_lock() {}
}

#[derive(Debug, PartialEq)]
pub struct MyError(::fasteners::ErrorKind);

impl ::std::convert::From<::fasteners::Error> for MyError {
    fn from(err: ::fasteners::Error) -> Self {
        MyError(err.kind())
    }
}

#[no_implicit_prelude]
mod no_prelude {
    use super::shadows::*;
    use ::std::sync::{Mutex, RwLock};
    use ::std::time::Duration;

    pub struct Obj {
        pub lock: Mutex<()>,
        pub rw: RwLock<()>,
        pub toy: crate::macros_support::ToyLock,
        pub other_toy: crate::macros_support::ToyLock,
    }

    pub static STATIC: Mutex<()> = Mutex::new(());

    impl Obj {
        #[::fasteners::locked]
        pub fn plain(&self) -> ::std::primitive::bool {
            // A local of the same name does not replace the guard.
            let __fasteners_guard = ::std::string::String::new();
            ::std::mem::drop(__fasteners_guard);
            ::std::assert_eq!(Lockable::lock(&()), 0);
            ::fasteners::try_lock(&self.lock).unwrap().is_none()
        }

        #[::fasteners::locked(lock = [lock, self::STATIC], blocking = false)]
        pub fn several(&self) -> Result<::std::primitive::bool> {
            let __fasteners_guard_0 = ();
            let __fasteners_error = ();
            let _ = (__fasteners_guard_0, __fasteners_error);
            ::std::result::Result::Ok(::fasteners::try_lock(&STATIC).unwrap().is_none())
        }

        #[::fasteners::read_locked(lock = rw)]
        pub fn read(&self) -> ::std::primitive::bool {
            ::fasteners::try_lock(&self.rw).unwrap().is_none()
        }

        #[::fasteners::write_locked(lock = rw, blocking = false)]
        pub fn write(&self) -> Result<::std::primitive::bool> {
            ::std::result::Result::Ok(::fasteners::try_lock(&self.rw).unwrap().is_none())
        }

        #[::fasteners::locked(lock = [toy, other_toy], timeout = timeout())]
        pub fn deadline(&self) -> Result<()> {
            let _ = Deadline;
            guard_or_panic();
            ::std::result::Result::Ok(())
        }
    }

    #[::fasteners::locked(lock = STATIC)]
    pub fn free() -> ::std::primitive::u8 {
        __FASTENERS_LOCK
    }

    pub fn lock_path() -> ::std::path::PathBuf {
        ::std::env::temp_dir().join(::std::format!(
            "fasteners-hygiene-{}.lock",
            ::std::process::id()
        ))
    }

    #[::fasteners::interprocess_locked(lock_path())]
    pub fn file_locked() -> ::std::primitive::u8 {
        let _ = (LazyLock, InterProcessLock);
        1 + __FASTENERS_LOCK
    }

    #[::fasteners::interprocess_read_locked(lock_path(), timeout = timeout())]
    pub fn file_read() -> Result<::std::primitive::u8> {
        ::std::result::Result::Ok(2)
    }

    #[::fasteners::interprocess_write_locked(lock_path(), blocking = false)]
    pub fn file_write() -> Result<::std::primitive::u8> {
        ::std::result::Result::Ok(3)
    }

    pub fn timeout() -> Duration {
        // Short: one test waits for it to pass.
        Duration::from_millis(1)
    }

    /// Whole modules, with the crate's path given.
    /// Used by `whole` only (tests run at once).
    pub static MODULE_STATIC: Mutex<()> = Mutex::new(());

    #[::fasteners::locked(lock = MODULE_STATIC, crate = ::fasteners)]
    pub mod whole {
        pub fn held() -> ::std::primitive::bool {
            let _ = (super::Holders, super::Entered);
            super::super::static_taken_elsewhere()
        }
    }

    #[::fasteners::interprocess_locked(module_lock_path(), timeout = timeout())]
    pub mod whole_file {
        pub fn inside() -> super::Result<::std::primitive::u8> {
            super::static_lock();
            ::std::result::Result::Ok(4)
        }
    }

    pub fn module_lock_path() -> ::std::path::PathBuf {
        ::std::env::temp_dir().join(::std::format!(
            "fasteners-hygiene-module-{}.lock",
            ::std::process::id()
        ))
    }
}

fn static_taken_elsewhere() -> bool {
    ::std::thread::spawn(|| no_prelude::MODULE_STATIC.try_lock().is_err())
        .join()
        .unwrap()
}

#[test]
fn annotated_modules_ignore_the_shadowing_names() {
    assert!(no_prelude::whole::held());
    assert_eq!(no_prelude::whole_file::inside(), Ok(4));
    ::std::fs::remove_file(no_prelude::module_lock_path()).unwrap();
}

#[test]
fn annotated_functions_ignore_the_shadowing_names() {
    let obj = no_prelude::Obj {
        lock: ::std::sync::Mutex::new(()),
        rw: ::std::sync::RwLock::new(()),
        toy: macros_support::ToyLock::new("toy"),
        other_toy: macros_support::ToyLock::new("other toy"),
    };
    assert!(obj.plain());
    assert_eq!(obj.several(), Ok(true));
    assert!(obj.read());
    assert_eq!(obj.write(), Ok(true));
    assert_eq!(obj.deadline(), Ok(()));
    assert_eq!(no_prelude::free(), 0);
    assert_eq!(no_prelude::file_locked(), 1);
    assert_eq!(no_prelude::file_read(), Ok(2));
    assert_eq!(no_prelude::file_write(), Ok(3));
    ::std::fs::remove_file(no_prelude::lock_path()).unwrap();
    assert!(!no_prelude::timeout().is_zero());
    let held = ::fasteners::Lockable::lock(&obj.other_toy).unwrap();
    assert_eq!(
        obj.deadline(),
        Err(MyError(::fasteners::ErrorKind::TimedOut))
    );
    ::std::mem::drop(held);
    let _held = obj.lock.lock().unwrap();
    assert_eq!(
        obj.several(),
        Err(MyError(::fasteners::ErrorKind::WouldBlock))
    );
}
