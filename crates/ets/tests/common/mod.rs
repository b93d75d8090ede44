//! Test harness: a real ETS server on 127.0.0.1:0 with its own temporary data directory and
//! database (SQLite in the data directory, or a fresh schema of the PostgreSQL server named by
//! `PG_TEST_URL`), and a small JSON client.
//!
//! Every test that touches the database runs once per database from one body:
//! [`on_both_databases!`] generates `sqlite::<name>` and `postgres::<name>` tests that run the
//! body inside [`on_database`], and [`TestApp::start`] (and friends) read the database to use
//! from that scope.
#![allow(dead_code)]

pub mod auth;
pub mod process;
pub mod sse;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
    /// Where its artifacts are.
    pub backend: Backend,
    /// The S3 bucket and key prefix of an S3-backed app.
    pub s3: Option<S3Target>,
    /// The database it keeps its data in.
    pub database: Database,
    /// The database URL it was given (`None` for SQLite in the data directory).
    pub database_url: Option<String>,
    _dir: tempfile::TempDir,
}

/// The artifact storage a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3,
}

/// Where an S3-backed test app keeps its artifacts.
#[derive(Debug, Clone)]
pub struct S3Target {
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
}

/// The S3-compatible server of the S3 tests, from `S3_TEST_ENDPOINT` (`scripts/test` starts
/// `moto_server` on loopback and sets it). Without it the S3 tests are skipped, except in CI
/// (`CI=true`), where they must run: a missing endpoint fails them.
pub fn s3_endpoint() -> Option<String> {
    match std::env::var("S3_TEST_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint.trim_end_matches('/').to_owned()),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "CI is set but S3_TEST_ENDPOINT is not: the S3 artifact tests must run in CI \
                 (scripts/test starts moto_server and sets it)"
            );
            eprintln!(
                "S3_TEST_ENDPOINT is not set: skipping an S3 test (./scripts/test runs them)"
            );
            None
        }
    }
}

// ---------------------------------------------------------------- databases

/// The database a test server keeps its data in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// SQLite in the app's temporary data directory.
    Sqlite,
    /// A fresh schema of the PostgreSQL server of `PG_TEST_URL`.
    Postgres,
}

/// The database scope of one test: which database, and the PostgreSQL schemas created for it
/// (dropped when the test passes, kept for a look when it fails).
struct DatabaseScope {
    database: Database,
    schemas: Mutex<Vec<String>>,
}

tokio::task_local! {
    static DATABASE: Arc<DatabaseScope>;
}

/// Whether the tests run in CI (`CI=true`), where every backend must be available.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The PostgreSQL server of the PostgreSQL tests, from `PG_TEST_URL` (`scripts/test` starts a
/// throwaway cluster with `tests/postgres/pg.sh` and sets it; or point it at any server where
/// the user may create schemas). Without it the PostgreSQL tests are skipped, except in CI
/// (`CI=true`), where they must run: a missing URL fails them.
///
/// Not an `ETS_*` variable: the `ets` binary reads those as configuration.
pub fn pg_test_url() -> Option<String> {
    match std::env::var("PG_TEST_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !in_ci(),
                "CI is set but PG_TEST_URL is not: the PostgreSQL tests must run in CI \
                 (scripts/test starts PostgreSQL and sets it)"
            );
            eprintln!(
                "PG_TEST_URL is not set: skipping a PostgreSQL test (./scripts/test runs them, \
                 or set PG_TEST_URL=postgres://user@host:port/db)"
            );
            None
        }
    }
}

/// The database of the test running now: the one [`on_database`] set, SQLite outside it.
pub fn current_database() -> Database {
    DATABASE
        .try_with(|s| s.database)
        .unwrap_or(Database::Sqlite)
}

/// Runs a test body with `database` as the database of every app it starts. A PostgreSQL run
/// without `PG_TEST_URL` is skipped (failed in CI). When the body passes, the PostgreSQL
/// schemas it created are dropped; when it fails (panics) they stay, named in its output.
pub async fn on_database(database: Database, body: impl std::future::Future<Output = ()>) {
    if database == Database::Postgres && pg_test_url().is_none() {
        return;
    }
    let scope = Arc::new(DatabaseScope {
        database,
        schemas: Mutex::new(Vec::new()),
    });
    DATABASE.scope(scope.clone(), body).await;
    let schemas = std::mem::take(&mut *scope.schemas.lock().unwrap());
    for schema in schemas {
        drop_pg_schema(&schema).await;
    }
}

/// Connects to the `PG_TEST_URL` server (without TLS) with a plain `tokio_postgres` client.
async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PG_TEST_URL ({url}): {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// `url` with `search_path` set to `schema` for every connection (`options=-c search_path=…`,
/// percent-encoded, added to any query the URL has).
pub fn url_with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// A PostgreSQL schema of its own for one test server.
#[derive(Debug, Clone)]
pub struct PgSchema {
    pub name: String,
    /// `PG_TEST_URL` with `search_path` set to the schema: the server's `database_url`.
    pub url: String,
}

/// Creates a fresh, empty schema `ets_t_<random>` on the `PG_TEST_URL` server (which must be
/// set; see [`pg_test_url`]). Inside [`on_database`] it is dropped when the test passes.
pub async fn create_pg_schema() -> PgSchema {
    let base = pg_test_url().expect("PG_TEST_URL is set for a PostgreSQL test");
    let name = format!("ets_t_{}", ets_domain::new_id());
    pg_connect(&base)
        .await
        .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("CREATE SCHEMA {name}: {e}"));
    let _ = DATABASE.try_with(|s| s.schemas.lock().unwrap().push(name.clone()));
    eprintln!("PostgreSQL schema {name}");
    PgSchema {
        url: url_with_search_path(&base, &name),
        name,
    }
}

/// [`create_pg_schema`] for plain `#[test]`s; `None` (after the skip message) without
/// `PG_TEST_URL` outside CI. The schema is not dropped: call [`drop_pg_schema_blocking`].
pub fn create_pg_schema_blocking() -> Option<PgSchema> {
    pg_test_url()?;
    Some(block_on(create_pg_schema()))
}

/// Drops `schema` and everything in it (best effort: a schema still in use stays).
pub async fn drop_pg_schema(schema: &str) {
    let Some(base) = std::env::var("PG_TEST_URL").ok().filter(|u| !u.is_empty()) else {
        return;
    };
    let client = pg_connect(&base).await;
    let sql = format!("SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    if let Err(e) = client.batch_execute(&sql).await {
        eprintln!("could not drop PostgreSQL schema {schema}: {e}");
    }
}

pub fn drop_pg_schema_blocking(schema: &str) {
    block_on(drop_pg_schema(schema));
}

/// Runs `future` on a small runtime of its own (for plain `#[test]`s).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Instantiates async test bodies once per database: for each `name`, a `#[tokio::test]`
/// `sqlite::name` and `postgres::name` that run `super::name()` inside [`on_database`].
/// The bodies are plain `async fn name()` without a test attribute.
#[allow(unused_macros)]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::common::on_database(
                        $crate::common::Database::Sqlite,
                        super::$name(),
                    )
                    .await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::common::on_database(
                        $crate::common::Database::Postgres,
                        super::$name(),
                    )
                    .await;
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_databases;

// ---------------------------------------------------------------- replies

/// A response: status, headers and JSON body (`Value::Null` when the body is not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts a validation error (422) naming `field` in `details.field`.
    pub fn assert_invalid_field(&self, field: &str) {
        assert_eq!(
            self.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            self.body
        );
        assert_eq!(
            self.body["error"]["details"]["field"], field,
            "{}",
            self.body
        );
    }

    /// Asserts a quota refusal (409 `limit_exceeded`) naming `setting` and its variable.
    pub fn assert_limit_exceeded(&self, setting: &str, limit: u64) {
        assert_eq!(self.status, StatusCode::CONFLICT, "{}", self.body);
        assert_eq!(self.error_code(), "limit_exceeded", "{}", self.body);
        assert_eq!(self.body["error"]["details"]["setting"], setting);
        assert_eq!(self.body["error"]["details"]["limit"], limit);
        let variable = format!("ETS_{}", setting.replace('.', "__").to_ascii_uppercase());
        assert!(
            self.error_message().contains(&variable),
            "{variable}: {}",
            self.body
        );
    }

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

/// Every file below `dir` (recursively, not following links), relative to it; empty when
/// `dir` does not exist.
pub fn files_under(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                walk(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .expect("below root")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A response read from a raw connection: status and everything after the status line.
pub struct RawReply {
    pub status: u16,
    pub text: String,
}

/// Sends `request` as written (no URL normalisation, no header fix-ups) on a new connection and
/// reads the response until the server closes the connection.
pub async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> RawReply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("request written");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut response),
    )
    .await
    .expect("the server answers and closes the connection");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    RawReply { status, text }
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed the configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_on(Backend::Local, adjust)
            .await
            .expect("a local app always starts")
    }

    /// Starts a server with its artifacts on `backend`; `None` when that backend is not
    /// available here (S3 without `S3_TEST_ENDPOINT`, outside CI). Its database is the one of
    /// the running test ([`current_database`]): SQLite in its data directory, or a fresh
    /// PostgreSQL schema (`adjust` sees its `database_url` and may change it).
    pub async fn start_on(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
        ets::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        let database = current_database();
        let mut database_url = None;
        if database == Database::Postgres {
            let url = create_pg_schema().await.url;
            config.database_url = Some(url.parse().expect("a PostgreSQL URL"));
            database_url = Some(url);
        }
        let s3 = match backend {
            Backend::Local => None,
            Backend::S3 => {
                let endpoint = s3_endpoint()?;
                let bucket = std::env::var("S3_TEST_BUCKET").unwrap_or_else(|_| "ets-test".into());
                let created = reqwest::Client::new()
                    .put(format!("{endpoint}/{bucket}"))
                    .send()
                    .await
                    .expect("the S3 test server answers");
                assert!(
                    created.status().is_success() || created.status() == StatusCode::CONFLICT,
                    "creating bucket {bucket}: {}",
                    created.status()
                );
                // Credentials come from a file, as an operator may configure them; the
                // test server accepts any.
                let credentials = dir.path().join("aws-credentials");
                std::fs::write(
                    &credentials,
                    "[default]\naws_access_key_id = testing\naws_secret_access_key = testing-secret\n",
                )
                .expect("credentials file");
                let prefix = format!("t-{}", ets_domain::new_id());
                let artifacts = &mut config.artifacts;
                artifacts.backend = ets::config::ArtifactBackend::S3;
                artifacts.s3_endpoint = Some(ets::database_url::SecretUrl::new(endpoint.clone()));
                artifacts.s3_bucket = Some(bucket.clone());
                artifacts.s3_prefix = prefix.clone();
                artifacts.s3_allow_http = true;
                artifacts.s3_credentials_file = Some(credentials);
                Some(S3Target {
                    endpoint,
                    bucket,
                    prefix,
                })
            }
        };
        adjust(&mut config);
        let server = ets::server::start(config).await.expect("server starts");
        Some(TestApp::serving(
            server,
            backend,
            s3,
            database,
            database_url,
            dir,
        ))
    }

    /// The app of a started server (its data directory is the configuration's).
    fn serving(
        server: RunningServer,
        backend: Backend,
        s3: Option<S3Target>,
        database: Database,
        database_url: Option<String>,
        dir: tempfile::TempDir,
    ) -> TestApp {
        TestApp {
            base: format!("http://{}", server.addr),
            metrics_base: format!("http://{}", server.metrics_addr),
            client: reqwest::Client::new(),
            data_dir: server.services.config.data_dir.clone(),
            server,
            backend,
            s3,
            database,
            database_url,
            _dir: dir,
        }
    }

    /// Stops the server (gracefully) and starts a new one on the same data directory and
    /// database with the same configuration, as an operator's restart does.
    pub async fn restart(self) -> TestApp {
        let TestApp {
            server,
            backend,
            s3,
            database,
            database_url,
            _dir,
            ..
        } = self;
        let config = server.services.config.clone();
        server.stop().await.expect("the server stops");
        let server = ets::server::start(config).await.expect("server restarts");
        TestApp::serving(server, backend, s3, database, database_url, _dir)
    }

    /// Every object in the app's artifact storage, relative to its root: on the local backend
    /// every file in the folder (object_store's staging files included), on S3 every object
    /// under the app's prefix plus `(unfinished) <key>` for each multipart upload in progress.
    pub async fn stored_keys(&self) -> Vec<String> {
        let mut keys = match &self.s3 {
            None => files_under(&self.server.services.config.artifacts_dir()),
            Some(s3) => {
                let mut keys: Vec<String> = self
                    .server
                    .services
                    .artifacts
                    .list("")
                    .await
                    .expect("listing the bucket")
                    .into_iter()
                    .map(|o| o.key)
                    .collect();
                let uploads = reqwest::Client::new()
                    .get(format!(
                        "{}/{}?uploads&prefix={}/",
                        s3.endpoint, s3.bucket, s3.prefix
                    ))
                    .send()
                    .await
                    .expect("listing multipart uploads")
                    .text()
                    .await
                    .expect("listing body");
                for upload in uploads.split("<Upload>").skip(1) {
                    let key = upload
                        .split("<Key>")
                        .nth(1)
                        .and_then(|k| k.split("</Key>").next())
                        .unwrap_or("?");
                    keys.push(format!("(unfinished) {key}"));
                }
                keys
            }
        };
        keys.sort();
        keys
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request built with [`TestApp::client`].
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
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

    /// `DELETE path`, which must answer 204.
    pub async fn delete_ok(&self, path: &str) {
        let reply = self.delete(path).await;
        assert_eq!(
            reply.status,
            StatusCode::NO_CONTENT,
            "{path}: {}",
            reply.body
        );
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
