"""Ask/tell latency of ETS's studies vs Optuna's RDB storage on one database (issue 16).

Driven by speed.sh, once per database backend. For each checkpoint (completed trials, e.g.
1,000 and 10,000) it brings an ETS study and an Optuna study to exactly that many completed
trials (the same prefilled trials on both sides), then runs N sequential ask + tell cycles on
each and times the ask and the tell separately:

- ETS: ask is `POST /api/v1/studies/{id}/trials` (answers the sampled params), tell is
  `POST /api/v1/trials/{id}/complete`, over one keep-alive `http.client` connection.
- Optuna (RDBStorage on the same database, TPESampler(seed) with its defaults): ask is
  `study.ask()` plus the four `suggest_*` calls (where TPE samples), tell is `study.tell`.

Prefill (not timed): the same list of random complete trials (`optuna.trial.create_trial`)
on both sides, without sampling.
- ETS: into the native TPE study through ETS's Optuna gRPC storage service
  (`optuna.load_study` of the native study's name through `GrpcStorageProxy`, then
  `study.add_trials`), from 4 threads: one `create_new_trial` call per trial, each a complete
  trial with a finished run, as a told trial is.
- Optuna: `study.add_trials` commits each trial on its own and numbers it by counting the
  study's trials (45 ms a trial on SQLite here, growing with the study), too slow for 10,000;
  so the rows `add_trials` would write (trials, trial_params, trial_values, with Optuna's own
  internal representation and distribution JSON) are inserted in one transaction through
  Optuna's SQLAlchemy tables, and read back through Optuna to check them.

Also, before the checkpoints: an unchanged Optuna script (`study.optimize` with
TPESampler(seed), --optimize-trials trials on a fresh study) once with ETS's gRPC storage
(`GrpcStorageProxy`) and once with Optuna's RDB storage on the same database: wall time per
trial as the script sees it, sampling in the client on both sides.

Writes one JSON object (the results of this backend) to --out and a progress log to stderr.
"""

import argparse
import datetime
import http.client
import json
import math
import os
import statistics
import sys
import threading
import time
import warnings

import numpy as np
import optuna
import sqlalchemy
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    distribution_to_json,
)
from optuna.storages import GrpcStorageProxy
from optuna.storages._rdb import models

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

# The search space of both sides: three floats (one log-scale) and a categorical.
ETS_SPACE = {
    "x": {"type": "float", "low": -5.0, "high": 10.0},
    "y": {"type": "float", "low": 0.0, "high": 15.0},
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "kind": {"type": "categorical", "choices": ["a", "b", "c"]},
}
DISTRIBUTIONS = {
    "x": FloatDistribution(-5.0, 10.0),
    "y": FloatDistribution(0.0, 15.0),
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "kind": CategoricalDistribution(["a", "b", "c"]),
}
KIND_OFFSET = {"a": 0.0, "b": 0.5, "c": 1.0}


def objective(p):
    """Branin in (x, y) plus a bowl in log10(lr) and an offset per kind: cheap, deterministic."""
    x, y = p["x"], p["y"]
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    branin = (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10
    return branin + (math.log10(p["lr"]) + 3) ** 2 + KIND_OFFSET[p["kind"]]


def log(msg):
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def random_trials(rng, n):
    """n complete trials at uniform random points (log-uniform lr), with their values."""
    trials = []
    for _ in range(n):
        p = {
            "x": float(rng.uniform(-5, 10)),
            "y": float(rng.uniform(0, 15)),
            "lr": float(10 ** rng.uniform(-5, -1)),
            "kind": ["a", "b", "c"][int(rng.integers(3))],
        }
        trials.append(
            optuna.trial.create_trial(params=p, distributions=DISTRIBUTIONS, value=objective(p))
        )
    return trials


def in_threads(work, args):
    """work(a) for each a of args, each in a thread of its own; raises the first error."""
    errors = []

    def run(a):
        try:
            work(a)
        except Exception as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    workers = [threading.Thread(target=run, args=(a,)) for a in args]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def ets_prefill(name, grpc_port, trials, threads=4):
    """add_trials into the study through ETS's gRPC storage, from several threads (each with
    a proxy of its own)."""

    def work(chunk):
        storage = GrpcStorageProxy(host="127.0.0.1", port=grpc_port)
        try:
            optuna.load_study(study_name=name, storage=storage).add_trials(chunk)
        finally:
            storage.close()

    chunks = [trials[i::threads] for i in range(threads)]
    in_threads(work, [c for c in chunks if c])


def optuna_prefill(engine, study_id, trials):
    """The rows Optuna's add_trials writes for complete single-objective trials, in one
    transaction: trials numbered on from the study's count, their params and values."""
    t_trials = models.TrialModel.__table__
    t_params = models.TrialParamModel.__table__
    t_values = models.TrialValueModel.__table__
    now = datetime.datetime.now()
    with engine.begin() as conn:
        first = conn.execute(
            sqlalchemy.select(sqlalchemy.func.count())
            .select_from(t_trials)
            .where(t_trials.c.study_id == study_id)
        ).scalar_one()
        rows = conn.execute(
            sqlalchemy.insert(t_trials).returning(
                t_trials.c.trial_id, sort_by_parameter_order=True
            ),
            [
                {
                    "number": first + i,
                    "study_id": study_id,
                    "state": optuna.trial.TrialState.COMPLETE,
                    "datetime_start": now,
                    "datetime_complete": now,
                }
                for i in range(len(trials))
            ],
        ).all()
        params, values = [], []
        for (trial_id,), t in zip(rows, trials):
            for name, value in t.params.items():
                d = t.distributions[name]
                params.append(
                    {
                        "trial_id": trial_id,
                        "param_name": name,
                        "param_value": d.to_internal_repr(value),
                        "distribution_json": distribution_to_json(d),
                    }
                )
            stored, kind = models.TrialValueModel.value_to_stored_repr(t.value)
            values.append({"trial_id": trial_id, "objective": 0, "value": stored, "value_type": kind})
        conn.execute(sqlalchemy.insert(t_params), params)
        conn.execute(sqlalchemy.insert(t_values), values)


def percentile(xs, q):
    """Linear-interpolated percentile (numpy's default) of a list, in the list's unit."""
    return float(np.percentile(np.asarray(xs), q))


def summary(seconds):
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms),
        "max_ms": max(ms),
    }


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid):
    """The direct children of a process (PostgreSQL's backends of the postmaster)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if ppid == pid:
            out.append(int(entry))
    return out


class CpuMeter:
    """CPU seconds spent by the ETS server, the database server (the postmaster's children:
    backends, writers) and this client between start() and stop()."""

    def __init__(self, ets_pid, pg_pid):
        self.ets_pid, self.pg_pid = ets_pid, pg_pid

    def _sample(self):
        db = None
        if self.pg_pid:
            db = {p: cpu_seconds(p) or 0.0 for p in children(self.pg_pid)}
        return cpu_seconds(self.ets_pid) if self.ets_pid else None, db, time.process_time()

    def start(self):
        self.before = self._sample()

    def stop(self, cycles):
        ets0, db0, me0 = self.before
        ets1, db1, me1 = self._sample()
        out = {"client_cpu_ms_per_cycle": (me1 - me0) * 1000 / cycles}
        if ets0 is not None and ets1 is not None:
            out["ets_server_cpu_ms_per_cycle"] = (ets1 - ets0) * 1000 / cycles
        if db0 is not None:
            # Backends that started in between count from 0; ones that ended are lost.
            spent = sum(v - db0.get(p, 0.0) for p, v in db1.items())
            out["db_server_cpu_ms_per_cycle"] = spent * 1000 / cycles
        return out


class Ets:
    """ETS's native API over one keep-alive connection."""

    def __init__(self, url):
        assert url.startswith("http://")
        self.host, port = url[len("http://") :].rstrip("/").split(":")
        self.port = int(port)
        self.reconnect()

    def reconnect(self):
        """A fresh connection (the server closes one left idle, e.g. during a prefill)."""
        if getattr(self, "conn", None) is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:500]!r}")
        return json.loads(payload), response.getheader("x-process-time")


def ets_setup(ets, name, seed, sampler="tpe"):
    project = "00000000000000000000000000000000"  # the default project (optuna.project)
    experiment, _ = ets.call("POST", "/api/v1/experiments", {"name": name, "project_id": project})
    study, _ = ets.call(
        "POST",
        f"/api/v1/experiments/{experiment['id']}/studies",
        {
            "name": name,
            "direction": "minimize",
            "sampler": sampler,
            "seed": seed,
            "search_space": ETS_SPACE,
        },
    )
    return study["id"]


def ets_cycle(ets, study_id):
    """One ask and its tell: (ask seconds, tell seconds, the server's x-process-time of each)."""
    t0 = time.perf_counter()
    asked, ask_pt = ets.call("POST", f"/api/v1/studies/{study_id}/trials")
    t1 = time.perf_counter()
    value = objective(asked["params"])
    t2 = time.perf_counter()
    _, tell_pt = ets.call("POST", f"/api/v1/trials/{asked['trial_id']}/complete", {"value": value})
    t3 = time.perf_counter()
    return t1 - t0, t3 - t2, ask_pt, tell_pt


def ets_measure(ets, study_id, n, meter):
    asks, tells, server_ask, server_tell = [], [], [], []
    meter.start()
    for _ in range(n):
        ask, tell, ask_pt, tell_pt = ets_cycle(ets, study_id)
        asks.append(ask)
        tells.append(tell)
        if ask_pt and tell_pt:
            server_ask.append(float(ask_pt))
            server_tell.append(float(tell_pt))
    cpu = meter.stop(n)
    out = {"ask": summary(asks), "tell": summary(tells), **cpu}
    if server_ask:
        # x-process-time: the server's own time for the request (without the client and TCP).
        out["ask_server_p50_ms"] = percentile([s * 1000 for s in server_ask], 50)
        out["tell_server_p50_ms"] = percentile([s * 1000 for s in server_tell], 50)
    return out


def optuna_measure(study, n, meter):
    asks, tells = [], []
    meter.start()
    for _ in range(n):
        t0 = time.perf_counter()
        trial = study.ask()
        p = {
            "x": trial.suggest_float("x", -5.0, 10.0),
            "y": trial.suggest_float("y", 0.0, 15.0),
            "lr": trial.suggest_float("lr", 1e-5, 1e-1, log=True),
            "kind": trial.suggest_categorical("kind", ["a", "b", "c"]),
        }
        t1 = time.perf_counter()
        value = objective(p)
        t2 = time.perf_counter()
        study.tell(trial, value)
        t3 = time.perf_counter()
        asks.append(t1 - t0)
        tells.append(t3 - t2)
    cpu = meter.stop(n)
    return {"ask": summary(asks), "tell": summary(tells), **cpu}


def optimize_seconds(storage, name, n, seed):
    """Seconds per trial of `study.optimize` with TPE over the benchmark's space, as an
    unchanged Optuna script runs it against `storage`."""

    def suggest(trial):
        return objective(
            {
                "x": trial.suggest_float("x", -5.0, 10.0),
                "y": trial.suggest_float("y", 0.0, 15.0),
                "lr": trial.suggest_float("lr", 1e-5, 1e-1, log=True),
                "kind": trial.suggest_categorical("kind", ["a", "b", "c"]),
            }
        )

    study = optuna.create_study(
        study_name=name, storage=storage, sampler=optuna.samplers.TPESampler(seed=seed)
    )
    t0 = time.perf_counter()
    study.optimize(suggest, n_trials=n)
    seconds = (time.perf_counter() - t0) / n
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == n
    return seconds


def check_optuna_prefill(url, study, checkpoint, trials):
    """Optuna reads the inserted trials back as add_trials would have left them (read by a
    storage of its own, so the measured study's cache is not filled here)."""
    fresh = optuna.load_study(study_name=study.study_name, storage=url)
    done = fresh.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == checkpoint, len(done)
    assert sorted(t.number for t in fresh.trials) == list(range(len(fresh.trials)))
    last = done[-len(trials) :]
    assert [t.params for t in last] == [t.params for t in trials]
    assert [t.value for t in last] == [t.value for t in trials]
    assert all(t.distributions == trials[0].distributions for t in last)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", required=True, help="label: sqlite or postgres")
    ap.add_argument("--ets-url", required=True)
    ap.add_argument("--ets-grpc-port", type=int, required=True)
    ap.add_argument("--ets-pid", type=int, help="ETS server pid, for its CPU time")
    ap.add_argument("--pg-pid", type=int, help="postmaster pid, for the database's CPU time")
    ap.add_argument("--optuna-storage", required=True, help="SQLAlchemy URL of Optuna's RDB")
    ap.add_argument("--checkpoints", default="1000,10000")
    ap.add_argument("--cycles", default="100,50", help="ETS ask+tell cycles per checkpoint")
    ap.add_argument(
        "--optuna-cycles", default=None, help="Optuna's cycles per checkpoint (default: --cycles)"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--optimize-trials", type=int, default=100, help="trials of the study.optimize comparison"
    )
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    cycles = [int(c) for c in args.cycles.split(",")]
    optuna_cycles = [int(c) for c in (args.optuna_cycles or args.cycles).split(",")]
    assert len(checkpoints) == len(cycles) == len(optuna_cycles)
    rng = np.random.default_rng(args.seed)
    name = f"speed-{args.backend}-{int(time.time())}"
    result = {
        "backend": args.backend,
        "optuna_version": optuna.__version__,
        "search_space": ETS_SPACE,
        "seed": args.seed,
        "checkpoints": [],
    }

    ets = Ets(args.ets_url)
    ets_study_id = ets_setup(ets, name, args.seed)
    grpc = GrpcStorageProxy(host="127.0.0.1", port=args.ets_grpc_port)
    grpc.wait_server_ready(timeout=60)
    grpc.close()
    engine = sqlalchemy.create_engine(args.optuna_storage)
    optuna_study = optuna.create_study(
        study_name=name,
        storage=args.optuna_storage,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
    )
    t_studies = models.StudyModel.__table__
    with engine.connect() as conn:
        optuna_study_id = conn.execute(
            sqlalchemy.select(t_studies.c.study_id).where(t_studies.c.study_name == name)
        ).scalar_one()
    if args.optimize_trials:
        grpc = GrpcStorageProxy(host="127.0.0.1", port=args.ets_grpc_port)
        n = args.optimize_trials
        via_grpc = optimize_seconds(grpc, f"{name}-optimize", n, args.seed)
        grpc.close()
        via_rdb = optimize_seconds(args.optuna_storage, f"{name}-optimize", n, args.seed)
        result["optimize"] = {"trials": n, "ets_grpc_ms": via_grpc * 1e3, "optuna_rdb_ms": via_rdb * 1e3}
        log(
            f"{args.backend}: study.optimize, {n} trials: {via_grpc * 1e3:.2f} ms a trial through "
            f"ETS's gRPC storage, {via_rdb * 1e3:.2f} ms through Optuna's RDB storage"
        )
    ets_meter = CpuMeter(args.ets_pid, args.pg_pid)
    optuna_meter = CpuMeter(None, args.pg_pid)

    done = 0  # completed trials in each study (the same on both sides)
    for checkpoint, n_ets, n_optuna in zip(checkpoints, cycles, optuna_cycles):
        missing = checkpoint - done
        trials = random_trials(rng, missing)
        t0 = time.perf_counter()
        ets_prefill(name, args.ets_grpc_port, trials)
        ets_fill = time.perf_counter() - t0
        t0 = time.perf_counter()
        optuna_prefill(engine, optuna_study_id, trials)
        optuna_fill = time.perf_counter() - t0
        ets.reconnect()
        ets_view, _ = ets.call("GET", f"/api/v1/studies/{ets_study_id}")
        assert ets_view["counts"]["complete"] == checkpoint, ets_view["counts"]
        check_optuna_prefill(args.optuna_storage, optuna_study, checkpoint, trials)
        log(
            f"{args.backend}: prefilled {missing} trials to {checkpoint}: ETS (gRPC add_trials) "
            f"{ets_fill:.1f} s, Optuna RDB (one-transaction insert) {optuna_fill:.1f} s"
        )

        t0 = time.perf_counter()
        ets_res = ets_measure(ets, ets_study_id, n_ets, ets_meter)
        log(
            f"{args.backend} @ {checkpoint}: ETS {n_ets} cycles in {time.perf_counter() - t0:.1f} s, "
            f"ask p50 {ets_res['ask']['p50_ms']:.2f} ms, tell p50 {ets_res['tell']['p50_ms']:.2f} ms"
        )
        # On both sides the first ask after a prefill reads the new trials into a cache
        # (Optuna's storage cache in the client, ETS's study history in the server); it is
        # measured like the others and shows in the p99.
        t0 = time.perf_counter()
        opt_res = optuna_measure(optuna_study, n_optuna, optuna_meter)
        log(
            f"{args.backend} @ {checkpoint}: Optuna {n_optuna} cycles in "
            f"{time.perf_counter() - t0:.1f} s, ask p50 {opt_res['ask']['p50_ms']:.2f} ms, "
            f"tell p50 {opt_res['tell']['p50_ms']:.2f} ms"
        )
        result["checkpoints"].append(
            {
                "completed_trials": checkpoint,
                "prefill_seconds": {"ets_grpc_add_trials": ets_fill, "optuna_bulk_insert": optuna_fill},
                "ets": ets_res,
                "optuna": opt_res,
                "ask_p50_ratio": opt_res["ask"]["p50_ms"] / ets_res["ask"]["p50_ms"],
            }
        )
        # The cycles completed trials too: bring the other side level before the next prefill.
        done = checkpoint + max(n_ets, n_optuna)
        extra = abs(n_ets - n_optuna)
        if extra:
            pad = random_trials(rng, extra)
            if n_ets > n_optuna:
                optuna_prefill(engine, optuna_study_id, pad)
            else:
                ets_prefill(name, args.ets_grpc_port, pad)

    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
