#!/usr/bin/env bash
# Start-up time and memory right after start-up of `ets serve` (fresh and existing database),
# alternating between the binaries given; bench/compare/startup.py describes what it measures.
#
#   bench/compare/startup.sh target/release/ets                      # 5 rounds
#   bench/compare/startup.sh OLD/ets target/release/ets --rounds 8   # two builds, alternately
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$HERE/startup.py" "$@"
