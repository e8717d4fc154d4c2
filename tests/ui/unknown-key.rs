use std::sync::Mutex;

struct Counter {
    guard: Mutex<()>,
}

impl Counter {
    #[fasteners::locked(lok = guard)]
    fn bump(&self) {}
}

fn main() {}
