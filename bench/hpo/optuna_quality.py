"""Quality benchmark of issue 16, Optuna side.

Runs Optuna's TPESampler(seed=s) (every other option at its default) and RandomSampler(seed=s)
on the functions and spaces of crates/ets-hpo/examples/hpo_quality.rs (defined identically
here; change both together), sequentially via study.optimize, and prints one JSON line per
run: {"sampler": "optuna_tpe", "function": "branin", "seed": 0, "best": 0.41, "seconds": 1.2}.

    bench/hpo/.venv/bin/python bench/hpo/optuna_quality.py [--seeds 20] [--trials 100]
        [--functions branin,hartmann6,rosenbrock10,mixed] [--samplers optuna_tpe,optuna_random]

bench/hpo/quality.sh runs it next to the ETS side and compares the two.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings

import optuna

HARTMANN_A = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
]
HARTMANN_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]


def branin(trial: optuna.Trial) -> float:
    """x in [-5, 10], y in [0, 15]; minimum 0.397887."""
    x = trial.suggest_float("x", -5.0, 10.0)
    y = trial.suggest_float("y", 0.0, 15.0)
    b = 5.1 / (4.0 * math.pi**2)
    c = 5.0 / math.pi
    t = 1.0 / (8.0 * math.pi)
    return (y - b * x * x + c * x - 6.0) ** 2 + 10.0 * (1.0 - t) * math.cos(x) + 10.0


def hartmann6(trial: optuna.Trial) -> float:
    """[0, 1]^6; minimum -3.32237."""
    x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(6)]
    return -sum(
        HARTMANN_ALPHA[i]
        * math.exp(-sum(HARTMANN_A[i][j] * (x[j] - HARTMANN_P[i][j]) ** 2 for j in range(6)))
        for i in range(4)
    )


def rosenbrock10(trial: optuna.Trial) -> float:
    """[-5, 10]^10; minimum 0 at (1, ..., 1)."""
    x = [trial.suggest_float(f"x{i}", -5.0, 10.0) for i in range(10)]
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2 for i in range(9))


def mixed(trial: optuna.Trial) -> float:
    """`model` picks a branch with its own parameters (define-by-run: the ETS space declares
    them with a condition on `model`); `scaler` adds a penalty. Minimum 0.2: tree, depth 7,
    frac 0.8, scaler "standard"; the linear branch's best is 0.25."""
    model = trial.suggest_categorical("model", ["linear", "tree"])
    scaler = trial.suggest_categorical("scaler", ["none", "standard", "robust"])
    if model == "linear":
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        branch = 0.25 + 0.05 * (math.log10(lr) + 2.5) ** 2
    else:
        depth = trial.suggest_int("depth", 1, 12)
        frac = trial.suggest_float("frac", 0.1, 1.0)
        branch = 0.2 + 0.01 * (depth - 7.0) ** 2 + 2.0 * (frac - 0.8) ** 2
    return branch + {"standard": 0.0, "robust": 0.03}.get(scaler, 0.1)


FUNCTIONS = {
    "branin": branin,
    "hartmann6": hartmann6,
    "rosenbrock10": rosenbrock10,
    "mixed": mixed,
}
SAMPLERS = {
    "optuna_tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "optuna_random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--functions", default=",".join(FUNCTIONS))
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    for function in args.functions.split(","):
        objective = FUNCTIONS[function]
        for sampler in args.samplers.split(","):
            for seed in range(args.seeds):
                study = optuna.create_study(direction="minimize", sampler=SAMPLERS[sampler](seed))
                start = time.perf_counter()
                study.optimize(objective, n_trials=args.trials)
                seconds = time.perf_counter() - start
                line = {
                    "sampler": sampler,
                    "function": function,
                    "seed": seed,
                    "best": study.best_value,
                    "seconds": seconds,
                }
                print(json.dumps(line), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
