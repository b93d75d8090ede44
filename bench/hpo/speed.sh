#!/usr/bin/env bash
# Speed benchmark of issue 16: ask and tell latency (p50, p99) of an ETS study (TPE) after
# 1,000 and 10,000 completed trials, ETS on SQLite and on PostgreSQL, against Optuna 4.9 with
# its RDB storage (TPESampler) on the same database. Same search space (3 floats, one of them
# log-scale, and a categorical), the same prefilled trials on both sides (bench/hpo/speed.py).
#
#   bench/hpo/speed.sh                       # both backends, 100 cycles at 1k, 50 at 10k
#   bench/hpo/speed.sh --backends sqlite --checkpoints 200,1000 --cycles 20,20
#   bench/hpo/speed.sh --optuna-cycles 100,20 # fewer Optuna cycles (it is slow at 10k)
#   bench/hpo/speed.sh --out DIR             # keep the JSON results, report.md and logs
#   bench/hpo/speed.sh --optimize-trials 0   # skip the study.optimize (gRPC vs RDB) comparison
#
# Builds `ets` (release; CARGO_TARGET_DIR is honoured, or ETS_BIN names a binary), starts it
# on loopback with a fresh SQLite data dir, then again on a throwaway PostgreSQL cluster
# (tests/postgres/pg.sh, port 55432 or a free one; fsync=off) with one database for ETS and
# another for Optuna. The venv is bench/hpo/.venv (requirements.txt), made on first use.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

BACKENDS="sqlite,postgres"
CHECKPOINTS="1000,10000"
CYCLES="100,50"
OPTUNA_CYCLES=""
SEED=1
OPTIMIZE_TRIALS=100
OUT=""
usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --backends) BACKENDS="$2"; shift 2 ;;
    --checkpoints) CHECKPOINTS="$2"; shift 2 ;;
    --cycles) CYCLES="$2"; shift 2 ;;
    --optuna-cycles) OPTUNA_CYCLES="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --optimize-trials) OPTIMIZE_TRIALS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
OPTUNA_CYCLES="${OPTUNA_CYCLES:-$CYCLES}"

log() { echo "== $*" >&2; }
run_start=$SECONDS
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -n "$OUT" ]]; then
  mkdir -p "$OUT"
  OUT="$(cd "$OUT" && pwd)"
fi
# shellcheck source=bench/hpo/serve.sh
source "$HERE/serve.sh"
log "venv bench/hpo/.venv"
bench_start hpo-speed

if [[ -n "${ETS_BIN:-}" ]]; then
  ETS="$ETS_BIN"
else
  log "cargo build --release --bin ets"
  (cd "$REPO" && cargo build --release --bin ets)
  target_dir="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  ETS="$target_dir/release/ets"
fi

common=(--checkpoints "$CHECKPOINTS" --cycles "$CYCLES" --optuna-cycles "$OPTUNA_CYCLES"
  --seed "$SEED" --optimize-trials "$OPTIMIZE_TRIALS")
results=()
IFS=, read -r -a backends <<<"$BACKENDS"
for backend in "${backends[@]}"; do
  case "$backend" in
    sqlite)
      log "SQLite: ETS with a fresh data dir, Optuna on sqlite:///…/optuna.db"
      start_ets sqlite
      "$PY" "$HERE/speed.py" --backend sqlite --ets-url "$ETS_URL" --ets-grpc-port "$ETS_GRPC" \
        --ets-pid "$ETS_PID" --optuna-storage "sqlite:///$TMP/optuna.db" "${common[@]}" \
        --out "$TMP/sqlite.json"
      stop_ets
      results+=("$TMP/sqlite.json")
      ;;
    postgres)
      # Always a throwaway cluster of our own (not a server named by PG_TEST_URL).
      unset PG_TEST_URL
      PG_TEST_PORT="${PG_TEST_PORT:-55432}" start_postgres
      base="${PG_TEST_URL%/*}"
      psql -q -v ON_ERROR_STOP=1 "$PG_TEST_URL" -c "CREATE DATABASE ets_speed" \
        -c "CREATE DATABASE optuna_speed"
      postmaster="$(head -n 1 "$PG_STARTED_DIR/data/postmaster.pid")"
      log "PostgreSQL: ETS on database ets_speed, Optuna on optuna_speed (fsync=off)"
      start_ets postgres --database-url "$base/ets_speed"
      "$PY" "$HERE/speed.py" --backend postgres --ets-url "$ETS_URL" \
        --ets-grpc-port "$ETS_GRPC" --ets-pid "$ETS_PID" --pg-pid "$postmaster" \
        --optuna-storage "postgresql+psycopg2://${base#postgres://}/optuna_speed" \
        "${common[@]}" --out "$TMP/postgres.json"
      stop_ets
      stop_postgres
      results+=("$TMP/postgres.json")
      ;;
    *) echo "unknown backend: $backend (sqlite, postgres)" >&2; exit 2 ;;
  esac
done

total_s=$((SECONDS - run_start))
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$HERE/speed_report.py" --seconds "$total_s" --load "$LOAD_BEFORE" "$LOAD_AFTER" \
  "${results[@]}" >"$TMP/report.md"
cat "$TMP/report.md"
if [[ -n "$OUT" ]]; then
  cp "${results[@]}" "$TMP/report.md" "$TMP"/ets-*.log "$OUT/"
  log "results in $OUT"
fi
