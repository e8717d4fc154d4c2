use std::sync::Mutex;

struct Counter {
    guard: Mutex<()>,
}

impl Counter {
    #[fasteners::locked(lock = gaurd)]
    fn bump(&self) {}
}

fn main() {}
