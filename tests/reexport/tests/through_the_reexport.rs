//! A crate that knows `fasteners` only through `fasteners_reexport`: the
//! attributes work with `crate = fasteners_reexport::runtime`, on functions,
//! methods and modules, with statics named `::dep::NAME`.

use std::sync::Mutex;
use std::time::Duration;

use fasteners_reexport::{interprocess_write_locked, locked, read_locked};

static LOCAL: Mutex<()> = Mutex::new(());

fn local_taken_elsewhere() -> bool {
    std::thread::spawn(|| LOCAL.try_lock().is_err())
        .join()
        .unwrap()
}

#[locked(lock = LOCAL, crate = fasteners_reexport::runtime)]
fn under_local() -> bool {
    local_taken_elsewhere()
}

#[locked(lock = [LOCAL, ::fasteners_reexport::SHARED], crate = fasteners_reexport::runtime)]
fn under_both() -> (bool, bool) {
    (
        local_taken_elsewhere(),
        fasteners_reexport::shared_taken_elsewhere(),
    )
}

#[read_locked(lock = ::fasteners_reexport::SHARED_RW, crate = "fasteners_reexport::runtime")]
fn reading() -> (bool, bool) {
    std::thread::spawn(|| {
        let read = fasteners_reexport::SHARED_RW.try_read().is_ok();
        let write = fasteners_reexport::SHARED_RW.try_write().is_ok();
        (read, write)
    })
    .join()
    .unwrap()
}

fn lock_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "fasteners-through-reexport-{}.lock",
        std::process::id()
    ))
}

#[interprocess_write_locked(
    lock_path(),
    timeout = Duration::from_secs(5),
    crate = fasteners_reexport::runtime,
)]
fn writing() -> fasteners_reexport::runtime::Result<(bool, bool)> {
    let lock = fasteners_reexport::runtime::InterProcessReaderWriterLock::new(lock_path());
    let seen = std::thread::spawn(move || {
        let read = lock.try_read().is_ok();
        let write = lock.try_write().is_ok();
        (read, write)
    });
    Ok(seen.join().unwrap())
}

#[locked(lock = LOCAL, crate = fasteners_reexport::runtime)]
mod serial {
    pub fn inside() -> bool {
        super::local_taken_elsewhere()
    }
}

struct Service {
    lock: Mutex<()>,
}

impl Service {
    #[locked(crate = fasteners_reexport::runtime)]
    fn method(&self) -> bool {
        self.lock.try_lock().is_err()
    }
}

#[test]
fn the_attributes_work_through_a_renamed_dependency() {
    assert!(fasteners_reexport::under_shared());
    assert!(fasteners_reexport::under_file().unwrap());
}

#[test]
fn the_attributes_work_through_a_reexport_with_crate_path() {
    assert!(under_local());
    assert_eq!(under_both(), (true, true));
    assert_eq!(reading(), (true, false));
    assert_eq!(writing().unwrap(), (false, false));
    assert!(serial::inside());
    assert!(Service {
        lock: Mutex::new(())
    }
    .method());
    assert!(!local_taken_elsewhere());
}
