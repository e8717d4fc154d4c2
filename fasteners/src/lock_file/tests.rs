//! Tests of the entry's state across the file backend and the shared arbitration.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crate::lock_file::test_support::{hold_elsewhere, temp_path};
use crate::lock_file::{LockFile, Wait};
use crate::sys::{Mechanism, Mode};

#[test]
fn a_dropped_acquire_future_leaves_the_waiter_list() {
    use std::task::Wake;
    struct Nothing;
    impl Wake for Nothing {
        fn wake(self: Arc<Self>) {}
    }
    let path = temp_path("dropped-future.lock");
    let elsewhere = hold_elsewhere(&path);
    let lock = LockFile::new(&path, Mechanism::Ofd);
    let waker = Waker::from(Arc::new(Nothing));
    let mut cx = Context::from_waker(&waker);
    let mut future = Box::pin(lock.acquire_async(Mode::Exclusive, Wait::Forever));
    assert!(future.as_mut().poll(&mut cx).is_pending());
    {
        let state = lock.entry().unwrap().state();
        assert_eq!(
            (state.waiters, state.waiting_writers, state.wakers.len()),
            (1, 1, 1)
        );
    }
    drop(future);
    {
        let state = lock.entry().unwrap().state();
        assert_eq!(
            (state.waiters, state.waiting_writers, state.wakers.len()),
            (0, 0, 0)
        );
    }
    Mechanism::Ofd.unlock(&elsewhere).unwrap();
    // The grant that comes for nobody is given back at once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Mechanism::Ofd
        .try_lock(&elsewhere, Mode::Exclusive)
        .unwrap()
    {
        assert!(Instant::now() < deadline, "the grant was kept");
        thread::sleep(Duration::from_millis(1));
    }
    drop((lock, elsewhere));
    std::fs::remove_file(&path).unwrap();
}
