"""Experiments: the Default experiment, set/create/get, delete/restore, rename, tags, search."""

import mlflow
import pytest
from conftest import error_code, unique_name
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException


def test_default_experiment_exists(client):
    default = client.get_experiment("0")
    assert default.experiment_id == "0"
    assert default.name == "Default"
    assert default.lifecycle_stage == "active"
    assert default.artifact_location.startswith("mlflow-artifacts:/")
    assert default.creation_time > 0

    by_name = client.get_experiment_by_name("Default")
    assert by_name is not None
    assert by_name.experiment_id == "0"

    found = client.search_experiments(filter_string="name = 'Default'")
    assert [e.experiment_id for e in found] == ["0"]


def test_set_experiment_creates_then_reuses(client, exp_name):
    assert client.get_experiment_by_name(exp_name) is None

    created = mlflow.set_experiment(exp_name)
    assert created.name == exp_name
    assert created.lifecycle_stage == "active"
    assert created.experiment_id != "0"
    # With artifact proxying on, experiments get an mlflow-artifacts:/ root.
    assert created.artifact_location.startswith("mlflow-artifacts:/")

    again = mlflow.set_experiment(exp_name)
    assert again.experiment_id == created.experiment_id

    by_id = mlflow.set_experiment(experiment_id=created.experiment_id)
    assert by_id.name == exp_name

    fetched = client.get_experiment_by_name(exp_name)
    assert fetched.experiment_id == created.experiment_id
    assert client.get_experiment(created.experiment_id).name == exp_name

    # Runs started now land in that experiment.
    with mlflow.start_run() as run:
        assert run.info.experiment_id == created.experiment_id


def test_create_experiment_with_tags_and_duplicate_name(client, exp_name):
    exp_id = client.create_experiment(exp_name, tags={"team": "ml", "priority": "1"})
    assert isinstance(exp_id, str)
    exp = client.get_experiment(exp_id)
    assert exp.name == exp_name
    assert exp.tags["team"] == "ml"
    assert exp.tags["priority"] == "1"
    assert exp.last_update_time >= exp.creation_time

    with pytest.raises(MlflowException) as exc:
        client.create_experiment(exp_name)
    assert error_code(exc) == "RESOURCE_ALREADY_EXISTS"


def test_missing_experiment(client):
    with pytest.raises(MlflowException) as exc:
        client.get_experiment("987654321")
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_experiment_by_name(unique_name("missing")) is None


def test_delete_and_restore_experiment(client, exp_name):
    exp_id = client.create_experiment(exp_name)
    client.delete_experiment(exp_id)

    # Still readable by id and name, but marked deleted.
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert client.get_experiment_by_name(exp_name).lifecycle_stage == "deleted"

    flt = f"name = '{exp_name}'"
    assert client.search_experiments(filter_string=flt) == []
    assert [e.experiment_id for e in client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=flt)] == [exp_id]
    assert [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL, filter_string=flt)] == [exp_id]

    # A deleted experiment can't be made active, and its name stays taken.
    with pytest.raises(MlflowException) as exc:
        mlflow.set_experiment(exp_name)
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as exc:
        client.create_experiment(exp_name)
    assert error_code(exc) == "RESOURCE_ALREADY_EXISTS"

    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert [e.experiment_id for e in client.search_experiments(filter_string=flt)] == [exp_id]
    assert client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=flt) == []
    assert mlflow.set_experiment(exp_name).experiment_id == exp_id


def test_rename_experiment(client, exp_name):
    exp_id = client.create_experiment(exp_name)
    new_name = unique_name("renamed")
    client.rename_experiment(exp_id, new_name)
    assert client.get_experiment(exp_id).name == new_name
    assert client.get_experiment_by_name(new_name).experiment_id == exp_id
    assert client.get_experiment_by_name(exp_name) is None

    # The old name is free again.
    other = client.create_experiment(exp_name)
    assert other != exp_id

    # Renaming onto a taken name fails as MLflow's SQL store answers it: the UNIQUE constraint
    # error as BAD_REQUEST (HTTP 400).
    with pytest.raises(MlflowException) as exc:
        client.rename_experiment(exp_id, exp_name)
    assert error_code(exc) == "BAD_REQUEST"
    assert exc.value.get_http_status_code() == 400
    assert client.get_experiment(exp_id).name == new_name


def test_deleting_a_deleted_experiment_does_not_find_it(client, exp_name):
    exp_id = client.create_experiment(exp_name)
    client.delete_experiment(exp_id)
    # MLflow looks for the experiment among the active ones.
    with pytest.raises(MlflowException) as exc:
        client.delete_experiment(exp_id)
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"
    assert exc.value.get_http_status_code() == 404
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"


def test_set_experiment_tag(client, exp_name):
    exp_id = client.create_experiment(exp_name, tags={"a": "1"})
    client.set_experiment_tag(exp_id, "b", "2")
    client.set_experiment_tag(exp_id, "a", "overwritten")
    tags = client.get_experiment(exp_id).tags
    assert tags["a"] == "overwritten"
    assert tags["b"] == "2"

    mlflow.set_experiment(experiment_id=exp_id)
    mlflow.set_experiment_tags({"c": 3, "d": "four"})
    tags = client.get_experiment(exp_id).tags
    assert tags["c"] == "3"
    assert tags["d"] == "four"

    client.delete_experiment_tag(exp_id, "b")
    assert "b" not in client.get_experiment(exp_id).tags


@pytest.fixture
def seven_experiments(client):
    """Seven experiments sharing a unique prefix; odd ones tagged team=a, even ones team=b."""
    prefix = unique_name("search")
    ids = []
    for i in range(7):
        ids.append(client.create_experiment(f"{prefix}-{i}", tags={"team": "a" if i % 2 else "b", "idx": str(i)}))
    return prefix, ids


def test_search_experiments_filter_and_order(client, seven_experiments):
    prefix, ids = seven_experiments
    like = f"name LIKE '{prefix}%'"

    by_name = client.search_experiments(filter_string=like, order_by=["name ASC"])
    assert [e.name for e in by_name] == [f"{prefix}-{i}" for i in range(7)]
    by_name_desc = client.search_experiments(filter_string=like, order_by=["name DESC"])
    assert [e.name for e in by_name_desc] == [f"{prefix}-{i}" for i in reversed(range(7))]

    # Default order: newest first (creation_time DESC).
    default = client.search_experiments(filter_string=like)
    assert sorted(e.experiment_id for e in default) == sorted(ids)
    times = [e.creation_time for e in default]
    assert times == sorted(times, reverse=True)

    team_a = client.search_experiments(filter_string=f"{like} AND tags.team = 'a'", order_by=["name ASC"])
    assert [e.name for e in team_a] == [f"{prefix}-{i}" for i in (1, 3, 5)]
    assert all(e.tags["team"] == "a" for e in team_a)

    exact = client.search_experiments(filter_string=f"name = '{prefix}-4'")
    assert [e.experiment_id for e in exact] == [ids[4]]

    ilike = client.search_experiments(filter_string=f"name ILIKE '{prefix.upper()}-%'", order_by=["name ASC"])
    assert len(ilike) == 7

    not_equal = client.search_experiments(filter_string=f"{like} AND name != '{prefix}-0'")
    assert len(not_equal) == 6

    tag_like = client.search_experiments(filter_string=f"{like} AND tags.idx LIKE '%3'")
    assert [e.name for e in tag_like] == [f"{prefix}-3"]

    by_id = client.search_experiments(filter_string=like, order_by=["experiment_id ASC"])
    assert len(by_id) == 7


def test_search_experiments_pagination(client, seven_experiments):
    prefix, ids = seven_experiments
    like = f"name LIKE '{prefix}%'"
    seen = []
    page_sizes = []
    token = None
    while True:
        page = client.search_experiments(filter_string=like, max_results=3, page_token=token, order_by=["name ASC"])
        page_sizes.append(len(page))
        seen.extend(e.name for e in page)
        token = page.token
        if not token:
            break
    assert page_sizes == [3, 3, 1]
    assert seen == [f"{prefix}-{i}" for i in range(7)]

    # The fluent search_experiments returns every result (it pages internally).
    assert len(mlflow.search_experiments(filter_string=like)) == 7
    assert len(mlflow.search_experiments(filter_string=like, max_results=2)) == 2


def test_search_experiments_view_type(client, seven_experiments):
    prefix, ids = seven_experiments
    like = f"name LIKE '{prefix}%'"
    client.delete_experiment(ids[0])
    client.delete_experiment(ids[1])
    active = {e.experiment_id for e in client.search_experiments(filter_string=like)}
    deleted = {e.experiment_id for e in client.search_experiments(filter_string=like, view_type=ViewType.DELETED_ONLY)}
    everything = {e.experiment_id for e in client.search_experiments(filter_string=like, view_type=ViewType.ALL)}
    assert active == set(ids[2:])
    assert deleted == set(ids[:2])
    assert everything == set(ids)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"order_by": ["bogus DESC"]},
        {"filter_string": "name LIKE"},
        {"filter_string": "nme = 'x'"},
        {"max_results": 50001},
        {"page_token": "not-a-token"},
    ],
    ids=["bad-order-key", "incomplete-filter", "unknown-attribute", "max-results-too-big", "bad-page-token"],
)
def test_search_experiments_invalid_arguments(client, kwargs):
    with pytest.raises(MlflowException) as exc:
        client.search_experiments(**kwargs)
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"
