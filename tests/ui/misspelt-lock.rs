use std::sync::Mutex;

struct Counter {
    guard: Mutex<()>,
}

impl Counter {
    #[fasteners::locked(lokc = guard)]
    fn bump(&self) {}
}

fn main() {}
