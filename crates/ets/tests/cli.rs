//! Tests of the real `ets` binary: configuration, migrations, serving, restarts and crashes.

mod common;

use std::time::{Duration, Instant};

use common::process::{Http, Served, TestDb, ets};
use serde_json::{Value, json};

common::process::on_both_databases_sync!(
    migrate_creates_the_database,
    data_survives_a_restart,
    kill_9_during_ingest_loses_at_most_the_batch_in_flight,
    gc_removes_runs_long_in_the_trash_with_their_artifacts;
    postgres_only: serve_without_migrations_refuses_an_empty_database,
);

/// Defect 8: a password in the URL's user info or query never appears in `ets config`, in a
/// connection error, or in the start-up log.
#[test]
fn database_passwords_never_print() {
    let url = "postgres://u:userinfo-pw@127.0.0.1:1/db?password=query-pw&sslmode=disable";
    let leaks = |text: &str| text.contains("userinfo-pw") || text.contains("query-pw");

    let config = ets()
        .args(["config"])
        .env("ETS_DATABASE_URL", url)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&config.stdout);
    assert!(config.status.success(), "{printed}");
    assert!(!leaks(&printed), "{printed}");
    assert!(
        printed.contains("postgres://u:***@127.0.0.1:1/db?password=***&sslmode=disable"),
        "{printed}"
    );

    // Nothing listens on port 1: the connection error names the database, redacted.
    let dir = tempfile::tempdir().unwrap();
    for command in [
        &["migrate"][..],
        &["serve", "--port", "0", "--metrics-port", "0"],
    ] {
        let output = ets()
            .args(command)
            .args(["--data-dir"])
            .arg(dir.path())
            .env("ETS_DATABASE_URL", url)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains("PostgreSQL"), "{stderr}");
        assert!(stderr.contains("u:***@127.0.0.1:1"), "{stderr}");
        assert!(!leaks(&stderr), "{stderr}");
    }

    // The start-up log line (the configuration in effect) of a server that does start.
    if let Some(db) = TestDb::postgres() {
        let base = db.url().unwrap().to_owned();
        let url = format!("{base}&password=query-pw");
        let mut command = db.ets();
        command
            .env("ETS_DATABASE_URL", &url)
            .args(["serve", "--port", "0", "--metrics-port", "0", "--data-dir"])
            .arg(dir.path());
        let (served, log) = Served::spawn(command);
        let log = log.join("\n");
        assert!(log.contains("starting ETS"), "{log}");
        assert!(log.contains("password=***"), "{log}");
        assert!(!leaks(&log), "{log}");
        drop(served);
        db.drop_schema();
    }
}

#[test]
fn config_prints_the_effective_configuration_with_layers_applied() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ets.toml");
    std::fs::write(
        &file,
        "port = 9100\ndatabase_url = \"sqlite://x.db\"\n[limits]\nmax_runs_per_experiment = 7\n",
    )
    .unwrap();
    let output = ets()
        .args(["config", "--config"])
        .arg(&file)
        .env("ETS_LIMITS__MAX_METRIC_KEYS_PER_RUN", "11")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let printed: toml::Value = toml::from_str(&text).expect("ets config prints TOML");
    assert_eq!(printed["port"].as_integer(), Some(9100));
    assert_eq!(
        printed["limits"]["max_runs_per_experiment"].as_integer(),
        Some(7)
    );
    assert_eq!(
        printed["limits"]["max_metric_keys_per_run"].as_integer(),
        Some(11)
    );
    assert_eq!(
        printed["limits"]["max_concurrent_experiments"].as_integer(),
        Some(50)
    );
    assert_eq!(printed["env"].as_str(), Some("dev"));

    let prod = ets().args(["config", "--env", "prod"]).output().unwrap();
    let prod: toml::Value = toml::from_str(&String::from_utf8(prod.stdout).unwrap()).unwrap();
    assert_eq!(
        prod["log"]["format"].as_str(),
        Some("json"),
        "prod logs JSON"
    );
}

#[test]
fn unknown_keys_and_malformed_values_stop_start_up_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ets.toml");
    std::fs::write(&file, "[limits]\nmax_runs_per_experimnt = 7\n").unwrap();
    let output = ets()
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("max_runs_per_experimnt"), "{stderr}");

    let output = ets()
        .args(["serve"])
        .env("ETS_METRICS_PORT", "lots")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ETS_METRICS_PORT"), "{stderr}");

    let output = ets()
        .args(["config"])
        .env("ETS_NO_SUCH_SETTING", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no_such_setting"));
}

/// `ets migrate` applies every migration to a new database (the SQLite file in the data
/// directory, or an empty PostgreSQL schema), then nothing.
fn migrate_creates_the_database(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let output = db
        .ets()
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]"
        ),
        "{stdout}"
    );
    match db.url() {
        None => assert!(dir.path().join("ets.db").is_file()),
        Some(_) => assert!(!dir.path().join("ets.db").exists(), "no SQLite file"),
    }
    let again = db
        .ets()
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success() && stdout.contains("[]"),
        "a second migrate applies nothing: {stdout} {}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// `ets serve --no-migrate` on a database without the schema refuses to start, telling the
/// operator to run `ets migrate`; after `ets migrate` it serves. (PostgreSQL only: a SQLite
/// file of its own is always brought up to date at start-up.)
fn serve_without_migrations_refuses_an_empty_database(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let output = db
        .ets()
        .args([
            "serve",
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--no-migrate",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success(), "serve refuses an empty database");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ets migrate"), "{stderr}");

    let migrated = db
        .ets()
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let (server, _) = Served::start_on(db, dir.path(), &["--no-migrate"]);
    let (status, ready) = Http::new().get(&format!("{}/health/ready", server.base));
    assert_eq!(status, 200, "{ready}");
}

fn data_survives_a_restart(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let client = Http::new();
    let (server, _) = Served::start_on(db, dir.path(), &[]);
    let (status, project) = client.post(
        &format!("{}/api/v1/projects", server.base),
        json!({"name": "kept"}),
    );
    assert_eq!(status, 201);
    let project_id = project["id"].as_str().unwrap().to_owned();
    drop(server);

    let (server, _) = Served::start_on(db, dir.path(), &[]);
    let (status, body) = client.get(&format!("{}/api/v1/projects/{project_id}", server.base));
    assert_eq!(status, 200);
    assert_eq!(body["name"], "kept");
}

/// `kill -9` in the middle of metric ingest loses at most the batch in flight, and the
/// database opens cleanly afterwards.
fn kill_9_during_ingest_loses_at_most_the_batch_in_flight(db: &TestDb) {
    const POINTS_PER_BATCH: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let client = Http::new();
    let (server, _) = Served::start_on(db, dir.path(), &[]);
    let base = server.base.clone();
    let run_id = client.create_run(&base);

    // Ingest from another thread; count batches the server acknowledged.
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ingest = {
        let acknowledged = acknowledged.clone();
        let url = format!("{base}/api/v1/runs/{run_id}/metrics");
        std::thread::spawn(move || {
            let client = Http::new();
            for batch in 0.. {
                let points: Vec<Value> = (0..POINTS_PER_BATCH)
                    .map(|i| json!({"key": "loss", "value": 1.0 / (1.0 + i as f64), "step": batch * POINTS_PER_BATCH + i}))
                    .collect();
                let (status, _) = client.post(&url, json!({ "metrics": points }));
                if status != 201 {
                    return;
                }
                acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    ingest.join().unwrap();
    let acked = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        acked >= 20,
        "ingest made progress before the kill ({acked} batches)"
    );

    if db.url().is_none() {
        let conn = rusqlite::Connection::open(dir.path().join("ets.db")).unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
    let (server, _) = Served::start_on(db, dir.path(), &[]);
    let (status, ready) = client.get(&format!("{}/health/ready", server.base));
    assert_eq!(status, 200, "{ready}");
    let (status, summary) = client.get(&format!("{}/api/v1/runs/{run_id}/metrics", server.base));
    assert_eq!(status, 200);
    let stored = summary["items"][0]["count"].as_u64().unwrap() as usize;
    assert!(
        stored == acked * POINTS_PER_BATCH || stored == (acked + 1) * POINTS_PER_BATCH,
        "stored {stored} points for {acked} acknowledged batches of {POINTS_PER_BATCH}"
    );
    let (_, series) = client.get(&format!(
        "{}/api/v1/runs/{run_id}/metrics/loss",
        server.base
    ));
    assert_eq!(
        series["points"].as_array().unwrap().len(),
        stored,
        "summary and series agree"
    );
}

#[test]
fn prod_logs_are_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, lines) = Served::start_with(dir.path(), &["--env", "prod"]);
    assert!(lines.len() >= 2, "{lines:?}");
    for line in &lines {
        let json: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            json["level"].is_string() && json["message"].is_string(),
            "{line}"
        );
    }
    let listening: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(listening["message"], "ETS is listening");
    assert!(
        listening["metrics_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
}

/// `ets gc` on the binary, next to a serving instance: runs in the trash longer than the
/// retention go for good with their artifact files; runs in the trash for less, and active
/// runs, stay.
fn gc_removes_runs_long_in_the_trash_with_their_artifacts(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let client = Http::new();
    let (server, _) = Served::start_on(db, dir.path(), &[]);
    let base = server.base.clone();
    let (_, project) = client.post(&format!("{base}/api/v1/projects"), json!({"name": "gc"}));
    let (_, experiment) = client.post(
        &format!("{base}/api/v1/experiments"),
        json!({"project_id": project["id"], "name": "e"}),
    );
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (_, run) = client.post(
            &format!("{base}/api/v1/runs"),
            json!({"experiment_id": experiment["id"]}),
        );
        let run = run["id"].as_str().unwrap().to_owned();
        let (status, _) = client.call(
            client
                .inner
                .post(format!("{base}/api/v1/runs/{run}/artifacts?path=model.bin"))
                .body(vec![7_u8; 1000]),
        );
        assert_eq!(status, 201);
        runs.push(run);
    }
    let (trashed, active) = (&runs[0], &runs[1]);
    let (status, _) = client.call(client.inner.delete(format!("{base}/api/v1/runs/{trashed}")));
    assert_eq!(status, 204);
    let run_folder = |run: &str| dir.path().join("artifacts").join("runs").join(run);
    assert!(run_folder(trashed).is_dir());

    // gc runs next to the serving instance. The default retention (30 days) keeps a run
    // trashed a moment ago.
    let gc = |extra: &[(&str, &str)]| {
        let output = db
            .ets()
            .args(["gc", "--data-dir"])
            .arg(dir.path())
            .envs(extra.iter().copied())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).expect("gc prints a JSON report")
    };
    let report = gc(&[]);
    assert_eq!(report["runs_purged"], 0, "{report}");
    assert!(run_folder(trashed).is_dir());
    let (status, _) = client.get(&format!("{base}/api/v1/runs/{trashed}"));
    assert_eq!(status, 200);

    std::thread::sleep(Duration::from_millis(5));
    let report = gc(&[("ETS_ARTIFACTS__DELETED_RUN_RETENTION_DAYS", "0")]);
    assert_eq!(report["runs_purged"], 1, "{report}");
    assert!(!run_folder(trashed).exists());
    assert!(run_folder(active).is_dir());

    let (status, _) = client.get(&format!("{base}/api/v1/runs/{trashed}"));
    assert_eq!(status, 404);
    let (status, body) = client.get(&format!("{base}/api/v1/runs/{active}/artifacts"));
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["path"], "model.bin");
}

/// `ets serve` on free ports with its data in `data_dir`, and `env` and `args` added.
fn serve_command(
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Command {
    let mut command = ets();
    command
        .envs(env.iter().copied())
        .args(["serve", "--port", "0", "--metrics-port", "0", "--data-dir"])
        .arg(data_dir)
        .args(args);
    command
}

/// Secure by default (issue 11): without authentication, `serve` on a non-loopback address
/// exits non-zero, naming how to turn authentication on and the explicit way out; nothing is
/// created.
#[test]
fn serving_beyond_loopback_without_auth_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for host in ["0.0.0.0", "::"] {
        let output = serve_command(&data, &[], &["--host", host])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{host}: {stderr}");
        for needle in [
            "auth.enabled",
            "ETS_AUTH__ENABLED=true",
            "--allow-anonymous",
        ] {
            assert!(stderr.contains(needle), "{host}: {needle}: {stderr}");
        }
        assert!(!data.exists(), "nothing created");
    }
}

/// `--allow-anonymous` (or `auth.allow_anonymous`) lets a non-loopback address serve, with a
/// warning at every start; with authentication on, no consent is needed.
#[test]
fn allow_anonymous_serves_beyond_loopback_with_a_warning_at_every_start() {
    let dir = tempfile::tempdir().unwrap();
    let client = Http::new();
    let warned = |log: &[String]| {
        log.iter()
            .any(|l| l.contains("WARN") && l.contains("without authentication"))
    };
    let all = ["--host", "0.0.0.0"];
    for _start in 0..2 {
        let command = serve_command(dir.path(), &[], &["--host", "0.0.0.0", "--allow-anonymous"]);
        let (served, log) = Served::spawn(command);
        assert!(warned(&log), "{log:?}");
        let (status, _) = client.get(&format!("{}/api/v1/projects", served.base));
        assert_eq!(status, 200);
    }
    let command = serve_command(dir.path(), &[("ETS_AUTH__ALLOW_ANONYMOUS", "true")], &all);
    let (_served, log) = Served::spawn(command);
    assert!(warned(&log), "{log:?}");
    let command = serve_command(dir.path(), &[("ETS_AUTH__ENABLED", "true")], &all);
    let (_served, log) = Served::spawn(command);
    assert!(!warned(&log), "{log:?}");
}

/// CORS credentials together with any origin would let every web site act with a visitor's
/// credentials: start-up stops and says what to change.
#[test]
fn cors_credentials_with_any_origin_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ETS_CORS__ALLOWED_ORIGINS", "[\"*\"]"),
        ("ETS_CORS__ALLOW_CREDENTIALS", "true"),
    ];
    let output = serve_command(dir.path(), &env, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("cors.allow_credentials") && stderr.contains("ETS_CORS__ALLOWED_ORIGINS"),
        "{stderr}"
    );
}

/// Data at rest (issue 11): under `umask 000`, the data directory ETS creates, the SQLite
/// files and every artifact folder and file are still its owner's alone.
#[cfg(unix)]
#[test]
fn data_at_rest_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // `sh` sets the umask and becomes the binary, with the environment `ets()` would give it.
    let template = serve_command(&data, &[], &[]);
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", "umask 000 && exec \"$@\"", "sh"])
        .arg(template.get_program())
        .args(template.get_args())
        .env_clear()
        .envs(
            template
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .envs(std::env::vars().filter(|(k, _)| !k.starts_with("ETS_") && k != "RUST_LOG"));
    let (served, _) = Served::spawn(command);
    let client = Http::new();
    let base = served.base.clone();
    let run = client.create_run(&base);
    for (path, size) in [("small/model.bin", 1000), ("large/weights.bin", 3 << 20)] {
        let (status, body) = client.call(
            client
                .inner
                .post(format!("{base}/api/v1/runs/{run}/artifacts?path={path}"))
                .body(vec![7_u8; size]),
        );
        assert_eq!(status, 201, "{body}");
    }

    let mode = |path: &std::path::Path| {
        std::fs::symlink_metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data), 0o700, "data directory");
    for file in ["ets.db", "ets.db-wal", "ets.db-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    let mut checked = 0;
    let mut pending = vec![data.join("artifacts")];
    while let Some(folder) = pending.pop() {
        assert_eq!(mode(&folder), 0o700, "{}", folder.display());
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "both artifacts were found ({checked} files)");
}
