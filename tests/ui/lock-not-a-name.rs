struct Counter;

impl Counter {
    #[fasteners::locked(lock = 5)]
    fn bump(&self) {}
}

fn main() {}
