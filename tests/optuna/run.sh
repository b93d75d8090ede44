#!/usr/bin/env bash
# Optuna against ETS: real `optuna` scripts store their studies through
# `optuna.storages.GrpcStorageProxy` in `ets serve --optuna-grpc-port`.
#
#   tests/optuna/run.sh [pytest args...]
#
# Starts ETS on free loopback ports with a fresh data dir, runs the pytest suite in this folder
# (tests/optuna/.venv, made on first use from requirements.txt), and stops ETS. With
# ETS_DATABASE_URL set (PostgreSQL), starts two instances on that database, and the suite also
# runs workers on both at once. Exit code: pytest's ("no tests ran" counts as a failure).
#
# With ETS_AUTH=key (SQLite): authentication on, a global admin's API key in the file
# optuna.api_key_file (what GrpcStorageProxy's calls act as, since it sends no credentials);
# the suite's native calls send that key too.
#
# Environment: ETS_BIN (default: cargo build, target/debug/ets), ETS_DATABASE_URL, ETS_AUTH,
# SERVER_START_TIMEOUT (seconds, default 120).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SERVER_START_TIMEOUT="${SERVER_START_TIMEOUT:-120}"
# shellcheck source=tests/venv.sh
source "$REPO/tests/venv.sh"
ensure_fixture_venv "$HERE"
PY="$HERE/.venv/bin/python"

if [[ -n "${ETS_BIN:-}" ]]; then
  ETS="$ETS_BIN"
else
  (cd "$REPO" && cargo build --bin ets)
  ETS="${CARGO_TARGET_DIR:-$REPO/target}/debug/ets"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/ets-optuna.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

instances=1
db_args=()
if [[ -n "${ETS_DATABASE_URL:-}" ]]; then
  instances=2
  db_args=(--database-url "$ETS_DATABASE_URL")
fi
auth_env=(ETS_AUTH__ENABLED=false)
unset ETS_TOKEN
if [[ "${ETS_AUTH:-}" == key ]]; then
  [[ $instances -eq 1 ]] || { echo "ETS_AUTH=key runs on SQLite only" >&2; exit 2; }
  mkdir -p "$TMP/data1"
  key="$(env -u ETS_BIN -u ETS_AUTH "$ETS" users create optuna-admin --admin --data-dir "$TMP/data1" | tail -n 1)"
  [[ "$key" == ets_* ]] || { echo "no API key from ets users create" >&2; exit 1; }
  (umask 077 && printf '%s\n' "$key" >"$TMP/optuna.key")
  auth_env=(ETS_AUTH__ENABLED=true ETS_OPTUNA__API_KEY_FILE="$TMP/optuna.key")
  export ETS_TOKEN="$key"
elif [[ -n "${ETS_AUTH:-}" ]]; then
  echo "ETS_AUTH must be key, not '$ETS_AUTH'" >&2
  exit 2
fi
urls=() grpc_ports=()
for i in $(seq 1 "$instances"); do
  port="$(free_port)" grpc="$(free_port)"
  mkdir -p "$TMP/data$i"
  setsid env -u ETS_BIN -u ETS_AUTH -u ETS_TOKEN "${auth_env[@]}" "$ETS" "${db_args[@]}" serve --host 127.0.0.1 --port "$port" \
    --metrics-port 0 --optuna-grpc-port "$grpc" --data-dir "$TMP/data$i" \
    >"$TMP/server$i.log" 2>&1 </dev/null &
  PIDS+=("$!")
  urls+=("http://127.0.0.1:$port")
  grpc_ports+=("$grpc")
  # Instances one after the other: the first applies the migrations.
  deadline=$((SECONDS + SERVER_START_TIMEOUT))
  until "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "http://127.0.0.1:$port/health" 2>/dev/null; do
    if ! kill -0 "${PIDS[-1]}" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "ets instance $i did not start; its log:" >&2
      tail -n 40 "$TMP/server$i.log" >&2
      exit 1
    fi
    sleep 0.3
  done
done

export ETS_URLS="${urls[*]}" ETS_GRPC_PORTS="${grpc_ports[*]}"
status=0
"$PY" -m pytest -q -p no:cacheprovider "$HERE" "$@" || status=$?
if [[ $status -eq 5 ]]; then
  echo "no tests ran" >&2
  status=1
fi
exit "$status"
