//! Compile-pass and compile-fail cases of the macros live in `pass/` and `fail/`.
