#!/usr/bin/env bash
# CPU overhead of `ets run` (issue 17) on a CPU-bound command: a Python loop that keeps one
# core busy for SECONDS and prints LINES_PER_SECOND lines of output (to stdout, a few to
# stderr), wrapped by `ets run` against a fresh `ets serve` (SQLite) on loopback, with system
# metrics every INTERVAL seconds. Measured from /proc: when the command ends, a shell around
# it saves /proc/$PPID/stat (the `ets run` process: utime + stime so far, i.e. all of its
# work but the final upload) and its own stat (cutime + cstime: the Python child). The
# overhead is ets run's CPU time over the command's.
#
#   bench/ets_run/overhead.sh [SECONDS [LINES_PER_SECOND [INTERVAL]]]   # default 30 100 10
#
# ETS_BIN: the ets binary (default: cargo build --release, then target/release/ets).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SECONDS_BUSY="${1:-30}" LINES="${2:-100}" INTERVAL="${3:-10}"
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"
bench_setup ets-run-bench

bench_serve "$TMP/data"

cat >"$TMP/burn.py" <<PY
import sys, time
end = time.time() + $SECONDS_BUSY
every = 1.0 / $LINES if $LINES > 0 else None
next_line, n, x = time.time(), 0, 0
while time.time() < end:
    for _ in range(2000):
        x = (x * 31 + 7) % 1000003
    if every is not None and time.time() >= next_line:
        n += 1
        next_line += every
        if n % 50 == 0:
            print(f"warning: step {n} x={x}", file=sys.stderr)
        else:
            print(f"step {n} loss={x / 1000003:.6f} lr=0.001 epoch={n // 1000}")
print(f"done after {n} lines", file=sys.stderr)
PY

env -u ETS_BIN "$ETS_BIN" run --server "http://127.0.0.1:$PORT" --spool "$TMP/spool" --experiment bench \
  --interval "$INTERVAL" -- \
  sh -c "python3 '$TMP/burn.py'; cat /proc/\$PPID/stat > '$TMP/ets.stat'; cat /proc/\$\$/stat > '$TMP/sh.stat'" \
  >/dev/null 2>"$TMP/run.err"
tail -n 2 "$TMP/run.err" >&2

python3 - "$TMP/ets.stat" "$TMP/sh.stat" "$SECONDS_BUSY" "$LINES" "$INTERVAL" <<'PY'
import sys
def fields(path):
    text = open(path).read()
    return text[text.rindex(")") + 2:].split()
ets = fields(sys.argv[1]); sh = fields(sys.argv[2])
# fields[n - 3] is field n of proc(5): 14 utime, 15 stime, 16 cutime, 17 cstime (ticks of 1/100 s)
ets_cpu = (int(ets[14 - 3]) + int(ets[15 - 3])) / 100
child_cpu = (int(sh[16 - 3]) + int(sh[17 - 3])) / 100
print(f"busy {sys.argv[3]} s, {sys.argv[4]} lines/s, samples every {sys.argv[5]} s: "
      f"command {child_cpu:.2f} s CPU, ets run {ets_cpu:.2f} s CPU = {100 * ets_cpu / child_cpu:.2f} %")
PY
