#[fasteners::interprocess_locked("/tmp/fasteners-ui.lock", blocking = false, returns_result)]
fn save() {}

fn main() {}
