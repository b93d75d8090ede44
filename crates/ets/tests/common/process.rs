//! The real `ets` binary in tests: spawning it with a clean environment, serving on free
//! ports, a blocking JSON client, and the database a spawned instance uses.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{Database, PgSchema};

/// The `ets` binary, with no `ETS_*` variable (nor `RUST_LOG`) of the environment running the
/// tests: the tests choose every setting.
pub fn ets() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ets"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ETS_") {
            command.env_remove(key);
        }
    }
    command.env_remove("RUST_LOG");
    command
}

/// The database of the binary in a plain `#[test]`: SQLite in the data directory, or a fresh
/// PostgreSQL schema (passed as `ETS_DATABASE_URL`).
pub struct TestDb {
    pub database: Database,
    pub schema: Option<PgSchema>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        TestDb {
            database: Database::Sqlite,
            schema: None,
        }
    }

    /// A fresh schema; `None` without `PG_TEST_URL` outside CI (the test is skipped).
    pub fn postgres() -> Option<TestDb> {
        Some(TestDb {
            database: Database::Postgres,
            schema: Some(super::create_pg_schema_blocking()?),
        })
    }

    /// The `database_url` of a PostgreSQL database.
    pub fn url(&self) -> Option<&str> {
        self.schema.as_ref().map(|s| s.url.as_str())
    }

    /// `ets` with this database configured (`ETS_DATABASE_URL` for PostgreSQL).
    pub fn ets(&self) -> Command {
        let mut command = ets();
        if let Some(url) = self.url() {
            command.env("ETS_DATABASE_URL", url);
        }
        command
    }

    /// Drops the PostgreSQL schema (after a passing test).
    pub fn drop_schema(self) {
        if let Some(schema) = self.schema {
            super::drop_pg_schema_blocking(&schema.name);
        }
    }
}

/// Instantiates `fn name(db: &TestDb)` bodies of plain `#[test]`s once per database:
/// `sqlite::name` and `postgres::name` (skipped without `PG_TEST_URL` outside CI; the schema is
/// dropped when the test passes); those listed after `postgres_only:` only as `postgres::name`.
#[allow(unused_macros)]
macro_rules! on_both_databases_sync {
    ($($name:ident),* $(,)? $(; postgres_only: $($pg_name:ident),* $(,)?)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let db = $crate::common::process::TestDb::sqlite();
                    super::$name(&db);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let Some(db) = $crate::common::process::TestDb::postgres() else {
                        return;
                    };
                    super::$name(&db);
                    db.drop_schema();
                }
            )*
            $($(
                #[test]
                fn $pg_name() {
                    let Some(db) = $crate::common::process::TestDb::postgres() else {
                        return;
                    };
                    super::$pg_name(&db);
                    db.drop_schema();
                }
            )*)?
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_databases_sync;

/// A served instance of the binary, killed when dropped.
pub struct Served {
    pub child: Child,
    pub base: String,
    /// Every log line the server has written so far, and the thread collecting them.
    log: Arc<Mutex<Vec<String>>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Starts `ets serve` on free ports with its data in `data_dir` and waits for the
    /// "listening" log line.
    pub fn start(data_dir: &Path) -> Served {
        Self::start_with(data_dir, &[]).0
    }

    /// Like [`Served::start`] with extra arguments; also returns the log lines up to and
    /// including the "listening" line.
    pub fn start_with(data_dir: &Path, extra_args: &[&str]) -> (Served, Vec<String>) {
        Self::start_on(&TestDb::sqlite(), data_dir, extra_args)
    }

    /// Like [`Served::start_with`] on the database `db`.
    pub fn start_on(db: &TestDb, data_dir: &Path, extra_args: &[&str]) -> (Served, Vec<String>) {
        let mut command = db.ets();
        command
            .args(["serve", "--port", "0", "--metrics-port", "0", "--data-dir"])
            .arg(data_dir)
            .args(extra_args);
        Self::spawn(command)
    }

    /// A user `alice` (admin) and her API key in `data_dir`, then `ets serve` there with
    /// authentication on (free ports); the server and the key.
    pub fn start_with_auth(data_dir: &Path) -> (Served, String) {
        let created = ets()
            .args(["users", "create", "alice", "--admin", "--data-dir"])
            .arg(data_dir)
            .output()
            .unwrap();
        assert!(created.status.success(), "{created:?}");
        let key = String::from_utf8(created.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned();
        let mut serve = ets();
        serve
            .env("ETS_AUTH__ENABLED", "true")
            .args(["serve", "--port", "0", "--metrics-port", "0", "--data-dir"])
            .arg(data_dir);
        (Self::spawn(serve).0, key)
    }

    /// Spawns `command` (an `ets serve` on port 0) and waits for its "listening" log line,
    /// which names the address it chose; panics with the log when it exits first.
    pub fn spawn(mut command: Command) -> (Served, Vec<String>) {
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("ets starts");
        let stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut lines = stderr.lines();
        let mut seen = Vec::new();
        let addr = loop {
            let Some(line) = lines.next() else {
                let _ = child.wait();
                panic!("ets exited before it listened:\n{}", seen.join("\n"));
            };
            let line = line.expect("log line");
            seen.push(line.clone());
            if line.contains("ETS is listening") {
                break match serde_json::from_str::<Value>(&line) {
                    Ok(json) => json["addr"]
                        .as_str()
                        .expect("JSON log names addr")
                        .to_owned(),
                    Err(_) => line
                        .split_whitespace()
                        .find_map(|word| word.strip_prefix("addr="))
                        .expect("the listening line names the address")
                        .to_owned(),
                };
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        let log = Arc::new(Mutex::new(seen.clone()));
        let collected = log.clone();
        let drain = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        let served = Served {
            child,
            base: format!("http://{addr}"),
            log,
            drain: Some(drain),
        };
        (served, seen)
    }

    /// The server's log so far (the drain thread may lag a request's last line: stop the
    /// server first to read everything).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Stops the server (SIGKILL) and returns its whole log.
    pub fn stop_and_read_log(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The log pipe ends with the process, and with it the thread reading it.
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        self.log()
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON client for plain `#[test]`s: reqwest driven by its own small runtime.
pub struct Http {
    pub runtime: tokio::runtime::Runtime,
    pub inner: reqwest::Client,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Http {
        ets::install_crypto_provider();
        Http {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            inner: reqwest::Client::new(),
        }
    }

    /// (status, JSON body); status 0 when the server could not be reached.
    pub fn call(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        self.runtime.block_on(async {
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.json().await.unwrap_or(Value::Null))
                }
                Err(_) => (0, Value::Null),
            }
        })
    }

    pub fn post(&self, url: &str, body: Value) -> (u16, Value) {
        self.call(self.inner.post(url).json(&body))
    }

    pub fn get(&self, url: &str) -> (u16, Value) {
        self.call(self.inner.get(url))
    }

    pub fn patch(&self, url: &str, body: Value) -> (u16, Value) {
        self.call(self.inner.patch(url).json(&body))
    }

    /// A new project, an experiment in it and a run in that on the server at `base`; the run id.
    pub fn create_run(&self, base: &str) -> String {
        let name = format!("p-{}", ets_domain::new_id());
        let (_, project) = self.post(&format!("{base}/api/v1/projects"), json!({ "name": name }));
        let (_, experiment) = self.post(
            &format!("{base}/api/v1/experiments"),
            json!({ "project_id": project["id"], "name": "e" }),
        );
        let (_, run) = self.post(
            &format!("{base}/api/v1/runs"),
            json!({ "experiment_id": experiment["id"] }),
        );
        run["id"].as_str().expect("a run").to_owned()
    }

    /// A new project named `project` with an experiment `e` on the server at `base`; the
    /// experiment's id.
    pub fn create_experiment(&self, base: &str, project: &str) -> String {
        let (status, project) = self.post(
            &format!("{base}/api/v1/projects"),
            serde_json::json!({"name": project}),
        );
        assert_eq!(status, 201, "{project}");
        let (status, experiment) = self.post(
            &format!("{base}/api/v1/experiments"),
            serde_json::json!({"project_id": project["id"], "name": "e"}),
        );
        assert_eq!(status, 201, "{experiment}");
        experiment["id"].as_str().expect("an id").to_owned()
    }
}
