"""Markdown tables of the quality benchmark (bench/hpo/quality.sh).

Reads the JSON lines of hpo_quality (ETS) and optuna_quality.py (Optuna) and prints, per
function, the median and quartiles (NumPy's default linear interpolation) of the best value
found over the seeds for each sampler, then a two-sided Mann-Whitney U test of ETS TPE
against Optuna TPE. The verdict is "not worse" unless ETS TPE is worse with p < 0.05 (its
values tend to be larger: the U statistic of ETS above n1*n2/2, all functions are minimised).

    bench/hpo/.venv/bin/python bench/hpo/report.py ets.jsonl optuna.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np
from scipy.stats import mannwhitneyu

MINIMUM = {
    "branin": "0.397887",
    "hartmann6": "-3.32237",
    "rosenbrock10": "0",
    "mixed": "0.2",
}
TITLE = {
    "branin": "Branin (2 floats)",
    "hartmann6": "Hartmann-6 (6 floats)",
    "rosenbrock10": "Rosenbrock-10 (10 floats)",
    "mixed": "Mixed: categorical `model` with conditional `lr` | `depth`, `frac`; categorical `scaler`",
}
SAMPLER_NAME = {
    "ets_tpe": "ETS TPE",
    "optuna_tpe": "Optuna TPE",
    "ets_random": "ETS random",
    "optuna_random": "Optuna random",
}
ALPHA = 0.05


def fmt(v: float) -> str:
    return f"{v:.6g}"


def compare(ets: list[float], opt: list[float]) -> tuple[float, float, str]:
    """(U of ETS, two-sided p, verdict) of ETS TPE vs Optuna TPE (smaller is better)."""
    res = mannwhitneyu(ets, opt, alternative="two-sided")
    u, p = float(res.statistic), float(res.pvalue)
    if p < ALPHA and u > len(ets) * len(opt) / 2:
        verdict = "**WORSE**"
    elif p < ALPHA:
        verdict = "not worse (better, p < 0.05)"
    else:
        verdict = "not worse (no significant difference)"
    return u, p, verdict


def main() -> None:
    runs: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    secs: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for path in sys.argv[1:]:
        with open(path) as fh:
            for line in fh:
                if line.strip():
                    r = json.loads(line)
                    runs[r["function"]][r["sampler"]][r["seed"]] = float(r["best"])
                    secs[r["function"]][r["sampler"]] += float(r.get("seconds", 0.0))
    summary = []
    for function in [f for f in MINIMUM if f in runs] + [f for f in runs if f not in MINIMUM]:
        by_sampler = runs[function]
        n_seeds = max(len(v) for v in by_sampler.values())
        print(f"### {TITLE.get(function, function)}, minimum {MINIMUM.get(function, '?')}")
        print()
        print(f"Best value found in each run, over {n_seeds} seeds (lower is better).")
        print()
        print("| sampler | median | Q1 | Q3 | best seed | worst seed | time per run |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        order = [s for s in SAMPLER_NAME if s in by_sampler] + [
            s for s in by_sampler if s not in SAMPLER_NAME
        ]
        for sampler in order:
            v = np.array([by_sampler[sampler][k] for k in sorted(by_sampler[sampler])])
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            per_run = secs[function][sampler] / len(v)
            print(
                f"| {SAMPLER_NAME.get(sampler, sampler)} | {fmt(med)} | {fmt(q1)} | {fmt(q3)} "
                f"| {fmt(v.min())} | {fmt(v.max())} | {per_run:.3f} s |"
            )
        print()
        if "ets_tpe" in by_sampler and "optuna_tpe" in by_sampler:
            ets = [by_sampler["ets_tpe"][k] for k in sorted(by_sampler["ets_tpe"])]
            opt = [by_sampler["optuna_tpe"][k] for k in sorted(by_sampler["optuna_tpe"])]
            u, p, verdict = compare(ets, opt)
            print(
                f"ETS TPE vs Optuna TPE: Mann-Whitney U = {u:g} (of {len(ets) * len(opt)}), "
                f"two-sided p = {p:.3g}: {verdict}."
            )
            print()
            summary.append((function, np.median(ets), np.median(opt), p, verdict))
    if summary:
        print("### Summary: ETS TPE vs Optuna TPE")
        print()
        print("| function | ETS TPE median | Optuna TPE median | p (two-sided) | verdict |")
        print("| --- | ---: | ---: | ---: | --- |")
        for function, me, mo, p, verdict in summary:
            print(f"| {function} | {fmt(me)} | {fmt(mo)} | {p:.3g} | {verdict} |")
        print()


if __name__ == "__main__":
    main()
