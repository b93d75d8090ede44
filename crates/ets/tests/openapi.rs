//! The OpenAPI document is generated from the code; these tests keep it in step with the
//! routes and with the committed copy in `docs/openapi.json` (so API changes show in review).

mod common;

use common::TestApp;
use reqwest::{Method, StatusCode};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = ets::api::openapi()
        .to_pretty_json()
        .expect("OpenAPI renders")
        + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(SNAPSHOT, &generated).expect("snapshot written");
        return;
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the API in the code. If the change is intended, run \
         `UPDATE_OPENAPI=1 cargo test -p ets --test openapi` and commit docs/openapi.json"
    );
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::start().await;
    let spec = ets::api::openapi();
    let mut checked = 0;
    for (path, item) in &spec.paths.paths {
        let concrete = path
            .replace("{id}", "0123")
            .replace("{name}", "baseline")
            .replace("{path}", "a/b.txt")
            .replace("{upload_id}", "0123456789abcdef0123456789abcdef")
            .replace("{part_number}", "1");
        let operations = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ];
        for (method, present) in operations {
            if !present {
                continue;
            }
            let (status, body) = request_with_empty_object(&app, method.clone(), &concrete).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                !(status == StatusCode::NOT_FOUND && body["error"]["details"].is_null()),
                "{method} {path} is documented but not routed: {body}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 34,
        "the spec's health, project, experiment and run endpoints are all documented ({checked})"
    );
}

#[tokio::test]
async fn docs_page_and_document_are_served_without_internet() {
    let app = TestApp::start().await;
    let spec = app.get("/openapi.json").await;
    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(spec.body["openapi"], "3.1.0");
    // Generated at the first request (the server starts without it): the whole document.
    assert_eq!(
        spec.body,
        serde_json::to_value(ets::api::openapi()).unwrap()
    );
    assert_eq!(app.get("/openapi.json").await.body, spec.body);
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the docs page loads nothing from the internet"
    );
    let bundle = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bundle.status(),
        StatusCode::OK,
        "Swagger UI assets are served by ETS itself"
    );
}

/// Every endpoint path the document's prose names (`/api/…`, `/health…` in a description or
/// summary, with the method when one precedes it) is routed: requested with placeholders
/// filled in, it does not get the router's 404 (nor its 405 when the method was named).
#[tokio::test]
async fn every_path_named_in_the_documents_text_is_routed() {
    let app = TestApp::start().await;
    let document = serde_json::to_value(ets::api::openapi()).unwrap();
    let mut texts = Vec::new();
    collect_texts(&document, &mut texts);
    let mut mentions = std::collections::BTreeSet::new();
    for text in &texts {
        mentions.extend(paths_named_in(text));
    }
    assert!(
        mentions.len() >= 3,
        "the descriptions name paths: {mentions:?}"
    );
    for (method, path) in &mentions {
        let concrete = fill_placeholders(path);
        let (status, body) =
            request_with_empty_object(&app, method.clone().unwrap_or(Method::GET), &concrete).await;
        let router_404 = status == StatusCode::NOT_FOUND
            && (body["error"]["code"] == "not_found" && body["error"]["details"].is_null()
                || body["error_code"] == "ENDPOINT_NOT_FOUND");
        assert!(
            !router_404,
            "{method:?} {path} is named in openapi.json but not routed: {body}"
        );
        if method.is_some() {
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method:?} {path} is named in openapi.json but that method is not routed"
            );
        }
    }
}

/// Sends `method path` with `{}` as its JSON body; the status and the JSON answer.
async fn request_with_empty_object(
    app: &TestApp,
    method: Method,
    path: &str,
) -> (StatusCode, serde_json::Value) {
    let response = app
        .client
        .request(method, app.url(path))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

/// Every `description` and `summary` string of the document.
fn collect_texts(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(text) if key == "description" || key == "summary" => {
                        out.push(text.clone())
                    }
                    other => collect_texts(other, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_texts(v, out)),
        _ => {}
    }
}

/// The endpoint paths a text names, with the HTTP method written just before each, if any.
fn paths_named_in(text: &str) -> Vec<(Option<Method>, String)> {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "/_-{}.*".contains(c);
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = ["/api/", "/health"]
        .iter()
        .filter_map(|prefix| rest.find(prefix))
        .min()
    {
        let before = &rest[..at];
        let tail = &rest[at..];
        let end = tail.find(|c: char| !is_path_char(c)).unwrap_or(tail.len());
        let path = tail[..end].trim_end_matches(['.', ',']).to_owned();
        let method = ["GET", "POST", "PUT", "PATCH", "DELETE"]
            .iter()
            .find(|m| before.trim_end_matches('`').ends_with(&format!("{m} ")))
            .map(|m| m.parse().unwrap());
        found.push((method, path));
        rest = &tail[end..];
    }
    found
}

/// `{id}`, `{path}`, `{*name}`… replaced by values a router accepts.
fn fill_placeholders(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push_str("0123");
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

#[test]
fn named_paths_are_found_in_text() {
    let found = paths_named_in(
        "Body of `POST /api/v1/runs/{id}/bulk-metrics`: see /health/ready, and /api/v1/runs.",
    );
    assert_eq!(
        found,
        vec![
            (
                Some(Method::POST),
                "/api/v1/runs/{id}/bulk-metrics".to_owned()
            ),
            (None, "/health/ready".to_owned()),
            (None, "/api/v1/runs".to_owned()),
        ]
    );
    assert_eq!(
        fill_placeholders("/api/v1/runs/{id}/metrics/{*name}"),
        "/api/v1/runs/0123/metrics/0123"
    );
}
