"""Dataset inputs (log_input + datasets.* search filters) and MLflow 3 logged models."""

import json
import pathlib
import time

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


# ---- MLflow 3 metric context, model inputs and outputs, model search (issue 15)

import requests  # noqa: E402
from conftest import HTTP_AUTH, TARGET, TRACKING_URI  # noqa: E402
from mlflow.entities import LoggedModelInput, LoggedModelOutput  # noqa: E402

API = f"{TRACKING_URI}/api/2.0/mlflow"


def _post(path, body):
    return requests.post(f"{API}/{path}", json=body, timeout=30, auth=HTTP_AUTH)


def _get(path, params):
    return requests.get(f"{API}/{path}", params=params, timeout=30, auth=HTTP_AUTH)


def test_metric_dataset_and_model_context(client, experiment_id):
    with mlflow.start_run() as run:
        pass
    run_id = run.info.run_id
    model = client.create_logged_model(experiment_id, source_run_id=run_id)
    client.log_metric(run_id, "acc", 0.8, timestamp=1000, step=1, model_id=model.model_id,
                      dataset_name="eval", dataset_digest="d1")
    client.log_metric(run_id, "acc", 0.9, timestamp=2000, step=2, dataset_name="eval", dataset_digest="d2")
    client.log_metric(run_id, "acc", 0.7, timestamp=3000, step=3)
    resp = _post("runs/log-batch", {"run_id": run_id, "metrics": [
        {"key": "loss", "value": 0.5, "timestamp": 10, "step": 0, "model_id": model.model_id,
         "dataset_name": "train", "dataset_digest": "t1"}]})
    assert resp.status_code == 200, resp.text

    # The model's metrics carry their run, model and dataset.
    got = client.get_logged_model(model.model_id)
    assert sorted((m.key, m.value, m.run_id, m.model_id, m.dataset_name, m.dataset_digest) for m in got.metrics) == [
        ("acc", 0.8, run_id, model.model_id, "eval", "d1"),
        ("loss", 0.5, run_id, model.model_id, "train", "t1"),
    ]
    found = client.search_logged_models([experiment_id])
    assert [(m.key, m.dataset_name) for m in sorted(found[0].metrics, key=lambda m: m.key)] == [
        ("acc", "eval"), ("loss", "train")]

    # runs/get's latest values carry no context, in MLflow as in ETS.
    latest = _get("runs/get", {"run_id": run_id}).json()["run"]["data"]["metrics"]
    assert sorted(latest, key=lambda m: m["key"]) == [
        {"key": "acc", "value": 0.7, "timestamp": 3000, "step": 3},
        {"key": "loss", "value": 0.5, "timestamp": 10, "step": 0},
    ]

    history = _get("metrics/get-history", {"run_id": run_id, "metric_key": "acc"}).json()["metrics"]
    assert [(m["value"], m["step"]) for m in history] == [(0.8, 1), (0.9, 2), (0.7, 3)]
    bulk = _get("metrics/get-history-bulk", {"run_id": run_id, "metric_key": "acc"})
    if TARGET == "ets":
        # ETS keeps each point's context in its histories; MLflow 3.17 drops it there.
        assert [(m.get("model_id"), m.get("dataset_name"), m.get("dataset_digest")) for m in history] == [
            (model.model_id, "eval", "d1"), (None, "eval", "d2"), (None, None, None)]
        points = bulk.json()["metrics"]
        assert [(m["run_id"], m.get("dataset_digest")) for m in points] == [
            (run_id, "d1"), (run_id, "d2"), (run_id, None)]
        assert [h.dataset_name for h in client.get_metric_history(run_id, "acc")] == ["eval", "eval", None]
    else:
        assert all("dataset_name" not in m for m in history)


def test_metric_context_errors(client, experiment_id):
    with mlflow.start_run() as run:
        pass
    run_id = run.info.run_id
    # A dataset is named by both fields (the client checks this too, so plain HTTP).
    for half in ({"dataset_name": "d"}, {"dataset_digest": "x"}):
        resp = _post("runs/log-metric", {"run_id": run_id, "key": "k", "value": 1, "timestamp": 1, **half})
        assert resp.status_code == 400, resp.text
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert resp.json()["message"] == "Both dataset_name and dataset_digest must be provided if one is provided"
        resp = _post("runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "k", "value": 1, "timestamp": 1, "step": 0, **half}]})
        assert resp.status_code == 400, resp.text
    # A metric naming a logged model that does not exist: MLflow's SQL store answers BAD_REQUEST.
    for path, body in (
        ("runs/log-metric", {"run_id": run_id, "key": "k", "value": 1, "timestamp": 1, "model_id": "m-nope"}),
        ("runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": "k", "value": 1, "timestamp": 1, "step": 0, "model_id": "m-nope"}]}),
    ):
        resp = _post(path, body)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error_code"] == "BAD_REQUEST"
        assert "m-nope" in resp.json()["message"]
    # ETS writes a batch whole or not at all; MLflow's log-batch keeps the run's metrics of a
    # batch whose model metric failed.
    assert client.get_run(run_id).data.metrics == ({} if TARGET == "ets" else {"k": 1.0})


def test_run_model_inputs_and_outputs(client, experiment_id):
    with mlflow.start_run() as run:
        pass
    run_id = run.info.run_id
    produced = client.create_logged_model(experiment_id, source_run_id=run_id)
    used = client.create_logged_model(experiment_id)
    client.log_inputs(run_id, models=[LoggedModelInput(used.model_id)])
    client.log_inputs(run_id, models=[LoggedModelInput(used.model_id)])  # again: recorded once
    client.log_outputs(run_id, [LoggedModelOutput(produced.model_id, step=3)])
    got = client.get_run(run_id)
    assert [m.model_id for m in got.inputs.model_inputs] == [used.model_id]
    assert [(m.model_id, m.step) for m in got.outputs.model_outputs] == [(produced.model_id, 3)]
    assert got.inputs.dataset_inputs == []
    raw = _get("runs/get", {"run_id": run_id}).json()["run"]
    assert raw["inputs"]["model_inputs"] == [{"model_id": used.model_id}]
    assert raw["outputs"] == {"model_outputs": [{"model_id": produced.model_id, "step": 3}]}
    # A run without models has no model outputs.
    with mlflow.start_run() as other:
        pass
    assert _get("runs/get", {"run_id": other.info.run_id}).json()["run"]["outputs"] == {}

    resp = _post("runs/outputs", {"run_id": run_id})
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("Missing value for required parameter 'models'.")
    resp = _post("runs/outputs", {"models": [{"model_id": produced.model_id}]})
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("Missing value for required parameter 'run_id'.")


@pytest.mark.ets_only
def test_run_model_links_to_unknown_models_are_refused(client, experiment_id):
    """MLflow records any model id, existing or not; ETS refuses ids of no model."""
    with mlflow.start_run() as run:
        pass
    for path, body in (
        ("runs/outputs", {"run_id": run.info.run_id, "models": [{"model_id": "m-nope", "step": 1}]}),
        ("runs/log-inputs", {"run_id": run.info.run_id, "models": [{"model_id": "m-nope"}]}),
    ):
        resp = _post(path, body)
        assert resp.status_code == 404, resp.text
        assert resp.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                               "message": "Logged model with ID 'm-nope' not found."}
    assert client.get_run(run.info.run_id).inputs.model_inputs == []


def test_search_logged_models_order_datasets_and_pages(client, experiment_id):
    with mlflow.start_run() as run:
        pass
    run_id = run.info.run_id
    a = client.create_logged_model(experiment_id, name="a", params={"lr": "0.1"})
    time.sleep(0.005)  # distinct creation times: ties are broken by id
    b = client.create_logged_model(experiment_id, name="b", params={"lr": "0.2"})
    time.sleep(0.005)
    c = client.create_logged_model(experiment_id, name="c")
    # acc on eval: a 0.5 then 0.9 (latest), b 0.7; on train: a 0.1, b 0.99. c has none.
    for model, value, ts, ds in ((a, 0.5, 1, "eval"), (a, 0.9, 2, "eval"), (b, 0.7, 1, "eval"),
                                 (a, 0.1, 3, "train"), (b, 0.99, 3, "train")):
        client.log_metric(run_id, "acc", value, timestamp=ts, step=0, model_id=model.model_id,
                          dataset_name=ds, dataset_digest=f"{ds}-digest")

    def names(**kwargs):
        return [m.name for m in client.search_logged_models([experiment_id], **kwargs)]

    assert names() == ["c", "b", "a"]  # newest first
    assert names(order_by=[{"field_name": "name"}]) == ["a", "b", "c"]
    assert names(order_by=[{"field_name": "name", "ascending": False}]) == ["c", "b", "a"]
    # By a metric's latest value (on a dataset when named); models without it come last.
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": False,
                            "dataset_name": "eval", "dataset_digest": "eval-digest"}]) == ["a", "b", "c"]
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": True, "dataset_name": "eval"}]) == ["b", "a", "c"]
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": False}]) == ["b", "a", "c"]
    # A metric filter holds when any value of the metric does (on the datasets, if given).
    assert names(filter_string="metrics.acc > 0.8") == ["b", "a"]
    assert names(filter_string="metrics.acc > 0.8",
                 datasets=[{"dataset_name": "eval", "dataset_digest": "eval-digest"}]) == ["a"]
    assert names(filter_string="metrics.acc > 0.8 AND params.lr = '0.1'") == ["a"]
    assert names(datasets=[{"dataset_name": "train", "dataset_digest": "train-digest"}]) == ["b", "a"]
    assert names(datasets=[{"dataset_name": "train", "dataset_digest": "other"}]) == []
    assert names(filter_string="name IN ('a', 'c') AND creation_time > 0") == ["c", "a"]
    assert names(filter_string="name LIKE 'b%'") == ["b"]

    # Pages follow the order asked for.
    page = client.search_logged_models([experiment_id], order_by=[{"field_name": "name"}], max_results=2)
    assert [m.name for m in page] == ["a", "b"] and page.token
    rest = client.search_logged_models([experiment_id], order_by=[{"field_name": "name"}], max_results=2,
                                       page_token=page.token)
    assert [m.name for m in rest] == ["c"] and not rest.token
    # A token pages through the query it came from only.
    resp = _post("logged-models/search", {"experiment_ids": [experiment_id], "filter": "name != 'x'",
                                          "order_by": [{"field_name": "name"}], "page_token": page.token})
    assert resp.status_code == 400, resp.text
    assert resp.json()["message"] == (
        "Filter string in the page token does not match the requested filter string. "
        "Expected: name != 'x'. Found: None"
    )
    resp = _post("logged-models/search", {"experiment_ids": [experiment_id, "0"],
                                          "order_by": [{"field_name": "name"}], "page_token": page.token})
    assert resp.status_code == 400, resp.text
    assert resp.json()["message"] == (
        "Experiment IDs in the page token do not match the requested experiment IDs. "
        f"Expected: ['{experiment_id}', '0']. Found: ['{experiment_id}']"
    )


def test_search_logged_models_errors(experiment_id):
    def error(body):
        resp = _post("logged-models/search", {"experiment_ids": [experiment_id], **body})
        assert resp.status_code == 400, resp.text
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        return resp.json()["message"]

    assert error({"order_by": [{"field_name": "bogus"}]}) == "Invalid order by field name: bogus"
    assert error({"order_by": [{"field_name": "params.x"}]}) == \
        "Invalid order by field name: params.x. Only metrics are supported."
    assert error({"filter": "name = 'a' OR name = 'b'"}) == (
        "Invalid filter string: \"name = 'a' OR name = 'b'\". Expected a list of comparisons separated "
        "by 'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01')."
    )
    assert error({"filter": "name > 'x'"}) == (
        "Invalid comparison operator for attributes.name: '>'. "
        "Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')."
    )
    assert error({"filter": "metrics.acc LIKE 1"}) == (
        "Invalid comparison operator for metrics.acc: 'LIKE'. "
        "Expected one of ('<', '<=', '>', '>=', '=', '!=')."
    )
    assert error({"datasets": [{"dataset_digest": "x"}]}) == \
        "`dataset_name` in the `datasets` clause must be specified."
    assert error({"order_by": [{"ascending": False}]}) == "Invalid order by field name: "
    assert error({"filter": "params.a > 'x'"}) == (
        "Invalid comparison operator for params.a: '>'. "
        "Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')."
    )
    resp = _post("logged-models/search", {})
    assert resp.status_code == 400, resp.text
    assert resp.json()["message"] == (
        "Missing value for required parameter 'experiment_ids'. "
        "See the API docs for more information about request parameters."
    )
    # An empty list is no experiment: nothing is found.
    resp = _post("logged-models/search", {"experiment_ids": []})
    assert resp.status_code == 200, resp.text
    assert resp.json().get("models", []) == []


@pytest.mark.ets_only
def test_logged_model_source_run_must_exist(client, experiment_id):
    """MLflow records any source_run_id; ETS refuses one of no run (the model's files live in
    its source run's artifacts)."""
    with pytest.raises(MlflowException) as exc:
        client.create_logged_model(experiment_id, source_run_id="0" * 32)
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"
    assert str(exc.value.message).endswith(f"Run with id={'0' * 32} not found")
