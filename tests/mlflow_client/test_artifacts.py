"""Artifacts through the proxied mlflow-artifacts:/ store: upload, list, download, load."""

import hashlib
import os
import pathlib

import mlflow
import mlflow.artifacts
import pytest
from conftest import TARGET
from mlflow.exceptions import MlflowException

BINARY = bytes(range(256)) * 40 + b"\x00\xff tail"  # 10249 bytes, every byte value


def sha(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


@pytest.fixture
def local_tree(tmp_path):
    """tree/a.txt, tree/sub/b.bin, tree/sub/deeper/c.json, tree/with space.txt, plus single.txt."""
    root = tmp_path / "src"
    (root / "tree/sub/deeper").mkdir(parents=True)
    (root / "tree/a.txt").write_text("hello")
    (root / "tree/sub/b.bin").write_bytes(BINARY)
    (root / "tree/sub/deeper/c.json").write_text('{"x": 1}')
    (root / "tree/with space.txt").write_text("spaced")
    (root / "single.txt").write_text("single file\n")
    return root


@pytest.fixture
def run_with_artifacts(experiment_id, local_tree):
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(local_tree / "single.txt"))
        mlflow.log_artifact(str(local_tree / "single.txt"), artifact_path="nested/dir")
        mlflow.log_artifacts(str(local_tree / "tree"), artifact_path="tree")
        mlflow.log_dict({"a": 1, "b": [1, 2], "c": {"d": None}}, "cfg/config.json")
        mlflow.log_dict({"a": 1}, "cfg/config.yaml")
        mlflow.log_text("some text\nwith ünïcode\n", "notes/readme.txt")
    return run.info.run_id


def listing(client, run_id, path=None):
    return [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, path)]


def test_artifact_uri(client, experiment_id):
    with mlflow.start_run() as run:
        uri = mlflow.get_artifact_uri()
        assert mlflow.get_artifact_uri("x/y.txt") == uri + "/x/y.txt"
    assert uri == run.info.artifact_uri
    assert uri.startswith("mlflow-artifacts:/")
    assert run.info.run_id in uri
    assert client.get_run(run.info.run_id).info.artifact_uri == uri


def test_list_artifacts(client, run_with_artifacts):
    run_id = run_with_artifacts
    assert listing(client, run_id) == [
        ("cfg", True, None),
        ("nested", True, None),
        ("notes", True, None),
        ("single.txt", False, 12),
        ("tree", True, None),
    ]
    assert listing(client, run_id, "tree") == [
        ("tree/a.txt", False, 5),
        ("tree/sub", True, None),
        ("tree/with space.txt", False, 6),
    ]
    assert listing(client, run_id, "tree/sub") == [
        ("tree/sub/b.bin", False, len(BINARY)),
        ("tree/sub/deeper", True, None),
    ]
    assert listing(client, run_id, "nested/dir") == [("nested/dir/single.txt", False, 12)]
    cfg = listing(client, run_id, "cfg")
    assert [p for p, _, _ in cfg] == ["cfg/config.json", "cfg/config.yaml"]
    assert all(not is_dir and size > 0 for _, is_dir, size in cfg)
    # Listing a file or a missing path gives an empty list.
    assert listing(client, run_id, "single.txt") == []
    assert listing(client, run_id, "does/not/exist") == []


def test_list_artifacts_of_run_without_artifacts(client, experiment_id):
    with mlflow.start_run() as run:
        pass
    assert client.list_artifacts(run.info.run_id) == []
    assert mlflow.artifacts.list_artifacts(run_id=run.info.run_id) == []


def test_download_single_file_both_ways(client, run_with_artifacts, local_tree, tmp_path):
    run_id = run_with_artifacts
    d1 = tmp_path / "d1"
    d2 = tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    p1 = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="tree/sub/b.bin", dst_path=str(d1))
    p2 = client.download_artifacts(run_id, "tree/sub/b.bin", str(d2))
    # Both resolve runs:/<id>/tree/sub/b.bin and write just b.bin into dst_path.
    assert pathlib.Path(p1) == d1 / "b.bin"
    assert pathlib.Path(p2) == d2 / "b.bin"
    assert pathlib.Path(p1).read_bytes() == BINARY
    assert pathlib.Path(p2).read_bytes() == BINARY

    # Without dst_path the file goes to a fresh temp dir.
    p3 = mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/single.txt")
    assert pathlib.Path(p3).read_text() == "single file\n"
    p4 = client.download_artifacts(run_id, "tree/with space.txt")
    assert pathlib.Path(p4).read_text() == "spaced"


def test_download_directory_both_ways(client, run_with_artifacts, local_tree, tmp_path):
    run_id = run_with_artifacts
    d1 = tmp_path / "d1"
    d2 = tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    p1 = pathlib.Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="tree", dst_path=str(d1)))
    p2 = pathlib.Path(client.download_artifacts(run_id, "tree", str(d2)))

    def files(root):
        return {str(p.relative_to(root)): sha(p) for p in root.rglob("*") if p.is_file()}

    expected = files(local_tree / "tree")
    assert set(expected) == {"a.txt", "sub/b.bin", "sub/deeper/c.json", "with space.txt"}
    assert files(p1) == expected
    assert files(p2) == expected

    # The whole run: every file, every byte.
    everything = pathlib.Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "all")))
    got = files(everything)
    assert got["single.txt"] == sha(local_tree / "single.txt")
    assert got["nested/dir/single.txt"] == sha(local_tree / "single.txt")
    assert got["tree/sub/b.bin"] == sha(local_tree / "tree/sub/b.bin")
    assert {"cfg/config.json", "cfg/config.yaml", "notes/readme.txt"} <= set(got)


def test_load_dict_and_text(run_with_artifacts):
    run_id = run_with_artifacts
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/cfg/config.json") == {"a": 1, "b": [1, 2], "c": {"d": None}}
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt") == "some text\nwith ünïcode\n"
    uri = mlflow.get_run(run_id).info.artifact_uri
    assert mlflow.artifacts.load_text(f"{uri}/tree/a.txt") == "hello"


def test_download_missing_artifact_fails(client, run_with_artifacts, tmp_path):
    with pytest.raises(MlflowException) as exc:
        client.download_artifacts(run_with_artifacts, "nope.txt", str(tmp_path))
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_overwrite_and_empty_file(client, experiment_id, tmp_path):
    f = tmp_path / "f.txt"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with mlflow.start_run() as run:
        f.write_text("v1")
        mlflow.log_artifact(str(f))
        f.write_text("version 2")
        mlflow.log_artifact(str(f))
        mlflow.log_artifact(str(empty))
    run_id = run.info.run_id
    (empty_info, f_info) = listing(client, run_id)
    assert f_info == ("f.txt", False, 9)
    # MLflow omits file_size 0 from the JSON (proto3 default), so the client reports None.
    assert empty_info[:2] == ("empty.txt", False) and empty_info[2] in (None, 0)
    out = tmp_path / "out"
    out.mkdir()
    assert pathlib.Path(client.download_artifacts(run_id, "f.txt", str(out))).read_text() == "version 2"
    assert os.path.getsize(client.download_artifacts(run_id, "empty.txt", str(out))) == 0


def test_log_artifact_with_client(client, experiment_id, local_tree, tmp_path):
    run_id = client.create_run(experiment_id).info.run_id
    client.log_artifact(run_id, str(local_tree / "single.txt"), artifact_path="c")
    client.log_artifacts(run_id, str(local_tree / "tree" / "sub"))
    client.log_text(run_id, "txt", "t/x.txt")
    client.log_dict(run_id, {"k": "v"}, "t/d.json")
    assert listing(client, run_id) == [
        ("b.bin", False, len(BINARY)),
        ("c", True, None),
        ("deeper", True, None),
        ("t", True, None),
    ]
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/t/d.json") == {"k": "v"}


def test_large_file_through_proxy_multipart_upload(client, experiment_id, tmp_path, monkeypatch):
    """MLflow's proxied multipart upload (create, parallel part PUTs, complete). ETS joins the
    parts into the artifact; a server whose store cannot do multipart (MLflow with a local
    folder) makes the client fall back to one PUT. Either way the bytes come back identical."""
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(1024**2))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(1024**2))
    completed = []
    original = HttpArtifactRepository.complete_multipart_upload

    def spy(self, *args, **kwargs):
        completed.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HttpArtifactRepository, "complete_multipart_upload", spy)
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(3 * 1024**2 + 12345))  # four parts, the last one short
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big), artifact_path="model")
    run_id = run.info.run_id
    if TARGET == "ets":
        assert len(completed) == 1, "ETS accepts multipart uploads"
    assert listing(client, run_id, "model") == [("model/weights.bin", False, big.stat().st_size)]
    out = tmp_path / "out"
    out.mkdir()
    got = pathlib.Path(client.download_artifacts(run_id, "model/weights.bin", str(out)))
    assert sha(got) == sha(big)


def test_the_ui_upload_route_stores_a_small_file_in_the_run(client, experiment_id, tmp_path):
    """`POST /ajax-api/2.0/mlflow/upload-artifact` (the UI's upload button): at most 10 MB."""
    import requests
    from conftest import HTTP_AUTH, TRACKING_URI

    run_id = client.create_run(experiment_id).info.run_id
    url = f"{TRACKING_URI}/ajax-api/2.0/mlflow/upload-artifact"
    resp = requests.post(
        url, params={"run_uuid": run_id, "path": "notes/ui.bin"}, data=BINARY, timeout=30, auth=HTTP_AUTH
    )
    assert resp.status_code == 200, resp.text
    assert [f.path for f in client.list_artifacts(run_id, "notes")] == ["notes/ui.bin"]
    local = client.download_artifacts(run_id, "notes/ui.bin", str(tmp_path))
    assert pathlib.Path(local).read_bytes() == BINARY

    missing = requests.post(url, params={"path": "x.txt"}, data=b"x", timeout=30, auth=HTTP_AUTH)
    assert missing.status_code == 400 and missing.json()["message"] == "Request must specify run_uuid."
    empty = requests.post(url, params={"run_uuid": run_id, "path": "x.txt"}, data=b"", timeout=30, auth=HTTP_AUTH)
    assert empty.status_code == 400 and empty.json()["message"] == "Request must specify data."


def test_proxy_downloads_are_labelled_by_file_name_as_mlflow_labels_them(client, experiment_id):
    """Whatever type the uploader claimed: MLmodel and .json as text, .pkl as bytes, .png as an image."""
    import requests
    from conftest import HTTP_AUTH, TRACKING_URI

    run = client.create_run(experiment_id).info
    base = f"{TRACKING_URI}/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run.run_id}/artifacts"
    expected = {
        "MLmodel": "text/plain",
        "data.json": "text/plain",
        "model.pkl": "application/octet-stream",
        "plot.png": "image/png",
    }
    for name in expected:
        put = requests.put(
            f"{base}/{name}", data=b"bytes", headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=30, auth=HTTP_AUTH,
        )
        assert put.status_code == 200, put.text
    for name, content_type in expected.items():
        got = requests.get(f"{base}/{name}", timeout=30, auth=HTTP_AUTH)
        assert got.status_code == 200 and got.content == b"bytes", name
        assert got.headers["content-type"].split(";")[0] == content_type, (name, got.headers["content-type"])
