# Sourced by scripts/test.sh and scripts/bench.sh: `start_clickhouse` installs (on first use) and starts a
# ClickHouse HTTP interface on loopback — the ClickHouse engine of PyPI's chdb-core, in a cached virtualenv, behind
# scripts/clickhouse_http.py — and sets `clickhouse_url` and `chdb_python`. The caller's `cleanup` array gets the
# commands that stop it and remove its data.

start_clickhouse() {
  local chdb_dir="$HOME/.cache/budobserve/chdb"
  chdb_python="$chdb_dir/bin/python"
  if ! "$chdb_python" -c 'import chdb, lz4.block, lz4.frame, zstandard' 2>/dev/null; then
    rm -rf "$chdb_dir"
    python3 -m venv "$chdb_dir"
    # chdb-core: the engine and its Python binding (its optional dataframe dependencies are not used); lz4 and
    # zstandard: the codecs of request bodies clients compress.
    "$chdb_python" -m pip install --quiet --disable-pip-version-check --no-deps "chdb-core==26.9.0" \
      "lz4==4.4.5" "zstandard==0.25.0"
  fi
  local data out pid
  data=$(mktemp -d)
  out=$(mktemp)
  "$chdb_python" scripts/clickhouse_http.py --data "$data" --port 0 >"$out" 2>&1 &
  pid=$!
  cleanup+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf $data $out")
  for _ in $(seq 1 100); do
    grep -q "listening on" "$out" && break
    kill -0 "$pid" 2>/dev/null || { cat "$out"; return 1; }
    sleep 0.1
  done
  clickhouse_url=$(sed -n 's/^listening on //p' "$out")
  [[ -n "$clickhouse_url" ]] || { cat "$out"; return 1; }
  printf 'ClickHouse %s at %s\n' "$(curl -fsS "$clickhouse_url/?query=SELECT%20version()")" "$clickhouse_url"
}
