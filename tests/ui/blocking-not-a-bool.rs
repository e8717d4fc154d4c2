use std::sync::Mutex;

struct Counter {
    lock: Mutex<()>,
}

impl Counter {
    #[fasteners::locked(blocking = "no")]
    fn bump(&self) -> fasteners::Result<()> {
        Ok(())
    }
}

fn main() {}
