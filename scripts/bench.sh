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

# The recorded-span scenario paced (blocks of 1,024, flushed between) and counted (exported = produced for every
# implementation), with dynamic values and caller percentiles.
paced=$(mktemp)
cleanup+=("rm -f $paced")
cargo run --release --locked -p budobserve --example paced_spans -- "${BUDOBSERVE_BENCH_PACED_BLOCKS:-400}" > "$paced"
# logfire-rust, the same recorded span, from its own workspace (it pins another OpenTelemetry SDK).
cargo run --release --locked --manifest-path peers/logfire/Cargo.toml -- "${BUDOBSERVE_BENCH_PACED_BLOCKS:-400}" \
  >> "$paced"

# OTLP/HTTP end to end against a receiver on loopback that decodes every request: BudObserve and the raw SDK with
# opentelemetry-otlp sending the same data.
otlp=$(mktemp)
cleanup+=("rm -f $otlp")
cargo run --release --locked -p budobserve --features otlp --example otlp_throughput -- \
  "${BUDOBSERVE_BENCH_OTLP_BLOCKS:-200}" > "$otlp"

source scripts/clickhouse.sh
start_clickhouse
cargo run --release --locked -p budobserve --features clickhouse --example budmetrics_throughput -- \
  "$clickhouse_url" "${BUDOBSERVE_BENCH_CLICKHOUSE_SPANS:-200000}" > "$throughput"

# Per-request overhead of the HTTP server layer: a hello-world axum handler under wrk on loopback (wrk from
# Debian's packages), with no layer, BudObserve's, and tower-http's TraceLayer through tracing-opentelemetry;
# modes interleaved over several rounds.
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked -p budobserve --features axum --example http_server_bench
server="$CARGO_TARGET_DIR/release/examples/http_server_bench"
http=$(mktemp)
cleanup+=("rm -f $http")
for round in 1 2 3; do
  for mode in none budobserve tower-http; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$server" "$mode" "$port" >/dev/null &
    pid=$!
    for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    rps=$(wrk -t1 -c16 -d"${BUDOBSERVE_BENCH_HTTP_SECONDS:-5}"s "http://127.0.0.1:$port/hello/7" | sed -n 's/^Requests\/sec: *//p')
    kill "$pid"; wait "$pid" 2>/dev/null || true
    printf '%s\t%s\t%s\n' "$mode" "$round" "$rps" >> "$http"
  done
done

# Per-query overhead of the sqlx and redis integrations against the local PostgreSQL and Redis (scripts/test.sh
# makes sure they run).
queries=$(mktemp)
cleanup+=("rm -f $queries")
cargo run --release --locked -p budobserve --features sqlx,redis --example db_bench -- \
  "${BUD_OBSERVE_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/test}" \
  "${BUD_OBSERVE_TEST_REDIS_URL:-redis://127.0.0.1:6379/3}" > "$queries"

python3 scripts/bench_report.py "$criterion_dir" "$allocations" "$paired" "$throughput" "$http" "$queries" "$paced" \
  "$otlp" > BENCHMARKS.md
cat BENCHMARKS.md
