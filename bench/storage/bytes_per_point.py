"""Bytes on disk per metric point (issue 18, goal 3): `KEYS` float32 training curves × `STEPS`
steps logged through MLflow's `runs/log-batch` in batches of `BATCH` points (each batch holds
consecutive steps of every key, as a training loop that logs all its metrics each step and
flushes every BATCH points), into a fresh `ets serve` on SQLite; then the server is stopped
and the database file is measured once its write-ahead log is checkpointed into it.

    python3 bench/storage/bytes_per_point.py path/to/ets [KEYS STEPS BATCH]   # 10 100000 1000

The curves: loss-like exponential decays with noise, rounded to float32 (what frameworks log);
timestamps advance ~50 ms a step with a few ms of jitter, as a training loop's do.
"""
import http.client, json, math, os, random, shutil, signal, socket, struct, subprocess, sys, tempfile, time

binary = sys.argv[1]
keys, steps, batch = (int(a) for a in (sys.argv[2:5] if len(sys.argv) > 4 else ("10", "100000", "1000")))
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
data = tempfile.mkdtemp()
env = {k: v for k, v in os.environ.items() if not k.startswith("ETS_")}
server = subprocess.Popen([binary, "serve", "--port", str(port), "--metrics-port", "0", "--data-dir", data],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", "/health/ready"); c.getresponse().read(); break
        except OSError:
            time.sleep(0.1)
    def post(path, body):
        c.request("POST", path, json.dumps(body), {"content-type": "application/json"})
        r = c.getresponse(); text = r.read(); assert r.status == 200, (r.status, text[:200]); return json.loads(text)
    run = post("/api/2.0/mlflow/runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
    f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
    rng = random.Random(7)
    t = 1_765_000_000_000
    pending, started = [], time.time()
    for step in range(steps):
        t += 50 + rng.randint(0, 3)
        for k in range(keys):
            value = f32((1.5 + k) * math.exp(-step / (steps / 4)) + 0.05 * rng.random())
            pending.append({"key": f"metric_{k}", "value": value, "timestamp": t, "step": step})
        if len(pending) >= batch:
            post("/api/2.0/mlflow/runs/log-batch", {"run_id": run, "metrics": pending[:batch]})
            pending = pending[batch:]
    if pending:
        post("/api/2.0/mlflow/runs/log-batch", {"run_id": run, "metrics": pending})
    seconds = time.time() - started
finally:
    server.send_signal(signal.SIGTERM); server.wait(timeout=30)
# The server leaves its write-ahead log behind: fold it into the database before measuring.
import sqlite3
db = sqlite3.connect(os.path.join(data, "ets.db")); db.execute("PRAGMA wal_checkpoint(TRUNCATE)"); db.close()
points = keys * steps
files = {name: os.path.getsize(os.path.join(data, name)) for name in os.listdir(data) if name.startswith("ets.db")}
total = sum(files.values())
print(json.dumps({"points": points, "ingest_seconds": round(seconds, 2), "points_per_second": round(points / seconds),
                  "database_bytes": total, "files": files, "bytes_per_point": round(total / points, 2)}))
shutil.rmtree(data)
