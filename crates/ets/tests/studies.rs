//! Hyperparameter optimization (issue 16): studies and their trials as stored, on both
//! databases — numbering under concurrent asks, the trial state machine (a trial is told once;
//! nothing is reported after), intermediate values, and what goes with a run or experiment.

mod common;

use std::collections::BTreeMap;

use common::{TestApp, on_both_databases};
use ets::error::Error;
use ets::store::{AttrKind, NewTrial, StudyRecord, TrialRecord, TrialState};
use ets_domain::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    studies_are_named_once_per_experiment,
    concurrent_asks_get_distinct_consecutive_numbers,
    a_trial_is_told_once_and_takes_no_values_after,
    trials_go_with_their_experiment_and_outlive_their_run,
    ask_and_tell_over_http_finds_the_minimum_and_reports_the_best,
    told_trials_refuse_a_second_tell_and_late_reports,
    the_median_pruner_stops_a_trial_worse_than_the_finished_ones,
    a_grid_hands_out_each_point_once,
    concurrent_asks_over_http_get_distinct_trials,
    bad_studies_are_refused_naming_the_field,
    study_charts_and_importance_follow_the_trials,
    a_conditional_space_suggests_only_the_active_params,
    a_tell_on_a_trashed_run_changes_nothing,
    an_ask_sees_a_tell_made_behind_its_instance,
    an_experiment_s_studies_are_listed_each_with_its_own_trials,
);

fn study(experiment_id: &str, name: &str) -> StudyRecord {
    StudyRecord {
        id: ets_domain::new_id(),
        experiment_id: experiment_id.to_owned(),
        name: name.to_owned(),
        directions: vec!["minimize".to_owned()],
        search_space: json!({ "x": { "type": "float", "low": -5.0, "high": 10.0 } }),
        sampler: json!({ "type": "tpe" }),
        pruner: json!({ "type": "median" }),
        seed: Some(1),
        created_at: Timestamp::now(),
        seq: 0,
    }
}

/// A running trial of the study on the run, with params.
fn new_trial(study_id: &str, run: &str, x: f64) -> NewTrial {
    NewTrial {
        params: params(x),
        ..NewTrial::running(ets_domain::new_id(), study_id, run, Timestamp::now())
    }
}

fn params(x: f64) -> BTreeMap<String, serde_json::Value> {
    BTreeMap::from([("x".to_owned(), json!(x))])
}

/// A new experiment and run, a study of the experiment, and a trial of it on the run.
async fn study_with_a_trial(app: &TestApp, x: f64) -> (String, String, StudyRecord, TrialRecord) {
    let store = &app.server.services.store;
    let (_, experiment, run) = app.create_hierarchy().await;
    let created = store.create_study(study(&experiment, "s")).await.unwrap();
    let trial = store
        .add_trial(new_trial(&created.id, &run, x))
        .await
        .unwrap();
    (experiment, run, created, trial)
}

async fn studies_are_named_once_per_experiment() {
    let app = TestApp::start().await;
    let store = &app.server.services.store;
    let (_, experiment, _) = app.create_hierarchy().await;
    let (_, other, _) = app.create_hierarchy().await;
    let created = store.create_study(study(&experiment, "s")).await.unwrap();
    assert_eq!(store.get_study(&created.id).await.unwrap(), created);
    let taken = store.create_study(study(&experiment, "s")).await;
    assert!(
        matches!(taken, Err(Error::AlreadyExists { .. })),
        "{taken:?}"
    );
    store.create_study(study(&other, "s")).await.unwrap();
    store.create_study(study(&experiment, "t")).await.unwrap();
    let names: Vec<String> = store
        .studies(&experiment)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["s", "t"]);
    assert!(matches!(
        store.get_study("nope").await,
        Err(Error::NotFound { .. })
    ));
}

async fn concurrent_asks_get_distinct_consecutive_numbers() {
    let app = TestApp::start().await;
    let store = app.server.services.store.clone();
    let (_, experiment, _) = app.create_hierarchy().await;
    let created = store.create_study(study(&experiment, "s")).await.unwrap();
    let mut runs = Vec::new();
    for _ in 0..16 {
        runs.push(app.create_run(&experiment).await);
    }
    let asks = runs.into_iter().enumerate().map(|(i, run)| {
        let store = store.clone();
        let study_id = created.id.clone();
        tokio::spawn(async move {
            store
                .add_trial(new_trial(&study_id, &run, i as f64))
                .await
                .unwrap()
        })
    });
    let mut numbers: Vec<i64> = Vec::new();
    for ask in asks.collect::<Vec<_>>() {
        let trial = ask.await.unwrap();
        assert_eq!(trial.state, TrialState::Running);
        numbers.push(trial.number);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (0..16).collect::<Vec<i64>>());
    let stored: Vec<i64> = store
        .trials(&created.id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.number)
        .collect();
    assert_eq!(stored, (0..16).collect::<Vec<i64>>());
}

async fn a_trial_is_told_once_and_takes_no_values_after() {
    let app = TestApp::start().await;
    let store = &app.server.services.store;
    let (_, _, _, trial) = study_with_a_trial(&app, 1.5).await;
    assert_eq!(trial.params, params(1.5));
    for (step, value) in [(1, 0.9), (2, 0.5), (2, 0.4), (3, f64::NAN)] {
        store
            .report_trial_value(&trial.id, step, value)
            .await
            .unwrap();
    }
    let read = store.get_trial(&trial.id).await.unwrap();
    assert_eq!(read.intermediate.len(), 3);
    assert_eq!(read.intermediate[&1], 0.9);
    assert_eq!(
        read.intermediate[&2], 0.4,
        "a step reported again keeps the last value"
    );
    assert!(read.intermediate[&3].is_nan());

    let done = store
        .finish_trial(
            &trial.id,
            TrialState::Complete,
            Some(vec![0.25]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(done.state, TrialState::Complete);
    assert_eq!(done.values, Some(vec![0.25]));
    assert!(done.finished_at.is_some());

    let again = store
        .finish_trial(&trial.id, TrialState::Pruned, None, Timestamp::now())
        .await;
    match again {
        Err(Error::Conflict(message)) => assert!(message.contains("is complete"), "{message}"),
        other => panic!("told twice: {other:?}"),
    }
    let late = store.report_trial_value(&trial.id, 4, 0.1).await;
    assert!(matches!(late, Err(Error::Conflict(_))), "{late:?}");
    let read = store.get_trial(&trial.id).await.unwrap();
    assert_eq!(read.values, Some(vec![0.25]));
    assert!(!read.intermediate.contains_key(&4));
    assert!(matches!(
        store.report_trial_value("nope", 1, 0.1).await,
        Err(Error::NotFound { .. })
    ));
}

async fn trials_go_with_their_experiment_and_outlive_their_run() {
    let app = TestApp::start().await;
    let store = &app.server.services.store;
    let (experiment, run, created, trial) = study_with_a_trial(&app, 0.0).await;
    // The run deleted for good: the trial stays, without its run.
    store.delete_run(&run).await.expect("run deleted for good");
    let kept = store.get_trial(&trial.id).await.unwrap();
    assert_eq!(kept.run_id, None);
    // The experiment deleted for good: its studies and trials go with it.
    let reply = app
        .delete(&format!("/api/v1/experiments/{experiment}?permanent=true"))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert!(matches!(
        store.get_study(&created.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.get_trial(&trial.id).await,
        Err(Error::NotFound { .. })
    ));
}

/// The experiment's studies are read with all their trials at once (a fixed number of
/// statements): each study gets exactly its own trials, values and attributes, as a read of
/// the study alone gives them, and the list over HTTP counts them per study.
async fn an_experiment_s_studies_are_listed_each_with_its_own_trials() {
    let app = TestApp::start().await;
    let store = &app.server.services.store;
    let (_, experiment, run) = app.create_hierarchy().await;
    let (_, other, other_run) = app.create_hierarchy().await;
    let first = store.create_study(study(&experiment, "a")).await.unwrap();
    let second = store.create_study(study(&experiment, "b")).await.unwrap();
    let empty = store.create_study(study(&experiment, "c")).await.unwrap();
    let elsewhere = store.create_study(study(&other, "a")).await.unwrap();
    for (owner, run, xs) in [
        (&first, &run, &[1.0, 2.0, 3.0][..]),
        (&second, &run, &[4.0][..]),
        (&elsewhere, &other_run, &[5.0, 6.0][..]),
    ] {
        for (i, &x) in xs.iter().enumerate() {
            let trial = store.add_trial(new_trial(&owner.id, run, x)).await.unwrap();
            store
                .report_trial_value(&trial.id, 1, x / 2.0)
                .await
                .unwrap();
            store
                .set_trial_attr(&trial.id, AttrKind::User, "x", &x.to_string())
                .await
                .unwrap();
            if i % 2 == 0 {
                store
                    .finish_trial(
                        &trial.id,
                        TrialState::Complete,
                        Some(vec![x]),
                        Timestamp::now(),
                    )
                    .await
                    .unwrap();
            }
        }
    }
    let listed = store.experiment_trials(&experiment).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|(s, _)| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    for ((listed_study, trials), study) in listed.iter().zip([&first, &second, &empty]) {
        assert_eq!(listed_study, study);
        assert_eq!(trials, &store.trials(&study.id).await.unwrap());
    }
    assert_eq!(
        listed.iter().map(|(_, t)| t.len()).collect::<Vec<_>>(),
        [3, 1, 0]
    );
    assert_eq!(listed[0].1[2].user_attrs["x"], "3");
    assert_eq!(listed[0].1[2].intermediate[&1], 1.5);

    let reply = app
        .get(&format!("/api/v1/experiments/{experiment}/studies"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let views = reply.body["items"].as_array().expect("a list of items");
    let summary: Vec<(String, u64, u64, Option<f64>)> = views
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_owned(),
                v["counts"]["complete"].as_u64().unwrap(),
                v["counts"]["running"].as_u64().unwrap(),
                v["best_value"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a".to_owned(), 2, 1, Some(1.0)),
            ("b".to_owned(), 1, 0, Some(4.0)),
            ("c".to_owned(), 0, 0, None),
        ]
    );
}

// ---------------------------------------------------------------- the HTTP API

async fn new_study(app: &TestApp, body: Value) -> String {
    let (_, experiment, _) = app.create_hierarchy().await;
    let reply = app
        .post(&format!("/api/v1/experiments/{experiment}/studies"), body)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.id()
}

async fn ask(app: &TestApp, study: &str) -> Value {
    let reply = app
        .post(&format!("/api/v1/studies/{study}/trials"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn tell(app: &TestApp, trial: &Value, body: Value) -> common::Reply {
    let id = trial["trial_id"].as_str().unwrap();
    app.post(&format!("/api/v1/trials/{id}/complete"), body)
        .await
}

fn quadratic(params: &Value) -> f64 {
    let x = params["x"].as_f64().unwrap();
    let y = params["y"].as_f64().unwrap();
    (x - 2.0).powi(2) + (y - 5.0).powi(2)
}

async fn ask_and_tell_over_http_finds_the_minimum_and_reports_the_best() {
    let app = TestApp::start().await;
    let study = new_study(
        &app,
        json!({ "name": "quad", "direction": "minimize", "sampler": "tpe", "seed": 1,
                "search_space": { "x": { "type": "float", "low": -5, "high": 10 },
                                  "y": { "type": "float", "low": 0, "high": 15 } } }),
    )
    .await;
    let mut best = f64::INFINITY;
    let mut best_of_startup = f64::INFINITY;
    for i in 0..40 {
        let trial = ask(&app, &study).await;
        assert_eq!(trial["number"], i);
        let params = &trial["params"];
        let (x, y) = (params["x"].as_f64().unwrap(), params["y"].as_f64().unwrap());
        assert!(
            (-5.0..=10.0).contains(&x) && (0.0..=15.0).contains(&y),
            "{params}"
        );
        // The trial's run carries the params.
        let run = app
            .get(&format!(
                "/api/v1/runs/{}",
                trial["run_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(run.body["params"]["x"].as_f64(), Some(x), "{}", run.body);
        let value = quadratic(params);
        best = best.min(value);
        if i < 10 {
            best_of_startup = best_of_startup.min(value);
        }
        let told = tell(&app, &trial, json!({ "value": value })).await;
        assert_eq!(told.status, StatusCode::OK, "{}", told.body);
        assert_eq!(told.body["state"], "complete");
        let run = app
            .get(&format!(
                "/api/v1/runs/{}",
                trial["run_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(run.body["status"], "finished", "{}", run.body);
    }
    // TPE, after its 10 random start-up trials, improves on them.
    assert!(
        best < best_of_startup,
        "best {best} vs start-up {best_of_startup}"
    );
    assert!(best < 2.0, "best {best}");
    let summary = app.get(&format!("/api/v1/studies/{study}")).await;
    assert_eq!(summary.status, StatusCode::OK);
    assert_eq!(summary.body["best_value"].as_f64(), Some(best));
    assert_eq!(quadratic(&summary.body["best_params"]), best);
    assert_eq!(summary.body["counts"]["complete"], 40);
    let trials = app.get(&format!("/api/v1/studies/{study}/trials")).await;
    assert_eq!(trials.body["items"].as_array().unwrap().len(), 40);
}

async fn told_trials_refuse_a_second_tell_and_late_reports() {
    let app = TestApp::start().await;
    let study = new_study(
        &app,
        json!({ "name": "s", "sampler": "random", "pruner": "none",
                "search_space": { "lr": { "type": "float", "low": 1e-5, "high": 1e-1, "log": true },
                                  "layers": { "type": "int", "low": 1, "high": 4 },
                                  "opt": { "type": "categorical", "choices": ["adam", "sgd"] } } }),
    )
    .await;
    let trial = ask(&app, &study).await;
    let id = trial["trial_id"].as_str().unwrap();
    let report = app
        .post(
            &format!("/api/v1/trials/{id}/report"),
            json!({ "step": 1, "value": 0.7 }),
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.body["prune"], false);
    // The report is a point of the run's `objective` metric too.
    let run = trial["run_id"].as_str().unwrap();
    let history = app
        .get(&format!("/api/v1/runs/{run}/metrics/objective"))
        .await;
    assert_eq!(history.body["points"][0]["value"], 0.7, "{}", history.body);

    assert_eq!(
        tell(&app, &trial, json!({ "value": 0.5 })).await.status,
        StatusCode::OK
    );
    let twice = tell(&app, &trial, json!({ "value": 0.4 })).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
    assert!(
        twice.body.to_string().contains("is complete"),
        "{}",
        twice.body
    );
    let late = app
        .post(
            &format!("/api/v1/trials/{id}/report"),
            json!({ "step": 2, "value": 0.1 }),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);

    // Failed and pruned trials end their runs as failed and finished.
    let failed = ask(&app, &study).await;
    let told = tell(&app, &failed, json!({ "state": "failed" })).await;
    assert_eq!(told.body["state"], "failed");
    let run = app
        .get(&format!(
            "/api/v1/runs/{}",
            failed["run_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(run.body["status"], "failed");
    let no_value = tell(
        &app,
        &ask(&app, &study).await,
        json!({ "state": "complete" }),
    )
    .await;
    assert_eq!(
        no_value.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        no_value.body
    );
    let unknown = app
        .post("/api/v1/trials/nope/complete", json!({ "value": 1.0 }))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn the_median_pruner_stops_a_trial_worse_than_the_finished_ones() {
    let app = TestApp::start().await;
    let study = new_study(
        &app,
        json!({ "name": "p", "sampler": "random",
                "pruner": { "type": "median", "n_startup_trials": 1 },
                "search_space": { "x": { "type": "float", "low": 0, "high": 1 } } }),
    )
    .await;
    let report = |trial: Value, step: i64, value: f64| {
        let app = &app;
        async move {
            let id = trial["trial_id"].as_str().unwrap().to_owned();
            let reply = app
                .post(
                    &format!("/api/v1/trials/{id}/report"),
                    json!({ "step": step, "value": value }),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            reply.body["prune"].as_bool().unwrap()
        }
    };
    let good = ask(&app, &study).await;
    for step in 1..=3 {
        assert!(
            !report(good.clone(), step, 1.0).await,
            "the first trial is never pruned"
        );
    }
    assert_eq!(
        tell(&app, &good, json!({ "value": 1.0 })).await.status,
        StatusCode::OK
    );
    let better = ask(&app, &study).await;
    assert!(!report(better.clone(), 1, 0.5).await);
    let worse = ask(&app, &study).await;
    assert!(
        report(worse.clone(), 1, 10.0).await,
        "worse than the median at step 1"
    );
    let pruned = tell(&app, &worse, json!({ "state": "pruned" })).await;
    assert_eq!(pruned.body["state"], "pruned");
    let summary = app.get(&format!("/api/v1/studies/{study}")).await;
    assert_eq!(summary.body["counts"]["pruned"], 1);
    assert_eq!(summary.body["counts"]["running"], 1);
}

async fn a_grid_hands_out_each_point_once() {
    let app = TestApp::start().await;
    let study = new_study(
        &app,
        json!({ "name": "g", "sampler": "grid",
                "search_space": { "opt": { "type": "categorical", "choices": ["adam", "sgd"] },
                                  "layers": { "type": "int", "low": 1, "high": 2 } } }),
    )
    .await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let trial = ask(&app, &study).await;
        assert!(
            seen.insert(trial["params"].to_string()),
            "repeated {}",
            trial["params"]
        );
    }
    assert_eq!(seen.len(), 4);
    let exhausted = app
        .post(&format!("/api/v1/studies/{study}/trials"), json!({}))
        .await;
    assert_eq!(exhausted.status, StatusCode::CONFLICT, "{}", exhausted.body);
    // The refused ask leaves nothing behind: it samples before it writes, so no trial
    // and no run were made for it.
    let summary = app.get(&format!("/api/v1/studies/{study}")).await;
    assert_eq!(summary.body["counts"]["failed"], 0, "{}", summary.body);
    assert_eq!(summary.body["counts"]["running"], 4, "{}", summary.body);
    let trials = app.get(&format!("/api/v1/studies/{study}/trials")).await;
    assert_eq!(trials.body["items"].as_array().unwrap().len(), 4);
    let experiment = summary.body["experiment_id"].as_str().unwrap();
    let runs = app
        .get(&format!("/api/v1/runs?experiment_id={experiment}"))
        .await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.body);
    let study_runs = runs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tags"]["ets.study_id"] == study.as_str())
        .count();
    assert_eq!(study_runs, 4, "{}", runs.body);

    // Asked all at once, the points are still handed out once each.
    let study = new_study(
        &app,
        json!({ "name": "g2", "sampler": "grid",
                "search_space": { "opt": { "type": "categorical", "choices": ["adam", "sgd"] },
                                  "layers": { "type": "int", "low": 1, "high": 4 } } }),
    )
    .await;
    let trials = futures_util::future::join_all((0..8).map(|_| ask(&app, &study))).await;
    let points: std::collections::BTreeSet<String> =
        trials.iter().map(|t| t["params"].to_string()).collect();
    assert_eq!(points.len(), 8, "{points:?}");
}

async fn concurrent_asks_over_http_get_distinct_trials() {
    let app = TestApp::start().await;
    let study = new_study(
        &app,
        json!({ "name": "c", "sampler": "random", "seed": 7,
                "search_space": { "x": { "type": "float", "low": 0, "high": 1 } } }),
    )
    .await;
    let asks = (0..8).map(|_| ask(&app, &study));
    let trials = futures_util::future::join_all(asks).await;
    let numbers: std::collections::BTreeSet<i64> = trials
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, (0..8).collect());
    let xs: std::collections::BTreeSet<String> = trials
        .iter()
        .map(|t| t["params"]["x"].to_string())
        .collect();
    assert_eq!(xs.len(), 8, "every ask gets its own suggestion");
    let runs: std::collections::BTreeSet<&str> = trials
        .iter()
        .map(|t| t["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(runs.len(), 8);
}

async fn bad_studies_are_refused_naming_the_field() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    let space = json!({ "x": { "type": "float", "low": 0, "high": 1 } });
    for (body, field) in [
        (
            json!({ "name": "a", "search_space": { "x": { "type": "float", "low": 2, "high": 1 } } }),
            "search_space",
        ),
        (
            json!({ "name": "b", "search_space": space, "sampler": "annealing" }),
            "sampler",
        ),
        (
            json!({ "name": "c", "search_space": space, "pruner": { "type": "median", "n_startup": 3 } }),
            "pruner",
        ),
        (
            json!({ "name": "d", "search_space": space, "direction": "minimize", "directions": ["maximize"] }),
            "directions",
        ),
        (json!({ "name": "e" }), "search_space"),
    ] {
        let reply = app
            .post(
                &format!("/api/v1/experiments/{experiment}/studies"),
                body.clone(),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["error"]["details"]["field"], field,
            "{body}: {}",
            reply.body
        );
    }
    let ok = json!({ "name": "f", "search_space": space });
    let path = format!("/api/v1/experiments/{experiment}/studies");
    assert_eq!(
        app.post(&path, ok.clone()).await.status,
        StatusCode::CREATED
    );
    assert_eq!(app.post(&path, ok).await.status, StatusCode::CONFLICT);
}

/// The study chart templates draw the study's runs (and only them); importance ranks the
/// param that decides the objective first.
async fn study_charts_and_importance_follow_the_trials() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    // A run of the experiment that belongs to no study stays out of the study's charts.
    app.create_run(&experiment).await;
    let study = app
        .post(
            &format!("/api/v1/experiments/{experiment}/studies"),
            json!({ "name": "charted", "sampler": "random", "seed": 4, "pruner": "none",
                    "search_space": { "x": { "type": "float", "low": 0, "high": 1 },
                                      "y": { "type": "float", "low": 0, "high": 1 } } }),
        )
        .await;
    assert_eq!(study.status, StatusCode::CREATED, "{}", study.body);
    let id = study.body["id"].as_str().unwrap().to_owned();
    let mut values = BTreeMap::new();
    for _ in 0..12 {
        let asked = app
            .post(&format!("/api/v1/studies/{id}/trials"), json!({}))
            .await;
        let params = &asked.body["params"];
        let value = 10.0 * params["x"].as_f64().unwrap() + 0.1 * params["y"].as_f64().unwrap();
        let trial = asked.body["trial_id"].as_str().unwrap();
        let told = app
            .post(
                &format!("/api/v1/trials/{trial}/complete"),
                json!({ "value": value }),
            )
            .await;
        assert_eq!(told.status, StatusCode::OK, "{}", told.body);
        values.insert(asked.body["number"].as_i64().unwrap(), value);
    }
    let importance = app.get(&format!("/api/v1/studies/{id}/importance")).await;
    assert_eq!(importance.status, StatusCode::OK, "{}", importance.body);
    assert_eq!(
        importance.body["importances"][0]["name"], "x",
        "{}",
        importance.body
    );
    assert_eq!(importance.body["n_trials"], 12);
    let templates = app.get("/api/v1/studies/chart-templates").await;
    let names: Vec<&str> = templates
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["optimization_history", "parallel_coordinates", "contour"]
    );
    for template in names {
        let chart = app
            .post(
                &format!("/api/v1/studies/{id}/charts"),
                json!({ "template": template }),
            )
            .await;
        assert_eq!(
            chart.status,
            StatusCode::CREATED,
            "{template}: {}",
            chart.body
        );
        let chart_id = chart.body["id"].as_str().unwrap();
        let figure = app
            .get(&format!(
                "/api/v1/visualizations/charts/{chart_id}?format=json"
            ))
            .await;
        assert_eq!(figure.status, StatusCode::OK, "{template}: {}", figure.body);
        if template == "optimization_history" {
            let trace = &figure.body["data"][0];
            let points: BTreeMap<i64, f64> = trace["x"]
                .as_array()
                .unwrap()
                .iter()
                .zip(trace["y"].as_array().unwrap())
                .map(|(x, y)| (x.as_f64().unwrap() as i64, y.as_f64().unwrap()))
                .collect();
            // The figure's numbers are printed for drawing (to ~1e-15).
            assert_eq!(points.len(), values.len(), "{}", figure.body);
            for (number, value) in &values {
                assert!(
                    (points[number] - value).abs() < 1e-12,
                    "{number}: {}",
                    figure.body
                );
            }
        }
        if template == "contour" {
            assert_eq!(chart.body["params"], json!(["x", "y"]), "{}", chart.body);
        }
    }
    let unknown = app
        .post(
            &format!("/api/v1/studies/{id}/charts"),
            json!({ "template": "sunburst" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
}

/// A conditional search space over HTTP: every suggestion has exactly the params its branch
/// activates, and so has its run; TPE keeps to the space past its start-up trials.
async fn a_conditional_space_suggests_only_the_active_params() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    let study = app
        .post(
            &format!("/api/v1/experiments/{experiment}/studies"),
            json!({ "name": "branches", "sampler": { "type": "tpe", "n_startup_trials": 5 },
                    "seed": 2, "search_space": {
                "model": { "type": "categorical", "choices": ["linear", "tree"] },
                "lr": { "type": "float", "low": 0.0001, "high": 1, "log": true,
                        "condition": { "parent": "model", "values": ["linear"] } },
                "depth": { "type": "int", "low": 1, "high": 12,
                           "condition": { "parent": "model", "values": ["tree"] } } } }),
        )
        .await;
    assert_eq!(study.status, StatusCode::CREATED, "{}", study.body);
    let id = study.body["id"].as_str().unwrap().to_owned();
    let mut branches = std::collections::BTreeSet::new();
    for _ in 0..14 {
        let asked = app
            .post(&format!("/api/v1/studies/{id}/trials"), json!({}))
            .await;
        assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
        let params = asked.body["params"].as_object().unwrap().clone();
        let model = params["model"].as_str().unwrap().to_owned();
        let expected: Vec<&str> = match model.as_str() {
            "linear" => vec!["lr", "model"],
            _ => vec!["depth", "model"],
        };
        assert_eq!(
            params.keys().map(String::as_str).collect::<Vec<_>>(),
            expected
        );
        let run = app
            .get(&format!(
                "/api/v1/runs/{}",
                asked.body["run_id"].as_str().unwrap()
            ))
            .await;
        let run_params = run.body["params"].as_object().unwrap();
        assert_eq!(
            run_params.keys().map(String::as_str).collect::<Vec<_>>(),
            expected,
            "{}",
            run.body
        );
        let value = match model.as_str() {
            "linear" => params["lr"].as_f64().unwrap().log10().abs(),
            _ => (params["depth"].as_f64().unwrap() - 6.0).abs(),
        };
        let trial = asked.body["trial_id"].as_str().unwrap();
        let told = app
            .post(
                &format!("/api/v1/trials/{trial}/complete"),
                json!({ "value": value }),
            )
            .await;
        assert_eq!(told.status, StatusCode::OK, "{}", told.body);
        branches.insert(model);
    }
    assert_eq!(branches.len(), 2, "both branches were tried");
}

/// The trial, its value point and its run's end are one write: when the run is in the
/// trash the tell is refused whole, the trial stays running, and once the run is restored
/// the same tell goes through.
async fn a_tell_on_a_trashed_run_changes_nothing() {
    let app = TestApp::start().await;
    let study = new_study(
        &app,
        json!({ "name": "trashed", "direction": "minimize", "sampler": "random", "seed": 1,
                "search_space": { "x": { "type": "float", "low": 0, "high": 1 } } }),
    )
    .await;
    let trial = ask(&app, &study).await;
    let run = trial["run_id"].as_str().unwrap();
    app.delete_ok(&format!("/api/v1/runs/{run}")).await;
    let refused = tell(&app, &trial, json!({ "value": 0.5 })).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(refused.body.to_string().contains(run), "{}", refused.body);
    let trials = app.get(&format!("/api/v1/studies/{study}/trials")).await;
    assert_eq!(
        trials.body["items"][0]["state"], "running",
        "{}",
        trials.body
    );
    let restored = app
        .post(&format!("/api/v1/runs/{run}/restore"), json!({}))
        .await;
    assert!(restored.status.is_success(), "{}", restored.body);
    let told = tell(&app, &trial, json!({ "value": 0.5 })).await;
    assert_eq!(told.status, StatusCode::OK, "{}", told.body);
    let ended = app.get(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(ended.body["status"], "finished", "{}", ended.body);
    // One value point: the refused tell left none.
    let series = app.get(&format!("/api/v1/runs/{run}/metrics/value")).await;
    let points = series.body["points"].as_array().expect("points");
    assert_eq!(points.len(), 1, "{}", series.body);
    assert_eq!(points[0]["value"], 0.5);
}

/// An instance's asks sample from the history it keeps, its own asks and tells applied
/// without reading the study. A trial told behind its back (as through another instance)
/// is seen all the same: the ask's write finds that view out of date, writes nothing, and
/// the ask samples again from a fresh read — it suggests exactly what the sampler suggests
/// from the stored trials.
async fn an_ask_sees_a_tell_made_behind_its_instance() {
    use ets::service::study_history::hpo_trial;
    use ets_hpo::{Direction, SamplerConfig, SearchSpace};

    let app = TestApp::start().await;
    let space = json!({ "x": { "type": "float", "low": -5, "high": 5 } });
    let sampler = json!({ "type": "tpe", "n_startup_trials": 2, "seed": 3 });
    let study = new_study(
        &app,
        json!({ "name": "behind", "sampler": sampler, "seed": 3, "search_space": space }),
    )
    .await;
    let first = ask(&app, &study).await;
    let x0 = first["params"]["x"].as_f64().unwrap();
    assert_eq!(
        tell(&app, &first, json!({ "value": x0 * x0 })).await.status,
        StatusCode::OK
    );
    let second = ask(&app, &study).await;
    let x1 = second["params"]["x"].as_f64().unwrap();
    // Told through the store, not this instance's services.
    let store = &app.server.services.store;
    let told = store
        .finish_trial(
            second["trial_id"].as_str().unwrap(),
            TrialState::Complete,
            Some(vec![x1 * x1]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let third = ask(&app, &study).await;
    assert_eq!(third["number"], 2);
    let history: Vec<ets_hpo::Trial> = store
        .trials(&study)
        .await
        .unwrap()
        .iter()
        .filter(|t| t.number < 2)
        .map(hpo_trial)
        .collect();
    let suggest = |history: &[ets_hpo::Trial]| {
        let mut setting = sampler.clone();
        setting["seed"] = json!(3);
        let config: SamplerConfig = serde_json::from_value(setting).unwrap();
        let space: SearchSpace = serde_json::from_value(space.clone()).unwrap();
        config
            .build()
            .sample(&space, history, &[Direction::Minimize], 2)
            .unwrap()["x"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(third["params"]["x"].as_f64(), Some(suggest(&history)));
    // The view from before the tell (trial 1 running) suggests something else.
    let mut stale = history.clone();
    stale[1] = hpo_trial(&TrialRecord {
        state: TrialState::Running,
        values: None,
        ..told
    });
    assert_ne!(suggest(&stale), suggest(&history));
}
