#[fasteners::interprocess_locked(name = "db")]
mod tests;

fn main() {}
