//! Integration tests of BudObserve live in `tests/tests/`; this library is empty.
