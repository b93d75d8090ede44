//! Hyperparameter optimization (issue 16): studies and their trials as stored, on both
//! databases — numbering under concurrent asks, the trial state machine (a trial is told once;
//! nothing is reported after), intermediate values, and what goes with a run or experiment.

mod common;

use std::collections::BTreeMap;

use common::{TestApp, on_both_databases};
use ets::error::Error;
use ets::store::{StudyRecord, TrialRecord, TrialState};
use ets_domain::Timestamp;
use reqwest::StatusCode;
use serde_json::json;

on_both_databases!(
    studies_are_named_once_per_experiment,
    concurrent_asks_get_distinct_consecutive_numbers,
    a_trial_is_told_once_and_takes_no_values_after,
    trials_go_with_their_experiment_and_outlive_their_run,
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
        .add_trial(
            ets_domain::new_id(),
            &created.id,
            &run,
            params(x),
            Timestamp::now(),
        )
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
                .add_trial(
                    ets_domain::new_id(),
                    &study_id,
                    &run,
                    params(i as f64),
                    Timestamp::now(),
                )
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
