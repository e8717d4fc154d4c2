//! What the benches share: opening a lock file by hand and the kernel's
//! floor for OFD locks.
#![allow(dead_code)] // each bench uses a different part

use std::fs::{File, OpenOptions};
use std::path::Path;

/// Opens `path` read-write, creating it if needed, without truncating it.
pub fn open(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap()
}

/// The link count of the open file, read by the `fstat` system call itself,
/// as the crate's identity check reads it. (glibc's `fstat` is
/// `newfstatat(fd, "", AT_EMPTY_PATH)`, which walks an empty path first and
/// costs more: a floor made with it would flatter the crate.)
#[cfg(target_os = "linux")]
pub fn fstat_nlink(file: &File) -> u64 {
    use std::os::unix::io::AsRawFd;
    // SAFETY: `stat` is a plain C struct of integers; all-zero is a valid value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `file` is open; `stat` is a valid out-parameter, of the layout
    // the kernel's `fstat` fills on Linux.
    let result = unsafe { libc::syscall(libc::SYS_fstat, file.as_raw_fd(), &mut stat) };
    assert_eq!(result, 0);
    stat.st_nlink as u64
}

/// The kernel floor for `flock`: an exclusive lock, then unlock.
#[cfg(unix)]
pub fn raw_flock_pair(file: &File) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: the descriptor is open for the lifetime of `file`.
    assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) }, 0);
}

/// The kernel floor for OFD locks: `F_OFD_SETLK` write lock, then unlock.
#[cfg(target_os = "linux")]
pub fn raw_ofd_pair(file: &File) {
    use std::os::unix::io::AsRawFd;
    let set = |l_type: libc::c_int| {
        // SAFETY: `flock` is plain integers; all-zero is a valid value.
        let mut request: libc::flock = unsafe { std::mem::zeroed() };
        request.l_type = l_type as _;
        request.l_whence = libc::SEEK_SET as _;
        // SAFETY: the descriptor is open and `request` is a valid `flock`.
        let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &request) };
        assert_eq!(result, 0);
    };
    set(libc::F_WRLCK);
    set(libc::F_UNLCK);
}

#[cfg(target_os = "linux")]
pub mod peers;

/// `--flag value` from the command line, or `default`.
pub fn arg<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> T {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{flag}: not a valid value: {v}"))
        })
}

/// The median of `values` (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Paired ratio: case ÷ floor in each round, the median over the rounds.
pub fn paired(case: &[f64], floor: &[f64]) -> f64 {
    median(case.iter().zip(floor).map(|(c, f)| c / f).collect())
}

/// "met" or "**missed**" for a target.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

/// Instruction counts per cycle by case id, from the file `bash
/// scripts/bench.sh` writes after counting each case under callgrind (one
/// `id count` per line), when `--instructions FILE` names it.
pub fn instructions(args: &[String]) -> std::collections::HashMap<String, f64> {
    let Some(file) = args
        .iter()
        .position(|a| a == "--instructions")
        .and_then(|i| args.get(i + 1))
    else {
        return Default::default();
    };
    std::fs::read_to_string(file)
        .unwrap_or_else(|err| panic!("--instructions {file}: {err}"))
        .lines()
        .filter_map(|line| {
            let (id, count) = line.rsplit_once(' ')?;
            Some((id.to_owned(), count.parse().ok()?))
        })
        .collect()
}

/// `scripts/bench_python.py` with `args`, its standard streams piped, run
/// from the temporary directory: the repository's `fasteners/` directory
/// would otherwise shadow the Python package of that name. `None` (with the
/// reason) when Python or its fasteners package is missing.
pub fn python(args: &[&str]) -> Result<std::process::Child, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_python.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| String::from("python3"));
    let check = std::process::Command::new(&python)
        .args(["-c", "import fasteners"])
        .current_dir(std::env::temp_dir())
        .output()
        .map_err(|err| format!("{python}: {err}"))?;
    if !check.status.success() {
        return Err(format!(
            "Python fasteners is not installed (`{python} -m pip install fasteners==0.20`)"
        ));
    }
    std::process::Command::new(&python)
        .arg(script)
        .args(args)
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| format!("{python}: {err}"))
}

#[cfg(target_os = "linux")]
/// An inotify descriptor watching one file for the changes an identity
/// check looks for.
pub struct Inotify(std::os::fd::OwnedFd);

#[cfg(target_os = "linux")]
impl Inotify {
    pub fn watch(path: &Path) -> Inotify {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: plain calls on a valid C string; the descriptor is owned
        // by the returned value.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
            assert!(fd >= 0, "inotify_init1");
            let mask = libc::IN_ATTRIB | libc::IN_MOVE_SELF | libc::IN_DELETE_SELF;
            assert!(libc::inotify_add_watch(fd, path.as_ptr(), mask) >= 0);
            Inotify(std::os::fd::OwnedFd::from_raw_fd(fd))
        }
    }

    /// The bytes of events pending.
    pub fn pending(&self) -> libc::c_int {
        let mut bytes: libc::c_int = 0;
        // SAFETY: the descriptor is open and `bytes` is a valid out-parameter.
        assert_eq!(
            unsafe {
                libc::ioctl(
                    std::os::fd::AsRawFd::as_raw_fd(&self.0),
                    libc::FIONREAD,
                    &mut bytes,
                )
            },
            0
        );
        bytes
    }
}
