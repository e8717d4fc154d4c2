#[fasteners::locked]
fn bump() {}

fn main() {}
