"""Generate crates/ets-stats/tests/fixtures/cases.json from SciPy and statsmodels.

Run in the venv pinned by requirements.txt (see check_fixtures.sh):
    python make_fixtures.py OUT.json

Every case holds its inputs and the reference library's outputs. Non-finite outputs are written
as the strings "nan", "inf", "-inf" (JSON has no such numbers). Inputs are drawn from a fixed
seed, so the file is reproducible byte for byte with the pinned versions.
"""

import json
import sys
import warnings

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

warnings.simplefilter("ignore")  # SciPy warns on the degenerate cases we want
rng = np.random.RandomState(20240614)


def num(v):
    v = float(v)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def sample(n, kind):
    if kind == "normal":
        return [round(float(v), 4) for v in rng.normal(0.8, 0.05, n)]
    if kind == "shifted":
        return [round(float(v), 4) for v in rng.normal(0.83, 0.08, n)]
    if kind == "ties":
        return [float(v) for v in rng.randint(0, 5, n)]
    if kind == "wide":
        return [round(float(v), 6) for v in rng.lognormal(0, 2, n)]
    raise ValueError(kind)


cases = []


def add(family, inputs, outputs):
    cases.append({"family": family, "inputs": inputs, "outputs": {k: num(v) for k, v in outputs.items()}})


# --- distributions -------------------------------------------------------------------------
for z in [-38.0, -20.0, -8.5, -3.0, -1.959963984540054, -0.5, 0.0, 0.25, 1.0, 2.5, 6.0, 9.0, 37.5]:
    add("normal", {"z": z}, {"cdf": stats.norm.cdf(z), "sf": stats.norm.sf(z)})
for p in [1e-300, 1e-100, 1e-20, 1e-10, 1e-6, 0.001, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.975, 0.999999]:
    add("normal_quantile", {"p": p}, {"ppf": stats.norm.ppf(p), "isf": stats.norm.isf(p)})
for t, df in [(0.0, 3.0), (0.5, 1.0), (-1.2, 2.5), (2.0, 5.0), (-4.0, 10.0), (12.0, 3.0), (-40.0, 7.0),
              (1e-8, 4.0), (3.3, 1000.0), (-2.1, 1e6), (25.0, 50.0), (-0.01, 0.5), (100.0, 2.0),
              (-6.5, 17.23), (1.7, 123.456)]:
    add("student_t", {"t": t, "df": df}, {"cdf": stats.t.cdf(t, df), "sf": stats.t.sf(t, df)})
for p, df in [(0.975, 1.0), (0.975, 2.0), (0.975, 4.5), (0.025, 9.0), (0.995, 30.0), (0.9, 1e5),
              (1e-10, 3.0), (0.999999, 12.0), (0.6, 2.0), (0.975, 7.123)]:
    add("student_t_quantile", {"p": p, "df": df}, {"ppf": stats.t.ppf(p, df)})
for x, a, b in [(0.5, 1.0, 1.0), (0.1, 2.0, 3.0), (0.9, 0.5, 0.5), (1e-5, 1.0, 1e6), (0.99, 1e6, 1.0),
                (0.5, 5e5, 5e5), (0.5001, 5e5, 5e5), (0.3, 30.0, 70.0), (0.001, 0.1, 10.0),
                (0.999, 500.0, 0.5), (0.2, 1000.5, 4000.25), (0.75, 3.0, 1.5)]:
    add("beta", {"x": x, "a": a, "b": b}, {"cdf": stats.beta.cdf(x, a, b), "sf": stats.beta.sf(x, a, b)})
# The inverse at the extremes statrs#434/#435 trip over, and where Clopper–Pearson needs it.
for p, a, b in [(0.025, 1.0, 1e6), (0.975, 1.0, 1e6), (1e-10, 2.0, 3.0), (1e-300, 1.0, 1.0),
                (0.5, 0.5, 0.5), (0.025, 99.0, 2.0), (0.05, 999999.0, 2.0), (0.025, 0.01, 0.01),
                (0.999, 5e5, 5e5), (1e-8, 1e6, 1.0), (0.3, 10.0, 1e-3), (0.025, 1e-3, 10.0),
                (0.05, 5.0, 0.2), (1e-15, 400.0, 600.0), (0.9999999, 3.0, 3.0), (0.025, 1.0, 1.0)]:
    add("beta_quantile", {"p": p, "a": a, "b": b}, {"ppf": stats.beta.ppf(p, a, b), "isf": stats.beta.isf(p, a, b)})
for k, M, n, N in [(0, 10, 3, 4), (2, 10, 3, 4), (5, 50, 20, 10), (500, 2000, 1000, 1000),
                   (30, 200000, 60000, 100), (0, 1000000, 10, 100000), (7, 60, 7, 7), (450, 1000, 500, 900)]:
    add("hypergeom", {"k": k, "total": M, "successes": n, "draws": N}, {"pmf": stats.hypergeom.pmf(k, M, n, N)})

# --- proportions -----------------------------------------------------------------------------
props = [(99, 100), (100, 100), (0, 100), (0, 1), (1, 1), (1, 2), (50, 100), (995, 1000),
         (9990, 10000), (999999, 1000000), (1000000, 1000000), (0, 1000000), (3, 1000000),
         (1, 1000), (7, 13), (897, 900), (12, 40), (499999, 1000000)]
for x, n in props:
    for c in (0.9, 0.95, 0.99):
        out = {}
        for method, name in (("wilson", "wilson"), ("beta", "clopper_pearson")):
            lo, hi = proportion_confint(x, n, alpha=1 - c, method=method)
            out[f"{name}_lower"], out[f"{name}_upper"] = lo, hi
            lo1, _ = proportion_confint(x, n, alpha=2 * (1 - c), method=method)
            _, hi1 = proportion_confint(x, n, alpha=2 * (1 - c), method=method)
            out[f"{name}_one_sided_lower"], out[f"{name}_one_sided_upper"] = lo1, hi1
        add("proportion", {"successes": x, "trials": n, "confidence": c}, out)

# --- two-sample tests -----------------------------------------------------------------------
pairs = [
    ([1.0], [2.0]),
    ([1.0], [2.0, 3.0]),
    ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),          # identical, zero variance
    ([1.0, 1.0, 1.0], [2.0, 2.0]),               # zero variance, different means
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),          # identical groups
    ([1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 3.0, 4.0]),  # ties
    ([19.0, 22.0, 16.0, 29.0, 24.0], [20.0, 11.0, 17.0, 12.0]),  # SciPy's docstring
    ([0.0, 0.0, 0.0, 1.0], [5.0, 6.0, 7.0]),
    ([1.0, 2.0], [3.0, 4.0]),
]
for n1, n2, kind in [(3, 3, "normal"), (5, 8, "normal"), (8, 8, "shifted"), (8, 30, "normal"),
                     (9, 9, "normal"), (12, 15, "shifted"), (20, 20, "ties"), (4, 6, "ties"),
                     (30, 25, "wide"), (50, 60, "normal"), (7, 3, "wide"), (2, 200, "normal"),
                     (100, 120, "ties"), (15, 10, "wide"), (6, 6, "ties"), (1, 8, "normal")]:
    pairs.append((sample(n1, kind), sample(n2, "shifted" if kind == "normal" else kind)))

for a, b in pairs:
    w = stats.ttest_ind(a, b, equal_var=False)
    ci = w.confidence_interval(0.95)
    m = stats.mannwhitneyu(a, b)
    ss = lambda v: float(np.sum((np.asarray(v) - np.mean(v)) ** 2)) if len(v) > 1 else 0.0
    sp = np.sqrt((ss(a) + ss(b)) / (len(a) + len(b) - 2)) if len(a) + len(b) > 2 else np.nan
    with np.errstate(all="ignore"):
        d = (np.mean(a) - np.mean(b)) / sp
    gt = sum(1 for x in a for y in b if x > y)
    lt = sum(1 for x in a for y in b if x < y)
    add("two_sample", {"a": a, "b": b}, {
        "welch_statistic": w.statistic, "welch_p": w.pvalue, "welch_df": w.df,
        "welch_ci_lower": ci.low, "welch_ci_upper": ci.high,
        "mwu_statistic": m.statistic, "mwu_p": m.pvalue,
        "cohens_d": d, "cliffs_delta": (gt - lt) / (len(a) * len(b)),
    })

# --- paired tests ---------------------------------------------------------------------------
paired = [
    ([1.0], [0.0]),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),               # all differences zero
    ([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]),               # constant difference
    ([1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 1.0, 3.0, 3.0, 6.0]),  # a zero, ties
    ([float(i) for i in range(14)], [float(i) for i in range(14)]),  # 14 zeros: asymptotic, NaN
]
for n, kind in [(4, "normal"), (6, "normal"), (8, "ties"), (10, "normal"), (12, "ties"), (13, "ties"),
                (14, "ties"), (20, "normal"), (25, "ties"), (50, "normal"), (51, "ties"), (60, "normal"),
                (5, "wide"), (9, "ties")]:
    base = sample(n, kind)
    other = sample(n, kind)
    paired.append((base, other))
for a, b in paired:
    t = stats.ttest_rel(a, b)
    ci = t.confidence_interval(0.95)
    wx = stats.wilcoxon(a, b)
    dd = np.asarray(a) - np.asarray(b)
    with np.errstate(all="ignore"):
        dz = np.mean(dd) / np.std(dd, ddof=1) if len(dd) > 1 else np.nan
    add("paired", {"a": a, "b": b}, {
        "t_statistic": t.statistic, "t_p": t.pvalue, "t_df": t.df,
        "t_ci_lower": ci.low, "t_ci_upper": ci.high,
        "wilcoxon_statistic": wx.statistic, "wilcoxon_p": wx.pvalue, "cohens_dz": dz,
    })

# --- rates ----------------------------------------------------------------------------------
for x1, n1, x2, n2 in [(99, 100, 90, 100), (0, 10, 0, 12), (10, 10, 12, 12), (5, 10, 5, 10),
                       (1, 1, 0, 1), (480, 1000, 520, 1000), (999000, 1000000, 998500, 1000000),
                       (3, 40, 9, 41), (0, 50, 4, 50), (30, 31, 20, 35)]:
    z, p = proportions_ztest([x1, x2], [n1, n2])
    add("two_proportion", {"x1": x1, "n1": n1, "x2": x2, "n2": n2}, {"statistic": z, "p": p})
tables = [[[1, 9], [11, 3]], [[8, 2], [1, 5]], [[0, 5], [5, 0]], [[0, 0], [3, 4]], [[5, 5], [5, 5]],
          [[3, 1], [1, 3]], [[10, 0], [0, 10]], [[100, 2], [95, 8]], [[1, 0], [0, 0]],
          [[50, 50], [60, 40]], [[2, 7], [8, 2]], [[999, 1], [990, 10]], [[0, 1], [1, 0]],
          [[7, 3], [2, 8]], [[1000, 9000], [1100, 8900]], [[4, 0], [4, 0]], [[12, 5], [3, 14]],
          [[2, 0], [1, 3]]]
for t in tables:
    r = stats.fisher_exact(t)
    add("fisher", {"table": t}, {"odds_ratio": r.statistic, "p": r.pvalue})

# --- multiple testing, descriptive ----------------------------------------------------------
for ps in [[0.01, 0.04, 0.03, 0.005], [0.5], [0.2, 0.2, 0.2], [0.001, 0.9, 0.04, 0.04, 0.3, 0.011],
           [0.0, 1.0, 0.5]]:
    add("holm", {"p": ps}, {f"adjusted_{i}": v for i, v in enumerate(multipletests(ps, method="holm")[1])})
for xs in [[1.0], [2.0, 4.0], [3.0, 1.0, 2.0], [0.5, 0.5, 0.5, 0.5], sample(11, "wide"), sample(40, "ties")]:
    add("describe", {"x": xs}, {
        "mean": np.mean(xs), "sd": np.std(xs, ddof=1) if len(xs) > 1 else np.nan, "median": np.median(xs),
    })

doc = {
    "generator": "tests/stats/make_fixtures.py",
    "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "statsmodels": statsmodels.__version__},
    "count": len(cases),
    "cases": cases,
}
with open(sys.argv[1], "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
