use std::sync::Mutex;

struct Counter {
    lock: Mutex<()>,
}

impl Counter {
    #[fasteners::locked]
    async fn bump(&self) {}
}

fn main() {}
