//! Columnar bulk ingest and the chunked storage beneath every metric write.

mod common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::json;

common::on_both_databases!(
    bulk_series_land_in_one_request_and_read_back_exactly,
    bulk_input_is_checked_before_anything_is_written,
    out_of_order_and_overlapping_batches_merge_in_step_order,
);

async fn bulk_series_land_in_one_request_and_read_back_exactly() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let steps: Vec<i64> = (0..5000).collect();
    let loss: Vec<f64> = steps.iter().map(|s| 1.0 / (1.0 + *s as f64)).collect();
    let body = json!({"series": [
        {"key": "train/loss", "steps": steps, "values": loss, "timestamp": 1_000},
        {"key": "acc", "steps": [1, 2, 3], "values": [0.5, "NaN", "Infinity"], "timestamps": [10, 20, 30]},
    ]});
    let reply = app
        .post(&format!("/api/v1/runs/{run}/bulk-metrics"), body.clone())
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["written"], 5003);
    assert_eq!(reply.body["duplicates"], 0);

    let series = app
        .get(&format!("/api/v1/runs/{run}/metrics/train/loss"))
        .await;
    let points = series.body["points"].as_array().unwrap();
    assert_eq!(
        points.len(),
        5000,
        "a bulk series spans several chunks and reads back whole"
    );
    assert_eq!(
        points[4999],
        json!({"step": 4999, "timestamp": 1000, "value": 1.0 / 5000.0})
    );
    let acc = app.get(&format!("/api/v1/runs/{run}/metrics/acc")).await;
    assert_eq!(acc.body["points"][1]["value"], "NaN");
    assert_eq!(acc.body["points"][2]["value"], "Infinity");

    // Re-sending the same request is idempotent.
    let again = app
        .post(&format!("/api/v1/runs/{run}/bulk-metrics"), body)
        .await;
    assert_eq!(again.body["written"], 0);
    assert_eq!(again.body["duplicates"], 5003);
    let summary = app.get(&format!("/api/v1/runs/{run}/metrics")).await;
    let loss_summary = summary.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "train/loss")
        .unwrap();
    assert_eq!(loss_summary["count"], 5000);
    assert_eq!(loss_summary["last_step"], 4999);
    assert_eq!(loss_summary["max"], 1.0);
}

async fn bulk_input_is_checked_before_anything_is_written() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let path = format!("/api/v1/runs/{run}/bulk-metrics");
    let cases = [
        (
            json!({"series": [{"key": "a", "steps": [1, 2], "values": [1.0]}]}),
            "series[0].values",
        ),
        (
            json!({"series": [{"key": "a", "steps": [1], "values": [1.0], "timestamps": [1, 2]}]}),
            "series[0].timestamps",
        ),
        (
            json!({"series": [{"key": "ok", "steps": [1], "values": [1]}, {"key": "bad?", "steps": [1], "values": [1]}]}),
            "series[1].key",
        ),
        (
            json!({"series": [{"key": "a", "steps": [1], "values": ["high"]}]}),
            "series[0].values[0]",
        ),
        (json!({"series": []}), "series"),
    ];
    for (body, field) in cases {
        let reply = app.post(&path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
        assert_eq!(
            reply.body["error"]["details"]["field"], field,
            "{}",
            reply.body
        );
    }
    let summary = app.get(&format!("/api/v1/runs/{run}/metrics")).await;
    assert_eq!(
        summary.body["items"],
        json!([]),
        "refused requests wrote nothing"
    );
    let unknown = app
        .post(
            "/api/v1/runs/nope/bulk-metrics",
            json!({"series": [{"key": "a", "steps": [1], "values": [1]}]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn out_of_order_and_overlapping_batches_merge_in_step_order() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let path = format!("/api/v1/runs/{run}/bulk-metrics");
    // Later steps first, then earlier ones, then an overlap with one new point among repeats
    // (a repeat is identical in step, timestamp and value).
    for (steps, values, written) in [
        (vec![10, 11, 12], vec![1.0, 1.1, 1.2], 3),
        (vec![0, 1, 2], vec![0.0, 0.1, 0.2], 3),
        (vec![2, 11, 5], vec![0.2, 1.1, 0.5], 1),
    ] {
        let reply = app
            .post(
                &path,
                json!({"series": [{"key": "m", "steps": steps, "values": values, "timestamp": 7}]}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.body["written"], written, "{}", reply.body);
        assert_eq!(reply.body["duplicates"], 3 - written, "{}", reply.body);
    }
    let series = app.get(&format!("/api/v1/runs/{run}/metrics/m")).await;
    let got: Vec<(i64, f64)> = series.body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["step"].as_i64().unwrap(), p["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 0.0),
            (1, 0.1),
            (2, 0.2),
            (5, 0.5),
            (10, 1.0),
            (11, 1.1),
            (12, 1.2)
        ],
        "first value kept for repeats"
    );
    let range = app
        .get(&format!(
            "/api/v1/runs/{run}/metrics/m?start_step=2&end_step=10"
        ))
        .await;
    assert_eq!(range.body["total_points"], 3);
    let summary = app.get(&format!("/api/v1/runs/{run}/metrics")).await;
    assert_eq!(summary.body["items"][0]["count"], 7);
    assert_eq!(summary.body["items"][0]["last_value"], 1.2);
}
