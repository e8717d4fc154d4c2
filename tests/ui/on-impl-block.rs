use std::sync::Mutex;

struct Counter {
    lock: Mutex<()>,
}

#[fasteners::locked]
impl Counter {
    fn bump(&self) {}
}

fn main() {}
