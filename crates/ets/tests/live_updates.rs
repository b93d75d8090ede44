//! Live updates: the Server-Sent Events streams of runs and experiments, on SQLite and
//! PostgreSQL, and across two `ets serve` instances sharing a PostgreSQL database.

mod common;

use std::time::Duration;

use common::sse::{Item, open};
use common::{TestApp, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn run_stream(app: &TestApp, run: &str) -> String {
    app.url(&format!("/api/v1/runs/{run}/stream"))
}

fn experiment_stream(app: &TestApp, experiment: &str) -> String {
    app.url(&format!("/api/v1/experiments/{experiment}/stream"))
}

async fn log(app: &TestApp, run: &str, points: &[(&str, f64, i64)]) {
    let metrics: Vec<Value> = points
        .iter()
        .map(|(key, value, step)| json!({ "key": key, "value": value, "step": step }))
        .collect();
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/metrics"),
            json!({ "metrics": metrics }),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
}

async fn run_stream_carries_metrics_and_status() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let mut stream = open(&run_stream(&app, &run), None).await.unwrap();
    let (_, ready) = stream.expect("ready").await;
    assert_eq!(ready["run"]["id"], run.as_str());
    assert_eq!(ready["run"]["status"], "running");

    // Native API.
    log(
        &app,
        &run,
        &[("loss", 0.5, 1), ("loss", 0.25, 2), ("acc", 0.9, 2)],
    )
    .await;
    let (id, metrics) = stream.expect("metrics").await;
    let id = id.expect("metrics events carry an id");
    assert_eq!(id.len(), 32);
    assert_eq!(metrics["id"], id.as_str());
    assert_eq!(metrics["run_id"], run.as_str());
    assert_eq!(metrics["experiment_id"], experiment.as_str());
    assert_eq!(metrics["truncated"], false);
    let loss = &metrics["metrics"][0];
    assert_eq!(loss["key"], "loss");
    assert_eq!(loss["count"], 2);
    assert_eq!(
        (loss["first_step"].as_i64(), loss["last_step"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(loss["last_value"], 0.25);
    assert_eq!(
        (loss["min"].as_f64(), loss["max"].as_f64()),
        (Some(0.25), Some(0.5))
    );
    assert_eq!(loss["points"][0]["value"], 0.5);
    assert_eq!(loss["points"][1]["step"], 2);
    assert_eq!(metrics["metrics"][1]["key"], "acc");

    // The MLflow API goes through the same service functions.
    let reply = app
        .post(
            "/api/2.0/mlflow/runs/log-batch",
            json!({ "run_id": run, "metrics": [
                { "key": "loss", "value": 0.125, "timestamp": 1_700_000_000_000_i64, "step": 3 }
            ] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let (id2, metrics) = stream.expect("metrics").await;
    assert!(id2.expect("id") > id, "ids are time-ordered");
    assert_eq!(metrics["metrics"][0]["last_value"], 0.125);
    assert_eq!(
        metrics["metrics"][0]["last_timestamp"],
        1_700_000_000_000_i64
    );

    // A large batch carries summaries only.
    let bulk = app
        .post(
            &format!("/api/v1/runs/{run}/bulk-metrics"),
            json!({ "series": [{ "key": "big", "steps": (0..1000).collect::<Vec<i64>>(),
                                 "values": (0..1000).map(|i| i as f64).collect::<Vec<f64>>() }] }),
        )
        .await;
    assert!(bulk.status.is_success(), "{}", bulk.body);
    let (_, metrics) = stream.expect("metrics").await;
    assert_eq!(metrics["truncated"], true);
    assert_eq!(metrics["metrics"][0]["count"], 1000);
    assert_eq!(metrics["metrics"][0]["last_value"], 999.0);
    assert!(metrics["metrics"][0].get("points").is_none());

    // Status changes: native finish, MLflow update (resume).
    let finished = app
        .post(&format!("/api/v1/runs/{run}/finish"), json!({}))
        .await;
    assert_eq!(finished.status, StatusCode::OK, "{}", finished.body);
    let (_, status) = stream.expect("run_status").await;
    assert_eq!(status["status"], "finished");
    assert!(status["ended_at"].is_string(), "{status}");
    let reply = app
        .post(
            "/api/2.0/mlflow/runs/update",
            json!({ "run_id": run, "status": "FAILED" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let (_, status) = stream.expect("run_status").await;
    assert_eq!(status["status"], "failed");

    // Other runs' events are not on this stream.
    let other = app.create_run(&experiment).await;
    log(&app, &other, &[("loss", 1.0, 0)]).await;
    stream.expect_quiet(Duration::from_millis(300)).await;
    drop(stream);
    app.server.stop().await.expect("stops with a stream open");
}

async fn experiment_stream_carries_runs_and_summaries() {
    let app = TestApp::start().await;
    let (project, experiment, first) = app.create_hierarchy().await;
    let mut stream = open(&experiment_stream(&app, &experiment), None)
        .await
        .unwrap();
    let (_, ready) = stream.expect("ready").await;
    assert_eq!(ready["experiment"]["id"], experiment.as_str());
    assert_eq!(ready["run_count"], 1);

    let run = app.create_run(&experiment).await;
    // With PostgreSQL, events travel through the database, so the creation of `first` (which
    // `ready` already counts) may still arrive: events may repeat what `ready` shows.
    let (_, mut created) = stream.expect("run_created").await;
    if created["run_id"] == first.as_str() {
        created = stream.expect("run_created").await.1;
    }
    assert_eq!(created["run_id"], run.as_str());
    assert_eq!(created["experiment_id"], experiment.as_str());
    assert_eq!(created["status"], "running");
    assert!(created["name"].is_string());

    log(&app, &first, &[("loss", 0.5, 1)]).await;
    let (_, metrics) = stream.expect("metrics").await;
    assert_eq!(metrics["run_id"], first.as_str());
    assert_eq!(metrics["metrics"][0]["last_value"], 0.5);
    assert!(
        metrics["metrics"][0].get("points").is_none(),
        "experiment streams carry summaries: {metrics}"
    );

    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/finish"),
            json!({ "status": "killed" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let (_, status) = stream.expect("run_status").await;
    assert_eq!(status["run_id"], run.as_str());
    assert_eq!(status["status"], "killed");

    // Another experiment's runs are not on this stream.
    let elsewhere = app.create_experiment(&project, "other").await;
    app.create_run(&elsewhere).await;
    stream.expect_quiet(Duration::from_millis(300)).await;
}

async fn last_event_id_resumes_or_resets() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let mut stream = open(&run_stream(&app, &run), None).await.unwrap();
    stream.expect("ready").await;
    // A second client stays connected, to know when the bus has handled the events.
    let mut watcher = open(&run_stream(&app, &run), None).await.unwrap();
    watcher.expect("ready").await;
    log(&app, &run, &[("loss", 1.0, 1)]).await;
    let (seen, _) = stream.expect("metrics").await;
    let seen = seen.unwrap();
    drop(stream);

    // Missed while disconnected.
    log(&app, &run, &[("loss", 2.0, 2)]).await;
    app.post(&format!("/api/v1/runs/{run}/finish"), json!({}))
        .await;
    watcher.expect("metrics").await;
    watcher.expect("metrics").await;
    watcher.expect("run_status").await;

    let mut stream = open(&run_stream(&app, &run), Some(&seen)).await.unwrap();
    let (ready_id, ready) = stream.expect("ready").await;
    assert_eq!(ready_id, None, "a resume keeps the client's position");
    assert_eq!(ready["run"]["status"], "finished");
    let (_, data) = stream.expect("metrics").await;
    assert_eq!(data["metrics"][0]["last_value"], 2.0);
    let (_, data) = stream.expect("run_status").await;
    assert_eq!(data["status"], "finished");
    // …and the stream goes on live.
    log(&app, &run, &[("loss", 3.0, 3)]).await;
    let (_, data) = stream.expect("metrics").await;
    assert_eq!(data["metrics"][0]["last_value"], 3.0);

    // An id the instance does not know: reset, then the state.
    let mut stream = open(
        &run_stream(&app, &run),
        Some("0123456789abcdef0123456789abcdef"),
    )
    .await
    .unwrap();
    let (reset_id, reset) = stream.expect("reset").await;
    assert!(reset["reason"].as_str().unwrap().contains("Last-Event-ID"));
    let (ready_id, ready) = stream.expect("ready").await;
    assert_eq!(ready["run"]["status"], "finished");
    assert_eq!(reset_id, ready_id, "both name the current position");
    assert!(ready_id.is_some());
}

async fn heartbeats_and_refusals() {
    let app = TestApp::start_with(|config| {
        config.live.heartbeat_seconds = 1;
        config.live.max_connections = 1;
    })
    .await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let mut stream = open(&run_stream(&app, &run), None).await.unwrap();
    stream.expect("ready").await;
    let heartbeat = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Item::Comment(text)) = stream.items.recv().await {
                return text;
            }
        }
    })
    .await
    .expect("a heartbeat comment arrives");
    assert_eq!(heartbeat, "heartbeat");

    let (status, body) = open(&experiment_stream(&app, &experiment), None)
        .await
        .err()
        .expect("over live.max_connections");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    drop(stream);
    tokio::time::sleep(Duration::from_millis(200)).await;

    for url in [
        app.url("/api/v1/runs/0123456789abcdef0123456789abcdef/stream"),
        app.url("/api/v1/experiments/0123456789abcdef0123456789abcdef/stream"),
    ] {
        let (status, body) = open(&url, None).await.err().expect("unknown id");
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    // The refused streams gave their slot back.
    let mut stream = open(&experiment_stream(&app, &experiment), None)
        .await
        .unwrap();
    stream.expect("ready").await;
}

/// Single points logged as fast as one client can (PostgreSQL publishes what queued up in a
/// few milliseconds with one `pg_notify`): the stream carries every one, in order.
async fn a_burst_of_single_points_arrives_whole_and_in_order() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let mut stream = open(&run_stream(&app, &run), None).await.unwrap();
    stream.expect("ready").await;
    const POINTS: i64 = 300;
    for step in 0..POINTS {
        log(&app, &run, &[("loss", step as f64, step)]).await;
    }
    let mut steps = Vec::new();
    while steps.len() < POINTS as usize {
        let (_, metrics) = stream.expect("metrics").await;
        for point in metrics["metrics"][0]["points"].as_array().expect("points") {
            steps.push(point["step"].as_i64().expect("a step"));
        }
    }
    assert_eq!(steps, (0..POINTS).collect::<Vec<_>>());
}

on_both_databases!(
    a_burst_of_single_points_arrives_whole_and_in_order,
    run_stream_carries_metrics_and_status,
    experiment_stream_carries_runs_and_summaries,
    last_event_id_resumes_or_resets,
    heartbeats_and_refusals,
);

/// When the `LISTEN` connection is lost, subscribers get `reset`, and events flow again once
/// the instance has reconnected.
#[tokio::test]
async fn lost_listen_connection_resets_and_recovers() {
    common::on_database(common::Database::Postgres, async {
        let app = TestApp::start().await;
        let (_, _, run) = app.create_hierarchy().await;
        let mut stream = open(&run_stream(&app, &run), None).await.unwrap();
        stream.expect("ready").await;
        let url = app.database_url.clone().expect("a PostgreSQL app");
        let schema = url.rsplit("search_path%3D").next().unwrap();
        let channel = ets::live::postgres::channel_for(schema);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let killed = client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1",
                &[&format!("LISTEN \"{channel}\"")],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        assert_eq!(killed, 1, "one LISTEN connection for {channel}");
        let (_, reset) = stream.expect("reset").await;
        assert!(reset["reason"].as_str().unwrap().contains("reconnected"));
        log(&app, &run, &[("loss", 1.0, 1)]).await;
        let (_, metrics) = stream.expect("metrics").await;
        assert_eq!(metrics["metrics"][0]["last_value"], 1.0);
    })
    .await;
}

/// Two `ets serve` processes on one PostgreSQL schema: a client following a run on B sees the
/// points logged through A within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_instances_through_postgres() {
    if common::pg_test_url().is_none() {
        return;
    }
    // reqwest is built without a default crypto provider (ring is installed by ETS itself).
    ets::install_crypto_provider();
    let schema = common::create_pg_schema().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let serve = |dir: &std::path::Path| {
        let mut command = common::process::ets();
        command
            .args(["serve", "--port", "0", "--metrics-port", "0", "--data-dir"])
            .arg(dir)
            .args(["--database-url", &schema.url]);
        common::process::Served::spawn(command).0
    };
    let a = tokio::task::block_in_place(|| serve(dirs[0].path()));
    let b = tokio::task::block_in_place(|| serve(dirs[1].path()));
    let client = reqwest::Client::new();
    let post = |base: &str, path: &str, body: Value| {
        let request = client.post(format!("{base}{path}")).json(&body);
        let path = path.to_owned();
        async move {
            let response = request.send().await.expect("request");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or_default();
            assert!(status.is_success(), "{path}: {status} {body}");
            body
        }
    };
    let project = post(&a.base, "/api/v1/projects", json!({ "name": "live" })).await;
    let experiment = post(
        &a.base,
        "/api/v1/experiments",
        json!({ "project_id": project["id"], "name": "x" }),
    )
    .await;
    let experiment = experiment["id"].as_str().unwrap().to_owned();
    let mut on_b = open(
        &format!("{}/api/v1/experiments/{experiment}/stream", b.base),
        None,
    )
    .await
    .unwrap();
    on_b.expect("ready").await;
    let run = post(
        &a.base,
        "/api/v1/runs",
        json!({ "experiment_id": experiment }),
    )
    .await;
    let run = run["id"].as_str().unwrap().to_owned();
    let (_, created) = on_b.expect("run_created").await;
    assert_eq!(created["run_id"], run.as_str());

    let mut run_on_b = open(&format!("{}/api/v1/runs/{run}/stream", b.base), None)
        .await
        .unwrap();
    run_on_b.expect("ready").await;
    for step in 0..3 {
        let logged = std::time::Instant::now();
        post(
            &a.base,
            &format!("/api/v1/runs/{run}/metrics"),
            json!({ "key": "loss", "value": 1.0 / (step + 1) as f64, "step": step }),
        )
        .await;
        let (_, event, data) = run_on_b.next_event_within(Duration::from_secs(1)).await;
        assert_eq!(event, "metrics", "{data}");
        assert_eq!(data["metrics"][0]["points"][0]["step"], step);
        assert!(
            logged.elapsed() < Duration::from_secs(1),
            "B saw A's points within a second ({:?})",
            logged.elapsed()
        );
    }

    // Resume on A with an id received from B: every instance keeps the same stream.
    let mut seen = None;
    for _ in 0..3 {
        let (id, _) = on_b.expect("metrics").await;
        seen = id;
    }
    post(&b.base, &format!("/api/v1/runs/{run}/finish"), json!({})).await;
    let (_, status) = on_b.expect("run_status").await;
    assert_eq!(status["status"], "finished");
    let mut on_a = open(
        &format!("{}/api/v1/experiments/{experiment}/stream", a.base),
        seen.as_deref(),
    )
    .await
    .unwrap();
    on_a.expect("ready").await;
    let (_, status) = on_a.expect("run_status").await;
    assert_eq!(status["run_id"], run.as_str());

    drop((on_a, on_b, run_on_b));
    a.kill();
    b.kill();
    common::drop_pg_schema(&schema.name).await;
}
