"""An MLflow SQLite store for the import benchmark: RUNS runs x METRICS metrics x STEPS steps.

Experiments, runs, params, tags and one small artifact per run go through the real `mlflow`
client (so the schema and the rows are MLflow's own); the metric histories are then written
with one executemany into MLflow's `metrics` and `latest_metrics` tables (through the client
they would take far longer than the import being measured).

    python make_store.py DIR RUNS METRICS STEPS
"""

import os
import sqlite3
import sys
from pathlib import Path

from mlflow import MlflowClient

out, runs, metrics, steps = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out.mkdir(parents=True, exist_ok=True)
db = out / "mlflow.db"
client = MlflowClient(f"sqlite:///{db}")
exp = client.create_experiment("import-bench", artifact_location=str(out / "artifacts"))
(out / "model.txt").write_text("weights\n" * 128)
ids = []
t0 = 1_700_000_000_000
for r in range(runs):
    run = client.create_run(exp, run_name=f"run-{r:04}", start_time=t0 + r)
    rid = run.info.run_id
    for i in range(5):
        client.log_param(rid, f"p{i}", str(r * i))
    client.set_tag(rid, "bench", "import")
    client.log_artifact(rid, str(out / "model.txt"))
    client.set_terminated(rid, "FINISHED", end_time=t0 + 10_000 + r)
    ids.append(rid)

con = sqlite3.connect(db)
rows = (
    (f"m{k}", 1.0 / (s + 1) + k, t0 + s, rid, s, 0)
    for rid in ids
    for k in range(metrics)
    for s in range(steps)
)
con.executemany(
    "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)", rows
)
con.executemany(
    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)",
    ((f"m{k}", 1.0 / steps + k, t0 + steps - 1, steps - 1, 0, rid) for rid in ids for k in range(metrics)),
)
con.commit()
print(f"{db}: {runs} runs x {metrics} metrics x {steps} steps = {runs * metrics * steps} points")
