#!/usr/bin/env bash
# Runs the overhead benchmarks (BudObserve and its peers, every scenario in the same run) and writes
# BENCHMARKS.md: median ns/op, allocations/op on the calling thread, and ratios against each peer.
# Absolute times depend on the machine; the ratios are the result.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/budobserve/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
criterion_dir="$CARGO_TARGET_DIR/criterion"
allocations=$(mktemp)
paired=$(mktemp)
trap 'rm -f "$allocations" "$paired"' EXIT

rm -rf "$criterion_dir"
BUDOBSERVE_BENCH_ALLOCATIONS="$allocations" BUDOBSERVE_BENCH_PAIRED="$paired" \
  cargo bench --locked -p budobserve --bench overhead -- "$@"

python3 scripts/bench_report.py "$criterion_dir" "$allocations" "$paired" > BENCHMARKS.md
cat BENCHMARKS.md
