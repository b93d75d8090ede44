mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Reply, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

common::on_both_databases!(
    health_reports_database_and_storage_up_and_unconfigured_dependencies,
    health_stays_200_when_a_configured_dependency_is_down,
    liveness_and_readiness_probes_answer,
    info_shows_the_limits_in_force_and_sibling_services,
    every_response_carries_request_id_and_process_time,
    a_request_id_sent_by_the_client_is_echoed,
    unknown_route_is_a_json_404,
    wrong_method_is_a_json_405,
    create_project_returns_201_with_the_stored_project,
    duplicate_project_name_is_409_and_creates_nothing,
    empty_or_blank_project_name_is_422_naming_the_field,
    malformed_json_is_400,
    json_without_a_json_content_type_is_refused,
    wrong_field_type_is_422_naming_the_field,
    missing_required_field_is_422,
    unknown_field_is_422_naming_it,
    get_unknown_project_is_404,
    a_fresh_server_has_the_default_project_with_mlflows_default_experiment,
    list_projects_filters_by_status_name_owner_and_tag,
    name_contains_treats_like_wildcards_literally,
    list_projects_sorts_by_name_and_creation_time,
    list_projects_pages_through_every_item_exactly_once,
    a_page_that_ends_exactly_at_the_last_item_has_no_next_token,
    bad_list_parameters_are_400,
    update_project_changes_name_description_tags_and_members,
    invalid_project_update_changes_nothing,
    update_unknown_project_is_404,
    archived_project_refuses_new_experiments_until_reactivated,
    deleting_a_project_with_experiments_needs_cascade,
    deleting_an_empty_project_needs_no_cascade,
    cascade_delete_leaves_other_projects_alone,
    project_templates_include_baseline_and_healthcare,
    project_from_healthcare_template_carries_its_defaults_to_experiments,
    unknown_project_template_is_404_and_creates_nothing,
    from_template_validates_its_body,
    project_stats_count_experiments_runs_and_metric_points,
    stats_of_unknown_project_is_404,
    create_experiment_starts_as_draft,
    an_experiment_keeps_an_artifact_location_inside_the_store,
    experiment_in_a_missing_project_is_422_on_project_id,
    get_unknown_experiment_is_404,
    experiment_names_are_unique_per_project,
    experiment_lifecycle_start_stop_resume_complete,
    completed_experiment_cannot_start_again,
    a_draft_cannot_be_stopped_or_started_twice,
    stop_only_accepts_stopped_or_completed,
    lifecycle_of_unknown_experiment_is_404,
    put_with_an_invalid_status_transition_changes_nothing,
    put_updates_fields_and_moves_the_lifecycle,
    starting_beyond_max_concurrent_experiments_is_409_not_429,
    concurrent_starts_never_exceed_max_concurrent_experiments,
    objectives_are_validated,
    search_space_is_validated,
    healthcare_rates_must_be_between_0_and_1,
    experiment_templates_are_listed,
    hyperparameter_search_template_prefills_search_space_and_objectives,
    list_experiments_filters_by_project_status_and_tag,
    list_experiments_pages_with_tokens,
    experiment_metrics_aggregate_each_runs_latest_value,
    experiment_metrics_count_nan_apart_and_never_pick_it_as_best,
    experiment_metrics_use_a_minimize_objective,
    experiment_metrics_of_an_experiment_without_runs_is_empty,
    compare_summarises_each_experiment_in_request_order,
    compare_tests_the_second_experiment_against_the_first_as_scipy_does,
    compare_restricted_to_chosen_metrics,
    compare_without_objectives_names_no_best_experiment,
    compare_rejects_bad_id_lists,
    deleting_an_experiment_deletes_its_runs,
    deleting_an_experiment_moves_it_and_its_runs_to_the_trash_until_restored,
    a_trashed_project_leaves_the_lists_refuses_writes_and_restores_what_went_with_it,
    gc_purges_experiments_and_projects_long_in_the_trash,
);

// ---------------------------------------------------------------- helpers

/// Every database holds, from its migrations, this project with MLflow's `Default` experiment
/// in it (MLflow clients expect experiment "0"). Lists that the tests do not scope with a
/// filter of their own include them.
const DEFAULT_PROJECT: &str = "default";
const DEFAULT_PROJECT_ID: &str = "00000000000000000000000000000000";
const DEFAULT_EXPERIMENT: &str = "Default";
const DEFAULT_EXPERIMENT_ID: &str = "0";

/// The `items` of a list reply.
fn items(reply: &Reply) -> &Vec<Value> {
    reply.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", reply.body))
}

/// The `name` of each item of a list reply, in order.
fn names(reply: &Reply) -> Vec<String> {
    items(reply)
        .iter()
        .map(|i| i["name"].as_str().expect("item has a name").to_owned())
        .collect()
}

/// Names of a list reply, sorted (for filters whose order does not matter).
fn sorted_names(reply: &Reply) -> Vec<String> {
    let mut names = names(reply);
    names.sort();
    names
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| (*s).to_owned()).collect()
}

/// Asserts a native error reply: status, code, and the `{"error": {code, message, details}}` shape.
fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let error = reply.body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("not an error body: {}", reply.body));
    assert_eq!(error.get("code"), Some(&json!(code)), "{}", reply.body);
    assert!(
        error
            .get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| !m.is_empty()),
        "error without a message: {}",
        reply.body
    );
    assert!(
        error.contains_key("details"),
        "error without details: {}",
        reply.body
    );
}

/// Asserts a 422 naming `field`.
fn assert_invalid(reply: &Reply, field: &str) {
    assert_error(reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert_eq!(
        reply.body["error"]["details"]["field"], field,
        "{}",
        reply.body
    );
}

fn assert_close(actual: &Value, expected: f64) {
    let value = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{actual} is not a number"));
    assert!(
        (value - expected).abs() < 1e-9,
        "expected {expected}, got {value}"
    );
}

async fn create_project_with(app: &TestApp, body: Value) -> Value {
    let reply = app.post("/api/v1/projects", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn create_experiment_with(app: &TestApp, body: Value) -> Value {
    let reply = app.post("/api/v1/experiments", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn experiment_count(app: &TestApp, project_id: &str) -> usize {
    let reply = app
        .get(&format!("/api/v1/experiments?project_id={project_id}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    items(&reply).len()
}

/// Every project, as the list returns them (newest first, in one page).
///
/// A database is never empty: its migrations create [`DEFAULT_PROJECT`], so "nothing was
/// created" is checked by comparing this list before and after, not by expecting it empty.
async fn all_projects(app: &TestApp) -> Vec<Value> {
    let reply = app.get("/api/v1/projects?page_size=1000").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["next_page_token"], Value::Null, "{}", reply.body);
    items(&reply).clone()
}

/// Every experiment, as the list returns them (newest first, in one page). Includes
/// [`DEFAULT_EXPERIMENT`].
async fn all_experiments(app: &TestApp) -> Vec<Value> {
    let reply = app.get("/api/v1/experiments?page_size=1000").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["next_page_token"], Value::Null, "{}", reply.body);
    items(&reply).clone()
}

/// Logs `metrics` (a list of `{key, value, step}`) to a run.
async fn log_metrics(app: &TestApp, run: &str, metrics: Value) {
    let count = metrics.as_array().map_or(0, Vec::len);
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/metrics"),
            json!({ "metrics": metrics }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["written"], count, "{}", reply.body);
}

/// A run whose latest `accuracy` is `latest` (an earlier step logs a different value, so
/// aggregates must use the latest one).
async fn run_with_accuracy(app: &TestApp, experiment: &str, latest: f64) -> String {
    let run = app.create_run(experiment).await;
    log_metrics(
        app,
        &run,
        json!([
            { "key": "accuracy", "value": 0.01, "step": 0 },
            { "key": "accuracy", "value": latest, "step": 1 },
        ]),
    )
    .await;
    run
}

fn assert_tracing_headers(reply: &Reply) {
    let request_id = reply
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(!request_id.is_empty(), "no x-request-id");
    let process_time = reply
        .headers
        .get("x-process-time")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("x-process-time is a number of seconds");
    assert!(process_time >= 0.0);
}

// ---------------------------------------------------------------- health and discovery

async fn health_reports_database_and_storage_up_and_unconfigured_dependencies() {
    let app = TestApp::start().await;
    let reply = app.get("/health").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "healthy");
    assert_eq!(reply.body["service"], "ets");
    assert_eq!(reply.body["database"]["status"], "up");
    assert_eq!(reply.body["database"]["error"], Value::Null);
    assert_eq!(reply.body["storage"]["status"], "up");
    let dependencies = reply.body["dependencies"].as_array().expect("array");
    let dependency_names: BTreeSet<&str> = dependencies
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        dependency_names,
        BTreeSet::from(["model_registry", "pipeline_orchestrator", "feature_store"])
    );
    for dependency in dependencies {
        assert_eq!(dependency["status"], "not_configured", "{dependency}");
        assert_eq!(dependency["url"], Value::Null);
        assert_eq!(dependency["error"], Value::Null);
    }
}

async fn health_stays_200_when_a_configured_dependency_is_down() {
    let app = TestApp::start_with(|c| {
        c.services.model_registry_url =
            Some(ets::database_url::SecretUrl::new("http://127.0.0.1:1"));
    })
    .await;
    let reply = app.get("/health").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "healthy");
    let dependencies = reply.body["dependencies"].as_array().expect("array");
    let registry = dependencies
        .iter()
        .find(|d| d["name"] == "model_registry")
        .expect("model_registry listed");
    assert_eq!(registry["status"], "down", "{registry}");
    assert_eq!(registry["url"], "http://127.0.0.1:1");
    assert!(
        registry["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{registry}"
    );
    let others: Vec<&Value> = dependencies
        .iter()
        .filter(|d| d["name"] != "model_registry")
        .collect();
    assert_eq!(others.len(), 2);
    assert!(others.iter().all(|d| d["status"] == "not_configured"));

    // Readiness only looks at our own database and storage.
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.body["status"], "ready");
}

async fn liveness_and_readiness_probes_answer() {
    let app = TestApp::start().await;
    let live = app.get("/health/live").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.body, json!({ "status": "alive" }));

    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["database"]["status"], "up");
    assert_eq!(ready.body["storage"]["status"], "up");
}

async fn info_shows_the_limits_in_force_and_sibling_services() {
    let app = TestApp::start_with(|c| {
        c.limits.max_concurrent_experiments = 7;
        c.services.feature_store_url =
            Some(ets::database_url::SecretUrl::new("http://features.invalid"));
    })
    .await;
    let reply = app.get("/info").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["service"], "ets");
    let backend = match app.database {
        common::Database::Sqlite => "sqlite",
        common::Database::Postgres => "postgresql",
    };
    assert_eq!(reply.body["storage_backend"], backend);
    assert_eq!(reply.body["api_versions"], json!(["v1"]));
    assert_eq!(reply.body["openapi_url"], "/openapi.json");
    assert_eq!(reply.body["docs_url"], "/docs");
    let limits = &reply.body["limits"];
    assert_eq!(limits["max_concurrent_experiments"], 7);
    assert_eq!(limits["db_pool_size"], 4);
    for key in [
        "max_runs_per_experiment",
        "max_metric_keys_per_run",
        "max_artifact_bytes",
        "max_request_body_bytes",
        "max_metrics_per_request",
        "max_log_lines_per_request",
        "max_log_line_bytes",
    ] {
        assert!(
            limits[key].as_u64().is_some_and(|v| v > 0),
            "{key}: {limits}"
        );
    }
    let services = reply.body["services"].as_array().expect("services");
    let feature_store = services
        .iter()
        .find(|s| s["name"] == "feature_store")
        .expect("feature_store listed");
    assert_eq!(feature_store["url"], "http://features.invalid");
    let registry = services
        .iter()
        .find(|s| s["name"] == "model_registry")
        .expect("model_registry listed");
    assert_eq!(registry["url"], Value::Null);
}

async fn every_response_carries_request_id_and_process_time() {
    let app = TestApp::start().await;
    let project = app.create_project("headers").await;
    let replies = [
        app.get("/health").await,
        app.get("/health/live").await,
        app.get("/info").await,
        app.get("/api/v1/projects").await,
        app.get(&format!("/api/v1/projects/{project}")).await,
        app.post("/api/v1/projects", json!({ "name": "" })).await,
        app.get("/api/v1/projects/does-not-exist").await,
        app.get("/no/such/route").await,
        app.delete("/health/live").await,
    ];
    for reply in &replies {
        assert_tracing_headers(reply);
    }
    // Each request gets its own id.
    let ids: BTreeSet<&str> = replies
        .iter()
        .map(|r| r.headers["x-request-id"].to_str().unwrap())
        .collect();
    assert_eq!(ids.len(), replies.len());
}

async fn a_request_id_sent_by_the_client_is_echoed() {
    let app = TestApp::start().await;
    let response = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
}

async fn unknown_route_is_a_json_404() {
    let app = TestApp::start().await;
    for path in ["/no/such/route", "/api/v1/nothing", "/api/v2/projects"] {
        let reply = app.get(path).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(reply.body["error"]["details"], Value::Null);
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
    }
}

async fn wrong_method_is_a_json_405() {
    let app = TestApp::start().await;
    let reply = app.delete("/api/v1/projects").await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let reply = app.post("/health", json!({})).await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let reply = app.put("/api/v1/experiments/compare", json!({})).await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

// ---------------------------------------------------------------- projects: create and get

async fn create_project_returns_201_with_the_stored_project() {
    let app = TestApp::start().await;
    let reply = app
        .post(
            "/api/v1/projects",
            json!({
                "name": "  churn model  ",
                "description": "predict churn",
                "owner": "alice",
                "tags": { "team": "growth" },
                "members": [{ "user": "bob", "role": "member" }],
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.id();
    assert_eq!(id.len(), 32, "{id}");
    assert_eq!(reply.body["name"], "churn model", "name is trimmed");
    assert_eq!(reply.body["description"], "predict churn");
    assert_eq!(reply.body["owner"], "alice");
    assert_eq!(reply.body["status"], "active");
    assert_eq!(reply.body["tags"], json!({ "team": "growth" }));
    assert_eq!(
        reply.body["members"],
        json!([{ "user": "bob", "role": "member" }])
    );
    assert_eq!(reply.body["template"], Value::Null);
    assert_eq!(
        reply.body["experiment_defaults"],
        json!({ "objectives": [], "healthcare": null })
    );
    assert!(reply.body["created_at"].is_string());

    let fetched = app.get(&format!("/api/v1/projects/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, reply.body);
}

async fn duplicate_project_name_is_409_and_creates_nothing() {
    let app = TestApp::start().await;
    app.create_project("dup").await;
    let before = all_projects(&app).await;
    let reply = app.post("/api/v1/projects", json!({ "name": "dup" })).await;
    assert_error(&reply, StatusCode::CONFLICT, "already_exists");
    assert_eq!(reply.body["error"]["details"]["entity"], "project");
    assert_eq!(reply.body["error"]["details"]["name"], "dup");
    // Trimming makes " dup " the same name.
    let reply = app
        .post("/api/v1/projects", json!({ "name": " dup " }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "already_exists");
    assert_eq!(all_projects(&app).await, before);
}

async fn empty_or_blank_project_name_is_422_naming_the_field() {
    let app = TestApp::start().await;
    let before = all_projects(&app).await;
    for name in ["", "   ", "\t\n"] {
        let reply = app.post("/api/v1/projects", json!({ "name": name })).await;
        assert_invalid(&reply, "name");
    }
    let too_long = "x".repeat(257);
    let reply = app
        .post("/api/v1/projects", json!({ "name": too_long }))
        .await;
    assert_invalid(&reply, "name");
    assert_eq!(all_projects(&app).await, before);
}

async fn malformed_json_is_400() {
    let app = TestApp::start().await;
    let before = all_projects(&app).await;
    for body in ["{\"name\": ", "not json", "{\"name\": \"x\"} trailing", ""] {
        let reply = app
            .post_raw("/api/v1/projects", body, "application/json")
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_eq!(all_projects(&app).await, before);
}

/// A cross-site form or `text/plain` request cannot create anything (issue 11): a JSON body
/// must say so (the full matrix is in `tests/security_http.rs`).
async fn json_without_a_json_content_type_is_refused() {
    let app = TestApp::start().await;
    let before = all_projects(&app).await;
    let reply = app
        .post_raw(
            "/api/v1/projects",
            r#"{"name": "curl-style"}"#,
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    assert!(
        reply.error_message().contains("application/json"),
        "{}",
        reply.body
    );
    assert_eq!(all_projects(&app).await, before);
}

async fn wrong_field_type_is_422_naming_the_field() {
    let app = TestApp::start().await;
    let before = all_projects(&app).await;
    let reply = app.post("/api/v1/projects", json!({ "name": 5 })).await;
    assert_invalid(&reply, "name");
    let reply = app
        .post(
            "/api/v1/projects",
            json!({ "name": "p", "members": [{ "user": "u", "role": "emperor" }] }),
        )
        .await;
    assert_invalid(&reply, "members[0].role");
    let reply = app
        .post(
            "/api/v1/projects",
            json!({ "name": "p", "tags": { "k": 1 } }),
        )
        .await;
    assert_invalid(&reply, "tags.k");
    assert_eq!(all_projects(&app).await, before);
}

async fn missing_required_field_is_422() {
    let app = TestApp::start().await;
    let reply = app
        .post("/api/v1/projects", json!({ "description": "no name" }))
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(reply.error_message().contains("name"), "{}", reply.body);
}

async fn unknown_field_is_422_naming_it() {
    let app = TestApp::start().await;
    let before = all_projects(&app).await;
    let reply = app
        .post("/api/v1/projects", json!({ "name": "p", "nmae": "typo" }))
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(
        reply.error_message().contains("nmae"),
        "message should name the unknown field: {}",
        reply.body
    );
    assert_eq!(all_projects(&app).await, before);
}

async fn get_unknown_project_is_404() {
    let app = TestApp::start().await;
    let reply = app.get("/api/v1/projects/0000nope").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(reply.body["error"]["details"]["entity"], "project");
    assert_eq!(reply.body["error"]["details"]["id"], "0000nope");
}

// ---------------------------------------------------------------- built-in project and experiment

async fn a_fresh_server_has_the_default_project_with_mlflows_default_experiment() {
    let app = TestApp::start().await;

    let projects = app.get("/api/v1/projects").await;
    assert_eq!(projects.status, StatusCode::OK, "{}", projects.body);
    assert_eq!(names(&projects), strings(&[DEFAULT_PROJECT]));
    assert_eq!(projects.body["next_page_token"], Value::Null);
    let project = &items(&projects)[0];
    assert_eq!(project["id"], DEFAULT_PROJECT_ID, "{project}");
    assert_eq!(project["status"], "active", "{project}");
    let fetched = app
        .get(&format!("/api/v1/projects/{DEFAULT_PROJECT_ID}"))
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.body);
    assert_eq!(&fetched.body, project);

    // It holds MLflow's `Default` experiment, id "0", and nothing else exists yet.
    let experiments = app
        .get(&format!(
            "/api/v1/experiments?project_id={DEFAULT_PROJECT_ID}"
        ))
        .await;
    assert_eq!(experiments.status, StatusCode::OK, "{}", experiments.body);
    assert_eq!(names(&experiments), strings(&[DEFAULT_EXPERIMENT]));
    let experiment = &items(&experiments)[0];
    assert_eq!(experiment["id"], DEFAULT_EXPERIMENT_ID, "{experiment}");
    assert_eq!(experiment["project_id"], DEFAULT_PROJECT_ID, "{experiment}");
    assert_eq!(all_experiments(&app).await, vec![experiment.clone()]);

    let fetched = app
        .get(&format!("/api/v1/experiments/{DEFAULT_EXPERIMENT_ID}"))
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.body);
    assert_eq!(&fetched.body, experiment);
    assert_eq!(fetched.body["name"], DEFAULT_EXPERIMENT);
}

// ---------------------------------------------------------------- projects: list

async fn list_projects_filters_by_status_name_owner_and_tag() {
    let app = TestApp::start().await;
    create_project_with(
        &app,
        json!({ "name": "vision-a", "owner": "alice", "tags": { "team": "vision", "tier": "gold" } }),
    )
    .await;
    let vision_b = create_project_with(
        &app,
        json!({ "name": "vision-b", "owner": "bob", "tags": { "team": "vision" } }),
    )
    .await;
    create_project_with(
        &app,
        json!({ "name": "nlp-core", "owner": "alice", "tags": { "team": "nlp" } }),
    )
    .await;
    let archive = app
        .put(
            &format!("/api/v1/projects/{}", vision_b["id"].as_str().unwrap()),
            json!({ "status": "archived" }),
        )
        .await;
    assert_eq!(archive.status, StatusCode::OK, "{}", archive.body);

    // The built-in `default` project is active and has no owner or tags.
    let cases: &[(&str, &[&str])] = &[
        ("", &[DEFAULT_PROJECT, "nlp-core", "vision-a", "vision-b"]),
        ("status=active", &[DEFAULT_PROJECT, "nlp-core", "vision-a"]),
        ("status=archived", &["vision-b"]),
        ("status=ARCHIVED", &["vision-b"]),
        ("name=nlp-core", &["nlp-core"]),
        ("name=nlp", &[]),
        ("name_contains=VISION", &["vision-a", "vision-b"]),
        ("name_contains=-", &["nlp-core", "vision-a", "vision-b"]),
        ("owner=alice", &["nlp-core", "vision-a"]),
        ("owner=carol", &[]),
        ("tag=tier", &["vision-a"]),
        ("tag=team", &["nlp-core", "vision-a", "vision-b"]),
        ("tag=team:vision", &["vision-a", "vision-b"]),
        ("tag=team:nlp", &["nlp-core"]),
        ("tag=team:other", &[]),
        ("owner=alice&tag=team:vision", &["vision-a"]),
        ("status=active&name_contains=vision", &["vision-a"]),
    ];
    for (query, expected) in cases {
        let reply = app.get(&format!("/api/v1/projects?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        assert_eq!(sorted_names(&reply), strings(expected), "{query}");
        assert_eq!(reply.body["next_page_token"], Value::Null, "{query}");
    }

    let reply = app.get("/api/v1/projects?status=deleted").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
}

async fn name_contains_treats_like_wildcards_literally() {
    let app = TestApp::start().await;
    app.create_project("a_b").await;
    app.create_project("axb").await;
    app.create_project("50%").await;
    app.create_project("500").await;
    let reply = app.get("/api/v1/projects?name_contains=_").await;
    assert_eq!(names(&reply), strings(&["a_b"]));
    let reply = app.get("/api/v1/projects?name_contains=%25").await;
    assert_eq!(names(&reply), strings(&["50%"]));
}

async fn list_projects_sorts_by_name_and_creation_time() {
    let app = TestApp::start().await;
    // The built-in `default` project was created when the server started, before these.
    for name in ["charlie", "alpha", "bravo"] {
        tokio::time::sleep(Duration::from_millis(5)).await;
        app.create_project(name).await;
    }
    let cases: &[(&str, &[&str])] = &[
        ("sort=name", &["alpha", "bravo", "charlie", DEFAULT_PROJECT]),
        (
            "sort=-name",
            &[DEFAULT_PROJECT, "charlie", "bravo", "alpha"],
        ),
        (
            "sort=created_at",
            &[DEFAULT_PROJECT, "charlie", "alpha", "bravo"],
        ),
        (
            "sort=-created_at",
            &["bravo", "alpha", "charlie", DEFAULT_PROJECT],
        ),
        // The default is newest first.
        ("", &["bravo", "alpha", "charlie", DEFAULT_PROJECT]),
    ];
    for (query, expected) in cases {
        let reply = app.get(&format!("/api/v1/projects?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        assert_eq!(names(&reply), strings(expected), "{query}");
    }
}

async fn list_projects_pages_through_every_item_exactly_once() {
    let app = TestApp::start().await;
    for i in 0..7 {
        app.create_project(&format!("proj-{i}")).await;
    }
    // Scoped to this test's projects (the built-in `default` one is left out), so the list
    // holds exactly the seven of them.
    let scope = "name_contains=proj-";
    for sort in ["name", "-name", "created_at", "-created_at", "updated_at"] {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut page_sizes = Vec::new();
        loop {
            let mut path = format!("/api/v1/projects?{scope}&page_size=3&sort={sort}");
            if let Some(token) = &token {
                path.push_str(&format!("&page_token={token}"));
            }
            let reply = app.get(&path).await;
            assert_eq!(reply.status, StatusCode::OK, "{sort}: {}", reply.body);
            page_sizes.push(items(&reply).len());
            seen.extend(names(&reply));
            match reply.body["next_page_token"].as_str() {
                Some(next) => token = Some(next.to_owned()),
                None => {
                    assert_eq!(reply.body["next_page_token"], Value::Null);
                    break;
                }
            }
            assert!(page_sizes.len() < 10, "paging does not end");
        }
        assert_eq!(page_sizes, vec![3, 3, 1], "{sort}");
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), 7, "{sort}: duplicates in {seen:?}");
        // Pages concatenate to the unpaged list.
        let all = app
            .get(&format!(
                "/api/v1/projects?{scope}&sort={sort}&page_size=100"
            ))
            .await;
        assert_eq!(seen, names(&all), "{sort}");
        assert_eq!(all.body["next_page_token"], Value::Null, "{sort}");
    }
    let by_name = app
        .get(&format!("/api/v1/projects?{scope}&sort=name&page_size=3"))
        .await;
    assert_eq!(names(&by_name), strings(&["proj-0", "proj-1", "proj-2"]));
}

async fn a_page_that_ends_exactly_at_the_last_item_has_no_next_token() {
    let app = TestApp::start().await;
    let built_in = all_projects(&app).await.len();
    for i in 0..3 {
        app.create_project(&format!("p{i}")).await;
    }
    // A page exactly as large as the whole list: the three new projects plus those the
    // database started with.
    let total = built_in + 3;
    let reply = app
        .get(&format!("/api/v1/projects?page_size={total}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(items(&reply).len(), total);
    assert_eq!(reply.body["next_page_token"], Value::Null);
}

async fn bad_list_parameters_are_400() {
    let app = TestApp::start().await;
    for i in 0..2 {
        app.create_project(&format!("p{i}")).await;
    }
    // By name, the built-in `default` project comes first, then p0 and p1.
    let first = app.get("/api/v1/projects?sort=name&page_size=1").await;
    assert_eq!(names(&first), strings(&[DEFAULT_PROJECT]));
    let name_token = first.body["next_page_token"]
        .as_str()
        .expect("a next page")
        .to_owned();
    for query in [
        "sort=size".to_owned(),
        "sort=-".to_owned(),
        "page_token=garbage".to_owned(),
        "page_token=eyJub3QiOiJhIGN1cnNvciJ9".to_owned(),
        // A token issued for another sort field, or the same field in the other direction.
        format!("sort=created_at&page_token={name_token}"),
        format!("sort=-name&page_token={name_token}"),
        "page_size=0".to_owned(),
        "page_size=1001".to_owned(),
        "page_size=-1".to_owned(),
        "page_size=ten".to_owned(),
    ] {
        let reply = app.get(&format!("/api/v1/projects?{query}")).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
    let max = app.get("/api/v1/projects?page_size=1000").await;
    assert_eq!(max.status, StatusCode::OK, "{}", max.body);
    assert_eq!(sorted_names(&max), strings(&[DEFAULT_PROJECT, "p0", "p1"]));
    let with_token = app
        .get(&format!(
            "/api/v1/projects?sort=name&page_size=1&page_token={name_token}"
        ))
        .await;
    assert_eq!(with_token.status, StatusCode::OK, "{}", with_token.body);
    assert_eq!(names(&with_token), strings(&["p0"]));
}

// ---------------------------------------------------------------- projects: update

async fn update_project_changes_name_description_tags_and_members() {
    let app = TestApp::start().await;
    let project = create_project_with(
        &app,
        json!({ "name": "before", "tags": { "team": "ml", "stage": "dev" } }),
    )
    .await;
    let id = project["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reply = app
        .put(
            &format!("/api/v1/projects/{id}"),
            json!({
                "name": "after",
                "description": "now described",
                "owner": "dana",
                "tags": { "stage": "prod", "team": null, "new": "x" },
                "members": [
                    { "user": "alice", "role": "admin" },
                    { "user": "bob", "role": "viewer" },
                ],
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["name"], "after");
    assert_eq!(reply.body["description"], "now described");
    assert_eq!(reply.body["owner"], "dana");
    assert_eq!(reply.body["tags"], json!({ "stage": "prod", "new": "x" }));
    assert_eq!(
        reply.body["members"],
        json!([{ "user": "alice", "role": "admin" }, { "user": "bob", "role": "viewer" }])
    );
    assert_eq!(reply.body["created_at"], project["created_at"]);
    assert!(
        reply.body["updated_at"].as_str() > project["updated_at"].as_str(),
        "updated_at moves forward"
    );
    let fetched = app.get(&format!("/api/v1/projects/{id}")).await;
    assert_eq!(fetched.body, reply.body);

    // Absent fields stay as they are; an empty member list clears the members.
    let reply = app
        .put(&format!("/api/v1/projects/{id}"), json!({ "members": [] }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["members"], json!([]));
    assert_eq!(reply.body["name"], "after");
    assert_eq!(reply.body["tags"], json!({ "stage": "prod", "new": "x" }));
}

async fn invalid_project_update_changes_nothing() {
    let app = TestApp::start().await;
    let id = app.create_project("keep").await;
    app.create_project("taken").await;
    let before = app.get(&format!("/api/v1/projects/{id}")).await.body;

    let reply = app
        .put(
            &format!("/api/v1/projects/{id}"),
            json!({ "name": "other", "members": [{ "user": "carol", "role": "superuser" }] }),
        )
        .await;
    assert_invalid(&reply, "members[0].role");

    let reply = app
        .put(
            &format!("/api/v1/projects/{id}"),
            json!({ "name": "other", "members": [{ "user": " ", "role": "admin" }] }),
        )
        .await;
    assert_invalid(&reply, "members[0].user");

    let reply = app
        .put(
            &format!("/api/v1/projects/{id}"),
            json!({ "description": "x", "name": "  " }),
        )
        .await;
    assert_invalid(&reply, "name");

    let reply = app
        .put(
            &format!("/api/v1/projects/{id}"),
            json!({ "description": "x", "name": "taken" }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "already_exists");

    let reply = app
        .put(
            &format!("/api/v1/projects/{id}"),
            json!({ "description": "x", "status": "deleted" }),
        )
        .await;
    assert_invalid(&reply, "status");

    let reply = app
        .put(
            &format!("/api/v1/projects/{id}"),
            json!({ "experiment_defaults": { "healthcare": { "min_crisis_detection_rate": 2.0 } } }),
        )
        .await;
    assert_invalid(
        &reply,
        "experiment_defaults.healthcare.min_crisis_detection_rate",
    );

    let after = app.get(&format!("/api/v1/projects/{id}")).await.body;
    assert_eq!(after, before);
}

async fn update_unknown_project_is_404() {
    let app = TestApp::start().await;
    let reply = app
        .put("/api/v1/projects/nope", json!({ "description": "x" }))
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
}

async fn archived_project_refuses_new_experiments_until_reactivated() {
    let app = TestApp::start().await;
    let id = app.create_project("archive-me").await;
    let reply = app
        .put(
            &format!("/api/v1/projects/{id}"),
            json!({ "status": "archived" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "archived");

    let reply = app
        .post(
            "/api/v1/experiments",
            json!({ "project_id": id, "name": "late" }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    assert!(reply.error_message().contains("archived"), "{}", reply.body);
    assert_eq!(experiment_count(&app, &id).await, 0);

    let reply = app
        .put(
            &format!("/api/v1/projects/{id}"),
            json!({ "status": "active" }),
        )
        .await;
    assert_eq!(reply.body["status"], "active");
    app.create_experiment(&id, "late").await;
    assert_eq!(experiment_count(&app, &id).await, 1);
}

// ---------------------------------------------------------------- projects: delete

async fn deleting_a_project_with_experiments_needs_cascade() {
    let app = TestApp::start().await;
    let projects_before = all_projects(&app).await;
    let (project, experiment, run) = app.create_hierarchy().await;
    log_metrics(
        &app,
        &run,
        json!([{ "key": "loss", "value": 0.5, "step": 0 }]),
    )
    .await;

    for query in ["", "?cascade=false", "?permanent=true"] {
        let reply = app
            .delete(&format!("/api/v1/projects/{project}{query}"))
            .await;
        assert_error(&reply, StatusCode::CONFLICT, "conflict");
        assert!(reply.error_message().contains("cascade"), "{}", reply.body);
    }
    for path in [
        format!("/api/v1/projects/{project}"),
        format!("/api/v1/experiments/{experiment}"),
        format!("/api/v1/runs/{run}"),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(reply.body["deleted_at"].is_null(), "{}", reply.body);
    }

    // With cascade, to the trash: everything stays readable, marked deleted.
    app.delete_ok(&format!("/api/v1/projects/{project}?cascade=true"))
        .await;
    for path in [
        format!("/api/v1/projects/{project}"),
        format!("/api/v1/experiments/{experiment}"),
        format!("/api/v1/runs/{run}"),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(reply.body["deleted_at"].is_string(), "{}", reply.body);
    }
    assert_eq!(all_projects(&app).await, projects_before);

    // For good: the trashed experiments count too, so cascade is still needed.
    let reply = app
        .delete(&format!("/api/v1/projects/{project}?permanent=true"))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    app.delete_ok(&format!(
        "/api/v1/projects/{project}?permanent=true&cascade=true"
    ))
    .await;
    for path in [
        format!("/api/v1/projects/{project}"),
        format!("/api/v1/experiments/{experiment}"),
        format!("/api/v1/runs/{run}"),
        format!("/api/v1/runs/{run}/metrics"),
        format!("/api/v1/projects/{project}/stats"),
    ] {
        assert_error(&app.get(&path).await, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(all_projects(&app).await, projects_before);
    let runs = app
        .get(&format!("/api/v1/runs?project_id={project}&lifecycle=all"))
        .await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.body);
    assert!(items(&runs).is_empty(), "{}", runs.body);

    let again = app.delete(&format!("/api/v1/projects/{project}")).await;
    assert_error(&again, StatusCode::NOT_FOUND, "not_found");
}

async fn deleting_an_empty_project_needs_no_cascade() {
    let app = TestApp::start().await;
    let id = app.create_project("empty").await;
    app.delete_ok(&format!("/api/v1/projects/{id}")).await;
    let trashed = app.get(&format!("/api/v1/projects/{id}")).await;
    assert!(trashed.body["deleted_at"].is_string(), "{}", trashed.body);
    // In the trash it keeps its name (as MLflow's deleted experiments do).
    let reply = app
        .post("/api/v1/projects", json!({ "name": "empty" }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "already_exists");

    app.delete_ok(&format!("/api/v1/projects/{id}?permanent=true"))
        .await;
    assert_error(
        &app.get(&format!("/api/v1/projects/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // The name can be used again.
    app.create_project("empty").await;
}

async fn cascade_delete_leaves_other_projects_alone() {
    let app = TestApp::start().await;
    let (doomed, _, _) = app.create_hierarchy().await;
    let (kept, kept_experiment, kept_run) = app.create_hierarchy().await;
    for query in ["cascade=true", "cascade=true&permanent=true"] {
        let reply = app
            .delete(&format!("/api/v1/projects/{doomed}?{query}"))
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        for path in [
            format!("/api/v1/projects/{kept}"),
            format!("/api/v1/experiments/{kept_experiment}"),
            format!("/api/v1/runs/{kept_run}"),
        ] {
            let reply = app.get(&path).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            assert!(reply.body["deleted_at"].is_null(), "{}", reply.body);
        }
    }
}

async fn a_trashed_project_leaves_the_lists_refuses_writes_and_restores_what_went_with_it() {
    let app = TestApp::start().await;
    let (project, experiment, run) = app.create_hierarchy().await;
    // Trashed on its own before the project: stays in the trash when the project comes back.
    let earlier = app.create_experiment(&project, "earlier").await;
    app.delete_ok(&format!("/api/v1/experiments/{earlier}"))
        .await;
    let trashed_run = app.create_run(&experiment).await;
    app.delete_ok(&format!("/api/v1/runs/{trashed_run}")).await;
    tokio::time::sleep(Duration::from_millis(5)).await;

    app.delete_ok(&format!("/api/v1/projects/{project}?cascade=true"))
        .await;
    let deleted_at =
        app.get(&format!("/api/v1/projects/{project}")).await.body["deleted_at"].clone();
    assert!(deleted_at.is_string(), "{deleted_at}");

    // Lists hide it unless asked for.
    let ids = |reply: &Reply| -> Vec<String> {
        items(reply)
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!ids(&app.get("/api/v1/projects?page_size=1000").await).contains(&project));
    assert_eq!(
        ids(&app.get("/api/v1/projects?lifecycle=deleted").await),
        [project.as_str()]
    );
    assert!(
        ids(&app
            .get("/api/v1/projects?lifecycle=all&page_size=1000")
            .await)
        .contains(&project)
    );
    assert!(
        items(
            &app.get(&format!("/api/v1/experiments?project_id={project}"))
                .await
        )
        .is_empty()
    );
    assert!(items(&app.get(&format!("/api/v1/runs?project_id={project}")).await).is_empty());

    // Writes into it, its experiments and its runs are refused.
    let reply = app
        .post(
            "/api/v1/experiments",
            json!({ "project_id": project, "name": "new" }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    assert!(reply.error_message().contains("deleted"), "{}", reply.body);
    let reply = app
        .put(
            &format!("/api/v1/projects/{project}"),
            json!({ "description": "x" }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    let reply = app
        .put(
            &format!("/api/v1/experiments/{experiment}"),
            json!({ "description": "x" }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    let reply = app
        .post("/api/v1/runs", json!({ "experiment_id": experiment }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/metrics"),
            json!({ "metrics": [{ "key": "loss", "value": 1.0, "step": 0 }] }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    // An experiment does not leave the trash without its project.
    let reply = app
        .post(
            &format!("/api/v1/experiments/{experiment}/restore"),
            json!({}),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");

    // Deleting it again changes nothing (the first deletion time stays).
    app.delete_ok(&format!("/api/v1/projects/{project}?cascade=true"))
        .await;
    assert_eq!(
        app.get(&format!("/api/v1/projects/{project}")).await.body["deleted_at"],
        deleted_at
    );

    let reply = app
        .post(&format!("/api/v1/projects/{project}/restore"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["deleted_at"].is_null(), "{}", reply.body);
    for (path, trashed) in [
        (format!("/api/v1/experiments/{experiment}"), false),
        (format!("/api/v1/runs/{run}"), false),
        (format!("/api/v1/experiments/{earlier}"), true),
        (format!("/api/v1/runs/{trashed_run}"), true),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(
            reply.body["deleted_at"].is_string(),
            trashed,
            "{path}: {}",
            reply.body
        );
    }
    app.create_run(&experiment).await;
    let reply = app
        .post(&format!("/api/v1/projects/{project}/restore"), json!({}))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
}

// ---------------------------------------------------------------- projects: templates

async fn project_templates_include_baseline_and_healthcare() {
    let app = TestApp::start().await;
    let reply = app.get("/api/v1/projects/templates").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let template_names: BTreeSet<String> = names(&reply).into_iter().collect();
    assert!(template_names.contains("baseline"), "{template_names:?}");
    assert!(template_names.contains("healthcare"), "{template_names:?}");
    let healthcare = items(&reply)
        .iter()
        .find(|t| t["name"] == "healthcare")
        .unwrap();
    assert_eq!(
        healthcare["experiment_defaults"]["healthcare"]["min_crisis_detection_rate"],
        0.99
    );
}

async fn project_from_healthcare_template_carries_its_defaults_to_experiments() {
    let app = TestApp::start().await;
    let reply = app
        .post(
            "/api/v1/projects/from-template/healthcare",
            json!({ "name": "clinic", "owner": "dr-who", "tags": { "site": "north" } }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let project = reply.body.clone();
    let project_id = reply.id();
    assert_eq!(project["name"], "clinic");
    assert_eq!(project["owner"], "dr-who");
    assert_eq!(project["template"], "healthcare");
    assert_eq!(project["tags"]["site"], "north");
    assert_eq!(project["tags"]["domain"], "healthcare");
    assert!(
        project["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let defaults = &project["experiment_defaults"];
    let healthcare = &defaults["healthcare"];
    assert_eq!(healthcare["min_crisis_detection_rate"], 0.99);
    assert_eq!(healthcare["max_false_negative_rate"], 0.01);
    assert_eq!(healthcare["min_response_quality"], 0.8);
    assert_eq!(healthcare["require_medical_disclaimer"], true);
    let objectives = defaults["objectives"].as_array().expect("objectives");
    let crisis = objectives
        .iter()
        .find(|o| o["metric"] == "crisis_detection_rate")
        .expect("crisis objective");
    assert_eq!(crisis["direction"], "maximize");
    assert_eq!(crisis["target"], 0.99);
    assert_eq!(crisis["required"], true);
    assert!(objectives.iter().any(|o| o["metric"] == "accuracy"));

    // A new experiment inherits the project's objectives and healthcare configuration.
    let experiment = create_experiment_with(
        &app,
        json!({ "project_id": project_id, "name": "triage-v1" }),
    )
    .await;
    assert_eq!(experiment["objectives"], defaults["objectives"]);
    assert_eq!(experiment["healthcare"], defaults["healthcare"]);

    // Explicit objectives win; healthcare is still inherited.
    let experiment = create_experiment_with(
        &app,
        json!({
            "project_id": project_id,
            "name": "triage-v2",
            "objectives": [{ "metric": "f1", "direction": "maximize" }],
        }),
    )
    .await;
    assert_eq!(
        experiment["objectives"],
        json!([{ "metric": "f1", "direction": "maximize", "target": null, "required": false }])
    );
    assert_eq!(experiment["healthcare"], defaults["healthcare"]);
}

async fn unknown_project_template_is_404_and_creates_nothing() {
    let app = TestApp::start().await;
    let before = all_projects(&app).await;
    let reply = app
        .post(
            "/api/v1/projects/from-template/quantum",
            json!({ "name": "q" }),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(all_projects(&app).await, before);
}

async fn from_template_validates_its_body() {
    let app = TestApp::start().await;
    let before = all_projects(&app).await;
    let reply = app
        .post(
            "/api/v1/projects/from-template/baseline",
            json!({ "name": " " }),
        )
        .await;
    assert_invalid(&reply, "name");
    let reply = app
        .post(
            "/api/v1/projects/from-template/baseline",
            json!({ "name": "x", "experiment_defaults": {} }),
        )
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert_eq!(all_projects(&app).await, before);

    app.create_project("taken").await;
    let before = all_projects(&app).await;
    let reply = app
        .post(
            "/api/v1/projects/from-template/baseline",
            json!({ "name": "taken" }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "already_exists");
    assert_eq!(all_projects(&app).await, before);
}

// ---------------------------------------------------------------- projects: stats

async fn project_stats_count_experiments_runs_and_metric_points() {
    let app = TestApp::start().await;
    let project = app.create_project("stats").await;
    let empty = app.get(&format!("/api/v1/projects/{project}/stats")).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body["project_id"], project.as_str());
    assert_eq!(
        empty.body["experiments"],
        json!({ "total": 0, "by_status": {} })
    );
    assert_eq!(empty.body["runs"], json!({ "total": 0, "by_status": {} }));
    assert_eq!(empty.body["metric_points"], 0);
    assert_eq!(empty.body["metric_series"], 0);

    let running = app.create_experiment(&project, "running").await;
    let _draft = app.create_experiment(&project, "draft").await;
    let started = app
        .post(&format!("/api/v1/experiments/{running}/start"), json!({}))
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let run_a = app.create_run(&running).await;
    let run_b = app.create_run(&running).await;
    let run_c = app.create_run(&running).await;
    let finished = app
        .post(&format!("/api/v1/runs/{run_c}/finish"), json!({}))
        .await;
    assert_eq!(finished.status, StatusCode::OK, "{}", finished.body);

    let before_metrics = app.get(&format!("/api/v1/projects/{project}/stats")).await;
    let activity_before = before_metrics.body["last_activity"]
        .as_str()
        .expect("last_activity")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(20)).await;

    log_metrics(
        &app,
        &run_a,
        json!([
            { "key": "loss", "value": 0.9, "step": 0 },
            { "key": "loss", "value": 0.5, "step": 1 },
            { "key": "loss", "value": 0.3, "step": 2 },
            { "key": "accuracy", "value": 0.6, "step": 2 },
        ]),
    )
    .await;
    log_metrics(
        &app,
        &run_b,
        json!([{ "key": "loss", "value": 0.7, "step": 0 }]),
    )
    .await;

    let stats = app.get(&format!("/api/v1/projects/{project}/stats")).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(
        stats.body["experiments"],
        json!({ "total": 2, "by_status": { "draft": 1, "running": 1 } })
    );
    assert_eq!(
        stats.body["runs"],
        json!({ "total": 3, "by_status": { "running": 2, "finished": 1 } })
    );
    assert_eq!(stats.body["metric_points"], 5);
    assert_eq!(stats.body["metric_series"], 3);
    assert_eq!(stats.body["artifacts"], 0);
    let activity_after = stats.body["last_activity"].as_str().expect("last_activity");
    assert!(
        activity_after > activity_before.as_str(),
        "logging metrics is activity: {activity_before} → {activity_after}"
    );

    // Re-sending the same points is idempotent and does not inflate the counts.
    let retry = app
        .post(
            &format!("/api/v1/runs/{run_b}/metrics"),
            json!({ "metrics": [{ "key": "loss", "value": 0.7, "step": 0, "timestamp": 1000 }] }),
        )
        .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    let retry_again = app
        .post(
            &format!("/api/v1/runs/{run_b}/metrics"),
            json!({ "metrics": [{ "key": "loss", "value": 0.7, "step": 0, "timestamp": 1000 }] }),
        )
        .await;
    assert_eq!(retry_again.body["written"], 0, "{}", retry_again.body);
    assert_eq!(retry_again.body["duplicates"], 1, "{}", retry_again.body);
    let stats = app.get(&format!("/api/v1/projects/{project}/stats")).await;
    assert_eq!(stats.body["metric_points"], 6);
}

async fn stats_of_unknown_project_is_404() {
    let app = TestApp::start().await;
    let reply = app.get("/api/v1/projects/nope/stats").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
}

// ---------------------------------------------------------------- experiments: create

/// `artifact_location` is set once, at creation, and only inside ETS's artifact store.
async fn an_experiment_keeps_an_artifact_location_inside_the_store() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let create = |name: &str, location: &str| {
        app.post(
            "/api/v1/experiments",
            json!({ "project_id": project, "name": name, "artifact_location": location }),
        )
    };
    let reply = create("kept", "mlflow-artifacts:/team/vision").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let fetched = app
        .get(&format!("/api/v1/experiments/{}", reply.id()))
        .await;
    assert_eq!(
        fetched.body["artifact_location"],
        "mlflow-artifacts:/team/vision"
    );
    let root = app
        .server
        .services
        .artifact_root(&reply.id())
        .await
        .expect("root");
    assert_eq!(root, "team/vision");

    // Without one: the default, which the body does not show.
    let plain = app
        .post(
            "/api/v1/experiments",
            json!({ "project_id": project, "name": "plain" }),
        )
        .await;
    assert!(
        plain.body.get("artifact_location").is_none(),
        "{}",
        plain.body
    );

    for (location, says) in [
        (
            "s3://someone-elses-bucket/x",
            "outside ETS's artifact store",
        ),
        ("/somewhere/else", "outside ETS's artifact store"),
        ("runs:/abc/model", "runs:/"),
        ("mlflow-artifacts:/team/../../escape", "artifact_location"),
        ("mlflow-artifacts:/x#frag", "fragments"),
    ] {
        let reply = create("refused", location).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{location}: {}",
            reply.body
        );
        assert!(
            reply.body.to_string().contains(says),
            "{location}: {}",
            reply.body
        );
    }
    let long = format!("mlflow-artifacts:/{}", "a".repeat(2100));
    assert_eq!(
        create("refused", &long).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn create_experiment_starts_as_draft() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let reply = app
        .post(
            "/api/v1/experiments",
            json!({
                "project_id": project,
                "name": "resnet-sweep",
                "description": "d",
                "tags": { "arch": "resnet" },
                "links": { "model_registry_id": "model-7" },
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["status"], "draft");
    assert_eq!(body["project_id"], project.as_str());
    assert_eq!(body["name"], "resnet-sweep");
    assert_eq!(body["tags"], json!({ "arch": "resnet" }));
    assert_eq!(body["links"]["model_registry_id"], "model-7");
    assert_eq!(body["objectives"], json!([]));
    assert_eq!(body["search_space"], json!({}));
    assert_eq!(body["healthcare"], Value::Null);
    assert_eq!(body["started_at"], Value::Null);
    assert_eq!(body["ended_at"], Value::Null);

    let fetched = app
        .get(&format!("/api/v1/experiments/{}", reply.id()))
        .await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, reply.body);
}

async fn experiment_in_a_missing_project_is_422_on_project_id() {
    let app = TestApp::start().await;
    let before = all_experiments(&app).await;
    let reply = app
        .post(
            "/api/v1/experiments",
            json!({ "project_id": "no-such-project", "name": "e" }),
        )
        .await;
    assert_invalid(&reply, "project_id");
    assert_eq!(all_experiments(&app).await, before);
}

async fn get_unknown_experiment_is_404() {
    let app = TestApp::start().await;
    let reply = app.get("/api/v1/experiments/nope").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(reply.body["error"]["details"]["entity"], "experiment");
}

async fn experiment_names_are_unique_per_project() {
    let app = TestApp::start().await;
    let first = app.create_project("first").await;
    let second = app.create_project("second").await;
    app.create_experiment(&first, "baseline").await;
    let reply = app
        .post(
            "/api/v1/experiments",
            json!({ "project_id": first, "name": "baseline" }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "already_exists");
    assert_eq!(reply.body["error"]["details"]["entity"], "experiment");
    assert_eq!(experiment_count(&app, &first).await, 1);
    app.create_experiment(&second, "baseline").await;
    assert_eq!(experiment_count(&app, &second).await, 1);

    // Renaming onto a taken name is refused too.
    let other = app.create_experiment(&first, "other").await;
    let reply = app
        .put(
            &format!("/api/v1/experiments/{other}"),
            json!({ "name": "baseline" }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "already_exists");
    let fetched = app.get(&format!("/api/v1/experiments/{other}")).await;
    assert_eq!(fetched.body["name"], "other");
}

// ---------------------------------------------------------------- experiments: lifecycle

async fn experiment_lifecycle_start_stop_resume_complete() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let id = app.create_experiment(&project, "life").await;

    // No body at all (as `curl -X POST` sends it).
    let started = app
        .send(
            app.client
                .post(app.url(&format!("/api/v1/experiments/{id}/start"))),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.body["status"], "running");
    let started_at = started.body["started_at"].clone();
    assert!(started_at.is_string(), "{}", started.body);
    assert_eq!(started.body["ended_at"], Value::Null);

    // Stop with no body defaults to `stopped`.
    let stopped = app
        .send(
            app.client
                .post(app.url(&format!("/api/v1/experiments/{id}/stop"))),
        )
        .await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    assert_eq!(stopped.body["status"], "stopped");
    assert!(stopped.body["ended_at"].is_string());

    let resumed = app
        .post(&format!("/api/v1/experiments/{id}/start"), json!({}))
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_eq!(resumed.body["status"], "running");
    assert_eq!(
        resumed.body["started_at"], started_at,
        "resuming keeps the first start time"
    );
    assert_eq!(resumed.body["ended_at"], Value::Null);

    let completed = app
        .post(
            &format!("/api/v1/experiments/{id}/stop"),
            json!({ "status": "completed" }),
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    assert_eq!(completed.body["status"], "completed");
    assert!(completed.body["ended_at"].is_string());

    let fetched = app.get(&format!("/api/v1/experiments/{id}")).await;
    assert_eq!(fetched.body, completed.body);
}

async fn completed_experiment_cannot_start_again() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let id = app.create_experiment(&project, "done").await;
    app.post(&format!("/api/v1/experiments/{id}/start"), json!({}))
        .await;
    let completed = app
        .post(
            &format!("/api/v1/experiments/{id}/stop"),
            json!({ "status": "completed" }),
        )
        .await;
    assert_eq!(completed.body["status"], "completed");

    let reply = app
        .post(&format!("/api/v1/experiments/{id}/start"), json!({}))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    let reply = app
        .post(&format!("/api/v1/experiments/{id}/stop"), json!({}))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    let fetched = app.get(&format!("/api/v1/experiments/{id}")).await;
    assert_eq!(fetched.body, completed.body);
}

async fn a_draft_cannot_be_stopped_or_started_twice() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let id = app.create_experiment(&project, "draft").await;
    let before = app.get(&format!("/api/v1/experiments/{id}")).await.body;
    for status in [Value::Null, json!("stopped"), json!("completed")] {
        let body = if status.is_null() {
            json!({})
        } else {
            json!({ "status": status })
        };
        let reply = app
            .post(&format!("/api/v1/experiments/{id}/stop"), body)
            .await;
        assert_error(&reply, StatusCode::CONFLICT, "conflict");
    }
    assert_eq!(
        app.get(&format!("/api/v1/experiments/{id}")).await.body,
        before
    );

    let started = app
        .post(&format!("/api/v1/experiments/{id}/start"), json!({}))
        .await;
    assert_eq!(started.status, StatusCode::OK);
    let again = app
        .post(&format!("/api/v1/experiments/{id}/start"), json!({}))
        .await;
    assert_error(&again, StatusCode::CONFLICT, "conflict");
}

async fn stop_only_accepts_stopped_or_completed() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let id = app.create_experiment(&project, "e").await;
    app.post(&format!("/api/v1/experiments/{id}/start"), json!({}))
        .await;
    for status in ["running", "draft"] {
        let reply = app
            .post(
                &format!("/api/v1/experiments/{id}/stop"),
                json!({ "status": status }),
            )
            .await;
        assert_invalid(&reply, "status");
    }
    let reply = app
        .post(
            &format!("/api/v1/experiments/{id}/stop"),
            json!({ "status": "paused" }),
        )
        .await;
    assert_invalid(&reply, "status");
    let fetched = app.get(&format!("/api/v1/experiments/{id}")).await;
    assert_eq!(fetched.body["status"], "running");
}

async fn lifecycle_of_unknown_experiment_is_404() {
    let app = TestApp::start().await;
    let reply = app.post("/api/v1/experiments/nope/start", json!({})).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    let reply = app.post("/api/v1/experiments/nope/stop", json!({})).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
}

async fn put_with_an_invalid_status_transition_changes_nothing() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let id = app.create_experiment(&project, "unchanged").await;
    let before = app.get(&format!("/api/v1/experiments/{id}")).await.body;

    let reply = app
        .put(
            &format!("/api/v1/experiments/{id}"),
            json!({
                "status": "completed",
                "name": "renamed",
                "description": "new description",
                "tags": { "x": "y" },
            }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    let after = app.get(&format!("/api/v1/experiments/{id}")).await.body;
    assert_eq!(after, before);
}

async fn put_updates_fields_and_moves_the_lifecycle() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let created = create_experiment_with(
        &app,
        json!({ "project_id": project, "name": "e", "tags": { "a": "1", "b": "2" } }),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let reply = app
        .put(
            &format!("/api/v1/experiments/{id}"),
            json!({
                "status": "running",
                "name": "e2",
                "description": "desc",
                "tags": { "a": null, "c": "3" },
                "objectives": [{ "metric": "loss", "direction": "minimize", "target": 0.1 }],
                "links": { "pipeline_run_id": "pipe-1" },
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "running");
    assert!(reply.body["started_at"].is_string());
    assert_eq!(reply.body["name"], "e2");
    assert_eq!(reply.body["description"], "desc");
    assert_eq!(reply.body["tags"], json!({ "b": "2", "c": "3" }));
    assert_eq!(reply.body["objectives"][0]["target"], 0.1);
    assert_eq!(reply.body["links"]["pipeline_run_id"], "pipe-1");
    // Sending the current status again is not a transition.
    let reply = app
        .put(
            &format!("/api/v1/experiments/{id}"),
            json!({ "status": "running", "description": "again" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["description"], "again");
}

async fn starting_beyond_max_concurrent_experiments_is_409_not_429() {
    let app = TestApp::start_with(|c| c.limits.max_concurrent_experiments = 2).await;
    let project = app.create_project("p").await;
    let first = app.create_experiment(&project, "one").await;
    let second = app.create_experiment(&project, "two").await;
    let third = app.create_experiment(&project, "three").await;
    for id in [&first, &second] {
        let reply = app
            .post(&format!("/api/v1/experiments/{id}/start"), json!({}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    let reply = app
        .post(&format!("/api/v1/experiments/{third}/start"), json!({}))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "limit_exceeded");
    assert!(
        reply
            .error_message()
            .contains("limits.max_concurrent_experiments"),
        "{}",
        reply.body
    );
    assert_eq!(
        reply.body["error"]["details"]["setting"],
        "limits.max_concurrent_experiments"
    );
    assert_eq!(reply.body["error"]["details"]["limit"], 2);
    let fetched = app.get(&format!("/api/v1/experiments/{third}")).await;
    assert_eq!(fetched.body["status"], "draft");
    assert_eq!(fetched.body["started_at"], Value::Null);

    // PUT status follows the same rule, and nothing else in it is applied.
    let reply = app
        .put(
            &format!("/api/v1/experiments/{third}"),
            json!({ "status": "running", "description": "x" }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "limit_exceeded");
    let fetched = app.get(&format!("/api/v1/experiments/{third}")).await;
    assert_eq!(fetched.body["description"], Value::Null);

    // Stopping one frees a slot.
    let reply = app
        .post(&format!("/api/v1/experiments/{first}/stop"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = app
        .post(&format!("/api/v1/experiments/{third}/start"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // And the stopped one can no longer resume.
    let reply = app
        .post(&format!("/api/v1/experiments/{first}/start"), json!({}))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "limit_exceeded");
}

async fn concurrent_starts_never_exceed_max_concurrent_experiments() {
    let app = TestApp::start_with(|c| c.limits.max_concurrent_experiments = 2).await;
    let project = app.create_project("p").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(app.create_experiment(&project, &format!("e{i}")).await);
    }
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("/api/v1/experiments/{id}/start"))
        .collect();
    let replies =
        futures_util::future::join_all(paths.iter().map(|path| app.post(path, json!({})))).await;
    let started = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT && r.error_code() == "limit_exceeded")
        .count();
    assert_eq!((started, refused), (2, 4));
    let running = app.get("/api/v1/experiments?status=running").await;
    assert_eq!(items(&running).len(), 2);
}

// ---------------------------------------------------------------- experiments: validation

async fn objectives_are_validated() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let cases = [
        (
            json!([
                { "metric": "accuracy", "direction": "maximize" },
                { "metric": "accuracy", "direction": "minimize" },
            ]),
            "objectives[1].metric",
        ),
        (
            json!([{ "metric": "accuracy", "direction": "maximize", "target": "high" }]),
            "objectives[0].target",
        ),
        (
            json!([{ "metric": "accuracy", "direction": "sideways" }]),
            "objectives[0].direction",
        ),
        (
            json!([{ "metric": "bad?key", "direction": "maximize" }]),
            "objectives[0].metric",
        ),
    ];
    for (objectives, field) in cases {
        let reply = app
            .post(
                "/api/v1/experiments",
                json!({ "project_id": project, "name": "e", "objectives": objectives }),
            )
            .await;
        assert_invalid(&reply, field);
    }
    assert_eq!(experiment_count(&app, &project).await, 0);
}

async fn search_space_is_validated() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let cases = [
        (
            json!({ "lr": { "type": "float", "low": 0.1, "high": 0.1 } }),
            "search_space.lr",
        ),
        (
            json!({ "lr": { "type": "float", "low": 1.0, "high": 0.5 } }),
            "search_space.lr",
        ),
        (
            json!({ "lr": { "type": "float", "low": 0.0, "high": 1.0, "log": true } }),
            "search_space.lr",
        ),
        (
            json!({ "layers": { "type": "int", "low": 1, "high": 8, "step": 0 } }),
            "search_space.layers",
        ),
        (
            json!({ "optimizer": { "type": "categorical", "choices": [] } }),
            "search_space.optimizer",
        ),
    ];
    for (space, field) in cases {
        let reply = app
            .post(
                "/api/v1/experiments",
                json!({ "project_id": project, "name": "e", "search_space": space }),
            )
            .await;
        assert_invalid(&reply, field);
    }
    assert_eq!(experiment_count(&app, &project).await, 0);

    let ok = create_experiment_with(
        &app,
        json!({
            "project_id": project,
            "name": "e",
            "search_space": {
                "lr": { "type": "float", "low": 0.0001, "high": 0.1, "log": true },
                "layers": { "type": "int", "low": 1, "high": 8, "step": 1 },
                "optimizer": { "type": "categorical", "choices": ["adam", "sgd"] },
            },
        }),
    )
    .await;
    assert_eq!(
        ok["search_space"]["optimizer"],
        json!({ "type": "categorical", "choices": ["adam", "sgd"] })
    );
    assert_eq!(ok["search_space"]["lr"]["log"], true);
}

async fn healthcare_rates_must_be_between_0_and_1() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let reply = app
        .post(
            "/api/v1/experiments",
            json!({
                "project_id": project,
                "name": "e",
                "healthcare": { "min_crisis_detection_rate": 1.5 },
            }),
        )
        .await;
    assert_invalid(&reply, "healthcare.min_crisis_detection_rate");
    let reply = app
        .post(
            "/api/v1/experiments",
            json!({
                "project_id": project,
                "name": "e",
                "healthcare": { "max_false_negative_rate": -0.1 },
            }),
        )
        .await;
    assert_invalid(&reply, "healthcare.max_false_negative_rate");
    assert_eq!(experiment_count(&app, &project).await, 0);

    // Missing fields take the spec's defaults.
    let ok = create_experiment_with(
        &app,
        json!({ "project_id": project, "name": "e", "healthcare": { "min_response_quality": 0.9 } }),
    )
    .await;
    assert_eq!(ok["healthcare"]["min_response_quality"], 0.9);
    assert_eq!(ok["healthcare"]["min_crisis_detection_rate"], 0.99);

    // Updates are validated the same way and change nothing when refused.
    let id = ok["id"].as_str().unwrap();
    let reply = app
        .put(
            &format!("/api/v1/experiments/{id}"),
            json!({ "name": "x", "healthcare": { "min_response_quality": 7 } }),
        )
        .await;
    assert_invalid(&reply, "healthcare.min_response_quality");
    assert_eq!(app.get(&format!("/api/v1/experiments/{id}")).await.body, ok);
}

async fn experiment_templates_are_listed() {
    let app = TestApp::start().await;
    let reply = app.get("/api/v1/experiments/templates").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let template_names: BTreeSet<String> = names(&reply).into_iter().collect();
    for expected in ["baseline", "hyperparameter_search", "healthcare_safety"] {
        assert!(template_names.contains(expected), "{template_names:?}");
    }
    let search = items(&reply)
        .iter()
        .find(|t| t["name"] == "hyperparameter_search")
        .unwrap();
    assert!(search["search_space"]["learning_rate"].is_object());
}

async fn hyperparameter_search_template_prefills_search_space_and_objectives() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let experiment = create_experiment_with(
        &app,
        json!({
            "project_id": project,
            "name": "sweep",
            "template": "hyperparameter_search",
            "tags": { "owner": "me" },
        }),
    )
    .await;
    assert_eq!(experiment["template"], "hyperparameter_search");
    assert_eq!(
        experiment["objectives"],
        json!([{ "metric": "val_loss", "direction": "minimize", "target": null, "required": true }])
    );
    let space = experiment["search_space"]
        .as_object()
        .expect("search space");
    let keys: BTreeSet<&str> = space.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["batch_size", "dropout", "learning_rate"])
    );
    assert_eq!(space["learning_rate"]["type"], "float");
    assert_eq!(space["learning_rate"]["log"], true);
    assert_eq!(space["batch_size"]["type"], "categorical");
    assert_eq!(experiment["tags"]["template"], "hyperparameter_search");
    assert_eq!(experiment["tags"]["owner"], "me");

    // Explicit values override the template's.
    let experiment = create_experiment_with(
        &app,
        json!({
            "project_id": project,
            "name": "custom",
            "template": "hyperparameter_search",
            "objectives": [{ "metric": "auc", "direction": "maximize" }],
            "search_space": { "depth": { "type": "int", "low": 2, "high": 10 } },
        }),
    )
    .await;
    assert_eq!(experiment["objectives"][0]["metric"], "auc");
    assert_eq!(
        experiment["search_space"],
        json!({ "depth": { "type": "int", "low": 2, "high": 10, "step": null, "log": false } })
    );

    let reply = app
        .post(
            "/api/v1/experiments",
            json!({ "project_id": project, "name": "x", "template": "nonexistent" }),
        )
        .await;
    assert_invalid(&reply, "template");
}

// ---------------------------------------------------------------- experiments: list

async fn list_experiments_filters_by_project_status_and_tag() {
    let app = TestApp::start().await;
    let p1 = app.create_project("p1").await;
    let p2 = app.create_project("p2").await;
    create_experiment_with(
        &app,
        json!({ "project_id": p1, "name": "e1", "tags": { "team": "a" } }),
    )
    .await;
    let e2 = create_experiment_with(
        &app,
        json!({ "project_id": p1, "name": "e2", "tags": { "team": "b", "gpu": "yes" } }),
    )
    .await;
    create_experiment_with(
        &app,
        json!({ "project_id": p2, "name": "e3", "tags": { "team": "a" } }),
    )
    .await;
    let started = app
        .post(
            &format!("/api/v1/experiments/{}/start", e2["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK);

    // The built-in `Default` experiment is a draft without tags, in another project.
    let cases: Vec<(String, &[&str])> = vec![
        (String::new(), &[DEFAULT_EXPERIMENT, "e1", "e2", "e3"]),
        (format!("project_id={p1}"), &["e1", "e2"]),
        (format!("project_id={p2}"), &["e3"]),
        ("project_id=unknown".to_owned(), &[]),
        ("status=running".to_owned(), &["e2"]),
        ("status=draft".to_owned(), &[DEFAULT_EXPERIMENT, "e1", "e3"]),
        ("status=completed".to_owned(), &[]),
        ("tag=team:a".to_owned(), &["e1", "e3"]),
        ("tag=team".to_owned(), &["e1", "e2", "e3"]),
        ("tag=gpu".to_owned(), &["e2"]),
        (format!("project_id={p1}&tag=team:a"), &["e1"]),
        (format!("project_id={p1}&status=draft"), &["e1"]),
        ("name=e3".to_owned(), &["e3"]),
        (
            "name_contains=E".to_owned(),
            &[DEFAULT_EXPERIMENT, "e1", "e2", "e3"],
        ),
    ];
    for (query, expected) in &cases {
        let reply = app.get(&format!("/api/v1/experiments?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        assert_eq!(sorted_names(&reply), strings(expected), "{query}");
    }
    let reply = app.get("/api/v1/experiments?status=paused").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    let reply = app.get("/api/v1/experiments?sort=status").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
}

async fn list_experiments_pages_with_tokens() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    for i in 0..5 {
        app.create_experiment(&project, &format!("e{i}")).await;
    }
    // Scoped to this test's project, so the built-in `Default` experiment is left out.
    let first = app
        .get(&format!(
            "/api/v1/experiments?project_id={project}&sort=name&page_size=2"
        ))
        .await;
    assert_eq!(names(&first), strings(&["e0", "e1"]));
    let token = first.body["next_page_token"].as_str().unwrap();
    let second = app
        .get(&format!(
            "/api/v1/experiments?project_id={project}&sort=name&page_size=2&page_token={token}"
        ))
        .await;
    assert_eq!(names(&second), strings(&["e2", "e3"]));
    let token = second.body["next_page_token"].as_str().unwrap();
    let third = app
        .get(&format!(
            "/api/v1/experiments?project_id={project}&sort=name&page_size=2&page_token={token}"
        ))
        .await;
    assert_eq!(names(&third), strings(&["e4"]));
    assert_eq!(third.body["next_page_token"], Value::Null);
}

// ---------------------------------------------------------------- experiments: metrics

async fn experiment_metrics_aggregate_each_runs_latest_value() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let experiment = create_experiment_with(
        &app,
        json!({
            "project_id": project,
            "name": "agg",
            "objectives": [{ "metric": "accuracy", "direction": "maximize", "target": 0.75 }],
        }),
    )
    .await;
    let id = experiment["id"].as_str().unwrap();
    let low = run_with_accuracy(&app, id, 0.5).await;
    let high = run_with_accuracy(&app, id, 1.0).await;
    let mid = run_with_accuracy(&app, id, 0.75).await;
    log_metrics(
        &app,
        &low,
        json!([{ "key": "loss", "value": 2.0, "step": 0 }]),
    )
    .await;
    log_metrics(
        &app,
        &mid,
        json!([{ "key": "loss", "value": 4.0, "step": 0 }]),
    )
    .await;

    let reply = app.get(&format!("/api/v1/experiments/{id}/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let aggregates = items(&reply);
    let keys: Vec<&str> = aggregates
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["accuracy", "loss"]);

    let accuracy = &aggregates[0];
    assert_eq!(accuracy["direction"], "maximize");
    let summary = &accuracy["summary"];
    assert_eq!(summary["count"], 3);
    assert_eq!(summary["nan_count"], 0);
    assert_close(&summary["mean"], 0.75);
    assert_close(&summary["min"], 0.5);
    assert_close(&summary["max"], 1.0);
    assert_close(&summary["median"], 0.75);
    assert_close(&summary["std"], 0.25);
    assert_eq!(accuracy["best_run_id"], high.as_str());
    assert_close(&accuracy["best_value"], 1.0);
    assert_eq!(accuracy["runs_meeting_target"], 2);

    // A metric without an objective has no direction, best run or target count.
    let loss = &aggregates[1];
    assert_eq!(loss["direction"], Value::Null);
    assert_eq!(loss["summary"]["count"], 2);
    assert_close(&loss["summary"]["mean"], 3.0);
    assert_eq!(loss["best_run_id"], Value::Null);
    assert_eq!(loss["best_value"], Value::Null);
    assert_eq!(loss["runs_meeting_target"], Value::Null);
}

async fn experiment_metrics_count_nan_apart_and_never_pick_it_as_best() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let experiment = create_experiment_with(
        &app,
        json!({
            "project_id": project,
            "name": "nan",
            "objectives": [{ "metric": "accuracy", "direction": "maximize", "target": 0.5 }],
        }),
    )
    .await;
    let id = experiment["id"].as_str().unwrap();
    let good = run_with_accuracy(&app, id, 0.4).await;
    let diverged = app.create_run(id).await;
    log_metrics(
        &app,
        &diverged,
        json!([
            { "key": "accuracy", "value": 0.9, "step": 0 },
            { "key": "accuracy", "value": "NaN", "step": 1 },
        ]),
    )
    .await;
    let reply = app.get(&format!("/api/v1/experiments/{id}/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let accuracy = &items(&reply)[0];
    assert_eq!(accuracy["summary"]["count"], 2);
    assert_eq!(accuracy["summary"]["nan_count"], 1);
    assert_close(&accuracy["summary"]["mean"], 0.4);
    assert_eq!(accuracy["best_run_id"], good.as_str());
    assert_close(&accuracy["best_value"], 0.4);
    assert_eq!(accuracy["runs_meeting_target"], 0);
}

async fn experiment_metrics_use_a_minimize_objective() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let experiment = create_experiment_with(
        &app,
        json!({
            "project_id": project,
            "name": "min",
            "objectives": [{ "metric": "loss", "direction": "minimize", "target": 0.3 }],
        }),
    )
    .await;
    let id = experiment["id"].as_str().unwrap();
    let mut runs = Vec::new();
    for value in [0.4, 0.2, 0.3] {
        let run = app.create_run(id).await;
        log_metrics(
            &app,
            &run,
            json!([{ "key": "loss", "value": value, "step": 0 }]),
        )
        .await;
        runs.push(run);
    }
    let reply = app.get(&format!("/api/v1/experiments/{id}/metrics")).await;
    let loss = &items(&reply)[0];
    assert_eq!(loss["direction"], "minimize");
    assert_eq!(loss["best_run_id"], runs[1].as_str());
    assert_close(&loss["best_value"], 0.2);
    assert_eq!(loss["runs_meeting_target"], 2);
}

async fn experiment_metrics_of_an_experiment_without_runs_is_empty() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let id = app.create_experiment(&project, "e").await;
    let reply = app.get(&format!("/api/v1/experiments/{id}/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({ "items": [] }));
    let reply = app.get("/api/v1/experiments/nope/metrics").await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
}

// ---------------------------------------------------------------- experiments: compare

/// Two experiments: `a` maximises accuracy and minimises loss; `b` has no objectives.
/// Accuracy means: a = 0.6, b = 0.9. Loss means: a = 0.2, b = 0.5.
async fn comparison_fixture(app: &TestApp) -> (String, String, Vec<String>, Vec<String>) {
    let project = app.create_project("cmp").await;
    let a = create_experiment_with(
        app,
        json!({
            "project_id": project,
            "name": "a",
            "objectives": [
                { "metric": "accuracy", "direction": "maximize" },
                { "metric": "loss", "direction": "minimize" },
            ],
        }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.create_experiment(&project, "b").await;
    let mut a_runs = Vec::new();
    for (accuracy, loss) in [(0.5, 0.3), (0.7, 0.1)] {
        let run = app.create_run(&a).await;
        log_metrics(
            app,
            &run,
            json!([
                { "key": "accuracy", "value": accuracy, "step": 0 },
                { "key": "loss", "value": loss, "step": 0 },
            ]),
        )
        .await;
        a_runs.push(run);
    }
    let run = app.create_run(&b).await;
    log_metrics(
        app,
        &run,
        json!([
            { "key": "accuracy", "value": 0.9, "step": 0 },
            { "key": "loss", "value": 0.5, "step": 0 },
        ]),
    )
    .await;
    (a, b, a_runs, vec![run])
}

async fn compare_summarises_each_experiment_in_request_order() {
    let app = TestApp::start().await;
    let (a, b, a_runs, b_runs) = comparison_fixture(&app).await;
    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [b, a] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let experiments = reply.body["experiments"].as_array().unwrap();
    assert_eq!(experiments.len(), 2);
    assert_eq!(experiments[0]["id"], b.as_str());
    assert_eq!(experiments[0]["name"], "b");
    assert_eq!(experiments[0]["status"], "draft");
    assert_eq!(experiments[0]["run_count"], 1);
    assert_eq!(experiments[1]["id"], a.as_str());
    assert_eq!(experiments[1]["run_count"], 2);

    let metrics = reply.body["metrics"].as_array().unwrap();
    let keys: Vec<&str> = metrics.iter().map(|m| m["key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["accuracy", "loss"]);

    let accuracy = &metrics[0];
    assert_eq!(accuracy["direction"], "maximize");
    let by_experiment = accuracy["by_experiment"].as_array().unwrap();
    assert_eq!(by_experiment[0]["experiment_id"], b.as_str());
    assert_eq!(by_experiment[0]["summary"]["count"], 1);
    assert_close(&by_experiment[0]["summary"]["mean"], 0.9);
    assert_eq!(by_experiment[0]["best_run_id"], b_runs[0].as_str());
    assert_eq!(by_experiment[1]["experiment_id"], a.as_str());
    assert_eq!(by_experiment[1]["summary"]["count"], 2);
    assert_close(&by_experiment[1]["summary"]["mean"], 0.6);
    assert_close(&by_experiment[1]["summary"]["min"], 0.5);
    assert_close(&by_experiment[1]["summary"]["max"], 0.7);
    assert_eq!(by_experiment[1]["best_run_id"], a_runs[1].as_str());
    assert_eq!(accuracy["best_experiment_id"], b.as_str());

    let loss = &metrics[1];
    assert_eq!(loss["direction"], "minimize");
    assert_close(&loss["by_experiment"][1]["summary"]["mean"], 0.2);
    assert_eq!(loss["by_experiment"][1]["best_run_id"], a_runs[1].as_str());
    assert_eq!(loss["best_experiment_id"], a.as_str());
}

async fn compare_restricted_to_chosen_metrics() {
    let app = TestApp::start().await;
    let (a, b, _, _) = comparison_fixture(&app).await;
    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [a, b], "metrics": ["loss"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let metrics = reply.body["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0]["key"], "loss");
    assert_eq!(metrics[0]["by_experiment"][0]["experiment_id"], a.as_str());
    assert_eq!(metrics[0]["best_experiment_id"], a.as_str());
}

async fn compare_without_objectives_names_no_best_experiment() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let a = app.create_experiment(&project, "a").await;
    let b = app.create_experiment(&project, "b").await;
    for (experiment, value) in [(&a, 1.0), (&b, 2.0)] {
        let run = app.create_run(experiment).await;
        log_metrics(
            &app,
            &run,
            json!([{ "key": "score", "value": value, "step": 0 }]),
        )
        .await;
    }
    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [a, b] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let score = &reply.body["metrics"][0];
    assert_eq!(score["direction"], Value::Null);
    assert_eq!(score["best_experiment_id"], Value::Null);
    assert_eq!(score["by_experiment"][0]["best_run_id"], Value::Null);
}

async fn compare_rejects_bad_id_lists() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let a = app.create_experiment(&project, "a").await;
    let b = app.create_experiment(&project, "b").await;

    for ids in [json!([]), json!([a])] {
        let reply = app
            .post(
                "/api/v1/experiments/compare",
                json!({ "experiment_ids": ids }),
            )
            .await;
        assert_invalid(&reply, "experiment_ids");
    }
    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [a, a] }),
        )
        .await;
    assert_invalid(&reply, "experiment_ids");
    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [a, b, a] }),
        )
        .await;
    assert_invalid(&reply, "experiment_ids");

    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [a, "missing"] }),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(reply.body["error"]["details"]["entity"], "experiment");
    assert_eq!(reply.body["error"]["details"]["id"], "missing");

    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [a, b], "metrics": ["bad?key"] }),
        )
        .await;
    assert_invalid(&reply, "metrics[0]");
    let reply = app
        .post("/api/v1/experiments/compare", json!({ "metrics": [] }))
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
}

// ---------------------------------------------------------------- experiments: delete

async fn deleting_an_experiment_deletes_its_runs() {
    let app = TestApp::start().await;
    let (project, experiment, run) = app.create_hierarchy().await;
    let other_run = app.create_run(&experiment).await;
    let sibling = app.create_experiment(&project, "sibling").await;
    let sibling_run = app.create_run(&sibling).await;
    log_metrics(
        &app,
        &run,
        json!([{ "key": "loss", "value": 1.0, "step": 0 }]),
    )
    .await;

    app.delete_ok(&format!("/api/v1/experiments/{experiment}?permanent=true"))
        .await;
    for path in [
        format!("/api/v1/experiments/{experiment}"),
        format!("/api/v1/experiments/{experiment}/metrics"),
        format!("/api/v1/runs/{run}"),
        format!("/api/v1/runs/{other_run}"),
        format!("/api/v1/runs/{run}/metrics"),
    ] {
        assert_error(&app.get(&path).await, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(
        app.get(&format!("/api/v1/runs/{sibling_run}")).await.status,
        StatusCode::OK
    );
    let stats = app.get(&format!("/api/v1/projects/{project}/stats")).await;
    assert_eq!(stats.body["experiments"]["total"], 1);
    assert_eq!(stats.body["runs"]["total"], 1);
    assert_eq!(stats.body["metric_points"], 0);

    let again = app
        .delete(&format!("/api/v1/experiments/{experiment}"))
        .await;
    assert_error(&again, StatusCode::NOT_FOUND, "not_found");
    // The project no longer needs cascade once its last experiment is in the trash.
    app.delete(&format!("/api/v1/experiments/{sibling}")).await;
    app.delete_ok(&format!("/api/v1/projects/{project}")).await;
}

async fn deleting_an_experiment_moves_it_and_its_runs_to_the_trash_until_restored() {
    let app = TestApp::start().await;
    let (project, experiment, run) = app.create_hierarchy().await;
    let earlier = app.create_run(&experiment).await;
    app.delete_ok(&format!("/api/v1/runs/{earlier}")).await;
    log_metrics(
        &app,
        &run,
        json!([{ "key": "loss", "value": 1.0, "step": 0 }]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;

    app.delete_ok(&format!("/api/v1/experiments/{experiment}"))
        .await;
    let trashed = app.get(&format!("/api/v1/experiments/{experiment}")).await;
    assert_eq!(trashed.status, StatusCode::OK, "{}", trashed.body);
    let deleted_at = trashed.body["deleted_at"].clone();
    assert!(deleted_at.is_string(), "{}", trashed.body);
    let listed = app
        .get(&format!("/api/v1/experiments?project_id={project}"))
        .await;
    assert!(items(&listed).is_empty(), "{}", listed.body);
    let listed = app
        .get(&format!(
            "/api/v1/experiments?project_id={project}&lifecycle=deleted"
        ))
        .await;
    assert_eq!(items(&listed).len(), 1, "{}", listed.body);
    let runs = app
        .get(&format!("/api/v1/runs?experiment_id={experiment}"))
        .await;
    assert!(items(&runs).is_empty(), "{}", runs.body);
    // Its metrics stay readable.
    let reply = app.get(&format!("/api/v1/runs/{run}/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    // Writes are refused; a new run names the experiment's state.
    let reply = app
        .post("/api/v1/runs", json!({ "experiment_id": experiment }))
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
    assert!(reply.error_message().contains("deleted"), "{}", reply.body);
    let reply = app
        .post(
            &format!("/api/v1/experiments/{experiment}/start"),
            json!({}),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");

    // Deleting it again keeps the first deletion time (the retention counts from there).
    app.delete_ok(&format!("/api/v1/experiments/{experiment}"))
        .await;
    assert_eq!(
        app.get(&format!("/api/v1/experiments/{experiment}"))
            .await
            .body["deleted_at"],
        deleted_at
    );

    // Restore brings back the runs that went with it, not the one trashed before.
    let reply = app
        .post(
            &format!("/api/v1/experiments/{experiment}/restore"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["deleted_at"].is_null(), "{}", reply.body);
    let run_body = app.get(&format!("/api/v1/runs/{run}")).await.body;
    assert!(run_body["deleted_at"].is_null(), "{run_body}");
    let earlier_body = app.get(&format!("/api/v1/runs/{earlier}")).await.body;
    assert!(earlier_body["deleted_at"].is_string(), "{earlier_body}");
    app.create_run(&experiment).await;
    let reply = app
        .post(
            &format!("/api/v1/experiments/{experiment}/restore"),
            json!({}),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict");
}

async fn gc_purges_experiments_and_projects_long_in_the_trash() {
    let app = TestApp::start_with(|c| c.artifacts.deleted_run_retention_days = 0).await;
    let (project, experiment, run) = app.create_hierarchy().await;
    let (kept_project, kept_experiment, kept_run) = app.create_hierarchy().await;
    let (other_project, trashed_experiment, trashed_run) = app.create_hierarchy().await;
    app.delete_ok(&format!("/api/v1/projects/{project}?cascade=true"))
        .await;
    app.delete_ok(&format!("/api/v1/experiments/{trashed_experiment}"))
        .await;
    tokio::time::sleep(Duration::from_millis(5)).await;

    let report = app
        .server
        .services
        .collect_garbage(&ets::actor::Actor::System)
        .await
        .expect("gc runs");
    assert_eq!(
        (
            report.projects_purged,
            report.experiments_purged,
            report.runs_purged
        ),
        (1, 1, 0),
        "{report:?}"
    );
    for path in [
        format!("/api/v1/projects/{project}"),
        format!("/api/v1/experiments/{experiment}"),
        format!("/api/v1/runs/{run}"),
        format!("/api/v1/experiments/{trashed_experiment}"),
        format!("/api/v1/runs/{trashed_run}"),
    ] {
        assert_error(&app.get(&path).await, StatusCode::NOT_FOUND, "not_found");
    }
    for path in [
        format!("/api/v1/projects/{kept_project}"),
        format!("/api/v1/experiments/{kept_experiment}"),
        format!("/api/v1/runs/{kept_run}"),
        format!("/api/v1/projects/{other_project}"),
    ] {
        assert_eq!(app.get(&path).await.status, StatusCode::OK, "{path}");
    }
}

/// Expected values from SciPy 1.16.3 (`tests/stats/requirements.txt`):
/// `ttest_ind(b, a, equal_var=False)` and `mannwhitneyu(b, a)` of the values below.
async fn compare_tests_the_second_experiment_against_the_first_as_scipy_does() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let baseline = app.create_experiment(&project, "baseline").await;
    let candidate = app.create_experiment(&project, "candidate").await;
    for (experiment, values) in [
        (&baseline, [0.71, 0.74, 0.69, 0.73]),
        (&candidate, [0.80, 0.83, 0.79, 0.85]),
    ] {
        for value in values {
            let run = app.create_run(experiment).await;
            log_metrics(
                &app,
                &run,
                json!([{ "key": "acc", "value": value, "step": 0 }]),
            )
            .await;
        }
    }
    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [baseline, candidate], "metrics": ["acc"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let tests = &reply.body["metrics"][0]["tests"];
    assert_eq!(tests["baseline_experiment_id"], baseline.as_str());
    assert_eq!(tests["candidate_experiment_id"], candidate.as_str());
    let close = |v: &Value, expected: f64| {
        let got = v.as_f64().unwrap_or_else(|| panic!("{v} in {tests}"));
        assert!(
            ((got - expected) / expected).abs() < 1e-9,
            "{got} against SciPy's {expected}"
        );
    };
    close(&tests["welch_t"]["statistic"], 5.656854249492388);
    close(&tests["welch_t"]["p_value"], 0.0015233110774901181);
    close(&tests["welch_t"]["df"], 5.738819928583581);
    close(&tests["welch_t"]["ci_lower"], 0.056262591948694);
    close(&tests["welch_t"]["ci_upper"], 0.1437374080513062);
    close(&tests["mann_whitney_u"]["statistic"], 16.0);
    close(&tests["mann_whitney_u"]["p_value"], 0.02857142857142857);
    assert_eq!(tests["mann_whitney_u"]["method"], "exact");
    close(&tests["cliffs_delta"], 1.0);
    let verdict = tests["verdict"].as_str().expect("verdict");
    assert!(
        verdict.starts_with("higher by 0.1000") && verdict.ends_with("a significant difference"),
        "{verdict}"
    );

    // One run a side: nothing to test, and the answer says so.
    let lone = app.create_experiment(&project, "lone").await;
    let run = app.create_run(&lone).await;
    log_metrics(
        &app,
        &run,
        json!([{ "key": "acc", "value": 0.5, "step": 0 }]),
    )
    .await;
    let reply = app
        .post(
            "/api/v1/experiments/compare",
            json!({ "experiment_ids": [baseline, lone], "metrics": ["acc"] }),
        )
        .await;
    let tests = &reply.body["metrics"][0]["tests"];
    assert!(tests["welch_t"]["p_value"].is_null(), "{tests}");
    assert!(
        tests["verdict"]
            .as_str()
            .unwrap()
            .starts_with("not enough runs"),
        "{tests}"
    );
}
