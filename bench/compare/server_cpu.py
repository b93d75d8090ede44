"""Server CPU per MLflow ingest request, for before/after comparisons of two ets binaries.

    python3 bench/compare/server_cpu.py path/to/ets [batches]

Starts `ets serve` on a fresh temp dir and a free loopback port, sends `batches` pre-built
`runs/log-batch` requests (1000 points: 10 keys x 100 steps) and 5x as many `runs/log-metric`
calls over one keep-alive connection, and prints the server's own CPU time (utime + stime from
/proc) per request beside the wall time. Server CPU does not depend on how fast the Python
client is, so it compares builds more steadily than wall-clock rates on a 2-core machine.
"""
import http.client, json, os, shutil, subprocess, sys, time, tempfile, socket
binary, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
d = tempfile.mkdtemp()
env = dict(os.environ, ETS_DATA_DIR=d, ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT="1000000")
p = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", d, "--metrics-port", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(100):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", "/health"); c.getresponse().read(); break
    except Exception: time.sleep(0.1)
def post(path, body):
    c.request("POST", path, body=body, headers={"Content-Type": "application/json"}); r = c.getresponse(); data = r.read(); assert r.status == 200, (r.status, data); return data
run = json.loads(post("/api/2.0/mlflow/runs/create", json.dumps({"experiment_id": "0"})))["run"]["info"]["run_id"]
def cpu():
    f = open(f"/proc/{p.pid}/stat").read().split(")")[1].split(); return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
ts = 1_700_000_000_000
bodies = []
for b in range(n):
    ms = [{"key": f"k{k}", "value": (b * 100 + s) * 0.001 + k, "step": b * 100 + s, "timestamp": ts + b * 100 + s} for k in range(10) for s in range(100)]
    bodies.append(json.dumps({"run_id": run, "metrics": ms}))
single = [json.dumps({"run_id": run, "key": "single", "value": i * 0.5, "step": i, "timestamp": ts + i}) for i in range(n * 5)]
c0 = cpu(); t0 = time.time()
for body in bodies: post("/api/2.0/mlflow/runs/log-batch", body)
c1 = cpu(); t1 = time.time()
for body in single: post("/api/2.0/mlflow/runs/log-metric", body)
c2 = cpu(); t2 = time.time()
print(f"log-batch: server CPU {1e3*(c1-c0)/n:.3f} ms/request, wall {1e3*(t1-t0)/n:.3f} ms; log-metric: server CPU {1e3*(c2-c1)/(5*n):.3f} ms/call, wall {1e3*(t2-t1)/(5*n):.3f} ms")
p.terminate(); p.wait()
shutil.rmtree(d, ignore_errors=True)
