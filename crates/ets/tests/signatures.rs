//! Signed approvals of runs (issue 14; 21 CFR Part 11) on SQLite and PostgreSQL: the signer
//! re-enters a password or API key; the signature names them, its meaning and time, and the
//! hash of the run's content; a later change supersedes it; approval of a healthcare run
//! needs its medical disclaimer.

mod common;

use common::{TestApp, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

struct Signer {
    app: TestApp,
    key: String,
}

impl Signer {
    async fn start() -> Signer {
        let app = TestApp::start_with_auth(|_| {}).await;
        let key = app.add_user("dr-lee", true, Some(PASSWORD)).await;
        Signer { app, key }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn created(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.post(path, body).await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
        reply
    }

    async fn experiment_run(&self, experiment_body: Value) -> String {
        let project = self
            .created(
                "/api/v1/projects",
                json!({ "name": format!("p-{}", ets_domain::new_id()) }),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut body = experiment_body;
        body["project_id"] = json!(project);
        let experiment = self.created("/api/v1/experiments", body).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.created("/api/v1/runs", json!({ "experiment_id": experiment }))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

async fn a_signature_binds_the_signer_the_meaning_and_the_content() {
    let signer = Signer::start().await;
    let run = signer.experiment_run(json!({ "name": "triage" })).await;
    signer
        .created(
            &format!("/api/v1/runs/{run}/metrics"),
            json!({ "metrics": [{ "key": "accuracy", "value": 0.97 }] }),
        )
        .await;
    let path = format!("/api/v1/runs/{run}/signatures");

    // The wrong password signs nothing.
    let (status, body) = signer
        .post(
            &path,
            json!({ "meaning": "reviewed", "password": "wrong password!" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        signer.get(&path).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let first = signer
        .created(
            &path,
            json!({ "meaning": "reviewed", "password": PASSWORD, "comment": "checked the slices" }),
        )
        .await;
    assert_eq!(first["signer"], "dr-lee");
    assert_eq!(first["meaning"], "reviewed");
    assert_eq!(first["state"], "valid");
    assert_eq!(first["comment"], "checked the slices");
    assert_eq!(first["content_hash"].as_str().unwrap().len(), 64);
    let listed = signer.get(&path).await;
    assert_eq!(listed["content_hash"], first["content_hash"]);
    assert_eq!(listed["items"][0]["state"], "valid");

    // Changing the run supersedes the signature; it stays listed. An API key signs too.
    signer
        .created(
            &format!("/api/v1/runs/{run}/metrics"),
            json!({ "metrics": [{ "key": "accuracy", "value": 0.5, "step": 1 }] }),
        )
        .await;
    let listed = signer.get(&path).await;
    assert_eq!(listed["items"][0]["state"], "superseded", "{listed}");
    assert_ne!(listed["content_hash"], first["content_hash"]);
    let second = signer
        .created(
            &path,
            json!({ "meaning": "approved", "password": signer.key }),
        )
        .await;
    assert_eq!(second["state"], "valid");
    let states: Vec<Value> = signer.get(&path).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].clone())
        .collect();
    assert_eq!(states, [json!("superseded"), json!("valid")]);

    // Each signature is in the audit trail.
    let audit = signer.get("/api/v1/audit?action=run.sign").await;
    let records = audit["items"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{audit}");
    assert_eq!(records[0]["actor"], "dr-lee", "{audit}");
}

async fn approval_needs_the_medical_disclaimer_when_the_experiment_requires_it() {
    let signer = Signer::start().await;
    let run = signer
        .experiment_run(
            json!({ "name": "crisis", "healthcare": { "require_medical_disclaimer": true } }),
        )
        .await;
    let path = format!("/api/v1/runs/{run}/signatures");
    let (status, body) = signer
        .post(
            &path,
            json!({ "meaning": "approved", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ets.medical_disclaimer"),
        "{body}"
    );
    // A review needs no disclaimer; an approval does.
    signer
        .created(
            &path,
            json!({ "meaning": "reviewed", "password": PASSWORD }),
        )
        .await;
    let (status, body) = signer
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/runs/{run}"),
            Some(json!({ "tags": { "ets.medical_disclaimer": "Not for clinical use." } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let approved = signer
        .created(
            &path,
            json!({ "meaning": "approved", "password": PASSWORD }),
        )
        .await;
    assert_eq!(approved["meaning"], "approved");

    // The experiment's export prints the disclaimer and the signatures.
    let experiment = signer.get(&format!("/api/v1/runs/{run}")).await["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let export = signer
        .app
        .client
        .get(signer.app.url(&format!(
            "/api/v1/visualizations/export/experiment/{experiment}?format=html"
        )))
        .bearer_auth(&signer.key)
        .send()
        .await
        .expect("export");
    assert_eq!(export.status(), StatusCode::OK);
    let html = export.text().await.unwrap();
    for expected in [
        "Medical disclaimer: Not for clinical use.",
        "approved by dr-lee",
        "reviewed by dr-lee",
        "superseded by a later change",
    ] {
        assert!(html.contains(expected), "the export lacks {expected:?}");
    }
}

async fn signing_needs_an_identity() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/signatures"),
            json!({ "meaning": "approved", "password": "anything at all" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/signatures"),
            json!({ "meaning": "endorsed", "password": "x" }),
        )
        .await;
    reply.assert_invalid_field("meaning");
}

on_both_databases!(
    a_signature_binds_the_signer_the_meaning_and_the_content,
    approval_needs_the_medical_disclaimer_when_the_experiment_requires_it,
    signing_needs_an_identity,
);
