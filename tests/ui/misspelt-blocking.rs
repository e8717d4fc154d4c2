use std::sync::Mutex;

struct Counter {
    lock: Mutex<()>,
}

impl Counter {
    #[fasteners::locked(blockng = false)]
    fn bump(&self) -> fasteners::Result<()> {
        Ok(())
    }
}

fn main() {}
