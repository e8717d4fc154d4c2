#[fasteners::locked(lock = LOCK, blocking = false)]
const ANSWER: u32 = 42;

fn main() {}
