//! Model checks of the arbitration with loom: every interleaving (up to a
//! preemption bound) of a few threads acquiring and releasing through one
//! [`Arbiter`], on its real state machine, whose mutex and condition variable
//! are loom's under `--cfg loom`. The raw lock is a stand-in that is always
//! free outside the process and counts what is taken and given back, so the
//! models check what the arbiter itself decides: exclusion between the
//! threads of a process, writers first, the wake-ups of waiting threads (loom
//! reports a deadlock when a thread that should have been woken sleeps for
//! ever), and that the last holder gives the raw lock back.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p fasteners --release --lib arbiter::models`
//! (`scripts/test.sh` does). `scripts/breakages.sh` breaks the state machine
//! on purpose and checks that these models catch it.

use std::sync::Arc;
use std::time::Instant;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::sync::MutexGuard;
use super::{Arbiter, Holder, Raw, RawLock, Refusal, State, Wait};
use crate::sys::Mode;
use crate::{Error, ErrorKind};

/// As in the reader-writer lock's models: every breakage is caught at this
/// bound, and one step more multiplies the run time about tenfold.
const PREEMPTION_BOUND: usize = 3;

fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(PREEMPTION_BOUND);
    }
    builder.check(model);
}

/// The stand-in raw lock: free outside the process, and counting.
#[derive(Debug)]
struct Counted {
    /// Raw locks taken and not given back.
    outstanding: AtomicUsize,
    /// Holders inside, in either mode, and writers inside.
    inside: AtomicUsize,
    writers: AtomicUsize,
}

impl RawLock for Counted {
    type Local = ();
    type Failure = ();
    type Name = str;
    const TRY_WHEN_POLLED: bool = true;

    fn forked(_: &Arbiter<Self>) {}

    fn try_take(arbiter: &Arbiter<Self>, state: &mut State<Self>, mode: Mode) -> Result<bool, ()> {
        assert_eq!(state.raw, Raw::Unlocked, "taken twice");
        arbiter.backend.outstanding.fetch_add(1, Ordering::SeqCst);
        state.raw = Raw::Held(mode);
        Ok(true)
    }

    fn block<'a>(
        _: &'a Arbiter<Self>,
        _: MutexGuard<'a, State<Self>>,
        _: Mode,
        _: Option<Instant>,
    ) -> (MutexGuard<'a, State<Self>>, Result<(), ()>) {
        unreachable!("the stand-in is always free: a try takes it")
    }

    fn start_wait(_: &Arc<Arbiter<Self>>, _: &mut State<Self>, _: Mode) -> Result<(), ()> {
        unreachable!("the models acquire from threads")
    }

    fn stop_wait(_: &State<Self>) {}

    fn give_back(arbiter: &Arbiter<Self>, state: &mut State<Self>, _: Mode) -> Result<(), ()> {
        assert!(matches!(state.raw, Raw::Held(_)), "given back unheld");
        arbiter.backend.outstanding.fetch_sub(1, Ordering::SeqCst);
        state.raw = Raw::Unlocked;
        Ok(())
    }

    fn failed(_: &str, (): ()) -> Error {
        Error::in_process(ErrorKind::Io, "model", "failed")
    }

    fn refused(_: &str, refusal: Refusal) -> Error {
        let kind = match refusal {
            Refusal::WouldBlock => ErrorKind::WouldBlock,
            Refusal::TimedOut(_) => ErrorKind::TimedOut,
            Refusal::WouldDeadlock => ErrorKind::WouldDeadlock,
            Refusal::NotHeld(_) => ErrorKind::NotHeld,
        };
        Error::in_process(kind, "model", "refused")
    }
}

fn arbiter() -> Arc<Arbiter<Counted>> {
    Arbiter::new_cyclic(|_| {
        let counted = Counted {
            outstanding: AtomicUsize::new(0),
            inside: AtomicUsize::new(0),
            writers: AtomicUsize::new(0),
        };
        (counted, State::new(()))
    })
}

/// Takes the lock in `mode` for a new holder, checks who else is inside,
/// gives it back.
fn hold(arbiter: &Arc<Arbiter<Counted>>, mode: Mode) {
    let holder = Holder::new_token();
    arbiter
        .acquire("model", mode, Wait::Forever, holder)
        .unwrap();
    let counted = &arbiter.backend;
    counted.inside.fetch_add(1, Ordering::SeqCst);
    if mode == Mode::Exclusive {
        counted.writers.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            counted.inside.load(Ordering::SeqCst),
            1,
            "a writer has company"
        );
        counted.writers.fetch_sub(1, Ordering::SeqCst);
    } else {
        assert_eq!(
            counted.writers.load(Ordering::SeqCst),
            0,
            "a reader beside a writer"
        );
    }
    counted.inside.fetch_sub(1, Ordering::SeqCst);
    arbiter.release("model", mode, holder).unwrap();
}

/// Nothing is held, waited for or taken once every thread is done.
fn all_given_back(arbiter: &Arbiter<Counted>) {
    let state = arbiter.state();
    assert_eq!(state.raw, Raw::Unlocked);
    assert_eq!((state.waiters, state.waiting_writers), (0, 0));
    drop(state);
    assert_eq!(arbiter.backend.outstanding.load(Ordering::SeqCst), 0);
}

#[test]
fn writers_exclude_each_other_and_a_reader() {
    check(|| {
        let arbiter = arbiter();
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let arbiter = Arc::clone(&arbiter);
                thread::spawn(move || hold(&arbiter, Mode::Exclusive))
            })
            .collect();
        hold(&arbiter, Mode::Shared);
        for writer in writers {
            writer.join().unwrap();
        }
        all_given_back(&arbiter);
    });
}

#[test]
fn waiting_readers_are_all_woken_when_the_writer_leaves() {
    check(|| {
        let arbiter = arbiter();
        let writer = Holder::new_token();
        arbiter
            .acquire("model", Mode::Exclusive, Wait::Forever, writer)
            .unwrap();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let arbiter = Arc::clone(&arbiter);
                thread::spawn(move || hold(&arbiter, Mode::Shared))
            })
            .collect();
        arbiter.release("model", Mode::Exclusive, writer).unwrap();
        for reader in readers {
            reader.join().unwrap();
        }
        all_given_back(&arbiter);
    });
}

#[test]
fn a_newcomer_reader_waits_behind_a_waiting_writer() {
    check(|| {
        let arbiter = arbiter();
        let reader = Holder::new_token();
        arbiter
            .acquire("model", Mode::Shared, Wait::Forever, reader)
            .unwrap();
        let writer = {
            let arbiter = Arc::clone(&arbiter);
            thread::spawn(move || hold(&arbiter, Mode::Exclusive))
        };
        // Once the writer waits (the reader holds the lock)...
        while arbiter.state().waiting_writers == 0 {
            thread::yield_now();
        }
        // ...a new reader does not get in before it, though readers hold.
        let newcomer = arbiter
            .acquire("model", Mode::Shared, Wait::Try, Holder::new_token())
            .unwrap_err();
        assert_eq!(newcomer.kind(), ErrorKind::WouldBlock);
        arbiter.release("model", Mode::Shared, reader).unwrap();
        writer.join().unwrap();
        all_given_back(&arbiter);
    });
}
