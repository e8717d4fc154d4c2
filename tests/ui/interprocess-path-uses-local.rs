fn main() {
    let path = std::env::temp_dir().join("fasteners-ui.lock");

    #[fasteners::interprocess_locked(path)]
    fn save() {}

    save();
}
