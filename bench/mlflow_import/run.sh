#!/usr/bin/env bash
# Import speed of `ets import mlflow` (issue 17): an MLflow SQLite store of RUNS runs x METRICS
# metrics x STEPS steps (+ 5 params, 1 tag and one 1 KiB artifact per run), imported into a
# fresh `ets serve` (SQLite) on loopback; then imported again (everything skipped).
#
#   bench/mlflow_import/run.sh [RUNS [METRICS [STEPS]]]    # default 100 10 1000
#
# With COMPARE=1, the same store also goes through the mlflow-export-import tool (PyPI
# `databricks-mlflow-export-import`, in bench/mlflow_import/.venv-export): `export-experiment`
# from the SQLite store to a folder, then `import-experiment` into the same ETS server (another
# experiment name), each timed.
#
# ETS_BIN: the ets binary (default: cargo build --release, then target/release/ets). The venv
# is the import tests' (tests/mlflow_import/.venv, made by tests/mlflow_import/run.sh).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RUNS="${1:-100}" METRICS="${2:-10}" STEPS="${3:-1000}"
export MLFLOW_DISABLE_TELEMETRY=true
VENV="$REPO/tests/mlflow_import/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check --quiet -r "$REPO/tests/mlflow_import/requirements.txt"
fi
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"
bench_setup ets-import-bench

"$VENV/bin/python" "$HERE/make_store.py" "$TMP/store" "$RUNS" "$METRICS" "$STEPS" 2>/dev/null
bench_serve "$TMP/data"

for pass in first again; do
  start=$(date +%s.%N)
  summary="$(env -u ETS_BIN "$ETS_BIN" import mlflow --from "sqlite:///$TMP/store/mlflow.db" \
    --server "http://127.0.0.1:$PORT" --json 2>/dev/null)"
  end=$(date +%s.%N)
  "$VENV/bin/python" - "$pass" "$start" "$end" "$summary" <<'PY'
import json, sys
name, start, end, s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
wall = end - start
runs = s["runs"] + s["runs_skipped"]
print(f"{name}: {wall:.2f} s wall, {runs / wall:.1f} runs/s, {s['metric_points'] / wall:,.0f} points/s "
      f"(runs {s['runs']}, skipped {s['runs_skipped']}, points {s['metric_points']:,}, "
      f"artifacts {s['artifacts']})")
PY
done

if [[ "${COMPARE:-}" == 1 ]]; then
  EVENV="$HERE/.venv-export"
  if [[ ! -x "$EVENV/bin/export-experiment" ]]; then
    python3 -m venv "$EVENV"
    "$EVENV/bin/pip" install --disable-pip-version-check --quiet -r "$HERE/requirements-export.txt"
  fi
  t0=$(date +%s.%N)
  MLFLOW_TRACKING_URI="sqlite:///$TMP/store/mlflow.db" "$EVENV/bin/export-experiment" \
    --experiment import-bench --output-dir "$TMP/export" >"$TMP/export.log" 2>&1
  t1=$(date +%s.%N)
  MLFLOW_TRACKING_URI="http://127.0.0.1:$PORT" "$EVENV/bin/import-experiment" \
    --experiment-name import-bench-export-import --input-dir "$TMP/export" >"$TMP/import.log" 2>&1
  t2=$(date +%s.%N)
  points=$((RUNS * METRICS * STEPS))
  "$VENV/bin/python" - "$t0" "$t1" "$t2" "$RUNS" "$points" <<'PY'
import sys
t0, t1, t2, runs, points = map(float, sys.argv[1:])
for name, wall in [("export-experiment", t1 - t0), ("import-experiment", t2 - t1), ("export + import", t2 - t0)]:
    print(f"mlflow-export-import {name}: {wall:.2f} s, {runs / wall:.1f} runs/s, {points / wall:,.0f} points/s")
PY
  # The tool's copy holds the same runs and points (checked through ETS's MLflow API).
  "$VENV/bin/python" - "http://127.0.0.1:$PORT" <<'PY'
import sys
from mlflow import MlflowClient
c = MlflowClient(sys.argv[1])
for name in ("import-bench", "import-bench-export-import"):
    e = c.get_experiment_by_name(name)
    runs = c.search_runs([e.experiment_id], max_results=10000)
    r = runs[0]
    points = sum(len(c.get_metric_history(r.info.run_id, k)) for k in r.data.metrics)
    print(f"{name}: {len(runs)} runs; first run: {points} points, {len(r.data.params)} params")
PY
fi
