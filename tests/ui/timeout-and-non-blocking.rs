#[fasteners::interprocess_locked("/tmp/x.lock", timeout = std::time::Duration::from_secs(1), blocking = false)]
fn save() -> fasteners::Result<()> {
    Ok(())
}

fn main() {}
