"""The disk under a SQLite data directory fills up under ingest (issue 18, goal 5): requests
must fail with a clear 507 (never a 500, never a hang), nothing may be corrupt, and the
service must resume by itself once space returns.

    python3 bench/faults/disk_full.py ETS_BIN MOUNT_POINT

MOUNT_POINT is a small file system of its own (bench/faults/disk_full.sh mounts a tmpfs). A
writer logs 1,000-point batches through MLflow's `runs/log-batch` until answers other than 200
come; then the file system is grown (`mount -o remount,size=…`), writing goes on until 200s
are back; the server is stopped, `PRAGMA integrity_check` must say ok, and every acknowledged
point must be in the database. Prints one JSON summary; exits non-zero when a rule is broken.
"""
import collections, http.client, json, os, sqlite3, subprocess, sys, time

from faults_common import call, finish, free_port, serve

ets_bin, mount = sys.argv[1], sys.argv[2]
BATCH, TIMEOUT = 1000, 30.0
port = free_port()
data_dir = os.path.join(mount, "data")
log_path = os.path.join(os.path.dirname(mount.rstrip("/")), "serve.log")
server = serve(ets_bin, port, data_dir, log=open(log_path, "w"))
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
status, body = call(conn, "POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "0"})
assert status == 200, (status, body)
run = json.loads(body)["run"]["info"]["run_id"]

answers, acked, step, slowest = collections.Counter(), [], 0, 0.0
def log_batch():
    global step, slowest
    metrics = [{"key": "loss", "value": (step + i) * 0.001, "timestamp": 1_765_000_000_000 + step + i, "step": step + i}
               for i in range(BATCH)]
    started = time.time()
    status, body = call(conn, "POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run, "metrics": metrics})
    slowest = max(slowest, time.time() - started)
    answers[status] += 1
    if status == 200:
        acked.append(step)
        step += BATCH
    return status, body

first_refusal = None
for _ in range(5000):
    status, body = log_batch()
    if status != 200:
        first_refusal = (status, json.loads(body) if body else None)
        break
refused_while_full = 0
for _ in range(20):  # still full: every answer must be the same clear refusal
    status, _ = log_batch()
    refused_while_full += status != 200
subprocess.run(["mount", "-o", "remount,size=512m", mount], check=True)
resumed_after = None
for i in range(50):
    status, _ = log_batch()
    if status == 200:
        resumed_after = i + 1
        break
for _ in range(20):
    log_batch()
server.terminate(); server.wait(timeout=30)

db = sqlite3.connect(os.path.join(data_dir, "ets.db"))
integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
db.close()
# Every acknowledged point, read back by a fresh server.
server = serve(ets_bin, port, data_dir)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
status, body = call(conn, "GET", f"/api/2.0/mlflow/metrics/get-history?run_id={run}&metric_key=loss&max_results=10000000")
steps = {m["step"] for m in json.loads(body).get("metrics", [])} if status == 200 else set()
missing = sum(1 for first in acked for i in range(BATCH) if first + i not in steps)
server.terminate(); server.wait(timeout=30)

summary = {
    "answers": {str(k): v for k, v in answers.items()},
    "first_refusal": first_refusal,
    "refused_while_full": refused_while_full,
    "slowest_answer_s": round(slowest, 2),
    "resumed_after_batches": resumed_after,
    "integrity_check": integrity,
    "acknowledged_points": len(acked) * BATCH,
    "acknowledged_points_missing": missing,
}
broken = []
if first_refusal is None:
    broken.append("the disk never filled up (make the file system smaller)")
elif first_refusal[0] != 507:
    broken.append(f"a full disk was answered {first_refusal[0]}, not 507")
if set(answers) - {200, 507}:
    broken.append(f"answers other than 200 and 507: {dict(answers)}")
if slowest > TIMEOUT / 2:
    broken.append("a request hung")
if integrity != "ok":
    broken.append(f"integrity_check: {integrity}")
if resumed_after is None:
    broken.append("writes did not resume once space was back")
if missing:
    broken.append(f"{missing} acknowledged points are missing")
finish(summary, broken, log_path)
