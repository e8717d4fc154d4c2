use std::path::Path;

#[fasteners::interprocess_locked(dir.join("app.lock"))]
fn save(dir: &Path) {
    let _ = dir;
}

fn main() {}
