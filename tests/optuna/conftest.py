"""Fixtures of the Optuna suite: the ETS instances run.sh started (ETS_URLS, ETS_GRPC_PORTS)."""

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings

import optuna
import pytest
from optuna.storages import GrpcStorageProxy

optuna.logging.set_verbosity(optuna.logging.WARNING)
# GrpcStorageProxy is marked experimental in Optuna 4.9; that is what is under test.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

URLS = os.environ["ETS_URLS"].split()
GRPC_PORTS = [int(p) for p in os.environ["ETS_GRPC_PORTS"].split()]
# Set by run.sh with ETS_AUTH=key: authentication is on and this is the configured key.
TOKEN = os.environ.get("ETS_TOKEN")


class Ets:
    """The native HTTP API of one instance."""

    def __init__(self, url):
        self.url = url

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if TOKEN:
            headers["Authorization"] = f"Bearer {TOKEN}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path):
        status, body = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body

    def experiment_named(self, name):
        query = urllib.parse.urlencode({"experiment_name": name})
        return self.get(f"/api/2.0/mlflow/experiments/get-by-name?{query}")["experiment"]

    def study_of_experiment(self, name):
        """The ETS study of that name in the experiment of that name."""
        experiment = self.experiment_named(name)
        studies = self.get(f"/api/v1/experiments/{experiment['experiment_id']}/studies")["items"]
        (study,) = [s for s in studies if s["name"] == name]
        return study

    def run(self, run_id):
        return self.get(f"/api/2.0/mlflow/runs/get?run_id={run_id}")["run"]


def proxy(instance=0):
    return GrpcStorageProxy(host="127.0.0.1", port=GRPC_PORTS[instance])


@pytest.fixture
def storage():
    s = proxy()
    s.wait_server_ready(timeout=30)
    yield s
    s.close()


@pytest.fixture
def ets():
    return Ets(URLS[0])


@pytest.fixture
def name():
    """A fresh study (and experiment) name."""
    return f"optuna-{uuid.uuid4().hex[:10]}"
