#!/usr/bin/env bash
# Speed of `ets export` and `ets import DIR` (issue 17): a project of RUNS runs × KEYS metrics ×
# STEPS steps, each run with a 2,000-line log and a 1 MiB artifact, logged into a fresh
# `ets serve` (SQLite) through the native API; then exported, imported into a fresh data
# directory (SQLite) and — with PG_URL set — into PostgreSQL. Prints wall times, points/s and
# the sizes of the database, the archive and the imported database.
#
#   bench/archive/speed.sh [RUNS [KEYS [STEPS]]]     # default 100 10 10000 (10 M points)
#
# ETS_BIN: the ets binary (default: cargo build --release, then target/release/ets).
# PG_URL: a PostgreSQL database to import into as well (a fresh schema is made and dropped).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RUNS="${1:-100}" KEYS="${2:-10}" STEPS="${3:-10000}"
# shellcheck source=bench/common.sh
source "$REPO/bench/common.sh"
bench_setup ets-archive-bench
ETS=(env -u ETS_BIN -u ETS_DATABASE_URL "$ETS_BIN")

bench_serve "$TMP/source"

echo "populating: $RUNS runs × $KEYS keys × $STEPS steps"
python3 - "$PORT" "$RUNS" "$KEYS" "$STEPS" <<'PY'
import http.client, json, math, os, sys
port, runs, keys, steps = (int(a) for a in sys.argv[1:])
conn = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, body, raw=False):
    data = body if raw else json.dumps(body)
    conn.request(method, path, data, {"content-type": "application/octet-stream" if raw else "application/json"})
    reply = conn.getresponse()
    text = reply.read()
    assert reply.status in (200, 201), (path, reply.status, text[:300])
    return json.loads(text) if text else {}
project = call("POST", "/api/v1/projects", {"name": "bench"})["id"]
experiment = call("POST", "/api/v1/experiments", {"project_id": project, "name": "e"})["id"]
blob = os.urandom(1 << 20)
for r in range(runs):
    run = call("POST", "/api/v1/runs", {"experiment_id": experiment, "params": {"lr": 0.001 * (r + 1), "seed": r}})["id"]
    series = [{"key": f"m{k}", "steps": list(range(steps)),
               "values": [math.exp(-i / steps) * (1 + 0.01 * math.sin(i + k + r)) for i in range(steps)],
               "timestamps": [1_700_000_000_000 + 10 * i for i in range(steps)]} for k in range(keys)]
    call("POST", f"/api/v1/runs/{run}/bulk-metrics", {"series": series})
    lines = [{"stream": "stdout", "timestamp": 1_700_000_000_000 + i, "line": f"epoch {i} loss={1 / (i + 1):.6f}"} for i in range(2000)]
    for at in range(0, len(lines), 1000):
        call("POST", f"/api/v1/runs/{run}/logs", {"lines": lines[at:at + 1000]})
    call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/model.bin", blob, raw=True)
    call("POST", f"/api/v1/runs/{run}/finish", {"status": "finished"})
PY
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""

POINTS=$((RUNS * KEYS * STEPS))
size() { du -sb "$1" | cut -f1; }
timed() { local start end; start=$(date +%s.%N); "$@" >/dev/null; end=$(date +%s.%N); echo "$end - $start" | bc; }

EXPORT_S=$(timed "${ETS[@]}" --data-dir "$TMP/source" export --project bench --to "$TMP/archive")
IMPORT_S=$(timed "${ETS[@]}" --data-dir "$TMP/target" import "$TMP/archive")
AGAIN_S=$(timed "${ETS[@]}" --data-dir "$TMP/target" import "$TMP/archive")
rate() { python3 -c "print(f'{$POINTS / $1:,.0f}')"; }
printf '%-34s %8s s  %14s points/s\n' "export (SQLite)" "$EXPORT_S" "$(rate "$EXPORT_S")"
printf '%-34s %8s s  %14s points/s\n' "import into SQLite" "$IMPORT_S" "$(rate "$IMPORT_S")"
printf '%-34s %8s s\n' "import again (nothing to write)" "$AGAIN_S"
if [[ -n "${PG_URL:-}" ]]; then
  SCHEMA="archive_bench_$$"
  psql "$PG_URL" -qc "CREATE SCHEMA $SCHEMA"
  PG_SCHEMA_URL="$PG_URL$([[ "$PG_URL" == *\?* ]] && echo '&' || echo '?')options=-c%20search_path%3D$SCHEMA"
  PG_S=$(timed env -u ETS_BIN ETS_DATABASE_URL="$PG_SCHEMA_URL" "$ETS_BIN" --data-dir "$TMP/pg" import "$TMP/archive")
  printf '%-34s %8s s  %14s points/s\n' "import into PostgreSQL" "$PG_S" "$(rate "$PG_S")"
  PGOPTIONS=--client-min-messages=warning psql "$PG_URL" -qc "DROP SCHEMA $SCHEMA CASCADE"
fi
echo "points: $POINTS; source data dir $(size "$TMP/source") B, archive $(size "$TMP/archive") B, imported data dir $(size "$TMP/target") B"
