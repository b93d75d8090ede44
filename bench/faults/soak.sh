#!/usr/bin/env bash
# Soak (issue 18, goal 5): `ets serve` under 8 writers (batches and single points) and 2
# readers (search, series reads) for MINUTES on each backend; see soak.py for the load and the
# rules checked (zero errors, the last minute's p99 within 1.5× of the first's, RSS flat, every
# acknowledged point stored). PostgreSQL: a throwaway cluster with the default durability.
#
#   bench/faults/soak.sh [MINUTES] [sqlite|postgres|both] [--smoke]
#                       # default 10 both; ETS_BIN: the ets binary (default: release build)
#   --smoke: CI on a noisy machine: errors and lost points fail, latency and RSS are only reported
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
MINUTES="${1:-10}"
BACKENDS="${2:-both}"
shift $(($# < 2 ? $# : 2))
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"
bench_setup ets-faults-soak
bench_on_backends "$BACKENDS" "$HERE/soak.py" "$MINUTES" "$@"
