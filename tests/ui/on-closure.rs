use std::sync::Mutex;

static LOCK: Mutex<()> = Mutex::new(());

fn main() {
    let bump = #[fasteners::locked(lock = LOCK, blocking = 5)]
    || 1;
    let _ = bump();
}
