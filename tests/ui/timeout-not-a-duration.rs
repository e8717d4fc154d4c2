use std::time::Duration;

/// A user's lock that supports timeouts.
struct MyLock;

impl fasteners::Lockable for MyLock {
    type Guard<'a> = ();

    fn lock(&self) -> fasteners::Result<()> {
        Ok(())
    }

    fn try_lock(&self) -> fasteners::Result<()> {
        Ok(())
    }
}

impl fasteners::TimedLockable for MyLock {
    fn try_lock_for(&self, _: Duration) -> fasteners::Result<()> {
        Ok(())
    }
}

struct Cache {
    lock: MyLock,
}

impl Cache {
    #[fasteners::locked(timeout = 5)]
    fn get(&self) -> fasteners::Result<()> {
        Ok(())
    }
}

fn main() {}
