"""Reading a long series downsampled (issue 18, goal 3): one run's series of `POINTS` points
(a float32 training curve, steps 0.., ~50 ms apart) loaded through the native columnar
`bulk-metrics` endpoint in requests of 50,000 points, then read `READS` times with
`GET /api/v1/runs/{id}/metrics/loss?max_points=1000` (and once with a step range); reports
the wall time per read (median, p90) and the server's CPU per read (from /proc/PID/stat).

    python3 bench/storage/long_series_read.py path/to/ets [POINTS READS]   # 10000000 20
"""
import http.client, json, math, os, random, shutil, statistics, struct, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "faults"))
from faults_common import call, free_port, serve  # noqa: E402

binary = sys.argv[1]
points, reads = (int(a) for a in (sys.argv[2:4] if len(sys.argv) > 3 else ("10000000", "20")))
data = tempfile.mkdtemp()
port = free_port()
server = serve(binary, port, data)
ticks = os.sysconf("SC_CLK_TCK")


def server_cpu() -> float:
    fields = open(f"/proc/{server.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
status, body = call(c, "POST", "/api/v1/projects", {"name": "long"})
assert status in (200, 201), (status, body[:200])
project = json.loads(body)["id"]
status, body = call(c, "POST", "/api/v1/experiments", {"project_id": project, "name": "long"})
assert status in (200, 201), (status, body[:200])
experiment = json.loads(body)["id"]
status, body = call(c, "POST", "/api/v1/runs", {"experiment_id": experiment, "name": "long"})
assert status in (200, 201), (status, body[:200])
run = json.loads(body)["id"]

f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
rng = random.Random(11)
started, t, per_request = time.time(), 1_765_000_000_000, 50_000
for first in range(0, points, per_request):
    steps = list(range(first, min(first + per_request, points)))
    values, timestamps = [], []
    for step in steps:
        t += 50 + rng.randint(0, 3)
        timestamps.append(t)
        values.append(f32(2.0 * math.exp(-step / (points / 4)) + 0.05 * rng.random()))
    status, body = call(c, "POST", f"/api/v1/runs/{run}/bulk-metrics",
                        {"series": [{"key": "loss", "steps": steps, "values": values, "timestamps": timestamps}]})
    assert status in (200, 201), (status, body[:200])
load_seconds = time.time() - started


def measure(query: str) -> dict:
    walls, cpu_before = [], server_cpu()
    for _ in range(reads):
        t0 = time.perf_counter()
        status, body = call(c, "GET", f"/api/v1/runs/{run}/metrics/loss?{query}")
        walls.append(time.perf_counter() - t0)
        assert status == 200, (status, body[:200])
    answer = json.loads(body)
    assert answer["total_points"] > 0 and len(answer["points"]) <= 1000, answer["total_points"]
    walls.sort()
    return {"query": query, "total_points": answer["total_points"], "points": len(answer["points"]),
            "wall_ms_p50": round(1000 * statistics.median(walls), 1),
            "wall_ms_p90": round(1000 * walls[int(0.9 * (len(walls) - 1))], 1),
            "server_cpu_ms_per_read": round(1000 * (server_cpu() - cpu_before) / reads, 1)}


call(c, "GET", f"/api/v1/runs/{run}/metrics/loss?max_points=1000")  # warm the page cache
results = [measure("max_points=1000"),
           measure(f"max_points=1000&start_step={points // 3}&end_step={2 * points // 3}")]
server.terminate(); server.wait(timeout=30)
print(json.dumps({"points": points, "load_seconds": round(load_seconds, 1),
                  "database_bytes": os.path.getsize(os.path.join(data, "ets.db")), "reads": results}, indent=1))
shutil.rmtree(data)
