//! The audit trail: every write leaves exactly one record with the right actor, action and
//! entity; tampering with the table (edit, delete, insert, reorder) is caught by
//! `GET /api/v1/audit/verify` and by `ets audit verify`; concurrent writers, also two stores
//! on one database, leave a chain without gaps. Both databases.

mod common;

use common::{Database, Reply, TestApp, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    every_write_leaves_exactly_one_record,
    a_refused_write_leaves_no_record,
    an_ask_and_a_tell_leave_one_record_per_change,
    the_trail_is_listed_by_entity_actor_and_time_in_pages,
    an_edited_record_is_caught,
    a_deleted_record_is_caught,
    an_inserted_record_is_caught_even_with_a_valid_hash,
    reordered_records_are_caught,
    records_cannot_be_changed_while_the_guards_stand,
    concurrent_writers_on_two_stores_leave_a_gapless_chain,
    writes_outside_requests_are_the_systems_and_bookkeeping_can_skip_the_trail,
    reads_of_healthcare_experiments_are_recorded,
    reads_are_recorded_as_configured,
);

/// Every record, oldest first.
async fn records(app: &TestApp) -> Vec<Value> {
    let reply = app.get("/api/v1/audit?sort=seq&page_size=1000").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"].as_array().expect("items").clone()
}

async fn verify(app: &TestApp) -> Value {
    let reply = app.get("/api/v1/audit/verify").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// Walks a sequence of writes, checking that each left exactly one new record.
struct Trail<'a> {
    app: &'a TestApp,
    seen: usize,
}

/// One write: the request, and the record it must leave (`action` on `kind` `id`).
struct Write<'s> {
    method: &'s str,
    path: String,
    body: Value,
    action: &'s str,
    kind: &'s str,
    id: String,
}

fn write<'s>(
    method: &'s str,
    path: String,
    body: Value,
    action: &'s str,
    kind: &'s str,
    id: &str,
) -> Write<'s> {
    Write {
        method,
        path,
        body,
        action,
        kind,
        id: id.to_owned(),
    }
}

impl<'a> Trail<'a> {
    async fn new(app: &'a TestApp) -> Trail<'a> {
        Trail {
            seen: records(app).await.len(),
            app,
        }
    }

    /// Sends each write; each must succeed and leave one record: its action on its entity,
    /// by the anonymous caller of that request, from loopback. Returns the records.
    async fn check(&mut self, writes: Vec<Write<'_>>) -> Vec<Value> {
        let mut left = Vec::new();
        for w in writes {
            let url = self.app.url(&w.path);
            let request = match w.method {
                "POST" => self.app.client.post(url).json(&w.body),
                "PUT" => self.app.client.put(url).json(&w.body),
                "PATCH" => self.app.client.patch(url).json(&w.body),
                "DELETE" => self.app.client.delete(url),
                "UPLOAD" => self
                    .app
                    .client
                    .post(url)
                    .body(w.body.as_str().unwrap().to_owned()),
                "RAW-PUT" => self
                    .app
                    .client
                    .put(url)
                    .body(w.body.as_str().unwrap().to_owned()),
                other => panic!("method {other}"),
            };
            let reply = self.app.send(request).await;
            left.push(
                self.one(
                    &format!("{} {}", w.method, w.path),
                    reply,
                    w.action,
                    w.kind,
                    &w.id,
                )
                .await,
            );
        }
        left
    }

    async fn one(&mut self, what: &str, reply: Reply, action: &str, kind: &str, id: &str) -> Value {
        assert!(
            reply.status.is_success(),
            "{what}: {} {}",
            reply.status,
            reply.body
        );
        let all = records(self.app).await;
        let new = &all[self.seen..];
        assert_eq!(new.len(), 1, "{what} left {} records: {new:#?}", new.len());
        let record = new[0].clone();
        self.seen = all.len();
        for (field, expected) in [
            ("action", action),
            ("entity_kind", kind),
            ("entity_id", id),
            ("actor", "anonymous"),
            ("client_ip", "127.0.0.1"),
            (
                "request_id",
                reply.headers["x-request-id"].to_str().unwrap(),
            ),
        ] {
            assert_eq!(record[field], expected, "{what}: {field} of {record}");
        }
        assert_eq!(record["seq"], all.len() as u64, "{what}: {record}");
        record
    }

    /// A creation: sends it, checks its record names the id the reply found at `id_at`.
    async fn create(
        &mut self,
        path: &str,
        body: Value,
        action: &str,
        kind: &str,
        id_at: &str,
    ) -> String {
        let reply = self.app.post(path, body).await;
        let id = reply
            .body
            .pointer(id_at)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{path}: {}", reply.body))
            .to_owned();
        self.one(path, reply, action, kind, &id).await;
        id
    }
}

async fn every_write_leaves_exactly_one_record() {
    let app = TestApp::start().await;
    let mut trail = Trail::new(&app).await;
    assert_eq!(trail.seen, 0, "a new database has an empty trail");

    // Native API.
    let project = trail
        .create(
            "/api/v1/projects",
            json!({"name": "audited"}),
            "project.create",
            "project",
            "/id",
        )
        .await;
    let experiment = trail
        .create(
            "/api/v1/experiments",
            json!({"project_id": project, "name": "e"}),
            "experiment.create",
            "experiment",
            "/id",
        )
        .await;
    let run = trail
        .create(
            "/api/v1/runs",
            json!({"experiment_id": experiment, "params": {"lr": 0.1}}),
            "run.create",
            "run",
            "/id",
        )
        .await;
    let points: Vec<Value> = (0..1000)
        .map(|i| json!({"key": "loss", "value": 1.0 / (1.0 + i as f64), "step": i}))
        .collect();
    let artifact = format!("{run}/model/weights.bin");
    let left = trail
        .check(vec![
            write(
                "PUT",
                format!("/api/v1/projects/{project}"),
                json!({"description": "d"}),
                "project.update",
                "project",
                &project,
            ),
            write(
                "PUT",
                format!("/api/v1/experiments/{experiment}"),
                json!({"description": "x"}),
                "experiment.update",
                "experiment",
                &experiment,
            ),
            write(
                "POST",
                format!("/api/v1/experiments/{experiment}/start"),
                json!({}),
                "experiment.update",
                "experiment",
                &experiment,
            ),
            write(
                "PUT",
                format!("/api/v1/runs/{run}"),
                json!({"tags": {"a": "b"}, "params": {"bs": 32}}),
                "run.update",
                "run",
                &run,
            ),
            write(
                "POST",
                format!("/api/v1/runs/{run}/metrics"),
                json!({"metrics": points}),
                "run.log",
                "run",
                &run,
            ),
            write(
                "POST",
                format!("/api/v1/runs/{run}/bulk-metrics"),
                json!({"series": [{"key": "acc", "steps": [1, 2], "values": [0.5, 0.6]}]}),
                "run.log",
                "run",
                &run,
            ),
            write(
                "UPLOAD",
                format!("/api/v1/runs/{run}/artifacts?path=model/weights.bin"),
                json!("bytes"),
                "artifact.put",
                "artifact",
                &artifact,
            ),
            write(
                "DELETE",
                format!("/api/v1/runs/{run}/artifacts/model/weights.bin"),
                Value::Null,
                "artifact.delete",
                "artifact",
                &artifact,
            ),
            write(
                "POST",
                format!("/api/v1/runs/{run}/finish"),
                json!({}),
                "run.update",
                "run",
                &run,
            ),
            write(
                "DELETE",
                format!("/api/v1/runs/{run}"),
                Value::Null,
                "run.trash",
                "run",
                &run,
            ),
            write(
                "POST",
                format!("/api/v1/runs/{run}/restore"),
                json!({}),
                "run.restore",
                "run",
                &run,
            ),
        ])
        .await;
    assert_eq!(left[0]["details"]["changed"], json!(["description"]));
    assert!(
        left[2]["details"]["changed"]
            .as_array()
            .unwrap()
            .contains(&json!("status")),
        "{}",
        left[2]
    );
    assert_eq!(
        left[4]["details"]["metrics"],
        json!({"keys": 1, "points": 1000, "names": ["loss"]})
    );
    assert_eq!(left[6]["details"]["size"], 5);

    // MLflow API.
    let ml = |path: &str| format!("/api/2.0/mlflow/{path}");
    let ml_experiment = trail
        .create(
            &ml("experiments/create"),
            json!({"name": "mlflow-exp"}),
            "experiment.create",
            "experiment",
            "/experiment_id",
        )
        .await;
    let ml_run = trail
        .create(
            &ml("runs/create"),
            json!({"experiment_id": ml_experiment}),
            "run.create",
            "run",
            "/run/info/run_id",
        )
        .await;
    let model = trail
        .create(
            &ml("logged-models"),
            json!({"experiment_id": ml_experiment, "name": "model", "source_run_id": ml_run}),
            "logged_model.create",
            "logged_model",
            "/model/info/model_id",
        )
        .await;
    let dataset = json!({"dataset": {"name": "d", "digest": "x1", "source_type": "local", "source": "{}"},
        "tags": [{"key": "mlflow.data.context", "value": "train"}]});
    let left = trail
        .check(vec![
            write("POST", ml("experiments/set-experiment-tag"), json!({"experiment_id": ml_experiment, "key": "k", "value": "v"}), "experiment.update", "experiment", &ml_experiment),
            write("POST", ml("runs/log-metric"), json!({"run_id": ml_run, "key": "m", "value": 1.0, "timestamp": 1, "step": 0}), "run.log", "run", &ml_run),
            write("POST", ml("runs/log-parameter"), json!({"run_id": ml_run, "key": "p", "value": "1"}), "run.log", "run", &ml_run),
            write("POST", ml("runs/set-tag"), json!({"run_id": ml_run, "key": "t", "value": "1"}), "run.log", "run", &ml_run),
            write("POST", ml("runs/log-batch"), json!({"run_id": ml_run, "metrics": [{"key": "m", "value": 2.0, "timestamp": 2, "step": 1}],
                "params": [{"key": "q", "value": "2"}], "tags": [{"key": "u", "value": "3"}]}), "run.log", "run", &ml_run),
            write("POST", ml("runs/log-inputs"), json!({"run_id": ml_run, "datasets": [dataset]}), "run.log_inputs", "run", &ml_run),
            write("PATCH", ml(&format!("logged-models/{model}")), json!({"model_id": model, "status": "LOGGED_MODEL_READY"}), "logged_model.update", "logged_model", &model),
            write("DELETE", ml(&format!("logged-models/{model}")), Value::Null, "logged_model.delete", "logged_model", &model),
            write("RAW-PUT", format!("/api/2.0/mlflow-artifacts/artifacts/{ml_experiment}/{ml_run}/artifacts/a.txt"), json!("hello"), "artifact.put", "artifact", &format!("{ml_run}/a.txt")),
            write("POST", ml("runs/delete"), json!({"run_id": ml_run}), "run.trash", "run", &ml_run),
            write("POST", ml("runs/restore"), json!({"run_id": ml_run}), "run.restore", "run", &ml_run),
            write("POST", ml("experiments/delete"), json!({"experiment_id": ml_experiment}), "experiment.trash", "experiment", &ml_experiment),
            write("POST", ml("experiments/restore"), json!({"experiment_id": ml_experiment}), "experiment.restore", "experiment", &ml_experiment),
        ])
        .await;
    assert_eq!(
        (
            left[4]["details"]["params"].clone(),
            left[4]["details"]["tags"].clone()
        ),
        (json!(1), json!(1))
    );

    // Deletions, last: trash, restore, and for good.
    trail
        .check(vec![
            write(
                "DELETE",
                format!("/api/v1/experiments/{experiment}"),
                Value::Null,
                "experiment.trash",
                "experiment",
                &experiment,
            ),
            write(
                "POST",
                format!("/api/v1/experiments/{experiment}/restore"),
                json!({}),
                "experiment.restore",
                "experiment",
                &experiment,
            ),
            write(
                "DELETE",
                format!("/api/v1/runs/{run}?permanent=true"),
                Value::Null,
                "run.delete",
                "run",
                &run,
            ),
            write(
                "DELETE",
                format!("/api/v1/experiments/{experiment}?permanent=true"),
                Value::Null,
                "experiment.delete",
                "experiment",
                &experiment,
            ),
            write(
                "DELETE",
                format!("/api/v1/projects/{project}?cascade=true"),
                Value::Null,
                "project.trash",
                "project",
                &project,
            ),
            write(
                "POST",
                format!("/api/v1/projects/{project}/restore"),
                json!({}),
                "project.restore",
                "project",
                &project,
            ),
            write(
                "DELETE",
                format!("/api/v1/projects/{project}?permanent=true&cascade=true"),
                Value::Null,
                "project.delete",
                "project",
                &project,
            ),
        ])
        .await;

    let all = records(&app).await;
    assert!(
        all.iter().all(|r| r["action"] != "unattributed"),
        "{all:#?}"
    );
    let report = verify(&app).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["checked"], all.len() as u64);
    assert_eq!(report["last_hash"], all.last().unwrap()["hash"]);
}

/// No record without its change: a write refused inside the store's transaction (a
/// write-once param sent with another value) leaves nothing.
async fn a_refused_write_leaves_no_record() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let path = format!("/api/v1/runs/{run}");
    let reply = app.put(&path, json!({"params": {"lr": 1}})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let before = records(&app).await.len();
    let reply = app
        .put(&path, json!({"params": {"lr": 2}, "tags": {"x": "y"}}))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(records(&app).await.len(), before);
    assert_eq!(app.get(&path).await.body["tags"].get("x"), None);
    assert_eq!(verify(&app).await["ok"], true);
}

/// `(action, entity kind, entity id)` of the records after the first `skip`.
async fn new_records(app: &TestApp, skip: usize) -> Vec<(String, String, String)> {
    records(app)
        .await
        .iter()
        .skip(skip)
        .map(|r| {
            let text = |field: &str| r[field].as_str().unwrap_or_default().to_owned();
            (text("action"), text("entity_kind"), text("entity_id"))
        })
        .collect()
}

fn triples(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected
        .iter()
        .map(|(a, k, i)| (a.to_string(), k.to_string(), i.to_string()))
        .collect()
}

/// An ask and a tell write several changes in one transaction each; each change keeps its
/// record (in the order of the changes), and the chain stays whole.
async fn an_ask_and_a_tell_leave_one_record_per_change() {
    let app = TestApp::start().await;
    let (_, experiment, _) = app.create_hierarchy().await;
    let reply = app
        .post(
            &format!("/api/v1/experiments/{experiment}/studies"),
            json!({ "name": "s", "sampler": "random", "seed": 3,
                    "search_space": { "x": { "type": "float", "low": 0, "high": 1 } } }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let study = reply.id();
    for (i, tell) in [json!({"value": 0.5}), json!({"state": "pruned"})]
        .into_iter()
        .enumerate()
    {
        let before = records(&app).await.len();
        let asked = app
            .post(&format!("/api/v1/studies/{study}/trials"), json!({}))
            .await;
        assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
        let trial = asked.body["trial_id"].as_str().unwrap().to_owned();
        let run = asked.body["run_id"].as_str().unwrap().to_owned();
        assert_eq!(
            new_records(&app, before).await,
            // The run is created with its params and tags, the trial with its params.
            triples(&[
                ("run.create", "run", &run),
                ("trial.create", "trial", &trial),
            ])
        );
        // The run carries the study, the trial's number and the params.
        let got = app.get(&format!("/api/v1/runs/{run}")).await;
        assert_eq!(
            got.body["tags"]["ets.study_id"],
            study.as_str(),
            "{}",
            got.body
        );
        assert_eq!(got.body["tags"]["ets.trial_number"], i.to_string());
        assert_eq!(got.body["params"]["x"], asked.body["params"]["x"]);
        assert_eq!(got.body["status"], "running");

        let before = records(&app).await.len();
        let told = app
            .post(&format!("/api/v1/trials/{trial}/complete"), tell.clone())
            .await;
        assert_eq!(told.status, StatusCode::OK, "{}", told.body);
        let mut expected = vec![("trial.set_state", "trial", trial.as_str())];
        if i == 0 {
            // The value, as the run's `value` metric.
            expected.push(("run.log", "run", &run));
        }
        expected.push(("run.update", "run", &run));
        assert_eq!(new_records(&app, before).await, triples(&expected));
        let got = app.get(&format!("/api/v1/runs/{run}")).await;
        // Complete and pruned trials leave their runs finished.
        assert_eq!(got.body["status"], "finished", "{}", got.body);
        let metrics = got.body["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), usize::from(i == 0), "{}", got.body);

        // Told once: a second tell is refused and leaves no record.
        let before = records(&app).await.len();
        let again = app
            .post(&format!("/api/v1/trials/{trial}/complete"), tell)
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        assert_eq!(records(&app).await.len(), before);
    }
    let all = records(&app).await;
    assert!(all.iter().all(|r| r["action"] != "unattributed"));
    let report = verify(&app).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["checked"], all.len() as u64);
}

async fn the_trail_is_listed_by_entity_actor_and_time_in_pages() {
    let (app, (project, experiment, run)) = app_with_a_trail().await;
    let reply = app
        .get(&format!("/api/v1/audit?entity_kind=run&entity_id={run}"))
        .await;
    let items = reply.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 6, "{}", reply.body);
    assert_eq!(items[0]["action"], "run.update", "newest first");
    assert_eq!(items[5]["action"], "run.create");

    // Pages of two, newest first, then oldest first.
    for (sort, first) in [("-seq", 8), ("seq", 1)] {
        let mut seqs = Vec::new();
        let mut token = String::new();
        loop {
            let reply = app
                .get(&format!(
                    "/api/v1/audit?page_size=2&sort={sort}&page_token={token}"
                ))
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            seqs.extend(
                reply.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["seq"].as_i64().unwrap()),
            );
            match reply.body["next_page_token"].as_str() {
                Some(next) => token = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(seqs.len(), 8, "{sort}: {seqs:?}");
        assert_eq!(seqs[0], first, "{sort}: {seqs:?}");
    }
    let reply = app
        .get(&format!(
            "/api/v1/audit?entity_id={project}&actor=anonymous"
        ))
        .await;
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        reply.body["items"][0]["details"]["name"]
            .as_str()
            .map(|n| n.starts_with("p-")),
        Some(true)
    );
    let reply = app
        .get(&format!(
            "/api/v1/audit?action=experiment.create&entity_id={experiment}"
        ))
        .await;
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/v1/audit?actor=somebody").await.body["items"],
        json!([])
    );
    assert_eq!(
        app.get("/api/v1/audit?until=2000-01-01T00:00:00Z")
            .await
            .body["items"],
        json!([])
    );
    assert_eq!(
        app.get("/api/v1/audit?since=2000-01-01T00:00:00Z")
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    assert_eq!(
        app.get("/api/v1/audit?since=4102444800000").await.body["items"],
        json!([])
    );
    for bad in [
        "since=yesterday",
        "sort=at",
        "page_token=nonsense",
        "page_size=0",
    ] {
        let reply = app.get(&format!("/api/v1/audit?{bad}")).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
    }
    // A token is bound to its direction.
    let token = app.get("/api/v1/audit?page_size=1").await.body["next_page_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = app
        .get(&format!("/api/v1/audit?sort=seq&page_token={token}"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------- reads

/// An experiment (with a healthcare configuration or not) with a run holding a metric and an
/// artifact: (experiment, run).
async fn experiment_with_data(
    app: &TestApp,
    project: &str,
    name: &str,
    healthcare: bool,
) -> (String, String) {
    let mut body = json!({"project_id": project, "name": name});
    if healthcare {
        body["healthcare"] = json!({});
    }
    let reply = app.post("/api/v1/experiments", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let experiment = reply.id();
    let run = app.create_run(&experiment).await;
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/metrics"),
            json!({"metrics": [{"key": "acc", "value": 0.9}]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = app
        .post_raw(
            &format!("/api/v1/runs/{run}/artifacts?path=notes.txt"),
            "phi",
            "text/plain",
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    (experiment, run)
}

/// Reads every kind of data of `experiment` and `run`; returns the actions each left, in order.
async fn read_everything(app: &TestApp, experiment: &str, run: &str) -> Vec<(String, String)> {
    let before = records(app).await.len();
    for path in [
        format!("/api/v1/runs/{run}"),
        format!("/api/v1/runs/{run}/metrics"),
        format!("/api/v1/runs/{run}/metrics/acc"),
        format!("/api/v1/runs/{run}/artifacts"),
        format!("/api/v1/runs/{run}/artifacts/notes.txt"),
        format!("/api/v1/experiments/{experiment}"),
        format!("/api/v1/experiments/{experiment}/metrics"),
        format!("/api/v1/runs?experiment_id={experiment}"),
    ] {
        let reply = app.send(app.client.get(app.url(&path))).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    }
    let reply = app
        .post(
            "/api/2.0/mlflow/runs/search",
            json!({"experiment_ids": [experiment]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    records(app).await[before..]
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["entity_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The default (`[audit] reads = "healthcare"`): reads of a healthcare experiment's runs,
/// metrics and artifacts are recorded with who read them; other experiments' reads are not.
async fn reads_of_healthcare_experiments_are_recorded() {
    let app = TestApp::start().await;
    let project = app.create_project("clinic").await;
    let (experiment, run) = experiment_with_data(&app, &project, "triage", true).await;
    let (other_experiment, other_run) = experiment_with_data(&app, &project, "plain", false).await;
    let recorded = read_everything(&app, &experiment, &run).await;
    let expected = [
        ("run.read", run.clone()),
        ("run.read_metrics", run.clone()),
        ("run.read_metrics", run.clone()),
        ("artifact.list", run.clone()),
        ("artifact.read", format!("{run}/notes.txt")),
        ("experiment.read", experiment.clone()),
        ("experiment.read_metrics", experiment.clone()),
        ("run.list", experiment.clone()),
        ("run.list", experiment.clone()),
    ]
    .map(|(action, id)| (action.to_owned(), id));
    assert_eq!(recorded, expected);
    let last = records(&app).await.pop().unwrap();
    assert_eq!(last["details"]["runs"], 1);
    assert_eq!(last["actor"], "anonymous");
    assert_eq!(
        read_everything(&app, &other_experiment, &other_run).await,
        []
    );
    assert_eq!(verify(&app).await["ok"], true);
}

async fn reads_are_recorded_as_configured() {
    use ets::config::AuditReads;
    let none = TestApp::start_with(|c| c.audit.reads = AuditReads::None).await;
    let project = none.create_project("p").await;
    let (experiment, run) = experiment_with_data(&none, &project, "triage", true).await;
    assert_eq!(read_everything(&none, &experiment, &run).await, []);

    let all = TestApp::start_with(|c| c.audit.reads = AuditReads::All).await;
    let project = all.create_project("p").await;
    let (experiment, run) = experiment_with_data(&all, &project, "plain", false).await;
    assert_eq!(read_everything(&all, &experiment, &run).await.len(), 9);
}

// ---------------------------------------------------------------- tampering

/// Runs SQL on the app's database directly, as someone with access to it could.
async fn tamper(app: &TestApp, sql: &str) {
    match app.database {
        Database::Sqlite => {
            let conn = rusqlite::Connection::open(app.data_dir.join("ets.db")).expect("open");
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Database::Postgres => {
            let url = app.database_url.as_deref().expect("a PostgreSQL URL");
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            client
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}

/// Drops the triggers that refuse changes to the table (what a tamperer with DDL rights does
/// first).
async fn drop_guards(app: &TestApp) {
    let sql = match app.database {
        Database::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Database::Postgres => "DROP TRIGGER audit_log_no_change ON audit_log;",
    };
    tamper(app, sql).await;
}

/// An app with a trail of eight records (project, experiment, run, five updates of the run),
/// and (project, experiment, run).
async fn app_with_a_trail() -> (TestApp, (String, String, String)) {
    let app = TestApp::start().await;
    let (project, experiment, run) = app.create_hierarchy().await;
    for i in 0..5 {
        let reply = app
            .put(
                &format!("/api/v1/runs/{run}"),
                json!({"tags": {"i": i.to_string()}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(verify(&app).await["checked"], 8);
    (app, (project, experiment, run))
}

/// Both verifications find the trail broken at `seq`, for a reason containing `reason`.
async fn assert_broken_at(app: &TestApp, seq: i64, reason: &str) {
    let report = verify(app).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_bad_seq"], seq, "{report}");
    assert!(
        report["reason"].as_str().unwrap().contains(reason),
        "{report}"
    );
    assert_eq!(report["checked"], seq - 1, "{report}");

    let mut command = common::process::ets();
    command
        .args(["audit", "verify", "--data-dir"])
        .arg(&app.data_dir);
    if let Some(url) = &app.database_url {
        command.args(["--database-url", url]);
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("ets runs"))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("broken at record {seq}: ")),
        "{stderr}"
    );
    assert!(stderr.contains(reason), "{stderr}");
    let printed: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(printed["first_bad_seq"], seq);
}

async fn an_edited_record_is_caught() {
    let (app, _) = app_with_a_trail().await;
    drop_guards(&app).await;
    tamper(&app, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3").await;
    assert_broken_at(&app, 3, "changed after it was written").await;
}

async fn a_deleted_record_is_caught() {
    let (app, _) = app_with_a_trail().await;
    drop_guards(&app).await;
    tamper(&app, "DELETE FROM audit_log WHERE seq = 5").await;
    assert_broken_at(&app, 5, "missing").await;
}

/// A forged record put in at 3 (the later ones moved up one) with a correct hash over its
/// content and a correct link to record 2: it verifies itself, but the next one no longer
/// follows it.
async fn an_inserted_record_is_caught_even_with_a_valid_hash() {
    let (app, _) = app_with_a_trail().await;
    let second = &records(&app).await[1];
    let mut forged = ets::audit::AuditRecord {
        seq: 3,
        at: ets_domain::Timestamp(1),
        actor: "mallory".into(),
        action: "run.delete".into(),
        entity_kind: "run".into(),
        entity_id: "forged".into(),
        request_id: None,
        client_ip: None,
        digest: "0".repeat(64),
        details: "{}".into(),
        prev_hash: second["hash"].as_str().unwrap().to_owned(),
        hash: String::new(),
    };
    forged.hash = forged.expected_hash();
    drop_guards(&app).await;
    tamper(
        &app,
        &format!(
            "UPDATE audit_log SET seq = -seq WHERE seq >= 3; UPDATE audit_log SET seq = 1 - seq WHERE seq < 0; \
             INSERT INTO audit_log (seq, at, actor, action, entity_kind, entity_id, digest, details, prev_hash, hash) \
             VALUES (3, 1, 'mallory', 'run.delete', 'run', 'forged', '{}', '{{}}', '{}', '{}')",
            forged.digest, forged.prev_hash, forged.hash
        ),
    )
    .await;
    assert_broken_at(&app, 4, "does not follow record 3").await;
}

async fn reordered_records_are_caught() {
    let (app, _) = app_with_a_trail().await;
    drop_guards(&app).await;
    tamper(
        &app,
        "UPDATE audit_log SET seq = -1 WHERE seq = 6; UPDATE audit_log SET seq = 6 WHERE seq = 7; \
         UPDATE audit_log SET seq = 7 WHERE seq = -1",
    )
    .await;
    assert_broken_at(&app, 6, "does not follow record 5").await;
}

/// The table refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) outright.
async fn records_cannot_be_changed_while_the_guards_stand() {
    let (app, _) = app_with_a_trail().await;
    for sql in [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3",
        "DELETE FROM audit_log WHERE seq = 3",
    ] {
        let refused = match app.database {
            Database::Sqlite => {
                let conn = rusqlite::Connection::open(app.data_dir.join("ets.db")).unwrap();
                conn.execute_batch(sql).err().map(|e| e.to_string())
            }
            Database::Postgres => {
                let url = app.database_url.as_deref().unwrap();
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                client
                    .batch_execute(sql)
                    .await
                    .err()
                    .map(|e| format!("{e:?}"))
            }
        };
        let message = refused.unwrap_or_else(|| panic!("{sql} was allowed"));
        assert!(message.contains("audit records cannot be"), "{message}");
    }
    assert_eq!(verify(&app).await["ok"], true);
}

// ---------------------------------------------------------------- concurrency

/// 16 concurrent clients write through two stores (two servers) on one database: on SQLite
/// two writer threads take turns on the file lock, on PostgreSQL two pools take turns on the
/// advisory lock. The chain verifies and its sequence has no gap.
async fn concurrent_writers_on_two_stores_leave_a_gapless_chain() {
    let first = TestApp::start().await;
    let (data_dir, url) = (first.data_dir.clone(), first.database_url.clone());
    let second = TestApp::start_with(move |config| match url {
        Some(url) => config.database_url = Some(url.parse().unwrap()),
        None => config.data_dir = data_dir,
    })
    .await;
    let (_, experiment, run) = first.create_hierarchy().await;
    const CLIENTS: usize = 16;
    const WRITES: usize = 5;
    let apps = [&first, &second];
    let clients = (0..CLIENTS).map(|client| {
        let (app, experiment, run) = (apps[client % 2], experiment.clone(), run.clone());
        async move {
            for write in 0..WRITES {
                let reply = match write % 3 {
                    0 => app.post(&format!("/api/v1/runs/{run}/metrics"), json!({"metrics": [{"key": format!("c{client}"), "value": 1.0, "step": write}]})).await,
                    1 => app.post("/api/v1/runs", json!({"experiment_id": experiment})).await,
                    _ => app.put(&format!("/api/v1/runs/{run}"), json!({"tags": {format!("c{client}"): write.to_string()}})).await,
                };
                assert!(reply.status.is_success(), "{}", reply.body);
            }
        }
    });
    futures_util::future::join_all(clients).await;

    let expected = 3 + CLIENTS * WRITES;
    for app in apps {
        let report = verify(app).await;
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["checked"], expected as u64, "{report}");
    }
    let seqs: Vec<i64> = records(&second)
        .await
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=expected as i64).collect::<Vec<_>>());
}

// ---------------------------------------------------------------- store level

/// Writes made outside any request (the command line, housekeeping) are attributed to
/// `system`; writes run inside `audit::unaudited` (bookkeeping such as an API key's last-used
/// time) leave no record; a backend's write helper used without the decorator still leaves
/// one, marked `unattributed`.
async fn writes_outside_requests_are_the_systems_and_bookkeeping_can_skip_the_trail() {
    let dir = tempfile::tempdir().unwrap();
    let database: ets::database_url::DatabaseUrl = match common::current_database() {
        Database::Sqlite => format!("sqlite://{}", dir.path().join("ets.db").display()),
        Database::Postgres => common::create_pg_schema().await.url,
    }
    .parse()
    .unwrap();
    let limits = ets::store::StoreLimits {
        max_concurrent_experiments: 10,
        max_runs_per_experiment: 10,
        max_metric_keys_per_run: 10,
    };
    let store = ets::store::open(&database, 2, limits, true).await.unwrap();
    let project = |name: &str| ets_domain::model::Project {
        id: ets_domain::new_id(),
        name: name.to_owned(),
        description: None,
        owner: None,
        members: Vec::new(),
        tags: Default::default(),
        status: ets_domain::status::ProjectStatus::Active,
        template: None,
        experiment_defaults: Default::default(),
        created_at: ets_domain::Timestamp::now(),
        updated_at: ets_domain::Timestamp::now(),
        deleted_at: None,
    };
    let audited = store
        .create_project(project("by-system"), None)
        .await
        .unwrap();
    let query = ets::store::AuditQuery {
        descending: false,
        page_size: 100,
        ..Default::default()
    };
    let page = store.audit_records(query.clone()).await.unwrap();
    assert_eq!(page.items.len(), 1, "{:?}", page.items);
    assert_eq!(page.items[0].actor, "system");
    assert_eq!(page.items[0].entity_id, audited.id);

    // The backend alone (no decorator): a write declared unaudited leaves nothing; one that
    // declares nothing still leaves a record, unattributed.
    let backend: std::sync::Arc<dyn ets::store::Store> = match &database {
        ets::database_url::DatabaseUrl::Sqlite(path) => std::sync::Arc::new(
            ets::store::sqlite::SqliteStore::open(path, 1, limits)
                .await
                .unwrap(),
        ),
        ets::database_url::DatabaseUrl::Postgres(options) => std::sync::Arc::new(
            ets::store::postgres::PgStore::open(options, 1, limits, false)
                .await
                .unwrap(),
        ),
    };
    ets::audit::unaudited(backend.create_project(project("bookkeeping"), None))
        .await
        .unwrap();
    assert_eq!(
        store
            .audit_records(query.clone())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    backend
        .create_project(project("undeclared"), None)
        .await
        .unwrap();
    let page = store.audit_records(query).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[1].action, "unattributed");
    assert!(store.verify_audit().await.unwrap().ok);
}
