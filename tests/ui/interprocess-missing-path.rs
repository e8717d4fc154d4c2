#[fasteners::interprocess_locked]
fn save() {}

fn main() {}
