//! `ets export --project P --to DIR` and `ets import DIR` (issue 17) with the real binary, on
//! SQLite and PostgreSQL and across them: a project with everything a project holds (trashed
//! and nested runs, typed params, non-finite and near-duplicate points, a series longer than a
//! line of the format, model and dataset contexts, logged models, logs, artifacts) comes back
//! exactly — the same API answers on the imported copy, and its export is the same files.
//! Importing again writes nothing; an import stopped by a damaged file finishes once the file is
//! repaired.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::process::{Http, Served, TestDb, on_both_databases_sync};
use serde_json::{Value, json};

on_both_databases_sync!(
    round_trip_reproduces_the_project,
    an_interrupted_import_finishes_when_run_again,
    bad_archives_are_refused_with_what_is_wrong;
    postgres_only: sqlite_to_postgres_and_back
);

const PROJECT: &str = "archived";
/// Longer than one line of `metrics.jsonl` (10,000 points).
const LONG_SERIES: i64 = 25_000;

/// What a project's API answers, by path: the comparison of the original and the copy.
type Answers = BTreeMap<String, Value>;

struct Source {
    served: Served,
    http: Http,
    data: tempfile::TempDir,
}

impl Source {
    /// `ets serve` on `db` with its files in `data`.
    fn start(db: &TestDb, data: tempfile::TempDir) -> Source {
        let (served, _) = Served::start_on(db, data.path(), &[]);
        Source {
            served,
            http: Http::new(),
            data,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.served.base)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.http.post(&self.url(path), body.clone());
        assert!(
            status == 200 || status == 201,
            "POST {path} {body}: {status} {reply}"
        );
        reply
    }

    fn get(&self, path: &str) -> Value {
        let (status, reply) = self.http.get(&self.url(path));
        assert_eq!(status, 200, "GET {path}: {reply}");
        reply
    }

    fn put_bytes(&self, path: &str, bytes: Vec<u8>) {
        let (status, reply) = self
            .http
            .call(self.http.inner.put(self.url(path)).body(bytes));
        assert!(
            status == 200 || status == 201,
            "PUT {path}: {status} {reply}"
        );
    }

    fn bytes(&self, path: &str) -> Vec<u8> {
        self.http.runtime.block_on(async {
            let response = self.http.inner.get(self.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "GET {path}");
            response.bytes().await.unwrap().to_vec()
        })
    }
}

/// Fills a project with one of everything; returns its id.
fn populate(s: &Source) -> String {
    let project = s.post(
        "/api/v1/projects",
        json!({"name": PROJECT, "description": "all kinds of data", "tags": {"team": "vision"}}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let experiment = |name: &str, extra: Value| {
        let mut body = json!({"project_id": project, "name": name});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        s.post("/api/v1/experiments", body)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let main = experiment(
        "main",
        json!({
            "tags": {"goal": "accuracy"},
            "objectives": [{"metric": "acc", "direction": "maximize"}],
            "search_space": {"lr": {"type": "float", "low": 0.0001, "high": 0.1, "log": true}},
        }),
    );
    let old = experiment("old", json!({}));
    let run = |experiment: &str, body: Value| {
        let mut full = json!({"experiment_id": experiment});
        full.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        s.post("/api/v1/runs", full)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let parent = run(
        &main,
        json!({"name": "sweep", "params": {"lr": 0.01, "layers": 4, "opt": "adam", "aug": true},
               "tags": {"kind": "parent", "note": "ünïcødé ✓"}}),
    );
    let child = run(
        &main,
        json!({"name": "trial-1", "parent_run_id": parent, "params": {"lr": "1e-3"}}),
    );
    let trashed = run(&old, json!({"name": "bad"}));

    // Points: non-finite values, -0.0, a value JSON cannot shorten, two values at one step and
    // time (both kept), and a long series.
    s.post(
        &format!("/api/v1/runs/{parent}/bulk-metrics"),
        json!({"series": [
            {"key": "loss", "steps": [0, 1, 2, 3, 3, 4, 5],
             "values": [1.5, "NaN", "Infinity", "-Infinity", 0.25, -0.0, 1.0 / 11.0],
             "timestamps": [1000, 1001, 1002, 1003, 1003, 1004, 1005]},
            {"key": "long", "steps": (0..LONG_SERIES).collect::<Vec<_>>(),
             "values": (0..LONG_SERIES).map(|i| (i as f64).sin()).collect::<Vec<_>>(),
             "timestamps": (0..LONG_SERIES).map(|i| 5_000 + i).collect::<Vec<_>>()},
        ]}),
    );
    s.post(
        &format!("/api/v1/runs/{child}/bulk-metrics"),
        json!({"series": [{"key": "acc", "steps": [1], "values": [0.5], "timestamp": 7}]}),
    );
    // MLflow 3: a logged model, points logged for it and on datasets, inputs and outputs.
    let model = s.post(
        "/api/2.0/mlflow/logged-models",
        json!({"experiment_id": main, "source_run_id": parent, "name": "net"}),
    )["model"]["info"]["model_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.post(
        "/api/2.0/mlflow/runs/log-batch",
        json!({"run_id": parent, "metrics": [
            {"key": "acc", "value": 0.9, "timestamp": 50, "step": 1, "model_id": model,
             "dataset_name": "eval", "dataset_digest": "e1"},
            {"key": "acc", "value": 0.8, "timestamp": 51, "step": 2,
             "dataset_name": "eval", "dataset_digest": "e2"},
        ]}),
    );
    s.post(
        "/api/2.0/mlflow/runs/log-inputs",
        json!({"run_id": parent, "datasets": [{
            "tags": [{"key": "mlflow.data.context", "value": "training"}],
            "dataset": {"name": "train", "digest": "d1", "source_type": "local",
                        "source": "{\"uri\": \"/data/train\"}", "schema": "{}"}}],
               "models": [{"model_id": model}]}),
    );
    s.post(
        "/api/2.0/mlflow/runs/outputs",
        json!({"run_id": child, "models": [{"model_id": model, "step": 3}]}),
    );
    // Logs on both streams, more lines than one import batch holds by default.
    let lines: Vec<Value> = (0..2500)
        .map(|i| {
            json!({"stream": if i % 7 == 0 { "stderr" } else { "stdout" },
                   "timestamp": 10_000 + i, "line": format!("epoch {i} ✓ loss={}", 1.0 / (i + 1) as f64)})
        })
        .collect();
    for batch in lines.chunks(1000) {
        s.post(
            &format!("/api/v1/runs/{parent}/logs"),
            json!({ "lines": batch }),
        );
    }
    // Artifacts: nested paths, binary bytes, an empty file.
    let binary: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    for (path, bytes) in [
        ("model/weights.bin", binary),
        ("model/config.json", b"{\"layers\": 4}".to_vec()),
        ("empty.txt", Vec::new()),
    ] {
        s.put_bytes(
            &format!("/api/2.0/mlflow-artifacts/artifacts/{main}/{parent}/artifacts/{path}"),
            bytes,
        );
    }
    // Ends of life: finished, failed, trashed (with its experiment).
    s.post(
        &format!("/api/v1/runs/{parent}/finish"),
        json!({"status": "finished"}),
    );
    s.post(
        &format!("/api/v1/runs/{child}/finish"),
        json!({"status": "failed"}),
    );
    let (status, reply) = s.http.call(
        s.http
            .inner
            .delete(s.url(&format!("/api/v1/experiments/{old}"))),
    );
    assert!(status == 200 || status == 204, "{status} {reply}");
    let (status, _) = s.http.get(&s.url(&format!("/api/v1/runs/{trashed}")));
    assert_eq!(status, 200, "a trashed run is still readable");
    project
}

/// Everything the API shows of the project: itself, its experiments and runs (trashed ones
/// too), each run's metric histories, log, artifact list and bytes, and its logged models.
fn answers(s: &Source, project: &str) -> Answers {
    let mut out = Answers::new();
    out.insert(
        "project".into(),
        s.get(&format!("/api/v1/projects/{project}")),
    );
    let experiments = s.post(
        "/api/2.0/mlflow/experiments/search",
        json!({"max_results": 100, "view_type": "ALL"}),
    );
    let mut experiment_ids = Vec::new();
    for e in experiments["experiments"].as_array().unwrap() {
        let id = e["experiment_id"].as_str().unwrap().to_owned();
        let native = s.get(&format!("/api/v1/experiments/{id}"));
        if native["project_id"] == project {
            out.insert(format!("experiment {id}"), native);
            experiment_ids.push(id);
        }
    }
    let runs = s.post(
        "/api/2.0/mlflow/runs/search",
        json!({"experiment_ids": experiment_ids, "run_view_type": "ALL", "max_results": 1000}),
    );
    out.insert(
        "models".into(),
        s.post(
            "/api/2.0/mlflow/logged-models/search",
            json!({"experiment_ids": experiment_ids}),
        ),
    );
    for run in runs["runs"].as_array().unwrap() {
        let id = run["info"]["run_id"].as_str().unwrap().to_owned();
        out.insert(format!("run {id}"), s.get(&format!("/api/v1/runs/{id}")));
        out.insert(format!("mlflow run {id}"), run.clone());
        for metric in run["data"]["metrics"].as_array().into_iter().flatten() {
            let key = metric["key"].as_str().unwrap();
            out.insert(
                format!("history {id} {key}"),
                s.get(&format!(
                    "/api/2.0/mlflow/metrics/get-history?run_id={id}&metric_key={key}&max_results=100000"
                )),
            );
        }
        let mut token = String::new();
        let mut page = 0;
        loop {
            let logs = s.get(&format!(
                "/api/v1/runs/{id}/logs?limit=1000&page_token={token}"
            ));
            out.insert(format!("logs {id} {page}"), logs["items"].clone());
            match logs["next_page_token"].as_str() {
                Some(next) => token = next.to_owned(),
                None => break,
            }
            page += 1;
        }
        let artifacts = s.get(&format!("/api/v1/runs/{id}/artifacts"));
        for artifact in artifacts["items"].as_array().unwrap() {
            let path = artifact["path"].as_str().unwrap();
            let bytes = s.bytes(&format!("/api/v1/runs/{id}/artifacts/{path}"));
            out.insert(format!("bytes {id} {path}"), json!(bytes));
        }
        out.insert(format!("artifacts {id}"), artifacts);
    }
    out
}

fn export(db: &TestDb, data: &Path, to: &Path) -> Value {
    let output = db
        .ets()
        .arg("--data-dir")
        .arg(data)
        .args(["export", "--project", PROJECT, "--json", "--to"])
        .arg(to)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ets export: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn import(db: &TestDb, data: &Path, from: &Path) -> Result<Value, String> {
    let output = db
        .ets()
        .arg("--data-dir")
        .arg(data)
        .args(["import", "--json"])
        .arg(from)
        .output()
        .unwrap();
    match output.status.success() {
        true => Ok(serde_json::from_slice(&output.stdout).unwrap()),
        false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
    }
}

/// Every file below `dir` with its bytes, the manifest's export time left out.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for path in common::files_under(dir) {
        let mut bytes = std::fs::read(dir.join(&path)).unwrap();
        if path == "manifest.json" {
            let mut manifest: Value = serde_json::from_slice(&bytes).unwrap();
            manifest["exported_at"] = Value::Null;
            bytes = serde_json::to_vec(&manifest).unwrap();
        }
        out.insert(path, bytes);
    }
    out
}

/// Exports the project from `from`, imports it into `into` and checks the copy: the same API
/// answers, the same archive when exported again; importing again writes nothing.
fn check_round_trip(from: &TestDb, into: &TestDb) {
    let source = Source::start(from, tempfile::tempdir().unwrap());
    let project = populate(&source);
    let original = answers(&source, &project);
    let count = |prefix: &str| original.keys().filter(|k| k.starts_with(prefix)).count();
    assert_eq!(count("run "), 3, "the comparison covers every run");
    assert_eq!(count("history "), 4, "…and series");
    assert_eq!(
        count("logs "),
        3 + 2,
        "…and log pages (three of the first run)"
    );
    assert_eq!(count("bytes "), 3, "…and artifacts");
    let archive = tempfile::tempdir().unwrap();
    let first = archive.path().join("first");
    // While the source serves: the command reads the same database.
    let counts = export(from, source.data.path(), &first);
    assert_eq!(counts["experiments"], 2, "{counts}");
    assert_eq!(counts["runs"], 3, "{counts}");
    assert_eq!(counts["logged_models"], 1, "{counts}");
    assert_eq!(counts["metric_points"], 7 + LONG_SERIES + 2 + 1, "{counts}");
    assert_eq!(counts["log_lines"], 2500, "{counts}");
    assert_eq!(counts["artifacts"], 3, "{counts}");
    let runs = std::fs::read_dir(first.join("runs")).unwrap().count();
    assert_eq!(runs, 3, "a folder per run");
    drop(source);

    let target = tempfile::tempdir().unwrap();
    let imported = import(into, target.path(), &first).unwrap();
    assert_eq!(imported["runs"], 3, "{imported}");
    assert_eq!(
        imported["metric_points"], counts["metric_points"],
        "{imported}"
    );
    assert_eq!(imported["log_lines"], 2500, "{imported}");
    assert_eq!(imported["runs_skipped"], 0, "{imported}");

    let again = import(into, target.path(), &first).unwrap();
    assert_eq!(
        again["runs_skipped"], 3,
        "a second import skips every run: {again}"
    );
    assert_eq!(again["metric_points"], 0, "{again}");
    assert_eq!(again["log_lines"], 0, "{again}");
    assert_eq!(again["artifacts"], 0, "{again}");

    let second = archive.path().join("second");
    export(into, target.path(), &second);
    assert_same_files(&first, &second);

    let copy = Source::start(into, target);
    let restored = answers(&copy, &project);
    assert_eq!(
        original.keys().collect::<Vec<_>>(),
        restored.keys().collect::<Vec<_>>()
    );
    for (what, value) in &original {
        assert_eq!(*value, restored[what], "{what}");
    }
}

fn assert_same_files(first: &Path, second: &Path) {
    let (a, b) = (files(first), files(second));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, bytes) in &a {
        assert!(
            *bytes == b[path],
            "{path} differs:\n{}\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&b[path])
        );
    }
}

/// A second database of the same kind as `db` (a fresh PostgreSQL schema; SQLite lives in the
/// data directory).
fn another(db: &TestDb) -> TestDb {
    match db.url() {
        Some(_) => TestDb::postgres().expect("PostgreSQL is there: the first schema was made"),
        None => TestDb::sqlite(),
    }
}

fn round_trip_reproduces_the_project(db: &TestDb) {
    let target = another(db);
    check_round_trip(db, &target);
    target.drop_schema();
}

fn sqlite_to_postgres_and_back(db: &TestDb) {
    check_round_trip(&TestDb::sqlite(), db);
    let source = another(db);
    check_round_trip(&source, &TestDb::sqlite());
    source.drop_schema();
}

/// The project of [`populate`] on `db`, exported to `<archive>/first`: (archive, first).
fn populated_archive(db: &TestDb) -> (tempfile::TempDir, std::path::PathBuf) {
    let source = Source::start(db, tempfile::tempdir().unwrap());
    populate(&source);
    let archive = tempfile::tempdir().unwrap();
    let first = archive.path().join("first");
    export(db, source.data.path(), &first);
    (archive, first)
}

/// An artifact damaged in the archive stops the import with the checksum named; the runs
/// written so far stay marked pending, and the import run again once the file is repaired
/// finishes them. Exporting then gives back the first archive.
fn an_interrupted_import_finishes_when_run_again(db: &TestDb) {
    let (archive, first) = populated_archive(db);
    let config = common::files_under(&first)
        .into_iter()
        .find(|p| p.ends_with("artifacts/model/config.json"))
        .expect("the archive holds the artifact");
    let original = std::fs::read(first.join(&config)).unwrap();
    std::fs::write(first.join(&config), b"{\"layers\": 5}").unwrap();

    let target_db = another(db);
    let target = tempfile::tempdir().unwrap();
    let refused = import(&target_db, target.path(), &first).unwrap_err();
    assert!(
        refused.contains("model/config.json") && refused.contains("the archive is damaged"),
        "{refused}"
    );
    std::fs::write(first.join(&config), &original).unwrap();
    let finished = import(&target_db, target.path(), &first).unwrap();
    // Every run is created (pending) before any run's contents are written.
    assert_eq!(finished["runs_resumed"], 3, "{finished}");
    assert_eq!(finished["runs_skipped"], 0, "{finished}");

    let second = archive.path().join("second");
    export(&target_db, target.path(), &second);
    assert_same_files(&first, &second);
    // An archive is never written over another one.
    let refused = target_db
        .ets()
        .arg("--data-dir")
        .arg(target.path())
        .args(["export", "--project", PROJECT, "--to"])
        .arg(&second)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is not empty"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    target_db.drop_schema();
}

/// An archive of another format, a series with an invalid key, and ids this ETS holds for
/// something else are refused, each with what is wrong.
fn bad_archives_are_refused_with_what_is_wrong(db: &TestDb) {
    let (_archive, first) = populated_archive(db);
    let target_db = another(db);

    let manifest_path = first.join("manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        manifest.replace("ets-archive", "other-archive"),
    )
    .unwrap();
    let refused = import(&target_db, tempfile::tempdir().unwrap().path(), &first).unwrap_err();
    assert!(refused.contains("'other-archive' archive"), "{refused}");
    std::fs::write(&manifest_path, &manifest).unwrap();

    let metrics = common::files_under(&first)
        .into_iter()
        .find(|p| p.ends_with("metrics.jsonl"))
        .unwrap();
    let original = std::fs::read_to_string(first.join(&metrics)).unwrap();
    let line = original.lines().next().unwrap();
    let key = serde_json::from_str::<Value>(line).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = line.replacen(&format!("\"key\":\"{key}\""), "\"key\":\"\"", 1);
    std::fs::write(first.join(&metrics), original.replacen(line, &bad, 1)).unwrap();
    let refused = import(&target_db, tempfile::tempdir().unwrap().path(), &first).unwrap_err();
    assert!(refused.contains("series[0].key"), "{refused}");
    std::fs::write(first.join(&metrics), &original).unwrap();

    let target = tempfile::tempdir().unwrap();
    import(&target_db, target.path(), &first).unwrap();
    let project_path = first.join("project.json");
    let project = std::fs::read_to_string(&project_path).unwrap();
    std::fs::write(
        &project_path,
        project.replace(&format!("\"{PROJECT}\""), "\"renamed\""),
    )
    .unwrap();
    let refused = import(&target_db, target.path(), &first).unwrap_err();
    assert!(
        refused.contains(&format!("exists here as '{PROJECT}', not 'renamed'")),
        "{refused}"
    );
    target_db.drop_schema();
}
