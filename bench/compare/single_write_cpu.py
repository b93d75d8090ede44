"""Server CPU of a single MLflow write, for comparing ets binaries (issue 18's "no regression").

    python3 bench/compare/single_write_cpu.py [--calls 4000] [--runs 1000] [--rounds 3] BIN [BIN...]

For each round and each binary in turn (alternating, so that the machine's load falls on all
of them alike): start `ets serve` with the harness's settings (bench/compare/harness.py's
ETS_ENV; authentication as configured by default) on a fresh temporary data directory (SQLite)
and a free loopback port, create one run, then from one raw `http.client` keep-alive connection
(the harness's `--lean` client) make `--calls` `runs/log-metric` calls (one point each) and
`--runs` `runs/create` calls. The server's own CPU (utime + stime from /proc/PID/stat) is read
before and after each step and printed as ms per call beside the calls per second.

`--perf-log-metric FILE` additionally records `perf record -F 2999 -g` of the first binary's
server during its log-metric step of the first round into FILE.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ETS_ENV  # noqa: E402  (the harness's server settings, one place)

HEADERS = {"Content-Type": "application/json", "User-Agent": "ets-bench-single-write"}
TS = 1_700_000_000_000


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, binary: str):
        self.dir = tempfile.mkdtemp(prefix="ets-single-write-")
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETS_")}
        env.update(ETS_ENV)
        self.proc = subprocess.Popen(
            [binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", self.dir,
             "--metrics-port", "0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request("GET", "/health")
                self.conn.getresponse().read()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"{binary}: no answer on port {self.port}")

    def post(self, path: str, body: str) -> bytes:
        self.conn.request("POST", path, body=body, headers=HEADERS)
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit(f"{path}: HTTP {r.status} {data[:200]!r}")
        return data

    def cpu(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the server so far."""
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def timed(server: Server, bodies: list[tuple[str, str]]) -> tuple[float, float, float]:
    """(server CPU ms per call, of it in the kernel, calls per second) for posting `bodies` one
    after the other."""
    (u0, s0), t0 = server.cpu(), time.perf_counter()
    for path, body in bodies:
        server.post(path, body)
    (u1, s1), t1 = server.cpu(), time.perf_counter()
    n = len(bodies)
    return 1e3 * (u1 - u0 + s1 - s0) / n, 1e3 * (s1 - s0) / n, n / (t1 - t0)


def measure(binary: str, calls: int, runs: int, perf_file: str | None) -> dict:
    server = Server(binary)
    try:
        run = json.loads(server.post("/api/2.0/mlflow/runs/create", json.dumps({"experiment_id": "0"})))
        run_id = run["run"]["info"]["run_id"]
        # A few calls first: the connection, caches and the series exist before the clock starts.
        for i in range(20):
            server.post("/api/2.0/mlflow/runs/log-metric",
                        json.dumps({"run_id": run_id, "key": "warm", "value": i, "step": i, "timestamp": TS + i}))
        metric = [("/api/2.0/mlflow/runs/log-metric",
                   json.dumps({"run_id": run_id, "key": "loss", "value": i * 0.5, "step": i, "timestamp": TS + i}))
                  for i in range(calls)]
        create = [("/api/2.0/mlflow/runs/create",
                   json.dumps({"experiment_id": "0", "run_name": f"r{i}", "start_time": TS + i,
                               "tags": [{"key": "mlflow.user", "value": "bench"}]}))
                  for i in range(runs)]
        perf = None
        if perf_file:
            perf = subprocess.Popen(["perf", "record", "-F", "2999", "--call-graph", "dwarf,16384", "-o", perf_file, "-p", str(server.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        metric_cpu, metric_sys, metric_rate = timed(server, metric)
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        create_cpu, create_sys, create_rate = timed(server, create)
        return {"metric_cpu": metric_cpu, "metric_sys": metric_sys, "metric_rate": metric_rate,
                "create_cpu": create_cpu, "create_sys": create_sys, "create_rate": create_rate}
    finally:
        server.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("binaries", nargs="+")
    p.add_argument("--calls", type=int, default=4000, help="log-metric calls per round")
    p.add_argument("--runs", type=int, default=1000, help="runs/create calls per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--perf-log-metric", metavar="FILE")
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.calls} log-metric calls, {args.runs} runs/create "
          f"calls per round, one lean http.client connection", flush=True)
    results: dict[str, list[dict]] = {b: [] for b in args.binaries}
    for r in range(args.rounds):
        for i, binary in enumerate(args.binaries):
            perf = args.perf_log_metric if r == 0 and i == 0 else None
            m = measure(binary, args.calls, args.runs, perf)
            results[binary].append(m)
            print(f"round {r + 1} {binary}: log-metric {m['metric_cpu']:.3f} ms CPU/call (kernel {m['metric_sys']:.3f}), "
                  f"{m['metric_rate']:,.0f} calls/s; runs/create {m['create_cpu']:.3f} ms CPU/run "
                  f"(kernel {m['create_sys']:.3f}), {m['create_rate']:,.0f} runs/s "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
    print("summary (min–max over rounds):")
    for binary, ms in results.items():
        def span(key: str, fmt: str) -> str:
            vals = [m[key] for m in ms]
            return f"{min(vals):{fmt}}–{max(vals):{fmt}}"
        print(f"  {binary}: log-metric {span('metric_cpu', '.3f')} ms CPU/call, {span('metric_rate', ',.0f')} calls/s; "
              f"runs/create {span('create_cpu', '.3f')} ms CPU/run, {span('create_rate', ',.0f')} runs/s")


if __name__ == "__main__":
    main()
