use std::sync::Mutex;

struct Counter {
    lock: Mutex<()>,
}

impl Counter {
    #[fasteners::locked(blocking = false)]
    fn bump(&self) -> Result<u32, String> {
        Ok(1)
    }
}

fn main() {}
