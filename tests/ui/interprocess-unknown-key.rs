#[fasteners::interprocess_locked("/tmp/x.lock", lock = other)]
fn save() {}

fn main() {}
