type Fallible<T> = Result<T, fasteners::Error>;

#[fasteners::interprocess_locked("/tmp/fasteners-ui.lock", timeout = std::time::Duration::from_secs(1))]
fn save() -> Fallible<()> {
    Ok(())
}

fn main() {}
