mod common;

use common::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn harness_starts_a_server() {
    let app = TestApp::start().await;
    let reply = app.get("/health/live").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "alive");
}
