//! How long one TPE suggestion takes over a long history (issue 16's speed goal: an ask at
//! 10,000 trials in ≤ 5 ms, of which sampling is one part): `cargo run -p ets-hpo --release
//! --example tpe_timing -- [trials...]`. Four params (three floats, one log-scale, and a
//! categorical), random complete history kept as a `History` (as the server keeps it), median of 20
//! suggestions per size (`TPE_ROUNDS`). `TPE_HISTORY=crowded`: four trials in five within a
//! twentieth of the range of the optimum, as in a study that TPE has converged.
//!
//! Two figures per size: "fresh", a sampler given the history alone (it fits every trial);
//! "kept", the server's ask: the study's `SamplerCache` from the previous ask, one more
//! complete trial (the previous suggestion, told) in the history. `TPE_ONLY=kept` (or `fresh`)
//! times one of them only (for `perf`).

use ets_hpo::{
    Direction, Distribution, History, SamplerCache, SamplerConfig, SearchSpace, Trial, TrialState,
};
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
        let median = |mut times: Vec<f64>| {
            times.sort_by(f64::total_cmp);
            (times[times.len() / 2], times[times.len() - 1])
        };
        let only = std::env::var("TPE_ONLY").unwrap_or_default();
        let fresh: Vec<f64> = (0..if only == "kept" { 1 } else { rounds })
            .map(|k| {
                let started = Instant::now();
                tpe.sample_history(&space, &kept, &directions, n as u64 + k)
                    .unwrap();
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        let (p50, max) = median(fresh);
        println!("{n} trials: fresh TPE suggestion p50 {p50:.3} ms, max {max:.3} ms");
        let mut cache = SamplerCache::default();
        let first = Instant::now();
        tpe.sample_cached(&space, &kept, &directions, n as u64, &mut cache)
            .unwrap();
        let first = first.elapsed().as_secs_f64() * 1000.0;
        let asks: Vec<f64> = (0..if only == "fresh" { 1 } else { rounds })
            .map(|k| {
                let number = n as u64 + k;
                let started = Instant::now();
                let params = tpe
                    .sample_cached(&space, &kept, &directions, number, &mut cache)
                    .unwrap();
                let took = started.elapsed().as_secs_f64() * 1000.0;
                let value = params["a"].as_f64().unwrap().powi(2) + params["b"].as_f64().unwrap();
                let mut trial = Trial::new(number, TrialState::Complete);
                trial.params = params;
                trial.values = Some(vec![value]);
                kept.push(trial);
                took
            })
            .collect();
        let (p50, max) = median(asks);
        println!(
            "{n} trials: kept-state TPE suggestion p50 {p50:.3} ms, max {max:.3} ms \
             (state built at the first ask: {first:.2} ms)"
        );
    }
}
