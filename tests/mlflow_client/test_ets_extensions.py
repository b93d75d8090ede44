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
