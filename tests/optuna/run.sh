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
# Environment: ETS_BIN (default: cargo build, target/debug/ets), ETS_DATABASE_URL,
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
urls=() grpc_ports=()
for i in $(seq 1 "$instances"); do
  port="$(free_port)" grpc="$(free_port)"
  mkdir -p "$TMP/data$i"
  setsid env -u ETS_BIN "$ETS" "${db_args[@]}" serve --host 127.0.0.1 --port "$port" \
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
