//! What MLflow clients observe (issue 10, defect 3), the name and key rules (defect 13) and the
//! spec's seed shapes (defect 4), on both databases.

mod common;

use common::{Reply, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

common::on_both_databases!(
    mlflow_run_create_without_experiment_id_is_bad_request,
    long_param_and_tag_values_are_accepted_and_kept_whole,
    mlflow_log_batch_naming_a_param_twice_is_refused_and_logs_nothing,
    mlflow_history_of_an_unknown_run_is_empty,
    mlflow_get_artifact_sends_the_bytes_as_an_attachment,
    mlflow_fractional_step_and_unknown_status_stay_refused,
    names_and_keys_refuse_whitespace_only_and_bidi_controls,
    mlflow_keys_follow_mlflows_path_rule,
    experiment_objectives_take_the_specs_map_form,
    mlflow_search_datasets_lists_each_dataset_and_context_once,
    mlflow_metric_points_keep_their_model_and_dataset,
    mlflow_run_model_inputs_and_outputs_are_stored_once_and_go_with_the_run,
    mlflow_logged_model_search_orders_by_metrics_on_datasets,
);

/// A metric logged with a model and a dataset, or a dataset alone, keeps that context: in the
/// histories (one read per request), and on the model (`data.metrics`, also from search).
async fn mlflow_metric_points_keep_their_model_and_dataset() {
    let app = TestApp::start().await;
    let (experiment, run) = mlflow_run(&app).await;
    let body = mlflow_ok(
        &app,
        "logged-models",
        json!({ "experiment_id": experiment, "source_run_id": run }),
    )
    .await;
    let model = body["model"]["info"]["model_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let point = |value: Value, step: i64, extra: Value| {
        let mut p = json!({ "key": "acc", "value": value, "timestamp": 100 + step, "step": step });
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    };
    let metrics = [
        point(
            json!(0.5),
            1,
            json!({ "model_id": model, "dataset_name": "eval", "dataset_digest": "e1" }),
        ),
        point(
            json!(0.6),
            2,
            json!({ "dataset_name": "eval", "dataset_digest": "e2" }),
        ),
        point(json!("NaN"), 3, json!({ "model_id": model })),
        point(json!(0.8), 4, json!({})),
    ];
    mlflow_ok(
        &app,
        "runs/log-batch",
        json!({ "run_id": run, "metrics": metrics }),
    )
    .await;
    // Logged again: no second context row.
    mlflow_ok(
        &app,
        "runs/log-batch",
        json!({ "run_id": run, "metrics": metrics }),
    )
    .await;
    let context = |m: &Value| {
        (
            m["step"].as_i64().unwrap(),
            m["model_id"].as_str().map(str::to_owned),
            m["dataset_name"].as_str().map(str::to_owned),
            m["dataset_digest"].as_str().map(str::to_owned),
        )
    };
    let history = app
        .get(&format!(
            "{MLFLOW}/metrics/get-history?run_id={run}&metric_key=acc"
        ))
        .await;
    let got: Vec<_> = history.body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(context)
        .collect();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        got,
        [
            (1, s(&model), s("eval"), s("e1")),
            (2, None, s("eval"), s("e2")),
            (3, s(&model), None, None),
            (4, None, None, None),
        ]
    );
    let bulk = app
        .get(&format!(
            "{MLFLOW}/metrics/get-history-bulk?run_id={run}&metric_key=acc"
        ))
        .await;
    let got: Vec<_> = bulk.body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(context)
        .collect();
    assert_eq!(got.len(), 4);
    assert_eq!(got[1], (2, None, s("eval"), s("e2")));
    // The run's latest values carry no context, as in MLflow.
    let latest = mlflow_get_run(&app, &run).await["data"]["metrics"].clone();
    assert_eq!(
        latest,
        json!([{ "key": "acc", "value": 0.8, "timestamp": 104, "step": 4 }])
    );
    for found in [
        app.get(&format!("/api/2.0/mlflow/logged-models/{model}"))
            .await
            .body["model"]
            .clone(),
        mlflow_ok(
            &app,
            "logged-models/search",
            json!({ "experiment_ids": [experiment] }),
        )
        .await["models"][0]
            .clone(),
    ] {
        let got: Vec<_> = found["data"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(context)
            .collect();
        assert_eq!(
            got,
            [
                (1, s(&model), s("eval"), s("e1")),
                (3, s(&model), None, None)
            ],
            "{found}"
        );
    }
    // Half a dataset is refused with MLflow's words.
    let refused = app
        .post(
            &format!("{MLFLOW}/runs/log-metric"),
            json!({ "run_id": run, "key": "k", "value": 1, "timestamp": 1, "dataset_name": "d" }),
        )
        .await;
    assert_mlflow_error(&refused, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    // An unknown model is MLflow's BAD_REQUEST, and nothing of the batch is written.
    let refused = app
        .post(
            &format!("{MLFLOW}/runs/log-batch"),
            json!({ "run_id": run, "metrics": [point(json!(9.0), 9, json!({ "model_id": "m-nope" }))] }),
        )
        .await;
    assert_mlflow_error(&refused, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    let latest = mlflow_get_run(&app, &run).await["data"]["metrics"].clone();
    assert_eq!(latest[0]["step"], 4);
}

/// `runs/log-inputs` with models and `runs/outputs` are stored once and read back on the run;
/// deleting a model takes its links along, and a run deleted for good takes its own.
async fn mlflow_run_model_inputs_and_outputs_are_stored_once_and_go_with_the_run() {
    let app = TestApp::start().await;
    let (experiment, run) = mlflow_run(&app).await;
    let mut models = Vec::new();
    for _ in 0..3 {
        let body = mlflow_ok(
            &app,
            "logged-models",
            json!({ "experiment_id": experiment }),
        )
        .await;
        models.push(
            body["model"]["info"]["model_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut sorted = models.clone();
    sorted.sort();
    let inputs =
        json!({ "run_id": run, "models": [{ "model_id": sorted[1] }, { "model_id": sorted[0] }] });
    mlflow_ok(&app, "runs/log-inputs", inputs.clone()).await;
    mlflow_ok(&app, "runs/log-inputs", inputs).await;
    let outputs = json!({ "run_id": run, "models": [{ "model_id": sorted[2], "step": 7 }] });
    mlflow_ok(&app, "runs/outputs", outputs.clone()).await;
    mlflow_ok(&app, "runs/outputs", outputs).await;
    let got = mlflow_get_run(&app, &run).await;
    assert_eq!(
        got["inputs"]["model_inputs"],
        json!([{ "model_id": sorted[0] }, { "model_id": sorted[1] }])
    );
    assert_eq!(
        got["outputs"],
        json!({ "model_outputs": [{ "model_id": sorted[2], "step": 7 }] })
    );
    let search = mlflow_ok(
        &app,
        "runs/search",
        json!({ "experiment_ids": [experiment] }),
    )
    .await;
    assert_eq!(search["runs"][0]["outputs"], got["outputs"]);

    let refused = app
        .post(
            &format!("{MLFLOW}/runs/outputs"),
            json!({ "run_id": run, "models": [{ "model_id": "m-nope" }] }),
        )
        .await;
    assert_mlflow_error(&refused, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
    let refused = app
        .post(
            &format!("{MLFLOW}/runs/outputs"),
            json!({ "run_id": "nope", "models": [{ "model_id": sorted[0] }] }),
        )
        .await;
    assert_mlflow_error(&refused, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");

    let deleted = app
        .delete(&format!("{MLFLOW}/logged-models/{}", sorted[0]))
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let got = mlflow_get_run(&app, &run).await;
    assert_eq!(
        got["inputs"]["model_inputs"],
        json!([{ "model_id": sorted[1] }])
    );

    let deleted = app
        .delete(&format!("/api/v1/runs/{run}?permanent=true"))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let model = app
        .get(&format!("{MLFLOW}/logged-models/{}", sorted[1]))
        .await;
    assert_eq!(model.status, StatusCode::OK);
}

/// `logged-models/search` orders by a metric's latest value on a dataset (missing last) and
/// counts only the metrics of `datasets`, on both databases' batch reads of model metrics.
async fn mlflow_logged_model_search_orders_by_metrics_on_datasets() {
    let app = TestApp::start().await;
    let (experiment, run) = mlflow_run(&app).await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let body = mlflow_ok(
            &app,
            "logged-models",
            json!({ "experiment_id": experiment, "name": name }),
        )
        .await;
        ids.push(
            body["model"]["info"]["model_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        // Distinct creation times: ties are broken by id, as in MLflow.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let metric = |model: &str, value: f64, ts: i64, dataset: &str| {
        json!({ "key": "acc", "value": value, "timestamp": ts, "step": 0, "model_id": model,
                "dataset_name": dataset, "dataset_digest": "d" })
    };
    let metrics = [
        metric(&ids[0], 0.5, 1, "eval"),
        metric(&ids[0], 0.9, 2, "eval"),
        metric(&ids[1], 0.7, 1, "eval"),
        metric(&ids[1], 0.99, 3, "train"),
    ];
    mlflow_ok(
        &app,
        "runs/log-batch",
        json!({ "run_id": run, "metrics": metrics }),
    )
    .await;
    let names = |body: Value| -> Vec<String> {
        body["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["info"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let search = |extra: Value| {
        let mut body = json!({ "experiment_ids": [experiment] });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let found = mlflow_ok(&app, "logged-models/search", search(json!({}))).await;
    assert_eq!(names(found), ["c", "b", "a"]);
    let order = json!({ "order_by": [{ "field_name": "metrics.acc", "ascending": false, "dataset_name": "eval" }] });
    let found = mlflow_ok(&app, "logged-models/search", search(order)).await;
    assert_eq!(names(found), ["a", "b", "c"]);
    let order = json!({ "order_by": [{ "field_name": "metrics.acc", "ascending": false }] });
    let found = mlflow_ok(&app, "logged-models/search", search(order)).await;
    assert_eq!(names(found), ["b", "a", "c"]);
    let filtered = json!({ "filter": "metrics.acc > 0.8", "datasets": [{ "dataset_name": "eval" }],
                           "order_by": [{ "field_name": "name" }] });
    let found = mlflow_ok(&app, "logged-models/search", search(filtered)).await;
    assert_eq!(names(found), ["a"]);
    let paged = json!({ "order_by": [{ "field_name": "name" }], "max_results": 2 });
    let first = mlflow_ok(&app, "logged-models/search", search(paged.clone())).await;
    let token = first["next_page_token"].as_str().unwrap().to_owned();
    assert_eq!(names(first), ["a", "b"]);
    let mut next = paged;
    next["page_token"] = json!(token);
    let rest = mlflow_ok(&app, "logged-models/search", search(next)).await;
    assert!(rest.get("next_page_token").is_none());
    assert_eq!(names(rest), ["c"]);
}

/// `experiments/search-datasets` reads the input tags (JSON on SQLite, JSONB on PostgreSQL):
/// each (dataset, context) of the experiment once, sorted; an unknown experiment adds nothing.
async fn mlflow_search_datasets_lists_each_dataset_and_context_once() {
    let app = TestApp::start().await;
    let (experiment, run) = mlflow_run(&app).await;
    let input = |name: &str, digest: &str, context: &str| {
        json!({ "dataset": { "name": name, "digest": digest, "source_type": "http",
                             "source": "{}" },
                "tags": [{ "key": "mlflow.data.context", "value": context }] })
    };
    mlflow_ok(
        &app,
        "runs/log-inputs",
        json!({ "run_id": run, "datasets": [input("train", "d1", "training"), input("eval", "d2", "eval")] }),
    )
    .await;
    let body = mlflow_ok(&app, "runs/create", json!({ "experiment_id": experiment })).await;
    let second = body["run"]["info"]["run_id"].as_str().unwrap().to_owned();
    mlflow_ok(
        &app,
        "runs/log-inputs",
        json!({ "run_id": second, "datasets": [input("train", "d1", "training"), input("train", "d1b", "tuning")] }),
    )
    .await;
    let found = mlflow_ok(
        &app,
        "experiments/search-datasets",
        json!({ "experiment_ids": [experiment, "999999"] }),
    )
    .await;
    let summaries: Vec<(String, String, String)> = found["dataset_summaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["digest"].as_str().unwrap().to_owned(),
                d["context"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("eval", "d2", "eval"),
        ("train", "d1", "training"),
        ("train", "d1b", "tuning"),
    ];
    assert_eq!(
        summaries,
        expected.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    let refused = app
        .post(
            &format!("{MLFLOW}/experiments/search-datasets"),
            json!({ "experiment_ids": [] }),
        )
        .await;
    assert_mlflow_error(&refused, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
}

const MLFLOW: &str = "/api/2.0/mlflow";

fn assert_mlflow_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error_code"], code, "{}", reply.body);
}

/// POSTs an MLflow call that must succeed; returns its body.
async fn mlflow_ok(app: &TestApp, path: &str, body: Value) -> Value {
    let reply = app.post(&format!("{MLFLOW}/{path}"), body.clone()).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{path} {body}: {}",
        reply.body
    );
    reply.body
}

async fn mlflow_run(app: &TestApp) -> (String, String) {
    let name = format!("e-{}", ets_domain::new_id());
    let body = mlflow_ok(app, "experiments/create", json!({ "name": name })).await;
    let experiment = body["experiment_id"].as_str().unwrap().to_owned();
    let body = mlflow_ok(app, "runs/create", json!({ "experiment_id": experiment })).await;
    let run = body["run"]["info"]["run_id"].as_str().unwrap().to_owned();
    (experiment, run)
}

async fn mlflow_get_run(app: &TestApp, run: &str) -> Value {
    let reply = app.get(&format!("{MLFLOW}/runs/get?run_id={run}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["run"].clone()
}

/// `key → value` of an MLflow `[{key, value}]` list.
fn entries(list: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|kv| {
                    (
                        kv["key"].as_str().unwrap().to_owned(),
                        kv["value"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `len` characters of deterministic, incompressible text.
fn noise(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_./";
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

async fn runs_in_default_experiment(app: &TestApp) -> usize {
    let reply = app
        .post(
            &format!("{MLFLOW}/runs/search"),
            json!({ "experiment_ids": ["0"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["runs"].as_array().map_or(0, Vec::len)
}

async fn mlflow_run_create_without_experiment_id_is_bad_request() {
    let app = TestApp::start().await;
    for body in [
        json!({}),
        json!({ "experiment_id": "" }),
        json!({ "run_name": "r" }),
    ] {
        let reply = app.post(&format!("{MLFLOW}/runs/create"), body).await;
        assert_mlflow_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
        assert!(
            reply.body["message"]
                .as_str()
                .unwrap()
                .contains("experiment_id"),
            "{}",
            reply.body
        );
    }
    assert_eq!(runs_in_default_experiment(&app).await, 0);
}

async fn long_param_and_tag_values_are_accepted_and_kept_whole() {
    let app = TestApp::start().await;
    let (_, run) = mlflow_run(&app).await;
    // Text that does not compress (a B-tree index of PostgreSQL holds only ~2.7 kB of it).
    let param = noise(6001);
    let tag = noise(8001);
    mlflow_ok(
        &app,
        "runs/log-parameter",
        json!({ "run_id": run, "key": "long", "value": param }),
    )
    .await;
    mlflow_ok(
        &app,
        "runs/set-tag",
        json!({ "run_id": run, "key": "long", "value": tag }),
    )
    .await;
    mlflow_ok(
        &app,
        "runs/log-batch",
        json!({ "run_id": run,
                "params": [{ "key": "batch", "value": param }],
                "tags": [{ "key": "batch", "value": tag }] }),
    )
    .await;
    let got = mlflow_get_run(&app, &run).await;
    assert_eq!(
        entries(&got["data"]["params"]),
        vec![
            ("batch".to_owned(), param.clone()),
            ("long".to_owned(), param.clone())
        ]
    );
    let tags = entries(&got["data"]["tags"]);
    assert!(tags.contains(&("long".to_owned(), tag.clone())));
    assert!(tags.contains(&("batch".to_owned(), tag.clone())));

    // The native API is not stricter for the same data.
    let (_, experiment, _) = app.create_hierarchy().await;
    let reply = app
        .post(
            "/api/v1/runs",
            json!({ "experiment_id": experiment, "params": { "long": param }, "tags": { "long": tag } }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["params"]["long"], json!(param));
    assert_eq!(reply.body["tags"]["long"], json!(tag));
}

async fn mlflow_log_batch_naming_a_param_twice_is_refused_and_logs_nothing() {
    let app = TestApp::start().await;
    let (_, run) = mlflow_run(&app).await;
    let reply = app
        .post(
            &format!("{MLFLOW}/runs/log-batch"),
            json!({ "run_id": run,
                    "metrics": [{ "key": "m", "value": 1.0, "timestamp": 1000, "step": 0 }],
                    "params": [{ "key": "lr", "value": "0.1" }, { "key": "lr", "value": "0.1" }] }),
        )
        .await;
    assert_mlflow_error(&reply, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("Duplicate parameter keys have been submitted"),
        "{}",
        reply.body
    );
    let got = mlflow_get_run(&app, &run).await;
    assert_eq!(entries(&got["data"]["params"]), vec![]);
    assert!(
        got["data"]["metrics"]
            .as_array()
            .is_none_or(|m| m.is_empty()),
        "{got}"
    );
}

async fn mlflow_history_of_an_unknown_run_is_empty() {
    let app = TestApp::start().await;
    let unknown = "0123456789abcdef0123456789abcdef";
    for path in [
        format!("{MLFLOW}/metrics/get-history?run_id={unknown}&metric_key=loss"),
        format!("/ajax-api/2.0/mlflow/metrics/get-history?run_uuid={unknown}&metric_key=loss"),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body, json!({ "metrics": [] }));
    }
}

async fn mlflow_get_artifact_sends_the_bytes_as_an_attachment() {
    let app = TestApp::start().await;
    let (_, run) = mlflow_run(&app).await;
    for (path, content) in [
        ("model/MLmodel", b"flavors: {}\n".to_vec()),
        ("plots/loss.png", vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3]),
    ] {
        let reply = app
            .post_raw(
                &format!("/api/v1/runs/{run}/artifacts?path={path}"),
                content,
                "application/octet-stream",
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    for (query, content, content_type, file_name) in [
        (
            format!("run_id={run}&path=model/MLmodel"),
            b"flavors: {}\n".to_vec(),
            "text/plain",
            "MLmodel",
        ),
        (
            format!("run_uuid={run}&path=plots%2Floss.png"),
            vec![0x89, b'P', b'N', b'G', 0, 1, 2, 3],
            "image/png",
            "loss.png",
        ),
    ] {
        let response = app
            .client
            .get(app.url(&format!("/get-artifact?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), content_type);
        assert!(
            header("content-disposition").starts_with("attachment")
                && header("content-disposition").contains(file_name),
            "{}",
            header("content-disposition")
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(response.bytes().await.unwrap().to_vec(), content);
    }
    // A missing file or run is MLflow's 404; a path that would leave the run a 400.
    let reply = app
        .get(&format!("/get-artifact?run_id={run}&path=nope.txt"))
        .await;
    assert_mlflow_error(&reply, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
    let reply = app
        .get("/get-artifact?run_id=0123456789abcdef0123456789abcdef&path=model/MLmodel")
        .await;
    assert_mlflow_error(&reply, StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST");
    let reply = app
        .get(&format!("/get-artifact?run_id={run}&path=../x"))
        .await;
    assert_mlflow_error(&reply, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
}

/// Deliberate differences (README): MLflow answers 200 to both but keeps neither value as
/// sent (its protobuf parser drops the step to 0 and ignores the unknown status).
async fn mlflow_fractional_step_and_unknown_status_stay_refused() {
    let app = TestApp::start().await;
    let (_, run) = mlflow_run(&app).await;
    let reply = app
        .post(
            &format!("{MLFLOW}/runs/log-metric"),
            json!({ "run_id": run, "key": "m", "value": 1.0, "timestamp": 1000, "step": 1.5 }),
        )
        .await;
    assert_mlflow_error(&reply, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    assert!(reply.body["message"].as_str().unwrap().contains("1.5"));
    let reply = app
        .post(
            &format!("{MLFLOW}/runs/update"),
            json!({ "run_id": run, "status": "PAUSED" }),
        )
        .await;
    assert_mlflow_error(&reply, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    let got = mlflow_get_run(&app, &run).await;
    assert_eq!(got["info"]["status"], "RUNNING");
    assert!(
        got["data"]["metrics"]
            .as_array()
            .is_none_or(|m| m.is_empty())
    );
}

async fn names_and_keys_refuse_whitespace_only_and_bidi_controls() {
    let app = TestApp::start().await;
    let (project, experiment, run) = app.create_hierarchy().await;
    let invalid = |reply: &Reply, field: &str| {
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["error"]["details"]["field"], field,
            "{}",
            reply.body
        );
    };
    // Native API: names, then keys of tags and params.
    let cases = [
        (
            "/api/v1/projects".to_owned(),
            json!({ "name": "invoice\u{202E}fdp.exe" }),
            "name",
        ),
        (
            "/api/v1/experiments".to_owned(),
            json!({ "project_id": project, "name": "\u{2066}baseline\u{2069}" }),
            "name",
        ),
        (
            "/api/v1/runs".to_owned(),
            json!({ "experiment_id": experiment, "name": "\u{3000}\u{00A0} " }),
            "name",
        ),
        (
            format!("/api/v1/runs/{run}"),
            json!({ "tags": { "  ": "x" } }),
            "tags.  ",
        ),
        (
            format!("/api/v1/runs/{run}"),
            json!({ "params": { "lr\u{202D}": 1 } }),
            "params.lr\u{202D}",
        ),
    ];
    for (path, body, field) in cases {
        let reply = if path.starts_with("/api/v1/runs/") {
            app.put(&path, body).await
        } else {
            app.post(&path, body).await
        };
        invalid(&reply, field);
    }
    // Values are data: a tag value may hold any text.
    let reply = app
        .put(
            &format!("/api/v1/runs/{run}"),
            json!({ "tags": { "note": "abc\u{202E}def" } }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["tags"]["note"], "abc\u{202E}def");

    // MLflow API: INVALID_PARAMETER_VALUE, nothing stored.
    let (_, mlflow_run) = mlflow_run(&app).await;
    for (path, body) in [
        ("experiments/create", json!({ "name": "exp\u{202E}" })),
        ("experiments/create", json!({ "name": " \t " })),
        (
            "runs/update",
            json!({ "run_id": mlflow_run, "run_name": "a\u{2068}b" }),
        ),
        (
            "runs/log-parameter",
            json!({ "run_id": mlflow_run, "key": "   ", "value": "1" }),
        ),
        (
            "runs/set-tag",
            json!({ "run_id": mlflow_run, "key": " ", "value": "1" }),
        ),
        (
            "runs/log-metric",
            json!({ "run_id": mlflow_run, "key": "acc\u{202B}", "value": 1.0, "timestamp": 1 }),
        ),
    ] {
        let reply = app.post(&format!("{MLFLOW}/{path}"), body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["error_code"], "INVALID_PARAMETER_VALUE",
            "{body}"
        );
    }
    let got = mlflow_get_run(&app, &mlflow_run).await;
    assert_eq!(entries(&got["data"]["params"]), vec![]);
    assert!(
        entries(&got["data"]["tags"])
            .iter()
            .all(|(k, _)| !k.trim().is_empty())
    );
}

async fn mlflow_keys_follow_mlflows_path_rule() {
    let app = TestApp::start().await;
    let (_, run) = mlflow_run(&app).await;
    for key in ["a/", "a//b", "./a", "a/./b", "..a", "/a"] {
        let reply = app
            .post(
                &format!("{MLFLOW}/runs/log-parameter"),
                json!({ "run_id": run, "key": key, "value": "1" }),
            )
            .await;
        assert_mlflow_error(&reply, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
    }
    for key in ["a.b/c", "train/loss", "x:y", "a..b"] {
        mlflow_ok(
            &app,
            "runs/log-parameter",
            json!({ "run_id": run, "key": key, "value": "1" }),
        )
        .await;
    }
}

async fn experiment_objectives_take_the_specs_map_form() {
    let app = TestApp::start().await;
    let project = app.create_project("p").await;
    let reply = app
        .post(
            "/api/v1/experiments",
            json!({
                "project_id": project,
                "name": "healthcare",
                "objectives": {
                    "accuracy": { "target": 0.95, "required": true },
                    "crisis_detection_rate": { "target": 0.99, "required": true },
                    "response_quality": { "target": 0.8, "required": false },
                    "loss": { "direction": "minimize" }
                }
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let mut objectives = reply.body["objectives"].as_array().unwrap().clone();
    objectives.sort_by_key(|o| o["metric"].as_str().unwrap().to_owned());
    assert_eq!(
        objectives,
        vec![
            json!({ "metric": "accuracy", "direction": "maximize", "target": 0.95, "required": true }),
            json!({ "metric": "crisis_detection_rate", "direction": "maximize", "target": 0.99, "required": true }),
            json!({ "metric": "loss", "direction": "minimize", "target": null, "required": false }),
            json!({ "metric": "response_quality", "direction": "maximize", "target": 0.8, "required": false }),
        ]
    );
    // The list form still works, on update too, and the map form is validated like the list.
    let id = reply.id();
    let reply = app
        .put(
            &format!("/api/v1/experiments/{id}"),
            json!({ "objectives": { "f1": { "target": 0.5 } } }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["objectives"],
        json!([{ "metric": "f1", "direction": "maximize", "target": 0.5, "required": false }])
    );
    for objectives in [json!({ "bad?key": {} }), json!({ "f1": { "goal": 1 } })] {
        let reply = app
            .put(
                &format!("/api/v1/experiments/{id}"),
                json!({ "objectives": objectives }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
    }
}
