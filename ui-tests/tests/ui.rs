//! The macros' compile-time behaviour: every case in `pass/` compiles, every case in `fail/` fails with the error
//! committed beside it (regenerate with `TRYBUILD=overwrite` after reading the diff).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("pass/*.rs");
    cases.compile_fail("fail/*.rs");
}
