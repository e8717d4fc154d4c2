static COUNT: u32 = 0;

#[fasteners::locked(lock = self::COUNT)]
fn bump() -> u32 {
    COUNT + 1
}

fn main() {}
