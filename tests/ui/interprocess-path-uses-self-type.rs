struct Store;

impl Store {
    const LOCK_PATH: &'static str = "/tmp/fasteners-ui.lock";

    #[fasteners::interprocess_locked(Self::LOCK_PATH)]
    fn save(&self) {}
}

fn main() {}
