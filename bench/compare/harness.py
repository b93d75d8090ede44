#!/usr/bin/env python3
"""Side-by-side benchmark of MLflow-API tracking servers: ETS, MLflow and FastTrackML.

Start it through bench/compare/run.sh, which prepares the venv and the ets binary.

Each server is started on its own (never two at once, so they do not share the two cores), on a
fresh temporary directory and a free loopback port, and driven by the same client code: plain
`requests.Session`s with keep-alive sending the JSON bodies the `mlflow` Python client sends
(one session per client thread). A background thread samples the server's process tree in /proc
every 100 ms for its memory. Then the server is stopped (its whole process group) and its database
file measured. One markdown table with every figure and the ETS ratios goes to stdout, the same
results as JSON to `--json`; progress goes to stderr.

After a short warm-up (every kind of call a few times from 8 clients, not timed), the workloads
(each in its own experiment, except that workload 4 searches the runs workload 5 made):
  1. metric ingest through runs/log-batch, 1000 points a request (10 keys x 100 steps);
  2. single-point runs/log-metric calls;
  3. metrics/get-history of a long and a short series, following next_page_token;
  4. runs/search with a metric and param filter and an order_by, through all pages;
  5. run creation: runs/create, then one runs/log-batch with 3 params, 2 tags and the `acc`
     metric workload 4 filters on.
Every workload checks its answers (point and run counts, order) so that no server wins by
returning less; a server that fails one gets "failed: reason" in its cells and the run goes on.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
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
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

API = "/api/2.0/mlflow"
KEYS_PER_BATCH = 10
STEPS_PER_BATCH = 100
BATCH_POINTS = KEYS_PER_BATCH * STEPS_PER_BATCH  # 1000, MLflow's log-batch limit
SEARCH_FILTER = "metrics.acc > 0.5 and params.opt = 'adam'"
SEARCH_ORDER = ["metrics.acc DESC"]
SEARCH_PAGE = 1000
REQUEST_TIMEOUT = 900  # seconds; MLflow reads a 200k-point history in ~12 s
SERVER_NAMES = ["ets", "mlflow", "fasttrackml"]
LABELS = {"ets": "ETS", "mlflow": "MLflow", "fasttrackml": "FastTrackML"}
# ETS caps runs per experiment (limits.max_runs_per_experiment, default 1000); workload 4 needs
# more in one experiment, MLflow and FastTrackML have no such cap.
ETS_ENV = {"ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT": "1000000"}

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


class Failed(Exception):
    """A workload failed; the message goes into the table cell. `partial` holds the figures the
    workload measured before it failed."""

    def __init__(self, message: str, partial: dict[str, float] | None = None):
        super().__init__(message)
        self.partial = partial or {}


# ---------------------------------------------------------------------------------------------
# The MLflow REST client (what `mlflow`'s RestStore sends, without the mlflow package)


def now_ms() -> int:
    return int(time.time() * 1000)


class Client:
    """One client: its own keep-alive `requests` session (what the MLflow client uses)."""

    def __init__(self, base: str):
        self.base = base + API
        self.session = requests.Session()
        # No proxy/netrc look-up in the environment on every request (loopback only): it costs
        # ~0.5 ms of client CPU per call and sends nothing different.
        self.session.trust_env = False
        self.session.headers["User-Agent"] = "ets-bench-compare"

    def _check(self, path: str, r: requests.Response) -> None:
        if r.status_code != 200:
            text = r.text.strip().replace("\n", " ")
            raise Failed(f"{path}: HTTP {r.status_code} {text[:160]}")

    def post(self, path: str, body: dict) -> dict:
        r = self.session.post(self.base + path, json=body, timeout=REQUEST_TIMEOUT)
        self._check(path, r)
        return r.json()

    def post_raw(self, path: str, data: bytes) -> None:
        """POST a pre-encoded JSON body (same bytes `json=` would send); the answer is not parsed."""
        r = self.session.post(
            self.base + path,
            data=data,
            headers={"Content-Type": "application/json"},
            timeout=REQUEST_TIMEOUT,
        )
        self._check(path, r)

    def get(self, path: str, params: dict) -> dict:
        r = self.session.get(self.base + path, params=params, timeout=REQUEST_TIMEOUT)
        self._check(path, r)
        return r.json()

    # MLflow calls, bodies as mlflow.store.tracking.rest_store builds them

    def create_experiment(self, name: str) -> str:
        return str(self.post("/experiments/create", {"name": name})["experiment_id"])

    def create_run(self, experiment_id: str, run_name: str | None = None) -> str:
        body: dict[str, Any] = {"experiment_id": experiment_id, "user_id": "bench"}
        if run_name is not None:
            body["run_name"] = run_name
        body["start_time"] = now_ms()
        run = self.post("/runs/create", body)["run"]
        return run["info"]["run_id"]

    def log_batch(self, run_id: str, metrics=(), params=(), tags=()) -> None:
        body: dict[str, Any] = {"run_id": run_id}
        if metrics:
            body["metrics"] = list(metrics)
        if params:
            body["params"] = list(params)
        if tags:
            body["tags"] = list(tags)
        self.post("/runs/log-batch", body)

    def log_metric(self, run_id: str, key: str, value: float, step: int) -> None:
        body = {
            "run_uuid": run_id,
            "key": key,
            "value": value,
            "timestamp": now_ms(),
            "step": step,
            "run_id": run_id,
        }
        self.post("/runs/log-metric", body)

    def history(self, run_id: str, key: str) -> tuple[list[dict], int]:
        """Every point of a series, following next_page_token; returns (points, pages)."""
        points: list[dict] = []
        token = None
        pages = 0
        while True:
            params = {"run_uuid": run_id, "metric_key": key, "run_id": run_id}
            if token:
                params["page_token"] = token
            answer = self.get("/metrics/get-history", params)
            pages += 1
            points.extend(answer.get("metrics", []))
            token = answer.get("next_page_token")
            if not token:
                return points, pages
            if pages > 100_000:
                raise Failed("get-history: more than 100000 pages")

    def search_runs(self, experiment_id: str) -> tuple[list[dict], int]:
        """Every run matching the workload-4 filter, following next_page_token."""
        runs: list[dict] = []
        token = None
        pages = 0
        while True:
            body: dict[str, Any] = {
                "experiment_ids": [experiment_id],
                "run_view_type": "ACTIVE_ONLY",
                "filter": SEARCH_FILTER,
                "max_results": SEARCH_PAGE,
                "order_by": SEARCH_ORDER,
            }
            if token:
                body["page_token"] = token
            answer = self.post("/runs/search", body)
            pages += 1
            runs.extend(answer.get("runs", []))
            token = answer.get("next_page_token")
            if not token:
                return runs, pages
            if pages > 10_000:
                raise Failed("runs/search: more than 10000 pages")


class LeanClient(Client):
    """One client on a raw `http.client` keep-alive connection (`--lean`): the same requests at a
    fraction of `requests`' client CPU (~0.05 ms a call instead of ~0.3–0.5 ms), so that on two
    cores the wall clock shows more of the server's limits and less of the client's."""

    def __init__(self, base: str):
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.prefix = API
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        self.headers = {"Content-Type": "application/json", "User-Agent": "ets-bench-compare-lean"}

    def _send(self, method: str, path: str, body: bytes | None) -> bytes:
        for attempt in (0, 1):
            try:
                self.conn.request(method, self.prefix + path, body=body, headers=self.headers)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: one retry on a new one.
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
                if attempt:
                    raise
        if r.status != 200:
            text = data.decode("utf-8", "replace").strip().replace("\n", " ")
            raise Failed(f"{path}: HTTP {r.status} {text[:160]}")
        return data

    def post(self, path: str, body: dict) -> dict:
        return json.loads(self._send("POST", path, json.dumps(body).encode()))

    def post_raw(self, path: str, data: bytes) -> None:
        self._send("POST", path, data)

    def get(self, path: str, params: dict) -> dict:
        return json.loads(self._send("GET", path + "?" + urllib.parse.urlencode(params), None))


def batch_body(run_id: str, batch_index: int, ts: int) -> bytes:
    """One log-batch request: 10 keys x 100 consecutive steps, as the mlflow client encodes it."""
    metrics = []
    first = batch_index * STEPS_PER_BATCH
    for s in range(STEPS_PER_BATCH):
        step = first + s
        for k in range(KEYS_PER_BATCH):
            metrics.append(
                {
                    "key": f"m{k}",
                    "value": math.sin(step * 0.001 + k),
                    "timestamp": ts + step,
                    "step": step,
                }
            )
    return json.dumps({"run_id": run_id, "metrics": metrics}).encode()


def series_body(run_id: str, key: str, first_step: int, count: int, ts: int) -> dict:
    return {
        "run_id": run_id,
        "metrics": [
            {"key": key, "value": 1.0 / (1 + step), "timestamp": ts + step, "step": step}
            for step in range(first_step, first_step + count)
        ],
    }


def split(total: int, parts: int) -> list[int]:
    """`total` items over `parts` clients as evenly as possible."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_clients(n: int, work: Callable[[int], Any]) -> tuple[float, list[Any]]:
    """Runs work(i) in n threads released together; returns (wall seconds, results)."""
    barrier = threading.Barrier(n + 1)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []
    ends = [0.0] * n

    def body(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as e:  # noqa: BLE001 - reported as the workload's failure
            errors.append(e)
        finally:
            ends[i] = time.perf_counter()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        e = errors[0]
        raise e if isinstance(e, Failed) else Failed(f"{type(e).__name__}: {e}")
    return max(ends) - start, results


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


# ---------------------------------------------------------------------------------------------
# Servers and their process trees


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, pgid, utime+stime ticks) for every process."""
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
        # rest[0] is the state; then ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt,
        # majflt, cmajflt, utime, stime
        table[int(entry)] = (int(rest[1]), int(rest[2]), int(rest[11]) + int(rest[12]))
    return table


def tree_pids(leader: int, table: dict[int, tuple[int, int, int]]) -> list[int]:
    """The leader, its descendants and every member of its process group."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found = {pid for pid, (_, pgid, _) in table.items() if pgid == leader}
    if leader in table:
        found.add(leader)
    stack = list(found)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return sorted(p for p in found if p in table)


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    # Not the children's times: the servers are children, counted separately.
    t = os.times()
    return t.user + t.system


def postgres_seconds() -> float:
    """CPU seconds used so far by the running PostgreSQL processes (the server's backends of a
    --pg-url run; connections that closed meanwhile are not counted)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2 :].split()
        total += int(rest[11]) + int(rest[12])
    return total / os.sysconf("SC_CLK_TCK")


def other_load(interval: float) -> float:
    """Cores used by processes other than this harness over `interval` seconds (no server runs)."""
    b0, o0 = busy_seconds(), own_seconds()
    time.sleep(interval)
    return max(0.0, (busy_seconds() - b0) - (own_seconds() - o0)) / interval


def wait_quiet(limit: float, threshold: float = 0.3) -> str | None:
    """Waits (at most `limit` s) until other processes use under `threshold` cores for 5 s in a
    row, so that a build or test run elsewhere on the machine does not skew the figures."""
    if limit <= 0:
        return None
    deadline = time.monotonic() + limit
    quiet = 0
    load = 0.0
    said = False
    while time.monotonic() < deadline:
        load = other_load(1.0)
        quiet = quiet + 1 if load < threshold else 0
        if quiet >= 5:
            return None
        if not said and load >= threshold:
            log(f"other processes use {load:.1f} cores; waiting up to {limit:.0f} s for a quiet machine")
            said = True
    return f"the machine was not quiet at the start (other processes used {load:.1f} cores)"


def read_kb(path: str, field_name: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field_name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler(threading.Thread):
    """Samples RSS and PSS summed over the server's process tree every `interval` seconds."""

    def __init__(self, leader: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.leader = leader
        self.interval = interval
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.peak_processes = 0
        self.phase_peak_rss_kb = 0  # since the last reset_phase()
        self.samples = 0
        self.cpu_ticks: dict[int, int] = {}

    def sample(self) -> tuple[int, int]:
        table = proc_table()
        pids = tree_pids(self.leader, table)
        rss = sum(read_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)
        pss = sum(read_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
        with self.lock:
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.phase_peak_rss_kb = max(self.phase_peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.peak_processes = max(self.peak_processes, len(pids))
            self.samples += 1
            for p in pids:
                self.cpu_ticks[p] = table[p][2]
        return rss, pss

    def reset_phase(self) -> None:
        with self.lock:
            self.phase_peak_rss_kb = 0

    def cpu_seconds(self) -> float:
        """CPU time used so far by every process of the tree seen (exited ones: last sample)."""
        table = proc_table()
        with self.lock:
            for p in tree_pids(self.leader, table):
                self.cpu_ticks[p] = table[p][2]
            return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    tmp: str
    db_files: list[str]
    url: str
    health: list[str]
    proc: subprocess.Popen | None = None
    sampler: MemorySampler | None = None
    log_path: str = ""
    startup_s: float = float("nan")
    idle_rss_kb: int = 0
    notes: list[str] = field(default_factory=list)
    # With --pg-url: the server's own PostgreSQL database (admin URL, database name).
    pg: tuple[str, str] | None = None

    def start(self, timeout: float) -> None:
        self.log_path = os.path.join(self.tmp, "server.log")
        log_file = open(self.log_path, "wb")
        started = time.perf_counter()
        # A session of its own (setsid): its process group holds it and every worker it forks.
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.tmp,
        )
        log_file.close()
        self.sampler = MemorySampler(self.proc.pid)
        self.sampler.start()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise Failed(f"exited with code {self.proc.returncode} before answering: {self.log_tail()}")
            if self.answers():
                break
            if time.monotonic() > deadline:
                raise Failed(f"did not answer within {timeout:.0f} s: {self.log_tail()}")
            time.sleep(0.05)
        self.startup_s = time.perf_counter() - started
        # Let forked workers settle before the idle figure.
        time.sleep(1.0)
        self.idle_rss_kb, _ = self.sampler.sample()

    def answers(self) -> bool:
        session = requests.Session()
        session.trust_env = False
        for path in self.health:
            try:
                r = session.get(self.url + path, timeout=2)
                if r.status_code != 200:
                    return False
            except requests.RequestException:
                return False
        return True

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 6) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                tail = f.read().strip().splitlines()[-lines:]
            return " | ".join(t.strip() for t in tail)[-600:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.sampler is not None:
            self.sampler.stop_event.set()
            self.sampler.join()
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.proc.poll()
            if not any(pgid == t[1] for t in proc_table().values()):
                break
            time.sleep(0.1)
        else:
            self.notes.append("did not stop within 20 s of SIGTERM; killed")
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def db_bytes(self) -> int:
        if self.pg:
            return int(psql(self.pg[0], f"SELECT pg_database_size('{self.pg[1]}')") or 0)
        total = 0
        for path in self.db_files:
            for suffix in ("", "-wal"):
                try:
                    total += os.path.getsize(path + suffix)
                except OSError:
                    pass
        return total


def psql(admin_url: str, sql: str) -> str:
    """Runs one statement with the `psql` client against the admin database; returns its output."""
    out = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", admin_url, "-c", sql],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def database_url(admin_url: str, database: str, scheme: str) -> str:
    """`admin_url` (postgres://user@host:port/db?…) pointing at `database`, with `scheme`."""
    parts = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit((scheme, parts.netloc, "/" + database, parts.query, ""))


def make_server(name: str, args: argparse.Namespace, tmp: str) -> Server:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    # ETS takes every ETS_* variable as configuration and refuses unknown ones.
    env.pop("ETS_BIN", None)
    pg = None
    if args.pg_url:
        # A fresh database per server on the shared PostgreSQL server.
        pg = (args.pg_url, f"bench_{name}_{os.getpid()}_{int(time.time())}")
        psql(args.pg_url, f"CREATE DATABASE {pg[1]}")
    if name == "ets":
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        for key, value in ETS_ENV.items():
            env.setdefault(key, value)  # an ETS_* set by the caller wins
        argv = [args.ets_bin, "serve", "--host", "127.0.0.1", "--port", str(port),
                "--metrics-port", "0", "--data-dir", data]
        if pg:
            argv += ["--database-url", database_url(pg[0], pg[1], "postgres")]
        return Server(name, argv, env, tmp, [os.path.join(data, "ets.db")], url, ["/health"], pg=pg)
    if name == "mlflow":
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        db = os.path.join(tmp, "mlflow.db")
        # psycopg2 explicitly: SQLAlchemy's default PostgreSQL driver is psycopg 3 now.
        store = database_url(pg[0], pg[1], "postgresql+psycopg2") if pg else f"sqlite:///{db}"
        argv = [args.mlflow_bin, "server", "--host", "127.0.0.1", "--port", str(port),
                "--backend-store-uri", store,
                "--artifacts-destination", os.path.join(tmp, "art")]
        return Server(name, argv, env, tmp, [db], url,
                      ["/health", f"{API}/experiments/search?max_results=1"], pg=pg)
    if name == "fasttrackml":
        db = os.path.join(tmp, "fml.db")
        store = database_url(pg[0], pg[1], "postgres") if pg else f"sqlite://{db}"
        argv = [args.fml_bin, "server", "--listen-address", f"127.0.0.1:{port}",
                "--database-uri", store,
                "--default-artifact-root", os.path.join(tmp, "art")]
        return Server(name, argv, env, tmp, [db], url,
                      ["/health", f"{API}/experiments/search?max_results=1"], pg=pg)
    raise ValueError(name)


# ---------------------------------------------------------------------------------------------
# Workloads. Each returns {metric id: value} and fills `details`.


@dataclass
class Ctx:
    server: Server
    args: argparse.Namespace
    details: dict[str, Any]
    search_experiment: str | None = None
    search_expected: list[str] | None = None  # run ids matching the filter, best acc first
    search_setup_error: str | None = None

    def client(self) -> Client:
        return (LeanClient if self.args.lean else Client)(self.server.url)


def warm_up(ctx: Ctx) -> float:
    """Every kind of call a few times from 8 clients (own experiment, not timed), so that lazy
    start-up work (MLflow's 4 workers each initialise on their first requests) is done before the
    figures; returns seconds."""
    c = ctx.client()
    exp = c.create_experiment("w0-warm-up")
    batches = 1 if ctx.args.quick else 3

    def work(i: int) -> None:
        client = ctx.client()
        run = client.create_run(exp, f"warm-up-{i}")
        ts = now_ms()
        for b in range(batches):
            client.post_raw("/runs/log-batch", batch_body(run, b, ts))
        for step in range(5):
            client.log_metric(run, "loss", 1.0, step)
        acc, params, tags = run_data(i)
        client.log_batch(run, metrics=[{"key": "acc", "value": acc, "timestamp": ts, "step": 0}],
                         params=params, tags=tags)
        client.history(run, "m0")
        client.search_runs(exp)

    wall, _ = run_clients(8, work)
    return wall


def w_ingest(ctx: Ctx, clients: int) -> dict[str, float]:
    c = ctx.client()
    exp = c.create_experiment(f"w1-ingest-{clients}c")
    total = ctx.args.ingest_points
    batches = split(max(1, math.ceil(total / BATCH_POINTS)), clients)
    runs = [c.create_run(exp, f"ingest-{clients}c-{i}") for i in range(clients)]
    ts = now_ms()
    bodies = [[batch_body(runs[i], b, ts) for b in range(batches[i])] for i in range(clients)]
    points = sum(batches) * BATCH_POINTS

    def work(i: int) -> list[tuple[float, float]]:
        client = ctx.client()
        timings = []
        for body in bodies[i]:
            t = time.perf_counter()
            client.post_raw("/runs/log-batch", body)
            timings.append((t, time.perf_counter() - t))
        return timings

    wall, results = run_clients(clients, work)
    timings = sorted(t for r in results for t in r)
    tenth = max(1, len(timings) // 10)
    first = statistics.fmean(d for _, d in timings[:tenth]) * 1000
    last = statistics.fmean(d for _, d in timings[-tenth:]) * 1000
    # Check: the busiest client's run holds every point of one key.
    expected = batches[0] * STEPS_PER_BATCH
    got, _ = c.history(runs[0], "m0")
    if len(got) != expected:
        raise Failed(f"history of m0 after ingest has {len(got)} points, expected {expected}")
    ctx.details[f"ingest_{clients}"] = {
        "points": points, "requests": len(timings), "seconds": wall,
        "first10_ms": first, "last10_ms": last,
    }
    return {
        f"ingest_{clients}_rate": points / wall,
        f"ingest_{clients}_first": first,
        f"ingest_{clients}_last": last,
    }


def w_log_metric(ctx: Ctx, clients: int) -> dict[str, float]:
    c = ctx.client()
    exp = c.create_experiment(f"w2-log-metric-{clients}c")
    calls = split(ctx.args.calls, clients)
    runs = [c.create_run(exp, f"log-metric-{clients}c-{i}") for i in range(clients)]

    def work(i: int) -> list[float]:
        client = ctx.client()
        lat = []
        for step in range(calls[i]):
            t = time.perf_counter()
            client.log_metric(runs[i], "loss", 1.0 / (1 + step), step)
            lat.append(time.perf_counter() - t)
        return lat

    wall, results = run_clients(clients, work)
    lat = sorted(x for r in results for x in r)
    got, _ = c.history(runs[0], "loss")
    if len(got) != calls[0]:
        raise Failed(f"history has {len(got)} points after {calls[0]} log-metric calls")
    ctx.details[f"log_metric_{clients}"] = {"calls": len(lat), "seconds": wall}
    return {
        f"logm_{clients}_rate": len(lat) / wall,
        f"logm_{clients}_p50": percentile(lat, 50) * 1000,
        f"logm_{clients}_p99": percentile(lat, 99) * 1000,
    }


def load_series(ctx: Ctx, run_id: str, key: str, points: int, threads: int = 4) -> float:
    """Writes steps 0..points-1 of one series through log-batch (not timed); returns seconds."""
    ts = now_ms()
    chunks = [(s, min(BATCH_POINTS, points - s)) for s in range(0, points, BATCH_POINTS)]
    threads = max(1, min(threads, len(chunks)))

    def work(i: int) -> None:
        client = ctx.client()
        for first, count in chunks[i::threads]:
            client.post("/runs/log-batch", series_body(run_id, key, first, count, ts))

    wall, _ = run_clients(threads, work)
    return wall


def w_history(ctx: Ctx) -> dict[str, float]:
    c = ctx.client()
    exp = c.create_experiment("w3-history")
    out = {}
    for label, points in (("big", ctx.args.history_points), ("small", ctx.args.history_small_points)):
        run = c.create_run(exp, f"history-{label}")
        load_s = load_series(ctx, run, "loss", points)
        log(f"  loaded {points:,} points in {load_s:.1f} s (not timed)")
        times = []
        pages = 0
        for _ in range(ctx.args.repeats):
            t = time.perf_counter()
            got, pages = c.history(run, "loss")
            times.append(time.perf_counter() - t)
            steps = {int(p["step"]) for p in got}
            if len(got) != points or len(steps) != points or min(steps) != 0 or max(steps) != points - 1:
                raise Failed(f"history returned {len(got)} points ({len(steps)} distinct steps), expected {points}")
        ctx.details[f"history_{label}"] = {
            "points": points, "pages": pages, "reads_s": times, "load_s": load_s,
        }
        out[f"history_{label}"] = statistics.median(times)
    return out


def run_data(i: int) -> tuple[float, list[dict], list[dict]]:
    """The params, tags and acc metric of run i of workloads 4/5 (deterministic)."""
    rng = random.Random(i)
    acc = rng.random()
    params = [
        {"key": "opt", "value": ["adam", "adam", "sgd", "rmsprop"][i % 4]},
        {"key": "lr", "value": str(round(0.0001 * (1 + i % 50), 6))},
        {"key": "batch_size", "value": str(2 ** (4 + i % 5))},
    ]
    tags = [
        {"key": "team", "value": ["vision", "nlp", "speech"][i % 3]},
        {"key": "purpose", "value": "benchmark"},
    ]
    return acc, params, tags


def w_create(ctx: Ctx) -> dict[str, float]:
    """Workload 5: creates the runs that workload 4 searches."""
    c = ctx.client()
    exp = c.create_experiment("w4-w5-runs")
    total = ctx.args.runs
    single = min(ctx.args.runs_single, total)
    clients = ctx.args.create_clients
    created: dict[int, str] = {}
    lock = threading.Lock()

    def make(client: Client, i: int) -> None:
        acc, params, tags = run_data(i)
        run = client.create_run(exp, f"run-{i}")
        client.log_batch(run, metrics=[{"key": "acc", "value": acc, "timestamp": now_ms(), "step": 0}],
                         params=params, tags=tags)
        with lock:
            created[i] = run

    out = {}
    try:
        if single:
            wall, _ = run_clients(1, lambda _: [make(ctx.client(), i) for i in range(single)])
            out["create_1_rate"] = single / wall
            ctx.details["create_1"] = {"runs": single, "seconds": wall}
        rest = list(range(single, total))
        if rest:
            shares = [rest[k::clients] for k in range(clients)]

            def work(k: int) -> None:
                client = ctx.client()
                for i in shares[k]:
                    make(client, i)

            wall, _ = run_clients(clients, work)
            out[f"create_{clients}_rate"] = len(rest) / wall
            ctx.details[f"create_{clients}"] = {"runs": len(rest), "seconds": wall}
    except Failed as e:
        ctx.search_setup_error = f"run creation failed ({e})"
        raise Failed(str(e), partial=out) from e
    ctx.search_experiment = exp
    matching = []
    for i, run in created.items():
        acc, params, _ = run_data(i)
        if acc > 0.5 and params[0]["value"] == "adam":
            matching.append((acc, run))
    matching.sort(reverse=True)
    ctx.search_expected = [run for _, run in matching]
    return out


def w_search(ctx: Ctx) -> dict[str, float]:
    if ctx.search_experiment is None:
        raise Failed(ctx.search_setup_error or "no runs to search (workload 5 did not run)")
    c = ctx.client()
    expected = ctx.search_expected or []
    times = []
    pages = 0
    for _ in range(ctx.args.repeats):
        t = time.perf_counter()
        runs, pages = c.search_runs(ctx.search_experiment)
        times.append(time.perf_counter() - t)
        ids = [r["info"]["run_id"] for r in runs]
        if len(ids) != len(expected) or set(ids) != set(expected):
            raise Failed(f"search returned {len(ids)} runs ({len(set(ids))} distinct), expected {len(expected)}")
        accs = []
        for r in runs:
            values = [m["value"] for m in r.get("data", {}).get("metrics", []) if m["key"] == "acc"]
            if not values:
                raise Failed("a run in the answer has no acc metric")
            accs.append(float(values[0]))
        if any(a < b for a, b in zip(accs, accs[1:])):
            raise Failed("runs are not in metrics.acc DESC order")
    ctx.details["search"] = {"runs": len(expected), "pages": pages, "reads_s": times,
                             "experiment_runs": ctx.args.runs}
    return {"search": statistics.median(times)}


# ---------------------------------------------------------------------------------------------
# Rows of the table


@dataclass
class Row:
    id: str
    label: str
    unit: str
    better: str  # "higher" or "lower"


def rows_for(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    for n in args.clients:
        rows += [
            Row(f"ingest_{n}_rate", f"1. log-batch ingest, {n} client{'s' if n > 1 else ''}", "points/s", "higher"),
            Row(f"ingest_{n}_first", "   mean batch latency, first 10 % of batches", "ms", "lower"),
            Row(f"ingest_{n}_last", "   mean batch latency, last 10 % of batches", "ms", "lower"),
        ]
    for n in args.clients:
        rows += [
            Row(f"logm_{n}_rate", f"2. log-metric, {n} client{'s' if n > 1 else ''}", "calls/s", "higher"),
            Row(f"logm_{n}_p50", "   latency p50", "ms", "lower"),
            Row(f"logm_{n}_p99", "   latency p99", "ms", "lower"),
        ]
    rows += [
        Row("history_big", f"3. get-history, {args.history_points:,}-point series (median of {args.repeats})", "s", "lower"),
        Row("history_small", f"3. get-history, {args.history_small_points:,}-point series (median of {args.repeats})", "s", "lower"),
        Row("search", f"4. runs/search over {args.runs:,} runs, all pages of {SEARCH_PAGE} (median of {args.repeats})", "s", "lower"),
    ]
    if args.runs_single:
        rows.append(Row("create_1_rate", f"5. run creation, 1 client ({min(args.runs_single, args.runs):,} runs)", "runs/s", "higher"))
    if args.runs > args.runs_single:
        rows.append(Row(f"create_{args.create_clients}_rate",
                        f"5. run creation, {args.create_clients} clients ({args.runs - min(args.runs_single, args.runs):,} runs)",
                        "runs/s", "higher"))
    rows += [
        Row("startup", "start-up until it answers", "s", "lower"),
        Row("rss_idle", "RSS after start-up, process tree", "MiB", "lower"),
        Row("rss_peak", "peak RSS, process tree", "MiB", "lower"),
        Row("pss_peak", "peak PSS, process tree (shared pages split)", "MiB", "lower"),
        Row("db_size", "database file at the end", "MiB", "lower"),
    ]
    return rows


def fmt(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit in ("points/s", "calls/s", "runs/s"):
        return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    if unit in ("ms", "s"):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        if value >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if unit == "MiB":
        return f"{value:,.1f}"
    return f"{value:g}"


def fmt_ratio(a: Any, b: Any) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return "–"
    r = a / b
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    if r >= 0.01:
        return f"{r:.2f}×"
    return f"{r:.2g}×"


# ---------------------------------------------------------------------------------------------
# Driver


def versions(args: argparse.Namespace, servers: list[str]) -> dict[str, str]:
    out = {}
    if "ets" in servers:
        try:
            v = subprocess.run([args.ets_bin, "--version"], capture_output=True, text=True, timeout=30,
                               env={k: v for k, v in os.environ.items() if not k.startswith("ETS_")}).stdout.strip()
        except OSError as e:
            v = f"unknown ({e})"
        try:
            rev = subprocess.run(["git", "-C", args.repo, "describe", "--always", "--dirty"],
                                 capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            rev = ""
        out["ets"] = f"{v} (git {rev})" if rev else v
    if "mlflow" in servers:
        try:
            from importlib.metadata import version
            out["mlflow"] = f"mlflow {version('mlflow')}"
        except Exception as e:  # noqa: BLE001
            out["mlflow"] = f"unknown ({e})"
    if "fasttrackml" in servers:
        try:
            out["fasttrackml"] = subprocess.run([args.fml_bin, "--version"], capture_output=True,
                                                text=True, timeout=30).stdout.strip()
        except OSError as e:
            out["fasttrackml"] = f"unknown ({e})"
    return out


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = read_kb("/proc/meminfo", "MemTotal:") / 1024 / 1024
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem_gib, 1),
            "python": sys.version.split()[0]}


def missing_binary(name: str, args: argparse.Namespace) -> str | None:
    path = {"ets": args.ets_bin, "mlflow": args.mlflow_bin, "fasttrackml": args.fml_bin}[name]
    if not path or not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return f"{name} binary not found: {path} (run bench/compare/run.sh without --servers ets to install it)"
    return None


def bench_server(name: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"values": {}, "errors": {}, "details": {}, "notes": [], "timings_s": {}}
    started = time.perf_counter()
    missing = missing_binary(name, args)
    if missing:
        result["skipped"] = missing
        log(f"{name}: skipped: {missing}")
        return result
    not_quiet = wait_quiet(args.wait_quiet)
    if not_quiet:
        result["notes"].append(not_quiet)
    busy0, own0, session_t0 = busy_seconds(), own_seconds(), time.perf_counter()
    pg0 = postgres_seconds() if args.pg_url else 0.0
    tmp = tempfile.mkdtemp(prefix=f"ets-compare-{name}-")
    server = make_server(name, args, tmp)
    result["command"] = " ".join(server.argv)
    log(f"{name}: starting: {result['command']}")
    try:
        server.start(args.start_timeout)
    except Failed as e:
        server.stop()
        result["skipped"] = f"could not start: {e}"
        log(f"{name}: {result['skipped']}")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        return result
    log(f"{name}: up on {server.url} after {server.startup_s:.1f} s")
    ctx = Ctx(server, args, result["details"])
    try:
        t = time.perf_counter()
        warm_up(ctx)
        result["timings_s"]["0. warm-up"] = round(time.perf_counter() - t, 2)
        log(f"{name}: warmed up in {result['timings_s']['0. warm-up']:.1f} s (not timed)")
    except (Failed, requests.RequestException) as e:
        result["notes"].append(f"warm-up failed: {e}")
        log(f"{name}: warm-up failed: {e}")
    steps: list[tuple[str, list[str], Callable[[], dict[str, float]]]] = []
    for n in args.clients:
        steps.append((f"1. ingest, {n} client{'s' if n > 1 else ''}", [f"ingest_{n}_rate", f"ingest_{n}_first", f"ingest_{n}_last"],
                      lambda n=n: w_ingest(ctx, n)))
    for n in args.clients:
        steps.append((f"2. log-metric, {n} client{'s' if n > 1 else ''}", [f"logm_{n}_rate", f"logm_{n}_p50", f"logm_{n}_p99"],
                      lambda n=n: w_log_metric(ctx, n)))
    steps.append(("3. get-history", ["history_big", "history_small"], lambda: w_history(ctx)))
    create_ids = (["create_1_rate"] if args.runs_single else []) + (
        [f"create_{args.create_clients}_rate"] if args.runs > args.runs_single else [])
    steps.append(("5. run creation", create_ids, lambda: w_create(ctx)))
    steps.append(("4. runs/search", ["search"], lambda: w_search(ctx)))
    try:
        for label, ids, fn in steps:
            if not server.alive():
                reason = f"server exited (code {server.proc.returncode}): {server.log_tail(3)}"
                for i in ids:
                    result["errors"][i] = reason
                continue
            t = time.perf_counter()
            cpu0 = server.sampler.cpu_seconds()
            client_cpu0 = time.process_time()
            server.sampler.reset_phase()
            try:
                values = fn()
                result["values"].update(values)
                shown = ", ".join(f"{k} {v:,.3g}" for k, v in values.items())
                log(f"{name}: {label}: {shown}")
            except (Failed, requests.RequestException) as e:
                if isinstance(e, Failed):
                    result["values"].update(e.partial)
                reason = str(e).replace("|", "/").replace("\n", " ")[:300]
                for i in ids:
                    if i not in result["values"]:
                        result["errors"][i] = reason
                log(f"{name}: {label}: FAILED: {reason}")
            elapsed = time.perf_counter() - t
            result["timings_s"][label] = round(elapsed, 2)
            server.sampler.sample()
            result["details"].setdefault("peak_rss_mib", {})[label] = round(
                server.sampler.phase_peak_rss_kb / 1024, 1)
            result["details"].setdefault("cpu_s", {})[label] = {
                "server": round(server.sampler.cpu_seconds() - cpu0, 2),
                "client": round(time.process_time() - client_cpu0, 2),
            }
    finally:
        sampler = server.sampler
        server_cpu = sampler.cpu_seconds()
        # The database server works for the tracking server: its CPU is not "other" load.
        pg_cpu = postgres_seconds() - pg0 if args.pg_url else 0.0
        server.stop()
    # CPU used meanwhile by everything else on the machine: another build or test run skews the
    # figures, so say so.
    session_s = time.perf_counter() - session_t0
    others = (busy_seconds() - busy0) - (own_seconds() - own0) - server_cpu - pg_cpu
    result["details"]["cpu_s_session"] = {"server": round(server_cpu, 1), "others": round(others, 1),
                                           "wall": round(session_s, 1)}
    if args.pg_url:
        result["details"]["cpu_s_session"]["postgres"] = round(pg_cpu, 1)
        result["notes"].append(f"PostgreSQL used {pg_cpu:.1f} CPU-s serving it (server: {server_cpu:.1f} CPU-s)")
    if others > 0.1 * session_s:
        result["notes"].append(
            f"other processes used {others / session_s:.2f} cores on average during its run "
            f"({others:.0f} CPU-s in {session_s:.0f} s): its figures may be low")
    result["notes"] += server.notes
    result["values"]["startup"] = server.startup_s
    result["values"]["rss_idle"] = server.idle_rss_kb / 1024
    result["values"]["rss_peak"] = sampler.peak_rss_kb / 1024
    result["values"]["pss_peak"] = sampler.peak_pss_kb / 1024
    result["values"]["db_size"] = server.db_bytes() / 2**20
    result["details"]["processes_peak"] = sampler.peak_processes
    result["details"]["memory_samples"] = sampler.samples
    result["timings_s"]["total"] = round(time.perf_counter() - started, 2)
    log(f"{name}: done in {result['timings_s']['total']:.0f} s; peak RSS {sampler.peak_rss_kb / 1024:,.0f} MiB "
        f"over up to {sampler.peak_processes} processes; database {result['values']['db_size']:.1f} MiB")
    if args.keep:
        result["notes"].append(f"temp dir kept: {tmp}" + (f"; database {server.pg[1]} kept" if server.pg else ""))
    else:
        shutil.rmtree(tmp, ignore_errors=True)
        if server.pg:
            psql(server.pg[0], f"DROP DATABASE IF EXISTS {server.pg[1]} WITH (FORCE)")
    return result


def render(args: argparse.Namespace, meta: dict[str, Any], results: dict[str, dict], rows: list[Row]) -> str:
    servers = [s for s in SERVER_NAMES if s in results]
    lines = ["# ETS vs MLflow vs FastTrackML over the MLflow REST API", ""]
    for s in servers:
        lines.append(f"- {LABELS[s]}: {meta['versions'].get(s, '?')}")
    m = meta["machine"]
    lines += [
        f"- machine: {m['nproc']} cores, {m['cpu']}, {m['memory_gib']} GiB; Python {m['python']} client "
        f"(requests, one keep-alive session per client thread) on the same machine",
        f"- date: {meta['date']}",
        f"- command: `{meta['command']}`",
        f"- sizes: {meta['sizes_text']}",
        ("- PostgreSQL backends everywhere (one server, a fresh database per tracking server), "
         if args.pg_url else "- SQLite backends everywhere, ")
        + "each server with its defaults except: ETS with "
        "`ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT=1000000` (its default caps an experiment at 1000 runs); "
        "MLflow runs its default 4 uvicorn workers, a job runner and huey consumers (all counted in its memory)",
    ]
    for s in servers:
        r = results[s]
        if r.get("skipped"):
            lines.append(f"- **{LABELS[s]} skipped**: {r['skipped']}")
        for note in r.get("notes", []):
            lines.append(f"- {LABELS[s]}: {note}")
    lines.append("")
    ratio_cols = [s for s in ("mlflow", "fasttrackml") if s in servers and "ets" in servers]
    header = ["workload", "unit", "better"] + [LABELS[s] for s in servers] + [f"ETS/{LABELS[s]}" for s in ratio_cols]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|")
    for row in rows:
        cells = [row.label.strip() if not row.label.startswith("   ") else "&nbsp;&nbsp;" + row.label.strip(),
                 row.unit, row.better]
        for s in servers:
            r = results[s]
            if r.get("skipped"):
                cells.append("skipped")
            elif row.id in r["values"]:
                cells.append(fmt(r["values"][row.id], row.unit))
            elif row.id in r["errors"]:
                cells.append(f"failed: {r['errors'][row.id]}")
            else:
                cells.append("–")
        for s in ratio_cols:
            cells.append(fmt_ratio(results["ets"]["values"].get(row.id), results[s]["values"].get(row.id)))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Ratios are ETS divided by the other server: above 1 is better for ETS where higher is better "
        "(rates), below 1 is better for ETS where lower is better (latency, time, memory, size).",
    ]
    lines += render_cpu(servers, ratio_cols, results)
    return "\n".join(lines)


def render_cpu(servers: list[str], ratio_cols: list[str], results: dict[str, dict]) -> list[str]:
    """The server's own CPU-seconds beside the wall time of each workload step, and ETS's ratios
    of both: on a 2-core machine the Python client caps wall-clock ratios, the server's CPU for
    the same work does not."""
    steps: list[str] = []
    for s in servers:
        for label in results[s].get("details", {}).get("cpu_s", {}):
            if label not in steps:
                steps.append(label)
    if not steps:
        return []

    def cpu(s: str, label: str) -> Any:
        return results[s].get("details", {}).get("cpu_s", {}).get(label, {}).get("server")

    def wall(s: str, label: str) -> Any:
        return results[s].get("timings_s", {}).get(label)

    header = (["workload step"]
              + [f"{LABELS[s]} server CPU-s / wall s" for s in servers]
              + [f"ETS/{LABELS[s]} CPU" for s in ratio_cols]
              + [f"ETS/{LABELS[s]} wall" for s in ratio_cols])
    lines = ["", "Server CPU (its whole process tree, from /proc) and wall time per workload step, same work "
             "for every server:", "", "| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for label in steps:
        cells = [label]
        for s in servers:
            c, w = cpu(s, label), wall(s, label)
            cells.append("–" if c is None or w is None else f"{c:,.2f} / {w:,.2f}")
        for s in ratio_cols:
            cells.append(fmt_ratio(cpu("ets", label), cpu(s, label)))
        for s in ratio_cols:
            cells.append(fmt_ratio(wall("ets", label), wall(s, label)))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "CPU and wall ratios are ETS divided by the other server: below 1 means ETS spent less."]
    return lines


def parse_args(argv: list[str]) -> argparse.Namespace:
    here = os.path.dirname(os.path.abspath(__file__))
    venv_bin = os.path.dirname(sys.executable)
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--servers", default="ets,mlflow,fasttrackml", help="comma-separated, run in this fixed order: ets, mlflow, fasttrackml (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="tiny smoke sizes (8,000 points, 50 calls, 2,000/200-point histories, 200 runs); "
                        "explicit size flags still win")
    p.add_argument("--json", help="also write the results as JSON to this file")
    p.add_argument("--lean", action="store_true",
                   help="clients on raw http.client connections instead of requests sessions: less client "
                        "CPU, so wall-clock figures show more of each server's limits")
    p.add_argument("--ingest-points", type=int, help="workload 1: points per scenario, split over the clients (default 200000)")
    p.add_argument("--clients", help="client counts of workloads 1 and 2 (default 1,8)")
    p.add_argument("--calls", type=int, help="workload 2: log-metric calls per scenario, split over the clients (default 500)")
    p.add_argument("--history-points", type=int, help="workload 3: long series (default 200000)")
    p.add_argument("--history-small-points", type=int, help="workload 3: short series (default 2000)")
    p.add_argument("--runs", type=int, help="workloads 4/5: runs in the searched experiment (default 5000)")
    p.add_argument("--runs-single", type=int, help="workload 5: how many of them one client creates before the others (default 200)")
    p.add_argument("--create-clients", type=int, default=8, help="workload 5: clients creating the rest (default 8)")
    p.add_argument("--repeats", type=int, default=3, help="reads per figure in workloads 3 and 4, the median is shown (default 3)")
    p.add_argument("--start-timeout", type=float, default=180, help="seconds to wait for a server to answer (default 180)")
    p.add_argument("--wait-quiet", type=float,
                   help="before each server, wait at most this many seconds for other processes to "
                        "use under 0.3 cores (default 600, with --quick 0: do not wait)")
    p.add_argument("--keep", action="store_true", help="keep each server's temp dir (database, log)")
    p.add_argument("--ets-bin", default=os.path.join(here, "..", "..", "target", "release", "ets"),
                   help="ets binary (run.sh passes the one it built, or $ETS_BIN)")
    p.add_argument("--mlflow-bin", default=os.path.join(venv_bin, "mlflow"),
                   help="mlflow command (default: the one in this interpreter's venv)")
    p.add_argument("--fml-bin", default=os.path.join(venv_bin, "fml"),
                   help="FastTrackML's server binary (default: the one in this interpreter's venv)")
    p.add_argument("--repo", default=os.path.join(here, "..", ".."), help="repository, for `git describe`")
    p.add_argument("--pg-url", help="run every server on PostgreSQL instead of SQLite: an admin URL such as "
                   "postgres://postgres@127.0.0.1:5432/postgres; each server gets a fresh database (psql needed)")
    args = p.parse_args(argv)
    quick = {"ingest_points": 8000, "clients": "1,8", "calls": 50, "history_points": 2000,
             "history_small_points": 200, "runs": 200, "runs_single": 20}
    full = {"ingest_points": 200_000, "clients": "1,8", "calls": 500, "history_points": 200_000,
            "history_small_points": 2000, "runs": 5000, "runs_single": 200}
    if args.wait_quiet is None:
        args.wait_quiet = 0 if args.quick else 600
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.clients = [int(x) for x in str(args.clients).split(",") if x.strip()]
    args.server_list = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in args.server_list if s not in SERVER_NAMES]
    if unknown or not args.server_list:
        p.error(f"--servers: unknown {unknown}; choose from {', '.join(SERVER_NAMES)}")
    if min(args.clients) < 1 or args.create_clients < 1 or args.repeats < 1:
        p.error("client counts and --repeats must be at least 1")
    args.runs_single = min(args.runs_single, args.runs)
    args.ets_bin = os.path.abspath(args.ets_bin)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    servers = [s for s in SERVER_NAMES if s in args.server_list]
    sizes = {
        "ingest_points": args.ingest_points, "clients": args.clients, "calls": args.calls,
        "history_points": args.history_points, "history_small_points": args.history_small_points,
        "runs": args.runs, "runs_single": args.runs_single, "create_clients": args.create_clients,
        "repeats": args.repeats, "quick": args.quick, "batch_points": BATCH_POINTS, "lean": args.lean,
    }
    sizes_text = (
        f"ingest {args.ingest_points:,} points per scenario in log-batch requests of {BATCH_POINTS} "
        f"({KEYS_PER_BATCH} keys × {STEPS_PER_BATCH} steps), clients {','.join(map(str, args.clients))}; "
        f"{args.calls:,} log-metric calls per scenario; histories of {args.history_points:,} and "
        f"{args.history_small_points:,} points; {args.runs:,} runs ({args.runs_single:,} by 1 client, "
        f"the rest by {args.create_clients}) searched with `{SEARCH_FILTER}` order by `{SEARCH_ORDER[0]}`"
        + (" (--quick)" if args.quick else "")
        + ("; lean clients (raw http.client)" if args.lean else "; clients: requests sessions")
    )
    meta = {
        "versions": versions(args, servers),
        "machine": machine(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": os.environ.get("BENCH_COMPARE_COMMAND") or " ".join(["harness.py"] + argv),
        "sizes": sizes,
        "sizes_text": sizes_text,
    }
    log(f"servers: {', '.join(servers)}; {sizes_text}")
    results = {}
    for name in servers:
        results[name] = bench_server(name, args)
    rows = rows_for(args)
    table = render(args, meta, results, rows)
    print(table, flush=True)
    if args.json:
        doc = {
            "meta": {k: v for k, v in meta.items() if k != "sizes_text"},
            "rows": [row.__dict__ for row in rows],
            "servers": results,
            "markdown": table,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2, default=str)
            f.write("\n")
        log(f"results written to {args.json}")
    # The smoke run (CI) must notice a broken harness or ETS: ETS failing anything is an error.
    # The other servers' failures are results, shown in the table.
    ets = results.get("ets")
    return 1 if ets is not None and (ets.get("skipped") or ets["errors"]) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
