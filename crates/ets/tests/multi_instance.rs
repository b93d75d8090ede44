//! Several instances on one PostgreSQL database: two `ets serve` processes (the real binary)
//! on one schema, started at the same moment (both migrate at start-up; the advisory lock
//! serialises them), sharing one artifact folder. What one writes, the other reads, both ways.
//! PostgreSQL only: skipped without `PG_TEST_URL`, failed in CI (`CI=true`) without it.

mod common;

use std::sync::{Arc, Barrier};

use common::process::{Http, Served, TestDb};
use serde_json::{Value, json};

/// Starts two instances on `db` at once, sharing `data_dir`.
fn start_two(db: &Arc<TestDb>, data_dir: &std::path::Path) -> (Served, Served) {
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (db, barrier, dir) = (db.clone(), barrier.clone(), data_dir.to_owned());
            std::thread::spawn(move || {
                barrier.wait();
                Served::start_on(&db, &dir, &[]).0
            })
        })
        .collect();
    let mut served = handles
        .into_iter()
        .map(|h| h.join().expect("an instance starts"));
    let a = served.next().unwrap();
    let b = served.next().unwrap();
    assert_ne!(a.base, b.base);
    (a, b)
}

fn ok(what: &str, (status, body): (u16, Value), expected: u16) -> Value {
    assert_eq!(status, expected, "{what}: {body}");
    body
}

/// A new project `name` with an experiment `e`, through `base`: their ids.
fn project_and_experiment(http: &Http, base: &str, name: &str) -> (String, String) {
    let project = ok(
        "project",
        http.post(&format!("{base}/api/v1/projects"), json!({"name": name})),
        201,
    );
    let experiment = ok(
        "experiment",
        http.post(
            &format!("{base}/api/v1/experiments"),
            json!({"project_id": project["id"], "name": "e"}),
        ),
        201,
    );
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    (id(&project), id(&experiment))
}

/// Two instances on a fresh schema (`start_two`) and an experiment of a new project `name`,
/// made through A.
struct Pair {
    db: Arc<TestDb>,
    servers: (Served, Served),
    _dir: tempfile::TempDir,
    http: Http,
    a: String,
    b: String,
    experiment_id: String,
}

impl Pair {
    fn start(name: &str) -> Option<Pair> {
        let db = Arc::new(TestDb::postgres()?);
        let dir = tempfile::tempdir().unwrap();
        let servers = start_two(&db, dir.path());
        let http = Http::new();
        let (a, b) = (servers.0.base.clone(), servers.1.base.clone());
        let (_, experiment_id) = project_and_experiment(&http, &a, name);
        Some(Pair {
            db,
            servers,
            _dir: dir,
            http,
            a,
            b,
            experiment_id,
        })
    }

    /// Stops both instances and drops the schema.
    fn finish(self) {
        drop(self.servers);
        if let Ok(db) = Arc::try_unwrap(self.db) {
            db.drop_schema();
        }
    }
}

fn steps(series: &Value) -> Vec<i64> {
    series["points"]
        .as_array()
        .unwrap_or_else(|| panic!("points in {series}"))
        .iter()
        .map(|p| p["step"].as_i64().expect("step"))
        .collect()
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Named `postgres::…` like the PostgreSQL variants of the other suites.
mod postgres {
    #[test]
    fn writes_through_one_instance_are_read_through_the_other() {
        super::writes_through_one_instance_are_read_through_the_other();
    }

    #[test]
    fn asks_on_two_instances_get_distinct_trials_and_see_each_other() {
        super::asks_on_two_instances_get_distinct_trials_and_see_each_other();
    }

    #[test]
    fn single_points_to_one_series_through_two_instances() {
        super::single_points_to_one_series_through_two_instances();
    }
}

fn writes_through_one_instance_are_read_through_the_other() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let db = Arc::new(db);
    let dir = tempfile::tempdir().unwrap();
    let (server_a, server_b) = start_two(&db, dir.path());
    let http = Http::new();
    let (a, b) = (server_a.base.clone(), server_b.base.clone());

    // Both migrated at start-up: each migration is recorded once.
    let schema = db.schema.as_ref().expect("a PostgreSQL schema");
    let versions: Vec<i64> = common::block_on(async {
        let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )
            .await
            .expect("schema_migrations")
            .iter()
            .map(|r| r.get(0))
            .collect()
    });
    assert_eq!(versions, (1..=21).collect::<Vec<i64>>());

    // Written through A.
    let (project_id, experiment_id) = project_and_experiment(&http, &a, "shared");
    let run = ok(
        "run through A",
        http.post(
            &format!("{a}/api/v1/runs"),
            json!({
                "experiment_id": experiment_id,
                "name": "first",
                "params": {"lr": 0.1},
                "tags": {"team": "a"},
            }),
        ),
        201,
    );
    let run_id = run["id"].as_str().unwrap().to_owned();
    let points: Vec<Value> = (0..10)
        .map(|i| json!({"key": "loss", "value": 1.0 / (1.0 + f64::from(i)), "step": i}))
        .collect();
    ok(
        "metrics through A",
        http.post(
            &format!("{a}/api/v1/runs/{run_id}/metrics"),
            json!({"metrics": points}),
        ),
        201,
    );
    let (status, _) = http.call(
        http.inner
            .post(format!("{a}/api/v1/runs/{run_id}/artifacts?path=model.bin"))
            .body(vec![7_u8; 1000]),
    );
    assert_eq!(status, 201, "artifact through A");

    // Read through B: the project, the run, its metric history, searches, the artifact.
    let got = ok(
        "project through B",
        http.get(&format!("{b}/api/v1/projects/{project_id}")),
        200,
    );
    assert_eq!(got["name"], "shared");
    let got = ok(
        "run through B",
        http.get(&format!("{b}/api/v1/runs/{run_id}")),
        200,
    );
    assert_eq!(got["name"], "first");
    assert_eq!(got["params"], json!({"lr": 0.1}));
    assert_eq!(got["tags"], json!({"team": "a"}));
    let series = ok(
        "metric history through B",
        http.get(&format!("{b}/api/v1/runs/{run_id}/metrics/loss")),
        200,
    );
    assert_eq!(steps(&series), (0..10).collect::<Vec<_>>());
    let found = ok(
        "search through B",
        http.get(&format!(
            "{b}/api/v1/runs?experiment_id={experiment_id}&filter={}",
            url_escape("metrics.loss < 0.5 AND params.lr = '0.1'")
        )),
        200,
    );
    let ids: Vec<&str> = found["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items in {found}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![run_id.as_str()]);
    let searched = ok(
        "MLflow search through B",
        http.post(
            &format!("{b}/api/2.0/mlflow/runs/search"),
            json!({"experiment_ids": [experiment_id], "filter": "tags.team = 'a'"}),
        ),
        200,
    );
    assert_eq!(searched["runs"][0]["info"]["run_id"], run_id.as_str());
    let artifacts = ok(
        "artifacts through B",
        http.get(&format!("{b}/api/v1/runs/{run_id}/artifacts")),
        200,
    );
    assert_eq!(artifacts["items"][0]["path"], "model.bin");

    // Updated through B, read through A.
    ok(
        "update through B",
        http.call(
            http.inner
                .put(format!("{b}/api/v1/runs/{run_id}"))
                .json(&json!({"name": "renamed", "tags": {"team": "b", "stage": "two"}})),
        ),
        200,
    );
    let more: Vec<Value> = (10..15)
        .map(|i| json!({"key": "loss", "value": 0.01, "step": i}))
        .collect();
    ok(
        "metrics through B",
        http.post(
            &format!("{b}/api/v1/runs/{run_id}/metrics"),
            json!({"metrics": more}),
        ),
        201,
    );
    ok(
        "finish through B",
        http.post(&format!("{b}/api/v1/runs/{run_id}/finish"), json!({})),
        200,
    );
    let got = ok(
        "run through A",
        http.get(&format!("{a}/api/v1/runs/{run_id}")),
        200,
    );
    assert_eq!(got["name"], "renamed");
    assert_eq!(got["tags"], json!({"team": "b", "stage": "two"}));
    assert_ne!(got["status"], run["status"], "finished through B: {got}");
    let series = ok(
        "metric history through A",
        http.get(&format!("{a}/api/v1/runs/{run_id}/metrics/loss")),
        200,
    );
    assert_eq!(steps(&series), (0..15).collect::<Vec<_>>());
    let summary = ok(
        "metric summaries through A",
        http.get(&format!("{a}/api/v1/runs/{run_id}/metrics")),
        200,
    );
    assert_eq!(summary["items"][0]["count"], 15, "{summary}");

    drop((server_a, server_b));
    if let Ok(db) = Arc::try_unwrap(db) {
        db.drop_schema();
    }
}

/// Workers asking one study through two instances at once: every ask gets its own trial
/// number and grid point, nothing is lost, and each instance's sampler history (cached
/// between asks) includes what was told through the other.
fn asks_on_two_instances_get_distinct_trials_and_see_each_other() {
    let Some(pair) = Pair::start("hpo") else {
        return;
    };
    let (http, a, b, experiment_id) = (&pair.http, &pair.a, &pair.b, &pair.experiment_id);
    let study = ok(
        "study",
        http.post(
            &format!("{b}/api/v1/experiments/{experiment_id}/studies"),
            json!({"name": "grid", "sampler": "grid", "search_space": {
                "x": {"type": "int", "low": 0, "high": 23}}}),
        ),
        201,
    );
    let study_id = study["id"].as_str().unwrap().to_owned();
    // 6 workers, 3 per instance, 4 asks and tells each: the 24 grid points exactly once.
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let base = if w % 2 == 0 { a.clone() } else { b.clone() };
            let study_id = study_id.clone();
            std::thread::spawn(move || {
                let http = Http::new();
                let mut seen = Vec::new();
                for _ in 0..4 {
                    let asked = ok(
                        "ask",
                        http.post(
                            &format!("{base}/api/v1/studies/{study_id}/trials"),
                            json!({}),
                        ),
                        201,
                    );
                    let x = asked["params"]["x"].as_i64().expect("x");
                    let trial = asked["trial_id"].as_str().unwrap();
                    ok(
                        "tell",
                        http.post(
                            &format!("{base}/api/v1/trials/{trial}/complete"),
                            json!({"value": x as f64}),
                        ),
                        200,
                    );
                    seen.push((asked["number"].as_i64().unwrap(), x));
                }
                seen
            })
        })
        .collect();
    let mut numbers = Vec::new();
    let mut points = Vec::new();
    for worker in workers {
        for (number, x) in worker.join().expect("a worker") {
            numbers.push(number);
            points.push(x);
        }
    }
    numbers.sort_unstable();
    points.sort_unstable();
    assert_eq!(numbers, (0..24).collect::<Vec<i64>>());
    assert_eq!(points, (0..24).collect::<Vec<i64>>());
    // The grid is used up on both instances: each one's history has every trial.
    for base in [&a, &b] {
        let (status, body) = http.post(
            &format!("{base}/api/v1/studies/{study_id}/trials"),
            json!({}),
        );
        assert_eq!(status, 409, "{body}");
        let view = ok(
            "study",
            http.get(&format!("{base}/api/v1/studies/{study_id}")),
            200,
        );
        assert_eq!(view["counts"]["complete"], 24, "{view}");
        assert_eq!(view["best_value"], 0.0, "{view}");
    }
    pair.finish();
}

/// Single points to one series through both instances, in turn and then at once: each
/// instance plans its appends on what it wrote last (one round trip a call), finds out when
/// the other one wrote since and writes those the ordinary way — nothing is lost, repeated or
/// out of order, and both instances read the same series.
fn single_points_to_one_series_through_two_instances() {
    let Some(pair) = Pair::start("appends") else {
        return;
    };
    let (http, a, b, experiment_id) = (&pair.http, &pair.a, &pair.b, &pair.experiment_id);
    let run = ok(
        "run",
        http.post(
            &format!("{a}/api/v1/runs"),
            json!({"experiment_id": experiment_id}),
        ),
        201,
    );
    let run_id = run["id"].as_str().unwrap().to_owned();
    let log = |http: &Http, base: &str, step: i64| {
        ok(
            "a point",
            http.post(
                &format!("{base}/api/v1/runs/{run_id}/metrics"),
                json!({"key": "loss", "value": 1.0 / (1.0 + step as f64), "step": step}),
            ),
            201,
        );
    };
    // In turn: 1 to 3 calls through one instance, then through the other.
    let mut step = 0;
    for round in 0..12 {
        let base = if round % 2 == 0 { &a } else { &b };
        for _ in 0..=(round % 3) {
            log(http, base, step);
            step += 1;
        }
    }
    // At once: a client on each instance, each its own steps.
    let first = step;
    std::thread::scope(|scope| {
        for (i, base) in [&a, &b].into_iter().enumerate() {
            let log = &log;
            scope.spawn(move || {
                let http = Http::new();
                for k in 0..100 {
                    log(&http, base, first + 2 * k + i as i64);
                }
            });
        }
    });
    let total = first + 200;
    for base in [&a, &b] {
        let series = ok(
            "series",
            http.get(&format!("{base}/api/v1/runs/{run_id}/metrics/loss")),
            200,
        );
        assert_eq!(steps(&series), (0..total).collect::<Vec<_>>());
        let summary = ok(
            "summaries",
            http.get(&format!("{base}/api/v1/runs/{run_id}/metrics")),
            200,
        );
        assert_eq!(summary["items"][0]["count"], total, "{summary}");
        assert_eq!(summary["items"][0]["last_step"], total - 1, "{summary}");
    }
    let audit = ok(
        "audit verify",
        http.get(&format!("{a}/api/v1/audit/verify")),
        200,
    );
    assert_eq!(audit["ok"], true, "{audit}");
    pair.finish();
}
