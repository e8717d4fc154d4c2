#[fasteners::interprocess_locked(timeout = std::time::Duration::from_secs(1))]
fn save() -> fasteners::Result<()> {
    Ok(())
}

fn main() {}
