//! The audit trail survives a crash: `kill -9` of `ets serve` during concurrent writes leaves
//! a chain that `ets audit verify` accepts (run while a server serves the database), with a
//! record for every change that was committed and none for one that was not.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::process::{Http, Served, TestDb};
use serde_json::{Value, json};

common::process::on_both_databases_sync!(kill_9_during_concurrent_writes_leaves_a_verifiable_chain);

const WRITERS: usize = 8;

/// Runs `ets audit verify` on `db`; (exit code, stdout report, stderr).
fn audit_verify(db: &TestDb, data_dir: &std::path::Path) -> (Option<i32>, Value, String) {
    let output = db
        .ets()
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("ets runs");
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (
        output.status.code(),
        report,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn kill_9_during_concurrent_writes_leaves_a_verifiable_chain(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = Served::start_on(db, dir.path(), &[]);
    let base = server.base.clone();
    let client = Http::new();
    let experiment = client.create_experiment(&base, "crash");

    // Each writer creates runs and logs a batch to each, until the server is gone.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (acknowledged, base, experiment) =
                (acknowledged.clone(), base.clone(), experiment.clone());
            std::thread::spawn(move || {
                let client = Http::new();
                loop {
                    let (status, run) = client.post(
                        &format!("{base}/api/v1/runs"),
                        json!({"experiment_id": experiment}),
                    );
                    if status != 201 {
                        return;
                    }
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                    let points: Vec<Value> = (0..200)
                        .map(|i| json!({"key": "loss", "value": i, "step": i}))
                        .collect();
                    let (status, _) = client.post(
                        &format!("{base}/api/v1/runs/{}/metrics", run["id"].as_str().unwrap()),
                        json!({ "metrics": points }),
                    );
                    if status != 201 {
                        return;
                    }
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.load(Ordering::SeqCst) < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    for writer in writers {
        writer.join().unwrap();
    }
    let acked = acknowledged.load(Ordering::SeqCst);
    assert!(
        acked >= 100,
        "writes made progress before the kill ({acked})"
    );

    // Offline verification of what the crash left.
    let (code, report, stderr) = audit_verify(db, dir.path());
    assert_eq!(code, Some(0), "{report} {stderr}");
    assert_eq!(report["ok"], true, "{report}");
    let checked = report["checked"].as_u64().unwrap() as usize;
    // Project and experiment, then every acknowledged write; at most one write per writer was
    // committed without its answer reaching the client.
    assert!(
        (2 + acked..=2 + acked + WRITERS).contains(&checked),
        "{checked} records for {acked} acknowledged writes"
    );

    // Back up: every run that exists has its creation record, and the other way round; and
    // the verification also runs beside a serving instance.
    let (server, _) = Served::start_on(db, dir.path(), &[]);
    // The sorted `field`s of the items of a list at `path`.
    let listed = |path: String, field: &str| {
        let (status, body) = client.get(&format!("{}{path}", server.base));
        assert_eq!(status, 200, "{body}");
        let mut values: Vec<String> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item[field].as_str().unwrap().to_owned())
            .collect();
        values.sort_unstable();
        values
    };
    assert_eq!(
        listed(
            format!("/api/v1/runs?experiment_id={experiment}&page_size=1000"),
            "id"
        ),
        listed(
            "/api/v1/audit?action=run.create&page_size=1000".into(),
            "entity_id"
        )
    );
    let (_, project) = client.post(
        &format!("{}/api/v1/projects", server.base),
        json!({"name": "after"}),
    );
    assert!(project["id"].is_string(), "{project}");
    let (code, report, stderr) = audit_verify(db, dir.path());
    assert_eq!(code, Some(0), "{report} {stderr}");
    assert_eq!(report["checked"], checked as u64 + 1, "{report}");
}
