#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, doc and UI (trybuild) tests, and builds the examples.
# Starts whatever real services the tests need first (none yet for the core: the tests use in-process exporters).
#
# Builds go to $CARGO_TARGET_DIR, by default outside the clone so that repeated runs stay incremental.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/budobserve/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-0}"

step() { printf '\n==> %s\n' "$*"; }

# Every cargo test run is logged so that the closing line can count all of them.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_tests() { cargo test "$@" 2>&1 | tee -a "$log"; }

step "unit, integration and UI tests"
run_tests --workspace --all-targets --locked

step "doc tests"
run_tests --workspace --doc --locked

step "macro expansions are clippy-clean in a user crate (the integration tests use every macro form)"
cargo clippy --locked -p budobserve-tests --all-targets -- -D warnings -D clippy::all

step "examples build"
cargo build --workspace --examples --locked

step "quickstart runs"
output=$(BUD_OBSERVE_CONSOLE=true cargo run --quiet --locked --example quickstart 2>&1)
printf '%s\n' "$output"
grep -q "user 42 logged in" <<<"$output"
grep -q "    quota at 3.8%" <<<"$output"

awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
