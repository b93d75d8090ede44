//! Search-space validation and JSON form.

use ets_hpo::{Distribution, HpoError, ParamDef, SearchSpace};
use serde_json::json;

fn err(space: serde_json::Value) -> HpoError {
    let s: SearchSpace = serde_json::from_value(space).unwrap();
    s.validate().unwrap_err()
}

fn reason(e: HpoError) -> String {
    e.to_string()
}

#[test]
fn bad_distributions_are_refused_with_clear_messages() {
    let cases = [
        (
            json!({"x": {"type": "float", "low": 2.0, "high": 1.0}}),
            "low (2) must be <= high (1)",
        ),
        (
            json!({"x": {"type": "float", "low": 0.0, "high": 1.0, "log": true}}),
            "log needs low > 0",
        ),
        (
            json!({"x": {"type": "float", "low": 0.1, "high": 1.0, "log": true, "step": 0.1}}),
            "step and log cannot be used together",
        ),
        (
            json!({"x": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.3}}),
            "not divisible by step 0.3 (use high=0.8999999999999999)",
        ),
        (
            json!({"x": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.0}}),
            "step must be > 0",
        ),
        (
            json!({"x": {"type": "int", "low": 0, "high": 10, "step": 3}}),
            "not divisible by step 3 (use high=9)",
        ),
        (
            json!({"x": {"type": "int", "low": 0, "high": 10, "log": true}}),
            "log needs low >= 1",
        ),
        (
            json!({"x": {"type": "int", "low": 1, "high": 9, "log": true, "step": 2}}),
            "log needs step == 1",
        ),
        (
            json!({"x": {"type": "int", "low": 5, "high": 1}}),
            "low (5) must be <= high (1)",
        ),
        (
            json!({"x": {"type": "categorical", "choices": []}}),
            "choices must not be empty",
        ),
        (
            json!({"x": {"type": "categorical", "choices": [[1]]}}),
            "null, bool, number or string",
        ),
        (
            json!({"x": {"type": "categorical", "choices": [1, 1.0]}}),
            "duplicate choice",
        ),
    ];
    for (space, want) in cases {
        let got = reason(err(space.clone()));
        assert!(
            got.contains(want) && got.contains("\"x\""),
            "{space}: {got}"
        );
    }
    assert_eq!(SearchSpace::new().validate(), Err(HpoError::EmptySpace));
    // Optuna allows a single-valued range.
    SearchSpace::new()
        .with("x", Distribution::float(1.0, 1.0))
        .validate()
        .unwrap();
}

#[test]
fn bad_conditions_are_refused() {
    let cat = json!({"type": "categorical", "choices": ["a", "b"]});
    let x = |cond: serde_json::Value| json!({"type": "float", "low": 0.0, "high": 1.0, "condition": cond});
    let missing = err(json!({"p": cat, "x": x(json!({"parent": "q", "values": ["a"]}))}));
    assert_eq!(
        reason(missing),
        "parameter \"x\": condition parent \"q\" does not exist"
    );
    let numeric = err(
        json!({"p": {"type": "int", "low": 0, "high": 3}, "x": x(json!({"parent": "p", "values": [1]}))}),
    );
    assert_eq!(
        reason(numeric),
        "parameter \"x\": condition parent \"p\" is not categorical"
    );
    let not_choice = err(json!({"p": cat, "x": x(json!({"parent": "p", "values": ["z"]}))}));
    assert!(reason(not_choice).contains("value \"z\" is not a choice"));
    let empty = err(json!({"p": cat, "x": x(json!({"parent": "p", "values": []}))}));
    assert!(reason(empty).contains("values must not be empty"));
    // a → b → a
    let cyc = err(json!({
        "a": {"type": "categorical", "choices": [1, 2], "condition": {"parent": "b", "values": [1]}},
        "b": {"type": "categorical", "choices": [1, 2], "condition": {"parent": "a", "values": [1]}},
    }));
    assert!(matches!(cyc, HpoError::ConditionCycle(_)), "{cyc}");
    let own = err(
        json!({"a": {"type": "categorical", "choices": [1], "condition": {"parent": "a", "values": [1]}}}),
    );
    assert_eq!(own, HpoError::ConditionCycle("a".into()));
}

#[test]
fn json_round_trips_and_keeps_declaration_order() {
    let text = r#"{"z":{"type":"float","low":0.001,"high":1.0,"log":true},"a":{"type":"int","low":0,"high":10,"step":2},"m":{"type":"categorical","choices":["x",1,true,null]},"k":{"type":"float","low":0.0,"high":1.0,"condition":{"parent":"m","values":["x",1]}}}"#;
    let space: SearchSpace = serde_json::from_str(text).unwrap();
    space.validate().unwrap();
    let names: Vec<&str> = space.iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["z", "a", "m", "k"]);
    assert_eq!(serde_json::to_string(&space).unwrap(), text);
    assert_eq!(
        space.get("a").unwrap(),
        &ParamDef::from(Distribution::int_step(0, 10, 2))
    );
    // Unknown fields and duplicate names are refused, not ignored.
    assert!(
        serde_json::from_str::<SearchSpace>(r#"{"x":{"type":"float","low":0,"high":1,"lg":true}}"#)
            .is_err()
    );
    assert!(
        serde_json::from_str::<SearchSpace>(
            r#"{"x":{"type":"int","low":0,"high":1},"x":{"type":"int","low":0,"high":1}}"#
        )
        .is_err()
    );
}

#[test]
fn active_names_follow_nested_conditions() {
    let space = SearchSpace::new()
        .with("model", Distribution::categorical(["svm", "rf"]))
        .with_conditional(
            "kind",
            Distribution::categorical(["a", "b"]),
            "model",
            ["rf"],
        )
        .with_conditional("depth", Distribution::int(1, 3), "kind", ["b"]);
    let params = |v: serde_json::Value| serde_json::from_value(v).unwrap();
    assert_eq!(
        space.active_names(&params(json!({"model": "svm"}))),
        ["model"]
    );
    assert_eq!(
        space.active_names(&params(json!({"model": "rf", "kind": "a"}))),
        ["model", "kind"]
    );
    assert_eq!(
        space.active_names(&params(json!({"model": "rf", "kind": "b"}))),
        ["model", "kind", "depth"]
    );
    // A child whose parent is inactive stays inactive even if a stale value is around.
    assert_eq!(
        space.active_names(&params(json!({"model": "svm", "kind": "b"}))),
        ["model"]
    );
}

#[test]
fn supplied_params_are_checked_against_the_active_space() {
    let space = SearchSpace::new()
        .with("model", Distribution::categorical(["svm", "rf"]))
        .with("lr", Distribution::float_step(0.0, 1.0, 0.25))
        .with_conditional("trees", Distribution::int(1, 9), "model", ["rf"]);
    let params = |v: serde_json::Value| serde_json::from_value(v).unwrap();
    space
        .check_params(&params(json!({"model": "rf", "lr": 0.5, "trees": 3})))
        .unwrap();
    space
        .check_params(&params(json!({"model": "svm", "lr": 1})))
        .unwrap();
    let e = |v| reason(space.check_params(&params(v)).unwrap_err());
    assert_eq!(
        e(json!({"model": "rf", "lr": 0.5})),
        "parameter \"trees\": is active but has no value"
    );
    assert_eq!(
        e(json!({"model": "svm", "lr": 0.3})),
        "parameter \"lr\": value 0.3 is outside the distribution"
    );
    assert_eq!(
        e(json!({"model": "svm", "lr": 0.5, "trees": 2})),
        "parameter \"trees\": is inactive under the other values and must be left out"
    );
    assert_eq!(
        e(json!({"model": "svm", "lr": 0.5, "x": 2})),
        "parameter \"x\": is not in the search space"
    );
    assert_eq!(
        e(json!({"model": "knn", "lr": 0.5})),
        "parameter \"model\": value \"knn\" is outside the distribution"
    );
}
