"""`ets import mlflow` from real MLflow stores, compared record by record (issue 17).

Each source is populated with the real `mlflow` client: an MLflow tracking server on a SQLite
database with an artifact folder (imported twice: over HTTP from the server, and from its
SQLite file + `--artifacts` folder), and a `./mlruns` file store. Each import goes into a fresh
`ets serve`; then the mlflow client reads both sides and they must match: experiments by name
(with their tags), runs by name (status, times, user, params, tags, every metric point with
step and timestamp, artifact files and bytes, links to logged models), MLflow 3 logged models
by name (type, status, source run, params, tags, metric values with their run and dataset,
artifact files and bytes). A second import must copy nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import (
    LoggedModelInput,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
    RunTag,
    ViewType,
)

ETS_BIN = os.environ["IMPORT_ETS_BIN"]
HERE = Path(__file__).resolve().parent
# Tags the import adds to each run it copies.
IMPORT_TAGS = {"ets.import.source_run_id", "ets.import.source", "ets.import.complete"}
# Tags the import adds to each logged model it copies.
MODEL_IMPORT_TAGS = {"ets.import.source_model_id", "ets.import.source", "ets.import.complete"}
T0 = 1_700_000_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra) -> dict:
    """The environment without ETS_* configuration (ets reads every ETS_* variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETS_")}
    env.update(extra)
    return env


class Server:
    def __init__(self, args, url, log: Path, env=None):
        self.url = url
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=env or clean_env(),
            )
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"{args[0]} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_ets(tmp: Path, env=None) -> Server:
    port = free_port()
    data = tmp / f"ets-{port}"
    data.mkdir()
    return Server(
        [ETS_BIN, "serve", "--host", "127.0.0.1", "--port", str(port), "--metrics-port", "0",
         "--data-dir", str(data)],
        f"http://127.0.0.1:{port}", tmp / f"ets-{port}.log", env=env,
    )


def ets_import(source: str, server: str, *extra: str, env=None) -> dict:
    done = subprocess.run(
        [ETS_BIN, "import", "mlflow", "--from", source, "--server", server, "--json", *extra],
        capture_output=True, text=True, env=env or clean_env(), timeout=240,
    )
    assert done.returncode == 0, f"ets import failed:\n{done.stderr}"
    assert "experiment" in done.stderr  # progress on stderr
    return json.loads(done.stdout)


# ---------------------------------------------------------------------------------------------
# The data every source gets.


def populate(client: MlflowClient, files: Path) -> dict:
    """Experiments, runs, metrics and artifacts through the mlflow client; answers counts."""
    files.mkdir(parents=True, exist_ok=True)
    (files / "notes.txt").write_text("hello from mlflow\n")
    (files / "weights.bin").write_bytes(bytes(range(256)) * 40)
    a = client.create_experiment("import-a", tags={"team": "vision", "note": "it's: \"quoted\""})
    b = client.create_experiment("import/b")

    parent = client.create_run(a, run_name="parent", start_time=T0, tags={"owner": "ana"})
    pid = parent.info.run_id
    loss = [Metric("loss", 1.0 / (s + 1), T0 + s * 10, s) for s in range(30)]
    loss.append(Metric("loss", 0.5, T0 + 5, 3))  # same step twice, another timestamp
    loss.append(Metric("train/acc", float("nan"), T0 + 1, 0))
    loss.append(Metric("train/acc", float("-inf"), T0 + 2, 1))
    loss.append(Metric("train/acc", 0.75, T0 + 3, 2))
    client.log_batch(
        pid,
        metrics=loss,
        params=[Param("lr", "0.001"), Param("optimizer", "adam"), Param("layers/n", "4")],
        tags=[RunTag("stage", "baseline"), RunTag("mlflow.note.content", "a note")],
    )
    client.log_artifact(pid, str(files / "notes.txt"))
    client.log_artifact(pid, str(files / "weights.bin"), "model/data")

    # An MLflow 3 logged model of the run: params, tags, metric values (one on a dataset),
    # files, READY; the run's output at step 3.
    clf = client.create_logged_model(
        a, name="clf", source_run_id=pid, params={"alpha": "0.5", "depth": "3"},
        tags={"flavor": "sklearn-ish"}, model_type="classifier",
    )
    # (Step 0 on the dataset: MLflow's file store reads a run's point logged with a dataset
    # back at step 0 whatever its step; the import copies the step it wrote.)
    client.log_batch(pid, metrics=[
        Metric("val_acc", 0.9, T0 + 50, 0, model_id=clf.model_id,
               dataset_name="eval", dataset_digest="d1"),
        Metric("val_loss", 0.25, T0 + 51, 3, model_id=clf.model_id),
    ])
    client.set_logged_model_tags(clf.model_id, {"stage": "candidate"})
    client.log_model_artifact(clf.model_id, str(files / "notes.txt"))
    client.log_model_artifact(clf.model_id, str(files / "weights.bin"), "data")
    client.finalize_logged_model(clf.model_id, LoggedModelStatus.READY)
    client.log_outputs(pid, [LoggedModelOutput(clf.model_id, 3)])
    client.set_terminated(pid, "FINISHED", end_time=T0 + 60_000)

    child = client.create_run(
        a, run_name="child", start_time=T0 + 100, tags={"mlflow.parentRunId": pid}
    )
    cid = child.info.run_id
    client.log_batch(cid, metrics=[Metric("loss", 2.0, T0 + 200, 0)], params=[Param("seed", "7")])
    client.log_inputs(cid, models=[LoggedModelInput(clf.model_id)])
    client.set_terminated(cid, "FAILED", end_time=T0 + 300)

    gone = client.create_run(a, run_name="deleted", start_time=T0 + 400)
    client.log_param(gone.info.run_id, "x", "1")
    client.delete_run(gone.info.run_id)

    long = client.create_run(b, run_name="long", start_time=T0 + 500)
    lid = long.info.run_id
    points = [Metric("val", float(s % 17), T0 + 1000 + s, s) for s in range(2500)]
    for i in range(0, len(points), 1000):
        client.log_batch(lid, metrics=points[i : i + 1000])
    client.log_batch(lid, params=[Param(f"p{i:03}", str(i)) for i in range(150)])
    client.set_terminated(lid, "KILLED", end_time=T0 + 9000)

    # A model of no run, left pending, with a file.
    draft = client.create_logged_model(b, name="draft", params={"k": "v"})
    client.log_model_artifact(draft.model_id, str(files / "notes.txt"))
    gone_model = client.create_logged_model(b, name="deleted-model")
    client.delete_logged_model(gone_model.model_id)

    running = client.create_run("0", run_name="still-running", start_time=T0 + 600)
    client.log_metric(running.info.run_id, "x", 1.0, timestamp=T0 + 601, step=0)

    trashed = client.create_experiment("trashed")
    client.create_run(trashed, run_name="in-trash")
    client.delete_experiment(trashed)
    return {"runs": 4, "metric_points": 36 + 1 + 2500 + 1, "params": 3 + 1 + 150, "artifacts": 2,
            "logged_models": 2, "model_metric_values": 2, "model_artifacts": 3, "model_links": 2}


def snapshot(uri: str, tmp: Path) -> dict:
    """Everything the mlflow client reads from the tracking server / store at `uri`."""
    client = MlflowClient(uri)
    out = {}
    exps = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    every_run = client.search_runs([e.experiment_id for e in exps], run_view_type=ViewType.ALL)
    run_names = {r.info.run_id: r.info.run_name for r in every_run}
    model_names = {}
    for exp in exps:
        for m in all_models(client, exp.experiment_id):
            model_names[m.model_id] = m.name
    for exp in exps:
        runs = client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
        names = {r.info.run_id: r.info.run_name for r in runs}
        records = {}
        for run in runs:
            tags = {k: v for k, v in run.data.tags.items() if k not in IMPORT_TAGS}
            if "mlflow.parentRunId" in tags:
                tags["mlflow.parentRunId"] = names.get(tags["mlflow.parentRunId"], "?")
            full = client.get_run(run.info.run_id)
            histories = {}
            for key in run.data.metrics:
                history = client.get_metric_history(run.info.run_id, key)
                histories[key] = sorted(
                    (m.step, m.timestamp, repr(m.value)) for m in history
                )
            records[run.info.run_name] = {
                "status": run.info.status,
                "lifecycle_stage": run.info.lifecycle_stage,
                "start_time": run.info.start_time,
                "end_time": run.info.end_time,
                "user_id": run.info.user_id,
                "params": dict(run.data.params),
                "tags": tags,
                "metrics": histories,
                # A logged model's files are kept below its source run in ETS.
                "artifacts": artifacts(client, run.info.run_id, tmp, skip=[
                    f"models/{m}/" for m in model_names
                ]),
                # `search_runs` of MLflow's SQL store leaves the model inputs out.
                "model_inputs": sorted(
                    model_names.get(m.model_id, "?") for m in full.inputs.model_inputs
                ),
                "model_outputs": sorted(
                    (model_names.get(m.model_id, "?"), m.step) for m in full.outputs.model_outputs
                ),
            }
        exp_tags = {k: v for k, v in exp.tags.items() if not k.startswith("mlflow.")}
        models = {
            m.name: model_record(uri, m, run_names, tmp)
            for m in all_models(client, exp.experiment_id)
        }
        out[exp.name] = {"tags": exp_tags, "runs": records, "models": models}
    return out


def all_models(client: MlflowClient, experiment_id: str) -> list:
    models, token = [], None
    while True:
        page = client.search_logged_models([experiment_id], max_results=50, page_token=token)
        models.extend(page)
        token = page.token
        if not token:
            return models


def model_record(uri: str, m, run_names: dict, tmp: Path) -> dict:
    """A logged model as the mlflow client reads it, its runs by name."""
    files = {}
    dst = tmp / "models" / m.model_id
    dst.mkdir(parents=True)
    local = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=m.artifact_location, dst_path=str(dst), tracking_uri=uri
    ))
    for f in sorted(local.rglob("*")):
        if f.is_file():
            files[f.relative_to(local).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    # Empty and missing strings are the same model (over REST they are always empty).
    return {
        "model_type": m.model_type or None,
        "status": str(m.status),
        "source_run": run_names.get(m.source_run_id) if m.source_run_id else None,
        "params": dict(m.params),
        "tags": {k: v for k, v in m.tags.items() if k not in MODEL_IMPORT_TAGS},
        "metrics": sorted(
            (x.key, repr(x.value), x.step, x.timestamp, x.dataset_name or None,
             x.dataset_digest or None, run_names.get(x.run_id, "?"))
            for x in m.metrics
        ),
        "artifacts": files,
    }


def artifacts(client: MlflowClient, run_id: str, tmp: Path, skip=()) -> dict:
    out = {}
    folders = [None]
    while folders:
        folder = folders.pop()
        for f in client.list_artifacts(run_id, folder):
            if any((f.path + "/").startswith(prefix) for prefix in skip):
                continue
            if f.is_dir:
                folders.append(f.path)
            else:
                local = client.download_artifacts(run_id, f.path, str(tmp))
                out[f.path] = hashlib.sha256(Path(local).read_bytes()).hexdigest()
    return out


def without_deleted(snap: dict) -> dict:
    """The source as an import copies it: active runs only."""
    return {
        name: {
            "tags": exp["tags"],
            "runs": {n: r for n, r in exp["runs"].items() if r["lifecycle_stage"] == "active"},
            "models": exp["models"],
        }
        for name, exp in snap.items()
    }


def check_same(source: dict, target: dict):
    source = without_deleted(source)
    assert sorted(target) == sorted(source)
    for name, exp in source.items():
        got = target[name]
        for key, value in exp["tags"].items():
            assert got["tags"].get(key) == value, (name, key)
        assert sorted(got["runs"]) == sorted(exp["runs"]), name
        for run_name, run in exp["runs"].items():
            mine = got["runs"][run_name]
            for field in ("status", "start_time", "end_time", "user_id", "params", "metrics",
                          "artifacts", "model_inputs", "model_outputs"):
                assert mine[field] == run[field], (name, run_name, field)
            # Tags: the source's, plus those ETS adds itself (none expected beyond MLflow's).
            for key, value in run["tags"].items():
                assert mine["tags"].get(key) == value, (name, run_name, key)
            assert set(mine["tags"]) - set(run["tags"]) <= {"mlflow.user"}, (name, run_name)
        assert sorted(got["models"]) == sorted(exp["models"]), name
        for model_name, model in exp["models"].items():
            mine = got["models"][model_name]
            for field in ("model_type", "status", "source_run", "params", "metrics", "artifacts"):
                assert mine[field] == model[field], (name, model_name, field)
            for key, value in model["tags"].items():
                assert mine["tags"].get(key) == value, (name, model_name, key)
            assert set(mine["tags"]) - set(model["tags"]) <= {"mlflow.user"}, (name, model_name)


def count_models(uri: str) -> int:
    client = MlflowClient(uri)
    exps = client.search_experiments(view_type=ViewType.ALL)
    return sum(len(all_models(client, e.experiment_id)) for e in exps)


def count_runs(uri: str) -> int:
    client = MlflowClient(uri)
    exps = client.search_experiments(view_type=ViewType.ALL)
    return len(client.search_runs([e.experiment_id for e in exps], run_view_type=ViewType.ALL))


def check_import(source_uri: str, snap_uri: str, tmp: Path, expected: dict, *extra: str):
    ets = start_ets(tmp)
    try:
        first = ets_import(source_uri, ets.url, *extra)
        assert first["runs"] == expected["runs"], first
        assert first["runs_skipped"] == 0
        assert first["metric_points"] == expected["metric_points"], first
        assert first["params"] == expected["params"], first
        assert first["artifacts"] == expected["artifacts"], first
        assert first["artifacts_unreachable"] == 0, first
        for key in ("logged_models", "model_metric_values", "model_artifacts", "model_links"):
            assert first[key] == expected[key], (key, first)
        assert first["logged_models_skipped"] == 0, first
        assert first["model_artifacts_unreachable"] == 0, first
        source = snapshot(snap_uri, tmp / "source")
        assert sum(len(e["models"]) for e in source.values()) == expected["logged_models"]
        clf = source["import-a"]["models"]["clf"]
        assert (len(clf["artifacts"]), len(clf["metrics"]), clf["source_run"]) == (2, 2, "parent")
        assert clf["params"] == {"alpha": "0.5", "depth": "3"}, clf
        assert source["import-a"]["runs"]["child"]["model_inputs"] == ["clf"]
        check_same(source, snapshot(ets.url, tmp / "ets"))
        runs = count_runs(ets.url)
        models = count_models(ets.url)
        assert models == expected["logged_models"]

        # Again: nothing copied, nothing doubled.
        second = ets_import(source_uri, ets.url, *extra)
        assert second["runs"] == 0 and second["runs_skipped"] == expected["runs"], second
        assert second["metric_points"] == 0 and second["artifacts"] == 0, second
        assert second["logged_models"] == 0, second
        assert second["logged_models_skipped"] == expected["logged_models"], second
        assert second["model_artifacts"] == 0, second
        assert count_runs(ets.url) == runs
        assert count_models(ets.url) == models
        check_same(source, snapshot(ets.url, tmp / "ets2"))

        # An interrupted import (a run without its completion tag) is finished, not doubled.
        client = MlflowClient(ets.url)
        exp = client.get_experiment_by_name("import/b")
        (long,) = client.search_runs([exp.experiment_id], "attributes.run_name = 'long'")
        client.delete_tag(long.info.run_id, "ets.import.complete")
        # And a logged model without its completion tag.
        (clf,) = [m for m in all_models(client, client.get_experiment_by_name("import-a")
                                        .experiment_id) if m.name == "clf"]
        client.delete_logged_model_tag(clf.model_id, "ets.import.complete")
        third = ets_import(source_uri, ets.url, *extra)
        assert third["runs_resumed"] == 1 and third["runs"] == 1, third
        assert third["runs_skipped"] == expected["runs"] - 1, third
        assert third["logged_models_resumed"] == 1 and third["logged_models"] == 1, third
        assert third["logged_models_skipped"] == expected["logged_models"] - 1, third
        assert count_runs(ets.url) == runs
        assert count_models(ets.url) == models
        check_same(source, snapshot(ets.url, tmp / "ets3"))
    except BaseException:
        print(ets.log.read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        ets.stop()


# ---------------------------------------------------------------------------------------------
# The sources.


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server on SQLite with an artifact folder, populated."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    db = tmp / "mlflow.db"
    server = Server(
        [str(HERE / ".venv" / "bin" / "mlflow"), "server", "--host", "127.0.0.1", "--port",
         str(port), "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination",
         str(tmp / "mlartifacts"), "--workers", "1"],
        f"http://127.0.0.1:{port}", tmp / "mlflow.log",
    )
    try:
        expected = populate(MlflowClient(server.url), tmp / "files")
        yield server, db, tmp / "mlartifacts", expected
    finally:
        server.stop()


def test_import_from_an_mlflow_server(mlflow_server, tmp_path):
    server, _, _, expected = mlflow_server
    check_import(server.url, server.url, tmp_path, expected)


def test_import_from_its_sqlite_database_and_artifact_folder(mlflow_server, tmp_path):
    server, db, artifacts, expected = mlflow_server
    check_import(f"sqlite:///{db}", server.url, tmp_path, expected, "--artifacts", str(artifacts))


def test_import_from_a_file_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "mlruns"
    uri = f"file:{store}"
    expected = populate(MlflowClient(uri), tmp_path / "files")
    check_import(str(store), uri, tmp_path, expected)


def test_unreachable_artifacts_are_reported_not_fatal(mlflow_server, tmp_path):
    """The SQLite store without its artifact folder: everything else is copied."""
    _, db, _, expected = mlflow_server
    ets = start_ets(tmp_path)
    try:
        summary = ets_import(f"sqlite:///{db}", ets.url)
        assert summary["runs"] == expected["runs"]
        assert summary["artifacts"] == 0
        assert summary["artifacts_unreachable"] == expected["runs"]
    finally:
        ets.stop()


def test_import_with_authentication(mlflow_server, tmp_path):
    """ETS with authentication on: the API key from ETS_API_KEY; none answers 401."""
    _, db, artifacts, expected = mlflow_server
    ets = start_ets(tmp_path, env=clean_env(ETS_AUTH__ENABLED="true"))
    try:
        data = next(tmp_path.glob("ets-*/"))
        made = subprocess.run(
            [ETS_BIN, "users", "create", "importer", "--admin", "--data-dir", str(data)],
            capture_output=True, text=True, env=clean_env(), check=True,
        )
        key = made.stdout.strip().splitlines()[-1]
        source = f"sqlite:///{db}"
        refused = subprocess.run(
            [ETS_BIN, "import", "mlflow", "--from", source, "--server", ets.url],
            capture_output=True, text=True, env=clean_env(),
        )
        assert refused.returncode != 0
        assert "ETS_API_KEY" in refused.stderr
        summary = ets_import(source, ets.url, "--artifacts", str(artifacts),
                             env=clean_env(ETS_API_KEY=key))
        assert summary["runs"] == expected["runs"]
        assert summary["artifacts"] == expected["artifacts"]
    finally:
        ets.stop()


def test_bad_sources_are_refused(tmp_path):
    for source, message in [
        (f"sqlite:///{tmp_path}/none.db", "no such database file"),
        (str(tmp_path / "nothing"), "no such MLflow file store"),
        ("s3://bucket/mlruns", "use sqlite:///PATH"),
    ]:
        done = subprocess.run(
            [ETS_BIN, "import", "mlflow", "--from", source, "--server", "http://127.0.0.1:9"],
            capture_output=True, text=True, env=clean_env(),
        )
        assert done.returncode == 1 and message in done.stderr, (source, done.stderr)
