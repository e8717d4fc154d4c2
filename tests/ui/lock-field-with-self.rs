use std::sync::Mutex;

struct Counter {
    guard: Mutex<()>,
}

impl Counter {
    #[fasteners::locked(lock = self.guard)]
    fn bump(&self) {}
}

fn main() {}
