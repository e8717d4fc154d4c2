use std::sync::Mutex;

static LOCK: Mutex<()> = Mutex::new(());

#[fasteners::locked(lock = LOCK, crate = 5)]
fn save() {}

fn main() {}
