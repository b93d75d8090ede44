"""Server CPU per MLflow ingest request, for before/after comparisons of two ets binaries.

    python3 bench/compare/server_cpu.py path/to/ets [batches] [auth]

With `auth`, ETS runs with authentication on: the requests carry the API key of a user who is
an editor of the `default` project (not a global admin, so role checks really run).

Starts `ets serve` on a fresh temp dir and a free loopback port, sends `batches` pre-built
`runs/log-batch` requests (1000 points: 10 keys x 100 steps) and 5x as many `runs/log-metric`
calls over one keep-alive connection, and prints the server's own CPU time (utime + stime from
/proc) per request beside the wall time. Server CPU does not depend on how fast the Python
client is, so it compares builds more steadily than wall-clock rates on a 2-core machine.
"""
import http.client, json, os, shutil, subprocess, sys, time, tempfile, socket
binary, n = sys.argv[1], int(sys.argv[2])
auth = len(sys.argv) > 3 and sys.argv[3] == "auth"
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
d = tempfile.mkdtemp()
env = dict(os.environ, ETS_DATA_DIR=d, ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT="1000000",
           ETS_AUTH__ENABLED="true" if auth else "false", ETS_AUTH__RATE_LIMIT__REQUESTS_PER_SECOND="0")
headers = {"Content-Type": "application/json"}
if auth:
    def cli(*args):
        return subprocess.run([binary, "--data-dir", d, *args], env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    admin_key = cli("users", "create", "bench-admin", "--admin")
    user_key = cli("users", "create", "bench", "--service-account")
p = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", d, "--metrics-port", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(100):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", "/health"); c.getresponse().read(); break
    except Exception: time.sleep(0.1)
if auth:
    c.request("PUT", "/api/v1/projects/00000000000000000000000000000000/members/bench", body=json.dumps({"role": "editor"}),
              headers={"Content-Type": "application/json", "Authorization": f"Bearer {admin_key}"})
    r = c.getresponse(); assert r.status == 200, (r.status, r.read()); r.read()
    headers["Authorization"] = f"Bearer {user_key}"
def post(path, body):
    c.request("POST", path, body=body, headers=headers); r = c.getresponse(); data = r.read(); assert r.status == 200, (r.status, data); return data
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
print(f"auth {'on ' if auth else 'off'}: log-batch: server CPU {1e3*(c1-c0)/n:.3f} ms/request, wall {1e3*(t1-t0)/n:.3f} ms; log-metric: server CPU {1e3*(c2-c1)/(5*n):.3f} ms/call, wall {1e3*(t2-t1)/(5*n):.3f} ms")
p.terminate(); p.wait()
shutil.rmtree(d, ignore_errors=True)
