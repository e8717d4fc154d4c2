use std::sync::Mutex;

struct Counter {
    lock: Mutex<()>,
}

impl Counter {
    // A std `Mutex` guard cannot be held across `.await`: use an async lock.
    #[fasteners::locked]
    async fn bump(&self) {}
}

fn main() {}
