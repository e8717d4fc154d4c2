#[fasteners::interprocess_locked("/tmp/fasteners-ui.lock")]
mod tests {
    #[fasteners::interprocess_read_locked("/tmp/fasteners-ui.lock")]
    fn reads() {}
}

fn main() {}
