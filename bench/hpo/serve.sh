# shellcheck shell=bash
# `ets serve` for the HPO benchmarks (speed.sh, ask_path.sh), sourced by them (which set REPO
# and HERE). `bench_start` makes TMP (a scratch folder), loads tests/postgres/pg.sh and the
# venv (PY, its python), and cleans up at exit; `start_ets` runs ETS (the binary) and sets
# ETS_URL, ETS_GRPC and ETS_PID.

# bench_start NAME: TMP, pg.sh's functions and PY; at exit, the server, the cluster this
# script started and TMP go.
bench_start() {
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/ets-$1.XXXXXX")"
  ETS_PID=""
  # shellcheck source=tests/postgres/pg.sh
  source "$REPO/tests/postgres/pg.sh"
  trap bench_cleanup EXIT
  # shellcheck source=tests/venv.sh
  source "$REPO/tests/venv.sh"
  ensure_fixture_venv "$HERE"
  PY="$HERE/.venv/bin/python"
}

bench_cleanup() {
  stop_ets
  stop_postgres
  rm -rf "$TMP"
}

stop_ets() {
  if [[ -n "$ETS_PID" ]]; then
    kill -TERM -- "-$ETS_PID" 2>/dev/null || true
    wait "$ETS_PID" 2>/dev/null || true
    ETS_PID=""
  fi
}
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_ets LABEL [--database-url URL]: ets serve on free loopback ports, fresh data dir; sets
# ETS_URL, ETS_GRPC and ETS_PID (the server is the leader of its own process group).
start_ets() {
  local label="$1"
  shift
  local port grpc
  port="$(free_port)" grpc="$(free_port)"
  mkdir -p "$TMP/data-$label"
  # An experiment holds 1,000 runs by default (limits.max_runs_per_experiment), and each
  # trial is a run: raised for studies of 10,000+ trials.
  # ETS_BIN names the binary for this script; to `ets` it would be an unknown setting.
  setsid env -u ETS_BIN ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT=100000 "$ETS" "$@" serve --host 127.0.0.1 --port "$port" --metrics-port 0 \
    --optuna-grpc-port "$grpc" --data-dir "$TMP/data-$label" \
    >"$TMP/ets-$label.log" 2>&1 </dev/null &
  ETS_PID=$!
  ETS_URL="http://127.0.0.1:$port" ETS_GRPC="$grpc"
  local deadline=$((SECONDS + 120))
  until "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "$ETS_URL/health" 2>/dev/null; do
    if ! kill -0 "$ETS_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "ets ($label) did not start; its log:" >&2
      tail -n 40 "$TMP/ets-$label.log" >&2
      exit 1
    fi
    sleep 0.3
  done
}

