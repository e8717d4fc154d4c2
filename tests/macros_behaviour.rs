//! What the attributes do at run time beyond holding the lock: the order in
//! which several locks are taken and released, one timeout for a whole list,
//! and the panic of a function that cannot return the lock's error.

mod macros_support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fasteners::{locked, read_locked, write_locked, Error, ErrorKind, Lockable, Result};
use macros_support::{take_events, ToyLock};

struct Three {
    a: ToyLock,
    b: ToyLock,
    c: ToyLock,
}

impl Three {
    fn new() -> Self {
        Three {
            a: ToyLock::new("a"),
            b: ToyLock::new("b"),
            c: ToyLock::new("c"),
        }
    }

    #[locked(lock = [a, b, c])]
    fn all(&self) {
        macros_support::record("body");
    }

    #[read_locked(lock = [c, a])]
    fn read_c_then_a(&self) {
        macros_support::record("body");
    }

    #[write_locked(lock = [b, a])]
    fn write_b_then_a(&self) -> Result<()> {
        macros_support::record("body");
        Err(Error::would_block_in_process("the body's own error"))
    }

    #[locked(lock = [a, b, c], timeout = Duration::from_millis(50))]
    fn all_within(&self) -> Result<()> {
        macros_support::record("body");
        Ok(())
    }

    #[locked(lock = [a, b, c], blocking = false)]
    fn all_if_free(&self) -> Result<()> {
        macros_support::record("body");
        Ok(())
    }

    // A body that ends in a block of its own, as the body an attribute
    // above leaves does: the attribute must not take the statements before
    // the block for that attribute's guards.
    #[locked(lock = a)]
    fn statements_then_a_block(&self) {
        macros_support::record("statement");
        {
            macros_support::record("block");
        }
    }
}

/// Stacked attributes nest: the outer one takes its lock first.
struct Stacked {
    outer: ToyLock,
    inner: ToyLock,
    patience: Duration,
}

impl Stacked {
    #[locked(lock = outer)]
    #[read_locked(lock = inner, timeout = self.patience)]
    fn both(&self) -> Result<()> {
        macros_support::record("body");
        Ok(())
    }
}

fn events(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn several_locks_are_taken_in_order_and_released_in_reverse() {
    let three = Three::new();
    take_events();
    three.all();
    assert_eq!(
        take_events(),
        events(&["lock a", "lock b", "lock c", "body", "unlock c", "unlock b", "unlock a"])
    );
    three.read_c_then_a();
    assert_eq!(
        take_events(),
        events(&["lock c", "lock a", "body", "unlock a", "unlock c"])
    );
    assert!(three.write_b_then_a().is_err());
    assert_eq!(
        take_events(),
        events(&["lock b", "lock a", "body", "unlock a", "unlock b"])
    );
}

#[test]
fn a_body_ending_in_a_block_runs_under_the_lock_from_its_first_statement() {
    let three = Three::new();
    take_events();
    three.statements_then_a_block();
    assert_eq!(
        take_events(),
        events(&["lock a", "statement", "block", "unlock a"])
    );
}

#[test]
fn stacked_attributes_nest_and_the_timeout_may_use_self() {
    let stacked = Stacked {
        outer: ToyLock::new("outer"),
        inner: ToyLock::new("inner"),
        patience: Duration::from_millis(10),
    };
    take_events();
    stacked.both().unwrap();
    assert_eq!(
        take_events(),
        events(&[
            "lock outer",
            "lock inner",
            "body",
            "unlock inner",
            "unlock outer"
        ])
    );
    let writing = stacked.inner.lock().unwrap();
    assert_eq!(stacked.both().unwrap_err().kind(), ErrorKind::TimedOut);
    drop(writing);
    assert!(!stacked.outer.is_locked() && !stacked.inner.is_locked());
}

#[test]
fn a_failure_midway_releases_the_locks_already_taken() {
    let three = Three::new();
    let held_c = three.c.lock().unwrap();
    take_events();
    let err = three.all_if_free().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert_eq!(
        take_events(),
        events(&["lock a", "lock b", "unlock b", "unlock a"])
    );

    let started = Instant::now();
    let err = three.all_within().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(
        take_events(),
        events(&["lock a", "lock b", "unlock b", "unlock a"])
    );
    drop(held_c);
    take_events();
    three.all_within().unwrap();
    assert!(!three.a.is_locked() && !three.b.is_locked() && !three.c.is_locked());
}

/// A lock that records the timeout it is given, then takes a while to be
/// acquired, as a contended lock would.
struct SlowLock {
    timeouts: Mutex<Vec<Duration>>,
}

impl Lockable for SlowLock {
    type Guard<'a> = ();

    fn lock(&self) -> Result<()> {
        Ok(())
    }

    fn try_lock(&self) -> Result<()> {
        Ok(())
    }
}

impl fasteners::TimedLockable for SlowLock {
    fn try_lock_for(&self, timeout: Duration) -> Result<()> {
        self.timeouts.lock().unwrap().push(timeout);
        // Not synchronisation: stands for the time a contended acquisition takes.
        std::thread::sleep(Duration::from_millis(5));
        Ok(())
    }
}

struct TwoSlow {
    first: SlowLock,
    second: SlowLock,
}

impl TwoSlow {
    #[locked(lock = [first, second], timeout = Duration::from_secs(1))]
    fn both(&self) -> Result<()> {
        Ok(())
    }

    #[locked(lock = first, timeout = Duration::from_secs(1))]
    fn one(&self) -> Result<()> {
        Ok(())
    }
}

#[test]
fn one_timeout_covers_the_whole_list() {
    let slow = || SlowLock {
        timeouts: Mutex::new(Vec::new()),
    };
    let locks = TwoSlow {
        first: slow(),
        second: slow(),
    };
    locks.one().unwrap();
    assert_eq!(
        *locks.first.timeouts.lock().unwrap(),
        [Duration::from_secs(1)]
    );
    locks.first.timeouts.lock().unwrap().clear();
    locks.both().unwrap();
    let first = locks.first.timeouts.lock().unwrap()[0];
    let second = locks.second.timeouts.lock().unwrap()[0];
    assert!(first <= Duration::from_secs(1));
    // The second lock gets what the first one left of the budget.
    assert!(
        second <= first - Duration::from_millis(5),
        "{first:?} then {second:?}"
    );
}

/// A lock whose every acquisition fails, as a broken backend would.
struct FailingLock;

impl Lockable for FailingLock {
    type Guard<'a> = ();

    fn lock(&self) -> Result<()> {
        Err(Error::would_block_in_process("failing lock"))
    }

    fn try_lock(&self) -> Result<()> {
        Err(Error::would_block_in_process("failing lock"))
    }
}

struct Broken {
    backend: FailingLock,
}

impl Broken {
    #[locked(lock = backend)]
    fn cannot_fail(&self) -> u32 {
        unreachable!("the body never runs without its lock")
    }

    #[locked(lock = backend)]
    fn can_fail(&self) -> std::io::Result<u32> {
        unreachable!("the body never runs without its lock")
    }
}

static BROKEN: FailingLock = FailingLock;

#[locked(lock = BROKEN)]
fn broken_free_function() {
    unreachable!("the body never runs without its lock")
}

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).unwrap_err();
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => (*payload.downcast::<&str>().unwrap()).to_owned(),
    }
}

#[test]
fn a_function_without_result_panics_naming_the_function_lock_and_reason_at_the_attribute() {
    let broken = Broken {
        backend: FailingLock,
    };
    let message = panic_message(|| {
        broken.cannot_fail();
    });
    assert_eq!(
        message,
        "#[locked] on `cannot_fail` could not take `self.backend`: \
         failing lock: held elsewhere (would block)"
    );
    let message = panic_message(broken_free_function);
    assert_eq!(
        message,
        "#[locked] on `broken_free_function` could not take `BROKEN`: \
         failing lock: held elsewhere (would block)"
    );
    let err = broken.can_fail().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);

    // The panic points at the annotated function (the only test of this
    // file that panics, so the process-wide hook sees no other panic).
    let location = Arc::new(Mutex::new(None));
    let previous = std::panic::take_hook();
    {
        let location = Arc::clone(&location);
        std::panic::set_hook(Box::new(move |info| {
            *location.lock().unwrap() = info.location().map(|l| (l.file().to_owned(), l.line()));
        }));
    }
    let _ = catch_unwind(broken_free_function);
    std::panic::set_hook(previous);
    let (file, line) = location.lock().unwrap().take().unwrap();
    assert!(file.ends_with("macros_behaviour.rs"), "{file}");
    let source = include_str!("macros_behaviour.rs");
    let attribute_line = source
        .lines()
        .position(|l| l == "#[locked(lock = BROKEN)]")
        .unwrap();
    assert_eq!(line as usize, attribute_line + 1);
}

/// A lock made on first use: `lock = STATIC` takes a `LazyLock<L>` wherever
/// `L` is a lock.
static LAZY: std::sync::LazyLock<ToyLock> = std::sync::LazyLock::new(|| ToyLock::new("lazy"));

#[locked(lock = LAZY)]
fn under_lazy_lock() -> bool {
    LAZY.is_locked()
}

#[read_locked(lock = LAZY, timeout = Duration::from_secs(5))]
fn reading_under_lazy_lock() -> Result<bool> {
    Ok(LAZY.is_read_locked())
}

#[test]
fn a_lazy_lock_static_works_as_its_lock() {
    assert!(under_lazy_lock(), "the body ran without the lock");
    assert!(reading_under_lazy_lock().unwrap());
    assert!(!LAZY.is_locked(), "the lock outlived the call");
}
