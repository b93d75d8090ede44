"""The artifact proxy as MLflow's wider tooling uses it: a general file store (paths outside any
run), the `mlflow artifacts` CLI, `mlflow.artifacts.download_artifacts`, logged models' files
where MLflow puts them, and experiments created with their own artifact location."""

import os
import pathlib
import subprocess
import sys
import uuid

import mlflow
import mlflow.artifacts
import pytest
import requests
from conftest import HTTP_AUTH, TARGET, TRACKING_URI, error_code, unique_name
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

BINARY = bytes(range(256)) * 40 + b"\x00\xff tail"


def proxy_url(path):
    return f"{TRACKING_URI}/api/2.0/mlflow-artifacts/artifacts/{path}"


def files_below(root):
    root = pathlib.Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def source_tree(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "b.pkl").write_bytes(BINARY)
    (src / "sub" / "c.txt").write_text("c\n")
    return src


def test_files_outside_runs_are_uploaded_listed_downloaded_and_deleted(source_tree, tmp_path):
    folder = f"shared-{uuid.uuid4().hex}"
    repo = get_artifact_repository(f"mlflow-artifacts:/{folder}")
    repo.log_artifacts(str(source_tree))
    repo.log_artifact(str(source_tree / "b.pkl"), "dir")

    listed = sorted((f.path, f.is_dir, f.file_size) for f in repo.list_artifacts())
    assert listed == [("b.pkl", False, len(BINARY)), ("dir", True, None), ("sub", True, None)]
    assert [(f.path, f.file_size) for f in repo.list_artifacts("dir")] == [("dir/b.pkl", len(BINARY))]

    one = mlflow.artifacts.download_artifacts(
        artifact_uri=f"mlflow-artifacts:/{folder}/dir/b.pkl", dst_path=str(tmp_path / "one")
    )
    assert pathlib.Path(one).read_bytes() == BINARY
    tree = mlflow.artifacts.download_artifacts(
        artifact_uri=f"mlflow-artifacts:/{folder}", dst_path=str(tmp_path / "tree")
    )
    assert files_below(tree) == {"b.pkl": BINARY, "sub/c.txt": b"c\n", "dir/b.pkl": BINARY}

    repo.delete_artifacts("dir")
    assert sorted(f.path for f in repo.list_artifacts()) == ["b.pkl", "sub"]
    assert requests.get(proxy_url(f"{folder}/dir/b.pkl"), timeout=30, auth=HTTP_AUTH).status_code == 404


def test_a_file_at_the_root_of_the_store(tmp_path):
    name = f"root-{uuid.uuid4().hex}.txt"
    put = requests.put(proxy_url(name), data=b"at the root", timeout=30, auth=HTTP_AUTH)
    assert put.status_code == 200, put.text
    listing = requests.get(
        f"{TRACKING_URI}/api/2.0/mlflow-artifacts/artifacts", params={"path": ""}, timeout=30, auth=HTTP_AUTH
    )
    assert listing.status_code == 200, listing.text
    assert {"path": name, "is_dir": False, "file_size": 11} in listing.json()["files"]
    got = mlflow.artifacts.download_artifacts(artifact_uri=f"mlflow-artifacts:/{name}", dst_path=str(tmp_path))
    assert pathlib.Path(got).read_bytes() == b"at the root"
    assert requests.delete(proxy_url(name), timeout=30, auth=HTTP_AUTH).status_code == 200
    assert requests.get(proxy_url(name), timeout=30, auth=HTTP_AUTH).status_code == 404


def test_downloads_ignore_the_type_the_uploader_claimed():
    """A file sent as text/html comes back labelled by its name, as MLflow labels it."""
    folder = f"typed-{uuid.uuid4().hex}"
    for name in ("notes.txt", "MLmodel", "report.ipynb", "model.pkl"):
        put = requests.put(
            proxy_url(f"{folder}/{name}"), data=b"<script>x</script>", headers={"Content-Type": "text/html"},
            timeout=30, auth=HTTP_AUTH,
        )
        assert put.status_code == 200, put.text
    for name, expected in (
        ("notes.txt", "text/plain"), ("MLmodel", "text/plain"), ("report.ipynb", "text/plain"),
        ("model.pkl", "application/octet-stream"),
    ):
        got = requests.get(proxy_url(f"{folder}/{name}"), timeout=30, auth=HTTP_AUTH)
        assert got.status_code == 200
        assert got.headers["content-type"].split(";")[0] == expected, name
        assert got.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../escape.txt", "%2E%2E/escape.txt"])
def test_paths_leaving_the_root_are_refused(path):
    put = requests.put(proxy_url(path), data=b"x", timeout=30, auth=HTTP_AUTH)
    assert put.status_code in (400, 404), (put.status_code, put.text)
    got = requests.get(proxy_url(path), timeout=30, auth=HTTP_AUTH)
    assert got.status_code in (400, 404), (got.status_code, got.text)


def cli(*args, check=True):
    """`mlflow artifacts …` in a child process against the server under test."""
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "artifacts", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "MLFLOW_TRACKING_URI": TRACKING_URI},
    )
    if check:
        assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_the_artifacts_cli_logs_lists_and_downloads_run_artifacts(client, experiment_id, source_tree, tmp_path):
    run_id = client.create_run(experiment_id).info.run_id
    cli("log-artifact", "--local-file", str(source_tree / "b.pkl"), "--run-id", run_id, "--artifact-path", "one")
    cli("log-artifacts", "--local-dir", str(source_tree), "--run-id", run_id, "--artifact-path", "all")

    listed = cli("list", "--run-id", run_id).stdout
    assert '"path": "one"' in listed and '"path": "all"' in listed, listed
    listed = cli("list", "--run-id", run_id, "--artifact-path", "all").stdout
    assert '"path": "all/b.pkl"' in listed and '"path": "all/sub"' in listed, listed

    out = cli("download", "--run-id", run_id, "--artifact-path", "one/b.pkl", "--dst-path", str(tmp_path / "a")).stdout
    assert pathlib.Path(out.strip().splitlines()[-1]).read_bytes() == BINARY
    out = cli("download", "--run-id", run_id, "--artifact-path", "all", "--dst-path", str(tmp_path / "b")).stdout
    assert files_below(out.strip().splitlines()[-1]) == {"b.pkl": BINARY, "sub/c.txt": b"c\n"}

    missing = cli("download", "--run-id", run_id, "--artifact-path", "nope.txt", "--dst-path", str(tmp_path / "c"), check=False)
    assert missing.returncode != 0


def test_the_artifacts_cli_downloads_by_uri_outside_runs(source_tree, tmp_path):
    folder = f"cli-{uuid.uuid4().hex}"
    get_artifact_repository(f"mlflow-artifacts:/{folder}").log_artifacts(str(source_tree))
    out = cli("download", "--artifact-uri", f"mlflow-artifacts:/{folder}", "--dst-path", str(tmp_path / "d")).stdout
    assert files_below(out.strip().splitlines()[-1]) == {"b.pkl": BINARY, "sub/c.txt": b"c\n"}


def test_download_artifacts_of_a_run_by_run_id_and_by_uri(client, experiment_id, source_tree, tmp_path):
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(source_tree), "model")
    by_id = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model", dst_path=str(tmp_path / "a"))
    by_runs_uri = mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model", dst_path=str(tmp_path / "b"))
    by_uri = mlflow.artifacts.download_artifacts(f"{run.info.artifact_uri}/model", dst_path=str(tmp_path / "c"))
    expected = {"b.pkl": BINARY, "sub/c.txt": b"c\n"}
    assert files_below(by_id) == files_below(by_runs_uri) == files_below(by_uri) == expected
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/model/sub/c.txt") == "c\n"


def test_a_logged_models_files_are_where_mlflow_puts_them(client, experiment_id, source_tree, tmp_path):
    run_id = client.create_run(experiment_id).info.run_id
    model = client.create_logged_model(experiment_id, name="clf", source_run_id=run_id)
    assert model.artifact_location == f"mlflow-artifacts:/{experiment_id}/models/{model.model_id}/artifacts"
    client.log_model_artifacts(model.model_id, str(source_tree))

    got = mlflow.artifacts.download_artifacts(artifact_uri=model.artifact_location, dst_path=str(tmp_path / "a"))
    assert files_below(got) == {"b.pkl": BINARY, "sub/c.txt": b"c\n"}
    by_path = requests.get(
        proxy_url(f"{experiment_id}/models/{model.model_id}/artifacts/sub/c.txt"), timeout=30, auth=HTTP_AUTH
    )
    assert by_path.status_code == 200 and by_path.content == b"c\n"
    via_models_uri = mlflow.artifacts.download_artifacts(f"models:/{model.model_id}", dst_path=str(tmp_path / "b"))
    assert files_below(via_models_uri) == {"b.pkl": BINARY, "sub/c.txt": b"c\n"}

    # A model logged without a run keeps its files there too.
    loose = client.create_logged_model(experiment_id, name="loose")
    client.log_model_artifacts(loose.model_id, str(source_tree))
    got = mlflow.artifacts.download_artifacts(artifact_uri=loose.artifact_location, dst_path=str(tmp_path / "c"))
    assert files_below(got) == {"b.pkl": BINARY, "sub/c.txt": b"c\n"}


def test_an_experiment_keeps_its_own_artifact_location(client, source_tree, tmp_path):
    location = f"mlflow-artifacts:/team-{uuid.uuid4().hex}/vision"
    experiment_id = client.create_experiment(unique_name(), artifact_location=location)
    assert client.get_experiment(experiment_id).artifact_location == location

    run = client.create_run(experiment_id).info
    assert run.artifact_uri == f"{location}/{run.run_id}/artifacts"
    assert client.get_run(run.run_id).info.artifact_uri == run.artifact_uri
    client.log_artifacts(run.run_id, str(source_tree), "out")
    assert [f.path for f in client.list_artifacts(run.run_id, "out")] == ["out/b.pkl", "out/sub"]
    got = mlflow.artifacts.download_artifacts(run_id=run.run_id, artifact_path="out", dst_path=str(tmp_path))
    assert files_below(got) == {"b.pkl": BINARY, "sub/c.txt": b"c\n"}
    found = client.search_runs([experiment_id])
    assert [r.info.artifact_uri for r in found] == [run.artifact_uri]


def test_a_runs_uri_is_no_artifact_location(client):
    with pytest.raises(MlflowException) as raised:
        client.create_experiment(unique_name(), artifact_location="runs:/abc/model")
    assert error_code(raised) == "INVALID_PARAMETER_VALUE"
    assert "runs:/" in raised.value.message


@pytest.mark.ets_only
def test_a_location_outside_the_store_is_refused_clearly(client):
    """MLflow lets clients write such locations directly, past the server; ETS keeps every
    artifact in its store, so it says so instead of accepting a location it will not use."""
    with pytest.raises(MlflowException) as raised:
        client.create_experiment(unique_name(), artifact_location="s3://someone-elses-bucket/x")
    assert error_code(raised) == "INVALID_PARAMETER_VALUE"
    assert "outside ETS's artifact store" in raised.value.message
    assert "mlflow-artifacts:/" in raised.value.message
