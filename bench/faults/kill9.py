"""`kill -9` at random moments under mixed load (issue 18, goal 5): every restart must become
ready, the SQLite database must pass `PRAGMA integrity_check`, and no acknowledged write may
be lost.

    python3 bench/faults/kill9.py ETS_BIN DATA_DIR KILLS [--database-url URL]

`ets serve` on DATA_DIR (SQLite, or PostgreSQL with --database-url) under load from one client
process: 2 writers logging 100-point `runs/log-batch` requests, 2 logging single
`runs/log-metric` points (each writer its own run, steps advancing only on a 200), one creating
runs, giving each 3 tags and 3 params (`runs/set-tag`, `runs/log-parameter`, one request each)
and ending it (`runs/update` FINISHED), one uploading 64–512 KiB artifacts, one reader
(`runs/search`, `metrics/get-history`). The server is killed with SIGKILL after a random
0.2–2 s, KILLS times, and started again on the same data each time; clients retry a request
cut by the kill until it gets an answer. Every 10th kill, while it is down, and after the final
kill, `PRAGMA integrity_check` (Python's sqlite3 on the database file) must say ok. Then a
fresh server reads everything back: every point, tag, param, run end and artifact that was
acknowledged must be there (a write whose request the kill cut may or may not be — not
counted), every artifact listed must have exactly the bytes sent (never a partial file), and
the audit trail's hash chain must verify. Any HTTP answer other than success is an error
(refused connections and cut requests while the server is down are not). Files left in the
artifact folder that no artifact names (uploads cut by a kill) are counted; then `ets gc` (no
grace period) must remove them all and keep every artifact. Prints one JSON summary; exits
non-zero when a rule is broken.
"""
import argparse, collections, hashlib, http.client, json, os, random, signal, sqlite3, subprocess, sys, threading, time

from faults_common import call, finish, free_port, percentile, serve

parser = argparse.ArgumentParser()
parser.add_argument("ets_bin")
parser.add_argument("data_dir")
parser.add_argument("kills", type=int)
parser.add_argument("--database-url")
args = parser.parse_args()

BATCH_WRITERS, POINT_WRITERS, BATCH_STEPS, TIMEOUT = 2, 2, 100, 30.0
MLFLOW = "/api/2.0/mlflow"
port = free_port()
os.makedirs(args.data_dir, exist_ok=True)
log_path = os.path.join(args.data_dir, "serve.log")
env = {"ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT": "100000000"}
if args.database_url:
    env["ETS_DATABASE_URL"] = args.database_url


def start():
    """A server on the data, once ready; seconds from its start to ready."""
    started = time.monotonic()
    proc = serve(args.ets_bin, port, args.data_dir, log=open(log_path, "a"), **env)
    return proc, time.monotonic() - started


def connect():
    return http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)


def integrity():
    """`PRAGMA integrity_check` of the SQLite database ("ok" when sound); None on PostgreSQL
    (the database server is not the process killed)."""
    if args.database_url:
        return None
    db = sqlite3.connect(os.path.join(args.data_dir, "ets.db"))
    try:
        return "; ".join(row[0] for row in db.execute("PRAGMA integrity_check"))
    finally:
        db.close()


server, first_ready = start()
setup = connect()
status, raw = call(setup, "POST", f"{MLFLOW}/experiments/create", {"name": f"kill9-{time.time_ns()}"})
assert status == 200, (status, raw)
experiment = json.loads(raw)["experiment_id"]


def new_run(conn):
    status, raw = call(conn, "POST", f"{MLFLOW}/runs/create", {"experiment_id": experiment})
    assert status == 200, (status, raw)
    return json.loads(raw)["run"]["info"]["run_id"]


stop = threading.Event()
http_errors = collections.Counter()  # (path, status) of answers other than 200
cut = collections.Counter()  # requests without an answer (refused, reset: the server was down)
lock = threading.Lock()


def call_bytes(conn, method, path, data):
    """(status, raw body) of one request with a raw byte body."""
    conn.request(method, path, data, {"content-type": "application/octet-stream"})
    r = conn.getresponse()
    return r.status, r.read()


def send(conn, method, path, body=None, data=None, ok=200):
    """Sends until an answer comes (the server may be down); (status, body, conn). `data`: a raw
    byte body instead of JSON `body`; `ok`: the status that is success."""
    while not stop.is_set():
        try:
            status, raw = call(conn, method, path, body) if data is None else call_bytes(conn, method, path, data)
        except (OSError, http.client.HTTPException):
            with lock:
                cut[path.split("?")[0]] += 1
            conn.close()
            conn = connect()
            time.sleep(0.02)
            continue
        if status != ok:
            with lock:
                http_errors[(path.split("?")[0], status, raw[:200].decode(errors="replace"))] += 1
            time.sleep(0.02)
        return status, raw, conn
    return None, b"", conn


metric_runs = [new_run(setup) for _ in range(BATCH_WRITERS + POINT_WRITERS)]
acked_steps = [0] * len(metric_runs)  # writer -> steps below it all acknowledged
acked_meta = {}  # run -> {"tags": {k: v}, "params": {k: v}} acknowledged


def batch_writer(w):
    conn, run = connect(), metric_runs[w]
    while not stop.is_set():
        step = acked_steps[w]
        metrics = [{"key": "b", "value": (step + i) * 0.5, "timestamp": 1_765_000_000_000 + step + i, "step": step + i}
                   for i in range(BATCH_STEPS)]
        status, _, conn = send(conn, "POST", f"{MLFLOW}/runs/log-batch", {"run_id": run, "metrics": metrics})
        if status == 200:
            acked_steps[w] = step + BATCH_STEPS


def point_writer(w):
    conn, run = connect(), metric_runs[w]
    while not stop.is_set():
        step = acked_steps[w]
        body = {"run_id": run, "key": "p", "value": step * 0.25, "timestamp": 1_765_000_000_000 + step, "step": step}
        status, _, conn = send(conn, "POST", f"{MLFLOW}/runs/log-metric", body)
        if status == 200:
            acked_steps[w] = step + 1


def meta_writer():
    conn, n = connect(), 0
    while not stop.is_set():
        status, raw, conn = send(conn, "POST", f"{MLFLOW}/runs/create", {"experiment_id": experiment})
        if status != 200:
            continue
        run = json.loads(raw)["run"]["info"]["run_id"]
        acked_meta[run] = {"tags": {}, "params": {}}
        for i in range(3):
            for kind, path in (("tags", "set-tag"), ("params", "log-parameter")):
                key, value = f"{kind[0]}{i}", f"{n}-{i}"
                while not stop.is_set():  # a cut request is sent again: the same key and value
                    status, _, conn = send(conn, "POST", f"{MLFLOW}/runs/{path}", {"run_id": run, "key": key, "value": value})
                    if status == 200:
                        acked_meta[run][kind][key] = value
                        break
        body = {"run_id": run, "status": "FINISHED", "end_time": int(time.time() * 1000)}
        while not stop.is_set():
            status, _, conn = send(conn, "POST", f"{MLFLOW}/runs/update", body)
            if status == 200:
                acked_meta[run]["finished"] = True
                break
        n += 1


def artifact_bytes(n):
    """The content of artifact n: 64–512 KiB, the same whenever it is sent again."""
    rng = random.Random(n)
    return rng.randbytes(rng.randrange(64, 513) * 1024)


artifact_run = metric_runs[0]
acked_artifacts = []  # n of every artifact answered 201
sent_artifacts = set()  # n of every artifact sent (a cut upload may be stored or not)


def artifact_writer():
    conn, n = connect(), 0
    while not stop.is_set():
        sent_artifacts.add(n)
        status, _, conn = send(conn, "POST", f"/api/v1/runs/{artifact_run}/artifacts?path=a/{n}.bin",
                               data=artifact_bytes(n), ok=201)
        if status == 201:
            acked_artifacts.append(n)
            n += 1


def reader():
    conn, pick = connect(), random.Random(9)
    search = {"experiment_ids": [experiment], "filter": "params.p0 != 'x'", "order_by": ["attributes.start_time DESC"], "max_results": 50}
    while not stop.is_set():
        _, _, conn = send(conn, "POST", f"{MLFLOW}/runs/search", search)
        w = pick.randrange(len(metric_runs))
        key = "b" if w < BATCH_WRITERS else "p"
        _, _, conn = send(conn, "GET", f"{MLFLOW}/metrics/get-history?run_id={metric_runs[w]}&metric_key={key}&max_results=1000")


threads = ([threading.Thread(target=batch_writer, args=(w,)) for w in range(BATCH_WRITERS)]
           + [threading.Thread(target=point_writer, args=(w,)) for w in range(BATCH_WRITERS, BATCH_WRITERS + POINT_WRITERS)]
           + [threading.Thread(target=f) for f in (meta_writer, artifact_writer, reader)])
for t in threads:
    t.start()

broken, ready_after, checks, kills, restart_failed = [], [], [], 0, False
kill_rng = random.Random(int(os.environ.get("KILL9_SEED", "0")) or None)
t0 = time.monotonic()
for k in range(1, args.kills + 1):
    time.sleep(kill_rng.uniform(0.2, 2.0))
    server.send_signal(signal.SIGKILL)
    server.wait()
    kills = k
    if k % 10 == 0 and not args.database_url:
        checks.append(integrity())
        if checks[-1] != "ok":
            broken.append(f"integrity_check after kill {k}: {checks[-1]}")
            break
    try:
        server, took = start()
    except SystemExit as e:
        broken.append(f"restart after kill {k} failed: {e}")
        restart_failed = True
        break
    ready_after.append(took)
time.sleep(1.0)
stop.set()
for t in threads:
    t.join()
elapsed = time.monotonic() - t0
if server.poll() is None:
    server.send_signal(signal.SIGKILL)  # the final stop is a kill too
    server.wait()
final_check = integrity()
if final_check not in ("ok", None):
    broken.append(f"integrity_check after the final kill: {final_check}")

# Everything acknowledged, read back by a fresh server.
lost = collections.Counter()
checked = collections.Counter()
corrupt_artifacts, stray_files, gc_summary = [], None, None
audit = None
if not restart_failed:
    server, _ = start()
    conn = connect()
    for w, run in enumerate(metric_runs):
        key = "b" if w < BATCH_WRITERS else "p"
        status, raw = call(conn, "GET", f"{MLFLOW}/metrics/get-history?run_id={run}&metric_key={key}&max_results=100000000")
        steps = {m["step"] for m in json.loads(raw).get("metrics", [])} if status == 200 else set()
        checked["points"] += acked_steps[w]
        lost["points"] += sum(1 for s in range(acked_steps[w]) if s not in steps)
    for run, meta in acked_meta.items():
        status, raw = call(conn, "GET", f"{MLFLOW}/runs/get?run_id={run}")
        got = json.loads(raw)["run"] if status == 200 else {"info": {}, "data": {}}
        data = got["data"]
        lost["runs"] += status != 200
        checked["runs"] += 1
        if meta.get("finished"):
            checked["run_ends"] += 1
            lost["run_ends"] += got["info"].get("status") != "FINISHED"
        for kind in ("tags", "params"):
            stored = {e["key"]: e["value"] for e in data.get(kind, [])}
            checked[kind] += len(meta[kind])
            lost[kind] += sum(1 for k, v in meta[kind].items() if stored.get(k) != v)
    # Every acknowledged artifact is there, and every artifact listed (a cut upload included)
    # has exactly the bytes that were sent: never a partial file.
    status, raw = call(conn, "GET", f"/api/v1/runs/{artifact_run}/artifacts?prefix=a/")
    listed = {a["path"]: a for a in json.loads(raw)["items"]} if status == 200 else {}
    checked["artifacts"] = len(acked_artifacts)
    lost["artifacts"] = sum(1 for n in acked_artifacts if f"a/{n}.bin" not in listed)
    for path, artifact in listed.items():
        n = int(path[2:-4])
        conn.request("GET", f"/api/v1/runs/{artifact_run}/artifacts/{path}")
        r = conn.getresponse()
        content = r.read()
        expected = artifact_bytes(n)
        if (r.status != 200 or content != expected or artifact["size"] != len(expected)
                or artifact["sha256"] != hashlib.sha256(expected).hexdigest()):
            corrupt_artifacts.append({"path": path, "status": r.status, "size": artifact["size"], "read": len(content)})
    # Files no artifact names (uploads the kill cut) are what `ets gc` is for: run it with no
    # grace period (nothing is uploading now), then they must be gone and every artifact kept.
    artifact_dir = os.path.join(args.data_dir, "artifacts")
    def files_not_listed():
        return sum(len(files) for _, _, files in os.walk(artifact_dir)) - len(listed)
    stray_files = files_not_listed()
    gc_env = {k: v for k, v in os.environ.items() if not k.startswith("ETS_")}
    gc_env.update(env, ETS_ARTIFACTS__UPLOAD_EXPIRY_HOURS="0")
    gc = subprocess.run([args.ets_bin, "gc", "--data-dir", args.data_dir], env=gc_env, capture_output=True, text=True)
    status, raw = call(conn, "GET", f"/api/v1/runs/{artifact_run}/artifacts?prefix=a/")
    after_gc = {a["path"]: a["sha256"] for a in json.loads(raw)["items"]} if status == 200 else {}
    gc_summary = {"exit": gc.returncode, "files_not_listed_after": files_not_listed(),
                  "artifacts_lost": sum(1 for p, a in listed.items() if after_gc.get(p) != a["sha256"])}
    if gc.returncode != 0:
        gc_summary["stderr"] = gc.stderr[-500:]
    status, raw = call(conn, "GET", "/api/v1/audit/verify")
    audit = json.loads(raw) if status == 200 else {"status": status, "body": raw[:200].decode(errors="replace")}
    server.terminate()
    server.wait(timeout=30)

summary = {
    "backend": "postgres" if args.database_url else "sqlite",
    "kills": kills,
    "restarts_ready": len(ready_after),
    "seconds": round(elapsed, 1),
    "first_start_to_ready_s": round(first_ready, 3),
    "start_to_ready_after_kill_s": {"p50": round(percentile(ready_after, 50), 3), "max": round(max(ready_after, default=0), 3)},
    "integrity_checks": {"every_10th_kill": dict(collections.Counter(checks)), "final": final_check},
    "requests_cut": sum(cut.values()),
    "http_errors": {f"{p} {s}: {b}": n for (p, s, b), n in http_errors.items()},
    "acknowledged_checked": dict(checked),
    "lost": dict(lost),
    "artifacts_listed_not_as_sent": corrupt_artifacts,
    "artifact_files_not_listed": stray_files,
    "gc": gc_summary,
    "audit_verify": audit and {k: audit.get(k) for k in ("ok", "checked", "first_bad_seq", "reason")},
}
if http_errors:
    broken.append(f"answers other than 200: {summary['http_errors']}")
if sum(lost.values()):
    broken.append(f"acknowledged writes lost: {dict(lost)}")
if gc_summary and (gc_summary["exit"] or gc_summary["files_not_listed_after"] or gc_summary["artifacts_lost"]):
    broken.append(f"`ets gc` after the kills: {gc_summary}")
if corrupt_artifacts:
    broken.append(f"artifacts listed that are not what was sent: {corrupt_artifacts[:5]}")
if audit is not None and not audit.get("ok"):
    broken.append(f"the audit trail does not verify: {audit}")
finish(summary, broken, log_path)
