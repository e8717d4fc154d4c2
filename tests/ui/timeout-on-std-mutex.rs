use std::sync::Mutex;

struct Counter {
    lock: Mutex<()>,
}

impl Counter {
    #[fasteners::locked(timeout = std::time::Duration::from_secs(1))]
    fn bump(&self) -> fasteners::Result<()> {
        Ok(())
    }
}

fn main() {}
