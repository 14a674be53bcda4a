#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, doc and UI (trybuild) tests, and builds the examples.
# The OTLP tests start their own receiver on loopback (a real HTTP server in the test process); the OTLP example
# runs against a real collector (rotel-agent, fetched from PyPI on first use and cached), started here on loopback;
# the ClickHouse comparison test starts its own rotel-agent with its ClickHouse exporter.
# The BudMetrics tests and example run against a ClickHouse engine (PyPI's chdb-core, installed on first use into
# a cached virtualenv) behind ClickHouse's HTTP interface (scripts/clickhouse_http.py), started here on loopback.
# The LLM tests and example also go through a LiteLLM proxy (PyPI's litellm in a cached virtualenv, its models
# answering with mock responses), started here on loopback.
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
cleanup=("rm -f $log")
trap 'for c in "${cleanup[@]}"; do eval "$c" || true; done' EXIT
run_tests() { cargo test "$@" 2>&1 | tee -a "$log"; }

step "ClickHouse on loopback (the engine of chdb-core behind scripts/clickhouse_http.py)"
source scripts/clickhouse.sh
start_clickhouse
export BUD_OBSERVE_TEST_CLICKHOUSE_URL="$clickhouse_url"
export BUD_OBSERVE_TEST_CHDB_PYTHON="$chdb_python"

step "a LiteLLM proxy on loopback (PyPI's litellm, its models answering with mock responses), starting meanwhile"
source scripts/litellm.sh
start_litellm
export BUD_OBSERVE_TEST_LITELLM_URL="$litellm_url" BUD_OBSERVE_TEST_LITELLM_KEY="$litellm_key"

step "Redis on loopback (Debian's redis-server)"
if ! command -v redis-server >/dev/null; then
  apt-get install -y -qq redis-server >/dev/null 2>&1 || sudo apt-get install -y -qq redis-server >/dev/null
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.1; done
fi
export BUD_OBSERVE_TEST_REDIS_URL="${BUD_OBSERVE_TEST_REDIS_URL:-redis://127.0.0.1:6379/3}"
echo "Redis at $BUD_OBSERVE_TEST_REDIS_URL"

step "PostgreSQL on loopback (Debian's postgresql)"
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt-get install -y -qq postgresql >/dev/null 2>&1 || sudo apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
  pg_ctlcluster "$version" main start
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break; sleep 0.1; done
  # A cluster of our own: the password the tests use (a trust-auth cluster ignores it).
  runuser -u postgres -- psql -q -c "ALTER USER postgres PASSWORD 'postgres'"
fi
if ! runuser -u postgres -- psql -q -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null | grep -q 1; then
  runuser -u postgres -- createdb test 2>/dev/null || true
fi
export BUD_OBSERVE_TEST_POSTGRES_URL="${BUD_OBSERVE_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/test}"
echo "PostgreSQL at ${BUD_OBSERVE_TEST_POSTGRES_URL//:postgres@/:***@}"

step "rotel-agent (PyPI's rotel wheel, a collector with OTLP receivers and a ClickHouse exporter), cached"
rotel_dir="$HOME/.cache/budobserve/rotel"
rotel="$rotel_dir/rotel/rotel-agent"
if [[ ! -x "$rotel" ]]; then
  mkdir -p "$rotel_dir"
  python3 -m pip download --quiet --no-deps --dest "$rotel_dir" "rotel==0.0.1a15"
  python3 -m zipfile -e "$(ls "$rotel_dir"/rotel-*.whl | head -n 1)" "$rotel_dir"
  chmod +x "$rotel"
fi
export BUD_OBSERVE_TEST_ROTEL="$rotel"
"$rotel" --version

step "the LiteLLM proxy answers"
wait_for_litellm

step "unit, integration and UI tests"
run_tests --workspace --all-targets --locked

step "doc tests"
run_tests --workspace --doc --locked

step "macro expansions are clippy-clean in a user crate (the integration tests use every macro form)"
cargo clippy --locked -p budobserve-tests --all-targets -- -D warnings -D clippy::all

step "API docs build without warnings or broken links"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps --all-features

step "examples build"
cargo build --workspace --examples --locked

step "the testing example: its checks run, and run as its tests"
run_tests --locked -p budobserve-examples --example testing
output=$(cargo run --quiet --locked --example testing 2>&1)
printf '%s\n' "$output"
grep -q "^every check passed$" <<<"$output"

step "quickstart runs"
output=$(BUD_OBSERVE_CONSOLE=true cargo run --quiet --locked --example quickstart 2>&1)
printf '%s\n' "$output"
grep -q "user 42 logged in" <<<"$output"
grep -q "    quota at 3.8%" <<<"$output"

step "the axum service example (server, client and tracing bridge on the console)"
output=$(cargo run --quiet --locked --example axum_service -- demo 2>&1)
printf '%s\n' "$output"
grep -q "^[0-9:.]* GET /users/42$" <<<"$output"
grep -q "^[0-9:.]*   GET /quota/{user_id}$" <<<"$output"
grep -q "^[0-9:.]*     GET /quota/42$" <<<"$output"
grep -q "^/users/0 -> 404 Not Found" <<<"$output"

step "the full-stack example (axum, sqlx on PostgreSQL, redis, an LLM through LiteLLM) against the local servers"
output=$(DATABASE_URL="$BUD_OBSERVE_TEST_POSTGRES_URL" REDIS_URL="$BUD_OBSERVE_TEST_REDIS_URL" \
  OPENAI_BASE_URL="$litellm_url" OPENAI_API_KEY="$litellm_key" \
  cargo run --quiet --locked --example full_stack -- demo 2>&1)
printf '%s\n' "$output"
grep -q "^[0-9:.]* GET /users/1$" <<<"$output"
grep -qE "^[0-9:.]*   SELECT full_stack_users → [0-9a-z]+ in [0-9.]+ (ms|s)$" <<<"$output"  # a client call is one line, with its outcome
grep -qE "^[0-9:.]*   SETEX → [0-9a-z]+ in [0-9.]+ (ms|s)$" <<<"$output"
grep -q "^[0-9:.]*   cache hit for user 1$" <<<"$output"
grep -q "^/users/2 -> 404 Not Found" <<<"$output"
grep -q "^[0-9:.]* GET /users/1/greeting$" <<<"$output"
grep -qE "^[0-9:.]*   Chat Completion with gpt-4o-mini \[LLM\]( → [0-9a-z]+ in [0-9.]+ (ms|s))?$" <<<"$output"
grep -q "^/users/1/greeting -> 200 OK Hello from the LiteLLM proxy!$" <<<"$output"

step "the OTLP example against a real collector (rotel-agent on loopback)"
rotel_log=$(mktemp)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$rotel" start --exporter blackhole --debug-log traces \
  --otlp-grpc-endpoint 127.0.0.1:0 --otlp-http-endpoint "127.0.0.1:$port" >"$rotel_log" 2>&1 &
rotel_pid=$!
cleanup+=("rm -f $rotel_log; kill $rotel_pid 2>/dev/null")
for _ in $(seq 1 100); do
  grep -q "Starting Rotel" "$rotel_log" && break
  sleep 0.1
done
output=$(cargo run --quiet --locked --example otlp -- "http://127.0.0.1:$port" 2>&1)
printf '%s\n' "$output"
grep -q "exported 9 spans, dropped 0, lost in failed exports 0" <<<"$output"
received() { sed 's/\x1b\[[0-9;]*m//g' "$rotel_log" | grep "Received traces" || true; }
for _ in $(seq 1 50); do
  received | grep -q "spans=9" && break
  sleep 0.1
done
received
received | grep -q "spans=9"
kill "$rotel_pid" 2>/dev/null || true

step "the BudMetrics example against ClickHouse, and the query it prints"
output=$(BUD_OBSERVE_CLICKHOUSE_URL="$clickhouse_url" cargo run --quiet --locked --example budmetrics 2>&1)
printf '%s\n' "$output"
grep -q "exported 3 spans, dropped 0, lost in failed exports 0" <<<"$output"
found=$(tail -n 1 <<<"$output" | curl -fsS "$clickhouse_url/" --data-binary @-)
printf '%s\n' "$found"
[[ $(wc -l <<<"$found") -eq 3 ]]
grep -qP "^Chat Completion with \{model\}\t[0-9a-f]{16}\t[0-9]+\tproj-example\t128$" <<<"$found"

step "the LLM example through the LiteLLM proxy, its spans on the console and in ClickHouse"
output=$(OPENAI_BASE_URL="$litellm_url" OPENAI_API_KEY="$litellm_key" LLM_MODEL=gpt-4o-mini LLM_PROVIDER=litellm \
  BUD_OBSERVE_CLICKHOUSE_URL="$clickhouse_url" BUD_OBSERVE_CONSOLE=true cargo run --quiet --locked --example llm 2>&1)
printf '%s\n' "$output"
grep -qE "^[0-9:.]*   Chat Completion with gpt-4o-mini \[LLM\]( → [0-9a-z]+ in [0-9.]+ (ms|s))?$" <<<"$output"
grep -q "^streamed: Hello from the LiteLLM proxy!$" <<<"$output"
found=$(curl -fsS "$clickhouse_url/" --data-binary @- <<'SQL'
SELECT SpanName, SpanAttributes['gen_ai.provider.name'], SpanAttributes['gen_ai.usage.input_tokens'],
  SpanAttributes['gen_ai.usage.output_tokens'], SpanAttributes['gen_ai.usage.cost'],
  SpanAttributes['gen_ai.response.finish_reasons'], SpanAttributes['gen_ai.request.stream'],
  SpanAttributes['gen_ai.response.time_to_first_chunk'] != ''
FROM metrics.otel_traces WHERE ServiceName = 'llm-example' AND ParentSpanId != '' ORDER BY Timestamp FORMAT TSV
SQL
)
printf '%s\n' "$found"
[[ $(wc -l <<<"$found") -eq 2 ]]
# gpt-4o-mini: $0.15 per million input tokens, $0.60 output: 10 × 0.15 + 20 × 0.6 per million.
grep -qP '^Chat Completion with gpt-4o-mini\tlitellm\t10\t20\t0.0000135\t\["stop"\]\t\t0$' <<<"$found"
grep -qP '^Chat Completion with gpt-4o-mini\tlitellm\t\d+\t8\t0\.0000\d+\t\["stop"\]\ttrue\t1$' <<<"$found"

step "the Dapr example against the stand-in sidecar (orders and billing both served by the example)"
cargo build --quiet --locked -p budobserve-tests --bin dapr_sidecar -p budobserve-examples --example dapr
app_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sidecar_log=$(mktemp)
example_log=$(mktemp)
"$CARGO_TARGET_DIR/debug/dapr_sidecar" orders "$BUD_OBSERVE_TEST_REDIS_URL" \
  "orders=http://127.0.0.1:$app_port" "billing=http://127.0.0.1:$app_port" >"$sidecar_log" 2>&1 &
sidecar_pid=$!
cleanup+=("kill $sidecar_pid 2>/dev/null; rm -f $sidecar_log $example_log")
for _ in $(seq 1 100); do grep -q "listening on" "$sidecar_log" && break; sleep 0.1; done
sidecar_port=$(sed -n 's/^listening on http:\/\/127.0.0.1://p' "$sidecar_log")
DAPR_HTTP_PORT="$sidecar_port" APP_PORT="$app_port" APP_ID=orders BUD_OBSERVE_CONSOLE_COLORS=never \
  "$CARGO_TARGET_DIR/debug/examples/dapr" >"$example_log" 2>&1 &
example_pid=$!
cleanup+=("kill $example_pid 2>/dev/null")
for _ in $(seq 1 100); do grep -q "orders listening on port" "$example_log" && break; sleep 0.1; done
answer=$(curl -fsS -X POST "http://127.0.0.1:$app_port/checkout/7")
printf '%s\n' "$answer"
[[ "$answer" == '{"order":7,"billing":200}' ]]
for _ in $(seq 1 50); do grep -q "order 7 placed" "$example_log" && break; sleep 0.1; done
kill "$example_pid" 2>/dev/null || true
cat "$example_log"
grep -q "^[0-9:.]* POST /checkout/7$" "$example_log"
grep -qE "^[0-9:.]*   SAVE statestore → [0-9a-z]+ in [0-9.]+ (ms|s)$" "$example_log"
grep -q "^[0-9:.]*   publish orders$" "$example_log"
grep -q "^[0-9:.]*   billing/charge$" "$example_log"
grep -q "^[0-9:.]*     POST /charge$" "$example_log"
grep -q "^[0-9:.]*       charging order 7$" "$example_log"
# The delivery comes after the publish span ended: a new line, its parent the publish span (in the trace).
grep -q "^[0-9:.]* POST /events/orders$" "$example_log"
grep -q "^[0-9:.]*   process orders$" "$example_log"
grep -q "^[0-9:.]*     order 7 placed$" "$example_log"
[[ $(grep -c "order 7 placed$" "$example_log") -eq 1 ]]

step "the README's service: a new crate outside the workspace, from the README's cargo add lines and main.rs"
./scripts/readme_service.sh

awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
