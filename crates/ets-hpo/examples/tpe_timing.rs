//! How long one TPE suggestion takes over a long history (issue 16's speed goal: an ask at
//! 10,000 trials in ≤ 5 ms, of which sampling is one part): `cargo run -p ets-hpo --release
//! --example tpe_timing -- [trials...]`. Four params (three floats, one log-scale, and a
//! categorical), random complete history kept as a `History` (as the server keeps it), median of 20
//! suggestions per size (`TPE_ROUNDS`). `TPE_HISTORY=crowded`: four trials in five within a
//! twentieth of the range of the optimum, as in a study that TPE has converged.

use ets_hpo::{Direction, Distribution, History, SamplerConfig, SearchSpace, Trial, TrialState};
use serde_json::json;
use std::time::Instant;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number of trials"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000]
    } else {
        sizes
    };
    let space = SearchSpace::new()
        .with("a", Distribution::float(-5.0, 5.0))
        .with("b", Distribution::float(0.0, 1.0))
        .with("lr", Distribution::float_log(1e-5, 1.0))
        .with(
            "opt",
            Distribution::categorical([json!("sgd"), json!("adam"), json!("rmsprop")]),
        );
    let random = serde_json::from_value::<SamplerConfig>(json!({"type": "random", "seed": 1}))
        .unwrap()
        .build();
    let tpe = serde_json::from_value::<SamplerConfig>(json!({"type": "tpe", "seed": 1}))
        .unwrap()
        .build();
    let directions = [Direction::Minimize];
    for n in sizes {
        let mut history = Vec::with_capacity(n);
        let crowded = std::env::var("TPE_HISTORY").is_ok_and(|h| h == "crowded");
        for i in 0..n as u64 {
            let mut params = random.sample(&space, &history, &directions, i).unwrap();
            if crowded && i % 5 != 0 {
                let near = |v: f64, optimum: f64| optimum + 0.05 * (v - optimum);
                let a = near(params["a"].as_f64().unwrap(), 0.0);
                let b = near(params["b"].as_f64().unwrap(), 0.0);
                let lr = near(params["lr"].as_f64().unwrap().ln(), 1e-3f64.ln()).exp();
                params.insert("a".into(), json!(a));
                params.insert("b".into(), json!(b));
                params.insert("lr".into(), json!(lr));
            }
            let value = params["a"].as_f64().unwrap().powi(2) + params["b"].as_f64().unwrap();
            let mut trial = Trial::new(i, TrialState::Complete);
            trial.params = params;
            trial.values = Some(vec![value]);
            history.push(trial);
        }
        // As a server keeps it between asks: parameter columns converted once.
        let mut kept = History::from(history);
        kept.track(&space);
        let rounds: u64 = std::env::var("TPE_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(20);
        let mut times: Vec<f64> = (0..rounds)
            .map(|k| {
                let started = Instant::now();
                tpe.sample_history(&space, &kept, &directions, n as u64 + k)
                    .unwrap();
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{n} trials: TPE suggestion p50 {:.2} ms, max {:.2} ms",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}
