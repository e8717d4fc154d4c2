#[fasteners::locked]
mod tests {
    fn one() {}
}

fn main() {}
