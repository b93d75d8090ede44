#!/usr/bin/env bash
# 100,000 runs in one experiment (issue 18, goal 2), on SQLite and on PostgreSQL: run creation
# rate per band of 10,000 runs, a filtered metric-ordered MLflow `runs/search` page of 100, a full
# ordered scan in pages of 1,000 (page tokens) and the native list with the same filter. The
# driver is `ets-bench-search` (bench/src/search.rs), which describes the data and the checks.
#
#   bench/search/runs_100k.sh                 # both backends, 100,000 runs
#   bench/search/runs_100k.sh --runs 20000    # flags go to the driver (see its --help)
#
# Environment:
#   ETS_BIN        the ets binary to measure (default: `cargo build --release --bin ets`)
#   ETS_BIN_BEFORE a build before a change: it fills and is measured first, then ETS_BIN serves
#                  the same database (migrating it) and is measured on the same runs
#   BACKENDS       `sqlite,postgres` (default) or one of them
#   PG_URL         a PostgreSQL server to use (a database is created in it and dropped after);
#                  default: a throwaway cluster (tests/postgres/pg.sh) on PG_TEST_PORT
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"
bench_setup ets-search
BACKENDS="${BACKENDS:-sqlite,postgres}"

(cd "$REPO" && cargo build --release -p ets-bench --bin ets-bench-search)
DRIVER="${CARGO_TARGET_DIR:-$REPO/target}/release/ets-bench-search"

# serve_on BIN DATA_DIR [DATABASE_URL]: `ets serve` with the run limit raised above the bench's runs.
serve_on() {
  ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT=1000000 bench_serve "$2" "$1" "${3:-}"
}

# measure LABEL DATA_DIR [DATABASE_URL] -- DRIVER_FLAGS…: fill and measure with ETS_BIN_BEFORE then
# measure ETS_BIN on the same database, or fill and measure with ETS_BIN alone.
measure() {
  local label="$1" dir="$2" url="${3:-}" experiment
  shift 3
  if [[ -n "${ETS_BIN_BEFORE:-}" ]]; then
    serve_on "$ETS_BIN_BEFORE" "$dir" "$url"
    "$DRIVER" --base "http://127.0.0.1:$PORT" --label "$label, before" "$@" | tee "$TMP/before.out"
    stop_server
    experiment="$(sed -n 's/.*\] experiment //p' "$TMP/before.out")"
    local started=$SECONDS
    serve_on "$ETS_BIN" "$dir" "$url"
    echo "[$label, after] started (migrations included) in $((SECONDS - started)) s"
    "$DRIVER" --base "http://127.0.0.1:$PORT" --label "$label, after" --experiment "$experiment" "$@"
  else
    serve_on "$ETS_BIN" "$dir" "$url"
    "$DRIVER" --base "http://127.0.0.1:$PORT" --label "$label" "$@"
  fi
  stop_server
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

echo "ets: $("$ETS_BIN" --version 2>/dev/null || echo "$ETS_BIN")${ETS_BIN_BEFORE:+, before: $("$ETS_BIN_BEFORE" --version)}; $(date -u '+%Y-%m-%d %H:%M UTC'); load: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ ",$BACKENDS," == *",sqlite,"* ]]; then
  mkdir -p "$TMP/sqlite"
  measure sqlite "$TMP/sqlite" "" "$@"
fi

if [[ ",$BACKENDS," == *",postgres,"* ]]; then
  # shellcheck source=tests/postgres/pg.sh
  source "$REPO/tests/postgres/pg.sh"
  if [[ -z "${PG_URL:-}" ]]; then
    unset PG_TEST_URL
    start_postgres
    trap 'stop_postgres; bench_cleanup' EXIT
    PG_URL="$PG_TEST_URL"
  fi
  DB="ets_search_$$"
  psql -q "$PG_URL" -c "CREATE DATABASE $DB"
  DB_URL="${PG_URL%/*}/$DB"
  mkdir -p "$TMP/pg"
  measure postgres "$TMP/pg" "$DB_URL" "$@"
  psql -q "$PG_URL" -c "DROP DATABASE $DB"
fi
