#!/usr/bin/env bash
# PostgreSQL's own ceiling for ETS's single-point calls (issue 18, goal 4): the statements of one
# `log-metric`-sized call, captured from a real one, replayed by `pgbench` from one connection
# (one pipeline a call) with no ETS in the path, beside variants without the audit record or the
# chunk rewrite, the smallest durable transaction, a bare round trip and the call without
# durability; then ETS's own figure on the same cluster (`ets-bench`'s single-point workload).
# A throwaway cluster with PostgreSQL's default durability (bench_pg_cluster).
#
#   bench/pg/ceiling.sh [ETS_BENCH]     # default: target/release/ets-bench (built)
#   ROUNDS=3 SECONDS_EACH=8 bench/pg/ceiling.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"
ETS_BIN="${ETS_BIN:-unused}" bench_setup ets-pg-ceiling
bench_pg_cluster
ROUNDS="${ROUNDS:-3}"
SECONDS_EACH="${SECONDS_EACH:-8}"
BENCH="${1:-}"
if [[ -z "$BENCH" ]]; then
  (cd "$REPO" && cargo build --release -p ets-bench)
  BENCH="${CARGO_TARGET_DIR:-$REPO/target}/release/ets-bench"
fi
sql() { "$BENCH_PG_BIN/psql" -q -X -v ON_ERROR_STOP=1 "$BENCH_PG_URL" "$@"; }

# 1. Capture: a few hundred single calls with every statement logged.
sql -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
"$BENCH" --pg-url "$BENCH_PG_URL" --points 2000 --bulk-points 0 --single-calls 300 --clients 1 >/dev/null
sql -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null
schema="$(sql -At -c "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ets_bench_%' ORDER BY oid DESC LIMIT 1")"
mkdir -p "$TMP/calls"
python3 "$HERE/capture_call.py" "$TMP/pg.log" "$TMP/calls"
export PGOPTIONS="-c search_path=$schema"
sql -f "$TMP/calls/once.sql" >/dev/null # the replay holds (the check passes) before it is timed

# 2. Replay: transactions a second from one client, ROUNDS rounds.
tps() {
  "$BENCH_PG_BIN/pgbench" -n -c1 -T "$SECONDS_EACH" -M prepared -f "$TMP/calls/$1.sql" "$BENCH_PG_URL" 2>&1 |
    awk '/^tps/ {printf "%.0f", $3}'
}
echo "| one client, durable cluster, ${SECONDS_EACH} s a figure | $(seq -s ' | ' -f 'round %g' 1 "$ROUNDS") |"
echo "|---|$(printf -- '---:|%.0s' $(seq "$ROUNDS"))"
for variant in select1 min full noaudit nochunk full-async; do
  row="| $variant |"
  for _ in $(seq "$ROUNDS"); do
    if [[ "$variant" == full-async ]]; then
      row+=" $(PGOPTIONS="$PGOPTIONS -c synchronous_commit=off" tps full) |"
    else
      row+=" $(tps "$variant") |"
    fi
  done
  echo "$row"
done
unset PGOPTIONS

# 3. ETS through its API on the same cluster.
"$BENCH" --pg-url "$BENCH_PG_URL" --points 2000 --bulk-points 0 --single-calls 3000 --clients 1 | grep single
