"""PostgreSQL restarted under ingest (issue 18, goal 5): requests must fail fast with 503 while
the database is away (never hang), the pool must recover by itself, and every acknowledged
point must be there afterwards.

    python3 bench/faults/pg_restart.py ETS_BIN DATABASE_URL PG_CTL PG_DATA [SECONDS_DOWN]

Starts `ets serve` on DATABASE_URL; WRITERS threads log 100-point batches through MLflow's
`runs/log-batch` (each writer its own key, steps counting up), recording every answer and its
latency; after 3 s PostgreSQL is stopped (`pg_ctl stop -m immediate`: a crash, no checkpoint),
kept down SECONDS_DOWN (default 5), started again with its options; writing goes on 8 s more. Then every
acknowledged step is looked up with `metrics/get-history`. Prints one JSON summary and exits
non-zero when a rule is broken. `PG_RUN_AS` (e.g. "runuser -u postgres --") prefixes pg_ctl.
"""
import collections, http.client, json, os, shlex, subprocess, sys, tempfile, threading, time

from faults_common import call, finish, free_port, serve

ets_bin, database_url, pg_ctl, pg_data = sys.argv[1:5]
down_seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 5.0
run_as = shlex.split(os.environ.get("PG_RUN_AS", ""))
WRITERS, BATCH, TIMEOUT = 4, 100, 30.0
FAIL_FAST_S = 10.0  # an answer while the database is away must come sooner than this

port = free_port()
data_dir = tempfile.mkdtemp()
server = serve(ets_bin, port, data_dir, log=open(os.path.join(data_dir, "serve.log"), "w"),
               ETS_DATABASE_URL=database_url)

def connect():
    return http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)

c = connect()
status, body = call(c, "POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "0"})
assert status == 200, (status, body)
run = json.loads(body)["run"]["info"]["run_id"]

stop = threading.Event()
acked = collections.defaultdict(list)  # writer -> acknowledged first steps
answers = []  # (time since start, writer, status or error, seconds)
lock = threading.Lock()
t0 = time.time()

def writer(w):
    conn, step = connect(), 0
    while not stop.is_set():
        metrics = [{"key": f"w{w}", "value": float(step + i), "timestamp": 1_765_000_000_000 + step + i, "step": step + i}
                   for i in range(BATCH)]
        started = time.time()
        try:
            status, _ = call(conn, "POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run, "metrics": metrics})
            outcome = status
        except (OSError, http.client.HTTPException) as e:
            outcome = type(e).__name__
            conn = connect()
        took = time.time() - started
        with lock:
            answers.append((started - t0, w, outcome, took))
            if outcome == 200:
                acked[w].append(step)
        if outcome == 200:
            step += BATCH
        else:
            time.sleep(0.05)

threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
for t in threads:
    t.start()
time.sleep(3)
down_at = time.time() - t0
subprocess.run(run_as + [pg_ctl, "-D", pg_data, "-m", "immediate", "-w", "stop"], check=True, stdout=subprocess.DEVNULL)
time.sleep(down_seconds)
# `restart` starts it with the options it last ran with (postmaster.opts), even when it is down.
subprocess.run(run_as + [pg_ctl, "-D", pg_data, "-w", "restart", "-l", os.path.join(pg_data, "..", "restart.log")],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
up_at = time.time() - t0
time.sleep(8)
stop.set()
for t in threads:
    t.join()

# Every acknowledged batch is stored.
missing = 0
c = connect()
for w in range(WRITERS):
    status, body = call(c, "GET", f"/api/2.0/mlflow/metrics/get-history?run_id={run}&metric_key=w{w}&max_results=1000000")
    if status != 200:
        sys.exit(f"reading back failed: {status} {body[:200]!r}; server log:\n"
                 + open(os.path.join(data_dir, "serve.log")).read()[-3000:])
    steps = {m["step"] for m in json.loads(body).get("metrics", [])}
    missing += sum(1 for first in acked[w] for i in range(BATCH) if first + i not in steps)
server.terminate(); server.wait(timeout=30)

during = [a for a in answers if down_at <= a[0] < up_at]
after = [a for a in answers if a[0] >= up_at + 1]
statuses = collections.Counter(str(a[2]) for a in answers)
first_ok_after = min((a[0] + a[3] for a in answers if a[0] >= up_at and a[2] == 200), default=None)
summary = {
    "down_seconds": round(up_at - down_at, 1),
    "answers": dict(statuses),
    "answers_while_down": dict(collections.Counter(str(a[2]) for a in during)),
    "slowest_answer_while_down_s": round(max((a[3] for a in during), default=0), 2),
    "recovered_after_s": None if first_ok_after is None else round(first_ok_after - up_at, 2),
    "errors_after_recovery": sum(1 for a in after if a[2] != 200),
    "acknowledged_points": sum(len(v) for v in acked.values()) * BATCH,
    "acknowledged_points_missing": missing,
}
broken = []
if missing:
    broken.append("acknowledged points are missing")
if summary["slowest_answer_while_down_s"] > FAIL_FAST_S:
    broken.append(f"a request took over {FAIL_FAST_S} s while the database was away")
if any(str(a[2]) not in ("200", "503") for a in during):
    broken.append("answers other than 200/503 while the database was away")
if first_ok_after is None or summary["errors_after_recovery"]:
    broken.append("the service did not recover by itself")
finish(summary, broken)
