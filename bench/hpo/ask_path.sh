#!/usr/bin/env bash
# What an ask costs besides sampling (issue 16): ask and tell latency of an ETS study with the
# `random` sampler on PostgreSQL after --trials completed trials, for one or more `ets`
# binaries in turn in the same sitting (e.g. before and after a change), each on a database of
# its own in one throwaway cluster (tests/postgres/pg.sh; fsync=off, TLS on loopback). The
# trials are asked and told through the native API (bench/hpo/ask_path.py).
#
#   bench/hpo/ask_path.sh OLD/ets NEW/ets                 # 10,000 trials, 300 timed cycles
#   bench/hpo/ask_path.sh --trials 1000 --cycles 200 NEW/ets
#   bench/hpo/ask_path.sh --rounds 2 OLD/ets NEW/ets      # OLD, NEW, OLD, NEW
#   bench/hpo/ask_path.sh --sampler tpe --out DIR NEW/ets # keep the JSON results and logs
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

TRIALS=10000
CYCLES=300
SAMPLER=random
ROUNDS=1
OUT=""
BINS=()
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --trials) TRIALS="$2"; shift 2 ;;
    --cycles) CYCLES="$2"; shift 2 ;;
    --sampler) SAMPLER="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    *) BINS+=("$1"); shift ;;
  esac
done
if [[ ${#BINS[@]} -eq 0 ]]; then
  usage >&2
  exit 2
fi

log() { echo "== $*" >&2; }
# shellcheck source=bench/hpo/serve.sh
source "$HERE/serve.sh"
bench_start ask-path

unset PG_TEST_URL
PG_TEST_PORT="${PG_TEST_PORT:-55432}" start_postgres
base="${PG_TEST_URL%/*}"
postmaster="$(head -n 1 "$PG_STARTED_DIR/data/postmaster.pid")"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
results=()
for round in $(seq 1 "$ROUNDS"); do
  for i in "${!BINS[@]}"; do
    ETS="${BINS[$i]}"
    label="bin$i-round$round"
    psql -q -v ON_ERROR_STOP=1 "$PG_TEST_URL" -c "CREATE DATABASE ask_$i$round"
    log "$label: $ETS"
    start_ets "$label" --database-url "$base/ask_$i$round"
    (cd "$HERE" && "$PY" ask_path.py --ets-url "$ETS_URL" --ets-pid "$ETS_PID" \
      --pg-pid "$postmaster" --sampler "$SAMPLER" --trials "$TRIALS" --cycles "$CYCLES" \
      --label "$label ($ETS)" --out "$TMP/$label.json")
    stop_ets
    results+=("$TMP/$label.json")
  done
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "${results[@]}" <<'PY'
import json, sys
print("| binary | ask p50 / p99 (ms) | server ask p50 | tell p50 / p99 (ms) | server tell p50 | CPU per cycle: ETS / PostgreSQL (ms) |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for path in sys.argv[1:]:
    r = json.load(open(path))
    print(f"| {r['label']} | {r['ask']['p50_ms']:.2f} / {r['ask']['p99_ms']:.2f} | "
          f"{r.get('ask_server_p50_ms', 0):.2f} | {r['tell']['p50_ms']:.2f} / {r['tell']['p99_ms']:.2f} | "
          f"{r.get('tell_server_p50_ms', 0):.2f} | {r.get('ets_server_cpu_ms_per_cycle', 0):.2f} / "
          f"{r.get('db_server_cpu_ms_per_cycle', 0):.2f} |")
PY
if [[ -n "$OUT" ]]; then
  mkdir -p "$OUT"
  cp "${results[@]}" "$TMP"/ets-*.log "$OUT/"
  log "results in $OUT"
fi
