//! best_trial, pareto_front, importance, and the pruners' JSON configuration.

use ets_hpo::{
    Direction, Distribution, HyperbandPruner, MinResource, NopPruner, Pruner, SearchSpace,
    SuccessiveHalvingPruner, Trial, TrialState, best_trial, estimate_max_resource,
    estimate_min_resource, explained_variance_importance, pareto_front,
};
use serde_json::json;

fn done(number: u64, values: &[f64]) -> Trial {
    let mut t = Trial::new(number, TrialState::Complete);
    t.values = Some(values.to_vec());
    t
}

#[test]
fn best_trial_respects_direction_ties_and_states() {
    let mut running = Trial::new(9, TrialState::Running);
    running.values = Some(vec![-100.0]);
    let h = vec![
        done(0, &[3.0]),
        done(1, &[1.0]),
        done(2, &[1.0]),
        done(3, &[f64::NAN]),
        done(4, &[7.0]),
        running,
    ];
    assert_eq!(best_trial(&h, Direction::Minimize).unwrap().number, 1);
    assert_eq!(best_trial(&h, Direction::Maximize).unwrap().number, 4);
    assert!(best_trial(&h[5..], Direction::Minimize).is_none());
}

#[test]
fn pareto_front_keeps_non_dominated_complete_trials() {
    let dirs = [Direction::Minimize, Direction::Maximize];
    let h = vec![
        done(0, &[1.0, 1.0]),
        done(1, &[2.0, 3.0]),
        done(2, &[2.0, 2.0]), // dominated by 1
        done(3, &[0.5, 0.5]),
        done(4, &[2.0, 3.0]), // equal to 1: both kept
        done(5, &[3.0, 2.5]), // dominated by 1
        done(6, &[1.0]),      // wrong arity: ignored
    ];
    let front: Vec<u64> = pareto_front(&h, &dirs).iter().map(|t| t.number).collect();
    assert_eq!(front, [0, 1, 3, 4]);
}

#[test]
fn importance_ranks_the_parameter_that_drives_the_objective() {
    let space = SearchSpace::new()
        .with("strong", Distribution::float(0.0, 1.0))
        .with("weak", Distribution::float_log(1e-3, 1.0))
        .with("noise", Distribution::categorical(["a", "b", "c"]));
    // Deterministic low-discrepancy inputs; y = 10·strong + 1·log10(weak), noise unused.
    let h: Vec<Trial> = (0..200u64)
        .map(|i| {
            let s = (i as f64 * 0.618_034).fract();
            let w = 10f64.powf(-3.0 * (i as f64 * 0.414_214).fract());
            let mut t = done(i, &[10.0 * s + w.log10()]);
            t.params.insert("strong".into(), json!(s));
            t.params.insert("weak".into(), json!(w));
            t.params
                .insert("noise".into(), json!(["a", "b", "c"][(i % 3) as usize]));
            t
        })
        .collect();
    let imp = explained_variance_importance(&space, &h, &[Direction::Minimize], 0);
    let names: Vec<&str> = imp.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["strong", "weak", "noise"]);
    assert!(
        imp[0].importance > 0.7 && imp[2].importance < 0.05,
        "{imp:?}"
    );
    assert!((imp.iter().map(|p| p.importance).sum::<f64>() - 1.0).abs() < 1e-12);
    assert!(imp.iter().all(|p| p.n_trials == 200));
}

#[test]
fn pruner_configs_use_optunas_defaults_and_json_names() {
    let sha: SuccessiveHalvingPruner = serde_json::from_value(json!({})).unwrap();
    assert_eq!(sha, SuccessiveHalvingPruner::default());
    assert_eq!(sha.min_resource, MinResource::Auto);
    assert_eq!(sha.reduction_factor, 4);
    let sha: SuccessiveHalvingPruner = serde_json::from_value(json!({"min_resource": 3})).unwrap();
    assert_eq!(sha.min_resource, MinResource::Fixed(3));
    assert_eq!(
        serde_json::to_value(MinResource::Auto).unwrap(),
        json!("auto")
    );
    assert!(
        serde_json::from_value::<SuccessiveHalvingPruner>(json!({"min_resource": "soon"})).is_err()
    );
    let hb: HyperbandPruner = serde_json::from_value(json!({"max_resource": 81})).unwrap();
    assert_eq!((hb.min_resource, hb.reduction_factor), (1, 3));
    // max 81, rf 3: five brackets with Optuna's budgets ceil(5·3^s/(s+1)) (checked in Optuna 4.9).
    assert_eq!(hb.budgets(&[]).unwrap(), [81, 34, 15, 8, 5]);
    let mut t = Trial::new(0, TrialState::Running);
    t.intermediate.insert(0, 1e9);
    assert!(!NopPruner.prune(&t, &[], Direction::Minimize));
}

#[test]
fn auto_resources_are_optunas_estimates_from_complete_trials_only() {
    let mut running = Trial::new(0, TrialState::Running);
    running.intermediate.insert(999, 1.0);
    assert_eq!(estimate_min_resource(std::slice::from_ref(&running)), None);
    assert_eq!(estimate_max_resource(std::slice::from_ref(&running)), None);
    let mut done = Trial::new(1, TrialState::Complete);
    done.intermediate.insert(250, 1.0);
    let h = [running, done];
    assert_eq!(estimate_min_resource(&h), Some(2)); // max(250 // 100, 1)
    assert_eq!(estimate_max_resource(&h), Some(251));
    let mut short = Trial::new(2, TrialState::Complete);
    short.intermediate.insert(42, 1.0);
    assert_eq!(estimate_min_resource(&[short]), Some(1));
}
