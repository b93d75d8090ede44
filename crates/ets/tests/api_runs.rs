mod common;

use std::collections::BTreeSet;

use common::{Reply, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

common::on_both_databases!(
    create_run_defaults_to_running_with_start_time_and_generated_name,
    create_run_keeps_given_name_description_params_and_tags,
    scheduled_run_starts_once,
    starting_an_unknown_run_is_404,
    create_run_in_unknown_experiment_is_422_on_experiment_id,
    create_run_with_a_final_status_is_422,
    nested_runs_are_listed_by_parent,
    parent_run_must_exist_in_the_same_experiment,
    finish_defaults_to_finished_and_sets_ended_at,
    finish_accepts_an_empty_body,
    finish_as_failed_or_killed,
    finishing_a_finished_run_is_409_and_changes_nothing,
    finish_with_a_non_final_status_is_422,
    scheduled_run_cannot_finish_before_it_starts_but_can_be_killed,
    runs_cannot_be_added_to_a_completed_experiment,
    unknown_run_is_404,
    params_are_write_once_and_a_conflict_applies_nothing,
    typed_params_are_preserved,
    null_param_is_422_and_applies_nothing,
    invalid_param_and_tag_keys_are_422_naming_the_field,
    nul_characters_are_stored_or_refused_with_400,
    nul_characters_in_ids_never_give_500,
    unknown_update_fields_are_422,
    tags_can_be_set_overwritten_and_removed,
    rename_and_describe_a_run,
    list_runs_filters,
    list_runs_sorts_by_name_and_by_newest_first,
    list_runs_pages_through_every_run_exactly_once,
    listed_runs_include_params_tags_and_metric_summaries,
    runs_per_experiment_limit_is_409_not_429,
    a_run_cannot_be_created_in_a_deleted_experiment,
    a_trashed_run_refuses_changes_and_waits_for_its_experiment,
    metric_key_limit_refuses_the_whole_batch,
    too_many_points_in_one_request_is_413,
    oversized_json_body_is_413_with_a_json_error,
    log_a_single_point_and_a_batch,
    both_forms_at_once_or_neither_is_422,
    non_finite_values_are_accepted_and_read_back_as_strings,
    non_numeric_value_is_422_naming_the_point_and_stores_nothing,
    logging_to_an_unknown_run_is_404,
    resending_a_batch_is_an_idempotent_retry,
    step_defaults_to_zero_and_timestamp_to_now,
    summary_latest_value_is_at_the_highest_step_and_range_ignores_nan,
    series_with_slash_keys_are_ordered_by_step_and_ranged,
    downsampling_keeps_both_spikes_within_max_points,
    points_differing_only_in_value_are_all_kept,
    a_point_is_a_duplicate_only_when_its_value_is_identical_too,
    downsampling_keeps_a_spike_logged_at_a_stored_step_and_time,
    mlflow_history_keeps_every_value_logged_at_one_step_and_time,
    safety_verdicts_judge_evaluation_counts_on_confidence_bounds,
    experiment_safety_judges_every_run_and_its_required_objectives,
    model_metrics_keep_every_value_logged_at_one_step_and_time,
    bad_series_queries_are_refused,
    deleting_a_run_moves_it_to_the_trash_and_restore_brings_it_back,
    permanently_deleted_run_is_gone_with_its_metrics,
    deleting_a_parent_run_for_good_detaches_its_children,
);

/// The experiment's verdict: some run must pass its safety checks and meet every required
/// objective (objectives in the spec's map form).
async fn experiment_safety_judges_every_run_and_its_required_objectives() {
    let app = TestApp::start().await;
    let project = app.create_project("safety").await;
    let reply = app
        .post(
            "/api/v1/experiments",
            json!({ "project_id": project, "name": "triage",
                    "objectives": { "accuracy": { "target": 0.9, "required": true },
                                    "latency_ms": { "direction": "minimize", "target": 200 } } }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let experiment = reply.id();
    // (crises detected, missed, accuracy): 1000 of 1000 clears 0.99 on its lower Wilson bound
    // (0.99730); 90 of 100 fails on its upper one.
    let mut runs = Vec::new();
    for (tp, missed, accuracy) in [(1000, 0, 0.95), (1000, 0, 0.80), (90, 10, 0.99)] {
        let run = app.create_run(&experiment).await;
        let reply = app
            .post(
                &format!("/api/v1/runs/{run}/evaluations"),
                json!({ "name": "crisis_detection", "tp": tp, "fn": missed }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let reply = app
            .post(
                &format!("/api/v1/runs/{run}/metrics"),
                json!({ "metrics": [{ "key": "accuracy", "value": accuracy }] }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        runs.push(run);
    }
    let reply = app
        .get(&format!("/api/v1/experiments/{experiment}/safety"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["verdict"], "pass", "{body}");
    assert_eq!(body["passing_run_ids"], json!([runs[0]]));
    let judged: Vec<(&str, &str, &str)> = body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap(),
                r["verdict"].as_str().unwrap(),
                r["overall"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        judged,
        [
            (runs[0].as_str(), "pass", "pass"),
            (runs[1].as_str(), "pass", "fail"),
            (runs[2].as_str(), "fail", "fail"),
        ]
    );
    let objectives = &body["runs"][1]["objectives"];
    assert_eq!(objectives[0]["metric"], "accuracy");
    assert_eq!(objectives[0]["status"], "not_met");
    assert_eq!(objectives[0]["value"], 0.8);
    assert_eq!(objectives[1]["metric"], "latency_ms");
    assert_eq!(objectives[1]["status"], "unknown", "never logged");
    // The run's own endpoint says the same.
    let run = app.get(&format!("/api/v1/runs/{}/safety", runs[1])).await;
    assert_eq!(
        (run.body["verdict"].as_str(), run.body["overall"].as_str()),
        (Some("pass"), Some("fail"))
    );
    // Without a passing run the experiment fails; without runs it lacks evidence.
    app.delete_ok(&format!("/api/v1/runs/{}", runs[0])).await;
    let reply = app
        .get(&format!("/api/v1/experiments/{experiment}/safety"))
        .await;
    assert_eq!(reply.body["verdict"], "fail", "{}", reply.body);
    let empty = app.create_experiment(&project, "empty").await;
    let reply = app
        .get(&format!("/api/v1/experiments/{empty}/safety"))
        .await;
    assert_eq!(reply.body["verdict"], "insufficient_evidence");
    assert_eq!(reply.body["runs"], json!([]));
}

// ---------------------------------------------------------------- helpers

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Parses an RFC 3339 timestamp of a response into epoch milliseconds.
fn millis(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a timestamp, got {value}"));
    ets_domain::Timestamp::parse(text)
        .unwrap_or_else(|| panic!("unparsable timestamp {text}"))
        .millis()
}

fn assert_invalid(reply: &Reply, field: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert_eq!(reply.error_code(), "invalid_input", "{}", reply.body);
    assert_eq!(
        reply.body["error"]["details"]["field"], field,
        "{}",
        reply.body
    );
}

async fn get_run(app: &TestApp, id: &str) -> Value {
    let reply = app.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn create_run_with(app: &TestApp, body: Value) -> Value {
    let reply = app.post("/api/v1/runs", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn create_run_id(app: &TestApp, body: Value) -> String {
    create_run_with(app, body).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Items of `GET /api/v1/runs?{query}` (a single page, which must be the last one).
async fn list_runs(app: &TestApp, query: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/v1/runs?{query}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["next_page_token"].is_null(), "{}", reply.body);
    reply.body["items"].as_array().expect("items").clone()
}

/// Asserts that `GET /api/v1/runs?{query}` returns exactly the `expected` runs, in any order.
async fn check_listed(app: &TestApp, query: &str, expected: &[&String]) {
    let got = id_set(&ids(&list_runs(app, query).await));
    assert_eq!(got, id_set(expected), "query {query}");
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

fn id_set<S: AsRef<str>>(items: &[S]) -> BTreeSet<String> {
    items.iter().map(|s| s.as_ref().to_owned()).collect()
}

async fn log_metrics(app: &TestApp, run: &str, body: Value) -> Reply {
    app.post(&format!("/api/v1/runs/{run}/metrics"), body).await
}

async fn log_ok(app: &TestApp, run: &str, body: Value) -> Value {
    let reply = log_metrics(app, run, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn summaries(app: &TestApp, run: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/v1/runs/{run}/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"].as_array().expect("items").clone()
}

fn summary<'a>(items: &'a [Value], key: &str) -> &'a Value {
    items
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no summary for {key} in {items:?}"))
}

async fn series(app: &TestApp, run: &str, key_and_query: &str) -> Reply {
    app.get(&format!("/api/v1/runs/{run}/metrics/{key_and_query}"))
        .await
}

fn steps(series: &Value) -> Vec<i64> {
    series["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["step"].as_i64().expect("step"))
        .collect()
}

/// An artifact upload (artifacts have their own suite, `tests/artifacts.rs`).
async fn upload_raw(app: &TestApp, run: &str, path: &str, content: &[u8]) -> Reply {
    app.post_raw(
        &format!("/api/v1/runs/{run}/artifacts?path={path}"),
        content.to_vec(),
        "text/plain",
    )
    .await
}

// ---------------------------------------------------------------- run lifecycle

async fn create_run_defaults_to_running_with_start_time_and_generated_name() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let experiment = app.create_experiment(&project, "exp").await;
    let before = now_millis();
    let run = create_run_with(&app, json!({ "experiment_id": experiment })).await;
    let after = now_millis();

    assert_eq!(run["status"], "running");
    assert_eq!(run["experiment_id"], experiment.as_str());
    assert_eq!(run["project_id"], project.as_str());
    assert!(run["parent_run_id"].is_null());
    assert!(run["ended_at"].is_null());
    let started = millis(&run["started_at"]);
    assert!(
        (before..=after).contains(&started),
        "{before} <= {started} <= {after}"
    );
    assert_eq!(run["params"], json!({}));
    assert_eq!(run["tags"], json!({}));
    assert_eq!(run["metrics"], json!([]));

    let name = run["name"].as_str().expect("name");
    let parts: Vec<&str> = name.split('-').collect();
    assert_eq!(parts.len(), 3, "adjective-animal-N, got {name}");
    assert!(
        parts[0].chars().all(|c| c.is_ascii_lowercase()) && !parts[0].is_empty(),
        "{name}"
    );
    assert!(
        parts[1].chars().all(|c| c.is_ascii_lowercase()) && !parts[1].is_empty(),
        "{name}"
    );
    assert!(parts[2].parse::<u32>().is_ok(), "{name}");

    assert_eq!(get_run(&app, run["id"].as_str().unwrap()).await, run);
}

async fn create_run_keeps_given_name_description_params_and_tags() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    let run = create_run_with(
        &app,
        json!({
            "experiment_id": experiment,
            "name": "  baseline  ",
            "description": "first try",
            "params": { "lr": 0.1 },
            "tags": { "team": "vision" },
        }),
    )
    .await;
    assert_eq!(run["name"], "baseline", "names are trimmed");
    assert_eq!(run["description"], "first try");
    assert_eq!(run["params"], json!({ "lr": 0.1 }));
    assert_eq!(run["tags"], json!({ "team": "vision" }));
}

async fn scheduled_run_starts_once() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    let run = create_run_with(
        &app,
        json!({ "experiment_id": experiment, "status": "scheduled" }),
    )
    .await;
    let id = run["id"].as_str().unwrap();
    assert_eq!(run["status"], "scheduled");
    assert!(run["started_at"].is_null());

    let started = app
        .post(&format!("/api/v1/runs/{id}/start"), json!({}))
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.body["status"], "running");
    assert!(started.body["started_at"].is_string());
    assert!(started.body["ended_at"].is_null());

    let again = app
        .post(&format!("/api/v1/runs/{id}/start"), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.error_code(), "conflict");
    let now = get_run(&app, id).await;
    assert_eq!(now["status"], "running");
    assert_eq!(now["started_at"], started.body["started_at"]);
}

async fn starting_an_unknown_run_is_404() {
    let app = TestApp::start().await;
    let reply = app.post("/api/v1/runs/nope/start", json!({})).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_found");
}

async fn create_run_in_unknown_experiment_is_422_on_experiment_id() {
    let app = TestApp::start().await;
    let reply = app
        .post("/api/v1/runs", json!({ "experiment_id": "does-not-exist" }))
        .await;
    assert_invalid(&reply, "experiment_id");
    assert!(list_runs(&app, "").await.is_empty());
}

async fn create_run_with_a_final_status_is_422() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    for status in ["finished", "failed", "killed"] {
        let reply = app
            .post(
                "/api/v1/runs",
                json!({ "experiment_id": experiment, "status": status }),
            )
            .await;
        assert_invalid(&reply, "status");
    }
    assert_eq!(
        ids(&list_runs(&app, &format!("experiment_id={experiment}")).await),
        vec![run]
    );
}

async fn nested_runs_are_listed_by_parent() {
    let app = TestApp::start().await;
    let (_, experiment, parent) = app.create_hierarchy().await;
    let mut children = Vec::new();
    for _ in 0..2 {
        let child = create_run_with(
            &app,
            json!({ "experiment_id": experiment, "parent_run_id": parent }),
        )
        .await;
        assert_eq!(child["parent_run_id"], parent.as_str());
        children.push(child["id"].as_str().unwrap().to_owned());
    }
    let _unrelated = app.create_run(&experiment).await;

    let listed = list_runs(&app, &format!("parent_run_id={parent}")).await;
    assert_eq!(id_set(&ids(&listed)), id_set(&children));
    assert!(
        listed.iter().all(|r| r["parent_run_id"] == parent.as_str()),
        "{listed:?}"
    );
    assert!(get_run(&app, &parent).await["parent_run_id"].is_null());
}

async fn parent_run_must_exist_in_the_same_experiment() {
    let app = TestApp::start().await;
    let (project, experiment, run) = app.create_hierarchy().await;
    let other_experiment = app.create_experiment(&project, "other").await;
    let foreign_parent = app.create_run(&other_experiment).await;

    let reply = app
        .post(
            "/api/v1/runs",
            json!({ "experiment_id": experiment, "parent_run_id": foreign_parent }),
        )
        .await;
    assert_invalid(&reply, "parent_run_id");

    let reply = app
        .post(
            "/api/v1/runs",
            json!({ "experiment_id": experiment, "parent_run_id": "no-such-run" }),
        )
        .await;
    assert_invalid(&reply, "parent_run_id");

    assert_eq!(
        ids(&list_runs(&app, &format!("experiment_id={experiment}")).await),
        vec![run]
    );
}

async fn finish_defaults_to_finished_and_sets_ended_at() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let before = now_millis();
    let reply = app
        .post(&format!("/api/v1/runs/{run}/finish"), json!({}))
        .await;
    let after = now_millis();
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "finished");
    let ended = millis(&reply.body["ended_at"]);
    assert!((before..=after).contains(&ended), "{ended}");
    assert!(ended >= millis(&reply.body["started_at"]));
    assert_eq!(get_run(&app, &run).await["status"], "finished");
}

async fn finish_accepts_an_empty_body() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = app
        .post_raw(
            &format!("/api/v1/runs/{run}/finish"),
            "",
            "application/json",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "finished");
    assert!(reply.body["ended_at"].is_string());
}

async fn finish_as_failed_or_killed() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    for status in ["failed", "killed"] {
        let run = app.create_run(&experiment).await;
        let reply = app
            .post(
                &format!("/api/v1/runs/{run}/finish"),
                json!({ "status": status }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["status"], status);
        assert!(reply.body["ended_at"].is_string());
        assert_eq!(get_run(&app, &run).await["status"], status);
    }
}

async fn finishing_a_finished_run_is_409_and_changes_nothing() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let first = app
        .post(&format!("/api/v1/runs/{run}/finish"), json!({}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);

    for body in [json!({}), json!({ "status": "failed" })] {
        let again = app.post(&format!("/api/v1/runs/{run}/finish"), body).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        assert_eq!(again.error_code(), "conflict");
    }
    let now = get_run(&app, &run).await;
    assert_eq!(now["status"], "finished");
    assert_eq!(now["ended_at"], first.body["ended_at"]);
}

async fn finish_with_a_non_final_status_is_422() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    for status in ["running", "scheduled"] {
        let reply = app
            .post(
                &format!("/api/v1/runs/{run}/finish"),
                json!({ "status": status }),
            )
            .await;
        assert_invalid(&reply, "status");
    }
    let now = get_run(&app, &run).await;
    assert_eq!(now["status"], "running");
    assert!(now["ended_at"].is_null());
}

async fn scheduled_run_cannot_finish_before_it_starts_but_can_be_killed() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    let run = create_run_with(
        &app,
        json!({ "experiment_id": experiment, "status": "scheduled" }),
    )
    .await;
    let id = run["id"].as_str().unwrap();
    let reply = app
        .post(&format!("/api/v1/runs/{id}/finish"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(get_run(&app, id).await["status"], "scheduled");

    let reply = app
        .post(
            &format!("/api/v1/runs/{id}/finish"),
            json!({ "status": "killed" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "killed");
}

async fn runs_cannot_be_added_to_a_completed_experiment() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let experiment = app.create_experiment(&project, "exp").await;
    let reply = app
        .post(
            &format!("/api/v1/experiments/{experiment}/start"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = app
        .post(
            &format!("/api/v1/experiments/{experiment}/stop"),
            json!({ "status": "completed" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "completed");

    let reply = app
        .post("/api/v1/runs", json!({ "experiment_id": experiment }))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.error_code(), "conflict");
    assert!(
        list_runs(&app, &format!("experiment_id={experiment}"))
            .await
            .is_empty()
    );
}

async fn unknown_run_is_404() {
    let app = TestApp::start().await;
    let reply = app.get("/api/v1/runs/missing").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_found");
    assert_eq!(reply.body["error"]["details"]["entity"], "run");
    assert_eq!(reply.body["error"]["details"]["id"], "missing");
    let reply = app
        .put("/api/v1/runs/missing", json!({ "tags": { "a": "b" } }))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app.post("/api/v1/runs/missing/finish", json!({})).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
}

// ---------------------------------------------------------------- params and tags

async fn params_are_write_once_and_a_conflict_applies_nothing() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    let run = create_run_with(
        &app,
        json!({ "experiment_id": experiment, "name": "original", "params": { "lr": 0.01 } }),
    )
    .await;
    let id = run["id"].as_str().unwrap();

    // The same value again is fine, and new params are added.
    let reply = app
        .put(
            &format!("/api/v1/runs/{id}"),
            json!({ "params": { "lr": 0.01, "epochs": 10 } }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["params"], json!({ "lr": 0.01, "epochs": 10 }));

    // A different value is refused, with everything else in the request.
    let reply = app
        .put(
            &format!("/api/v1/runs/{id}"),
            json!({
                "name": "renamed",
                "description": "changed",
                "params": { "lr": 0.02, "batch_size": 32 },
                "tags": { "stage": "tuning" },
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.error_code(), "conflict");
    assert!(reply.error_message().contains("lr"), "{}", reply.body);

    let now = get_run(&app, id).await;
    assert_eq!(now["params"], json!({ "lr": 0.01, "epochs": 10 }));
    assert_eq!(now["tags"], json!({}));
    assert_eq!(now["name"], "original");
    assert!(now["description"].is_null());
}

async fn typed_params_are_preserved() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let params = json!({
        "lr": 0.001,
        "layers": 4,
        "use_bn": true,
        "optimizer": "adam",
        "schedule": { "kind": "cosine", "warmup": 5 },
    });
    let reply = app
        .put(&format!("/api/v1/runs/{run}"), json!({ "params": params }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["params"], params);
    assert_eq!(get_run(&app, &run).await["params"], params);
    let listed = list_runs(&app, &format!("experiment_id={experiment}")).await;
    assert_eq!(listed[0]["params"], params);
}

async fn null_param_is_422_and_applies_nothing() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = app
        .put(
            &format!("/api/v1/runs/{run}"),
            json!({ "params": { "a": 1, "gone": null }, "tags": { "t": "v" } }),
        )
        .await;
    assert_invalid(&reply, "params.gone");
    let now = get_run(&app, &run).await;
    assert_eq!(now["params"], json!({}));
    assert_eq!(now["tags"], json!({}));
}

async fn invalid_param_and_tag_keys_are_422_naming_the_field() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let reply = app
        .put(
            &format!("/api/v1/runs/{run}"),
            json!({ "params": { "a?b": 1 } }),
        )
        .await;
    assert_invalid(&reply, "params.a?b");
    let reply = app
        .put(
            &format!("/api/v1/runs/{run}"),
            json!({ "tags": { "/abs": "x" } }),
        )
        .await;
    assert_invalid(&reply, "tags./abs");
    let reply = app
        .post(
            "/api/v1/runs",
            json!({ "experiment_id": experiment, "params": { "a?b": 1 } }),
        )
        .await;
    assert_invalid(&reply, "params.a?b");

    let now = get_run(&app, &run).await;
    assert_eq!(now["params"], json!({}));
    assert_eq!(now["tags"], json!({}));
    assert_eq!(
        list_runs(&app, &format!("experiment_id={experiment}"))
            .await
            .len(),
        1
    );
}

/// SQLite stores a NUL character in text; PostgreSQL cannot (TEXT and JSONB refuse it), and then
/// the client gets a 400 saying so — never a 500 — and nothing is written.
async fn nul_characters_are_stored_or_refused_with_400() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = app
        .put(
            &format!("/api/v1/runs/{run}"),
            json!({ "tags": { "note": "a\u{0}b" }, "params": { "p": "x" } }),
        )
        .await;
    match app.database {
        common::Database::Sqlite => {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            assert_eq!(get_run(&app, &run).await["tags"]["note"], "a\u{0}b");
        }
        common::Database::Postgres => {
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
            assert!(reply.error_message().contains("NUL"), "{}", reply.body);
            let now = get_run(&app, &run).await;
            assert_eq!(now["tags"], json!({}));
            assert_eq!(now["params"], json!({}), "nothing half-written");
        }
    }
}

/// A NUL character in an id the client sends is an unknown id (SQLite) or refused with 400
/// (PostgreSQL cannot store it) — never a 500 "transaction is aborted" from a statement sent
/// after the one that failed in the same pipeline (which one answered first used to vary).
async fn nul_characters_in_ids_never_give_500() {
    let app = TestApp::start().await;
    let expected = match app.database {
        common::Database::Sqlite => StatusCode::NOT_FOUND,
        common::Database::Postgres => StatusCode::BAD_REQUEST,
    };
    for _ in 0..10 {
        let reply = app.get("/api/v1/runs/a%00b").await;
        assert_eq!(reply.status, expected, "{}", reply.body);
        let reply = app
            .post(
                "/api/2.0/mlflow/runs/log-batch",
                json!({ "run_id": "a\u{0}b", "metrics": [{ "key": "k", "value": 1, "timestamp": 1, "step": 0 }] }),
            )
            .await;
        assert!(
            reply.status == expected || reply.status == StatusCode::BAD_REQUEST,
            "{} {}",
            reply.status,
            reply.body
        );
    }
}

async fn unknown_update_fields_are_422() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = app
        .put(
            &format!("/api/v1/runs/{run}"),
            json!({ "status": "finished" }),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.error_message().contains("status"), "{}", reply.body);
    assert_eq!(get_run(&app, &run).await["status"], "running");
}

async fn tags_can_be_set_overwritten_and_removed() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let path = format!("/api/v1/runs/{run}");

    let reply = app
        .put(&path, json!({ "tags": { "stage": "dev", "owner": "ana" } }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["tags"],
        json!({ "stage": "dev", "owner": "ana" })
    );

    let reply = app.put(&path, json!({ "tags": { "stage": "prod" } })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["tags"],
        json!({ "stage": "prod", "owner": "ana" })
    );

    let reply = app
        .put(
            &path,
            json!({ "tags": { "owner": null, "never-set": null } }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["tags"], json!({ "stage": "prod" }));
    assert_eq!(
        get_run(&app, &run).await["tags"],
        json!({ "stage": "prod" })
    );
}

async fn rename_and_describe_a_run() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = app
        .put(
            &format!("/api/v1/runs/{run}"),
            json!({ "name": "resnet-50", "description": "deeper" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["name"], "resnet-50");
    assert_eq!(reply.body["description"], "deeper");

    let reply = app
        .put(&format!("/api/v1/runs/{run}"), json!({ "name": "   " }))
        .await;
    assert_invalid(&reply, "name");
    assert_eq!(get_run(&app, &run).await["name"], "resnet-50");
}

// ---------------------------------------------------------------- listing

async fn list_runs_filters() {
    let app = TestApp::start().await;
    let project_a = app.create_project("a").await;
    let project_b = app.create_project("b").await;
    let exp_a1 = app.create_experiment(&project_a, "a1").await;
    let exp_a2 = app.create_experiment(&project_a, "a2").await;
    let exp_b = app.create_experiment(&project_b, "b1").await;

    let alpha = create_run_id(
        &app,
        json!({ "experiment_id": exp_a1, "name": "Alpha-Run", "tags": { "team": "vision" } }),
    )
    .await;
    let beta = create_run_id(
        &app,
        json!({ "experiment_id": exp_a1, "name": "beta", "tags": { "team": "nlp" } }),
    )
    .await;
    let gamma = create_run_id(
        &app,
        json!({ "experiment_id": exp_a2, "name": "gamma-run", "status": "scheduled" }),
    )
    .await;
    let delta = create_run_id(
        &app,
        json!({ "experiment_id": exp_b, "name": "delta", "tags": { "team": "vision" } }),
    )
    .await;
    let reply = app
        .post(&format!("/api/v1/runs/{beta}/finish"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    check_listed(&app, "", &[&alpha, &beta, &gamma, &delta]).await;

    let by_exp = list_runs(&app, &format!("experiment_id={exp_a1}")).await;
    assert_eq!(id_set(&ids(&by_exp)), id_set(&[&alpha, &beta]));
    let by_project = list_runs(&app, &format!("project_id={project_a}")).await;
    assert_eq!(id_set(&ids(&by_project)), id_set(&[&alpha, &beta, &gamma]));
    let by_project_b = list_runs(&app, &format!("project_id={project_b}")).await;
    assert_eq!(ids(&by_project_b), vec![delta.clone()]);

    check_listed(&app, "status=running", &[&alpha, &delta]).await;
    check_listed(&app, "status=finished", &[&beta]).await;
    check_listed(&app, "status=scheduled", &[&gamma]).await;
    check_listed(&app, "status=killed", &[]).await;
    check_listed(&app, "name=beta", &[&beta]).await;
    check_listed(&app, "name=bet", &[]).await;
    check_listed(&app, "name_contains=RUN", &[&alpha, &gamma]).await;
    check_listed(&app, "tag=team:vision", &[&alpha, &delta]).await;
    check_listed(&app, "tag=team", &[&alpha, &beta, &delta]).await;
    check_listed(&app, "tag=team:nope", &[]).await;
    check_listed(
        &app,
        "tag=team:vision&status=running&name_contains=alpha",
        &[&alpha],
    )
    .await;

    let reply = app.get("/api/v1/runs?status=sleeping").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_code(), "bad_request");
    let reply = app.get("/api/v1/runs?sort=colour").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
}

async fn list_runs_sorts_by_name_and_by_newest_first() {
    let app = TestApp::start().await;
    let (_, experiment, first) = app.create_hierarchy().await;
    let reply = app
        .put(&format!("/api/v1/runs/{first}"), json!({ "name": "delta" }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut created = vec![first];
    for name in ["charlie", "alpha", "bravo"] {
        let run = create_run_with(&app, json!({ "experiment_id": experiment, "name": name })).await;
        created.push(run["id"].as_str().unwrap().to_owned());
    }
    let query = format!("experiment_id={experiment}");

    let newest_first = ids(&list_runs(&app, &format!("{query}&sort=-created_at")).await);
    let mut expected = created.clone();
    expected.reverse();
    assert_eq!(newest_first, expected);
    assert_eq!(
        ids(&list_runs(&app, &query).await),
        expected,
        "the default sort is newest first"
    );
    assert_eq!(
        ids(&list_runs(&app, &format!("{query}&sort=created_at")).await),
        created
    );

    let names = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_name = list_runs(&app, &format!("{query}&sort=name")).await;
    assert_eq!(names(&by_name), vec!["alpha", "bravo", "charlie", "delta"]);
    let by_name = list_runs(&app, &format!("{query}&sort=-name")).await;
    assert_eq!(names(&by_name), vec!["delta", "charlie", "bravo", "alpha"]);
    let filtered = list_runs(&app, &format!("{query}&sort=name&name_contains=r")).await;
    assert_eq!(names(&filtered), vec!["bravo", "charlie"]);
}

async fn list_runs_pages_through_every_run_exactly_once() {
    let app = TestApp::start().await;
    let (_, experiment, first) = app.create_hierarchy().await;
    let mut all = vec![first];
    // Some names repeat, so name order depends on the id tie-breaker too.
    for name in ["e", "b", "e", "a", "c", "b"] {
        let run = create_run_with(&app, json!({ "experiment_id": experiment, "name": name })).await;
        all.push(run["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(all.len(), 7);

    for sort in ["-created_at", "created_at", "name", "-name"] {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut url =
                format!("/api/v1/runs?experiment_id={experiment}&page_size=3&sort={sort}");
            if let Some(token) = &token {
                url.push_str(&format!("&page_token={token}"));
            }
            let reply = app.get(&url).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let items = reply.body["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            seen.extend(ids(items));
            pages += 1;
            match reply.body["next_page_token"].as_str() {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
            assert!(pages < 10, "paging does not end");
        }
        assert_eq!(pages, 3, "7 runs in pages of 3 ({sort})");
        assert_eq!(seen.len(), 7, "{sort}: {seen:?}");
        assert_eq!(id_set(&seen), id_set(&all), "{sort}");
        // Pages concatenate to the unpaged order.
        let unpaged =
            ids(&list_runs(&app, &format!("experiment_id={experiment}&sort={sort}")).await);
        assert_eq!(seen, unpaged, "{sort}");
    }

    let reply = app.get("/api/v1/runs?page_size=0").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = app.get("/api/v1/runs?page_token=garbage").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
}

async fn listed_runs_include_params_tags_and_metric_summaries() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    let run = create_run_with(
        &app,
        json!({ "experiment_id": experiment, "params": { "lr": 0.1 }, "tags": { "k": "v" } }),
    )
    .await;
    let id = run["id"].as_str().unwrap();
    log_ok(
        &app,
        id,
        json!({ "metrics": [
            { "key": "loss", "value": 2.0, "step": 0, "timestamp": 1000 },
            { "key": "loss", "value": 1.0, "step": 1, "timestamp": 2000 },
            { "key": "acc", "value": 0.5, "step": 1, "timestamp": 2000 },
        ] }),
    )
    .await;

    let listed = list_runs(
        &app,
        &format!(
            "experiment_id={experiment}&name={}",
            run["name"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(listed.len(), 1);
    let listed = &listed[0];
    assert_eq!(listed["params"], json!({ "lr": 0.1 }));
    assert_eq!(listed["tags"], json!({ "k": "v" }));
    assert_eq!(
        listed["metrics"],
        json!([
            { "key": "acc", "last_value": 0.5, "last_step": 1, "last_timestamp": 2000, "min": 0.5, "max": 0.5, "count": 1 },
            { "key": "loss", "last_value": 1.0, "last_step": 1, "last_timestamp": 2000, "min": 1.0, "max": 2.0, "count": 2 },
        ])
    );
    assert_eq!(get_run(&app, id).await["metrics"], listed["metrics"]);
}

// ---------------------------------------------------------------- limits

async fn runs_per_experiment_limit_is_409_not_429() {
    let app = TestApp::start_with(|c| c.limits.max_runs_per_experiment = 2).await;
    let (project, experiment, first) = app.create_hierarchy().await;
    let second = app.create_run(&experiment).await;
    let reply = app
        .post("/api/v1/runs", json!({ "experiment_id": experiment }))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.error_code(), "limit_exceeded");
    assert_eq!(
        reply.body["error"]["details"]["setting"],
        "limits.max_runs_per_experiment"
    );
    assert_eq!(reply.body["error"]["details"]["limit"], 2);
    assert!(
        reply
            .error_message()
            .contains("limits.max_runs_per_experiment"),
        "{}",
        reply.body
    );
    assert_eq!(
        id_set(&ids(&list_runs(
            &app,
            &format!("experiment_id={experiment}")
        )
        .await)),
        id_set(&[first.clone(), second])
    );
    // The limit is per experiment.
    let other = app.create_experiment(&project, "other").await;
    app.create_run(&other).await;
    // A run in the trash still counts; a run deleted for good frees its place.
    app.delete_ok(&format!("/api/v1/runs/{first}")).await;
    let reply = app
        .post("/api/v1/runs", json!({ "experiment_id": experiment }))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    app.delete_ok(&format!("/api/v1/runs/{first}?permanent=true"))
        .await;
    app.create_run(&experiment).await;
    let reply = app
        .post("/api/v1/runs", json!({ "experiment_id": experiment }))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
}

async fn a_run_cannot_be_created_in_a_deleted_experiment() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    app.delete_ok(&format!("/api/v1/experiments/{experiment}"))
        .await;
    let reply = app
        .post("/api/v1/runs", json!({ "experiment_id": experiment }))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.error_code(), "conflict");
    assert!(
        reply.error_message().contains("is deleted"),
        "{}",
        reply.body
    );
    let listed = list_runs(&app, &format!("experiment_id={experiment}&lifecycle=all")).await;
    assert_eq!(ids(&listed).len(), 1, "only the first run: {listed:?}");
}

async fn a_trashed_run_refuses_changes_and_waits_for_its_experiment() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    app.delete_ok(&format!("/api/v1/runs/{run}")).await;
    let reply = app
        .put(
            &format!("/api/v1/runs/{run}"),
            json!({ "description": "x" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    let reply = app
        .post(&format!("/api/v1/runs/{run}/finish"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    let stored = get_run(&app, &run).await;
    assert_eq!(stored["description"], Value::Null);
    assert_eq!(stored["status"], "running");

    // While its experiment is in the trash, the run stays there too.
    app.delete_ok(&format!("/api/v1/experiments/{experiment}"))
        .await;
    let reply = app
        .post(&format!("/api/v1/runs/{run}/restore"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(
        reply.error_message().contains("experiment"),
        "{}",
        reply.body
    );
    let reply = app
        .post(
            &format!("/api/v1/experiments/{experiment}/restore"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(!get_run(&app, &run).await["deleted_at"].is_null());
    let reply = app
        .post(&format!("/api/v1/runs/{run}/restore"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = app
        .put(
            &format!("/api/v1/runs/{run}"),
            json!({ "description": "x" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn metric_key_limit_refuses_the_whole_batch() {
    let app = TestApp::start_with(|c| c.limits.max_metric_keys_per_run = 3).await;
    let (_, _, run) = app.create_hierarchy().await;
    log_ok(
        &app,
        &run,
        json!({ "metrics": [
            { "key": "a", "value": 1.0, "step": 0 },
            { "key": "b", "value": 1.0, "step": 0 },
            { "key": "c", "value": 1.0, "step": 0 },
        ] }),
    )
    .await;
    let before = summaries(&app, &run).await;

    let reply = log_metrics(
        &app,
        &run,
        json!({ "metrics": [
            { "key": "a", "value": 2.0, "step": 1 },
            { "key": "b", "value": 2.0, "step": 1 },
            { "key": "d", "value": 2.0, "step": 1 },
        ] }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.error_code(), "limit_exceeded");
    assert_eq!(
        reply.body["error"]["details"]["setting"],
        "limits.max_metric_keys_per_run"
    );
    assert_eq!(reply.body["error"]["details"]["limit"], 3);

    assert_eq!(summaries(&app, &run).await, before);
    let a = series(&app, &run, "a").await;
    assert_eq!(steps(&a.body), vec![0]);
    assert_eq!(series(&app, &run, "d").await.status, StatusCode::NOT_FOUND);

    // Existing keys still accept points.
    log_ok(&app, &run, json!({ "key": "a", "value": 3.0, "step": 2 })).await;
}

async fn too_many_points_in_one_request_is_413() {
    let app = TestApp::start_with(|c| c.limits.max_metrics_per_request = 10).await;
    let (_, _, run) = app.create_hierarchy().await;
    let points = |n: i64| -> Value {
        json!({ "metrics": (0..n).map(|i| json!({ "key": "loss", "value": i, "step": i })).collect::<Vec<_>>() })
    };
    let reply = log_metrics(&app, &run, points(11)).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert_eq!(reply.error_code(), "payload_too_large");
    assert!(summaries(&app, &run).await.is_empty());

    let written = log_ok(&app, &run, points(10)).await;
    assert_eq!(written["written"], 10);
}

async fn oversized_json_body_is_413_with_a_json_error() {
    let app = TestApp::start_with(|c| c.limits.max_request_body_bytes = 1000).await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = app
        .put(
            &format!("/api/v1/runs/{run}"),
            json!({ "description": "x".repeat(2000) }),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert_eq!(reply.error_code(), "payload_too_large");
    assert!(
        reply.error_message().contains("max_request_body_bytes"),
        "{}",
        reply.body
    );
    assert!(get_run(&app, &run).await["description"].is_null());

    let big_batch = json!({ "metrics": (0..100).map(|i| json!({ "key": "loss", "value": i, "step": i })).collect::<Vec<_>>() });
    let reply = log_metrics(&app, &run, big_batch).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert_eq!(reply.error_code(), "payload_too_large");
    assert!(summaries(&app, &run).await.is_empty());

    // Artifact uploads are bounded by limits.max_artifact_bytes instead.
    let reply = upload_raw(&app, &run, "big.bin", &[1_u8; 5000]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["size"], 5000);
}

// ---------------------------------------------------------------- metrics

async fn log_a_single_point_and_a_batch() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = log_ok(
        &app,
        &run,
        json!({ "key": "loss", "value": 0.5, "step": 3, "timestamp": 1_700_000_000_000_i64 }),
    )
    .await;
    assert_eq!(
        reply,
        json!({ "run_id": run, "written": 1, "duplicates": 0 })
    );
    let loss = series(&app, &run, "loss").await;
    assert_eq!(loss.status, StatusCode::OK, "{}", loss.body);
    assert_eq!(
        loss.body,
        json!({
            "key": "loss",
            "points": [{ "step": 3, "timestamp": 1_700_000_000_000_i64, "value": 0.5 }],
            "total_points": 1,
            "downsampled": false,
        })
    );

    let mut batch = Vec::new();
    for step in 0..5 {
        for key in ["train/loss", "val/loss", "lr"] {
            batch.push(json!({ "key": key, "value": step as f64 / 10.0, "step": step, "timestamp": 1000 + step }));
        }
    }
    let reply = log_ok(&app, &run, json!({ "metrics": batch })).await;
    assert_eq!(reply["written"], 15);
    assert_eq!(reply["duplicates"], 0);
    let items = summaries(&app, &run).await;
    let keys: Vec<&str> = items.iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["loss", "lr", "train/loss", "val/loss"]);
    for key in ["train/loss", "val/loss", "lr"] {
        let s = summary(&items, key);
        assert_eq!(s["count"], 5, "{s}");
        assert_eq!(s["last_step"], 4, "{s}");
        assert_eq!(s["last_value"], 0.4, "{s}");
    }
}

async fn both_forms_at_once_or_neither_is_422() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let both = log_metrics(
        &app,
        &run,
        json!({ "key": "a", "value": 1.0, "metrics": [{ "key": "b", "value": 2.0 }] }),
    )
    .await;
    assert_eq!(
        both.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        both.body
    );
    assert_eq!(both.error_code(), "invalid_input");

    let neither = log_metrics(&app, &run, json!({})).await;
    assert_eq!(
        neither.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        neither.body
    );
    assert_eq!(neither.error_code(), "invalid_input");

    let no_value = log_metrics(&app, &run, json!({ "key": "a" })).await;
    assert_invalid(&no_value, "value");
    let empty = log_metrics(&app, &run, json!({ "metrics": [] })).await;
    assert_invalid(&empty, "metrics");
    let bad_key = log_metrics(
        &app,
        &run,
        json!({ "metrics": [{ "key": "ok", "value": 1 }, { "key": "bad?key", "value": 1 }] }),
    )
    .await;
    assert_invalid(&bad_key, "metrics[1].key");

    assert!(summaries(&app, &run).await.is_empty());
}

async fn non_finite_values_are_accepted_and_read_back_as_strings() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = log_ok(
        &app,
        &run,
        json!({ "metrics": [
            { "key": "x", "value": "NaN", "step": 0, "timestamp": 1 },
            { "key": "x", "value": "Infinity", "step": 1, "timestamp": 1 },
            { "key": "x", "value": "-Infinity", "step": 2, "timestamp": 1 },
            { "key": "x", "value": 1.5, "step": 3, "timestamp": 1 },
        ] }),
    )
    .await;
    assert_eq!(reply["written"], 4);
    log_ok(&app, &run, json!({ "key": "y", "value": "NaN" })).await;

    let x = series(&app, &run, "x").await;
    assert_eq!(x.status, StatusCode::OK, "{}", x.body);
    let values: Vec<Value> = x.body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].clone())
        .collect();
    assert_eq!(
        values,
        vec![
            json!("NaN"),
            json!("Infinity"),
            json!("-Infinity"),
            json!(1.5)
        ]
    );

    let items = summaries(&app, &run).await;
    let x = summary(&items, "x");
    assert_eq!(x["min"], "-Infinity");
    assert_eq!(x["max"], "Infinity");
    assert_eq!(x["last_value"], 1.5);
    assert_eq!(x["count"], 4);
    let y = summary(&items, "y");
    assert_eq!(y["last_value"], "NaN");
    assert!(y["min"].is_null(), "{y}");
    assert!(y["max"].is_null(), "{y}");
    assert_eq!(y["count"], 1);
}

async fn non_numeric_value_is_422_naming_the_point_and_stores_nothing() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = log_metrics(
        &app,
        &run,
        json!({ "metrics": [
            { "key": "a", "value": 1.0, "step": 0 },
            { "key": "a", "value": "abc", "step": 1 },
        ] }),
    )
    .await;
    assert_invalid(&reply, "metrics[1].value");
    assert!(reply.error_message().contains("abc"), "{}", reply.body);

    let reply = log_metrics(&app, &run, json!({ "key": "a", "value": "abc" })).await;
    assert_invalid(&reply, "value");
    let reply = log_metrics(&app, &run, json!({ "key": "a", "value": true })).await;
    assert_invalid(&reply, "value");

    assert!(summaries(&app, &run).await.is_empty());
    assert_eq!(series(&app, &run, "a").await.status, StatusCode::NOT_FOUND);
}

async fn logging_to_an_unknown_run_is_404() {
    let app = TestApp::start().await;
    let reply = log_metrics(&app, "no-such-run", json!({ "key": "a", "value": 1.0 })).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_found");
    let reply = app.get("/api/v1/runs/no-such-run/metrics").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app.get("/api/v1/runs/no-such-run/metrics/a").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
}

async fn resending_a_batch_is_an_idempotent_retry() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let batch = json!({ "metrics": (0..20).map(|i| json!({
        "key": if i % 2 == 0 { "loss" } else { "acc" },
        "value": i as f64 * 0.25,
        "step": i / 2,
        "timestamp": 1_000 + i,
    })).collect::<Vec<_>>() });

    let first = log_ok(&app, &run, batch.clone()).await;
    assert_eq!(first["written"], 20);
    assert_eq!(first["duplicates"], 0);
    let summaries_before = summaries(&app, &run).await;
    let loss_before = series(&app, &run, "loss").await.body;
    let acc_before = series(&app, &run, "acc").await.body;

    let retry = log_ok(&app, &run, batch).await;
    assert_eq!(retry["written"], 0);
    assert_eq!(retry["duplicates"], 20);

    assert_eq!(summaries(&app, &run).await, summaries_before);
    assert_eq!(series(&app, &run, "loss").await.body, loss_before);
    assert_eq!(series(&app, &run, "acc").await.body, acc_before);
    assert_eq!(loss_before["total_points"], 10);
}

async fn step_defaults_to_zero_and_timestamp_to_now() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let before = now_millis();
    log_ok(&app, &run, json!({ "key": "single", "value": 1.0 })).await;
    log_ok(
        &app,
        &run,
        json!({ "metrics": [{ "key": "batched", "value": 2.0 }] }),
    )
    .await;
    let after = now_millis();
    for key in ["single", "batched"] {
        let reply = series(&app, &run, key).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let point = &reply.body["points"][0];
        assert_eq!(point["step"], 0, "{point}");
        let ts = point["timestamp"].as_i64().expect("timestamp");
        assert!(
            (before..=after).contains(&ts),
            "{before} <= {ts} <= {after}"
        );
    }
}

async fn summary_latest_value_is_at_the_highest_step_and_range_ignores_nan() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    // Out of order, across requests: the latest value is the one at step 5, not the last sent.
    log_ok(
        &app,
        &run,
        json!({ "key": "loss", "value": 50.0, "step": 5, "timestamp": 100 }),
    )
    .await;
    log_ok(
        &app,
        &run,
        json!({ "metrics": [
            { "key": "loss", "value": 10.0, "step": 1, "timestamp": 200 },
            { "key": "loss", "value": "NaN", "step": 4, "timestamp": 200 },
            { "key": "loss", "value": 30.0, "step": 3, "timestamp": 200 },
        ] }),
    )
    .await;
    log_ok(
        &app,
        &run,
        json!({ "key": "loss", "value": 20.0, "step": 2, "timestamp": 300 }),
    )
    .await;

    let items = summaries(&app, &run).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0],
        json!({ "key": "loss", "last_value": 50.0, "last_step": 5, "last_timestamp": 100,
                "min": 10.0, "max": 50.0, "count": 5 })
    );
    let reply = series(&app, &run, "loss").await;
    assert_eq!(steps(&reply.body), vec![1, 2, 3, 4, 5]);

    // At the same step, the later timestamp wins.
    log_ok(
        &app,
        &run,
        json!({ "key": "loss", "value": 45.0, "step": 5, "timestamp": 101 }),
    )
    .await;
    let items = summaries(&app, &run).await;
    assert_eq!(items[0]["last_value"], 45.0);
    assert_eq!(items[0]["last_timestamp"], 101);
    assert_eq!(items[0]["count"], 6);
}

async fn series_with_slash_keys_are_ordered_by_step_and_ranged() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    // Steps sent in a scrambled order.
    let order: Vec<i64> = (0..20).map(|i| (i * 7) % 20).collect();
    let batch: Vec<Value> = order
        .iter()
        .map(
            |&s| json!({ "key": "train/loss", "value": s as f64 * 2.0, "step": s, "timestamp": 1 }),
        )
        .collect();
    log_ok(&app, &run, json!({ "metrics": batch })).await;
    log_ok(
        &app,
        &run,
        json!({ "key": "train/acc/top 1", "value": 0.9, "step": 0 }),
    )
    .await;

    let reply = series(&app, &run, "train/loss").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["key"], "train/loss");
    assert_eq!(steps(&reply.body), (0..20).collect::<Vec<_>>());
    assert_eq!(reply.body["total_points"], 20);
    assert_eq!(reply.body["downsampled"], false);
    assert!(
        reply.body["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["value"].as_f64().unwrap() == p["step"].as_f64().unwrap() * 2.0)
    );

    let ranged = series(&app, &run, "train/loss?start_step=5&end_step=9").await;
    assert_eq!(ranged.status, StatusCode::OK, "{}", ranged.body);
    assert_eq!(steps(&ranged.body), vec![5, 6, 7, 8, 9]);
    assert_eq!(ranged.body["total_points"], 5);
    let from = series(&app, &run, "train/loss?start_step=17").await;
    assert_eq!(steps(&from.body), vec![17, 18, 19]);
    let to = series(&app, &run, "train/loss?end_step=1").await;
    assert_eq!(steps(&to.body), vec![0, 1]);
    let empty = series(&app, &run, "train/loss?start_step=100&end_step=200").await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body["points"], json!([]));
    assert_eq!(empty.body["total_points"], 0);

    let spaced = series(&app, &run, "train/acc/top%201").await;
    assert_eq!(spaced.status, StatusCode::OK, "{}", spaced.body);
    assert_eq!(spaced.body["key"], "train/acc/top 1");
    assert_eq!(steps(&spaced.body), vec![0]);
}

async fn downsampling_keeps_both_spikes_within_max_points() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let (up, down) = (3217_i64, 7777_i64);
    let batch: Vec<Value> = (0..10_000_i64)
        .map(|step| {
            let value = match step {
                s if s == up => 1000.0,
                s if s == down => -1000.0,
                s => (s as f64 / 50.0).sin(),
            };
            json!({ "key": "train/loss", "value": value, "step": step, "timestamp": 1 })
        })
        .collect();
    let reply = log_ok(&app, &run, json!({ "metrics": batch })).await;
    assert_eq!(reply["written"], 10_000);

    for max_points in [2_usize, 3, 100, 999] {
        let reply = series(&app, &run, &format!("train/loss?max_points={max_points}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let points = reply.body["points"].as_array().unwrap();
        assert!(
            points.len() <= max_points,
            "{} points for max_points={max_points}",
            points.len()
        );
        assert!(!points.is_empty());
        assert_eq!(reply.body["downsampled"], true);
        assert_eq!(reply.body["total_points"], 10_000);
        assert!(
            points
                .iter()
                .any(|p| p["step"] == up && p["value"] == 1000.0),
            "+1000 spike lost at max_points={max_points}"
        );
        assert!(
            points
                .iter()
                .any(|p| p["step"] == down && p["value"] == -1000.0),
            "-1000 spike lost at max_points={max_points}"
        );
        let s = steps(&reply.body);
        assert!(s.windows(2).all(|w| w[0] < w[1]), "steps in order: {s:?}");
    }

    // A budget larger than the series returns it whole.
    let whole = series(&app, &run, "train/loss?max_points=10000").await;
    assert_eq!(whole.body["downsampled"], false);
    assert_eq!(whole.body["points"].as_array().unwrap().len(), 10_000);

    // Downsampling applies to the requested range.
    let ranged = series(
        &app,
        &run,
        "train/loss?start_step=3000&end_step=3999&max_points=20",
    )
    .await;
    assert_eq!(ranged.body["total_points"], 1000);
    assert_eq!(ranged.body["downsampled"], true);
    let points = ranged.body["points"].as_array().unwrap();
    assert!(points.len() <= 20);
    assert!(points.iter().any(|p| p["step"] == up));
    assert!(points.iter().all(|p| {
        let step = p["step"].as_i64().unwrap();
        (3000..=3999).contains(&step)
    }));
}

/// Values of a series as JSON (NaN reads back as the string "NaN").
fn values(series: &Value) -> Vec<Value> {
    series["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["value"].clone())
        .collect()
}

/// The issue's example: two points of one key at one step (and the same default timestamp)
/// with different values are two points.
async fn points_differing_only_in_value_are_all_kept() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let body = json!({ "metrics": [
        { "key": "a", "value": 1, "step": 5 },
        { "key": "a", "value": 1e9, "step": 5 },
    ] });
    let reply = log_ok(&app, &run, body).await;
    assert_eq!(
        (&reply["written"], &reply["duplicates"]),
        (&json!(2), &json!(0))
    );
    let a = series(&app, &run, "a").await.body;
    assert_eq!(values(&a), [json!(1.0), json!(1e9)]);
    assert_eq!(steps(&a), [5, 5]);
    assert_eq!(a["points"][0]["timestamp"], a["points"][1]["timestamp"]);
    let a = summary(&summaries(&app, &run).await, "a").clone();
    assert_eq!(a["count"], 2);
    assert_eq!((&a["min"], &a["max"]), (&json!(1.0), &json!(1e9)));
    // MLflow's latest: the greatest (step, timestamp, value).
    assert_eq!(a["last_value"], 1e9);
}

/// Identity is key, step, timestamp and value (NaN equal to NaN), within a batch and across
/// batches, and the counts say so.
async fn a_point_is_a_duplicate_only_when_its_value_is_identical_too() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let point = |step: i64, value: Value| json!({ "key": "m", "value": value, "step": step, "timestamp": 1_000 });
    let first = json!({ "metrics": [
        point(1, json!(2.0)),
        point(1, json!(1.0)),
        point(1, json!(1.0)),
        point(1, json!("NaN")),
        point(1, json!("NaN")),
        point(2, json!(5.0)),
    ] });
    let reply = log_ok(&app, &run, first).await;
    assert_eq!(
        (&reply["written"], &reply["duplicates"]),
        (&json!(4), &json!(2))
    );

    // A true retry, NaN included, writes nothing.
    let retry =
        json!({ "metrics": [point(1, json!(1.0)), point(1, json!("NaN")), point(2, json!(5.0))] });
    let reply = log_ok(&app, &run, retry).await;
    assert_eq!(
        (&reply["written"], &reply["duplicates"]),
        (&json!(0), &json!(3))
    );

    // Same step and timestamp as stored points, other values: new points.
    let other = json!({ "metrics": [point(1, json!(3.0)), point(2, json!(4.0))] });
    let reply = log_ok(&app, &run, other).await;
    assert_eq!(
        (&reply["written"], &reply["duplicates"]),
        (&json!(2), &json!(0))
    );

    let m = series(&app, &run, "m").await.body;
    assert_eq!(m["total_points"], 6);
    assert_eq!(steps(&m), [1, 1, 1, 1, 2, 2]);
    assert_eq!(
        values(&m),
        // NaN ranks as 0, where MLflow's stores put it.
        [
            json!("NaN"),
            json!(1.0),
            json!(2.0),
            json!(3.0),
            json!(4.0),
            json!(5.0)
        ]
    );
    let m = summary(&summaries(&app, &run).await, "m").clone();
    assert_eq!(m["count"], 6);
    assert_eq!(
        (&m["min"], &m["max"], &m["last_value"]),
        (&json!(1.0), &json!(5.0), &json!(5.0))
    );

    // Bulk ingest follows the same rule.
    let bulk = json!({ "series": [{ "key": "m", "steps": [2, 2, 2], "values": [5.0, 6.0, 6.0], "timestamp": 1_000 }] });
    let reply = app
        .post(&format!("/api/v1/runs/{run}/bulk-metrics"), bulk)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        (&reply.body["written"], &reply.body["duplicates"]),
        (&json!(1), &json!(2))
    );
    let m = summary(&summaries(&app, &run).await, "m").clone();
    assert_eq!((&m["count"], &m["last_value"]), (&json!(7), &json!(6.0)));
}

/// A spike logged later at a step and timestamp already stored survives downsampling.
async fn downsampling_keeps_a_spike_logged_at_a_stored_step_and_time() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let flat: Vec<Value> = (0..1_000_i64)
        .map(|step| json!({ "key": "loss", "value": 1.0, "step": step, "timestamp": 7 }))
        .collect();
    log_ok(&app, &run, json!({ "metrics": flat })).await;
    let spike =
        json!({ "metrics": [{ "key": "loss", "value": 1e9, "step": 500, "timestamp": 7 }] });
    let reply = log_ok(&app, &run, spike).await;
    assert_eq!(
        (&reply["written"], &reply["duplicates"]),
        (&json!(1), &json!(0))
    );
    let reply = series(&app, &run, "loss?max_points=10").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["downsampled"], true);
    assert_eq!(reply.body["total_points"], 1_001);
    let points = reply.body["points"].as_array().unwrap();
    assert!(points.len() <= 10, "{}", points.len());
    assert!(
        points.iter().any(|p| p["step"] == 500 && p["value"] == 1e9),
        "spike lost: {points:?}"
    );
}

/// MLflow: log-batch values 1 and 2 at one step and timestamp, then log-metric 3 there: the
/// history has all three, in MLflow's order, and the latest value is the largest.
async fn mlflow_history_keeps_every_value_logged_at_one_step_and_time() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let metric = |value: f64| json!({ "key": "m", "value": value, "timestamp": 1_000, "step": 1 });
    let reply = app
        .post(
            "/api/2.0/mlflow/runs/log-batch",
            json!({ "run_id": run, "metrics": [metric(2.0), metric(1.0)] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut single = metric(3.0);
    single["run_id"] = json!(run);
    let reply = app.post("/api/2.0/mlflow/runs/log-metric", single).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // An earlier timestamp at a higher step comes first in MLflow's (timestamp, step, value) order.
    let reply = app
        .post(
            "/api/2.0/mlflow/runs/log-metric",
            json!({ "run_id": run, "key": "m", "value": 0.5, "timestamp": 999, "step": 2 }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let history = app
        .get(&format!(
            "/api/2.0/mlflow/metrics/get-history?run_id={run}&metric_key=m"
        ))
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let got: Vec<(i64, i64, f64)> = history.body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["step"].as_i64().unwrap(),
                m["timestamp"].as_i64().unwrap(),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (2, 999, 0.5),
            (1, 1_000, 1.0),
            (1, 1_000, 2.0),
            (1, 1_000, 3.0)
        ]
    );
    let fetched = app
        .get(&format!("/api/2.0/mlflow/runs/get?run_id={run}"))
        .await;
    let latest = &fetched.body["run"]["data"]["metrics"];
    assert_eq!(
        latest,
        &json!([{ "key": "m", "value": 0.5, "timestamp": 999, "step": 2 }])
    );
}

/// Metrics logged for a model (MLflow 3's `log_metric(model_id=…)`) follow the same identity.
async fn model_metrics_keep_every_value_logged_at_one_step_and_time() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let created = app
        .post(
            "/api/2.0/mlflow/logged-models",
            json!({ "experiment_id": experiment, "name": "model", "source_run_id": run }),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let model_id = created.body["model"]["info"]["model_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let metric = |value: f64| json!({ "key": "acc", "value": value, "timestamp": 1_000, "step": 1, "model_id": model_id });
    let batch = json!({ "run_id": run, "metrics": [metric(0.5), metric(0.7), metric(0.5)] });
    let reply = app.post("/api/2.0/mlflow/runs/log-batch", batch).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut retry = metric(0.7);
    retry["run_id"] = json!(run);
    let reply = app.post("/api/2.0/mlflow/runs/log-metric", retry).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let model = app
        .get(&format!("/api/2.0/mlflow/logged-models/{model_id}"))
        .await;
    assert_eq!(model.status, StatusCode::OK, "{}", model.body);
    let values: Vec<f64> = model.body["model"]["data"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [0.5, 0.7]);
    let run_series = series(&app, &run, "acc").await.body;
    assert_eq!(run_series["total_points"], 2);
}

async fn bad_series_queries_are_refused() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    log_ok(&app, &run, json!({ "key": "loss", "value": 1.0 })).await;
    for query in [
        "max_points=1",
        "max_points=0",
        "start_step=5&end_step=4",
        "max_points=-3",
        "start_step=abc",
    ] {
        let reply = series(&app, &run, &format!("loss?{query}")).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.body
        );
        assert_eq!(reply.error_code(), "bad_request", "{query}");
    }
    let reply = series(&app, &run, "loss?start_step=4&end_step=4").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let reply = series(&app, &run, "no/such/key").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_found");
    assert_eq!(reply.body["error"]["details"]["entity"], "metric");
}

// ---------------------------------------------------------------- deletion

async fn deleting_a_run_moves_it_to_the_trash_and_restore_brings_it_back() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let keep = app.create_run(&experiment).await;
    log_ok(
        &app,
        &run,
        json!({ "metrics": [{ "key": "train/loss", "value": 1.0, "step": 0 }] }),
    )
    .await;

    app.delete_ok(&format!("/api/v1/runs/{run}")).await;

    // In the trash: out of the lists, still readable, refusing new data.
    let trashed = get_run(&app, &run).await;
    let deleted_at = millis(&trashed["deleted_at"]);
    assert!(deleted_at <= now_millis());
    assert_eq!(
        ids(&list_runs(&app, &format!("experiment_id={experiment}")).await),
        vec![keep.clone()]
    );
    assert_eq!(
        ids(&list_runs(
            &app,
            &format!("experiment_id={experiment}&lifecycle=deleted")
        )
        .await),
        vec![run.clone()]
    );
    let kept = series(&app, &run, "train/loss").await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(steps(&kept.body), vec![0]);
    let reply = log_metrics(&app, &run, json!({ "key": "x", "value": 1.0 })).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    let reply = upload_raw(&app, &run, "a.txt", b"late").await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);

    // Trashing again changes nothing (the retention of `ets gc` counts from the first time).
    app.delete_ok(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(millis(&get_run(&app, &run).await["deleted_at"]), deleted_at);

    let reply = app
        .post(&format!("/api/v1/runs/{run}/restore"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["deleted_at"].is_null(), "{}", reply.body);
    assert_eq!(
        id_set(&ids(&list_runs(
            &app,
            &format!("experiment_id={experiment}")
        )
        .await)),
        id_set(&[&run, &keep])
    );
    log_ok(
        &app,
        &run,
        json!({ "key": "train/loss", "value": 0.5, "step": 1 }),
    )
    .await;
    assert_eq!(
        steps(&series(&app, &run, "train/loss").await.body),
        vec![0, 1]
    );

    let reply = app
        .post("/api/v1/runs/no-such-run/restore", json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app.delete("/api/v1/runs/no-such-run").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
}

async fn permanently_deleted_run_is_gone_with_its_metrics() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let keep = app.create_run(&experiment).await;
    for r in [&run, &keep] {
        log_ok(
            &app,
            r,
            json!({ "metrics": [
                { "key": "train/loss", "value": 1.0, "step": 0 },
                { "key": "train/loss", "value": 0.5, "step": 1 },
            ] }),
        )
        .await;
    }

    app.delete_ok(&format!("/api/v1/runs/{run}?permanent=true"))
        .await;

    let reply = app.get(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = series(&app, &run, "train/loss").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app.get(&format!("/api/v1/runs/{run}/metrics")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = log_metrics(&app, &run, json!({ "key": "x", "value": 1.0 })).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app
        .delete(&format!("/api/v1/runs/{run}?permanent=true"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app.delete(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app
        .post(&format!("/api/v1/runs/{run}/restore"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);

    assert_eq!(
        ids(&list_runs(&app, &format!("experiment_id={experiment}&lifecycle=all")).await),
        vec![keep.clone()]
    );
    let kept = series(&app, &keep, "train/loss").await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(steps(&kept.body), vec![0, 1]);

    // A run in the trash can be deleted for good too.
    let trashed = app.create_run(&experiment).await;
    assert_eq!(
        app.delete(&format!("/api/v1/runs/{trashed}")).await.status,
        StatusCode::NO_CONTENT
    );
    app.delete_ok(&format!("/api/v1/runs/{trashed}?permanent=true"))
        .await;
    assert_eq!(
        app.get(&format!("/api/v1/runs/{trashed}")).await.status,
        StatusCode::NOT_FOUND
    );

    let reply = app
        .delete(&format!("/api/v1/runs/{keep}?permanent=maybe"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(get_run(&app, &keep).await["deleted_at"], Value::Null);
}

async fn deleting_a_parent_run_for_good_detaches_its_children() {
    let app = TestApp::start().await;
    let (_, experiment, parent) = app.create_hierarchy().await;
    let child = create_run_with(
        &app,
        json!({ "experiment_id": experiment, "parent_run_id": parent }),
    )
    .await;
    let child = child["id"].as_str().unwrap();
    // In the trash, the parent is still the parent.
    app.delete_ok(&format!("/api/v1/runs/{parent}")).await;
    assert_eq!(get_run(&app, child).await["parent_run_id"], parent.as_str());
    app.delete_ok(&format!("/api/v1/runs/{parent}?permanent=true"))
        .await;
    assert!(get_run(&app, child).await["parent_run_id"].is_null());
}

/// Bounds from statsmodels 0.14.5 (`tests/stats/requirements.txt`):
/// `proportion_confint(x, n, alpha=0.1, method=…)` — a one-sided 95 % bound is one end of the
/// two-sided 90 % interval.
async fn safety_verdicts_judge_evaluation_counts_on_confidence_bounds() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/evaluations"),
            json!({ "name": "crisis_detection", "slice": "overall", "tp": 99, "fn": 1, "fp": 3, "tn": 897 }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let safety = app.get(&format!("/api/v1/runs/{run}/safety")).await;
    assert_eq!(safety.status, StatusCode::OK, "{}", safety.body);
    // 99 of 100 "meets" 0.99, but its lower bound does not: neither pass nor fail.
    assert_eq!(
        safety.body["verdict"], "insufficient_evidence",
        "{}",
        safety.body
    );
    let checks = safety.body["checks"].as_array().expect("checks");
    let rate = checks
        .iter()
        .find(|c| c["name"] == "crisis_detection_rate")
        .expect("rate");
    assert_eq!(
        (rate["slice"].as_str(), rate["n"].as_u64()),
        (Some("overall"), Some(100))
    );
    assert!((rate["estimate"].as_f64().unwrap() - 0.99).abs() < 1e-12);
    let close = |v: &Value, expected: f64| {
        let got = v.as_f64().unwrap_or_else(|| panic!("{v}"));
        assert!(
            ((got - expected) / expected).abs() < 1e-9,
            "{got} against statsmodels' {expected}"
        );
    };
    close(&rate["bound"], 0.9564182264659439);
    assert_eq!(rate["threshold"], 0.99);
    let fnr = checks
        .iter()
        .find(|c| c["name"] == "false_negative_rate")
        .expect("fnr");
    close(&fnr["bound"], 0.04358177353405611);
    assert_eq!(fnr["verdict"], "insufficient_evidence");

    // A weak slice fails the run (exact bounds on request).
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/evaluations"),
            json!({ "name": "crisis_detection", "slice": "age 65 and over", "tp": 80, "fn": 20 }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let safety = app
        .get(&format!("/api/v1/runs/{run}/safety?method=clopper_pearson"))
        .await;
    assert_eq!(safety.body["verdict"], "fail", "{}", safety.body);
    let slice = safety.body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["slice"] == "age 65 and over" && c["name"] == "crisis_detection_rate")
        .expect("the slice is judged")
        .clone();
    close(&slice["upper"], 0.8633386747541327);

    // From an MLflow script: the same counts as metrics of the eval/ convention.
    let metric =
        |key: &str, value: f64| json!({ "key": key, "value": value, "timestamp": 1, "step": 0 });
    let reply = app
        .post(
            "/api/2.0/mlflow/runs/log-batch",
            json!({ "run_id": run, "metrics": [
                metric("eval/response_quality/overall/successes", 950.0),
                metric("eval/response_quality/overall/trials", 1000.0),
            ] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let safety = app.get(&format!("/api/v1/runs/{run}/safety")).await;
    let quality = safety.body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "response_quality")
        .expect("the MLflow-logged counts are judged")
        .clone();
    assert_eq!(
        (quality["verdict"].as_str(), quality["n"].as_u64()),
        (Some("pass"), Some(1000))
    );

    // Bad input says what to fix.
    for (body, field) in [
        (json!({ "name": "crisis_detection" }), "tp"),
        (
            json!({ "name": "crisis/detection", "tp": 1, "fn": 0 }),
            "name",
        ),
        (
            json!({ "name": "q", "successes": 5, "trials": 4 }),
            "successes",
        ),
        (json!({ "name": "q", "successes": 5 }), "trials"),
        (
            json!({ "name": "crisis+detection", "tp": 1, "fn": 0 }),
            "name",
        ),
        (
            json!({ "name": "q", "slice": "age 65+", "tp": 1, "fn": 0 }),
            "slice",
        ),
    ] {
        let reply = app
            .post(&format!("/api/v1/runs/{run}/evaluations"), body.clone())
            .await;
        reply.assert_invalid_field(field);
    }
    let reply = app
        .get(&format!("/api/v1/runs/{run}/safety?method=bayes"))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
}
