trait Counter {
    #[fasteners::locked]
    fn bump(&self);
}

fn main() {}
