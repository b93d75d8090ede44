#!/usr/bin/env bash
# The disk under a SQLite data directory fills up under ingest (issue 18, goal 5): a small
# tmpfs of its own (mounting needs root), `ets serve` on it, batches until the disk is full,
# then the file system grown; see disk_full.py for the rules checked.
#
#   bench/faults/disk_full.sh [SIZE]       # default 8m; ETS_BIN: the ets binary (default: release build)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"
bench_setup ets-faults-disk
mkdir "$TMP/fs"
mount -t tmpfs -o "size=${1:-8m}" tmpfs "$TMP/fs"
trap 'umount "$TMP/fs" 2>/dev/null || true; bench_cleanup' EXIT
python3 "$HERE/disk_full.py" "$ETS_BIN" "$TMP/fs"
