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
# shellcheck source=tests/postgres/pg.sh
source "$REPO/tests/postgres/pg.sh"
BIN="$(pg_bin)"
RUN_AS=()
if [[ "$(id -u)" == "0" ]]; then
  chown postgres "$TMP"
  RUN_AS=(runuser -u postgres --)
fi
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"${RUN_AS[@]}" "$BIN/initdb" -D "$TMP/pg" -U postgres -A trust -E UTF8 >"$TMP/initdb.log" 2>&1
"${RUN_AS[@]}" "$BIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $TMP" start >/dev/null
trap '"${RUN_AS[@]}" "$BIN/pg_ctl" -D "$TMP/pg" -m immediate stop >/dev/null 2>&1 || true; bench_cleanup' EXIT
PG_RUN_AS="${RUN_AS[*]}" python3 "$HERE/pg_restart.py" "$ETS_BIN" \
  "postgres://postgres@127.0.0.1:$PORT/postgres" "$BIN/pg_ctl" "$TMP/pg" "${1:-5}"
