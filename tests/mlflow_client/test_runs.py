"""Run lifecycle through the fluent API and MlflowClient: start/end, status, names, nesting,
resuming, delete/restore."""

import time

import mlflow
import pytest
from conftest import error_code
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException


def now_ms():
    return int(time.time() * 1000)


def test_start_and_end_run(client, experiment_id):
    before = now_ms()
    with mlflow.start_run(run_name="my-run") as run:
        run_id = run.info.run_id
        assert mlflow.active_run().info.run_id == run_id
        assert run.info.experiment_id == experiment_id
        assert run.info.run_name == "my-run"
        assert run.info.status == "RUNNING"
        assert run.info.lifecycle_stage == "active"
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        live = client.get_run(run_id)
        assert live.info.status == "RUNNING"
        assert live.info.end_time is None
    assert mlflow.active_run() is None

    done = client.get_run(run_id)
    assert done.info.run_id == run_id
    assert done.info.run_name == "my-run"
    assert done.data.tags["mlflow.runName"] == "my-run"
    assert done.info.status == "FINISHED"
    assert before - 1000 <= done.info.start_time <= done.info.end_time <= now_ms() + 1000
    assert done.info.experiment_id == experiment_id
    # The fluent API records the user and source as system tags.
    assert "mlflow.user" in done.data.tags
    assert "mlflow.source.name" in done.data.tags
    assert done.data.tags["mlflow.source.type"] == "LOCAL"


def test_run_name_generated_when_missing(client, experiment_id):
    with mlflow.start_run() as run:
        pass
    got = client.get_run(run.info.run_id)
    assert got.info.run_name
    assert got.data.tags["mlflow.runName"] == got.info.run_name


def test_end_run_with_status_failed(client, experiment_id):
    run = mlflow.start_run()
    mlflow.end_run(status="FAILED")
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FAILED"
    assert got.info.end_time is not None
    assert mlflow.active_run() is None


def test_exception_in_context_manager_marks_run_failed(client, experiment_id):
    with pytest.raises(ZeroDivisionError):
        with mlflow.start_run() as run:
            1 / 0  # noqa: B018
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_nested_runs(client, experiment_id):
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child", nested=True) as child:
            assert mlflow.active_run().info.run_id == child.info.run_id
            with mlflow.start_run(run_name="grandchild", nested=True) as grandchild:
                pass
            assert mlflow.active_run().info.run_id == child.info.run_id
        assert mlflow.active_run().info.run_id == parent.info.run_id
    assert mlflow.active_run() is None

    p = client.get_run(parent.info.run_id)
    c = client.get_run(child.info.run_id)
    g = client.get_run(grandchild.info.run_id)
    assert "mlflow.parentRunId" not in p.data.tags
    assert c.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert g.data.tags["mlflow.parentRunId"] == child.info.run_id
    assert [r.info.status for r in (p, c, g)] == ["FINISHED"] * 3

    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert [r.info.run_id for r in children] == [child.info.run_id]


def test_a_parent_run_tag_is_only_a_tag(client, experiment_id):
    """`mlflow.parentRunId` naming a run that does not exist (e.g. logged on another server, or
    deleted for good) is accepted and kept, as MLflow keeps any tag."""
    missing = "0" * 32
    run = client.create_run(experiment_id, tags={"mlflow.parentRunId": missing})
    assert client.get_run(run.info.run_id).data.tags["mlflow.parentRunId"] == missing
    found = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{missing}'")
    assert [r.info.run_id for r in found] == [run.info.run_id]


def test_start_run_while_active_requires_nested(experiment_id):
    with mlflow.start_run():
        with pytest.raises(Exception, match="already active"):
            mlflow.start_run()


def test_resume_finished_run(client, experiment_id):
    with mlflow.start_run(run_name="resumable") as run:
        mlflow.log_param("first", "1")
    run_id = run.info.run_id
    assert client.get_run(run_id).info.status == "FINISHED"

    with mlflow.start_run(run_id=run_id) as resumed:
        assert resumed.info.run_id == run_id
        assert resumed.info.run_name == "resumable"
        assert client.get_run(run_id).info.status == "RUNNING"
        mlflow.log_param("second", "2")
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"first": "1", "second": "2"}


def test_active_run_and_last_active_run(experiment_id):
    assert mlflow.active_run() is None
    run = mlflow.start_run()
    assert mlflow.active_run().info.run_id == run.info.run_id
    mlflow.end_run()
    assert mlflow.active_run() is None
    last = mlflow.last_active_run()
    assert last.info.run_id == run.info.run_id
    assert last.info.status == "FINISHED"


def test_client_create_run_and_set_terminated(client, experiment_id):
    run = client.create_run(experiment_id, run_name="client-run", tags={"origin": "client"})
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"
    assert run.info.run_name == "client-run"
    assert run.data.tags["origin"] == "client"

    client.set_terminated(run_id, status="KILLED")
    got = client.get_run(run_id)
    assert got.info.status == "KILLED"
    assert got.info.end_time is not None
    assert RunStatus.is_terminated(RunStatus.from_string(got.info.status))

    client.update_run(run_id, status="FINISHED", name="renamed-run")
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "renamed-run"
    assert got.data.tags["mlflow.runName"] == "renamed-run"


def test_get_missing_run(client):
    with pytest.raises(MlflowException) as exc:
        client.get_run("0123456789abcdef0123456789abcdef")
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_create_run_in_missing_experiment(client):
    with pytest.raises(MlflowException) as exc:
        client.create_run("987654321")
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_create_run_in_deleted_experiment_is_refused(client, exp_name):
    exp_id = client.create_experiment(exp_name)
    client.delete_experiment(exp_id)
    with pytest.raises(MlflowException) as exc:
        client.create_run(exp_id)
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"
    assert exc.value.get_http_status_code() == 400
    client.restore_experiment(exp_id)
    assert client.create_run(exp_id).info.experiment_id == exp_id


def test_delete_and_restore_run(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    run_id = run.info.run_id
    client.delete_run(run_id)
    got = client.get_run(run_id)  # deleted runs stay readable by id
    assert got.info.lifecycle_stage == "deleted"
    assert got.data.metrics == {"m": 1.0}

    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"

    mlflow.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
