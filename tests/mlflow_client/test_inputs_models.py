"""Dataset inputs (log_input + datasets.* search filters) and MLflow 3 logged models."""

import json
import pathlib

import mlflow
import pytest
from conftest import error_code
from mlflow.data.dataset import Dataset
from mlflow.data.http_dataset_source import HTTPDatasetSource
from mlflow.entities import DatasetInput, InputTag, LoggedModelStatus
from mlflow.entities import Dataset as DatasetEntity
from mlflow.exceptions import MlflowException


class UrlDataset(Dataset):
    """A metadata-only dataset. mlflow-skinny has no numpy, so MetaDataset (which imports
    mlflow.types.Schema) can't be used; a Dataset subclass is the documented extension point."""

    def __init__(self, url, name, digest, rows):
        self._rows = rows
        super().__init__(source=HTTPDatasetSource(url), name=name, digest=digest)

    def _compute_digest(self):
        return "unused"

    def to_dict(self):
        d = super().to_dict()
        d["profile"] = json.dumps(self.profile)
        return d

    @property
    def profile(self):
        return {"num_rows": self._rows}

    @property
    def schema(self):
        return None


def test_log_input_dataset(client, experiment_id):
    train = UrlDataset("http://127.0.0.1:9/train.csv", "train-set", "d1gest01", 100)
    evals = UrlDataset("http://127.0.0.1:9/eval.csv", "eval-set", "d1gest02", 10)
    with mlflow.start_run() as run:
        mlflow.log_input(train, context="training", tags={"split": "train"})
        mlflow.log_input(evals, context="eval")
        mlflow.log_input(train, context="training", tags={"split": "train"})  # duplicate: deduplicated
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    by_name = {i.dataset.name: i for i in inputs}
    assert sorted(by_name) == ["eval-set", "train-set"]
    assert len(inputs) == 2

    t = by_name["train-set"]
    assert t.dataset.digest == "d1gest01"
    assert t.dataset.source_type == "http"
    assert json.loads(t.dataset.source) == {"url": "http://127.0.0.1:9/train.csv"}
    assert json.loads(t.dataset.profile) == {"num_rows": 100}
    tags = {tag.key: tag.value for tag in t.tags}
    assert tags == {"split": "train", "mlflow.data.context": "training"}
    e_tags = {tag.key: tag.value for tag in by_name["eval-set"].tags}
    assert e_tags == {"mlflow.data.context": "eval"}


def test_search_datasets_summarises_each_dataset_and_context(client, experiment_id):
    """The UI's `experiments/search-datasets`: each (dataset, context) once per experiment."""
    import requests
    from conftest import HTTP_AUTH, TRACKING_URI

    train = UrlDataset("http://127.0.0.1:9/train.csv", "train-set", "d1gest01", 100)
    evals = UrlDataset("http://127.0.0.1:9/eval.csv", "eval-set", "d1gest02", 10)
    for _ in range(2):
        with mlflow.start_run():
            mlflow.log_input(train, context="training")
            mlflow.log_input(evals, context="eval")
    url = f"{TRACKING_URI}/ajax-api/2.0/mlflow/experiments/search-datasets"
    resp = requests.post(url, json={"experiment_ids": [experiment_id]}, timeout=30, auth=HTTP_AUTH)
    assert resp.status_code == 200, resp.text
    summaries = sorted(resp.json()["dataset_summaries"], key=lambda d: d["name"])
    assert summaries == [
        {"experiment_id": experiment_id, "name": "eval-set", "digest": "d1gest02", "context": "eval"},
        {"experiment_id": experiment_id, "name": "train-set", "digest": "d1gest01", "context": "training"},
    ]
    none = requests.post(url, json={"experiment_ids": []}, timeout=30, auth=HTTP_AUTH)
    assert none.status_code == 400, none.text
    assert none.json()["message"] == "SearchDatasets request must specify at least one experiment_id."


def test_client_log_inputs_entities(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    ds = DatasetEntity(
        name="entity-ds",
        digest="abc",
        source_type="local",
        source=json.dumps({"uri": "/data/x.csv"}),
        schema=json.dumps({"mlflow_colspec": [{"name": "x", "type": "double"}]}),
        profile=json.dumps({"num_rows": 3}),
    )
    client.log_inputs(run_id, datasets=[DatasetInput(ds, tags=[InputTag("mlflow.data.context", "test")])])
    (inp,) = client.get_run(run_id).inputs.dataset_inputs
    assert inp.dataset.name == "entity-ds"
    assert inp.dataset.digest == "abc"
    assert inp.dataset.source_type == "local"
    assert json.loads(inp.dataset.schema) == {"mlflow_colspec": [{"name": "x", "type": "double"}]}
    assert [(t.key, t.value) for t in inp.tags] == [("mlflow.data.context", "test")]


def test_search_runs_by_dataset(client, experiment_id):
    with mlflow.start_run() as r1:
        mlflow.log_input(UrlDataset("http://127.0.0.1:9/a.csv", "ds-a", "aaaa", 1), context="training")
    with mlflow.start_run() as r2:
        mlflow.log_input(UrlDataset("http://127.0.0.1:9/b.csv", "ds-b", "bbbb", 1), context="eval")
    with mlflow.start_run() as r3:
        pass

    def found(flt):
        return {r.info.run_id for r in client.search_runs([experiment_id], flt)}

    a, b = r1.info.run_id, r2.info.run_id
    assert found("datasets.name = 'ds-a'") == {a}
    assert found("datasets.name != 'ds-a'") == {b}
    assert found("datasets.name LIKE 'ds-%'") == {a, b}
    assert found("datasets.name IN ('ds-a', 'ds-b')") == {a, b}
    assert found("datasets.digest = 'bbbb'") == {b}
    assert found("datasets.context = 'training'") == {a}
    assert found("datasets.name = 'ds-a' AND datasets.context = 'training'") == {a}
    assert found("datasets.name = 'nope'") == set()
    assert r3.info.run_id in found("")


def test_logged_model_lifecycle(client, experiment_id, tmp_path):
    with mlflow.start_run() as run:
        pass
    run_id = run.info.run_id
    model = client.create_logged_model(
        experiment_id,
        name="my-model",
        source_run_id=run_id,
        tags={"stage": "dev"},
        params={"alpha": "0.5", "depth": 3},
        model_type="test-type",
    )
    assert model.model_id.startswith("m-")
    assert model.name == "my-model"
    assert model.experiment_id == experiment_id
    assert model.source_run_id == run_id
    assert model.status == LoggedModelStatus.PENDING
    assert model.model_type == "test-type"
    assert model.tags == {"stage": "dev"}
    assert model.params == {"alpha": "0.5", "depth": "3"}
    assert model.artifact_location.startswith("mlflow-artifacts:/")
    assert model.artifact_location.endswith(f"/models/{model.model_id}/artifacts")
    assert model.model_uri == f"models:/{model.model_id}"
    assert model.creation_timestamp > 0

    # Upload model files the way log_model does: into the model's artifact location.
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    mlmodel = "artifact_path: model\nflavors: {}\n"
    (src / "MLmodel").write_text(mlmodel)
    (src / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 500)
    client.log_model_artifacts(model.model_id, str(src))
    client.log_model_artifact(model.model_id, str(src / "MLmodel"), artifact_path="copy")
    files = [(f.path, f.is_dir, f.file_size) for f in client.list_logged_model_artifacts(model.model_id)]
    assert files == [("MLmodel", False, len(mlmodel)), ("copy", True, None), ("sub", True, None)]
    sub = [(f.path, f.file_size) for f in client.list_logged_model_artifacts(model.model_id, "sub")]
    assert sub == [("sub/weights.bin", 1000)]
    out = mlflow.artifacts.download_artifacts(artifact_uri=f"{model.artifact_location}/sub/weights.bin", dst_path=str(tmp_path))
    assert pathlib.Path(out).read_bytes() == b"\x00\x01" * 500
    # models:/<id> URIs resolve to the same files.
    out2 = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{model.model_id}", dst_path=str(tmp_path / "m2"))
    assert (pathlib.Path(out2) / "MLmodel").read_text() == mlmodel

    ready = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    assert ready.last_updated_timestamp >= model.creation_timestamp

    client.set_logged_model_tags(model.model_id, {"stage": "prod", "owner": "me"})
    client.delete_logged_model_tag(model.model_id, "owner")

    # Metrics logged with a model_id show up on the model.
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metric("acc", 0.93, step=1, model_id=model.model_id)

    got = client.get_logged_model(model.model_id)
    assert got.status == LoggedModelStatus.READY
    assert got.tags == {"stage": "prod"}
    assert got.params == {"alpha": "0.5", "depth": "3"}
    assert [(m.key, m.value, m.step, m.run_id) for m in got.metrics] == [("acc", 0.93, 1, run_id)]
    assert client.get_run(run_id).data.metrics["acc"] == 0.93

    found = client.search_logged_models([experiment_id])
    assert [m.model_id for m in found] == [model.model_id]
    assert [m.model_id for m in client.search_logged_models([experiment_id], filter_string="name = 'my-model'")] == [model.model_id]
    assert list(client.search_logged_models([experiment_id], filter_string="name = 'other'")) == []


def test_logged_model_fluent_and_failed(client, experiment_id):
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="fluent-model", tags={"k": "v"})
        assert model.status == LoggedModelStatus.PENDING
        assert model.source_run_id == run.info.run_id
        failed = mlflow.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
    assert failed.status == LoggedModelStatus.FAILED
    assert mlflow.get_logged_model(model.model_id).status == LoggedModelStatus.FAILED

    with pytest.raises(MlflowException) as exc:
        client.get_logged_model("m-0123456789abcdef0123456789abcdef")
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"
