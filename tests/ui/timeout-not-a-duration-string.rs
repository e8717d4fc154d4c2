use std::time::Duration;

struct Cache {
    lock: fasteners::ReaderWriterLock,
}

impl Cache {
    #[fasteners::write_locked(timeout = "5s")]
    fn clear(&self) -> fasteners::Result<()> {
        let _ = Duration::ZERO;
        Ok(())
    }
}

fn main() {}
