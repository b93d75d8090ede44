//! Test harness: a real ETS server on 127.0.0.1:0 with its own temporary data directory,
//! and a small JSON client.
#![allow(dead_code)]

use std::path::PathBuf;

use ets::config::{Config, Environment};
use ets::server::RunningServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A running server and a client for it.
pub struct TestApp {
    pub base: String,
    pub metrics_base: String,
    pub client: reqwest::Client,
    pub server: RunningServer,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

/// A response: status, headers and JSON body (`Value::Null` when the body is not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `error.code` of a native error body.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_owned()
    }
}

/// Configuration for a test server: free ports, a temporary data directory.
pub fn test_config(data_dir: &std::path::Path) -> Config {
    let mut config = Config::defaults(Environment::Dev);
    config.port = 0;
    config.metrics_port = 0;
    config.data_dir = data_dir.to_owned();
    config.limits.db_pool_size = 4;
    config
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        ets::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        adjust(&mut config);
        let data_dir = config.data_dir.clone();
        let server = ets::server::start(config).await.expect("server starts");
        TestApp {
            base: format!("http://{}", server.addr),
            metrics_base: format!("http://{}", server.metrics_addr),
            client: reqwest::Client::new(),
            server,
            data_dir,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(&body))
            .await
    }

    /// POST with a raw body (malformed JSON, empty bodies, uploads).
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> Reply {
        self.send(
            self.client
                .post(self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.put(self.url(path)).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.client.delete(self.url(path))).await
    }

    // ---- fixtures

    pub async fn create_project(&self, name: &str) -> String {
        let reply = self.post("/api/v1/projects", json!({ "name": name })).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.id()
    }

    pub async fn create_experiment(&self, project_id: &str, name: &str) -> String {
        let reply = self
            .post(
                "/api/v1/experiments",
                json!({ "project_id": project_id, "name": name }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.id()
    }

    pub async fn create_run(&self, experiment_id: &str) -> String {
        let reply = self
            .post("/api/v1/runs", json!({ "experiment_id": experiment_id }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.id()
    }

    /// A project, an experiment in it and a run in that: (project, experiment, run).
    pub async fn create_hierarchy(&self) -> (String, String, String) {
        let project = self
            .create_project(&format!("p-{}", ets_domain::new_id()))
            .await;
        let experiment = self.create_experiment(&project, "exp").await;
        let run = self.create_run(&experiment).await;
        (project, experiment, run)
    }
}
