use std::sync::Mutex;

struct Counter {
    lock: Mutex<()>,
}

impl Counter {
    #[fasteners::locked]
    #[fasteners::locked]
    fn bump(&self) {}
}

fn main() {}
