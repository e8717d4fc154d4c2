struct Counter {
    count: u32,
}

impl Counter {
    #[fasteners::locked(lock = count)]
    fn bump(&self) -> u32 {
        self.count + 1
    }
}

fn main() {}
