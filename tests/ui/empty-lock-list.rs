struct Counter;

impl Counter {
    #[fasteners::locked(lock = [])]
    fn bump(&self) {}
}

fn main() {}
