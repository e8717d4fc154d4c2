#[fasteners::interprocess_write_locked(name = 42)]
fn save() {}

fn main() {}
