use std::sync::Mutex;

mod locks {
    pub const LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
}

#[fasteners::locked(lock = crate::locks::LOCK)]
fn bump() -> u32 {
    let _ = Mutex::new(());
    1
}

fn main() {}
