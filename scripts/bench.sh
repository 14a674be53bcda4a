#!/usr/bin/env bash
# Runs the overhead benchmarks (BudObserve and its peers, every scenario in the same run) and writes
# BENCHMARKS.md: median ns/op, allocations/op on the calling thread, and ratios against each peer.
# Absolute times depend on the machine; the ratios are the result. Then spans/s through the batch processor into a
# local ClickHouse (started here, see scripts/clickhouse.sh), per wire format.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/budobserve/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
criterion_dir="$CARGO_TARGET_DIR/criterion"
allocations=$(mktemp)
paired=$(mktemp)
throughput=$(mktemp)
cleanup=("rm -f $allocations $paired $throughput")
trap 'for c in "${cleanup[@]}"; do eval "$c" || true; done' EXIT

rm -rf "$criterion_dir"
BUDOBSERVE_BENCH_ALLOCATIONS="$allocations" BUDOBSERVE_BENCH_PAIRED="$paired" \
  cargo bench --locked -p budobserve --bench overhead -- "$@"

source scripts/clickhouse.sh
start_clickhouse
cargo run --release --locked -p budobserve --features clickhouse --example budmetrics_throughput -- \
  "$clickhouse_url" "${BUDOBSERVE_BENCH_CLICKHOUSE_SPANS:-200000}" > "$throughput"

python3 scripts/bench_report.py "$criterion_dir" "$allocations" "$paired" "$throughput" > BENCHMARKS.md
cat BENCHMARKS.md
