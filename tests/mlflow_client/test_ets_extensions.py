"""Where ETS deliberately differs from MLflow 3.17.

* `ets_only` tests check ETS's extensions and are skipped against the MLflow server.
* `mlflow_only` tests pin down what MLflow itself does in the same situation (checked against
  the real server), so the difference stays visible; they are skipped against ETS.
"""

import mlflow
import pytest
from conftest import error_code, unique_name
from mlflow.exceptions import MlflowException

# name: (acc, lr, tag t)
RUNS = {
    "a": (0.9, "0.01", "v"),
    "b": (0.4, "0.1", "v"),
    "c": (0.7, "0.01", "w"),
    "d": (0.6, "0.001", "x"),
}

OR_FILTER = "tags.t = 'v' OR tags.t = 'w'"
PAREN_FILTER = "(params.lr = '0.01' OR params.lr = '0.1') AND metrics.acc > 0.5"


@pytest.fixture
def runs(client, experiment_id):
    ids = {}
    for name, (acc, lr, t) in RUNS.items():
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        client.log_metric(run_id, "acc", acc)
        client.log_param(run_id, "lr", lr)
        client.set_tag(run_id, "t", t)
        ids[run_id] = name
    return ids


def found(client, experiment_id, ids, flt):
    return {ids[r.info.run_id] for r in client.search_runs([experiment_id], flt)}


# ---- filters: OR and parentheses


@pytest.mark.mlflow_only
@pytest.mark.parametrize("flt", [OR_FILTER, PAREN_FILTER, "(metrics.acc > 0.5)"])
def test_mlflow_rejects_or_and_parentheses_in_run_filters(client, experiment_id, flt):
    with pytest.raises(MlflowException) as exc:
        client.search_runs([experiment_id], flt)
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"


@pytest.mark.mlflow_only
def test_mlflow_rejects_or_in_experiment_filters(client):
    with pytest.raises(MlflowException) as exc:
        client.search_experiments(filter_string="name = 'x' OR name = 'y'")
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"


@pytest.mark.ets_only
def test_or_in_run_filters(client, experiment_id, runs):
    assert found(client, experiment_id, runs, OR_FILTER) == {"a", "b", "c"}
    assert found(client, experiment_id, runs, "metrics.acc > 0.8 or params.lr = '0.001'") == {"a", "d"}


@pytest.mark.ets_only
def test_parentheses_in_run_filters(client, experiment_id, runs):
    assert found(client, experiment_id, runs, PAREN_FILTER) == {"a", "c"}
    assert found(client, experiment_id, runs, "(metrics.acc > 0.5)") == {"a", "c", "d"}
    # AND binds tighter than OR
    assert found(client, experiment_id, runs, "tags.t = 'x' OR tags.t = 'v' AND metrics.acc > 0.5") == {"a", "d"}
    assert found(client, experiment_id, runs, "(tags.t = 'x' OR tags.t = 'v') AND metrics.acc > 0.5") == {"a", "d"}
    assert found(client, experiment_id, runs, "(tags.t = 'x' OR tags.t = 'v') AND metrics.acc < 0.5") == {"b"}


@pytest.mark.ets_only
def test_or_in_experiment_filters(client):
    prefix = unique_name("or")
    e1 = client.create_experiment(f"{prefix}-1")
    e2 = client.create_experiment(f"{prefix}-2")
    client.create_experiment(f"{prefix}-3")
    got = client.search_experiments(filter_string=f"name = '{prefix}-1' OR name = '{prefix}-2'")
    assert {e.experiment_id for e in got} == {e1, e2}


# ---- values MLflow accepts but does not keep as sent (issue 10)

import requests  # noqa: E402
from conftest import HTTP_AUTH, TRACKING_URI  # noqa: E402

API = f"{TRACKING_URI}/api/2.0/mlflow"


@pytest.fixture
def rest_run(client, experiment_id):
    return client.create_run(experiment_id).info.run_id


def _post(path, body):
    return requests.post(f"{API}/{path}", json=body, timeout=30, auth=HTTP_AUTH)


def _run(run_id):
    return requests.get(f"{API}/runs/get", params={"run_id": run_id}, timeout=30, auth=HTTP_AUTH).json()["run"]


def _log_long_values(run_id):
    """Logs a 6,001-character param and an 8,001-character tag; returns the stored values."""
    assert _post("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "x" * 6001}).status_code == 200
    assert _post("runs/set-tag", {"run_id": run_id, "key": "t", "value": "y" * 8001}).status_code == 200
    data = _run(run_id)["data"]
    param = next(p["value"] for p in data["params"] if p["key"] == "p")
    tag = next(t["value"] for t in data["tags"] if t["key"] == "t")
    return param, tag


@pytest.mark.ets_only
def test_long_param_and_tag_values_are_kept_whole(rest_run):
    assert _log_long_values(rest_run) == ("x" * 6001, "y" * 8001)


@pytest.mark.mlflow_only
def test_mlflow_cuts_long_param_and_tag_values(rest_run):
    """MLflow 3 cuts params to 6,000 and tags to 8,000 characters (MLFLOW_TRUNCATE_LONG_VALUES)."""
    assert _log_long_values(rest_run) == ("x" * 6000, "y" * 8000)


@pytest.mark.ets_only
def test_fractional_step_and_unknown_status_are_refused(rest_run):
    resp = _post("runs/log-metric", {"run_id": rest_run, "key": "m", "value": 1, "timestamp": 1, "step": 1.5})
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", resp.text
    resp = _post("runs/update", {"run_id": rest_run, "status": "PAUSED"})
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", resp.text
    assert _run(rest_run)["info"]["status"] == "RUNNING"


@pytest.mark.mlflow_only
def test_mlflow_accepts_a_fractional_step_and_an_unknown_status(rest_run):
    resp = _post("runs/log-metric", {"run_id": rest_run, "key": "m", "value": 1, "timestamp": 1, "step": 1.5})
    assert resp.status_code == 200, resp.text
    history = requests.get(
        f"{API}/metrics/get-history",
        params={"run_id": rest_run, "metric_key": "m"},
        timeout=30,
        auth=HTTP_AUTH,
    ).json()["metrics"]
    assert [p["step"] for p in history] == [0]  # the step as sent is lost
    resp = _post("runs/update", {"run_id": rest_run, "status": "PAUSED"})
    assert resp.status_code == 200, resp.text
    assert _run(rest_run)["info"]["status"] == "RUNNING"  # the status as sent is ignored


@pytest.mark.ets_only
def test_blank_keys_are_refused(client, rest_run):
    for key in (" ", "   "):
        with pytest.raises(MlflowException) as exc:
            client.log_param(rest_run, key, "1")
        assert error_code(exc) == "INVALID_PARAMETER_VALUE"


@pytest.mark.ets_only
def test_an_mlflow_endpoint_ets_lacks_is_endpoint_not_found(client):
    """MLflow answers a path it does not know with an HTML page, which the client cannot read;
    ETS answers every unknown MLflow path (the model registry, traces, …) in MLflow's error
    shape, so the client says ENDPOINT_NOT_FOUND."""
    with pytest.raises(MlflowException) as exc_info:
        client.create_registered_model(unique_name("model"))
    assert error_code(exc_info) == "ENDPOINT_NOT_FOUND"
