#[fasteners::interprocess_locked("/tmp/fasteners-ui.lock")]
#[fasteners::interprocess_write_locked("/tmp/fasteners-ui.lock")]
fn save() {}

fn main() {}
