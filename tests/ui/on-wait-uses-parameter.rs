#[fasteners::interprocess_locked(name = "jobs", on_wait = move |_| drop(&verbose))]
fn run(verbose: bool) {
    let _ = verbose;
}

fn main() {}
