//! Prometheus exposition, CORS and request headers.

mod common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

common::on_both_databases!(
    prometheus_exposes_requests_latency_ingest_and_pool_state,
    cors_follows_configuration,
    errors_also_carry_request_id_and_timing,
);

async fn prometheus_exposes_requests_latency_ingest_and_pool_state() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let points: Vec<_> = (0..25)
        .map(|i| json!({"key": "loss", "value": i, "step": i}))
        .collect();
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/metrics"),
            json!({ "metrics": points }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);

    let response = app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"ets_http_requests_total{method="POST",route="/api/v1/runs/{id}/metrics",status="201"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ets_http_request_duration_seconds_bucket{method="POST",route="/api/v1/runs/{id}/metrics",le="0.005"}"#),
        "latency is a histogram per route: {text}"
    );
    let ingested: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("ets_metric_points_ingested_total "))
        .expect("ingest counter")
        .parse()
        .unwrap();
    assert!(ingested >= 25.0, "{ingested}");
    // Both pools open read connections as concurrent reads need them, up to their size (4
    // in the tests): the calls above came one at a time.
    let gauge = |state: &str| -> u32 {
        let prefix = format!(r#"ets_db_read_connections{{state="{state}"}} "#);
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("{state} connections: {text}"))
            .parse()
            .unwrap()
    };
    let open = gauge("idle") + gauge("in_use");
    assert!((1..=4).contains(&open), "{text}");
    if app.database == common::Database::Sqlite {
        assert!(
            open < 4,
            "SQLite opened every read connection up front: {text}"
        );
    }
    assert!(text.contains("ets_db_write_queue_depth 0"), "{text}");

    // The API listener does not serve metrics: they have their own port.
    assert_eq!(app.get("/metrics").await.status, StatusCode::NOT_FOUND);
}

async fn cors_follows_configuration() {
    let closed = TestApp::start().await;
    let response = closed
        .client
        .get(closed.url("/health/live"))
        .header("origin", "https://ml.example.org")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "no CORS unless configured"
    );

    let open =
        TestApp::start_with(|c| c.cors.allowed_origins = vec!["https://ml.example.org".into()])
            .await;
    let preflight = open
        .client
        .request(reqwest::Method::OPTIONS, open.url("/api/v1/projects"))
        .header("origin", "https://ml.example.org")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://ml.example.org"
    );
    let other = open
        .client
        .get(open.url("/health/live"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "unlisted origins get nothing"
    );
}

async fn errors_also_carry_request_id_and_timing() {
    let app = TestApp::start().await;
    let reply = app.get("/api/v1/runs/nope").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");
    assert!(reply.headers.contains_key("x-request-id"));
    let seconds: f64 = reply.headers["x-process-time"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.0..10.0).contains(&seconds));
}
