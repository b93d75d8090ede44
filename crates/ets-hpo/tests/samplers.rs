//! Behaviour every sampler must have: legal values, only active parameters, determinism.

use ets_hpo::{
    Direction, Distribution, GridSampler, History, HpoError, Params, RandomSampler, Sampler,
    SearchSpace, TpeOptions, TpeSampler, Trial, TrialState,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Every kind of distribution, plus a two-level conditional branch.
fn mixed_space() -> SearchSpace {
    SearchSpace::new()
        .with("lr", Distribution::float_log(1e-5, 1e-1))
        .with("dropout", Distribution::float_step(0.0, 0.5, 0.1))
        .with("momentum", Distribution::float(0.5, 0.99))
        .with("layers", Distribution::int(1, 6))
        .with("units", Distribution::int_log(8, 1024))
        .with("batch", Distribution::int_step(16, 256, 16))
        .with("model", Distribution::categorical(["svm", "rf", "mlp"]))
        .with_conditional(
            "svm_c",
            Distribution::float_log(1e-3, 1e3),
            "model",
            ["svm"],
        )
        .with_conditional(
            "rf_kind",
            Distribution::categorical(["sqrt", "log2", "all"]),
            "model",
            ["rf"],
        )
        .with_conditional("rf_trees", Distribution::int(10, 500), "model", ["rf"])
        .with_conditional(
            "rf_features",
            Distribution::float(0.1, 1.0),
            "rf_kind",
            ["sqrt", "log2"],
        )
}

/// A deterministic objective over the mixed space, defined for any active set.
fn objective(p: &Params) -> f64 {
    let f = |k: &str| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let mut y =
        (f("lr").log10() + 3.0).powi(2) + (f("dropout") - 0.2).powi(2) + (f("layers") - 3.0).abs();
    y += match p["model"].as_str().unwrap() {
        "svm" => (f("svm_c").log10() - 1.0).powi(2),
        "rf" => (f("rf_trees") - 200.0).abs() / 100.0 + f("rf_features"),
        _ => 1.0,
    };
    y
}

fn check_sample(space: &SearchSpace, p: &Params) {
    let active: BTreeSet<&str> = space.active_names(p).into_iter().collect();
    let keys: BTreeSet<&str> = p.keys().map(String::as_str).collect();
    assert_eq!(keys, active, "exactly the active params: {p:?}");
    for (k, v) in p {
        let d = &space.get(k).unwrap().distribution;
        assert!(d.contains(v), "{k}={v} outside {d:?}");
        if matches!(d, Distribution::Int { .. }) {
            assert!(v.is_i64(), "{k}={v} must be an integer");
        }
    }
}

/// Runs `n` sequential trials on [`objective`] and checks every suggestion on the way.
fn run(sampler: &dyn Sampler, space: &SearchSpace, n: u64) -> Vec<Trial> {
    run_on(sampler, space, n, objective)
}

fn run_on(sampler: &dyn Sampler, space: &SearchSpace, n: u64, f: fn(&Params) -> f64) -> Vec<Trial> {
    let mut history = Vec::new();
    // The same trials kept as a server keeps them (parameter columns, sorted positions).
    let mut kept = History::new();
    kept.track(space);
    for number in 0..n {
        let p = sampler
            .sample(space, &history, &[Direction::Minimize], number)
            .unwrap();
        check_sample(space, &p);
        // Same inputs, same answer: a server can recompute a suggestion.
        assert_eq!(
            p,
            sampler
                .sample(space, &history, &[Direction::Minimize], number)
                .unwrap()
        );
        // Same answer from the kept history.
        assert_eq!(
            p,
            sampler
                .sample_history(space, &kept, &[Direction::Minimize], number)
                .unwrap()
        );
        let mut t = Trial::new(number, TrialState::Complete);
        t.values = Some(vec![f(&p)]);
        t.params = p;
        kept.push(t.clone());
        history.push(t);
    }
    history
}

fn samplers(seed: u64) -> Vec<(&'static str, Box<dyn Sampler>)> {
    let tpe = |multivariate, constant_liar| {
        Box::new(TpeSampler::new(TpeOptions {
            seed,
            multivariate,
            constant_liar,
            ..TpeOptions::default()
        }))
    };
    vec![
        ("random", Box::new(RandomSampler::new(seed))),
        ("tpe", tpe(false, false)),
        ("tpe_multivariate", tpe(true, false)),
        ("tpe_liar", tpe(false, true)),
    ]
}

#[test]
fn samples_are_legal_active_and_deterministic() {
    let space = mixed_space();
    space.validate().unwrap();
    for (name, s) in samplers(3) {
        let h = run(s.as_ref(), &space, 60);
        // The branches all get explored.
        for model in ["svm", "rf", "mlp"] {
            assert!(
                h.iter().any(|t| t.params["model"] == model),
                "{name} never tried {model}"
            );
        }
        assert!(
            h.iter().any(|t| t.params.contains_key("rf_features")),
            "{name}"
        );
        // Steps and logs are respected across the run, not only once.
        let batches: BTreeSet<i64> = h
            .iter()
            .map(|t| t.params["batch"].as_i64().unwrap())
            .collect();
        assert!(
            batches.len() > 3 && batches.iter().all(|b| b % 16 == 0),
            "{name}: {batches:?}"
        );
        let lrs: Vec<f64> = h.iter().map(|t| t.params["lr"].as_f64().unwrap()).collect();
        assert!(
            lrs.iter().any(|lr| *lr < 1e-3),
            "{name}: log-uniform reaches small lr"
        );
        let drop: BTreeSet<String> = h.iter().map(|t| t.params["dropout"].to_string()).collect();
        assert!(
            drop.iter().all(|d| [
                "0.0",
                "0.1",
                "0.2",
                "0.30000000000000004",
                "0.3",
                "0.4",
                "0.5"
            ]
            .contains(&d.as_str())),
            "{name}: {drop:?}"
        );
    }
}

#[test]
fn seeds_change_the_stream_and_trials_differ() {
    let space = mixed_space();
    for ((name, a), (_, b)) in samplers(1).into_iter().zip(samplers(2)) {
        let ha = run(a.as_ref(), &space, 15);
        let hb = run(b.as_ref(), &space, 15);
        assert_ne!(
            ha.iter().map(|t| &t.params).collect::<Vec<_>>(),
            hb.iter().map(|t| &t.params).collect::<Vec<_>>(),
            "{name}"
        );
        let distinct: BTreeSet<String> = ha
            .iter()
            .map(|t| t.params["momentum"].to_string())
            .collect();
        assert_eq!(distinct.len(), 15, "{name}: each trial draws anew");
    }
}

#[test]
fn concurrent_grid_asks_each_get_their_own_point_whichever_samples_first() {
    let space = SearchSpace::new()
        .with("opt", Distribution::categorical(["sgd", "adam"]))
        .with("depth", Distribution::int(1, 2));
    let g = GridSampler;
    let d = [Direction::Minimize];
    // Trials 0..4 numbered at once, none sampled yet: each reads the same history.
    let pending: Vec<Trial> = (0..4).map(|n| Trial::new(n, TrialState::Running)).collect();
    let mut seen = BTreeSet::new();
    for number in 0..4 {
        let p = g.sample(&space, &pending, &d, number).unwrap();
        assert!(
            seen.insert(serde_json::to_string(&p).unwrap()),
            "repeated {p:?}"
        );
    }
    // Any order of sampling gives the same distinct points: trial 3 samples first, then
    // trial 0 sees it taken and trial 1 still pending.
    let mut history = pending.clone();
    let third = g.sample(&space, &history, &d, 3).unwrap();
    history[3].params = third.clone();
    let zeroth = g.sample(&space, &history, &d, 0).unwrap();
    history[0].params = zeroth.clone();
    let first = g.sample(&space, &history, &d, 1).unwrap();
    history[1].params = first.clone();
    let second = g.sample(&space, &history, &d, 2).unwrap();
    let all: BTreeSet<String> = [third, zeroth, first, second]
        .iter()
        .map(|p| serde_json::to_string(p).unwrap())
        .collect();
    assert_eq!(all.len(), 4);
    // A pending trial that failed before sampling reserves nothing.
    let mut failed = pending.clone();
    failed[0].state = TrialState::Failed;
    assert_eq!(
        g.sample(&space, &failed, &d, 1).unwrap(),
        g.sample(&space, &[], &d, 0).unwrap()
    );
}

#[test]
fn grid_exhausts_every_point_exactly_once() {
    let space = SearchSpace::new()
        .with("opt", Distribution::categorical(["sgd", "adam"]))
        .with("depth", Distribution::int_step(2, 8, 3))
        .with("wd", Distribution::float_step(0.0, 1.0, 0.5))
        .with_conditional(
            "beta",
            Distribution::categorical([0.9, 0.99]),
            "opt",
            ["adam"],
        );
    let g = GridSampler;
    // sgd: 3 depths × 3 wd; adam: 3 × 3 × 2 betas.
    let expected = 3 * 3 + 3 * 3 * 2;
    assert_eq!(g.points(&space).unwrap().len(), expected);
    let mut history: Vec<Trial> = Vec::new();
    let mut seen = BTreeSet::new();
    loop {
        let number = history.len() as u64;
        match g.sample(&space, &history, &[Direction::Minimize], number) {
            Ok(p) => {
                check_sample(&space, &p);
                assert!(
                    seen.insert(serde_json::to_string(&p).unwrap()),
                    "repeated {p:?}"
                );
                // Reserved while running: the next ask must not hand it out again.
                let mut t = Trial::new(number, TrialState::Running);
                t.params = p;
                history.push(t);
            }
            Err(e) => {
                assert_eq!(e, HpoError::GridExhausted(expected));
                break;
            }
        }
    }
    assert_eq!(seen.len(), expected);
    // A failed trial still holds its point; the trial being asked for does not.
    let last = history.last().unwrap().number;
    assert!(
        g.sample(&space, &history, &[Direction::Minimize], last)
            .is_ok()
    );
    // A float without a step has no grid.
    let bad = SearchSpace::new().with("x", Distribution::float(0.0, 1.0));
    assert_eq!(g.points(&bad), Err(HpoError::GridNeedsStep("x".into())));
}

#[test]
fn constant_liar_steers_away_from_running_trials() {
    // With a running trial parked at the current optimum, the liar counts it as bad, so
    // a parallel worker is pushed elsewhere more often than without the lie.
    let space = SearchSpace::new().with("x", Distribution::float(-5.0, 5.0));
    let mut history: Vec<Trial> = (0..30)
        .map(|i| {
            let x = -5.0 + 10.0 * (i as f64 * 0.618_034).fract();
            let mut t = Trial::new(i, TrialState::Complete);
            t.params.insert("x".into(), json!(x));
            t.values = Some(vec![(x - 1.0).powi(2)]);
            t
        })
        .collect();
    for i in 30..40 {
        let mut t = Trial::new(i, TrialState::Running);
        t.params
            .insert("x".into(), json!(1.0 + (i as f64 - 35.0) * 0.02));
        history.push(t);
    }
    let near = |liar: bool| {
        (0..40u64)
            .filter(|seed| {
                let s = TpeSampler::new(TpeOptions {
                    seed: *seed,
                    constant_liar: liar,
                    ..TpeOptions::default()
                });
                let p = s
                    .sample(&space, &history, &[Direction::Minimize], 40)
                    .unwrap();
                (p["x"].as_f64().unwrap() - 1.0).abs() < 0.15
            })
            .count()
    };
    let (with, without) = (near(true), near(false));
    eprintln!("near the running trials: liar {with}/40, plain {without}/40");
    // Measured: 0 of 40 with the liar, 18 of 40 without.
    assert!(with * 3 < without, "liar {with} vs plain {without}");
}

#[test]
fn tpe_falls_back_to_random_during_startup_and_refuses_no_direction() {
    let space = mixed_space();
    let tpe = TpeSampler::new(TpeOptions {
        seed: 9,
        ..TpeOptions::default()
    });
    let random = RandomSampler::new(9);
    let h = run(&random, &space, 9);
    assert_eq!(
        tpe.sample(&space, &h, &[Direction::Minimize], 9).unwrap(),
        random
            .sample(&space, &h, &[Direction::Minimize], 9)
            .unwrap()
    );
    assert_eq!(tpe.sample(&space, &h, &[], 9), Err(HpoError::NoDirections));
}

#[test]
fn tpe_multi_objective_samples_legal_points() {
    let space = SearchSpace::new()
        .with("x", Distribution::float(0.0, 1.0))
        .with("y", Distribution::float(0.0, 1.0));
    let dirs = [Direction::Minimize, Direction::Maximize];
    let tpe = TpeSampler::new(TpeOptions {
        seed: 4,
        ..TpeOptions::default()
    });
    let mut history = Vec::new();
    for n in 0..40 {
        let p = tpe.sample(&space, &history, &dirs, n).unwrap();
        check_sample(&space, &p);
        let (x, y) = (p["x"].as_f64().unwrap(), p["y"].as_f64().unwrap());
        let mut t = Trial::new(n, TrialState::Complete);
        t.values = Some(vec![x * x + y, (1.0 - x) + y]);
        t.params = p;
        history.push(t);
    }
    let front = ets_hpo::pareto_front(&history, &dirs);
    assert!(!front.is_empty());
}

#[test]
fn tpe_learns_conditional_parameters_from_trials_where_they_were_active() {
    // Best: model "svm" with svm_c near 10; "rf" is worse whatever its params. Failed and
    // pruned trials are mixed in and must not break anything.
    let space = SearchSpace::new()
        .with("model", Distribution::categorical(["svm", "rf"]))
        .with_conditional(
            "svm_c",
            Distribution::float_log(1e-3, 1e3),
            "model",
            ["svm"],
        )
        .with_conditional("rf_trees", Distribution::int(10, 500), "model", ["rf"]);
    let f = |p: &Params| match p["model"].as_str().unwrap() {
        "svm" => (p["svm_c"].as_f64().unwrap().log10() - 1.0).powi(2),
        _ => 2.0 + (p["rf_trees"].as_f64().unwrap() - 200.0).abs() / 300.0,
    };
    for multivariate in [false, true] {
        let tpe = TpeSampler::new(TpeOptions {
            seed: 5,
            multivariate,
            ..TpeOptions::default()
        });
        let mut history: Vec<Trial> = Vec::new();
        for number in 0..80u64 {
            let p = tpe
                .sample(&space, &history, &[Direction::Minimize], number)
                .unwrap();
            check_sample(&space, &p);
            let state = match number % 13 {
                5 => TrialState::Failed,
                9 => TrialState::Pruned,
                _ => TrialState::Complete,
            };
            let mut t = Trial::new(number, state);
            if state == TrialState::Complete {
                t.values = Some(vec![f(&p)]);
            }
            if state == TrialState::Pruned {
                t.intermediate.insert(1, f(&p));
            }
            t.params = p;
            history.push(t);
        }
        let late = &history[50..];
        let svm: Vec<f64> = late
            .iter()
            .filter_map(|t| t.params.get("svm_c").and_then(Value::as_f64))
            .collect();
        let near = svm.iter().filter(|c| (c.log10() - 1.0).abs() < 0.5).count();
        eprintln!(
            "multivariate={multivariate}: late svm {} of 30, near 10: {near}",
            svm.len()
        );
        assert!(
            svm.len() >= 20,
            "multivariate={multivariate}: TPE prefers the better branch"
        );
        assert!(
            near * 2 >= svm.len(),
            "multivariate={multivariate}: {near} of {}",
            svm.len()
        );
    }
}

#[test]
fn edge_spaces_stay_legal_under_every_sampler() {
    // Single values, tiny and huge ranges, negative stepped ints, mixed-type choices.
    let space = SearchSpace::new()
        .with("fixed", Distribution::float(2.5, 2.5))
        .with("one_int", Distribution::int(7, 7))
        .with("one_choice", Distribution::categorical(["only"]))
        .with("huge_log", Distribution::float_log(1e-10, 1e10))
        .with("tiny", Distribution::float(1e-9, 2e-9))
        .with("neg_step", Distribution::int_step(-20, -2, 6))
        .with(
            "mixed",
            Distribution::Categorical {
                choices: vec![json!(null), json!(true), json!(3), json!("s")],
            },
        )
        .with("int_log", Distribution::int_log(1, 2));
    for (name, s) in samplers(11) {
        let f = |p: &Params| {
            p["huge_log"].as_f64().unwrap().log10().abs() + p["neg_step"].as_f64().unwrap()
        };
        let h = run_on(s.as_ref(), &space, 40, f);
        for t in &h {
            assert_eq!(t.params["fixed"], json!(2.5), "{name}");
            assert_eq!(t.params["one_int"], json!(7), "{name}");
            assert_eq!(t.params["one_choice"], json!("only"), "{name}");
        }
        let neg: BTreeSet<i64> = h
            .iter()
            .map(|t| t.params["neg_step"].as_i64().unwrap())
            .collect();
        assert!(
            neg.is_subset(&BTreeSet::from([-20, -14, -8, -2])) && neg.len() >= 3,
            "{name}: {neg:?}"
        );
        let mixed: BTreeSet<String> = h.iter().map(|t| t.params["mixed"].to_string()).collect();
        assert!(mixed.len() >= 3, "{name}: {mixed:?}");
    }
}
