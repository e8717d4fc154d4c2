use std::sync::RwLock;

struct Cache {
    lock: RwLock<()>,
}

impl Cache {
    #[fasteners::write_locked(timeout = std::time::Duration::from_secs(1))]
    fn clear(&self) -> u32 {
        0
    }
}

fn main() {}
