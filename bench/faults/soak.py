"""Soak (issue 18, goal 5): 8 writers and 2 readers against one `ets serve` for MINUTES; no
request may fail, the last minute's p99 latency of every kind of request must be within 1.5×
of the first minute's, the server's RSS must stay flat, and every acknowledged point must be
stored at the end.

    python3 bench/faults/soak.py ETS_BIN DATA_DIR MINUTES [--database-url URL] [--smoke]

Writers 0-3 log 100-point `runs/log-batch` requests (2 keys × 50 steps), writers 4-7 single
`runs/log-metric` points; each writer has its own run, its steps advance only on a 200. The 2
readers alternate a `runs/search` (a params filter, ordered by a metric, 100 of ~200 runs) and
a read of the latest 1,000 acknowledged steps of one writer's series (`GET
/api/v1/runs/{id}/metrics/{key}?start_step=…&end_step=…`: a constant amount of work however long
the series has grown, as a chart following a live run reads it). Every client is paced to a
fixed rate (below what the server can do, so latencies measure the server rather than a
queue; a client that falls behind does not burst to catch up). The client is one Python
process with threads on keep-alive `http.client` connections, sharing the machine's cores with
the server: the latencies include its own scheduling (the GIL), so they are upper bounds.

The server's VmRSS (/proc/PID/status) is sampled every 2 s, with its heap (RssAnon) and file
pages (RssFile) apart. RSS is flat when the heap grows at most 0.5 MiB/min over the last third
of the run (judged from 5 minutes on): the first minutes fill bounded caches (SQLite's page
caches grow with the database up to `cache_size`). Latency windows are the first and the last
minute (a third of the run each when it is shorter than 3 minutes). Prints one JSON summary;
exits non-zero when a rule is broken. `--smoke` (CI, debug build, a noisy machine) still fails
on errors and lost points but only reports latency and RSS.
"""
import argparse, collections, http.client, json, os, random, sys, threading, time

from faults_common import call, finish, free_port, percentile, serve

parser = argparse.ArgumentParser()
parser.add_argument("ets_bin")
parser.add_argument("data_dir")
parser.add_argument("minutes", type=float)
parser.add_argument("--database-url")
parser.add_argument("--smoke", action="store_true")
args = parser.parse_args()

BATCH_WRITERS, POINT_WRITERS, READERS = 4, 4, 2
BATCH_KEYS, BATCH_STEPS = ("loss", "acc"), 50  # 100 points per batch
RATE = {"batch": 20.0, "point": 50.0, "reader": 5.0}  # requests per second of one client
STATIC_RUNS, WINDOW_STEPS, TIMEOUT = 200, 1000, 30.0
P99_RATIO, ANON_SLOPE_MAX = 1.5, 0.5  # last/first minute p99; heap MiB/min once caches are warm
duration = args.minutes * 60
window = min(60.0, duration / 3)

port = free_port()
os.makedirs(args.data_dir, exist_ok=True)
log_path = os.path.join(args.data_dir, "serve.log")
env = {"ETS_DATABASE_URL": args.database_url} if args.database_url else {}
server = serve(args.ets_bin, port, args.data_dir, log=open(log_path, "w"), **env)


def connect():
    return http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)


def ok(conn, method, path, body=None):
    status, raw = call(conn, method, path, body)
    if status != 200:
        sys.exit(f"setup: {method} {path} answered {status}: {raw[:300]!r}")
    return json.loads(raw) if raw else {}


MLFLOW = "/api/2.0/mlflow"
setup = connect()
experiment = ok(setup, "POST", f"{MLFLOW}/experiments/create", {"name": f"soak-{time.time_ns()}"})["experiment_id"]


def new_run(params, metrics=()):
    run = ok(setup, "POST", f"{MLFLOW}/runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]
    ok(setup, "POST", f"{MLFLOW}/runs/log-batch", {"run_id": run, "params": params, "metrics": list(metrics)})
    return run


# Runs for the search to sort through besides the writers' own.
rng = random.Random(18)
for i in range(STATIC_RUNS):
    new_run([{"key": "g", "value": "ab"[i % 2]}, {"key": "lr", "value": str(rng.random())}],
            [{"key": "loss", "value": rng.random(), "timestamp": 1_765_000_000_000, "step": 0}])
writer_runs = [new_run([{"key": "g", "value": "a"}, {"key": "writer", "value": str(w)}])
               for w in range(BATCH_WRITERS + POINT_WRITERS)]

stop = threading.Event()
t0 = time.monotonic()
# Per client, written only by its thread: (start since t0, seconds, status or exception name).
samples = collections.defaultdict(list)  # kind -> list of per-thread lists
acked = {}  # writer -> next unacknowledged step (steps below it are all acknowledged)


def paced(rate):
    """Yields once per tick of `rate` per second until stop; never bursts to catch up."""
    next_at = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        if next_at > now:
            time.sleep(next_at - now)
        next_at = max(next_at + 1 / rate, time.monotonic())
        yield


def timed(conn, out, method, path, body=None):
    """Sends one request, appends (start, seconds, outcome) to out; returns (outcome, conn)."""
    started = time.monotonic()
    try:
        status, raw = call(conn, method, path, body)
        outcome = status
    except (OSError, http.client.HTTPException) as e:
        outcome, raw = type(e).__name__, b""
        conn = connect()
    out.append((started - t0, time.monotonic() - started, outcome))
    return outcome, raw, conn


def batch_writer(w):
    out, conn, step, run = [], connect(), 0, writer_runs[w]
    samples["batch"].append(out)
    acked[w] = 0
    for _ in paced(RATE["batch"]):
        ts = 1_765_000_000_000 + step
        metrics = [{"key": k, "value": (step + i) * 1e-3, "timestamp": ts + i, "step": step + i}
                   for k in BATCH_KEYS for i in range(BATCH_STEPS)]
        outcome, _, conn = timed(conn, out, "POST", f"{MLFLOW}/runs/log-batch", {"run_id": run, "metrics": metrics})
        if outcome == 200:
            step += BATCH_STEPS
            acked[w] = step


def point_writer(w):
    out, conn, step, run = [], connect(), 0, writer_runs[w]
    samples["point"].append(out)
    acked[w] = 0
    for _ in paced(RATE["point"]):
        body = {"run_id": run, "key": "loss", "value": 1.0 / (step + 1), "timestamp": 1_765_000_000_000 + step, "step": step}
        outcome, _, conn = timed(conn, out, "POST", f"{MLFLOW}/runs/log-metric", body)
        if outcome == 200:
            step += 1
            acked[w] = step


SEARCH = {"experiment_ids": [experiment], "filter": "params.g = 'a' and metrics.loss < 1000",
          "order_by": ["metrics.loss ASC"], "max_results": 100}


def reader(r):
    searches, histories, conn = [], [], connect()
    samples["search"].append(searches)
    samples["history"].append(histories)
    pick = random.Random(r)
    for i, _ in enumerate(paced(RATE["reader"])):
        if i % 2 == 0:
            timed(conn, searches, "POST", f"{MLFLOW}/runs/search", SEARCH)
            continue
        w = pick.randrange(BATCH_WRITERS + POINT_WRITERS)
        end = acked.get(w, 0) - 1
        key = "loss"
        path = f"/api/v1/runs/{writer_runs[w]}/metrics/{key}?start_step={max(0, end - WINDOW_STEPS + 1)}&end_step={max(0, end)}"
        timed(conn, histories, "GET", path)


rss = []  # (seconds since t0, VmRSS MiB)
rss_parts = []  # (RssAnon, RssFile, database MiB) of each sample: heap (a leak, caches) vs
# mapped file pages, beside the size of the SQLite files (its page caches grow with them)


def database_mib():
    if args.database_url:
        return None
    return sum(os.path.getsize(os.path.join(args.data_dir, f))
               for f in os.listdir(args.data_dir) if f.startswith("ets.db")) / 2**20


def rss_sampler():
    while not stop.wait(2.0):
        try:
            with open(f"/proc/{server.pid}/status") as f:
                kb = {line.split(":")[0]: int(line.split()[1]) for line in f if line.startswith(("VmRSS:", "RssAnon:", "RssFile:"))}
        except OSError:
            continue
        rss.append((time.monotonic() - t0, kb["VmRSS"] / 1024))
        rss_parts.append((kb["RssAnon"] / 1024, kb["RssFile"] / 1024, database_mib()))


threads = ([threading.Thread(target=batch_writer, args=(w,)) for w in range(BATCH_WRITERS)]
           + [threading.Thread(target=point_writer, args=(w,)) for w in range(BATCH_WRITERS, BATCH_WRITERS + POINT_WRITERS)]
           + [threading.Thread(target=reader, args=(r,)) for r in range(READERS)]
           + [threading.Thread(target=rss_sampler)])
load_before = os.getloadavg()
for t in threads:
    t.start()
time.sleep(duration)
stop.set()
for t in threads:
    t.join()
elapsed = time.monotonic() - t0
load_after = os.getloadavg()
server_cpu_s = None
try:
    with open(f"/proc/{server.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    server_cpu_s = round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)
except OSError:
    pass

# Every acknowledged step is stored: the whole histories, read back through MLflow's API.
verify = connect()
missing = 0
for w in range(BATCH_WRITERS + POINT_WRITERS):
    keys = BATCH_KEYS if w < BATCH_WRITERS else ("loss",)
    for key in keys:
        status, raw = call(verify, "GET", f"{MLFLOW}/metrics/get-history?run_id={writer_runs[w]}&metric_key={key}&max_results=100000000")
        if status != 200:
            sys.exit(f"reading back failed: {status} {raw[:300]!r}; server log:\n" + open(log_path).read()[-3000:])
        steps = {m["step"] for m in json.loads(raw).get("metrics", [])}
        missing += sum(1 for s in range(acked[w]) if s not in steps)
server.terminate()
server.wait(timeout=30)


def goal_missed(message):
    """A latency or RSS goal missed: broken, but in a smoke run only reported."""
    if args.smoke:
        print("goal missed (smoke: reported only):", message, file=sys.stderr)
    else:
        broken.append(message)


def window_stats(points):
    lat = [p[1] * 1000 for p in points]
    return {"n": len(lat), "p50_ms": round(percentile(lat, 50), 2), "p99_ms": round(percentile(lat, 99), 2)}


kinds, broken = {}, []
for kind, lists in samples.items():
    points = [p for out in lists for p in out]
    errors = collections.Counter(str(p[2]) for p in points if p[2] != 200)
    first = window_stats([p for p in points if p[0] < window and p[2] == 200])
    last = window_stats([p for p in points if p[0] >= elapsed - window and p[2] == 200])
    ratio = round(last["p99_ms"] / first["p99_ms"], 2) if first["p99_ms"] else None
    by_minute = collections.defaultdict(list)
    for p in points:
        by_minute[int(p[0] // 60)].append(p[1] * 1000)
    kinds[kind] = {"requests": len(points), "per_s": round(len(points) / elapsed, 1), "errors": dict(errors),
                   "first": first, "last": last, "p99_last_over_first": ratio,
                   "p99_ms_per_minute": [round(percentile(by_minute[m], 99), 1) for m in sorted(by_minute)]}
    if errors:
        broken.append(f"{kind}: {sum(errors.values())} errors {dict(errors)}")
    if ratio is not None and ratio > P99_RATIO:
        goal_missed(f"{kind}: last p99 {ratio}× the first (goal ≤ {P99_RATIO}×)")


def slope_mib_per_min(points):
    if len(points) < 2:
        return None
    n = len(points)
    mx, my = sum(p[0] for p in points) / n, sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    return round(sum((p[0] - mx) * (p[1] - my) for p in points) / var * 60, 2) if var else None


rss_first = max((m for t, m in rss if t < window), default=None)
rss_last = max((m for t, m in rss if t >= elapsed - window), default=None)
rss_summary = {
    "first_window_max_mib": rss_first and round(rss_first, 1),
    "last_window_max_mib": rss_last and round(rss_last, 1),
    "peak_mib": round(max((m for _, m in rss), default=0), 1),
    "slope_mib_per_min": slope_mib_per_min(rss),
    "slope_second_half_mib_per_min": slope_mib_per_min([p for p in rss if p[0] >= elapsed / 2]),
    "samples": len(rss),
    "max_mib_per_minute": [round(max(m for t, m in rss if int(t // 60) == minute), 1)
                           for minute in sorted({int(t // 60) for t, _ in rss})],
    # Where RSS is at the end of each minute: heap (RssAnon: SQLite's page caches, buffers, a
    # leak) and mapped file pages (RssFile: the binary, SQLite's mmap of the database), beside
    # the SQLite files' size.
    "per_minute_end": [
        {"anon_mib": round(a, 1), "file_mib": round(f, 1), "database_mib": d and round(d, 1)}
        for i, (a, f, d) in enumerate(rss_parts)
        if i + 1 == len(rss_parts) or int(rss[i + 1][0] // 60) != int(rss[i][0] // 60)],
}
# Flat means no unbounded growth. The first minutes fill bounded caches (SQLite's page cache of
# each connection, up to `cache_size` = 64 MiB, grows with the database; the mapped database
# file, up to `mmap_size`, is file pages the kernel can take back): the rule is the heap's
# slope over the last third of the run.
anon_slope = slope_mib_per_min([(t, parts[0]) for (t, _), parts in zip(rss, rss_parts) if t >= elapsed * 2 / 3])
rss_summary["anon_slope_last_third_mib_per_min"] = anon_slope
if anon_slope is not None and anon_slope > ANON_SLOPE_MAX and duration >= 300:
    goal_missed(f"the heap (RssAnon) still grows {anon_slope} MiB/min in the last third (goal ≤ {ANON_SLOPE_MAX})")
if missing:
    broken.append(f"{missing} acknowledged points are missing")

summary = {
    "backend": "postgres" if args.database_url else "sqlite",
    "seconds": round(elapsed, 1),
    "window_s": window,
    "kinds": kinds,
    "rss": rss_summary,
    "server_cpu_s": server_cpu_s,
    "load_average_before": [round(x, 2) for x in load_before],
    "load_average_after": [round(x, 2) for x in load_after],
    "acknowledged_points": sum(acked[w] * (len(BATCH_KEYS) if w < BATCH_WRITERS else 1) for w in acked),
    "acknowledged_points_missing": missing,
    "database_mib": database_mib() and round(database_mib(), 1),
}
finish(summary, broken, log_path)
