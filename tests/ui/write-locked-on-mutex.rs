use std::sync::Mutex;

struct Counter {
    lock: Mutex<()>,
}

impl Counter {
    #[fasteners::write_locked]
    fn bump(&self) {}
}

fn main() {}
