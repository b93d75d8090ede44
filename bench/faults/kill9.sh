#!/usr/bin/env bash
# `kill -9` at random moments under mixed load (issue 18, goal 5): `ets serve` killed KILLS
# times and started again on the same data; see kill9.py for the load and the rules checked
# (every restart ready, `PRAGMA integrity_check` ok, no acknowledged write lost). PostgreSQL: a
# throwaway cluster with the default durability (only ETS is killed).
#
#   bench/faults/kill9.sh [KILLS] [sqlite|postgres|both]
#                       # default 100 sqlite; ETS_BIN: the ets binary (default: release build)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"
bench_setup ets-faults-kill9
bench_on_backends "${2:-sqlite}" "$HERE/kill9.py" "${1:-100}"
