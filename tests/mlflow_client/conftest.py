"""Shared fixtures of the MLflow client compatibility suite.

The suite talks to a tracking server through the unmodified `mlflow` client (mlflow-skinny).
`run.sh` starts the server and sets:

* MLFLOW_TRACKING_URI - http://127.0.0.1:PORT of the server under test
* ETS_TARGET          - "ets" or "mlflow"; tests marked `ets_only` are skipped for "mlflow",
                        tests marked `mlflow_only` for "ets" (see test_ets_extensions.py)

With ETS_AUTH set (token, basic or basic-key), run.sh starts ETS with authentication on and
sets the mlflow client's own credential variables: MLFLOW_TRACKING_TOKEN (Bearer), or
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (Basic, with a password or an API key).
Tests that call the REST API with plain `requests` pass `auth=HTTP_AUTH`, the same credentials.

Optional: MLFLOW_CLIENT_TRACE=FILE appends one JSON line per HTTP request the client makes
(test id, method, path, query, request body, status, response body, both truncated), to see
exactly which REST calls the client uses.
"""

from __future__ import annotations

import json
import os
import uuid
from urllib.parse import urlsplit

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

# The client retries 408/429/5xx answers with backoff for about four minutes; a server under
# test that answers so should fail the test at once instead.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "")
TARGET = os.environ.get("ETS_TARGET", "ets")


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def _http_auth():
    """The mlflow client's credentials (its environment variables), for plain `requests`."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if token:
        return _Bearer(token)
    if user:
        return requests.auth.HTTPBasicAuth(user, os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
    return None


HTTP_AUTH = _http_auth()


def pytest_configure(config):
    if not TRACKING_URI.startswith(("http://", "https://")):
        raise pytest.UsageError(
            "MLFLOW_TRACKING_URI must point at a running tracking server "
            "(use tests/mlflow_client/run.sh ets|mlflow)"
        )
    if TARGET not in ("ets", "mlflow"):
        raise pytest.UsageError(f"ETS_TARGET must be 'ets' or 'mlflow', not {TARGET!r}")
    trace = os.environ.get("MLFLOW_CLIENT_TRACE")
    if trace:
        _install_http_trace(trace)


def pytest_report_header(config):
    auth = os.environ.get("ETS_AUTH") or "off"
    return f"tracking server: {TRACKING_URI} (target: {TARGET}, auth: {auth}), mlflow client {mlflow.__version__}"


def pytest_collection_modifyitems(config, items):
    if TARGET == "mlflow":
        skip, marker = pytest.mark.skip(reason="ETS extension beyond MLflow (ETS_TARGET=mlflow)"), "ets_only"
    else:
        skip, marker = pytest.mark.skip(reason="pins MLflow behaviour ETS deliberately differs from"), "mlflow_only"
    for item in items:
        if marker in item.keywords:
            item.add_marker(skip)


# --------------------------------------------------------------------------------------------
# Optional HTTP trace


_current_test = {"id": None}


def _truncate(text, limit=600):
    if text is None:
        return None
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            return f"<{len(text)} binary bytes>"
    return text if len(text) <= limit else text[:limit] + f"...<{len(text)} chars>"


def _install_http_trace(path):
    original = requests.Session.request

    def traced(self, method, url, *args, **kwargs):
        resp = original(self, method, url, *args, **kwargs)
        parts = urlsplit(url)
        body = kwargs.get("json")
        data = kwargs.get("data")
        if body is not None:
            req_body = json.dumps(body)
        elif data is not None and not isinstance(data, (bytes, str)):
            req_body = "<streamed file>"
        else:
            req_body = data
        params = kwargs.get("params")
        entry = {
            "test": _current_test["id"],
            "method": method,
            "path": parts.path,
            "query": parts.query or None,
            "params": params,
            "request": _truncate(req_body),
            "content_type": (kwargs.get("headers") or {}).get("Content-Type"),
            "status": resp.status_code,
            "response": None if kwargs.get("stream") else _truncate(resp.text),
        }
        with open(path, "a") as f:
            f.write(json.dumps(entry, default=str) + "\n")
        return resp

    requests.Session.request = traced


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(autouse=True)
def _clean_fluent_state(request):
    """Each test starts and ends without an active run and with the tracking URI set."""
    _current_test["id"] = request.node.nodeid
    mlflow.set_tracking_uri(TRACKING_URI)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    yield
    try:
        mlflow.flush_async_logging()
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        _current_test["id"] = None


@pytest.fixture
def client() -> MlflowClient:
    return MlflowClient(tracking_uri=TRACKING_URI)


def unique_name(prefix="ets-compat") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture
def exp_name() -> str:
    """A fresh, unused experiment name."""
    return unique_name()


@pytest.fixture
def experiment_id(exp_name) -> str:
    """A fresh experiment, made the active one of the fluent API."""
    exp = mlflow.set_experiment(exp_name)
    return exp.experiment_id


def error_code(exc_info) -> str:
    """The MLflow error code (e.g. 'INVALID_PARAMETER_VALUE') of a raised MlflowException."""
    exc = exc_info.value
    assert isinstance(exc, MlflowException), f"expected MlflowException, got {type(exc)}"
    return exc.error_code
