#[fasteners::interprocess_locked(42)]
fn save() {}

fn main() {}
