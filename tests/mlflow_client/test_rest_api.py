"""Server-side rules the mlflow client can't reach on its own (it splits and validates before
sending), checked with plain HTTP against the same REST endpoints the client uses."""

import json

import pytest
import requests
from conftest import HTTP_AUTH, TRACKING_URI, unique_name

API = f"{TRACKING_URI}/api/2.0/mlflow"


def post(path, body):
    return requests.post(f"{API}/{path}", json=body, timeout=30, auth=HTTP_AUTH)


def get(path, params):
    return requests.get(f"{API}/{path}", params=params, timeout=30, auth=HTTP_AUTH)


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str) and body["message"]


@pytest.fixture
def run_id():
    exp = post("experiments/create", {"name": unique_name("rest")})
    assert exp.status_code == 200, exp.text
    run = post("runs/create", {"experiment_id": exp.json()["experiment_id"], "start_time": 1})
    assert run.status_code == 200, run.text
    return run.json()["run"]["info"]["run_id"]


def metrics(n):
    return [{"key": f"k{i}", "value": float(i), "timestamp": 0, "step": 0} for i in range(n)]


def test_log_batch_limits(run_id):
    assert post("runs/log-batch", {"run_id": run_id, "metrics": metrics(1000)}).status_code == 200
    assert_error(post("runs/log-batch", {"run_id": run_id, "metrics": metrics(1001)}), 400, "INVALID_PARAMETER_VALUE")

    params = [{"key": f"p{i}", "value": "v"} for i in range(101)]
    assert_error(post("runs/log-batch", {"run_id": run_id, "params": params}), 400, "INVALID_PARAMETER_VALUE")
    assert post("runs/log-batch", {"run_id": run_id, "params": params[:100]}).status_code == 200

    tags = [{"key": f"t{i}", "value": "v"} for i in range(101)]
    assert_error(post("runs/log-batch", {"run_id": run_id, "tags": tags}), 400, "INVALID_PARAMETER_VALUE")
    assert post("runs/log-batch", {"run_id": run_id, "tags": tags[:100]}).status_code == 200

    long_key = [{"key": "x" * 251, "value": "v"}]
    assert_error(post("runs/log-batch", {"run_id": run_id, "params": long_key}), 400, "INVALID_PARAMETER_VALUE")

    run = get("runs/get", {"run_id": run_id}).json()["run"]
    assert len(run["data"]["metrics"]) == 1000
    assert len(run["data"]["params"]) == 100


def test_error_statuses(run_id):
    assert_error(get("experiments/get", {"experiment_id": "987654321"}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(get("runs/get", {"run_id": "ab" * 16}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(post("experiments/create", {"name": "Default"}), 400, "RESOURCE_ALREADY_EXISTS")
    assert_error(post("experiments/create", {}), 400, "INVALID_PARAMETER_VALUE")
    assert_error(
        post("runs/log-metric", {"run_id": run_id, "key": "m", "timestamp": 1}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert_error(
        post("runs/log-metric", {"run_id": run_id, "key": "m", "value": "abc", "timestamp": 1}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_nan_and_inf_on_the_wire(run_id):
    """The client sends non-finite values as the JSON strings "NaN"/"Infinity"/"-Infinity"."""
    for key, value in (("n", "NaN"), ("i", "Infinity"), ("ni", "-Infinity")):
        resp = post("runs/log-metric", {"run_id": run_id, "key": key, "value": value, "timestamp": 5, "step": 0})
        assert resp.status_code == 200, resp.text
    hist = get("metrics/get-history", {"run_id": run_id, "metric_key": "n"}).json()["metrics"]
    assert hist == [{"key": "n", "value": "NaN", "timestamp": 5, "step": 0}]
    (inf,) = get("metrics/get-history", {"run_id": run_id, "metric_key": "i"}).json()["metrics"]
    # MLflow's SQL store answers 1.7976931348623157e+308; "Infinity" is equally valid for the client.
    assert inf["value"] in ("Infinity", 1.7976931348623157e308)


def test_get_and_post_search():
    """experiments/search is reachable with POST (what the client uses) and with GET."""
    by_post = post("experiments/search", {"max_results": 1})
    by_get = get("experiments/search", {"max_results": 1})
    assert by_post.status_code == by_get.status_code == 200
    assert len(by_post.json()["experiments"]) == 1
    assert len(by_get.json()["experiments"]) == 1
    assert "next_page_token" in by_post.json()


# ---- issue 10: behaviours MLflow clients observe


def test_create_run_needs_an_experiment():
    assert_error(post("runs/create", {"run_name": "orphan", "start_time": 1}), 400, "BAD_REQUEST")


def test_long_param_and_tag_values_are_accepted(run_id):
    """MLflow 3 accepts values beyond MAX_PARAM_VAL_LENGTH (6000) and MAX_TAG_VAL_LENGTH (8000)."""
    assert post("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "x" * 6001}).status_code == 200
    assert post("runs/set-tag", {"run_id": run_id, "key": "t", "value": "y" * 8001}).status_code == 200
    batch = {"run_id": run_id, "params": [{"key": "bp", "value": "x" * 6001}], "tags": [{"key": "bt", "value": "y" * 8001}]}
    assert post("runs/log-batch", batch).status_code == 200


def test_log_batch_naming_a_param_twice_is_refused(run_id):
    resp = post("runs/log-batch", {"run_id": run_id, "params": [{"key": "lr", "value": "0.1"}] * 2})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert "Duplicate parameter keys have been submitted" in resp.json()["message"]
    assert get("runs/get", {"run_id": run_id}).json()["run"]["data"].get("params", []) == []


def test_history_of_an_unknown_run_is_empty():
    resp = get("metrics/get-history", {"run_id": "cd" * 16, "metric_key": "loss"})
    assert resp.status_code == 200, resp.text
    assert resp.json().get("metrics", []) == []


def test_get_artifact_route_sends_the_bytes(client, experiment_id):
    """`/get-artifact` (outside /api/2.0) is the download route of MLflow's UI and tools."""
    run_id = client.create_run(experiment_id).info.run_id
    client.log_text(run_id, "hello artifact\n", "notes/hello.txt")
    resp = requests.get(
        f"{TRACKING_URI}/get-artifact",
        params={"run_id": run_id, "path": "notes/hello.txt"},
        timeout=30,
        auth=HTTP_AUTH,
    )
    assert resp.status_code == 200, resp.text
    assert resp.content == b"hello artifact\n"
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.headers["Content-Disposition"].startswith("attachment")


def test_version_names_the_mlflow_release():
    """The client reads `GET /version` to decide which features the server has (span logging
    refuses without it)."""
    resp = requests.get(f"{TRACKING_URI}/version", timeout=30, auth=HTTP_AUTH)
    assert resp.status_code == 200, resp.text
    major, minor = resp.text.strip().split(".")[:2]
    assert (int(major), int(minor)) >= (3, 0), resp.text


def test_get_history_bulk_orders_runs_by_id_and_points_by_time():
    """The UI's `metrics/get-history-bulk` (served below `/ajax-api` only, as MLflow does)."""
    exp = post("experiments/create", {"name": unique_name("bulk")}).json()["experiment_id"]
    runs = [post("runs/create", {"experiment_id": exp}).json()["run"]["info"]["run_id"] for _ in range(2)]
    points = [
        {"key": "loss", "value": 3.0, "timestamp": 20, "step": 0},
        {"key": "loss", "value": 1.0, "timestamp": 10, "step": 5},
        {"key": "loss", "value": 2.0, "timestamp": 10, "step": 1},
    ]
    for run in runs:
        assert post("runs/log-batch", {"run_id": run, "metrics": points}).status_code == 200
    bulk = f"{TRACKING_URI}/ajax-api/2.0/mlflow/metrics/get-history-bulk"
    query = [("run_id", runs[1]), ("run_id", runs[0]), ("metric_key", "loss"), ("max_results", "4")]
    resp = requests.get(bulk, params=query, timeout=30, auth=HTTP_AUTH)
    assert resp.status_code == 200, resp.text
    first, second = sorted(runs)
    assert resp.json()["metrics"] == [
        {"key": "loss", "value": 2.0, "timestamp": 10, "step": 1, "run_id": first},
        {"key": "loss", "value": 1.0, "timestamp": 10, "step": 5, "run_id": first},
        {"key": "loss", "value": 3.0, "timestamp": 20, "step": 0, "run_id": first},
        {"key": "loss", "value": 2.0, "timestamp": 10, "step": 1, "run_id": second},
    ]
    unknown = requests.get(bulk, params={"run_id": "0" * 32, "metric_key": "loss"}, timeout=30, auth=HTTP_AUTH)
    assert unknown.status_code == 200 and unknown.json() == {"metrics": []}, unknown.text
    no_run = requests.get(bulk, params={"metric_key": "loss"}, timeout=30, auth=HTTP_AUTH)
    assert_error(no_run, 400, "INVALID_PARAMETER_VALUE")
    assert no_run.json()["message"] == "GetMetricHistoryBulk request must specify at least one run_id."
    no_key = requests.get(bulk, params={"run_id": first}, timeout=30, auth=HTTP_AUTH)
    assert_error(no_key, 400, "INVALID_PARAMETER_VALUE")
    assert no_key.json()["message"] == "GetMetricHistoryBulk request must specify a metric_key."



def test_error_messages_are_worded_as_mlflow_words_them(run_id):
    """Tools and tests match these messages, so the wording is MLflow's."""
    unknown = "0123456789abcdef0123456789abcdef"
    resp = get("runs/get", {"run_id": unknown})
    assert_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")
    assert resp.json()["message"] == f"Run with id={unknown} not found"

    resp = get("experiments/get", {"experiment_id": "987654321"})
    assert resp.json()["message"] == "No Experiment with id=987654321 exists"

    resp = post("runs/delete-tag", {"run_id": run_id, "key": "nokey"})
    assert_error(resp, 404, "RESOURCE_DOES_NOT_EXIST")
    assert resp.json()["message"] == f"No tag with name: nokey in run with id {run_id}"

    resp = get("runs/get", {})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert resp.json()["message"] == (
        "Missing value for required parameter 'run_id'. "
        "See the API docs for more information about request parameters."
    )

    resp = post("experiments/create", {"name": 123})
    assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
    assert resp.json()["message"].startswith("Invalid value 123 for parameter 'name' supplied:")


NAMES_AS_FILES = (
    "Names may be treated as files in certain cases, and must not resolve to other names when "
    "treated as such. This name would resolve to "
)
BAD_CHARACTERS = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), "
    "colon(:) and slashes (/)."
)


@pytest.mark.parametrize(
    "key, reason",
    [
        ("../x", NAMES_AS_FILES + "'../x'"),
        ("/abs", NAMES_AS_FILES + "'/abs'"),
        ("a//b", NAMES_AS_FILES + "'a/b'"),
        ("a/./b", NAMES_AS_FILES + "'a/b'"),
        ("bad*chär", BAD_CHARACTERS),
    ],
)
def test_keys_that_are_no_safe_names_are_refused_in_mlflows_words(run_id, key, reason):
    quoted = json.dumps(key)  # MLflow quotes the value as json.dumps does (non-ASCII escaped)
    for path, body, parameter in [
        ("runs/log-parameter", {"key": key, "value": "1"}, "key"),
        ("runs/set-tag", {"key": key, "value": "1"}, "key"),
        ("runs/log-metric", {"key": key, "value": 1, "timestamp": 1}, "name"),
        ("runs/log-batch", {"params": [{"key": "ok", "value": "1"}, {"key": key, "value": "1"}]}, "params[1].key"),
        ("runs/log-batch", {"tags": [{"key": key, "value": "1"}]}, "tags[0].key"),
        ("runs/log-batch", {"metrics": [{"key": "ok", "value": 1, "timestamp": 1}, {"key": key, "value": 1, "timestamp": 1}]}, "metrics[1].name"),
    ]:
        resp = post(path, {"run_id": run_id, **body})
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
        assert resp.json()["message"] == f"Invalid value {quoted} for parameter '{parameter}' supplied: {reason}", path
    # Nothing of a refused batch was kept.
    data = get("runs/get", {"run_id": run_id}).json()["run"]["data"]
    assert "ok" not in {p["key"] for p in data.get("params", [])}
    assert "ok" not in {m["key"] for m in data.get("metrics", [])}


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd"])
def test_artifact_paths_leaving_the_run_are_invalid_paths(run_id, path):
    for resp in (
        get("artifacts/list", {"run_id": run_id, "path": path}),
        requests.get(f"{TRACKING_URI}/get-artifact", params={"run_id": run_id, "path": path}, timeout=30, auth=HTTP_AUTH),
    ):
        assert_error(resp, 400, "INVALID_PARAMETER_VALUE")
        assert resp.json()["message"].startswith("Invalid path"), resp.json()
