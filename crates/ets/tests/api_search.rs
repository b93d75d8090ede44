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
    runs_ordered_by_a_metric_page_by_keyset_in_mlflow_order,
    every_run_of_a_page_carries_what_its_own_get_returns,
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

const MLFLOW: &str = "/api/2.0/mlflow";

/// Every run id `runs/search` returns for `body`, following `next_page_token` with pages of
/// `page_size`.
async fn search_all_pages(app: &TestApp, body: &Value, page_size: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let mut request = body.clone();
        request["max_results"] = json!(page_size);
        if let Some(token) = &token {
            request["page_token"] = json!(token);
        }
        let page = app.post(&format!("{MLFLOW}/runs/search"), request).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let runs = page.body["runs"].as_array().cloned().unwrap_or_default();
        assert!(runs.len() <= page_size);
        ids.extend(
            runs.iter()
                .map(|r| r["info"]["run_id"].as_str().unwrap().to_owned()),
        );
        token = page.body["next_page_token"].as_str().map(str::to_owned);
        if token.is_none() {
            return ids;
        }
    }
    panic!("more than 100 pages of {page_size}");
}

/// Which runs (by `acc`, group) a filter keeps.
type Keep = dyn Fn(Option<f64>, &str) -> bool;

/// Runs ordered by one metric are paged by keyset (the position after the last run in the
/// token): every page size gives MLflow's order (values in order with ties by newest start,
/// then id; runs without the metric or with NaN last), with ±infinity, ties of value and of
/// start time, trashed runs and another experiment's runs left out, with and without filters.
/// The token belongs to its order_by; offset tokens still work.
async fn runs_ordered_by_a_metric_page_by_keyset_in_mlflow_order() {
    let app = TestApp::start().await;
    let experiment = |name: &'static str| {
        let app = &app;
        async move {
            let reply = app
                .post(
                    &format!("{MLFLOW}/experiments/create"),
                    json!({ "name": name }),
                )
                .await;
            reply.body["experiment_id"].as_str().unwrap().to_owned()
        }
    };
    let (searched, other) = (experiment("searched").await, experiment("other").await);
    // (acc, start time, group); None: no `acc` logged.
    let plan: [(Option<&str>, i64, &str); 14] = [
        (Some("0.5"), 1000, "a"),
        (Some("0.9"), 1001, "b"),
        (Some("0.5"), 1000, "a"),
        (Some("NaN"), 1003, "a"),
        (None, 1004, "b"),
        (Some("0.1"), 1005, "a"),
        (Some("0.5"), 1006, "b"),
        (Some("Infinity"), 1007, "a"),
        (Some("-Infinity"), 1008, "b"),
        (Some("0.9"), 1001, "a"),
        (None, 1004, "a"),
        (Some("0.5"), 1011, "a"),
        (None, 1012, "b"),
        (Some("0.5"), 1000, "b"),
    ];
    let mut runs = Vec::new();
    for (i, (acc, start, group)) in plan.iter().enumerate() {
        let created = app
            .post(
                &format!("{MLFLOW}/runs/create"),
                json!({ "experiment_id": searched, "run_name": format!("r{i}"), "start_time": start }),
            )
            .await;
        let id = created.body["run"]["info"]["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let metrics: Vec<Value> = acc
            .iter()
            .map(|v| json!({ "key": "acc", "value": v, "timestamp": 1, "step": 0 }))
            .chain([json!({ "key": "loss", "value": i, "timestamp": 1, "step": 0 })])
            .collect();
        let logged = app
            .post(
                &format!("{MLFLOW}/runs/log-batch"),
                json!({ "run_id": id, "metrics": metrics, "params": [{ "key": "g", "value": group }] }),
            )
            .await;
        assert_eq!(logged.status, StatusCode::OK, "{}", logged.body);
        let value = acc
            .map(|v| v.parse::<f64>().unwrap())
            .filter(|v| !v.is_nan());
        runs.push((id, value, *start, *group));
    }
    // Left out: a trashed run and another experiment's run, both with the best acc.
    for (experiment, trash) in [(&searched, true), (&other, false)] {
        let created = app
            .post(
                &format!("{MLFLOW}/runs/create"),
                json!({ "experiment_id": experiment, "start_time": 1000 }),
            )
            .await;
        let id = created.body["run"]["info"]["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.post(
            &format!("{MLFLOW}/runs/log-metric"),
            json!({ "run_id": id, "key": "acc", "value": 2.0, "timestamp": 1, "step": 0 }),
        )
        .await;
        if trash {
            let deleted = app
                .post(&format!("{MLFLOW}/runs/delete"), json!({ "run_id": id }))
                .await;
            assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
        }
    }

    // MLflow's order, computed here: values (in the asked direction) before missing ones, then
    // the newest start, then the id.
    let expected = |ascending: bool, keep: &Keep| {
        let mut kept: Vec<_> = runs.iter().filter(|r| keep(r.1, r.3)).cloned().collect();
        kept.sort_by(|a, b| {
            let by_value = match (a.1, b.1) {
                (Some(x), Some(y)) if ascending => x.total_cmp(&y),
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            by_value.then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0))
        });
        kept.into_iter().map(|r| r.0).collect::<Vec<_>>()
    };
    let cases: [(&str, bool, &Keep); 5] = [
        ("", false, &|_, _| true),
        ("", true, &|_, _| true),
        ("params.g = 'a'", false, &|_, g| g == "a"),
        ("metrics.acc > 0.2", false, &|v, _| {
            v.is_some_and(|v| v > 0.2)
        }),
        ("metrics.acc <= 0.5 and params.g = 'b'", true, &|v, g| {
            g == "b" && v.is_some_and(|v| v <= 0.5)
        }),
    ];
    for (filter, ascending, keep) in cases {
        let order = if ascending {
            "metrics.acc ASC"
        } else {
            "metrics.acc DESC"
        };
        let body = json!({ "experiment_ids": [searched], "filter": filter, "order_by": [order] });
        let want = expected(ascending, keep);
        assert!(want.len() >= 3, "{filter}: a case worth paging");
        for page_size in [1, 2, 3, 5, 100] {
            assert_eq!(
                search_all_pages(&app, &body, page_size).await,
                want,
                "filter {filter:?}, order {order}, pages of {page_size}"
            );
        }
    }

    // A token is refused by another order_by; an offset token (as pages used to carry) works.
    let body =
        json!({ "experiment_ids": [searched], "order_by": ["metrics.acc DESC"], "max_results": 2 });
    let first = app
        .post(&format!("{MLFLOW}/runs/search"), body.clone())
        .await;
    let token = first.body["next_page_token"].as_str().unwrap().to_owned();
    for order in ["metrics.acc ASC", "metrics.loss DESC", "params.g DESC"] {
        let mut other_order = body.clone();
        other_order["order_by"] = json!([order]);
        other_order["page_token"] = json!(token);
        let refused = app
            .post(&format!("{MLFLOW}/runs/search"), other_order)
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{order}: {}",
            refused.body
        );
    }
    use base64::Engine;
    let offset_token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"offset":3}"#);
    let mut by_offset = body.clone();
    by_offset["page_token"] = json!(offset_token);
    let page = app.post(&format!("{MLFLOW}/runs/search"), by_offset).await;
    let ids: Vec<&str> = page.body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["info"]["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected(false, &|_, _| true)[3..5]);
}

/// A page of runs reads its runs' details for the whole page at once (one statement per
/// table): every run of an MLflow `runs/search` page and of a native list is what a get of that
/// run answers — typed params, tags (with the run's name and parent), latest metrics (NaN and
/// infinities included), datasets, logged models used and produced — with runs that have none
/// of them between runs that have all, in pages of every kind (one page, keyset pages by a
/// metric, offset pages, native pages) — and so is every run of the store's batch read.
async fn every_run_of_a_page_carries_what_its_own_get_returns() {
    let app = TestApp::start().await;
    let project = app.create_project("details").await;
    let experiment = app.create_experiment(&project, "details").await;
    let mut models = Vec::new();
    for _ in 0..2 {
        let model = app
            .post(
                &format!("{MLFLOW}/logged-models"),
                json!({ "experiment_id": experiment }),
            )
            .await;
        assert_eq!(model.status, StatusCode::OK, "{}", model.body);
        models.push(
            model.body["model"]["info"]["model_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut ids: Vec<String> = Vec::new();
    for i in 0..23_usize {
        let parent = (i % 5 == 4).then(|| ids[0].clone());
        let params = if i % 3 == 1 {
            json!({ "lr": 0.001 * i as f64, "layers": [i, 2 * i], "name": format!("p{i}") })
        } else {
            json!({})
        };
        let created = app
            .post(
                "/api/v1/runs",
                json!({ "experiment_id": experiment, "name": format!("r{i}"),
                        "parent_run_id": parent, "params": params,
                        "started_at": 1_000 + (i % 7) as i64 }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.id();
        let mlflow = |path: &'static str, body: Value| {
            let app = &app;
            async move {
                let reply = app.post(&format!("{MLFLOW}/{path}"), body).await;
                assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
            }
        };
        if i % 4 == 1 {
            let values = [json!(0.5), json!("NaN"), json!("Infinity"), json!(-2.5)];
            mlflow(
                "runs/log-batch",
                json!({ "run_id": id,
                        "metrics": [
                            { "key": "acc", "value": values[i % values.len()], "timestamp": 5, "step": 1 },
                            { "key": "acc", "value": 0.25, "timestamp": 4, "step": 0 },
                            { "key": "loss", "value": i, "timestamp": 6, "step": 3 },
                        ],
                        "params": [{ "key": "g", "value": if i % 2 == 0 { "a" } else { "b" } }],
                        "tags": [{ "key": "team", "value": "vision" }, { "key": "mlflow.note.content", "value": "n" }] }),
            )
            .await;
        }
        if i % 4 == 2 {
            mlflow(
                "runs/log-inputs",
                json!({ "run_id": id, "datasets": [
                    { "tags": [{ "key": "mlflow.data.context", "value": "training" }],
                      "dataset": { "name": "train", "digest": format!("d{}", i % 3), "source_type": "local", "source": "{}" } },
                    { "tags": [], "dataset": { "name": "eval", "digest": "e", "source_type": "local", "source": "{}", "schema": "{}" } },
                ] }),
            )
            .await;
            mlflow(
                "runs/log-metric",
                json!({ "run_id": id, "key": "acc", "value": 0.1 * i as f64, "timestamp": 1, "step": 0 }),
            )
            .await;
        }
        if i % 4 == 3 {
            mlflow(
                "runs/log-inputs",
                json!({ "run_id": id, "models": [{ "model_id": models[1] }, { "model_id": models[0] }] }),
            )
            .await;
            mlflow(
                "runs/outputs",
                json!({ "run_id": id, "models": [{ "model_id": models[0], "step": i }] }),
            )
            .await;
            mlflow(
                "runs/set-tag",
                json!({ "run_id": id, "key": "mlflow.parentRunId", "value": "elsewhere" }),
            )
            .await;
        }
        ids.push(id);
    }

    // What each run's own get answers, on both APIs.
    let mut mlflow_runs = std::collections::HashMap::new();
    let mut native_runs = std::collections::HashMap::new();
    for id in &ids {
        let got = app.get(&format!("{MLFLOW}/runs/get?run_id={id}")).await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.body);
        mlflow_runs.insert(id.clone(), got.body["run"].clone());
        let got = app.get(&format!("/api/v1/runs/{id}")).await;
        assert_eq!(got.status, StatusCode::OK, "{}", got.body);
        native_runs.insert(id.clone(), got.body);
    }
    let with_everything = &mlflow_runs[&ids[1]];
    assert_eq!(
        with_everything["data"]["metrics"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        with_everything["data"]["params"].as_array().unwrap().len(),
        4
    );
    assert_eq!(mlflow_runs[&ids[0]]["data"]["metrics"], json!([]));
    assert_eq!(mlflow_runs[&ids[0]]["data"]["params"], json!([]));

    for order_by in [
        json!([]),
        json!(["metrics.acc DESC"]),
        json!(["attributes.run_name"]),
    ] {
        for page_size in [1000, 7] {
            let mut seen = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut body = json!({ "experiment_ids": [experiment], "max_results": page_size, "order_by": order_by });
                if let Some(token) = &token {
                    body["page_token"] = json!(token);
                }
                let page = app.post(&format!("{MLFLOW}/runs/search"), body).await;
                assert_eq!(page.status, StatusCode::OK, "{}", page.body);
                for run in page.body["runs"].as_array().unwrap() {
                    let id = run["info"]["run_id"].as_str().unwrap().to_owned();
                    assert_eq!(
                        run, &mlflow_runs[&id],
                        "{order_by} by {page_size}: run {id}"
                    );
                    seen.push(id);
                }
                token = page.body["next_page_token"].as_str().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
            seen.sort();
            let mut all = ids.clone();
            all.sort();
            assert_eq!(seen, all, "{order_by} by {page_size}");
        }
    }

    for page_size in [100, 6] {
        let mut seen = 0;
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/runs?experiment_id={experiment}&page_size={page_size}");
            if let Some(token) = &token {
                path.push_str(&format!("&page_token={}", url_escape(token)));
            }
            let page = app.get(&path).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            for run in page.body["items"].as_array().unwrap() {
                let id = run["id"].as_str().unwrap();
                assert_eq!(run, &native_runs[id], "native by {page_size}: run {id}");
                seen += 1;
            }
            token = page.body["next_page_token"].as_str().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, ids.len(), "native by {page_size}");
    }

    // The store's batch read (the alert evaluator's): the runs asked for that exist, in the
    // order asked, each as its own get reads it; an unknown id is left out.
    let store = &app.server.services.store;
    let mut asked: Vec<String> = ids.iter().rev().step_by(2).cloned().collect();
    asked.insert(3, "0123456789abcdef0123456789abcdef".to_owned());
    let got = store.get_runs(asked.clone()).await.unwrap();
    asked.remove(3);
    let got_ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got_ids, asked);
    for run in got {
        // Compared as printed: NaN latest values are equal as text, not as floats.
        let own = store.get_run(&run.id).await.unwrap();
        assert_eq!(format!("{run:?}"), format!("{own:?}"));
    }
    assert!(store.get_runs(Vec::new()).await.unwrap().is_empty());
}
