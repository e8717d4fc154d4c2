use std::sync::Mutex;

static A: Mutex<()> = Mutex::new(());
static B: Mutex<()> = Mutex::new(());

#[fasteners::locked(lock = [A, B])]
#[fasteners::locked(lock = self::B)]
fn both() {}

fn main() {}
