//! Every attribute on an `async fn`, in every form, under the strictest lints
//! and beside modules named `core` and `fasteners`, without the prelude: the
//! generated code triggers no warning and uses absolute paths only.
#![deny(
    warnings,
    clippy::pedantic,
    unsafe_code,
    missing_docs,
    unused_qualifications,
    rust_2018_idioms
)]

mod core {}
mod fasteners {}

/// Async methods and functions under every attribute, without the prelude.
#[no_implicit_prelude]
pub mod no_prelude {
    use ::std::time::Duration;

    /// Every kind of async-capable lock field.
    pub struct Obj {
        /// An in-process async mutex.
        pub lock: ::tokio::sync::Mutex<()>,
        /// An in-process async reader-writer lock.
        pub rw: ::tokio::sync::RwLock<()>,
        /// A file lock.
        pub file: ::fasteners::InterProcessReaderWriterLock,
    }

    impl Obj {
        /// `#[locked]`.
        #[::fasteners::locked]
        pub async fn locked(&self) -> u8 {
            1
        }

        /// `#[locked]` over a list, with a timeout.
        ///
        /// # Errors
        ///
        /// When a lock stays taken for the whole timeout.
        #[::fasteners::locked(lock = [lock, file], timeout = Duration::from_secs(1))]
        pub async fn several(&self) -> ::fasteners::Result<u8> {
            ::std::result::Result::Ok(2)
        }

        /// `#[read_locked]` without waiting.
        ///
        /// # Errors
        ///
        /// When a writer holds the lock.
        #[::fasteners::read_locked(lock = rw, blocking = false)]
        pub async fn read(&self) -> ::std::io::Result<u8> {
            ::tokio::task::yield_now().await;
            ::std::result::Result::Ok(3)
        }

        /// `#[write_locked]` with a timeout.
        ///
        /// # Errors
        ///
        /// When the lock stays taken for the whole timeout.
        #[::fasteners::write_locked(lock = file, timeout = Duration::from_secs(1))]
        pub async fn write(&self) -> ::fasteners::Result<u8> {
            ::std::result::Result::Ok(4)
        }

        /// `#[read_locked]` on a file lock.
        #[::fasteners::read_locked(lock = file)]
        pub async fn read_file(&self) -> u8 {
            5
        }
    }

    /// The lock file of this test.
    #[must_use]
    pub fn lock_path() -> ::std::path::PathBuf {
        ::std::env::temp_dir().join(::std::format!(
            "fasteners-macros-async-lints-{}.lock",
            ::std::process::id()
        ))
    }

    /// `#[interprocess_locked]`.
    #[::fasteners::interprocess_locked(lock_path())]
    pub async fn file_locked() -> u8 {
        6
    }

    /// `#[interprocess_read_locked]` without waiting.
    ///
    /// # Errors
    ///
    /// When a writer holds the lock file.
    #[::fasteners::interprocess_read_locked(lock_path(), blocking = false)]
    pub async fn file_read() -> ::fasteners::Result<u8> {
        ::tokio::task::yield_now().await;
        ::std::result::Result::Ok(7)
    }

    /// `#[interprocess_write_locked]` with a timeout.
    ///
    /// # Errors
    ///
    /// When the lock file stays taken for the whole timeout.
    #[::fasteners::interprocess_write_locked(lock_path(), timeout = Duration::from_secs(1))]
    pub async fn file_write() -> ::fasteners::Result<u8> {
        ::std::result::Result::Ok(8)
    }
}

#[test]
fn every_async_form_runs() {
    use no_prelude::{file_locked, file_read, file_write, Obj};

    let obj = Obj {
        lock: tokio::sync::Mutex::new(()),
        rw: tokio::sync::RwLock::new(()),
        file: ::fasteners::InterProcessReaderWriterLock::new(no_prelude::lock_path()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        [
            obj.locked().await,
            obj.several().await.unwrap(),
            obj.read().await.unwrap(),
            obj.write().await.unwrap(),
            obj.read_file().await,
            file_locked().await,
            file_read().await.unwrap(),
            file_write().await.unwrap(),
        ]
    });
    assert_eq!(results, [1, 2, 3, 4, 5, 6, 7, 8]);
}
