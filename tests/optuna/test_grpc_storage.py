"""Optuna scripts, unchanged, storing their studies in ETS through GrpcStorageProxy; what they
store is checked both through Optuna and through ETS's own API (studies, trials, runs)."""

import math
import threading

import optuna
import pytest
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.trial import TrialState

from conftest import GRPC_PORTS, TOKEN, URLS, Ets, proxy


def quadratic(trial):
    x = trial.suggest_float("x", -10, 10)
    n = trial.suggest_int("n", 1, 5)
    kind = trial.suggest_categorical("kind", ["a", "b", None])
    return (x - 2) ** 2 + n + (0 if kind == "a" else 1)


def test_optimize_stores_trials_as_ets_runs(storage, ets, name):
    study = optuna.create_study(
        study_name=name, storage=storage, sampler=optuna.samplers.TPESampler(seed=1)
    )
    study.optimize(quadratic, n_trials=25)
    assert len(study.trials) == 25
    assert study.best_value < 4.0
    assert {t.state for t in study.trials} == {TrialState.COMPLETE}
    # Another client sees the same study.
    again = optuna.load_study(study_name=name, storage=proxy())
    assert [t.params for t in again.trials] == [t.params for t in study.trials]
    assert again.best_trial.number == study.best_trial.number

    view = ets.study_of_experiment(name)
    assert view["counts"]["complete"] == 25
    assert view["directions"] == ["minimize"]
    assert view["sampler"] == {"type": "optuna"}
    assert view["best_value"] == study.best_value
    assert view["best_params"] == study.best_params
    assert set(view["search_space"]) == {"x", "n", "kind"}
    assert view["search_space"]["kind"]["choices"] == ["a", "b", None]
    trials = ets.get(f"/api/v1/studies/{view['id']}/trials")["items"]
    for optuna_trial, trial in zip(study.trials, trials):
        assert trial["number"] == optuna_trial.number
        assert trial["params"] == optuna_trial.params
        assert trial["values"] == [optuna_trial.value]
        run = ets.run(trial["run_id"])
        assert run["info"]["status"] == "FINISHED"
        params = {p["key"]: p["value"] for p in run["data"]["params"]}
        assert float(params["x"]) == optuna_trial.params["x"]
        assert params["n"] == str(optuna_trial.params["n"])
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert metrics["value"] == pytest.approx(optuna_trial.value)
    importance = ets.get(f"/api/v1/studies/{view['id']}/importance")
    assert importance["n_trials"] == 25
    assert {p["name"] for p in importance["importances"]} == {"x", "n", "kind"}


def test_pruned_trials_keep_their_intermediate_values(storage, ets, name):
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=optuna.samplers.RandomSampler(seed=3),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        for step in range(6):
            value = x + 1.0 / (step + 1)  # a falling curve, lower for lower x
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=20)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, "the median pruner stopped nothing"
    view = ets.study_of_experiment(name)
    assert view["counts"]["pruned"] == len(pruned)
    trials = {t["number"]: t for t in ets.get(f"/api/v1/studies/{view['id']}/trials")["items"]}
    for t in study.trials:
        stored = trials[t.number]
        assert {int(k): v for k, v in stored["intermediate_values"].items()} == t.intermediate_values
        assert stored["state"] == {"COMPLETE": "complete", "PRUNED": "pruned"}[t.state.name]
        run = ets.run(stored["run_id"])
        assert run["info"]["status"] == "FINISHED"
    # The intermediate values are the run's `objective` metric history.
    some = pruned[0]
    history = ets.get(
        f"/api/2.0/mlflow/metrics/get-history?run_id={trials[some.number]['run_id']}&metric_key=objective"
    )["metrics"]
    assert {m["step"]: m["value"] for m in history} == some.intermediate_values


def test_enqueued_and_added_trials_and_attributes(storage, ets, name):
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.set_user_attr("owner", {"team": "vision", "n": 3})
    study.enqueue_trial({"x": 0.25, "kind": "b"})
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.5, "kind": "a"},
            distributions={
                "x": optuna.distributions.FloatDistribution(0, 1),
                "kind": optuna.distributions.CategoricalDistribution(["a", "b"]),
            },
            value=0.75,
            intermediate_values={0: 0.1, 1: float("nan"), 2: float("inf")},
            user_attrs={"note": "by hand"},
        )
    )
    assert study.trials[0].state == TrialState.WAITING
    seen = []

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        trial.set_user_attr("seen", [x, kind])
        seen.append((x, kind))
        return x

    study.optimize(objective, n_trials=1)
    # The enqueued trial ran first, with its fixed params.
    assert seen == [(0.25, "b")]
    loaded = optuna.load_study(study_name=name, storage=proxy())
    assert loaded.user_attrs == {"owner": {"team": "vision", "n": 3}}
    first, added = loaded.trials[0], loaded.trials[1]
    assert first.state == TrialState.COMPLETE and first.user_attrs == {"seen": [0.25, "b"]}
    assert first.system_attrs.get("fixed_params") == {"x": 0.25, "kind": "b"}
    assert added.value == 0.75 and added.user_attrs == {"note": "by hand"}
    assert added.intermediate_values[0] == 0.1
    assert math.isnan(added.intermediate_values[1])
    assert added.intermediate_values[2] == float("inf")
    assert added.datetime_start is not None and added.datetime_complete is not None
    assert loaded.best_trial.number == 1
    names = optuna.study.get_all_study_names(storage=proxy())
    assert name in names
    summaries = {s.study_name: s for s in optuna.study.get_all_study_summaries(storage=proxy())}
    assert summaries[name].n_trials == 2
    assert summaries[name].user_attrs == {"owner": {"team": "vision", "n": 3}}
    assert summaries[name].direction == optuna.study.StudyDirection.MAXIMIZE
    view = ets.study_of_experiment(name)
    assert view["directions"] == ["maximize"]
    assert view["best_value"] == 0.75


def test_refusals_map_to_optunas_exceptions(storage, name):
    study = optuna.create_study(study_name=name, storage=storage)
    with pytest.raises(DuplicatedStudyError):
        optuna.create_study(study_name=name, storage=proxy())
    with pytest.raises(KeyError):
        optuna.load_study(study_name=name + "-missing", storage=proxy())
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    study.tell(trial, 0.5)
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, [0.1])
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_intermediate_value(trial._trial_id, 3, 0.2)
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_user_attr(trial._trial_id, "late", 1)
    # One name, one kind of distribution within a study (Optuna's rule).
    other = study.ask()
    with pytest.raises(ValueError):
        other.suggest_int("x", 0, 10)
    with pytest.raises(KeyError):
        storage.get_trial(trial._trial_id + 10_000)
    # A value the distribution does not have (a categorical index past its choices).
    with pytest.raises(ValueError):
        storage.set_trial_param(
            other._trial_id, "c", 5.0, optuna.distributions.CategoricalDistribution(["a", "b"])
        )
    # What the client library never sends, through the raw service: each refused with
    # INVALID_ARGUMENT and nothing stored.
    import grpc
    from optuna.storages._grpc.auto_generated import api_pb2, api_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{GRPC_PORTS[0]}") as channel:
        stub = api_pb2_grpc.StorageServiceStub(channel)
        metadata = [("authorization", f"Bearer {TOKEN}")] if TOKEN else []
        bad_calls = [
            lambda: stub.SetTrialUserAttribute(
                api_pb2.SetTrialUserAttributeRequest(trial_id=other._trial_id, key="k", value="not json"),
                metadata=metadata,
            ),
            lambda: stub.SetTrialStateValues(
                api_pb2.SetTrialStateValuesRequest(
                    trial_id=other._trial_id, state=api_pb2.COMPLETE, values=[1.0, 2.0]
                ),
                metadata=metadata,
            ),
            lambda: stub.CreateNewTrial(
                api_pb2.CreateNewTrialRequest(
                    study_id=study._study_id,
                    template_trial=api_pb2.Trial(state=api_pb2.COMPLETE, values=[1.0], params={"y": 0.5}),
                ),
                metadata=metadata,
            ),
        ]
        for call in bad_calls:
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert storage.get_trial(other._trial_id).state == TrialState.RUNNING
    assert len(optuna.load_study(study_name=name, storage=proxy()).trials) == 2
    # Deleting the study: gone for Optuna, its runs stay in ETS.
    optuna.delete_study(study_name=name, storage=proxy())
    assert name not in optuna.study.get_all_study_names(storage=proxy())


def test_multi_objective_study(storage, ets, name):
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        directions=["minimize", "maximize"],
        sampler=optuna.samplers.RandomSampler(seed=7),
    )

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        return x, x * (1 - x)

    study.optimize(objective, n_trials=12)
    pareto = sorted(t.number for t in study.best_trials)
    view = ets.study_of_experiment(name)
    assert sorted(t["number"] for t in view["best_trials"]) == pareto
    run = ets.run(view["best_trials"][0]["run_id"])
    keys = {m["key"] for m in run["data"]["metrics"]}
    assert {"value_0", "value_1"} <= keys


def test_parallel_workers_get_distinct_trials(name):
    """Four threads per instance (two instances on PostgreSQL), one study, no trial lost."""
    optuna.create_study(study_name=name, storage=proxy())
    per_worker = 6
    errors = []

    def worker(instance):
        try:
            study = optuna.load_study(study_name=name, storage=proxy(instance))
            study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=per_worker)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [
        threading.Thread(target=worker, args=(i % len(GRPC_PORTS),)) for i in range(4 * len(GRPC_PORTS))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    study = optuna.load_study(study_name=name, storage=proxy())
    expected = per_worker * len(threads)
    assert sorted(t.number for t in study.trials) == list(range(expected))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    for url in URLS:
        view = Ets(url).study_of_experiment(name)
        assert view["counts"]["complete"] == expected


def test_an_ets_study_is_an_optuna_study(ets, name):
    """A study made with ETS's API (search space declared) runs under Optuna's samplers."""
    status, experiment = ets.call(
        "POST", "/api/v1/experiments", {"name": name, "project_id": "00000000000000000000000000000000"}
    )
    assert status == 201, experiment
    status, created = ets.call(
        "POST",
        f"/api/v1/experiments/{experiment['id']}/studies",
        {"name": name, "search_space": {"x": {"type": "float", "low": -5, "high": 10}}},
    )
    assert status == 201, created
    status, asked = ets.call("POST", f"/api/v1/studies/{created['id']}/trials")
    assert status == 201
    status, _ = ets.call("POST", f"/api/v1/trials/{asked['trial_id']}/complete", {"value": 1.5})
    assert status == 200
    study = optuna.load_study(study_name=name, storage=proxy())
    assert study.trials[0].params == asked["params"]
    assert study.trials[0].distributions["x"] == optuna.distributions.FloatDistribution(-5, 10)
    study.optimize(lambda t: t.suggest_float("x", -5, 10) ** 2, n_trials=3)
    view = ets.get(f"/api/v1/studies/{created['id']}")
    assert view["counts"]["complete"] == 4


@pytest.mark.skipif(not TOKEN, reason="authentication is off (run.sh without ETS_AUTH=key)")
def test_with_authentication_a_wrong_key_is_refused(storage, name):
    """Without metadata a call acts as optuna.api_key_file's key; a key sent in metadata is
    checked instead, and a wrong one refused."""
    import grpc
    import urllib.request
    from optuna.storages._grpc.auto_generated import api_pb2, api_pb2_grpc

    optuna.create_study(study_name=name, storage=storage)
    with grpc.insecure_channel(f"127.0.0.1:{GRPC_PORTS[0]}") as channel:
        stub = api_pb2_grpc.StorageServiceStub(channel)
        names = [s.study_name for s in stub.GetAllStudies(api_pb2.GetAllStudiesRequest()).studies]
        assert name in names
        good = [("authorization", f"Bearer {TOKEN}")]
        assert stub.GetStudyIdFromName(api_pb2.GetStudyIdFromNameRequest(study_name=name), metadata=good)
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetAllStudies(api_pb2.GetAllStudiesRequest(), metadata=[("authorization", "Bearer ets_nope")])
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # And the HTTP API really wants credentials.
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{URLS[0]}/api/v1/projects", timeout=30)
    assert anonymous.value.code == 401
