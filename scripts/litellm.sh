# Sourced by scripts/test.sh: `start_litellm` installs (on first use) and starts a LiteLLM proxy on loopback — the
# OpenAI-compatible gateway, from PyPI, in a cached virtualenv — whose models answer with LiteLLM's mock responses
# (no upstream provider, no key), and sets `litellm_url` (the OpenAI base URL, `…/v1`) and `litellm_key`;
# `wait_for_litellm` waits until it answers (it takes seconds to start: the caller does other work meanwhile). The
# caller's `cleanup` array gets the commands that stop it.

litellm_version=1.108.7

start_litellm() {
  local venv="$HOME/.cache/budobserve/litellm"
  if ! "$venv/bin/python" -c 'import litellm.proxy.proxy_server' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$litellm_version"
  fi
  local dir port
  dir=$(mktemp -d)
  litellm_key="sk-budobserve-test"
  cat >"$dir/config.yaml" <<YAML
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-unused
      mock_response: "Hello from the LiteLLM proxy!"
general_settings:
  master_key: $litellm_key
litellm_settings:
  telemetry: false
YAML
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # The bundled price list is used as it is (no fetch of the newest one).
  LITELLM_LOCAL_MODEL_COST_MAP=True "$venv/bin/litellm" --config "$dir/config.yaml" --host 127.0.0.1 --port "$port" \
    >"$dir/log" 2>&1 &
  litellm_pid=$!
  litellm_log="$dir/log"
  cleanup+=("kill $litellm_pid 2>/dev/null; wait $litellm_pid 2>/dev/null; rm -rf $dir")
  litellm_url="http://127.0.0.1:$port/v1"
}

wait_for_litellm() {
  local health="${litellm_url%/v1}/health/liveliness"
  for _ in $(seq 1 1200); do
    curl -fsS "$health" >/dev/null 2>&1 && break
    kill -0 "$litellm_pid" 2>/dev/null || { cat "$litellm_log"; return 1; }
    sleep 0.1
  done
  curl -fsS "$health" >/dev/null || { cat "$litellm_log"; return 1; }
  printf 'LiteLLM proxy %s at %s\n' "$litellm_version" "$litellm_url"
}
