//! TPE must beat random search on smooth problems: a statistical check over seeds, with
//! no timing involved.

use ets_hpo::{
    Direction, Distribution, Params, RandomSampler, Sampler, SearchSpace, TpeOptions, TpeSampler,
    Trial, TrialState,
};
use std::f64::consts::PI;

fn branin(p: &Params) -> f64 {
    let (x, y) = (p["x"].as_f64().unwrap(), p["y"].as_f64().unwrap());
    let b = 5.1 / (4.0 * PI * PI);
    let c = 5.0 / PI;
    let t = 1.0 / (8.0 * PI);
    (y - b * x * x + c * x - 6.0).powi(2) + 10.0 * (1.0 - t) * x.cos() + 10.0
}

fn quadratic(p: &Params) -> f64 {
    let (x, y) = (p["x"].as_f64().unwrap(), p["y"].as_f64().unwrap());
    (x - 1.5).powi(2) + 3.0 * (y + 0.5).powi(2)
}

/// Best value found in `n` sequential trials.
fn best(sampler: &dyn Sampler, space: &SearchSpace, f: fn(&Params) -> f64, n: u64) -> f64 {
    let mut history: Vec<Trial> = Vec::new();
    for number in 0..n {
        let p = sampler
            .sample(space, &history, &[Direction::Minimize], number)
            .unwrap();
        let mut t = Trial::new(number, TrialState::Complete);
        t.values = Some(vec![f(&p)]);
        t.params = p;
        history.push(t);
    }
    history
        .iter()
        .map(|t| t.values.as_ref().unwrap()[0])
        .fold(f64::INFINITY, f64::min)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Median best over seeds for TPE (univariate and multivariate) and random; TPE must be
/// clearly better and win on most seeds.
fn compare(space: &SearchSpace, f: fn(&Params) -> f64, optimum: f64) {
    let seeds = 0..9u64;
    let regret = |s: &dyn Sampler| best(s, space, f, 100) - optimum;
    let rnd: Vec<f64> = seeds
        .clone()
        .map(|s| regret(&RandomSampler::new(s)))
        .collect();
    for multivariate in [false, true] {
        let tpe: Vec<f64> = seeds
            .clone()
            .map(|s| {
                regret(&TpeSampler::new(TpeOptions {
                    seed: s,
                    multivariate,
                    ..TpeOptions::default()
                }))
            })
            .collect();
        let (mt, mr) = (median(tpe.clone()), median(rnd.clone()));
        let wins = tpe.iter().zip(&rnd).filter(|(a, b)| a < b).count();
        eprintln!(
            "multivariate={multivariate}: median regret tpe {mt:.5} random {mr:.5}, wins {wins}/9"
        );
        assert!(
            mt < 0.5 * mr,
            "multivariate={multivariate}: tpe {mt} vs random {mr}"
        );
        // Sign test: 7 of 9 wins has p ≈ 0.09 under "no difference"; we want more.
        assert!(wins >= 7, "multivariate={multivariate}: {wins}/9");
    }
}

#[test]
fn tpe_beats_random_on_branin() {
    let space = SearchSpace::new()
        .with("x", Distribution::float(-5.0, 10.0))
        .with("y", Distribution::float(0.0, 15.0));
    compare(&space, branin, 0.397_887);
}

#[test]
fn tpe_beats_random_on_a_quadratic() {
    let space = SearchSpace::new()
        .with("x", Distribution::float(-10.0, 10.0))
        .with("y", Distribution::float(-10.0, 10.0));
    compare(&space, quadratic, 0.0);
}
