use std::sync::RwLock;

struct Cache {
    rw: RwLock<()>,
}

impl Cache {
    #[fasteners::read_locked(lock = rw)]
    #[fasteners::write_locked(lock = rw)]
    fn refresh(&self) {}
}

fn main() {}
