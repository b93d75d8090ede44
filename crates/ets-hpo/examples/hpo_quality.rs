//! Quality benchmark of issue 16, ETS side: ETS's TPE (the configuration `{"type": "tpe"}`
//! gives, with a seed) and random sampler on Branin, Hartmann-6, Rosenbrock-10 and a mixed
//! categorical + conditional space. Each run is sequential: ask, evaluate, tell (the complete
//! trial is appended to the history). Prints one JSON line per run:
//! `{"sampler": "ets_tpe", "function": "branin", "seed": 0, "best": 0.41, "seconds": 0.01}`.
//!
//! `bench/hpo/quality.sh` builds and runs this next to `bench/hpo/optuna_quality.py` (the same
//! functions and spaces on Optuna) and compares the two; by hand:
//!
//! ```text
//! cargo run -p ets-hpo --release --example hpo_quality -- [--seeds 20] [--trials 100]
//!     [--functions branin,hartmann6,rosenbrock10,mixed] [--samplers ets_tpe,ets_random]
//! ```
//!
//! The functions are defined identically in `bench/hpo/optuna_quality.py`; change both together.

use ets_hpo::{Direction, Distribution, Params, SamplerConfig, SearchSpace, Trial, TrialState};
use serde_json::json;
use std::f64::consts::PI;
use std::time::Instant;

fn f(p: &Params, name: &str) -> f64 {
    p[name].as_f64().expect("numeric param")
}

/// Branin on x ∈ [-5, 10], y ∈ [0, 15]; minimum 0.397887 (three minimisers).
fn branin(p: &Params) -> f64 {
    let (x, y) = (f(p, "x"), f(p, "y"));
    let b = 5.1 / (4.0 * PI * PI);
    let c = 5.0 / PI;
    let t = 1.0 / (8.0 * PI);
    (y - b * x * x + c * x - 6.0).powi(2) + 10.0 * (1.0 - t) * x.cos() + 10.0
}

const HARTMANN_A: [[f64; 6]; 4] = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
];
const HARTMANN_P: [[f64; 6]; 4] = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
];
const HARTMANN_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];

/// Hartmann-6 on [0, 1]^6; minimum −3.32237.
fn hartmann6(p: &Params) -> f64 {
    let x: Vec<f64> = (0..6).map(|i| f(p, &format!("x{i}"))).collect();
    -(0..4)
        .map(|i| {
            let inner: f64 = (0..6)
                .map(|j| HARTMANN_A[i][j] * (x[j] - HARTMANN_P[i][j]).powi(2))
                .sum();
            HARTMANN_ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

/// Rosenbrock-10 on [-5, 10]^10; minimum 0 at (1, ..., 1).
fn rosenbrock10(p: &Params) -> f64 {
    let x: Vec<f64> = (0..10).map(|i| f(p, &format!("x{i}"))).collect();
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

/// A model-selection-like objective: `model` picks a branch with its own parameters, and
/// the unconditional `scaler` adds a penalty. Minimum 0.2: tree, depth 7, frac 0.8,
/// scaler "standard". The linear branch's best is 0.25 (lr = 10^-2.5, scaler "standard").
fn mixed(p: &Params) -> f64 {
    let scaler = match p["scaler"].as_str().expect("choice") {
        "standard" => 0.0,
        "robust" => 0.03,
        _ => 0.1,
    };
    let branch = match p["model"].as_str().expect("choice") {
        "linear" => 0.25 + 0.05 * (f(p, "lr").log10() + 2.5).powi(2),
        _ => 0.2 + 0.01 * (f(p, "depth") - 7.0).powi(2) + 2.0 * (f(p, "frac") - 0.8).powi(2),
    };
    branch + scaler
}

type Objective = fn(&Params) -> f64;

fn problem(name: &str) -> (SearchSpace, Objective) {
    let cube = |n: usize, low: f64, high: f64| {
        (0..n).fold(SearchSpace::new(), |s, i| {
            s.with(&format!("x{i}"), Distribution::float(low, high))
        })
    };
    match name {
        "branin" => (
            SearchSpace::new()
                .with("x", Distribution::float(-5.0, 10.0))
                .with("y", Distribution::float(0.0, 15.0)),
            branin,
        ),
        "hartmann6" => (cube(6, 0.0, 1.0), hartmann6),
        "rosenbrock10" => (cube(10, -5.0, 10.0), rosenbrock10),
        "mixed" => (
            SearchSpace::new()
                .with("model", Distribution::categorical(["linear", "tree"]))
                .with(
                    "scaler",
                    Distribution::categorical(["none", "standard", "robust"]),
                )
                .with_conditional(
                    "lr",
                    Distribution::float_log(1e-4, 1.0),
                    "model",
                    ["linear"],
                )
                .with_conditional("depth", Distribution::int(1, 12), "model", ["tree"])
                .with_conditional("frac", Distribution::float(0.1, 1.0), "model", ["tree"]),
            mixed,
        ),
        other => panic!("unknown function {other:?}"),
    }
}

/// The sampler a user gets from the study's JSON configuration, with only the seed set.
fn sampler_config(name: &str, seed: u64) -> SamplerConfig {
    let v = match name {
        "ets_tpe" => json!({"type": "tpe", "seed": seed}),
        "ets_random" => json!({"type": "random", "seed": seed}),
        other => panic!("unknown sampler {other:?}"),
    };
    serde_json::from_value(v).expect("valid sampler config")
}

/// Best value found in `n_trials` sequential ask/evaluate/tell rounds.
fn run(config: &SamplerConfig, space: &SearchSpace, objective: Objective, n_trials: u64) -> f64 {
    let sampler = config.build();
    let mut history: Vec<Trial> = Vec::with_capacity(n_trials as usize);
    let mut best = f64::INFINITY;
    for number in 0..n_trials {
        let params = sampler
            .sample(space, &history, &[Direction::Minimize], number)
            .expect("sample");
        space
            .check_params(&params)
            .expect("sampled params are legal");
        let value = objective(&params);
        best = best.min(value);
        let mut t = Trial::new(number, TrialState::Complete);
        t.params = params;
        t.values = Some(vec![value]);
        history.push(t);
    }
    best
}

fn main() {
    let mut seeds = 20u64;
    let mut trials = 100u64;
    let mut functions = "branin,hartmann6,rosenbrock10,mixed".to_owned();
    let mut samplers = "ets_tpe,ets_random".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--seeds" => seeds = value().parse().expect("--seeds N"),
            "--trials" => trials = value().parse().expect("--trials N"),
            "--functions" => functions = value(),
            "--samplers" => samplers = value(),
            "-h" | "--help" => {
                println!(
                    "hpo_quality [--seeds 20] [--trials 100] \
                     [--functions branin,hartmann6,rosenbrock10,mixed] \
                     [--samplers ets_tpe,ets_random]"
                );
                return;
            }
            other => panic!("unknown argument {other:?} (try --help)"),
        }
    }
    for function in functions.split(',') {
        let (space, objective) = problem(function);
        space.validate().expect("valid space");
        for sampler in samplers.split(',') {
            for seed in 0..seeds {
                let config = sampler_config(sampler, seed);
                let start = Instant::now();
                let best = run(&config, &space, objective, trials);
                let seconds = start.elapsed().as_secs_f64();
                println!(
                    "{}",
                    json!({"sampler": sampler, "function": function, "seed": seed,
                           "best": best, "seconds": seconds})
                );
            }
        }
    }
}
