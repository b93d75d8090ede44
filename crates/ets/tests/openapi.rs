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
            let response = app
                .client
                .request(method.clone(), app.url(&concrete))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
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
