use std::sync::Mutex;

static LOCK: Mutex<()> = Mutex::new(());

#[fasteners::locked(lock = LOCK)]
const fn answer() -> u32 {
    42
}

fn main() {}
