//! The signature matrix: every shape of function the attributes accept,
//! compiled and run, checking that the lock is held inside the body and free
//! after, also after an early return, a `?` error and a panic.

mod macros_support;

use std::fmt::{Debug, Display};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fasteners::{locked, read_locked, write_locked, ErrorKind, Lockable};
use macros_support::{is_locked, is_read_locked, is_write_locked, take_events, ToyLock};

static STATIC_LOCK: Mutex<()> = Mutex::new(());
static OTHER_STATIC_LOCK: Mutex<()> = Mutex::new(());
static STATIC_TOY: ToyLock = ToyLock::new("static toy");

mod nested {
    pub static NESTED_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
}

struct Obj {
    lock: Mutex<()>,
    other: Mutex<()>,
    shared: Arc<Mutex<()>>,
    boxed: Box<Mutex<()>>,
    rw: RwLock<()>,
    toy: ToyLock,
    value: u32,
}

impl Obj {
    fn new() -> Self {
        Obj {
            lock: Mutex::new(()),
            other: Mutex::new(()),
            shared: Arc::new(Mutex::new(())),
            boxed: Box::new(Mutex::new(())),
            rw: RwLock::new(()),
            toy: ToyLock::new("toy"),
            value: 0,
        }
    }

    #[locked]
    fn by_ref(&self) -> bool {
        is_locked(&self.lock)
    }

    #[locked]
    fn by_mut(&mut self) -> bool {
        self.value += 1;
        is_locked(&self.lock)
    }

    #[locked]
    fn by_arc(self: Arc<Self>) -> bool {
        is_locked(&self.lock)
    }

    #[locked]
    #[allow(clippy::needless_pass_by_value)]
    fn by_value(self) -> bool {
        is_locked(&self.lock)
    }

    #[locked(lock = other)]
    fn named(&self) -> (bool, bool) {
        (is_locked(&self.lock), is_locked(&self.other))
    }

    #[locked(lock = shared)]
    fn arc_field(&self) -> bool {
        is_locked(&self.shared)
    }

    #[locked(lock = boxed)]
    fn box_field(&self) -> bool {
        is_locked(&self.boxed)
    }

    #[locked(lock = [lock, other, shared])]
    fn several(&self) -> [bool; 3] {
        [
            is_locked(&self.lock),
            is_locked(&self.other),
            is_locked(&self.shared),
        ]
    }

    #[locked(lock = self::STATIC_LOCK)]
    fn static_from_method(&self) -> (bool, bool) {
        (is_locked(&STATIC_LOCK), is_locked(&self.lock))
    }

    #[locked(lock = [lock, crate::OTHER_STATIC_LOCK])]
    fn field_and_static(&self) -> (bool, bool) {
        (is_locked(&self.lock), is_locked(&OTHER_STATIC_LOCK))
    }

    #[locked]
    fn generic<T: Display + ?Sized, U, const N: usize>(&self, t: &T, u: U, bytes: [u8; N]) -> String
    where
        U: Debug + Copy,
    {
        format!("{t} {u:?} {N} {} {}", bytes.len(), is_locked(&self.lock))
    }

    #[locked]
    fn impl_trait(&self) -> impl Iterator<Item = bool> {
        vec![is_locked(&self.lock)].into_iter()
    }

    #[locked]
    fn early_return(&self, early: bool) -> &'static str {
        if early {
            return if is_locked(&self.lock) {
                "early, locked"
            } else {
                "early, free"
            };
        }
        "late"
    }

    #[locked]
    fn question_mark(&self, text: &str) -> Result<u32, MyError> {
        assert!(is_locked(&self.lock));
        let value: u32 = text.parse()?;
        Ok(value)
    }

    #[locked]
    fn panics(&self) {
        assert!(is_locked(&self.lock));
        panic!("boom inside the lock");
    }

    /// A doc comment and other attributes stay on the function.
    #[inline]
    #[must_use]
    #[locked]
    #[allow(clippy::let_and_return)]
    fn attributed(&self) -> bool {
        let held = is_locked(&self.lock);
        held
    }

    #[locked]
    fn inner_attribute(&self) -> bool {
        #![allow(unused_variables)]
        let unused = 1;
        is_locked(&self.lock)
    }

    /// # Safety
    ///
    /// None needed; shows that `unsafe fn` keeps working.
    #[locked]
    unsafe fn unsafe_method(&self) -> bool {
        is_locked(&self.lock)
    }

    #[locked]
    pub(crate) fn restricted(&self) -> bool {
        is_locked(&self.lock)
    }

    #[locked]
    fn associated_const_generic<const FLAG: bool>(&self) -> bool {
        FLAG && is_locked(&self.lock)
    }

    #[locked]
    fn lifetimes<'a, 'b: 'a>(&'a self, s: &'b str) -> &'a str {
        assert!(is_locked(&self.lock));
        s
    }

    #[read_locked(lock = rw)]
    fn read(&self) -> bool {
        is_read_locked(&self.rw)
    }

    #[write_locked(lock = rw)]
    fn write(&self) -> bool {
        is_write_locked(&self.rw)
    }

    #[write_locked(lock = rw)]
    fn write_mut(&mut self) -> bool {
        self.value += 1;
        is_write_locked(&self.rw)
    }

    #[locked(lock = toy, timeout = Duration::from_millis(20))]
    fn toy_timeout(&self) -> fasteners::Result<bool> {
        Ok(self.toy.is_write_locked())
    }

    #[read_locked(lock = toy, timeout = Duration::from_millis(20))]
    fn toy_read_timeout(&self) -> std::io::Result<bool> {
        Ok(self.toy.is_read_locked())
    }

    #[write_locked(lock = toy, timeout = Duration::from_millis(20))]
    fn toy_write_timeout(&self) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.toy.is_write_locked())
    }

    #[locked(blocking = false)]
    fn non_blocking(&self) -> fasteners::Result<bool> {
        Ok(is_locked(&self.lock))
    }

    #[read_locked(lock = rw, blocking = false)]
    fn read_non_blocking(&self) -> fasteners::Result<bool> {
        Ok(is_read_locked(&self.rw))
    }

    #[write_locked(lock = rw, blocking = false)]
    fn write_non_blocking(&self) -> fasteners::Result<bool> {
        Ok(is_write_locked(&self.rw))
    }

    #[locked(lock = toy, blocking = true)]
    fn explicitly_blocking(&self) -> bool {
        self.toy.is_write_locked()
    }
}

/// A user's error type: the attributes need `From<fasteners::Error>`.
#[derive(Debug, PartialEq)]
enum MyError {
    Lock(ErrorKind),
    Parse,
}

impl From<fasteners::Error> for MyError {
    fn from(err: fasteners::Error) -> Self {
        MyError::Lock(err.kind())
    }
}

impl From<std::num::ParseIntError> for MyError {
    fn from(_: std::num::ParseIntError) -> Self {
        MyError::Parse
    }
}

trait Service {
    fn serve(&self) -> bool;
    fn serve_result(&self) -> fasteners::Result<bool>;
}

impl Service for Obj {
    #[locked]
    fn serve(&self) -> bool {
        is_locked(&self.lock)
    }

    #[locked(lock = toy, timeout = Duration::from_millis(20))]
    fn serve_result(&self) -> fasteners::Result<bool> {
        Ok(self.toy.is_locked())
    }
}

/// A struct generic over its lock: the attribute works with any `Lockable`.
struct Generic<L> {
    lock: L,
}

impl<L: Lockable> Generic<L> {
    #[locked]
    fn held(&self) -> bool {
        is_locked(&self.lock)
    }
}

/// A struct that borrows its lock.
struct Borrowed<'a> {
    lock: &'a Mutex<()>,
    rw: &'a RwLock<()>,
}

impl Borrowed<'_> {
    #[locked]
    fn held(&self) -> bool {
        is_locked(self.lock)
    }

    #[read_locked(lock = rw)]
    fn read(&self) -> bool {
        is_read_locked(self.rw)
    }
}

#[locked(lock = STATIC_LOCK)]
fn free_function(x: u32) -> (u32, bool) {
    (x * 2, is_locked(&STATIC_LOCK))
}

/// A free function may lock a parameter.
#[locked(lock = lock)]
fn lock_parameter(lock: &Mutex<()>) -> bool {
    is_locked(lock)
}

#[locked(lock = nested::NESTED_LOCK)]
fn free_function_nested_path() -> bool {
    is_locked(&nested::NESTED_LOCK)
}

#[locked(lock = [STATIC_LOCK, OTHER_STATIC_LOCK])]
fn free_function_two_statics() -> (bool, bool) {
    (is_locked(&STATIC_LOCK), is_locked(&OTHER_STATIC_LOCK))
}

#[locked(lock = STATIC_TOY, timeout = Duration::from_millis(20))]
fn free_function_timeout() -> fasteners::Result<bool> {
    Ok(STATIC_TOY.is_write_locked())
}

#[test]
fn receivers() {
    let mut obj = Obj::new();
    assert!(obj.by_ref());
    assert!(obj.by_mut());
    assert_eq!(obj.value, 1);
    assert!(!is_locked(&obj.lock));
    let arc = Arc::new(Obj::new());
    assert!(Arc::clone(&arc).by_arc());
    assert!(!is_locked(&arc.lock));
    assert!(Obj::new().by_value());
}

#[test]
fn lock_forms() {
    let obj = Obj::new();
    assert_eq!(obj.named(), (false, true));
    assert!(obj.arc_field());
    assert!(obj.box_field());
    assert_eq!(obj.several(), [true; 3]);
    assert_eq!(obj.static_from_method(), (true, false));
    assert_eq!(obj.field_and_static(), (true, true));
    assert_eq!(free_function(4), (8, true));
    assert!(free_function_nested_path());
    let parameter = Mutex::new(());
    assert!(lock_parameter(&parameter));
    assert!(!is_locked(&parameter));
    assert_eq!(free_function_two_statics(), (true, true));
    for lock in [&obj.lock, &obj.other, &*obj.shared, &*obj.boxed] {
        assert!(!is_locked(lock));
    }
    assert!(!is_locked(&STATIC_LOCK) && !is_locked(&OTHER_STATIC_LOCK));
    assert!(!is_locked(&nested::NESTED_LOCK));
}

#[test]
fn signature_shapes() {
    let obj = Obj::new();
    assert_eq!(obj.generic("x", 'u', [1, 2]), "x 'u' 2 2 true");
    assert_eq!(obj.impl_trait().collect::<Vec<_>>(), [true]);
    assert!(obj.attributed());
    assert!(obj.inner_attribute());
    // SAFETY: `unsafe_method` has no safety requirement.
    assert!(unsafe { obj.unsafe_method() });
    assert!(obj.restricted());
    assert!(obj.associated_const_generic::<true>());
    assert_eq!(obj.lifetimes("life"), "life");
    assert!(obj.serve());
    assert!(Generic {
        lock: Mutex::new(())
    }
    .held());
    assert!(Generic {
        lock: Arc::new(RwLock::new(()))
    }
    .held());
    assert!(Generic {
        lock: ToyLock::new("generic")
    }
    .held());
    let (mutex, rw) = (Mutex::new(()), RwLock::new(()));
    assert!(Generic { lock: &mutex }.held());
    let borrowed = Borrowed {
        lock: &mutex,
        rw: &rw,
    };
    assert!(borrowed.held());
    assert!(borrowed.read());
    assert!(!is_locked(&mutex) && !is_locked(&rw));
    assert!(!is_locked(&obj.lock));
}

#[test]
fn released_after_early_return_question_mark_and_panic() {
    let obj = Obj::new();
    assert_eq!(obj.early_return(true), "early, locked");
    assert!(!is_locked(&obj.lock));
    assert_eq!(obj.early_return(false), "late");
    assert!(!is_locked(&obj.lock));

    assert_eq!(obj.question_mark("12"), Ok(12));
    assert_eq!(obj.question_mark("twelve"), Err(MyError::Parse));
    assert!(!is_locked(&obj.lock));

    let panicked = catch_unwind(AssertUnwindSafe(|| obj.panics()));
    assert!(panicked.is_err());
    assert!(
        !is_locked(&obj.lock),
        "a panic in the body releases the lock"
    );
    // No poisoning cascade: the next call runs normally.
    assert!(obj.by_ref());
}

#[test]
fn read_and_write_sides() {
    let mut obj = Obj::new();
    assert!(obj.read());
    assert!(obj.write());
    assert!(obj.write_mut());
    assert!(!is_locked(&obj.rw));

    // Readers share: a reader held outside does not stop #[read_locked].
    let reading = obj.rw.read().unwrap();
    assert_eq!(obj.read_non_blocking().ok(), Some(true));
    assert_eq!(
        obj.write_non_blocking().unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    drop(reading);
    assert_eq!(obj.write_non_blocking().ok(), Some(true));

    let writing = obj.rw.write().unwrap();
    assert_eq!(
        obj.read_non_blocking().unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    drop(writing);
}

#[test]
fn timeouts_return_err() {
    let obj = Obj::new();
    assert!(obj.toy_timeout().unwrap());
    assert!(obj.toy_read_timeout().unwrap());
    assert!(obj.toy_write_timeout().unwrap());
    assert!(obj.serve_result().unwrap());
    assert!(obj.explicitly_blocking());
    assert!(free_function_timeout().unwrap());

    // The toy lock is not re-entrant: held by this thread, every timed
    // attempt gives up after its timeout.
    let held = obj.toy.lock().unwrap();
    assert_eq!(obj.toy_timeout().unwrap_err().kind(), ErrorKind::TimedOut);
    let io_err = obj.toy_read_timeout().unwrap_err();
    assert_eq!(io_err.kind(), std::io::ErrorKind::TimedOut);
    assert!(io_err.to_string().contains("timed out"), "{io_err}");
    let boxed = obj.toy_write_timeout().unwrap_err();
    let inner = boxed.downcast_ref::<fasteners::Error>().unwrap();
    assert_eq!(inner.kind(), ErrorKind::TimedOut);
    assert_eq!(obj.serve_result().unwrap_err().kind(), ErrorKind::TimedOut);
    drop(held);

    // A reader does not stop #[read_locked], but stops the writers.
    let reading = obj.toy.lock_shared_for_test();
    assert!(obj.toy_read_timeout().unwrap());
    assert_eq!(obj.toy_timeout().unwrap_err().kind(), ErrorKind::TimedOut);
    drop(reading);

    let held = STATIC_TOY.lock().unwrap();
    assert_eq!(
        free_function_timeout().unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    drop(held);
    assert!(!obj.toy.is_locked() && !STATIC_TOY.is_locked());
    take_events();
}

#[test]
fn non_blocking_returns_would_block() {
    let obj = Obj::new();
    assert!(obj.non_blocking().unwrap());
    let held = obj.lock.lock().unwrap();
    let err = obj.non_blocking().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    drop(held);
    assert!(obj.non_blocking().unwrap());
}

#[test]
fn held_against_other_threads() {
    // A second thread cannot take the lock while the body runs.
    let obj = Obj::new();
    let seen_by_other_thread = {
        let _g = obj.lock.lock().unwrap();
        std::thread::scope(|s| s.spawn(|| obj.non_blocking().map_err(|e| e.kind())).join()).unwrap()
    };
    assert_eq!(seen_by_other_thread, Err(ErrorKind::WouldBlock));
}
