//! The search language on the native API, the trash, and one store seen through both APIs.

mod common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

common::on_both_databases!(
    native_run_lists_take_the_filter_language_with_or_and_parentheses,
    a_filter_that_does_not_parse_is_400_pointing_at_the_token,
    native_experiment_lists_take_the_filter_language,
    trashed_runs_leave_lists_until_restored_and_refuse_logging,
    one_store_two_apis,
    the_largest_filter_is_searched_and_a_larger_one_is_400_naming_the_limit,
);

/// Names of the runs a native list returns.
async fn run_names(app: &TestApp, query: &str) -> Vec<String> {
    let reply = app.get(&format!("/api/v1/runs?{query}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut names: Vec<String> = reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn encode(filter: &str) -> String {
    url_escape(filter)
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Three runs with known metrics, params and tags: (experiment id, [run ids]).
async fn seeded(app: &TestApp) -> (String, Vec<String>) {
    let project = app.create_project("search").await;
    let experiment = app.create_experiment(&project, "exp").await;
    let mut ids = Vec::new();
    for (name, acc, optimizer, team) in [
        ("a", 0.91, "adam", "vision"),
        ("b", 0.42, "sgd", "nlp"),
        ("c", 0.77, "adam", "nlp"),
    ] {
        let reply = app
            .post(
                "/api/v1/runs",
                json!({"experiment_id": experiment, "name": name, "params": {"optimizer": optimizer}, "tags": {"team": team}}),
            )
            .await;
        let id = reply.id();
        let logged = app
            .post(
                &format!("/api/v1/runs/{id}/metrics"),
                json!({"key": "acc", "value": acc}),
            )
            .await;
        assert_eq!(logged.status, StatusCode::CREATED);
        ids.push(id);
    }
    (experiment, ids)
}

async fn native_run_lists_take_the_filter_language_with_or_and_parentheses() {
    let app = TestApp::start().await;
    let (experiment, _) = seeded(&app).await;
    let scope = format!("experiment_id={experiment}");
    let cases = [
        ("metrics.acc > 0.5", vec!["a", "c"]),
        (
            "params.optimizer = 'sgd' OR tags.team = 'vision'",
            vec!["a", "b"],
        ),
        (
            "(metrics.acc > 0.5 AND tags.team = 'nlp') OR params.optimizer = 'sgd'",
            vec!["b", "c"],
        ),
        (
            "metrics.acc > 0.5 AND (tags.team = 'nlp' OR params.optimizer = 'sgd')",
            vec!["c"],
        ),
        (
            "attributes.run_name LIKE 'a%' OR attributes.run_name = 'b'",
            vec!["a", "b"],
        ),
        ("attributes.run_name ILIKE 'A'", vec!["a"]),
        ("tags.team != 'nlp'", vec!["a"]),
    ];
    for (filter, expected) in cases {
        let names = run_names(&app, &format!("{scope}&filter={}", encode(filter))).await;
        assert_eq!(names, expected, "filter: {filter}");
    }
}

async fn a_filter_that_does_not_parse_is_400_pointing_at_the_token() {
    let app = TestApp::start().await;
    let reply = app
        .get(&format!(
            "/api/v1/runs?filter={}",
            encode("metrics.acc >> 1")
        ))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let message = reply.error_message();
    assert!(
        message.contains("'>>'") && message.contains("character 12"),
        "{message}"
    );
    let reply = app
        .get(&format!(
            "/api/v1/runs?filter={}",
            encode("metrics.acc > 1 AND (params.x = 'y'")
        ))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = app
        .get(&format!(
            "/api/v1/experiments?filter={}",
            encode("metrics.acc > 1")
        ))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "experiments have no metrics: {}",
        reply.body
    );
}

async fn native_experiment_lists_take_the_filter_language() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    for name in ["resnet-18", "resnet-50", "vit-b"] {
        app.create_experiment(&project, name).await;
    }
    let reply = app
        .get(&format!(
            "/api/v1/experiments?project_id={project}&filter={}",
            encode("name LIKE 'resnet%' OR name = 'vit-b'")
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 3);
    let reply = app
        .get(&format!(
            "/api/v1/experiments?project_id={project}&filter={}",
            encode("name LIKE '%-50'")
        ))
        .await;
    let items = reply.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "resnet-50");
}

async fn trashed_runs_leave_lists_until_restored_and_refuse_logging() {
    let app = TestApp::start().await;
    let (experiment, ids) = seeded(&app).await;
    let trashed = app
        .post("/api/2.0/mlflow/runs/delete", json!({"run_id": ids[0]}))
        .await;
    assert_eq!(trashed.status, StatusCode::OK, "{}", trashed.body);
    let scope = format!("experiment_id={experiment}");
    assert_eq!(run_names(&app, &scope).await, vec!["b", "c"]);
    assert_eq!(
        run_names(&app, &format!("{scope}&lifecycle=deleted")).await,
        vec!["a"]
    );
    assert_eq!(
        run_names(&app, &format!("{scope}&lifecycle=all")).await,
        vec!["a", "b", "c"]
    );
    let run = app.get(&format!("/api/v1/runs/{}", ids[0])).await;
    assert!(
        run.body["deleted_at"].is_string(),
        "a trashed run is still readable: {}",
        run.body
    );

    let refused = app
        .post(
            &format!("/api/v1/runs/{}/metrics", ids[0]),
            json!({"key": "acc", "value": 1}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);

    let restored = app
        .post("/api/2.0/mlflow/runs/restore", json!({"run_id": ids[0]}))
        .await;
    assert_eq!(restored.status, StatusCode::OK);
    assert_eq!(run_names(&app, &scope).await, vec!["a", "b", "c"]);
    assert_eq!(
        app.get(&format!("/api/v1/runs?{scope}&lifecycle=sometimes"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

async fn one_store_two_apis() {
    let app = TestApp::start().await;
    // Created through MLflow: lands in the `default` project, visible natively.
    let created = app
        .post(
            "/api/2.0/mlflow/experiments/create",
            json!({"name": "from-mlflow"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let experiment_id = created.body["experiment_id"].as_str().unwrap().to_owned();
    let native = app
        .get(&format!("/api/v1/experiments/{experiment_id}"))
        .await;
    assert_eq!(
        native.body["project_id"],
        "00000000000000000000000000000000"
    );
    assert_eq!(native.body["name"], "from-mlflow");

    // The ets.project tag picks (and creates) the project.
    let tagged = app
        .post(
            "/api/2.0/mlflow/experiments/create",
            json!({"name": "tagged", "tags": [{"key": "ets.project", "value": "vision"}]}),
        )
        .await;
    let tagged_id = tagged.body["experiment_id"].as_str().unwrap();
    let tagged_native = app.get(&format!("/api/v1/experiments/{tagged_id}")).await;
    let project = app
        .get(&format!(
            "/api/v1/projects/{}",
            tagged_native.body["project_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(project.body["name"], "vision");

    // A run created natively, seen through MLflow with MLflow's shapes.
    let run = app
        .post(
            "/api/v1/runs",
            json!({"experiment_id": experiment_id, "name": "native", "params": {"lr": 0.01}}),
        )
        .await;
    let run_id = run.id();
    app.post(
        &format!("/api/v1/runs/{run_id}/metrics"),
        json!({"key": "loss", "value": "NaN", "step": 3}),
    )
    .await;
    let seen = app
        .get(&format!("/api/2.0/mlflow/runs/get?run_id={run_id}"))
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    let info = &seen.body["run"]["info"];
    assert_eq!(info["status"], "RUNNING");
    assert_eq!(info["run_name"], "native");
    assert_eq!(
        info["artifact_uri"],
        format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")
    );
    let data = &seen.body["run"]["data"];
    assert_eq!(data["params"], json!([{"key": "lr", "value": "0.01"}]));
    assert_eq!(data["metrics"][0]["value"], "NaN");
    assert!(
        data["tags"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "mlflow.runName", "value": "native"}))
    );

    // MLflow's error shape and codes.
    let missing = app.get("/api/2.0/mlflow/runs/get?run_id=nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["error_code"], "RESOURCE_DOES_NOT_EXIST");
    let bad: Value = app
        .post(
            "/api/2.0/mlflow/runs/search",
            json!({"experiment_ids": [experiment_id], "filter": "params.lr = "}),
        )
        .await
        .body;
    assert_eq!(bad["error_code"], "INVALID_PARAMETER_VALUE", "{bad}");
}

/// `count` copies of `term` joined by `AND`.
fn and_chain(term: &str, count: usize) -> String {
    vec![term; count].join(" AND ")
}

/// `count` comparisons nested as deep as the parser allows (64 levels), alternating `OR` with a
/// false term and `AND` with a true term, the rest `metrics.acc > 0.9` innermost: matches run
/// `a` only. The worst case for SQL expression depth.
fn deeply_nested(count: usize) -> String {
    let depth = ets_domain::filter::MAX_FILTER_DEPTH;
    let mut text = String::new();
    for level in 0..depth {
        text.push_str(if level % 2 == 0 {
            "params.optimizer = 'none' OR ("
        } else {
            "metrics.acc > 0 AND ("
        });
    }
    text.push_str(&and_chain("metrics.acc > 0.9", count - depth));
    text.push_str(&")".repeat(depth));
    text
}

/// Defect 9: ~990 `AND`-ed terms were a 500 ("Expression tree is too large"); the parser now
/// bounds a filter and answers 400 naming the limit.
async fn the_largest_filter_is_searched_and_a_larger_one_is_400_naming_the_limit() {
    use ets_domain::filter::{MAX_FILTER_CHARS, MAX_FILTER_COMPARISONS, MAX_FILTER_LIST_VALUES};
    let app = TestApp::start().await;
    let (experiment, ids) = seeded(&app).await;
    let mlflow_search = |filter: String| {
        let app = &app;
        let experiment = experiment.clone();
        async move {
            app.post(
                "/api/2.0/mlflow/runs/search",
                json!({"experiment_ids": [experiment], "filter": filter}),
            )
            .await
        }
    };
    let mlflow_names = |body: &Value| -> Vec<String> {
        let mut names: Vec<String> = body["runs"]
            .as_array()
            .map(|runs| {
                runs.iter()
                    .map(|r| r["info"]["run_name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };

    let largest = [
        and_chain("metrics.acc > 0.9", MAX_FILTER_COMPARISONS),
        deeply_nested(MAX_FILTER_COMPARISONS),
    ];
    for filter in largest {
        let reply = mlflow_search(filter.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(mlflow_names(&reply.body), ["a"]);
        let native = run_names(
            &app,
            &format!("experiment_id={experiment}&filter={}", encode(&filter)),
        )
        .await;
        assert_eq!(native, ["a"]);
    }
    let too_many = [
        and_chain("metrics.acc > 0.9", MAX_FILTER_COMPARISONS + 1),
        deeply_nested(MAX_FILTER_COMPARISONS + 1),
        // The report of the defect.
        and_chain("metrics.acc > 0.9", 990),
    ];
    for filter in too_many {
        let reply = mlflow_search(filter.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.body["error_code"], "INVALID_PARAMETER_VALUE");
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.contains("at most 200 comparisons"), "{message}");
        let native = app
            .get(&format!(
                "/api/v1/runs?experiment_id={experiment}&filter={}",
                encode(&filter)
            ))
            .await;
        assert_eq!(native.status, StatusCode::BAD_REQUEST, "{}", native.body);
        assert!(native.error_message().contains("at most 200 comparisons"));
    }

    // Experiments: the same bound on MLflow's experiments/search.
    let experiments = |filter: String| {
        let app = &app;
        async move {
            app.post(
                "/api/2.0/mlflow/experiments/search",
                json!({"filter": filter, "max_results": 10}),
            )
            .await
        }
    };
    let reply = experiments(and_chain("name = 'exp'", MAX_FILTER_COMPARISONS)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["experiments"][0]["name"], "exp");
    let reply = experiments(and_chain("name = 'exp'", MAX_FILTER_COMPARISONS + 1)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.body["error_code"], "INVALID_PARAMETER_VALUE");

    // List values: the most bound parameters a filter may produce.
    let list = |count: usize| {
        let mut values: Vec<String> = (0..count - 1).map(|i| format!("'x{i}'")).collect();
        values.push(format!("'{}'", ids[2]));
        format!("attributes.run_id IN ({})", values.join(","))
    };
    let reply = mlflow_search(list(MAX_FILTER_LIST_VALUES)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(mlflow_names(&reply.body), ["c"]);
    let reply = mlflow_search(list(MAX_FILTER_LIST_VALUES + 1)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("10000 values")
    );

    // Text length.
    let text = |length: usize| {
        let prefix = "params.optimizer != '";
        format!("{prefix}{}'", "y".repeat(length - prefix.len() - 1))
    };
    let reply = mlflow_search(text(MAX_FILTER_CHARS)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(mlflow_names(&reply.body), ["a", "b", "c"]);
    let reply = mlflow_search(text(MAX_FILTER_CHARS + 1)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("at most 100000")
    );
}
