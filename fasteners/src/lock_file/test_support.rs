//! Helpers shared by the unit tests of the lock file modules.

use std::path::PathBuf;
#[cfg(target_os = "linux")]
use std::{fs::File, path::Path};

#[cfg(target_os = "linux")]
use crate::sys::{Mechanism, Mode};

pub(super) fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fasteners-unit-{}-{name}", std::process::id()))
}

/// Another open file description holds the lock, as another process would.
#[cfg(target_os = "linux")]
pub(super) fn hold_elsewhere(path: &Path) -> File {
    let file = super::identity::open(path).unwrap().file;
    assert!(Mechanism::Ofd.try_lock(&file, Mode::Exclusive).unwrap());
    file
}
