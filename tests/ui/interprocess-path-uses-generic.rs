trait Store {
    const LOCK_PATH: &'static str;
}

#[fasteners::interprocess_locked(S::LOCK_PATH)]
fn save<S: Store>() {}

fn main() {}
