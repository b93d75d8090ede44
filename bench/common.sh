# Shared by the benchmark scripts (sourced, with REPO set to the repository's root).
#
# bench_setup NAME: ETS_BIN (the ets binary: `cargo build --release` unless ETS_BIN names one;
# CARGO_TARGET_DIR is honoured), TMP (a scratch folder named after NAME), and a trap that stops
# the server started as SERVER_PID and removes TMP on exit.
bench_setup() {
  if [[ -z "${ETS_BIN:-}" ]]; then
    (cd "$REPO" && cargo build --release --bin ets)
    ETS_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/ets"
  fi
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  SERVER_PID=""
  trap bench_cleanup EXIT
}

bench_cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}

# bench_serve DATA_DIR: `ets serve` (SQLite in DATA_DIR) on a free loopback port, waited for
# until ready; sets PORT and SERVER_PID (stopped by bench_cleanup). Its log is $TMP/serve.log.
bench_serve() {
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  env -u ETS_BIN -u ETS_DATABASE_URL "$ETS_BIN" serve --host 127.0.0.1 --port "$PORT" \
    --metrics-port 0 --data-dir "$1" >"$TMP/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "ets serve did not start; its log:" >&2
  cat "$TMP/serve.log" >&2
  return 1
}
