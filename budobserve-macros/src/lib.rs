//! Procedural macros of BudObserve, re-exported by the `budobserve` crate.
