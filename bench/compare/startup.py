#!/usr/bin/env python3
"""Start-up time and memory right after start-up of `ets serve`, for one or more binaries.

    bench/compare/startup.sh BIN [BIN ...] [--rounds N] [--poll-ms MS] [--settle-s S]

Each round starts every binary in turn (alternating, so the machine's load hits them alike),
twice: on a fresh data directory (the migrations create the database) and again on the
database the first start left ("existing"). Each start spawns `BIN serve` on a free loopback
port with `--metrics-port 0 --data-dir DIR` (the comparison harness's command line), then asks
`GET /health` every `--poll-ms` ms (default 1; plain sockets, one connection per try) and
records the time from spawn until the first 200. The API port is bound before the database
is opened, so a try that connects waits for the answer: the figure is the time the server
first answers, give or take the poll interval.

Right after the answer (and again `--settle-s` seconds later, default 1.0: the comparison
harness's "RSS after start-up" is read then) it reads VmRSS, RssAnon and RssFile from
/proc/PID/status and Rss/Pss/Anonymous from /proc/PID/smaps_rollup, and the threads. The
resident file pages are split by mapping (the binary itself against shared libraries and the
database) from /proc/PID/smaps. Prints one line per start and medians per binary and case.
Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int, timeout: float) -> bool:
    """Whether GET /health answers 200 now (a refused connection is False)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def status_kb(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[key] = int(value.split()[0])
            elif key == "Threads":
                out[key] = int(value)
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Pss", "Anonymous"):
                out["rollup_" + key] = int(value.split()[0])
    return out


def file_rss_by_mapping(pid: int, binary: str) -> dict[str, int]:
    """Resident kB of file mappings: the binary (code and read-only data), other files."""
    real = os.path.realpath(binary)
    out = {"bin": 0, "other_files": 0}
    current = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
                path = fields[5] if len(fields) > 5 else ""
                if path == real or path.startswith(real + " "):
                    current = "bin"
                elif path.startswith("/") and int(fields[4]) != 0:
                    current = "other_files"
                else:
                    current = None
            elif fields[0] == "Rss:" and current:
                out[current] += int(fields[1])
    return out


def start_once(binary: str, data: str, poll_s: float, settle_s: float, timeout: float) -> dict:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETS_")}
    env["ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT"] = "1000000"  # as the comparison harness
    argv = [binary, "serve", "--host", "127.0.0.1", "--port", str(port),
            "--metrics-port", "0", "--data-dir", data]
    log = open(os.path.join(os.path.dirname(data), "server.log"), "ab")
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    try:
        deadline = time.monotonic() + timeout
        while not answers(port, timeout):
            if proc.poll() is not None:
                raise RuntimeError(f"{binary} exited with {proc.returncode} before answering")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{binary} did not answer within {timeout} s")
            time.sleep(poll_s)
        result = {"startup_ms": (time.perf_counter() - started) * 1000}
        result.update(status_kb(proc.pid))
        result.update(file_rss_by_mapping(proc.pid, binary))
        time.sleep(settle_s)
        later = status_kb(proc.pid)
        result["settled_VmRSS"] = later["VmRSS"]
        result["settled_RssAnon"] = later["RssAnon"]
        result["settled_RssFile"] = later["RssFile"]
        return result
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


COLUMNS = [
    ("startup_ms", "start ms", 1.0),
    ("VmRSS", "RSS", 1024.0),
    ("RssAnon", "anon", 1024.0),
    ("RssFile", "file", 1024.0),
    ("bin", "of it binary", 1024.0),
    ("other_files", "libs+db", 1024.0),
    ("settled_VmRSS", "RSS +1s", 1024.0),
    ("settled_RssAnon", "anon +1s", 1024.0),
    ("settled_RssFile", "file +1s", 1024.0),
    ("Threads", "threads", 1.0),
]


def row(label: str, values: dict) -> str:
    cells = [f"{values[k] / scale:8.1f}" for k, _, scale in COLUMNS]
    return f"{label:<40} " + " ".join(cells)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--poll-ms", type=float, default=1.0)
    parser.add_argument("--settle-s", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    header = f"{'binary / database':<40} " + " ".join(f"{c:>8}" for _, c, _ in COLUMNS)
    print("times in ms, memory in MiB; " + header, flush=True)
    results: dict[tuple[str, str], list[dict]] = {}
    for n in range(args.rounds):
        for binary in args.binaries:
            tmp = tempfile.mkdtemp(prefix="ets-startup-")
            try:
                data = os.path.join(tmp, "data")
                os.makedirs(data)
                for case in ("fresh", "existing"):
                    r = start_once(binary, data, args.poll_ms / 1000, args.settle_s, args.timeout)
                    results.setdefault((binary, case), []).append(r)
                    print(row(f"{n + 1} {case} {binary[-30:]}", r), flush=True)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    print("\nmedians over", args.rounds, "rounds; " + header)
    for (binary, case), rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k, _, _ in COLUMNS}
        print(row(f"{case} {binary[-32:]}", med))
    return 0


if __name__ == "__main__":
    sys.exit(main())
