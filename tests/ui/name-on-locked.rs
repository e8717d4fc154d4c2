#[fasteners::locked(name = "db")]
fn save() {}

fn main() {}
