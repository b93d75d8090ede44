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
  if [[ -n "${BENCH_PG_DATA:-}" ]]; then
    "${BENCH_PG_RUN_AS[@]}" "$BENCH_PG_BIN/pg_ctl" -D "$BENCH_PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
}

# bench_pg_cluster: a throwaway PostgreSQL cluster in $TMP/pg with PostgreSQL's default
# durability (the test clusters of tests/postgres/pg.sh run with fsync and synchronous_commit
# off, which loses acknowledged commits in a crash by design and flatters write latency), on a
# free loopback port; as root it runs as the `postgres` user. Sets BENCH_PG_URL, BENCH_PG_BIN
# (its binaries), BENCH_PG_DATA and BENCH_PG_RUN_AS (the prefix for pg_ctl: an array, empty
# unless root); stopped by bench_cleanup.
bench_pg_cluster() {
  # shellcheck source=tests/postgres/pg.sh
  source "$REPO/tests/postgres/pg.sh"
  BENCH_PG_BIN="$(pg_bin)"
  BENCH_PG_RUN_AS=()
  if [[ "$(id -u)" == "0" ]]; then
    chown postgres "$TMP"
    BENCH_PG_RUN_AS=(runuser -u postgres --)
  fi
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "${BENCH_PG_RUN_AS[@]}" "$BENCH_PG_BIN/initdb" -D "$TMP/pg" -U postgres -A trust -E UTF8 >"$TMP/initdb.log" 2>&1
  "${BENCH_PG_RUN_AS[@]}" "$BENCH_PG_BIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $TMP" start >/dev/null
  BENCH_PG_DATA="$TMP/pg"
  BENCH_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# bench_serve DATA_DIR [BIN [DATABASE_URL]]: `ets serve` (BIN, default $ETS_BIN; SQLite in
# DATA_DIR, or DATABASE_URL) on a free loopback port, waited for until ready (up to 60 s: a
# large database may migrate first); sets PORT and SERVER_PID (stopped by bench_cleanup). Its
# log is appended to $TMP/serve.log. ETS_* settings of the caller's environment apply.
bench_serve() {
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  env -u ETS_BIN -u ETS_BIN_BEFORE -u ETS_DATABASE_URL ${3:+ETS_DATABASE_URL="$3"} \
    "${2:-$ETS_BIN}" serve --host 127.0.0.1 --port "$PORT" \
    --metrics-port 0 --data-dir "$1" >>"$TMP/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "ets serve did not start; its log:" >&2
  cat "$TMP/serve.log" >&2
  return 1
}

# bench_on_backends BACKENDS SCRIPT ARGS...: `python3 SCRIPT ETS_BIN DATA_DIR ARGS...` on SQLite
# (DATA_DIR $TMP/sqlite), on PostgreSQL (a bench_pg_cluster; DATA_DIR $TMP/postgres, and
# `--database-url URL`), or both, as BACKENDS says (sqlite, postgres or both). With both, the
# second runs even when the first fails; non-zero when either did.
bench_on_backends() {
  local backends="$1" script="$2" failed=0
  shift 2
  case "$backends" in
    sqlite | postgres | both) ;;
    *) echo "backend must be sqlite, postgres or both, not $backends" >&2; return 2 ;;
  esac
  if [[ "$backends" != postgres ]]; then
    echo "== $(basename "$script" .py) on SQLite" >&2
    python3 "$script" "$ETS_BIN" "$TMP/sqlite" "$@" || failed=1
  fi
  if [[ "$backends" != sqlite ]]; then
    echo "== $(basename "$script" .py) on PostgreSQL" >&2
    bench_pg_cluster
    python3 "$script" "$ETS_BIN" "$TMP/postgres" "$@" --database-url "$BENCH_PG_URL" || failed=1
  fi
  return "$failed"
}
