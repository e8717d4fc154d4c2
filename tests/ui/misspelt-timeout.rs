#[fasteners::interprocess_locked("/tmp/fasteners-ui.lock", timout = std::time::Duration::from_secs(1))]
fn save() -> fasteners::Result<()> {
    Ok(())
}

fn main() {}
