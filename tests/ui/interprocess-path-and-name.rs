#[fasteners::interprocess_locked("/tmp/fasteners-ui.lock", name = "db")]
fn save() {}

fn main() {}
