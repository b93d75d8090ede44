#!/usr/bin/env python3
"""Issue 12: how long a server takes to draw a line chart of 100 runs x 100,000 points.

    python3 bench/compare/charts.py --ets-bin target/release/ets                  # ETS and MLflow
    python3 bench/compare/charts.py --ets-bin target/release/ets --servers ets    # ETS alone
    python3 bench/compare/charts.py --help                                        # sizes, repetitions

ETS: starts `ets serve` on a fresh temp dir and a free loopback port (auth off), loads `--runs`
runs of one metric `loss` (`--points` points each: a noisy decaying curve with a few spikes)
through the native columnar endpoint `POST /api/v1/runs/{id}/bulk-metrics`, saves a line chart
of the experiment (`POST /api/v1/visualizations/charts`) and times
`GET /api/v1/visualizations/charts/{id}?format=…` for PNG, Plotly JSON, SVG and PDF at the
default 900x500, then PNG and JSON at width=1800 and PNG at dpi=192: one untimed warm-up, then
`--reps` timed requests each (JSON also with `Accept-Encoding: gzip`). Per request it records
the wall time, the server's CPU time (utime + stime of its process in /proc, all threads) and
the answer's bytes as sent. It checks the answers: every trace of the JSON (typed arrays
decoded) has at most 4 points per pixel column of the plot area — ETS sends 2, each column's
extremes — and holds every spike of its run exactly.

MLflow (a real `mlflow server`, SQLite, the venv of tests/mlflow_client/.venv-server, created
here as run.sh does when missing): the same runs (fewer points per run with `--mlflow-points`,
because its ingest is slow), then what its UI does for a chart: one
`GET /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=…&metric_key=loss&max_results=320`
(at most 100 runs per request: MLflow's limit), then the 100 lines drawn with matplotlib (Agg,
900x500 px at dpi 100) to PNG, timed separately. It reports how many of the spikes the sampled
series still hold.

The client is the standard library only (http.client) for both servers; matplotlib is imported
only for MLflow's drawing. Progress goes to stderr, a markdown table to stdout, everything as
JSON to `--json`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import io
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MLFLOW_VENV = os.path.join(REPO, "tests", "mlflow_client", ".venv-server")
MLFLOW_REQ = os.path.join(REPO, "tests", "mlflow_client", "requirements-server.txt")
DEFAULT_PROJECT = "0" * 32
KEY = "loss"
SPIKES = 5  # per run
T0 = time.monotonic()
# The plot area of a chart with a legend (crates/ets-charts/src/layout.rs): width minus the
# left margin (80), right margin (24) and legend column (180), in CSS pixels.
LEGEND_LAYOUT_PX = 80 + 24 + 180


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The data: the same for both servers, made again from a seed instead of held in memory.


def run_series(run: int, points: int) -> tuple[list[int], list[float], list[int]]:
    """Steps, values and the steps of the spikes of run `run`: a noisy decaying loss with
    `SPIKES` spikes (+3 to +5 over the curve), each in its own fifth of the run so that no two
    share a pixel column."""
    rng = random.Random(run)
    start = 2.0 + rng.random()
    tau = points / rng.uniform(3.0, 8.0)
    floor = 0.05 + 0.1 * rng.random()
    steps = list(range(points))
    exp, gauss = math.exp, rng.gauss
    values = [floor + start * exp(-s / tau) + gauss(0.0, 0.03) for s in steps]
    spikes = []
    for part in range(SPIKES):
        lo = part * points // SPIKES + points // (4 * SPIKES)
        hi = (part + 1) * points // SPIKES - points // (4 * SPIKES)
        s = rng.randrange(lo, max(lo + 1, hi))
        values[s] += 3.0 + 2.0 * rng.random()
        spikes.append(s)
    return steps, values, spikes


# ---------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, pgid, utime+stime ticks) for every process (as harness.py reads it)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2 :].split()
        table[int(entry)] = (int(rest[1]), int(rest[2]), int(rest[11]) + int(rest[12]))
    return table


def tree_cpu(leader: int) -> float:
    """CPU seconds of the process group `leader` leads (the server and any worker it forked)."""
    ticks = sum(t for _, pgid, t in proc_table().values() if pgid == leader)
    return ticks / os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def other_load(interval: float) -> float:
    """Cores used by every process but this one over `interval` seconds (no server busy)."""
    b0, t0 = busy_seconds(), os.times()
    time.sleep(interval)
    t1 = os.times()
    own = (t1.user + t1.system) - (t0.user + t0.system)
    return max(0.0, busy_seconds() - b0 - own) / interval


def wait_quiet(limit: float, threshold: float = 0.3) -> float:
    """Waits (at most `limit` s) for 5 s in a row of other processes under `threshold` cores;
    returns the last load seen."""
    if limit <= 0:
        return other_load(1.0)
    deadline = time.monotonic() + limit
    quiet, load, said = 0, 0.0, False
    while time.monotonic() < deadline:
        load = other_load(1.0)
        quiet = quiet + 1 if load < threshold else 0
        if quiet >= 5:
            return load
        if not said and load >= threshold:
            log(f"other processes use {load:.1f} cores; waiting up to {limit:.0f} s for a quiet machine")
            said = True
    log(f"the machine is not quiet (other processes use {load:.1f} cores); measuring anyway")
    return load


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Server:
    def __init__(self, argv: list[str], env: dict[str, str], tmp: str, health: str):
        self.port_url = None
        self.tmp = tmp
        self.log_path = os.path.join(tmp, "server.log")
        with open(self.log_path, "wb") as out:
            # A session of its own: its process group holds it and every worker it forks.
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True, cwd=tmp)
        self.health = health

    def wait(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}: {self.tail()}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", self.health)
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"server did not answer within {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-8:])[-1500:]

    def cpu(self) -> float:
        return tree_cpu(self.proc.pid)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Http:
    """One keep-alive connection."""

    def __init__(self, port: int, timeout: float = 1800):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, method: str, path: str, body: bytes | None = None, want: tuple[int, ...] = (200, 201),
             accept_gzip: bool = False) -> bytes:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if accept_gzip:
            headers["Accept-Encoding"] = "gzip"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closed the idle keep-alive connection (uvicorn does after 5 s); the
            # request never reached it, so sending it again is safe.
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
        data = r.read()
        if r.status not in want:
            raise SystemExit(f"{method} {path[:120]} answered {r.status}: {data[:500]!r}")
        return data

    def json(self, method: str, path: str, body: dict | None = None) -> dict:
        raw = None if body is None else json.dumps(body).encode()
        return json.loads(self.call(method, path, raw))


def timed(server: Server, http: Http, path: str, reps: int, accept_gzip: bool = False) -> dict:
    """One warm-up request, then `reps` timed ones: wall and server CPU seconds, bytes (as
    sent: compressed when `accept_gzip` and the server compresses). `body` is decompressed."""
    body = http.call("GET", path, accept_gzip=accept_gzip)
    walls, cpus = [], []
    for _ in range(reps):
        c0, t0 = server.cpu(), time.perf_counter()
        body = http.call("GET", path, accept_gzip=accept_gzip)
        t1 = time.perf_counter()
        walls.append(t1 - t0)
        cpus.append(server.cpu() - c0)
    sent = len(body)
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return {"path": path, "wall_median": statistics.median(walls), "wall_min": min(walls),
            "cpu_median": statistics.median(cpus), "walls": walls, "cpus": cpus,
            "bytes": sent, "plain_bytes": len(body), "gzip": sent != len(body), "body": body,
            "loadavg": loadavg()}


# ---------------------------------------------------------------------------------------------
# ETS


def bench_ets(args: argparse.Namespace, tmp: str) -> dict:
    port = free_port()
    data = os.path.join(tmp, "ets-data")
    os.makedirs(data)
    # ETS reads every ETS_* variable as configuration and refuses unknown ones.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETS_")}
    env.update(ETS_AUTH__ENABLED="false", ETS_AUTH__RATE_LIMIT__REQUESTS_PER_SECOND="0")
    server = Server([args.ets_bin, "serve", "--host", "127.0.0.1", "--port", str(port),
                     "--metrics-port", "0", "--data-dir", data], env, tmp, "/health")
    try:
        server.wait(port, 60)
        http = Http(port)
        exp = http.json("POST", "/api/v1/experiments",
                        {"project_id": DEFAULT_PROJECT, "name": f"charts-bench-{os.getpid()}"})["id"]
        log(f"ETS: loading {args.runs} runs x {args.points:,} points")
        ts = 1_700_000_000_000
        run_ids, spikes = [], []
        c0, t0 = server.cpu(), time.perf_counter()
        for i in range(args.runs):
            run = http.json("POST", "/api/v1/runs", {"experiment_id": exp, "name": f"run-{i:03d}"})
            run_ids.append(run["id"])
            steps, values, sp = run_series(i, args.points)
            spikes.append([(s, values[s]) for s in sp])
            for lo in range(0, args.points, args.chunk):
                body = {"series": [{"key": KEY, "steps": steps[lo : lo + args.chunk],
                                    "values": values[lo : lo + args.chunk], "timestamp": ts + i}]}
                http.call("POST", f"/api/v1/runs/{run['id']}/bulk-metrics", json.dumps(body).encode())
        load_s, load_cpu = time.perf_counter() - t0, server.cpu() - c0
        log(f"ETS: loaded in {load_s:.1f} s ({args.runs * args.points / load_s:,.0f} points/s, "
            f"server {load_cpu:.1f} CPU-s, the rest is this client making the data)")
        chart = http.json("POST", "/api/v1/visualizations/charts",
                          {"name": KEY, "type": "line", "experiment_id": exp, "metrics": [KEY]})
        base = f"/api/v1/visualizations/charts/{chart['id']}"
        cases = [("png", "format=png", False), ("json", "format=json", False),
                 ("json, gzip", "format=json", True), ("svg", "format=svg", False),
                 ("pdf", "format=pdf", False), ("png, width=1800", "format=png&width=1800", False),
                 ("json, width=1800", "format=json&width=1800", False),
                 ("png, dpi=192", "format=png&dpi=192", False)]
        results = {}
        quiet = wait_quiet(args.quiet_wait)
        log(f"ETS: timing ({args.reps} reps after a warm-up; other load {quiet:.2f} cores, loadavg {loadavg()})")
        for label, query, accept_gzip in cases:
            r = timed(server, http, f"{base}?{query}", args.reps, accept_gzip)
            log(f"  {label:18} median {r['wall_median'] * 1e3:8.1f} ms  min {r['wall_min'] * 1e3:8.1f} ms  "
                f"server CPU {r['cpu_median'] * 1e3:7.0f} ms  {r['bytes']:,} bytes  (loadavg {r['loadavg']})")
            results[label] = r
        checks = {}
        for label, width in (("json", 900), ("json, width=1800", 1800)):
            checks[label] = check_plotly(results[label]["body"], width, args, spikes)
            log(f"  {label}: {checks[label]}")
        if args.save_png:
            with open(os.path.join(args.save_png, "ets.png"), "wb") as f:
                f.write(results["png"]["body"])
        for r in results.values():
            r.pop("body")
        db_bytes = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)
                       if f.startswith("ets.db"))
        return {"load_s": load_s, "load_server_cpu": load_cpu, "results": results, "checks": checks,
                "db_bytes": db_bytes, "other_load": quiet}
    finally:
        server.stop()


def numbers(values) -> list:
    """A Plotly data array as a list: a JSON list, or a typed array (`{"dtype", "bdata"}`:
    little-endian, base64), which ETS sends for long columns."""
    import array
    import base64

    if isinstance(values, list):
        return values
    codes = {"i4": "i", "f4": "f", "f8": "d"}
    out = array.array(codes[values["dtype"]])
    out.frombytes(base64.b64decode(values["bdata"]))
    return [float(v) for v in out]


def check_plotly(body: bytes, width: int, args: argparse.Namespace, spikes: list) -> dict:
    """Points per trace against 4 x the plot area's pixel columns, and the spikes kept."""
    fig = json.loads(body)
    traces = [t for t in fig["data"] if t.get("type") in ("scatter", "scattergl")]
    for t in traces:
        t["x"], t["y"] = numbers(t["x"]), numbers(t["y"])
    counts = [len(t["x"]) for t in traces]
    plot_px = width - LEGEND_LAYOUT_PX
    by_name = {}
    for t in traces:
        by_name[t["name"]] = t
    kept = missing = 0
    for i, run_spikes in enumerate(spikes):
        t = next((t for name, t in by_name.items() if f"run-{i:03d}" in name), None)
        if t is None:
            raise SystemExit(f"no trace for run-{i:03d} among {list(by_name)[:5]}…")
        points = dict(zip(t["x"], t["y"]))
        for step, value in run_spikes:
            y = points.get(step)
            if y is not None and abs(y - value) <= 1e-9 * max(1.0, abs(value)):
                kept += 1
            else:
                missing += 1
    if len(traces) != args.runs:
        raise SystemExit(f"the JSON has {len(traces)} line traces, expected {args.runs}")
    if max(counts) > 4 * plot_px:
        raise SystemExit(f"a trace has {max(counts)} points, more than 4 x {plot_px} plot pixels")
    return {"traces": len(traces), "points_min": min(counts), "points_max": max(counts),
            "points_total": sum(counts), "plot_px": plot_px, "bound": 4 * plot_px,
            "trace_types": sorted({t["type"] for t in traces}),
            "spikes_kept": kept, "spikes_missing": missing}


# ---------------------------------------------------------------------------------------------
# MLflow


def ensure_mlflow_venv(python: str) -> str:
    """tests/mlflow_client/.venv-server as run.sh's ensure_venv makes it (same stamp)."""
    stamp = os.path.join(MLFLOW_VENV, ".requirements.sha256")
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True,
                             text=True, check=True).stdout
    with open(MLFLOW_REQ, "rb") as f:
        req_hash = hashlib.sha256(f.read()).hexdigest()
    want = hashlib.sha256(f"{req_hash}\n{version}".encode()).hexdigest()
    venv_python = os.path.join(MLFLOW_VENV, "bin", "python")
    try:
        with open(stamp) as f:
            if f.read().strip() == want and os.access(venv_python, os.X_OK):
                return venv_python
    except OSError:
        pass
    log("installing tests/mlflow_client/requirements-server.txt into its .venv-server (a few minutes)")
    if not os.access(venv_python, os.X_OK):
        subprocess.run([python, "-m", "venv", MLFLOW_VENV], check=True)
    subprocess.run([venv_python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                    "-r", MLFLOW_REQ], check=True)
    with open(stamp, "w") as f:
        f.write(want + "\n")
    return venv_python


def mlflow_ingest(port: int, run_ids: list[str], points: int, total: int, clients: int) -> None:
    """The first `points` of each run's `total` through runs/log-batch, 1000 points a request
    (MLflow's limit), `clients` threads."""
    ts = 1_700_000_000_000
    jobs = [(i, lo) for i in range(len(run_ids)) for lo in range(0, points, 1000)]
    jobs_lock = threading.Lock()
    series_cache: dict[int, list[float]] = {}
    errors = []

    def values_of(i: int) -> list[float]:
        with jobs_lock:
            if i not in series_cache:
                if len(series_cache) > 4 * clients:
                    series_cache.clear()
                series_cache[i] = run_series(i, total)[1]
            return series_cache[i]

    def work() -> None:
        http = Http(port)
        while True:
            with jobs_lock:
                if not jobs or errors:
                    return
                i, lo = jobs.pop(0)
            values = values_of(i)
            metrics = [{"key": KEY, "value": values[s], "timestamp": ts + i, "step": s}
                       for s in range(lo, min(points, lo + 1000))]
            try:
                http.call("POST", "/api/2.0/mlflow/runs/log-batch",
                          json.dumps({"run_id": run_ids[i], "metrics": metrics}).encode())
            except BaseException as e:  # noqa: BLE001 - reported by the caller
                errors.append(e)
                return

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"MLflow ingest failed: {errors[0]}")


def mlflow_sql_load(db: str, run_ids: list[str], first: int, points: int) -> None:
    """Points `first`..`points` of every run written straight into the `metrics` table (the rows
    runs/log-batch writes: key, value, timestamp, step, is_nan, run_uuid) and `latest_metrics`
    moved to the last one. MLflow ingests ~4k points/s; 10 M points through its API would take
    ~45 min, and its sampled read depends on how many rows a run has, not on how they came."""
    import sqlite3

    ts = 1_700_000_000_000
    db_conn = sqlite3.connect(db, timeout=60)
    db_conn.execute("PRAGMA synchronous = OFF")  # this connection only; not kept in the file
    for i, run_id in enumerate(run_ids):
        steps, values, _ = run_series(i, points)
        with db_conn:
            db_conn.executemany(
                "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, 0, ?)",
                ((KEY, values[s], ts + i, s, run_id) for s in range(first, points)))
            db_conn.execute("UPDATE latest_metrics SET value = ?, timestamp = ?, step = ? WHERE run_uuid = ? AND key = ?",
                            (values[-1], ts + i, points - 1, run_id, KEY))
    db_conn.close()


def bench_mlflow(args: argparse.Namespace, tmp: str) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = args.mlflow_points
    port = free_port()
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    mlflow_bin = os.path.join(MLFLOW_VENV, "bin", "mlflow")
    server = Server([mlflow_bin, "server", "--host", "127.0.0.1", "--port", str(port),
                     "--backend-store-uri", f"sqlite:///{tmp}/mlflow.db",
                     "--artifacts-destination", os.path.join(tmp, "mlflow-art"), "--workers", "1"],
                    env, tmp, "/api/2.0/mlflow/experiments/search?max_results=1")
    try:
        server.wait(port, 180)
        http = Http(port)
        exp = http.json("POST", "/api/2.0/mlflow/experiments/create",
                        {"name": f"charts-bench-{os.getpid()}"})["experiment_id"]
        run_ids = []
        for i in range(args.runs):
            run = http.json("POST", "/api/2.0/mlflow/runs/create",
                            {"experiment_id": exp, "run_name": f"run-{i:03d}", "start_time": 1_700_000_000_000 + i})
            run_ids.append(run["run"]["info"]["run_id"])
        rest_points = points if args.mlflow_load == "rest" else min(points, 1000)
        log(f"MLflow: loading {args.runs} runs x {rest_points:,} points through runs/log-batch "
            f"({args.mlflow_clients} clients)")
        c0, t0 = server.cpu(), time.perf_counter()
        mlflow_ingest(port, run_ids, rest_points, points, args.mlflow_clients)
        load_s, load_cpu = time.perf_counter() - t0, server.cpu() - c0
        log(f"MLflow: loaded in {load_s:.1f} s ({args.runs * rest_points / load_s:,.0f} points/s, "
            f"server {load_cpu:.1f} CPU-s)")
        sql_s = 0.0
        if rest_points < points:
            t0 = time.perf_counter()
            mlflow_sql_load(os.path.join(tmp, "mlflow.db"), run_ids, rest_points, points)
            sql_s = time.perf_counter() - t0
            log(f"MLflow: points {rest_points:,}–{points - 1:,} of every run written into its SQLite "
                f"database directly in {sql_s:.0f} s")
            # The history of run 0 through the REST API: every point is there.
            got = json.loads(http.call("GET", "/api/2.0/mlflow/metrics/get-history?" + urllib.parse.urlencode(
                {"run_id": run_ids[0], "metric_key": KEY, "max_results": 25000})))
            if len(got.get("metrics", [])) != min(points, 25000):
                raise SystemExit("MLflow does not see the rows written into its database")

        spikes = [run_series(i, points)[2] for i in range(args.runs)]
        query = urllib.parse.urlencode([("run_ids", r) for r in run_ids]
                                       + [("metric_key", KEY), ("max_results", str(args.mlflow_max_results))])
        path = f"/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?{query}"

        def fetch() -> dict[str, list]:
            body = http.call("GET", path)
            by_run: dict[str, list] = {}
            for m in json.loads(body).get("metrics", []):
                by_run.setdefault(m["run_id"], []).append((m["step"], m["value"]))
            return by_run, len(body)

        def draw(by_run: dict[str, list]) -> bytes:
            fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
            for i, run_id in enumerate(run_ids):
                pts = sorted(by_run.get(run_id, []))
                ax.plot([p[0] for p in pts], [p[1] for p in pts], linewidth=1, label=f"run-{i:03d}")
            ax.set_title(KEY)
            ax.set_xlabel("step")
            ax.set_ylabel(KEY)
            out = io.BytesIO()
            fig.savefig(out, format="png", dpi=100)
            plt.close(fig)
            return out.getvalue()

        quiet = wait_quiet(args.quiet_wait)
        log(f"MLflow: timing ({args.reps} reps after a warm-up; other load {quiet:.2f} cores, loadavg {loadavg()})")
        draw(fetch()[0])  # warm-up (and matplotlib's font cache)
        fetches, fetch_cpu, draws, totals = [], [], [], []
        for _ in range(args.reps):
            c0, t0 = server.cpu(), time.perf_counter()
            by_run, nbytes = fetch()
            t1 = time.perf_counter()
            fetch_cpu.append(server.cpu() - c0)
            png = draw(by_run)
            t2 = time.perf_counter()
            fetches.append(t1 - t0)
            draws.append(t2 - t1)
            totals.append(t2 - t0)
        counts = [len(by_run.get(r, [])) for r in run_ids]
        kept = sum(1 for i, r in enumerate(run_ids) for s in spikes[i]
                   if s in {p[0] for p in by_run.get(r, [])})
        result = {
            "points_per_run": points, "load": args.mlflow_load, "rest_points": rest_points,
            "load_s": load_s, "load_server_cpu": load_cpu, "sql_load_s": sql_s,
            "fetch_median": statistics.median(fetches), "fetch_min": min(fetches),
            "fetch_cpu_median": statistics.median(fetch_cpu), "fetch_bytes": nbytes,
            "draw_median": statistics.median(draws), "draw_min": min(draws),
            "total_median": statistics.median(totals), "total_min": min(totals),
            "png_bytes": len(png), "points_min": min(counts), "points_max": max(counts),
            "spikes_kept": kept, "spikes_total": SPIKES * args.runs, "other_load": quiet,
            "loadavg": loadavg(), "max_results": args.mlflow_max_results,
        }
        log(f"  fetch median {result['fetch_median']:.3f} s (server {result['fetch_cpu_median']:.2f} CPU-s, "
            f"{nbytes:,} bytes, {min(counts)}–{max(counts)} points per run), draw median "
            f"{result['draw_median']:.3f} s, together {result['total_median']:.3f} s; "
            f"spikes kept {kept} of {SPIKES * args.runs}")
        if args.save_png:
            with open(os.path.join(args.save_png, "mlflow-matplotlib.png"), "wb") as f:
                f.write(png)
        return result
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------


def render(args: argparse.Namespace, ets: dict | None, mlf: dict | None) -> str:
    out = []
    if ets:
        out.append(f"ETS: {args.runs} runs x {args.points:,} points, loaded in {ets['load_s']:.1f} s; "
                   f"other load at the start {ets['other_load']:.2f} cores")
        out.append("")
        out.append("| request | wall median (ms) | wall min (ms) | server CPU median (ms) | bytes sent | loadavg |")
        out.append("|---|---:|---:|---:|---:|---|")
        for label, r in ets["results"].items():
            sent = f"{r['bytes']:,}" + (f" (gzip; {r['plain_bytes']:,} plain)" if r["gzip"] else "")
            out.append(f"| {label} | {r['wall_median'] * 1e3:,.0f} | {r['wall_min'] * 1e3:,.0f} | "
                       f"{r['cpu_median'] * 1e3:,.0f} | {sent} | {r['loadavg']} |")
        for label, c in ets["checks"].items():
            out.append(f"\n{label}: {c['traces']} traces ({', '.join(c['trace_types'])}), {c['points_min']:,}–"
                       f"{c['points_max']:,} points per trace (bound 4 x {c['plot_px']} px = {c['bound']:,}), "
                       f"{c['points_total']:,} in all; spikes kept {c['spikes_kept']} of "
                       f"{c['spikes_kept'] + c['spikes_missing']}")
    if mlf:
        out.append("")
        how = (f"{mlf['rest_points']:,} a run through runs/log-batch in {mlf['load_s']:.0f} s"
               + (f", the rest by SQL in {mlf['sql_load_s']:.0f} s" if mlf["load"] == "sql" else ""))
        out.append(f"MLflow: {args.runs} runs x {mlf['points_per_run']:,} points ({how}), "
                   f"get-history-bulk-interval max_results={mlf['max_results']}")
        out.append("")
        out.append("| step | median (ms) | min (ms) |")
        out.append("|---|---:|---:|")
        out.append(f"| fetch ({mlf['fetch_bytes']:,} bytes, server CPU {mlf['fetch_cpu_median'] * 1e3:,.0f} ms) | "
                   f"{mlf['fetch_median'] * 1e3:,.0f} | {mlf['fetch_min'] * 1e3:,.0f} |")
        out.append(f"| matplotlib PNG ({mlf['png_bytes']:,} bytes) | {mlf['draw_median'] * 1e3:,.0f} | "
                   f"{mlf['draw_min'] * 1e3:,.0f} |")
        out.append(f"| together | {mlf['total_median'] * 1e3:,.0f} | {mlf['total_min'] * 1e3:,.0f} |")
        out.append(f"\n{mlf['points_min']}–{mlf['points_max']} points per run fetched; spikes kept "
                   f"{mlf['spikes_kept']} of {mlf['spikes_total']}")
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ets-bin", default=os.path.join(REPO, "target", "release", "ets"))
    p.add_argument("--servers", default="ets,mlflow", help="ets, mlflow or both (default)")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--points", type=int, default=100_000, help="points per run in ETS")
    p.add_argument("--chunk", type=int, default=100_000, help="points per bulk-metrics request")
    p.add_argument("--mlflow-points", type=int, default=10_000,
                   help="points per run in MLflow (its ingest is ~4k points/s)")
    p.add_argument("--mlflow-load", choices=["rest", "sql"], default="rest",
                   help="rest: every point through runs/log-batch; sql: the first 1000 points of a run "
                        "through runs/log-batch, the rest written into MLflow's SQLite file directly")
    p.add_argument("--mlflow-clients", type=int, default=4)
    p.add_argument("--mlflow-max-results", type=int, default=320, help="what MLflow's UI asks for")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--quiet-wait", type=float, default=120, help="seconds to wait for a quiet machine")
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--save-png", help="a folder for the PNGs drawn (ets.png, mlflow-matplotlib.png)")
    args = p.parse_args()
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if "mlflow" in servers:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            venv_python = ensure_mlflow_venv(sys.executable)
            log("re-running under tests/mlflow_client/.venv-server (matplotlib)")
            os.execv(venv_python, [venv_python, os.path.abspath(__file__), *sys.argv[1:]])
    tmp = tempfile.mkdtemp(prefix="ets-charts-bench.")
    meta = {"loadavg_start": loadavg(), "nproc": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        ets = bench_ets(args, tmp) if "ets" in servers else None
        mlf = bench_mlflow(args, tmp) if "mlflow" in servers else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(render(args, ets, mlf))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "args": vars(args), "ets": ets, "mlflow": mlf}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
