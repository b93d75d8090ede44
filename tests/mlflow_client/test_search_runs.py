"""search_runs: filters, ordering, pagination, view types, errors."""

import time

import mlflow
import pytest
from conftest import error_code
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

# name: (acc, val acc, lr, tag t, status)
RUNS = {
    "alpha": (0.9, 0.85, "0.01", "v", "FINISHED"),
    "beta": (0.4, 0.35, "0.1", "v", "FINISHED"),
    "gamma": (0.7, 0.75, "0.01", "w", "FAILED"),
    "delta": (0.6, None, "0.001", "w", "FINISHED"),
    "Epsilon": (None, 0.5, "0.1", None, "RUNNING"),
}


@pytest.fixture
def runs(client, experiment_id):
    """Five runs with varied metrics/params/tags/statuses; returns {run_name: run_id}."""
    ids = {}
    # Explicit, distinct start times keep the start_time orderings deterministic.
    start = int(time.time() * 1000) - 60_000
    for i, (name, (acc, val_acc, lr, t, status)) in enumerate(RUNS.items()):
        run = client.create_run(experiment_id, run_name=name, start_time=start + i * 1000)
        run_id = run.info.run_id
        metrics = {}
        if acc is not None:
            metrics["acc"] = acc
        if val_acc is not None:
            metrics["val acc"] = val_acc
        for key, value in metrics.items():
            client.log_metric(run_id, key, value, step=0)
        client.log_param(run_id, "lr", lr)
        client.log_param(run_id, "model.type", "cnn" if name in ("alpha", "gamma") else "mlp")
        if t is not None:
            client.set_tag(run_id, "t", t)
        if status != "RUNNING":
            client.set_terminated(run_id, status=status)
        ids[name] = run_id
    return ids


def names(runs_found, ids):
    by_id = {v: k for k, v in ids.items()}
    return [by_id[r.info.run_id] for r in runs_found]


def search(client, experiment_id, ids, filter_string="", order_by=None, **kwargs):
    found = client.search_runs([experiment_id], filter_string, order_by=order_by, **kwargs)
    return names(found, ids)


FILTER_CASES = [
    ("metrics.acc > 0.5", {"alpha", "gamma", "delta"}),
    ("metrics.acc >= 0.7", {"alpha", "gamma"}),
    ("metrics.acc < 0.5", {"beta"}),
    ("metrics.acc <= 0.4", {"beta"}),
    ("metrics.acc = 0.9", {"alpha"}),
    ("metrics.acc != 0.9", {"beta", "gamma", "delta"}),
    ("metrics.`val acc` > 0.6", {"alpha", "gamma"}),
    ("params.lr = '0.01'", {"alpha", "gamma"}),
    ("params.lr != '0.01'", {"beta", "delta", "Epsilon"}),
    ("params.`model.type` = 'cnn'", {"alpha", "gamma"}),
    ("params.lr LIKE '0.0%'", {"alpha", "gamma", "delta"}),
    ('params.lr = "0.1"', {"beta", "Epsilon"}),
    ("tags.t = 'v'", {"alpha", "beta"}),
    ("tags.t != 'v'", {"gamma", "delta"}),
    ("tags.`t` = 'w'", {"gamma", "delta"}),
    ("attributes.status = 'FINISHED'", {"alpha", "beta", "delta"}),
    ("attributes.status != 'FINISHED'", {"gamma", "Epsilon"}),
    ("status = 'RUNNING'", {"Epsilon"}),
    ("attributes.run_name = 'gamma'", {"gamma"}),
    ("run_name = 'gamma'", {"gamma"}),
    ("tags.mlflow.runName = 'beta'", {"beta"}),
    ("attributes.run_name LIKE '%lta'", {"delta"}),
    ("attributes.run_name LIKE 'epsilon'", set()),
    ("attributes.run_name ILIKE 'epsilon'", {"Epsilon"}),
    ("attributes.run_name ILIKE '%A'", {"alpha", "beta", "gamma", "delta"}),
    ("params.lr = '0.01' AND metrics.acc > 0.8", {"alpha"}),
    ("params.lr = '0.1' and tags.t = 'v'", {"beta"}),
    ("metrics.acc > 0.5 AND metrics.`val acc` > 0.5 AND params.`model.type` = 'cnn'", {"alpha", "gamma"}),
    ("attributes.start_time > 0", set(RUNS)),
    ("attributes.end_time > 0", {"alpha", "beta", "gamma", "delta"}),
    ("metrics.missing > 0", set()),
    ("", set(RUNS)),
]


def test_search_runs_filters(client, experiment_id, runs):
    """Every filter in FILTER_CASES over the same five runs (one test: creating the runs is the
    slow part); all mismatches are reported together."""
    mismatches = []
    for filter_string, expected in FILTER_CASES:
        try:
            got = set(search(client, experiment_id, runs, filter_string))
        except MlflowException as e:
            got = f"{e.error_code}: {e.message[:200]}"
        if got != expected:
            mismatches.append(f"{filter_string!r}: expected {sorted(expected)}, got {got}")
    assert not mismatches, "\n".join(mismatches)


def test_search_runs_by_run_id_in(client, experiment_id, runs):
    wanted = [runs["alpha"], runs["delta"]]
    flt = "attributes.run_id IN ({})".format(", ".join(f"'{r}'" for r in wanted))
    assert set(search(client, experiment_id, runs, flt)) == {"alpha", "delta"}
    assert search(client, experiment_id, runs, f"attributes.run_id = '{runs['beta']}'") == ["beta"]
    assert set(search(client, experiment_id, runs, f"attributes.run_id NOT IN ('{runs['beta']}')")) == set(RUNS) - {"beta"}


def test_search_runs_order_by(client, experiment_id, runs):
    # Runs missing the sort key come last, in either direction.
    assert search(client, experiment_id, runs, order_by=["metrics.acc DESC"]) == ["alpha", "gamma", "delta", "beta", "Epsilon"]
    assert search(client, experiment_id, runs, order_by=["metrics.acc ASC"]) == ["beta", "delta", "gamma", "alpha", "Epsilon"]
    assert search(client, experiment_id, runs, order_by=["metrics.`val acc` DESC"]) == ["alpha", "gamma", "Epsilon", "beta", "delta"]
    # Params are strings and compare as strings.
    assert search(client, experiment_id, runs, order_by=["params.lr ASC", "metrics.acc DESC"]) == [
        "delta",
        "alpha",
        "gamma",
        "beta",
        "Epsilon",
    ]
    assert search(client, experiment_id, runs, order_by=["params.lr DESC", "attributes.run_name ASC"]) == [
        "Epsilon",
        "beta",
        "alpha",
        "gamma",
        "delta",
    ]
    assert search(client, experiment_id, runs, order_by=["tags.t ASC", "run_name DESC"]) == ["beta", "alpha", "gamma", "delta", "Epsilon"]
    # Creation order: the fixture created alpha..Epsilon one after the other.
    assert search(client, experiment_id, runs, order_by=["attributes.start_time ASC"]) == list(RUNS)
    assert search(client, experiment_id, runs, order_by=["attributes.start_time DESC"]) == list(reversed(RUNS))
    # Default order: newest first.
    assert search(client, experiment_id, runs) == list(reversed(RUNS))


def test_search_runs_returns_full_runs(client, experiment_id, runs):
    (alpha,) = client.search_runs([experiment_id], "attributes.run_name = 'alpha'")
    assert alpha.info.run_id == runs["alpha"]
    assert alpha.info.experiment_id == experiment_id
    assert alpha.info.status == "FINISHED"
    assert alpha.data.metrics == {"acc": 0.9, "val acc": 0.85}
    assert alpha.data.params == {"lr": "0.01", "model.type": "cnn"}
    assert alpha.data.tags["t"] == "v"
    assert alpha.data.tags["mlflow.runName"] == "alpha"


def test_fluent_search_runs_list(client, experiment_id, runs):
    found = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string="metrics.acc > 0.5",
        order_by=["metrics.acc DESC"],
        output_format="list",
    )
    assert names(found, runs) == ["alpha", "gamma", "delta"]
    by_name = mlflow.search_runs(experiment_names=[client.get_experiment(experiment_id).name], output_format="list")
    assert len(by_name) == len(RUNS)
    assert len(mlflow.search_runs([experiment_id], max_results=2, output_format="list")) == 2


def test_search_runs_pagination(client, experiment_id):
    run_ids = []
    for i in range(12):
        run = client.create_run(experiment_id, run_name=f"r{i:02d}")
        client.log_metric(run.info.run_id, "i", float(i))
        run_ids.append(run.info.run_id)

    for order_by in (None, ["metrics.i DESC"], ["attributes.run_name ASC"]):
        seen = []
        sizes = []
        token = None
        while True:
            page = client.search_runs([experiment_id], "", max_results=5, page_token=token, order_by=order_by)
            sizes.append(len(page))
            seen.extend(r.info.run_id for r in page)
            token = page.token
            if not token:
                break
        assert sizes == [5, 5, 2]
        assert sorted(seen) == sorted(run_ids)  # every run exactly once
        if order_by == ["metrics.i DESC"]:
            assert seen == list(reversed(run_ids))
        if order_by == ["attributes.run_name ASC"]:
            assert seen == run_ids

    # Exactly one full page: MLflow hands out no token; a server that does must then answer
    # an empty page.
    page = client.search_runs([experiment_id], "", max_results=12)
    assert len(page) == 12
    if page.token:
        assert len(client.search_runs([experiment_id], "", max_results=12, page_token=page.token)) == 0


def test_search_runs_view_type(client, experiment_id, runs):
    client.delete_run(runs["beta"])
    assert set(search(client, experiment_id, runs)) == set(RUNS) - {"beta"}
    assert search(client, experiment_id, runs, run_view_type=ViewType.DELETED_ONLY) == ["beta"]
    assert set(search(client, experiment_id, runs, run_view_type=ViewType.ALL)) == set(RUNS)
    client.restore_run(runs["beta"])
    assert search(client, experiment_id, runs, run_view_type=ViewType.DELETED_ONLY) == []
    assert set(search(client, experiment_id, runs, run_view_type=ViewType.ACTIVE_ONLY)) == set(RUNS)


def test_search_runs_over_several_experiments(client, exp_name):
    e1 = client.create_experiment(exp_name + "-1")
    e2 = client.create_experiment(exp_name + "-2")
    r1 = client.create_run(e1).info.run_id
    r2 = client.create_run(e2).info.run_id
    found = {r.info.run_id for r in client.search_runs([e1, e2])}
    assert found == {r1, r2}
    assert [r.info.run_id for r in client.search_runs([e2])] == [r2]


@pytest.mark.parametrize(
    "filter_string",
    [
        "metrics.acc >> 1",
        "metrics.acc > 'high'",
        "params.lr = 0.01",
        "params.lr",
        "foo.bar = 'x'",
        "attributes.nonexistent = 'x'",
    ],
)
def test_search_runs_malformed_filter(client, experiment_id, filter_string):
    with pytest.raises(MlflowException) as exc:
        client.search_runs([experiment_id], filter_string)
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"


# (MLflow answers a duplicated order_by key with HTTP 500, which the client retries for minutes:
# not tested.)
@pytest.mark.parametrize("order_by", [["metrics.acc SIDEWAYS"], ["nope.x ASC"]])
def test_search_runs_bad_order_by(client, experiment_id, order_by):
    with pytest.raises(MlflowException) as exc:
        client.search_runs([experiment_id], "", order_by=order_by)
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_search_runs_bad_page_token(client, experiment_id):
    with pytest.raises(MlflowException) as exc:
        client.search_runs([experiment_id], "", page_token="not-a-token")
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"
