"""Acceptance check: `mlflow.log_artifact` of a large file (1 GiB by default) through the
unmodified MLflow client, downloaded back and compared byte for byte.

    MLFLOW_TRACKING_URI=http://127.0.0.1:8003 \\
      tests/mlflow_client/.venv/bin/python tests/mlflow_client/large_artifact.py --size-mb 1024 --pid <ets pid>

--multipart uploads through MLflow's proxied multipart protocol instead of one PUT.

With --pid, the server's resident memory is sampled every 5 ms during each transfer (Linux).
Not part of the pytest suite (it takes a while and needs a few GiB of free disk).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import tempfile
import threading
import time

import mlflow
from mlflow import MlflowClient

os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "600")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

CHUNK = 1 << 20


def rss_mib(pid: int, field: str = "VmRSS:") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0


class RssProbe:
    def __init__(self, pid: int | None):
        self.pid, self.peak, self.baseline = pid, 0.0, 0.0
        self._stop = threading.Event()
        if pid:
            self.baseline = self.peak = rss_mib(pid)
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.005)

    def finish(self) -> str:
        if not self.pid:
            return ""
        self._stop.set()
        self._thread.join()
        return f"; server RSS {self.baseline:.1f} -> peak {self.peak:.1f} MiB ({self.peak - self.baseline:+.1f} MiB)"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--pid", type=int, help="server pid, to report its memory")
    parser.add_argument(
        "--multipart",
        action="store_true",
        help="upload with MLflow's proxied multipart protocol (10 MB parts in parallel)",
    )
    args = parser.parse_args()
    if args.multipart:
        os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] = "true"
        os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = str(CHUNK)
    size = args.size_mb * CHUNK

    with tempfile.TemporaryDirectory() as tmp:
        source = pathlib.Path(tmp) / "model.bin"
        digest = hashlib.sha256()
        with open(source, "wb") as f:
            for _ in range(args.size_mb):
                block = os.urandom(CHUNK)
                digest.update(block)
                f.write(block)
        expected = digest.hexdigest()
        print(f"file: {size} bytes, sha256 {expected}")

        mlflow.set_experiment(f"large-artifact-{int(time.time())}")
        with mlflow.start_run() as run:
            probe = RssProbe(args.pid)
            started = time.perf_counter()
            mlflow.log_artifact(str(source), artifact_path="weights")
            seconds = time.perf_counter() - started
            print(f"log_artifact: {seconds:.1f} s, {size / seconds / 1e6:.0f} MB/s{probe.finish()}")

        client = MlflowClient()
        (info,) = client.list_artifacts(run.info.run_id, "weights")
        assert info.file_size == size, info

        out = pathlib.Path(tmp) / "out"
        out.mkdir()
        probe = RssProbe(args.pid)
        started = time.perf_counter()
        local = pathlib.Path(client.download_artifacts(run.info.run_id, "weights/model.bin", str(out)))
        seconds = time.perf_counter() - started
        print(f"download_artifacts: {seconds:.1f} s, {size / seconds / 1e6:.0f} MB/s{probe.finish()}")

        digest = hashlib.sha256()
        with open(local, "rb") as f:
            while block := f.read(CHUNK):
                digest.update(block)
        assert local.stat().st_size == size, local.stat().st_size
        assert digest.hexdigest() == expected, "downloaded bytes differ"
        print("downloaded back byte-identical: OK")


if __name__ == "__main__":
    main()
