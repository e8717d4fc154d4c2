#[fasteners::locked]
struct Counter;

fn main() {}
