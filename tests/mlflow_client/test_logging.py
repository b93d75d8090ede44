"""Params, metrics, tags and log_batch: values, history order, latest values, limits, async."""

import math
import sys

import mlflow
import pytest
from conftest import error_code
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

DBL_MAX = sys.float_info.max


def test_params_come_back_as_strings(client, experiment_id):
    with mlflow.start_run() as run:
        assert mlflow.log_param("lr", 0.01) == 0.01
        mlflow.log_param("epochs", 10)
        mlflow.log_param("flag", True)
        mlflow.log_param("none", None)
        mlflow.log_params({"opt": "adam", "layers": [1, 2], "batch": 32})
    params = client.get_run(run.info.run_id).data.params
    assert params == {
        "lr": "0.01",
        "epochs": "10",
        "flag": "True",
        "none": "None",
        "opt": "adam",
        "layers": "[1, 2]",
        "batch": "32",
    }


def test_param_relog_same_value_ok_different_value_fails(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_param("p", "a")
        mlflow.log_param("p", "a")
        mlflow.log_params({"p": "a", "q": "b"})
        with pytest.raises(MlflowException) as exc:
            mlflow.log_param("p", "different")
        assert error_code(exc) == "INVALID_PARAMETER_VALUE"
        with pytest.raises(MlflowException) as exc:
            client.log_batch(run.info.run_id, params=[Param("q", "changed")])
        assert error_code(exc) == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run.info.run_id).data.params == {"p": "a", "q": "b"}


def test_metrics_with_steps_and_timestamps(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 1.5, step=0, timestamp=1_000)
        mlflow.log_metric("loss", 0.5, step=1, timestamp=2_000)
        mlflow.log_metrics({"acc": 0.7, "f1": 0.6}, step=3, timestamp=3_000)
        mlflow.log_metric("int_metric", 7)
    run_id = run.info.run_id
    data = client.get_run(run_id).data
    assert data.metrics == {"loss": 0.5, "acc": 0.7, "f1": 0.6, "int_metric": 7.0}

    history = client.get_metric_history(run_id, "loss")
    assert [(m.key, m.value, m.step, m.timestamp) for m in history] == [
        ("loss", 1.5, 0, 1_000),
        ("loss", 0.5, 1, 2_000),
    ]
    acc = client.get_metric_history(run_id, "acc")
    assert [(m.value, m.step, m.timestamp) for m in acc] == [(0.7, 3, 3_000)]
    # Without a step the client logs step 0 and the current time.
    (im,) = client.get_metric_history(run_id, "int_metric")
    assert im.step == 0 and im.timestamp > 1_600_000_000_000

    assert client.get_metric_history(run_id, "never-logged") == []


def test_metric_history_order_and_latest_value(client, experiment_id):
    """MLflow returns history ordered by (timestamp, step, value), whatever the logging order;
    run.data.metrics holds the value at the max step (ties: later timestamp, then larger value).
    (Points sharing step and timestamp: test_points_sharing_step_and_timestamp_are_all_kept.)"""
    logged = [  # (step, timestamp, value), deliberately out of order
        (3, 2_000, 0.3),
        (1, 3_000, 0.1),
        (5, 1_000, 0.5),
        (1, 2_500, 0.15),
        (0, 4_000, 0.0),
        (2, 2_000, 0.2),
    ]
    with mlflow.start_run() as run:
        for step, ts, value in logged:
            mlflow.log_metric("m", value, step=step, timestamp=ts)
        # same step logged twice: the later timestamp wins even though its value is smaller
        mlflow.log_metric("tie", 9.0, step=4, timestamp=100)
        mlflow.log_metric("tie", 1.0, step=4, timestamp=200)
        mlflow.log_metric("tie", 5.0, step=2, timestamp=300)
    run_id = run.info.run_id

    history = client.get_metric_history(run_id, "m")
    got = [(m.step, m.timestamp, m.value) for m in history]
    assert got == [
        (5, 1_000, 0.5),
        (2, 2_000, 0.2),
        (3, 2_000, 0.3),
        (1, 2_500, 0.15),
        (1, 3_000, 0.1),
        (0, 4_000, 0.0),
    ]
    assert all(m.key == "m" for m in history)

    metrics = client.get_run(run_id).data.metrics
    assert metrics["m"] == 0.5  # max step 5, though logged with the oldest timestamp
    assert metrics["tie"] == 1.0


def test_points_sharing_step_and_timestamp_are_all_kept(client, experiment_id):
    """A point is identified by key, step, timestamp and value: log-batch with two values at
    the same step and timestamp, then log-metric a third, keeps all three (in value order)."""
    with mlflow.start_run() as run:
        pass
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("m", 1.0, 1_000, 1), Metric("m", 2.0, 1_000, 1)],
    )
    client.log_metric(run_id, "m", 3.0, timestamp=1_000, step=1)
    history = client.get_metric_history(run_id, "m")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (1, 1_000, 1.0),
        (1, 1_000, 2.0),
        (1, 1_000, 3.0),
    ]
    assert client.get_run(run_id).data.metrics["m"] == 3.0  # the largest value wins the tie


def test_nan_and_infinity_round_trip(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_metric("nan", float("nan"), step=0)
        mlflow.log_metric("pos_inf", float("inf"))
        mlflow.log_metric("neg_inf", float("-inf"))
        mlflow.log_metrics({"batch_nan": math.nan, "batch_inf": math.inf})
    run_id = run.info.run_id
    metrics = client.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert math.isnan(metrics["batch_nan"])
    # MLflow's SQL store clamps +-inf to +-DBL_MAX; a store keeping real infinities is fine too.
    for key in ("pos_inf", "batch_inf"):
        assert metrics[key] in (math.inf, DBL_MAX), metrics[key]
    assert metrics["neg_inf"] in (-math.inf, -DBL_MAX), metrics["neg_inf"]

    (h,) = client.get_metric_history(run_id, "nan")
    assert math.isnan(h.value)
    (h,) = client.get_metric_history(run_id, "pos_inf")
    assert h.value in (math.inf, DBL_MAX)


def test_nan_is_not_the_latest_when_a_later_step_exists(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_metric("m", float("nan"), step=0)
        mlflow.log_metric("m", 2.0, step=1)
    assert client.get_run(run.info.run_id).data.metrics["m"] == 2.0


def test_tags_set_and_delete(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.set_tag("color", "red")
        mlflow.set_tag("num", 42)
        mlflow.set_tags({"a": "1", "b": 2})
        mlflow.set_tag("color", "blue")  # tags, unlike params, can be overwritten
        mlflow.delete_tag("a")
    run_id = run.info.run_id
    tags = client.get_run(run_id).data.tags
    assert tags["color"] == "blue"
    assert tags["num"] == "42"
    assert tags["b"] == "2"
    assert "a" not in tags

    client.set_tag(run_id, "via-client", "x")
    client.delete_tag(run_id, "b")
    tags = client.get_run(run_id).data.tags
    assert tags["via-client"] == "x"
    assert "b" not in tags

    with pytest.raises(MlflowException) as exc:
        client.delete_tag(run_id, "never-set")
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_async_logging(client, experiment_id):
    with mlflow.start_run() as run:
        ops = [mlflow.log_metric("async_m", float(i), step=i, synchronous=False) for i in range(20)]
        ops.append(mlflow.log_param("async_p", "v", synchronous=False))
        ops.append(mlflow.set_tag("async_t", "t", synchronous=False))
        ops.append(mlflow.log_metrics({"a1": 1.0, "a2": 2.0}, step=7, synchronous=False))
        ops.append(mlflow.log_params({"p1": "1", "p2": "2"}, synchronous=False))
        for op in ops:
            op.wait()
        mlflow.log_metric("flushed", 3.0, synchronous=False)
        mlflow.flush_async_logging()
        data = client.get_run(run.info.run_id).data
        assert data.metrics["flushed"] == 3.0
    run_id = run.info.run_id
    data = client.get_run(run_id).data
    assert data.metrics["async_m"] == 19.0
    assert data.metrics["a1"] == 1.0 and data.metrics["a2"] == 2.0
    assert data.params == {"async_p": "v", "p1": "1", "p2": "2"}
    assert data.tags["async_t"] == "t"
    history = client.get_metric_history(run_id, "async_m")
    assert sorted((m.step, m.value) for m in history) == [(i, float(i)) for i in range(20)]

    batch_op = client.log_batch(run_id, metrics=[Metric("cb", 1.0, 0, 1)], synchronous=False)
    batch_op.wait()
    assert client.get_run(run_id).data.metrics["cb"] == 1.0


def test_log_batch(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("m", 1.0, 1_000, 0), Metric("m", 2.0, 2_000, 1), Metric("n", -1.0, 1_000, 0)],
        params=[Param("p", "v")],
        tags=[RunTag("t", "tv")],
    )
    data = client.get_run(run_id).data
    assert data.metrics == {"m": 2.0, "n": -1.0}
    assert data.params == {"p": "v"}
    assert data.tags["t"] == "tv"
    assert [m.value for m in client.get_metric_history(run_id, "m")] == [1.0, 2.0]


def test_log_batch_1000_and_1001_metrics(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    client.log_batch(run_id, metrics=[Metric(f"k{i}", float(i), 1_000, 0) for i in range(1000)])
    assert len(client.get_run(run_id).data.metrics) == 1000

    # MlflowClient splits a log_batch into requests of at most 1000 metrics, so 1001 metrics
    # through it succeed...
    run2 = client.create_run(experiment_id).info.run_id
    client.log_batch(run2, metrics=[Metric("same", float(i), 1_000 + i, i) for i in range(1001)])
    assert len(client.get_metric_history(run2, "same")) == 1001
    assert client.get_run(run2).data.metrics["same"] == 1000.0

    # ...while one LogBatch request with 1001 metrics (the client's REST store, unsplit) is
    # refused by the server, and nothing of it is stored.
    run3 = client.create_run(experiment_id).info.run_id
    rest_store = client._tracking_client.store
    with pytest.raises(MlflowException) as exc:
        rest_store.log_batch(run3, metrics=[Metric(f"k{i}", 1.0, 1_000, 0) for i in range(1001)], params=[], tags=[])
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"
    assert "1000" in exc.value.message
    assert client.get_run(run3).data.metrics == {}


def test_log_batch_too_long_keys_fail(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    client.log_batch(run_id, params=[Param("k" * 250, "ok")])  # 250 is the limit
    assert client.get_run(run_id).data.params == {"k" * 250: "ok"}

    with pytest.raises(MlflowException) as exc:
        client.log_batch(run_id, params=[Param("p" * 251, "v")])
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as exc:
        client.log_batch(run_id, metrics=[Metric("m" * 251, 1.0, 0, 0)])
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as exc:
        client.set_tag(run_id, "t" * 251, "v")
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_logging_to_missing_run_fails(client):
    missing = "0123456789abcdef0123456789abcdef"
    with pytest.raises(MlflowException) as exc:
        client.log_metric(missing, "m", 1.0)
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as exc:
        client.log_param(missing, "p", "v")
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_logging_to_deleted_run_fails(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as exc:
        client.log_metric(run_id, "m", 1.0)
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"
