#!/usr/bin/env bash
# PostgreSQL restarted under ingest (issue 18, goal 5): a throwaway cluster with PostgreSQL's
# default durability (the test clusters of tests/postgres/pg.sh run with fsync and
# synchronous_commit off, which loses acknowledged commits in a crash by design), `ets serve`
# on it, writers logging batches, the database crashed and started again; see pg_restart.py
# for the rules checked.
#
#   bench/faults/pg_restart.sh [SECONDS_DOWN]        # ETS_BIN: the ets binary (default: release build)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"
bench_setup ets-faults-pg
bench_pg_cluster
PG_RUN_AS="${BENCH_PG_RUN_AS[*]}" python3 "$HERE/pg_restart.py" "$ETS_BIN" \
  "$BENCH_PG_URL" "$BENCH_PG_BIN/pg_ctl" "$BENCH_PG_DATA" "${1:-5}"
