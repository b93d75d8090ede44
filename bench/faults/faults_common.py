"""Shared by the fault scripts: a free port, `ets serve` started and waited for, JSON calls."""
import atexit, http.client, json, math, os, socket, subprocess, sys, time


def free_port() -> int:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    return port


def percentile(values, q: float) -> float:
    """The q-th percentile (nearest rank) of values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def call(conn: http.client.HTTPConnection, method: str, path: str, body=None):
    """(status, raw body) of one JSON request."""
    conn.request(method, path, json.dumps(body) if body is not None else None, {"content-type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def serve(ets_bin: str, port: int, data_dir: str, log=subprocess.DEVNULL, **env_extra) -> subprocess.Popen:
    """`ets serve` on `port` (no ETS_* of this environment but `env_extra`), once it is ready;
    killed when the script exits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETS_")}
    env.update(env_extra)
    server = subprocess.Popen([ets_bin, "serve", "--port", str(port), "--metrics-port", "0", "--data-dir", data_dir],
                              env=env, stdout=subprocess.DEVNULL, stderr=log)
    # Never left running, however the script ends (a failed check exits early).
    atexit.register(lambda: server.poll() is None and server.kill())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if call(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "GET", "/health/ready")[0] == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"ets serve exited with {server.returncode} before it was ready")
        time.sleep(0.02)
    raise SystemExit(f"ets serve did not become ready on port {port} within 30 s")


def finish(summary: dict, broken: list, log_path=None):
    """Prints the JSON summary and every broken rule (and the server log's tail, when one is
    broken), then exits: non-zero when a rule is broken."""
    print(json.dumps(summary))
    for b in broken:
        print("BROKEN:", b, file=sys.stderr)
    if broken and log_path:
        print(open(log_path).read()[-3000:], file=sys.stderr)
    sys.exit(1 if broken else 0)
