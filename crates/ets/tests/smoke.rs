mod common;

use common::TestApp;
use reqwest::StatusCode;

common::on_both_databases!(harness_starts_a_server,);

async fn harness_starts_a_server() {
    let app = TestApp::start().await;
    let reply = app.get("/health/live").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "alive");
}
