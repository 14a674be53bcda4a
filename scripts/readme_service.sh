#!/usr/bin/env bash
# Builds the README's "A traced service, from `cargo new`" in a new crate outside the workspace, from the README's
# own lines — its `cargo add` commands (BudObserve from this checkout) and its `src/main.rs` — then runs it: two
# requests, SIGTERM, and the console must show the server and client spans with their outcome, and the process must
# end by itself after its graceful shutdown.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/budobserve/target}"
work=$(mktemp -d)
service_pid=""
trap '[[ -n "$service_pid" ]] && kill "$service_pid" 2>/dev/null; rm -rf "$work"' EXIT

# The section's first `sh` block and its first `rust` block.
section=$(awk '/^### A traced service, from `cargo new`/ { on = 1; next } on && /^##/ { exit } on' "$root/README.md")
commands=$(awk '/^```sh$/ && !done { on = 1; next } on && /^```$/ { done = 1; on = 0 } on' <<<"$section")
main_rs=$(awk '/^```rust/ && !done { on = 1; next } on && /^```$/ { done = 1; on = 0 } on' <<<"$section")
[[ -n "$commands" && -n "$main_rs" ]] || { echo "README: the service's commands or main.rs not found" >&2; exit 1; }

# BudObserve comes from this checkout; everything else as the README says. The workspace's lock file keeps the
# versions the tests ran with (and the registry's index cache then suffices when the network does not answer).
commands=$(sed "s#^cargo add budobserve #cargo add budobserve --path $root/budobserve #" <<<"$commands")
commands=$(sed "s#^cargo new my-service && cd my-service#cargo new --quiet my-service \&\& cd my-service \&\& cp $root/Cargo.lock .#" <<<"$commands")
printf '%s\n' "$commands"
(cd "$work" && bash -euo pipefail -c "$commands" 2>&1) ||
  (rm -rf "$work/my-service" && cd "$work" && CARGO_NET_OFFLINE=true bash -euo pipefail -c "$commands" 2>&1)
printf '%s\n' "$main_rs" >"$work/my-service/src/main.rs"

cd "$work/my-service"
cargo build --quiet 2>&1 || CARGO_NET_OFFLINE=true cargo build --quiet
log="$work/service.log"
BUD_OBSERVE_CONSOLE_COLORS=never "$CARGO_TARGET_DIR/debug/my-service" >"$log" 2>&1 &
service_pid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null http://127.0.0.1:3000/hello/ready 2>/dev/null && break; sleep 0.1; done
[[ $(curl -fsS http://127.0.0.1:3000/hello/ada) == "hello ada" ]]
[[ $(curl -fsS http://127.0.0.1:3000/upstream) == "done" ]]
kill -TERM "$service_pid"
status=0
wait "$service_pid" || status=$?
service_pid=""
cat "$log"
[[ $status -eq 0 ]] || { echo "the service ended with $status after SIGTERM" >&2; exit 1; }
grep -qE "^[0-9:.]* GET /hello/ada → 200 in [0-9.]+ (ms|s)$" "$log"
grep -qE "^[0-9:.]*   Calling my_service::greeting$" "$log"
grep -qE "^[0-9:.]*   GET http://127.0.0.1:3000/hello/upstream$" "$log"
grep -qE "^[0-9:.]*   GET http://127.0.0.1:3000/hello/upstream → 200 in [0-9.]+ (ms|s)$" "$log"
grep -qE "^[0-9:.]*   upstream answered Ok\(200\)$" "$log"
echo "the README's service builds and runs"
