//! Alerts (issue 14) on SQLite and PostgreSQL: rules fire and resolve after commit, alerts are
//! listed, acknowledged, streamed and audited, and a real HTTP receiver gets exactly the
//! expected signed webhook deliveries — through retries and across a server restart.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use common::{TestApp, on_both_databases};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

/// The contract's deadline for a delivery.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(10);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    headers: HeaderMap,
    body: Bytes,
    /// What the receiver answered.
    status: u16,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .expect("a text header")
            .to_owned()
    }
}

/// A webhook receiver on loopback: records every request, and answers 503 to the next
/// `failures` requests, 200 afterwards.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    failures: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(failures: usize) -> Receiver {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let failures = Arc::new(AtomicUsize::new(failures));
        let (h, f) = (hits.clone(), failures.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (hits, failures) = (h.clone(), f.clone());
                async move {
                    let fail = failures
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let status = if fail {
                        AxumStatus::SERVICE_UNAVAILABLE
                    } else {
                        AxumStatus::OK
                    };
                    hits.lock().unwrap().push(Hit {
                        headers,
                        body,
                        status: status.as_u16(),
                    });
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Receiver {
            url,
            hits,
            failures,
            task,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until `n` requests came in (panics after the deadline).
    async fn wait_for(&self, n: usize) -> Vec<Hit> {
        let deadline = Instant::now() + DELIVERY_DEADLINE;
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "{n} deliveries expected within {DELIVERY_DEADLINE:?}; got {}",
                hits.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn log_loss(app: &TestApp, run: &str, step: i64, value: f64) {
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/metrics"),
            json!({ "metrics": [{ "key": "loss", "value": value, "step": step }] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

/// Polls `GET path` until `done` holds for the answer (the evaluator runs after commit).
async fn eventually(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    loop {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        if done(&reply.body) {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} never satisfied the test: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates a rule on `loss` of the experiment, delivered to `receiver` and signed with `secret`.
async fn loss_rule(
    app: &TestApp,
    experiment: &str,
    condition: &str,
    threshold: f64,
    receiver: &Receiver,
    secret: &str,
) -> Value {
    let rule = app
        .post(
            "/api/v1/alerts/rules",
            json!({ "experiment_id": experiment, "metric": "loss", "condition": condition,
                    "threshold": threshold, "webhook_url": receiver.url, "secret": secret }),
        )
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.body);
    rule.body
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("items")
}

/// The contract: a point breaching the rule reaches the webhook, signed, and the alert
/// is listed; a later point below the threshold resolves it; a rule never fires twice for one
/// open alert; acknowledging a resolved alert is a conflict.
async fn a_breaching_point_is_delivered_signed_and_resolves_when_it_clears() {
    let receiver = Receiver::start(0).await;
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let rule = loss_rule(&app, &experiment, ">", 5.0, &receiver, "s3cret").await;
    assert_eq!(rule["name"], "loss > 5");
    assert_eq!(rule["has_secret"], true);
    assert!(
        !rule.to_string().contains("s3cret"),
        "the secret is never shown"
    );
    let rule_id = rule["id"].as_str().unwrap().to_owned();

    log_loss(&app, &run, 1, 1.0).await;
    log_loss(&app, &run, 2, 7.5).await;
    let hits = receiver.wait_for(1).await;
    let hit = &hits[0];
    assert_eq!(
        hit.header("x-ets-signature"),
        hmac_hex("s3cret", &hit.body),
        "X-ETS-Signature is the HMAC-SHA256 of the exact body"
    );
    let body = hit.json();
    assert_eq!(body["event"], "alert.firing");
    assert_eq!(hit.header("x-ets-event"), "alert.firing");
    assert_eq!(hit.header("x-ets-delivery"), body["delivery_id"]);
    assert_eq!(hit.header("idempotency-key"), body["delivery_id"]);
    assert_eq!(body["alert"]["run_id"], run.as_str());
    assert_eq!(body["alert"]["value"], 7.5);
    assert_eq!(body["rule"]["id"], rule_id.as_str());
    assert_eq!(body["run"]["experiment_id"], experiment.as_str());

    let listed = app.get("/api/v1/alerts").await;
    assert_eq!(items(&listed.body).len(), 1, "{}", listed.body);
    let alert = &items(&listed.body)[0];
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["rule_id"], rule_id.as_str());
    assert_eq!(alert["message"], "loss is 7.5, > 5");
    let alert_id = alert["id"].as_str().unwrap().to_owned();

    // Still breaching: no second alert. A second run breaching afterwards is evaluated after
    // the first (runs are judged in the order they were written), so its delivery marks the
    // point where a duplicate of the first would have been sent.
    log_loss(&app, &run, 3, 9.0).await;
    let other = app.create_run(&experiment).await;
    log_loss(&app, &other, 1, 6.0).await;
    let hits = receiver.wait_for(2).await;
    assert_eq!(hits[1].json()["alert"]["run_id"], other.as_str());

    // Back under the threshold: resolved, and the receiver hears it.
    log_loss(&app, &run, 4, 2.0).await;
    let hits = receiver.wait_for(3).await;
    let resolved = hits[2].json();
    assert_eq!(resolved["event"], "alert.resolved");
    assert_eq!(resolved["alert"]["id"], alert_id.as_str());
    assert_eq!(resolved["alert"]["state"], "resolved");
    let alert = app.get(&format!("/api/v1/alerts/{alert_id}")).await;
    assert_eq!(alert.body["state"], "resolved");
    assert!(alert.body["resolved_at"].is_string());
    let refused = app
        .post(&format!("/api/v1/alerts/{alert_id}/acknowledge"), json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);

    // The open alert of the other run is acknowledged; again is harmless.
    let open = app.get("/api/v1/alerts?state=firing").await;
    assert_eq!(items(&open.body).len(), 1, "{}", open.body);
    let open_id = items(&open.body)[0]["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let acknowledged = app
            .post(&format!("/api/v1/alerts/{open_id}/acknowledge"), json!({}))
            .await;
        assert_eq!(acknowledged.status, StatusCode::OK, "{}", acknowledged.body);
        assert_eq!(acknowledged.body["state"], "acknowledged");
        assert_eq!(acknowledged.body["acknowledged_by"], "anonymous");
    }
    let by_run = app.get(&format!("/api/v1/alerts?run_id={run}")).await;
    assert_eq!(items(&by_run.body).len(), 1);

    // Pages of one, newest first, follow each other to the end; bad filters say what to fix.
    let first = app.get("/api/v1/alerts?page_size=1").await;
    assert_eq!(
        items(&first.body)[0]["run_id"],
        other.as_str(),
        "newest first"
    );
    let token = first.body["next_page_token"]
        .as_str()
        .expect("a second page");
    let second = app
        .get(&format!("/api/v1/alerts?page_size=1&page_token={token}"))
        .await;
    assert_eq!(items(&second.body)[0]["id"], alert_id.as_str());
    assert!(second.body["next_page_token"].is_null(), "{}", second.body);
    for (query, field) in [
        ("state=open", "state"),
        ("page_size=0", "page_size"),
        ("page_token=garbage", "page_token"),
    ] {
        app.get(&format!("/api/v1/alerts?{query}"))
            .await
            .assert_invalid_field(field);
    }

    // Firing and acknowledging are in the audit trail.
    for action in ["alert.fire", "alert.acknowledge", "alert.resolve"] {
        let audit = app.get(&format!("/api/v1/audit?action={action}")).await;
        assert!(
            !items(&audit.body).is_empty(),
            "no {action} audit record: {}",
            audit.body
        );
    }
    let deliveries = app
        .get(&format!("/api/v1/alerts/{alert_id}/deliveries"))
        .await;
    let states: Vec<&str> = items(&deliveries.body)
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["delivered", "delivered"], "{}", deliveries.body);
    assert_eq!(receiver.hits().len(), 3, "exactly the expected deliveries");
}

/// A receiver that fails twice gets the same delivery three times (same id, body and
/// signature), then nothing more.
async fn a_failing_receiver_gets_the_same_delivery_until_it_answers() {
    let receiver = Receiver::start(2).await;
    let app = TestApp::start_with(|c| c.alerts.retry_base_ms = 100).await;
    let (_, experiment, run) = app.create_hierarchy().await;
    loss_rule(&app, &experiment, ">=", 5.0, &receiver, "k").await;
    log_loss(&app, &run, 1, 5.0).await;
    let hits = receiver.wait_for(3).await;
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        [503, 503, 200]
    );
    for hit in &hits[1..] {
        assert_eq!(hit.body, hits[0].body, "every attempt sends the same body");
        assert_eq!(
            hit.header("x-ets-delivery"),
            hits[0].header("x-ets-delivery")
        );
        assert_eq!(
            hit.header("x-ets-signature"),
            hits[0].header("x-ets-signature")
        );
    }
    let alert_id = hits[0].json()["alert"]["id"].as_str().unwrap().to_owned();
    let deliveries = eventually(
        &app,
        &format!("/api/v1/alerts/{alert_id}/deliveries"),
        |body| items(body)[0]["state"] == "delivered",
    )
    .await;
    let delivery = &items(&deliveries)[0];
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status"], 200);
    // Longer than the retries took: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.hits().len(), 3, "no delivery after a success");
}

/// A notification queued before a restart is delivered after it, once; the restarted server
/// does not fire the still-open alert again.
async fn a_pending_delivery_survives_a_restart() {
    let receiver = Receiver::start(usize::MAX).await;
    let app = TestApp::start_with(|c| c.alerts.retry_base_ms = 200).await;
    let (_, experiment, run) = app.create_hierarchy().await;
    loss_rule(&app, &experiment, ">", 1.0, &receiver, "k").await;
    log_loss(&app, &run, 1, 2.0).await;
    let first = receiver.wait_for(1).await;
    assert_eq!(first[0].status, 503);
    let delivery_id = first[0].header("x-ets-delivery");

    let app = app.restart().await;
    receiver.failures.store(0, Ordering::SeqCst);
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    while !receiver.hits().iter().any(|h| h.status == 200) {
        assert!(Instant::now() < deadline, "not delivered after the restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The restart's sweep judges the run again (still breaching) and finds its alert open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let hits = receiver.hits();
    assert!(
        hits.iter()
            .all(|h| h.header("x-ets-delivery") == delivery_id),
        "only the one notification, retried"
    );
    assert_eq!(hits.iter().filter(|h| h.status == 200).count(), 1);
    let alerts = app.get("/api/v1/alerts").await;
    assert_eq!(items(&alerts.body).len(), 1, "{}", alerts.body);
}

/// Two instances on one database judge the same run (each sweeps it every second, one also
/// after the commit): one alert, one notification.
async fn two_instances_never_fire_twice() {
    let receiver = Receiver::start(0).await;
    let app = TestApp::start_with(|c| c.alerts.sweep_seconds = 1).await;
    let other = ets::server::start(app.server.services.config.clone())
        .await
        .expect("a second instance starts");
    let (_, experiment, run) = app.create_hierarchy().await;
    loss_rule(&app, &experiment, ">", 1.0, &receiver, "k").await;
    log_loss(&app, &run, 1, 3.0).await;
    receiver.wait_for(1).await;
    // The second instance reads rules every 5 s (`alerts::RULES_TTL`) and sweeps every
    // second: after 7 s both have judged the run, and still one.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(receiver.hits().len(), 1, "one notification");
    let alerts = app.get("/api/v1/alerts").await;
    assert_eq!(items(&alerts.body).len(), 1, "{}", alerts.body);
    other.stop().await.expect("stops");
}

/// Rules on run failure and on a failed safety verdict fire without a webhook; alerts reach
/// the experiment's event stream.
async fn run_failure_and_safety_rules_fire_and_stream() {
    let app = TestApp::start().await;
    let (project, experiment, run) = app.create_hierarchy().await;
    let stream = app
        .client
        .get(app.url(&format!("/api/v1/experiments/{experiment}/stream")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), StatusCode::OK);
    for body in [
        json!({ "experiment_id": experiment, "kind": "run_failed" }),
        json!({ "project_id": project, "kind": "safety_fail" }),
    ] {
        let reply = app.post("/api/v1/alerts/rules", body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    // 90 of 100 crises detected: the upper 95 % bound (0.9393, statsmodels Wilson) is below
    // the default 0.99, so the verdict is fail.
    let evaluation = app
        .post(
            &format!("/api/v1/runs/{run}/evaluations"),
            json!({ "name": "crisis_detection", "slice": "overall", "tp": 90, "fn": 10 }),
        )
        .await;
    assert_eq!(
        evaluation.status,
        StatusCode::CREATED,
        "{}",
        evaluation.body
    );
    let safety = eventually(&app, "/api/v1/alerts", |b| items(b).len() == 1).await;
    let message = items(&safety)[0]["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("safety verdict fail: crisis_detection_rate on slice 'overall'"),
        "{message}"
    );
    let finished = app
        .post(
            &format!("/api/v1/runs/{run}/finish"),
            json!({ "status": "failed" }),
        )
        .await;
    assert_eq!(finished.status, StatusCode::OK, "{}", finished.body);
    let both = eventually(&app, "/api/v1/alerts", |b| items(b).len() == 2).await;
    assert_eq!(items(&both)[0]["message"], "the run failed");

    let mut body = stream.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    while text.matches("event: alert").count() < 2 {
        let chunk = tokio::time::timeout_at(deadline.into(), body.next())
            .await
            .expect("alert events on the experiment stream")
            .expect("stream open")
            .expect("stream chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("\"state\":\"firing\""), "{text}");
}

/// Bad rules are refused with the field to fix.
async fn invalid_rules_are_refused_with_the_field() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    let cases = [
        (
            json!({ "experiment_id": experiment, "condition": ">", "threshold": 1 }),
            "metric",
        ),
        (
            json!({ "experiment_id": experiment, "metric": "loss", "condition": "~", "threshold": 1 }),
            "condition",
        ),
        (
            json!({ "experiment_id": experiment, "metric": "loss", "condition": ">", "threshold": 1,
                    "aggregation": "mean" }),
            "window_steps",
        ),
        (
            json!({ "experiment_id": experiment, "metric": "loss", "condition": ">", "threshold": 1,
                    "webhook_url": "http://user:pw@127.0.0.1/hook" }),
            "webhook_url",
        ),
        (
            json!({ "experiment_id": experiment, "metric": "loss", "condition": ">", "threshold": 1,
                    "webhook_url": "ftp://127.0.0.1/hook" }),
            "webhook_url",
        ),
        (
            json!({ "experiment_id": experiment, "metric": "loss", "condition": ">", "threshold": 1,
                    "secret": "s" }),
            "secret",
        ),
        (
            json!({ "metric": "loss", "condition": ">", "threshold": 1 }),
            "experiment_id",
        ),
        (
            json!({ "experiment_id": experiment, "kind": "run_stale" }),
            "stale_minutes",
        ),
    ];
    for (body, field) in cases {
        app.post("/api/v1/alerts/rules", body)
            .await
            .assert_invalid_field(field);
    }
    let missing = app
        .post(
            "/api/v1/alerts/rules",
            json!({ "experiment_id": "nope", "kind": "run_failed" }),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // A rule can be changed and is checked again as a whole.
    let rule = app
        .post(
            "/api/v1/alerts/rules",
            json!({ "experiment_id": experiment, "metric": "loss", "condition": ">", "threshold": 1 }),
        )
        .await
        .id();
    let patched = app
        .send(
            app.client
                .patch(app.url(&format!("/api/v1/alerts/rules/{rule}")))
                .json(&json!({ "threshold": 2.5, "enabled": false })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["threshold"], 2.5);
    assert_eq!(patched.body["enabled"], false);
    let refused = app
        .send(
            app.client
                .patch(app.url(&format!("/api/v1/alerts/rules/{rule}")))
                .json(&json!({ "window_steps": 3 })),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let listed = app
        .get(&format!("/api/v1/alerts/rules?experiment_id={experiment}"))
        .await;
    assert_eq!(items(&listed.body).len(), 1);
    app.delete_ok(&format!("/api/v1/alerts/rules/{rule}")).await;
    assert_eq!(
        app.get(&format!("/api/v1/alerts/rules/{rule}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

on_both_databases!(
    a_breaching_point_is_delivered_signed_and_resolves_when_it_clears,
    a_failing_receiver_gets_the_same_delivery_until_it_answers,
    a_pending_delivery_survives_a_restart,
    two_instances_never_fire_twice,
    run_failure_and_safety_rules_fire_and_stream,
    invalid_rules_are_refused_with_the_field,
);
