#!/usr/bin/env bash
# PostgreSQL single-point calls (issue 18, goal 4): ets-bench's single-point workload (one
# `log-metric`-sized write a request, through the native API in-process) on a throwaway
# PostgreSQL cluster with the default durability, for each ets-bench binary given (two builds
# compare side by side on the same cluster, each in a fresh schema).
#
#   bench/pg/single_calls.sh [ETS_BENCH ...]     # default: target/release/ets-bench (built)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"
ETS_BIN="${ETS_BIN:-unused}" bench_setup ets-pg-single
bench_pg_cluster
if [[ $# -eq 0 ]]; then
  (cd "$REPO" && cargo build --release -p ets-bench)
  set -- "${CARGO_TARGET_DIR:-$REPO/target}/release/ets-bench"
fi
for bench in "$@"; do
  echo "== $bench"
  "$bench" --pg-url "$BENCH_PG_URL" --points 20000 --bulk-points 0 --single-calls 3000 --clients 1,8
done
