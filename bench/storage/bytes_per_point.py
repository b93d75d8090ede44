"""Bytes on disk per metric point (issue 18, goal 3): `KEYS` float32 training curves × `STEPS`
steps logged through MLflow's `runs/log-batch` in batches of `BATCH` points (each batch holds
consecutive steps of every key, as a training loop that logs all its metrics each step and
flushes every BATCH points), into a fresh `ets serve` on SQLite; then the server is stopped
and the database file is measured once its write-ahead log is checkpointed into it.

    python3 bench/storage/bytes_per_point.py path/to/ets [KEYS STEPS BATCH [PG_ADMIN_URL]]

With PG_ADMIN_URL (a PostgreSQL server's URL, e.g. postgres://postgres@127.0.0.1:5432/postgres)
the same runs on PostgreSQL: a fresh database is created for it (and dropped after), and once
the server is stopped and the database vacuumed, the bytes are those of its tables with their
TOAST tables and indexes (`pg_total_relation_size`; the system catalogs, ~7 MB in any
database, are left out), with the chunks' heap, TOAST and index shown apart. Needs `psql`.

The curves: loss-like exponential decays with noise, rounded to float32 (what frameworks log);
timestamps advance ~50 ms a step with a few ms of jitter, as a training loop's do.
"""
import http.client, json, math, os, random, shutil, signal, socket, struct, subprocess, sys, tempfile, time

binary = sys.argv[1]
keys, steps, batch = (int(a) for a in (sys.argv[2:5] if len(sys.argv) > 4 else ("10", "100000", "1000")))
pg_admin = sys.argv[5] if len(sys.argv) > 5 else None
pg_url = None
if pg_admin:
    database = f"ets_bytes_{os.getpid()}"
    psql = lambda url, sql: subprocess.run(["psql", url, "-XAtqc", sql], check=True, capture_output=True, text=True).stdout
    psql(pg_admin, f"CREATE DATABASE {database}")
    pg_url = pg_admin.rsplit("/", 1)[0] + "/" + database
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
data = tempfile.mkdtemp()
env = {k: v for k, v in os.environ.items() if not k.startswith("ETS_")}
server = subprocess.Popen([binary, "serve", "--port", str(port), "--metrics-port", "0", "--data-dir", data]
                          + (["--database-url", pg_url] if pg_url else []),
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
points = keys * steps
if pg_url:
    psql(pg_url, "VACUUM ANALYZE")
    sizes = psql(pg_url, """SELECT c.relname, pg_total_relation_size(c.oid), pg_relation_size(c.oid),
        coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0), pg_indexes_size(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')""")
    tables = {}
    for line in sizes.splitlines():
        name, total_size, heap, toast, indexes = line.split("|")
        tables[name] = {"total": int(total_size), "heap": int(heap), "toast": int(toast), "indexes": int(indexes)}
    total = sum(t["total"] for t in tables.values())
    files = {"metric_chunks": tables["metric_chunks"], "audit_log": tables["audit_log"],
             "other_tables": total - tables["metric_chunks"]["total"] - tables["audit_log"]["total"]}
    psql(pg_admin, f"DROP DATABASE {database}")
else:
    # The server leaves its write-ahead log behind: fold it into the database before measuring.
    import sqlite3
    db = sqlite3.connect(os.path.join(data, "ets.db")); db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = {name: os.path.getsize(os.path.join(data, name)) for name in os.listdir(data) if name.startswith("ets.db")}
    total = sum(files.values())
    # Where the bytes go (`dbstat`), in bytes a point: the chunks' data, the rest of their rows
    # and pages (cell headers, other columns, free space), their index, the audit trail (table
    # and indexes), and every other table and index (most of them a page or two).
    pages = {name: (size, unused) for name, size, unused in db.execute("SELECT name, sum(pgsize), sum(unused) FROM dbstat GROUP BY name")}
    chunk_data = db.execute("SELECT sum(length(data)) FROM metric_chunks").fetchone()[0] or 0
    chunk_rows = db.execute("SELECT count(*) FROM metric_chunks").fetchone()[0]
    db.close()
    audit = sum(size for name, (size, _) in pages.items() if name.startswith("audit_log"))
    chunk_pages, chunk_unused = pages.get("metric_chunks", (0, 0))
    chunk_index = pages.get("metric_chunks_by_series", (0, 0))[0]
    per_point = lambda b: round(b / points, 3)
    files["breakdown_bytes_per_point"] = {
        "chunk_data": per_point(chunk_data), "chunk_free_space": per_point(chunk_unused),
        "chunk_rows_other": per_point(chunk_pages - chunk_unused - chunk_data), "chunk_index": per_point(chunk_index),
        "audit": per_point(audit), "other": per_point(total - chunk_pages - chunk_index - audit), "chunk_rows": chunk_rows}
print(json.dumps({"points": points, "ingest_seconds": round(seconds, 2), "points_per_second": round(points / seconds),
                  "database_bytes": total, "files": files, "bytes_per_point": round(total / points, 2)}))
shutil.rmtree(data)
