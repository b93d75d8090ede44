//! Statistical comparisons (issue 14): the seeded bootstrap and evaluation rates of
//! `POST /api/v1/experiments/compare`, and `POST /api/v1/experiments/{id}/compare-groups`
//! (paired or unpaired tests of two groups of runs), on both databases.
//!
//! Expected values come from SciPy 1.16.3 and statsmodels 0.14.5 (`tests/stats/requirements.txt`);
//! each block names the call that produced them.

mod common;

use common::{Reply, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

common::on_both_databases!(
    compare_adds_a_reproducible_bootstrap_ci_near_scipys,
    compare_tests_evaluation_rates_of_the_first_two_experiments,
    groups_pair_by_seed_automatically_and_run_paired_tests,
    groups_without_shared_seeds_get_unpaired_tests,
    pairing_can_be_asked_for_or_turned_off,
    groups_compare_summed_evaluation_rates_per_slice,
    group_compare_errors_name_the_field,
);

// ---------------------------------------------------------------- helpers

/// `got` within a relative 1e-9 of SciPy's `expected`.
fn close(got: &Value, expected: f64) {
    let value = got
        .as_f64()
        .unwrap_or_else(|| panic!("{got} is not a number (expected {expected})"));
    let scale = expected.abs().max(1e-12);
    assert!(
        ((value - expected) / scale).abs() < 1e-9,
        "{value} against SciPy's {expected}"
    );
}

/// A bootstrap interval's end within `0.005` of SciPy's percentile bootstrap (which draws other
/// resamples, so only the method, not the numbers, is shared; its ends vary by < 0.003 between
/// seeds on these samples).
fn near(got: &Value, expected: f64) {
    let value = got
        .as_f64()
        .unwrap_or_else(|| panic!("{got} is not a number"));
    assert!(
        (value - expected).abs() < 0.005,
        "{value} against SciPy's bootstrap {expected}"
    );
}

fn assert_invalid(reply: &Reply, field: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert_eq!(
        reply.body["error"]["code"], "invalid_input",
        "{}",
        reply.body
    );
    assert_eq!(
        reply.body["error"]["details"]["field"], field,
        "{}",
        reply.body
    );
}

/// A run with params, started at `at` (epoch ms, so the order of runs is known), and metrics
/// logged at step 0.
async fn run_with(
    app: &TestApp,
    experiment: &str,
    at: i64,
    params: Value,
    metrics: &[(&str, f64)],
) -> String {
    let reply = app
        .post(
            "/api/v1/runs",
            json!({ "experiment_id": experiment, "params": params, "started_at": at }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let run = reply.id();
    if !metrics.is_empty() {
        let points: Vec<Value> = metrics
            .iter()
            .map(|(key, value)| json!({ "key": key, "value": value, "step": 0 }))
            .collect();
        let reply = app
            .post(
                &format!("/api/v1/runs/{run}/metrics"),
                json!({ "metrics": points }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    run
}

async fn evaluate(app: &TestApp, run: &str, slice: &str, tp: u64, fn_: u64) {
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/evaluations"),
            json!({ "name": "crisis_detection", "slice": slice, "tp": tp, "fn": fn_ }),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
}

/// An experiment maximising `acc` and minimising `loss`.
async fn experiment(app: &TestApp, name: &str) -> String {
    let project = app.create_project(&format!("{name}-project")).await;
    let reply = app
        .post(
            "/api/v1/experiments",
            json!({
                "project_id": project,
                "name": name,
                "objectives": [
                    { "metric": "acc", "direction": "maximize" },
                    { "metric": "loss", "direction": "minimize" },
                ],
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.id()
}

const ADAM_ACC: [f64; 4] = [0.71, 0.74, 0.69, 0.73];
const SGD_ACC: [f64; 4] = [0.75, 0.77, 0.70, 0.78];
const ADAM_LOSS: [f64; 4] = [0.50, 0.45, 0.52, 0.47];
const SGD_LOSS: [f64; 4] = [0.48, 0.44, 0.49, 0.455];

/// Four `adam` runs then four `sgd` runs with the given seeds (`acc` and `loss` per seed).
async fn optimizer_runs(app: &TestApp, experiment: &str, sgd_seeds: [i64; 4]) -> Vec<String> {
    let mut runs = Vec::new();
    for (i, seed) in [1, 2, 3, 4].into_iter().enumerate() {
        let metrics = [("acc", ADAM_ACC[i]), ("loss", ADAM_LOSS[i])];
        let params = json!({ "optimizer": "adam", "seed": seed });
        runs.push(run_with(app, experiment, 1_000 + i as i64, params, &metrics).await);
    }
    for (i, seed) in sgd_seeds.into_iter().enumerate() {
        let metrics = [("acc", SGD_ACC[i]), ("loss", SGD_LOSS[i])];
        let params = json!({ "optimizer": "sgd", "seed": seed });
        runs.push(run_with(app, experiment, 2_000 + i as i64, params, &metrics).await);
    }
    runs
}

fn compare_groups_path(experiment: &str) -> String {
    format!("/api/v1/experiments/{experiment}/compare-groups")
}

// ---------------------------------------------------------------- experiments compare

/// SciPy: `bootstrap((b, a), lambda x, y, axis: x.mean(axis) - y.mean(axis),
/// method="percentile", n_resamples=10000)` → (0.0700, 0.1300) for seeds 0–4 (0.0725 once).
async fn compare_adds_a_reproducible_bootstrap_ci_near_scipys() {
    let app = TestApp::start().await;
    let baseline = experiment(&app, "baseline").await;
    let candidate = experiment(&app, "candidate").await;
    for (experiment, values) in [
        (&baseline, [0.71, 0.74, 0.69, 0.73]),
        (&candidate, [0.80, 0.83, 0.79, 0.85]),
    ] {
        for (i, value) in values.into_iter().enumerate() {
            run_with(&app, experiment, i as i64, json!({}), &[("acc", value)]).await;
        }
    }
    let body = json!({ "experiment_ids": [baseline, candidate], "metrics": ["acc"] });
    let reply = app.post("/api/v1/experiments/compare", body.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let ci = &reply.body["metrics"][0]["tests"]["bootstrap"];
    // numpy: b.mean() - a.mean()
    close(&ci["estimate"], 0.10000000000000009);
    near(&ci["lower"], 0.07);
    near(&ci["upper"], 0.13);
    assert_eq!(ci["resamples"], 10_000, "{ci}");
    assert_eq!(ci["seed"], 14, "{ci}");
    assert_eq!(ci["confidence"], 0.95, "{ci}");
    assert_eq!(reply.body["evaluations"], json!([]), "{}", reply.body);
    let again = app.post("/api/v1/experiments/compare", body).await;
    assert_eq!(
        again.body["metrics"][0]["tests"]["bootstrap"], *ci,
        "the fixed seed gives the same interval"
    );
}

/// Counts summed per experiment: overall 97 of 100 (candidate) against 89 of 100, slice
/// `age 65+` 18 of 20 against 15 of 20.
/// statsmodels: `proportions_ztest([97, 89], [100, 100])`; SciPy:
/// `fisher_exact([[97, 3], [89, 11]])`; the same for the slice.
async fn compare_tests_evaluation_rates_of_the_first_two_experiments() {
    let app = TestApp::start().await;
    let baseline = experiment(&app, "baseline").await;
    let candidate = experiment(&app, "candidate").await;
    for (experiment, counts) in [
        (&baseline, [(45, 5, 8, 2), (44, 6, 7, 3)]),
        (&candidate, [(48, 2, 9, 1), (49, 1, 9, 1)]),
    ] {
        for (i, (tp, fn_, old_tp, old_fn)) in counts.into_iter().enumerate() {
            let run = run_with(&app, experiment, i as i64, json!({}), &[]).await;
            evaluate(&app, &run, "overall", tp, fn_).await;
            evaluate(&app, &run, "age 65 and over", old_tp, old_fn).await;
        }
    }
    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({
                "experiment_ids": [baseline, candidate],
                "metrics": [],
                "evaluations": ["crisis_detection"],
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rates = reply.body["evaluations"].as_array().expect("evaluations");
    let names: Vec<(&str, &str)> = rates
        .iter()
        .map(|r| (r["slice"].as_str().unwrap(), r["rate"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("overall", "crisis_detection_rate"),
            ("overall", "false_negative_rate"),
            ("age 65 and over", "crisis_detection_rate"),
            ("age 65 and over", "false_negative_rate"),
        ]
    );
    let overall = &rates[0];
    assert_eq!(
        (
            &overall["baseline"]["successes"],
            &overall["baseline"]["trials"]
        ),
        (&json!(89), &json!(100))
    );
    assert_eq!(overall["candidate"]["runs"], 2);
    close(&overall["candidate"]["rate"], 0.97);
    close(&overall["difference"], 0.08);
    assert_eq!(overall["direction"], "maximize");
    close(&overall["z_test"]["statistic"], 2.217095981894772);
    close(&overall["z_test"]["p_value"], 0.026616533323462185);
    close(&overall["fisher_exact"]["odds_ratio"], 3.9962546816479403);
    close(&overall["fisher_exact"]["p_value"], 0.048917730543265044);
    let verdict = overall["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("higher by 0.08000 (Fisher p = 0.04892)")
            && verdict.ends_with("a significant difference, better"),
        "{verdict}"
    );
    // The false-negative rate is the complement: lower is better.
    let misses = &rates[1];
    assert_eq!(misses["direction"], "minimize");
    close(&misses["z_test"]["statistic"], -2.2170959818947726);
    close(&misses["fisher_exact"]["odds_ratio"], 0.25023430178069356);
    assert!(
        misses["verdict"]
            .as_str()
            .unwrap()
            .ends_with("a significant difference, better"),
        "{misses}"
    );
    let old = &rates[2];
    close(&old["z_test"]["p_value"], 0.21189355203127813);
    close(&old["fisher_exact"]["odds_ratio"], 3.0);
    close(&old["fisher_exact"]["p_value"], 0.4074844074844075);
    assert!(
        old["verdict"]
            .as_str()
            .unwrap()
            .ends_with("no significant difference"),
        "{old}"
    );

    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [baseline, candidate], "evaluations": ["toxicity"] }),
        )
        .await;
    assert_invalid(&reply, "evaluations[0]");
    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [baseline, candidate], "evaluations": ["response_quality"] }),
        )
        .await;
    assert_invalid(&reply, "evaluations[0]");
    assert!(
        reply.error_message().contains("no run of either side"),
        "{}",
        reply.body
    );
}

// ---------------------------------------------------------------- group compare

/// SciPy: `ttest_rel(sgd, adam)` with `.confidence_interval(0.95)`, `wilcoxon(sgd, adam)`;
/// d_z = mean(d)/d.std(ddof=1); `ttest_rel(sgd_loss, adam_loss)`; statsmodels:
/// `multipletests([p_acc, p_loss], method="holm")`; `bootstrap((sgd - adam,), np.mean,
/// method="percentile", n_resamples=10000)` → (0.0175, 0.0450) for seeds 0–4.
async fn groups_pair_by_seed_automatically_and_run_paired_tests() {
    let app = TestApp::start().await;
    let experiment = experiment(&app, "optimizers").await;
    let runs = optimizer_runs(&app, &experiment, [1, 2, 3, 4]).await;
    let reply = app
        .post(
            &compare_groups_path(&experiment),
            json!({ "group_by": "params.optimizer" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["experiment_id"], experiment.as_str());
    assert_eq!(
        body["groups"][0]["value"], "adam",
        "first value is the baseline"
    );
    assert_eq!(body["groups"][1]["value"], "sgd");
    assert_eq!(body["groups"][0]["run_ids"], json!(runs[..4]));
    let pairing = &body["pairing"];
    assert_eq!(pairing["paired_by"], "params.seed", "{pairing}");
    assert_eq!(pairing["automatic"], true);
    assert_eq!(pairing["pairs"], 4);
    assert_eq!(pairing["unpaired_run_ids"], json!([]));

    let keys: Vec<&str> = body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["acc", "loss"]);
    let acc = &body["metrics"][0];
    assert_eq!(acc["by_group"][0]["group"], "adam");
    assert_eq!(acc["by_group"][0]["summary"]["count"], 4);
    close(&acc["by_group"][0]["summary"]["mean"], 0.7175);
    close(&acc["by_group"][1]["summary"]["median"], 0.76);
    let tests = &acc["tests"];
    assert_eq!(tests["paired"], true);
    assert_eq!(tests["pairs"], 4);
    close(&tests["paired_t"]["statistic"], 3.8060102844992794);
    close(&tests["paired_t"]["p_value"], 0.0318741951035571);
    close(&tests["paired_t"]["df"], 3.0);
    close(&tests["paired_t"]["ci_lower"], 0.0053246911620351105);
    close(&tests["paired_t"]["ci_upper"], 0.059675308837964944);
    close(&tests["wilcoxon_signed_rank"]["statistic"], 0.0);
    close(&tests["wilcoxon_signed_rank"]["p_value"], 0.125);
    assert_eq!(tests["wilcoxon_signed_rank"]["method"], "exact");
    close(&tests["cohens_dz"], 1.9030051422496397);
    for unpaired in ["welch_t", "mann_whitney_u", "cohens_d", "cliffs_delta"] {
        assert!(tests[unpaired].is_null(), "{unpaired}: {tests}");
    }
    close(&tests["bootstrap"]["estimate"], 0.0325);
    near(&tests["bootstrap"]["lower"], 0.0175);
    near(&tests["bootstrap"]["upper"], 0.045);
    close(&tests["p_value_holm"], 0.04375079756551581);
    let verdict = tests["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with(
            "higher by 0.03250 (95 % CI 0.005325 to 0.05968; paired t p = 0.03187, Holm 0.04375)"
        ) && verdict.ends_with("a significant difference, better"),
        "{verdict}"
    );
    let loss = &body["metrics"][1]["tests"];
    close(&loss["paired_t"]["statistic"], -4.3915503282683925);
    close(&loss["paired_t"]["p_value"], 0.021875398782757904);
    close(&loss["p_value_holm"], 0.04375079756551581);
    assert!(
        loss["verdict"].as_str().unwrap().starts_with("lower by")
            && loss["verdict"].as_str().unwrap().ends_with(", better"),
        "{loss}"
    );
    assert_eq!(body["evaluations"], json!([]));
}

/// `params.lr` 0.1 (baseline, 3 runs, no seeds) against 0.01 (5 runs).
/// SciPy: `ttest_ind(b, a, equal_var=False)` with `.confidence_interval(0.95)`,
/// `mannwhitneyu(b, a)`; Cohen's d with the pooled sd; `bootstrap((b, a), …,
/// method="percentile", n_resamples=10000)` → (0.05867, 0.1060) for seeds 0–4.
async fn groups_without_shared_seeds_get_unpaired_tests() {
    let app = TestApp::start().await;
    let experiment = experiment(&app, "rates").await;
    let mut at = 0;
    for (lr, values) in [
        (0.01, &[0.70, 0.72, 0.69, 0.74, 0.71][..]),
        (0.1, &[0.61, 0.65, 0.63][..]),
    ] {
        for value in values {
            at += 1;
            run_with(
                &app,
                &experiment,
                at,
                json!({ "lr": lr }),
                &[("acc", *value)],
            )
            .await;
        }
    }
    let reply = app
        .post(
            &compare_groups_path(&experiment),
            json!({ "group_by": "params.lr", "groups": ["0.1", "0.01"], "metrics": ["acc"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let pairing = &reply.body["pairing"];
    assert!(pairing["paired_by"].is_null(), "{pairing}");
    assert_eq!(pairing["automatic"], true);
    assert!(
        pairing["note"]
            .as_str()
            .unwrap()
            .contains("have no params.seed"),
        "{pairing}"
    );
    let tests = &reply.body["metrics"][0]["tests"];
    assert_eq!(tests["baseline_group"], "0.1");
    assert_eq!(tests["paired"], false);
    close(&tests["welch_t"]["statistic"], 5.694810634885279);
    close(&tests["welch_t"]["p_value"], 0.0040748488717664705);
    close(&tests["welch_t"]["df"], 4.190639182851139);
    close(&tests["welch_t"]["ci_lower"], 0.04272889749306732);
    close(&tests["welch_t"]["ci_upper"], 0.1212711025069326);
    close(&tests["mann_whitney_u"]["statistic"], 15.0);
    close(&tests["mann_whitney_u"]["p_value"], 0.03571428571428571);
    close(&tests["cohens_d"], 4.206511243549126);
    close(&tests["cliffs_delta"], 1.0);
    near(&tests["bootstrap"]["lower"], 0.058666666666666645);
    near(&tests["bootstrap"]["upper"], 0.10599999999999998);
    for paired in ["paired_t", "wilcoxon_signed_rank", "cohens_dz", "pairs"] {
        assert!(tests[paired].is_null(), "{paired}: {tests}");
    }
    // One metric: Holm changes nothing.
    close(&tests["p_value_holm"], 0.0040748488717664705);
    let verdict = tests["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("Welch p = 0.004075, Holm 0.004075)")
            && verdict.ends_with("a significant difference, better"),
        "{verdict}"
    );
}

/// sgd's seeds are 1, 2, 3 and 5: no automatic pairing; `pair_by` pairs seeds 1–3.
/// SciPy: `ttest_rel(sgd[:3], adam[:3])`; `ttest_ind(sgd, adam, equal_var=False)` for the
/// same runs unpaired (all four seeds shared, `pair_by: none`).
async fn pairing_can_be_asked_for_or_turned_off() {
    let app = TestApp::start().await;
    let partly = experiment(&app, "partly-paired").await;
    let runs = optimizer_runs(&app, &partly, [1, 2, 3, 5]).await;
    let path = compare_groups_path(&partly);
    let reply = app
        .post(
            &path,
            json!({ "group_by": "params.optimizer", "metrics": ["acc"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(
        reply.body["pairing"]["paired_by"].is_null(),
        "{}",
        reply.body
    );
    assert!(
        reply.body["pairing"]["note"]
            .as_str()
            .unwrap()
            .contains("no partner"),
        "{}",
        reply.body
    );

    let reply = app
        .post(
            &path,
            json!({ "group_by": "params.optimizer", "metrics": ["acc"], "pair_by": "params.seed" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let pairing = &reply.body["pairing"];
    assert_eq!(pairing["paired_by"], "params.seed");
    assert_eq!(pairing["automatic"], false);
    assert_eq!(pairing["pairs"], 3);
    assert_eq!(pairing["unpaired_run_ids"], json!([runs[3], runs[7]]));
    let tests = &reply.body["metrics"][0]["tests"];
    assert_eq!(tests["pairs"], 3);
    close(&tests["paired_t"]["statistic"], 3.0237157840738176);
    close(&tests["paired_t"]["p_value"], 0.0941783726843234);
    assert!(
        tests["verdict"]
            .as_str()
            .unwrap()
            .ends_with("no significant difference"),
        "{tests}"
    );

    let paired = experiment(&app, "paired").await;
    optimizer_runs(&app, &paired, [1, 2, 3, 4]).await;
    let reply = app
        .post(
            &compare_groups_path(&paired),
            json!({ "group_by": "params.optimizer", "metrics": ["acc"], "pair_by": "none" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(
        reply.body["pairing"]["paired_by"].is_null(),
        "{}",
        reply.body
    );
    let tests = &reply.body["metrics"][0]["tests"];
    assert_eq!(tests["paired"], false);
    close(&tests["welch_t"]["statistic"], 1.550110835358473);
    close(&tests["welch_t"]["p_value"], 0.18153009949854876);
    assert!(
        tests["verdict"]
            .as_str()
            .unwrap()
            .ends_with("no significant difference"),
        "unpaired, the seed's variance hides the difference: {tests}"
    );
}

/// Each group's counts summed over its runs, as in the experiments' comparison (same counts,
/// same statsmodels/SciPy calls).
async fn groups_compare_summed_evaluation_rates_per_slice() {
    let app = TestApp::start().await;
    let experiment = experiment(&app, "safety").await;
    for (at, (optimizer, tp, fn_, old_tp, old_fn)) in [
        ("adam", 45, 5, 8, 2),
        ("adam", 44, 6, 7, 3),
        ("sgd", 48, 2, 9, 1),
        ("sgd", 49, 1, 9, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let params = json!({ "optimizer": optimizer });
        let run = run_with(
            &app,
            &experiment,
            at as i64,
            params,
            &[("acc", 0.5 + at as f64 / 10.0)],
        )
        .await;
        evaluate(&app, &run, "overall", tp, fn_).await;
        evaluate(&app, &run, "age 65 and over", old_tp, old_fn).await;
    }
    let reply = app
        .post(
            &compare_groups_path(&experiment),
            json!({ "group_by": "params.optimizer", "evaluations": ["crisis_detection"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let keys: Vec<&str> = reply.body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["acc"], "eval/ counts are not compared as metrics");
    let rates = reply.body["evaluations"].as_array().unwrap();
    assert_eq!(rates.len(), 4, "{}", reply.body);
    let overall = &rates[0];
    assert_eq!(
        (&overall["slice"], &overall["rate"]),
        (&json!("overall"), &json!("crisis_detection_rate"))
    );
    assert_eq!(overall["candidate"]["successes"], 97);
    close(&overall["z_test"]["statistic"], 2.217095981894772);
    close(&overall["fisher_exact"]["p_value"], 0.048917730543265044);
    assert!(
        overall["verdict"]
            .as_str()
            .unwrap()
            .ends_with("a significant difference, better"),
        "{overall}"
    );
    close(&rates[2]["fisher_exact"]["p_value"], 0.4074844074844075);
}

async fn group_compare_errors_name_the_field() {
    let app = TestApp::start().await;
    let experiment = experiment(&app, "errors").await;
    optimizer_runs(&app, &experiment, [1, 2, 3, 4]).await;
    run_with(
        &app,
        &experiment,
        3_000,
        json!({ "optimizer": "lion", "seed": 1, "team": "x" }),
        &[("acc", 0.5)],
    )
    .await;
    let path = compare_groups_path(&experiment);
    let cases = [
        (json!({ "group_by": "optimizer" }), "group_by"),
        (json!({ "group_by": "metrics.acc" }), "group_by"),
        (json!({ "group_by": "params." }), "group_by"),
        (json!({ "group_by": "params.team" }), "group_by"),
        (json!({ "group_by": "params.optimizer" }), "groups"),
        (
            json!({ "group_by": "params.optimizer", "groups": ["adam"] }),
            "groups",
        ),
        (
            json!({ "group_by": "params.optimizer", "groups": ["adam", "adam"] }),
            "groups",
        ),
        (
            json!({ "group_by": "params.optimizer", "groups": ["adam", "rmsprop"] }),
            "groups[1]",
        ),
        (
            json!({ "group_by": "params.optimizer", "groups": ["adam", "lion"] }),
            "groups",
        ),
        (
            json!({ "group_by": "params.optimizer", "groups": ["adam", "sgd"], "pair_by": "seed" }),
            "pair_by",
        ),
        (
            json!({ "group_by": "params.optimizer", "groups": ["adam", "sgd"], "pair_by": "tags.nope" }),
            "pair_by",
        ),
        (
            json!({ "group_by": "params.optimizer", "groups": ["adam", "sgd"], "metrics": ["bad?key"] }),
            "metrics[0]",
        ),
        (
            json!({ "group_by": "params.optimizer", "groups": ["adam", "sgd"], "evaluations": ["toxicity"] }),
            "evaluations[0]",
        ),
        (
            json!({ "group_by": "params.optimizer", "groups": ["adam", "sgd"], "evaluations": ["crisis_detection"] }),
            "evaluations[0]",
        ),
    ];
    for (body, field) in cases {
        let reply = app.post(&path, body.clone()).await;
        assert_invalid(&reply, field);
        assert!(!reply.error_message().is_empty(), "{body}");
    }
    let reply = app
        .post(
            &path,
            json!({ "group_by": "params.optimizer", "groups": ["adam", "lion"] }),
        )
        .await;
    assert!(
        reply.error_message().contains("at least 2 runs"),
        "{}",
        reply.body
    );
    let reply = app
        .post(
            &path,
            json!({ "group_by": "params.optimizer", "groups": ["adam", "rmsprop"] }),
        )
        .await;
    assert!(
        reply.error_message().contains("'adam', 'sgd', 'lion'"),
        "the message lists the values: {}",
        reply.body
    );
    let reply = app
        .post(
            &compare_groups_path("missing"),
            json!({ "group_by": "params.optimizer" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app
        .post(
            &path,
            json!({ "group_by": "params.optimizer", "colour": "red" }),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
}
