//! Misuse of the attributes is a compile error pointing at the offending
//! token: `tests/ui/<what-is-wrong>.rs`, one mistake per file, with the
//! expected `.stderr` beside it (regenerate with `TRYBUILD=overwrite`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
