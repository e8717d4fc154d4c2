use std::sync::Mutex;

struct Counter {
    a: Mutex<()>,
    b: Mutex<()>,
}

impl Counter {
    #[fasteners::locked(lock = [a, b, a])]
    fn bump(&self) {}
}

fn main() {}
