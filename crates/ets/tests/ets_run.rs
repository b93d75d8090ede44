//! `ets run` and `ets sync` (issue 17) as a user runs them: the real binary against a served
//! instance (SQLite), wrapping small shell and Python scripts — output lines in the run's log,
//! `system/*` metrics, the exit status (0, 3, a signal, Ctrl-C passed on), MLflow's variables
//! reaching the script — and offline: the server down at the start, then `ets sync` (twice).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::process::{Http, Served, ets};
use serde_json::Value;

/// A script that prints to both streams, allocates ~80 MB for a while, and ends as `$1` says.
const SCRIPT: &str = r#"
import os, sys, time
print("start", flush=True)
time.sleep(0.2)
print("warn: something", file=sys.stderr, flush=True)
time.sleep(0.2)
block = bytearray(80_000_000)
for i in range(0, len(block), 4096):
    block[i] = 1
t = time.time()
while time.time() - t < 1.2:
    pass
for i in range(3):
    print(f"step {i}", flush=True)
time.sleep(0.2)
print("last error line", file=sys.stderr, flush=True)
how = sys.argv[1]
if how == "signal":
    os.kill(os.getpid(), 9)
sys.exit(int(how))
"#;

fn ets_run(base: &str, spool: &Path, extra: &[&str], command: &[&str]) -> Command {
    let mut cmd = ets();
    cmd.args(["run", "--server", base, "--spool"])
        .arg(spool)
        .args(["--interval", "0.3"])
        .args(extra)
        .arg("--")
        .args(command)
        .stdin(Stdio::null());
    cmd
}

fn output(mut command: Command) -> Output {
    let output = command.output().expect("ets run starts");
    eprintln!(
        "ets run stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `ets serve` on `port` with its data in `data_dir`.
fn serve_on(port: u16, data_dir: &Path) -> Served {
    let mut command = ets();
    command
        .args(["serve", "--port", &port.to_string(), "--metrics-port", "0"])
        .arg("--data-dir")
        .arg(data_dir);
    Served::spawn(command).0
}

struct Server {
    served: Served,
    http: Http,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let served = Served::start(dir.path());
        Server {
            served,
            http: Http::new(),
            _dir: dir,
        }
    }

    /// `ets serve` on a given port.
    fn start_on_port(port: u16) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server {
            served: serve_on(port, dir.path()),
            http: Http::new(),
            _dir: dir,
        }
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.http.get(&format!("{}{path}", self.served.base));
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// The runs of the experiment named `name`.
    fn runs(&self, experiment: &str) -> Vec<Value> {
        let experiments = self.get(&format!(
            "/api/v1/experiments?name={experiment}&page_size=10"
        ));
        let items = experiments["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{experiments}");
        let id = items[0]["id"].as_str().unwrap();
        let runs = self.get(&format!(
            "/api/v1/runs?experiment_id={id}&page_size=100&lifecycle=all"
        ));
        runs["items"].as_array().unwrap().clone()
    }

    fn only_run(&self, experiment: &str) -> Value {
        let runs = self.runs(experiment);
        assert_eq!(runs.len(), 1, "{runs:?}");
        runs[0].clone()
    }

    /// The run's log lines as (stream, line).
    fn log(&self, run_id: &str) -> Vec<(String, String)> {
        let logs = self.get(&format!("/api/v1/runs/{run_id}/logs?limit=1000"));
        logs["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                (
                    item["stream"].as_str().unwrap().to_owned(),
                    item["line"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The run's metric summaries by key.
    fn metrics(&self, run_id: &str) -> BTreeMap<String, Value> {
        let metrics = self.get(&format!("/api/v1/runs/{run_id}/metrics"));
        metrics["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["key"].as_str().unwrap().to_owned(), m.clone()))
            .collect()
    }

    fn points(&self, run_id: &str, key: &str) -> Vec<Value> {
        let series = self.get(&format!("/api/v1/runs/{run_id}/metrics/{key}"));
        series["points"].as_array().unwrap().clone()
    }
}

fn python() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The lines of `stream`, in order.
fn of(log: &[(String, String)], stream: &str) -> Vec<String> {
    log.iter()
        .filter(|(s, _)| s == stream)
        .map(|(_, l)| l.clone())
        .collect()
}

fn check_script_run(server: &Server, run: &Value, status: &str, exit_code: &str) {
    let id = run["id"].as_str().unwrap();
    assert_eq!(run["status"], status, "{run}");
    assert_eq!(run["tags"]["ets.run.exit_code"], exit_code, "{run}");
    assert_eq!(run["params"]["lr"], "0.01", "{run}");
    assert_eq!(run["tags"]["team"], "vision", "{run}");
    assert!(run["tags"]["ets.run.client_id"].is_string(), "{run}");
    let log = server.log(id);
    assert_eq!(
        of(&log, "stdout"),
        ["start", "step 0", "step 1", "step 2"],
        "{log:?}"
    );
    assert_eq!(
        of(&log, "stderr"),
        ["warn: something", "last error line"],
        "{log:?}"
    );
    // Written with pauses between the streams: in order across them too.
    assert_eq!(log[0].1, "start");
    assert_eq!(log[1].1, "warn: something");
    assert_eq!(log.last().unwrap().1, "last error line");
    let metrics = server.metrics(id);
    for key in [
        "system/cpu_percent",
        "system/rss_bytes",
        "system/memory_used_bytes",
        "system/memory_percent",
        "system/disk_read_bytes",
        "system/disk_write_bytes",
        "system/net_rx_bytes",
        "system/net_tx_bytes",
    ] {
        assert!(metrics.contains_key(key), "{key} missing: {metrics:?}");
    }
    let max = |key: &str| metrics[key]["max"].as_f64().unwrap();
    // 80 MB touched, a second of busy loop on one core.
    assert!(max("system/rss_bytes") > 70e6, "{metrics:?}");
    assert!(max("system/rss_bytes") < 4e9, "{metrics:?}");
    assert!(max("system/cpu_percent") > 30.0, "{metrics:?}");
    assert!(max("system/cpu_percent") < 800.0, "{metrics:?}");
    assert!(max("system/memory_percent") > 0.0 && max("system/memory_percent") <= 100.0);
    assert!(max("system/memory_used_bytes") > 10e6);
    // One point per sample: steps 0, 1, 2… without gaps or doubles.
    let steps: Vec<i64> = server
        .points(id, "system/rss_bytes")
        .iter()
        .map(|p| p["step"].as_i64().unwrap())
        .collect();
    assert!(steps.len() >= 3, "{steps:?}");
    assert_eq!(steps, (0..steps.len() as i64).collect::<Vec<_>>());
}

#[test]
fn runs_a_script_to_each_exit_status() {
    if !python() {
        eprintln!("skipped: no python3");
        return;
    }
    let server = Server::start();
    let spool = tempfile::tempdir().unwrap();
    for (how, status, code) in [
        ("0", "finished", 0),
        ("3", "failed", 3),
        ("signal", "killed", 128 + 9),
    ] {
        let experiment = format!("exit-{how}");
        let output = output(ets_run(
            &server.served.base,
            spool.path(),
            &[
                "--experiment",
                &experiment,
                "--name",
                "script",
                "--param",
                "lr=0.01",
                "--tag",
                "team=vision",
            ],
            &["python3", "-c", SCRIPT, how],
        ));
        assert_eq!(output.status.code(), Some(code), "{how}");
        // The output still reaches the terminal, unchanged.
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(stdout, "start\nstep 0\nstep 1\nstep 2\n");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("warn: something\n"), "{stderr}");
        let run = server.only_run(&experiment);
        assert_eq!(run["name"], "script");
        assert_eq!(run["project_id"], "00000000000000000000000000000000");
        check_script_run(&server, &run, status, &code.to_string());
    }
    // Everything was acknowledged: nothing left in the spool.
    assert!(common::files_under(spool.path()).is_empty());
}

/// Starts `command` (an `ets run`) with its output piped, and waits for its first line of
/// standard output, which must be `first`.
fn spawn_until(mut command: Command, first: &str) -> std::process::Child {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, format!("{first}\n"));
    // The rest of its output goes to a thread, so the command never blocks on the pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

#[test]
fn ctrl_c_is_passed_on_and_the_run_is_killed() {
    let server = Server::start();
    let spool = tempfile::tempdir().unwrap();
    let child = spawn_until(
        ets_run(
            &server.served.base,
            spool.path(),
            &["--experiment", "ctrl-c"],
            &[
                "sh",
                "-c",
                "trap 'echo got INT; exit 130' INT; echo ready; while true; do sleep 0.1; done",
            ],
        ),
        "ready",
    );
    // "Ctrl-C": SIGINT to ets run alone.
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(130));
    let run = server.only_run("ctrl-c");
    assert_eq!(run["status"], "killed", "{run}");
    let log = server.log(run["id"].as_str().unwrap());
    assert_eq!(of(&log, "stdout"), ["ready", "got INT"], "{log:?}");
}

#[test]
fn an_mlflow_script_logs_into_the_same_run() {
    if !python() {
        eprintln!("skipped: no python3");
        return;
    }
    let server = Server::start();
    let spool = tempfile::tempdir().unwrap();
    // The MLflow REST API through urllib, as the mlflow client would call it with these
    // variables set.
    let script = r#"
import json, os, urllib.request
uri = os.environ["MLFLOW_TRACKING_URI"]
run_id = os.environ["MLFLOW_RUN_ID"]
assert os.environ["ETS_RUN_ID"] == run_id
assert os.environ["ETS_URL"] == uri
body = json.dumps({"run_id": run_id, "key": "accuracy", "value": 0.93, "timestamp": 1, "step": 7}).encode()
request = urllib.request.Request(uri + "/api/2.0/mlflow/runs/log-metric", data=body,
                                 headers={"content-type": "application/json"})
urllib.request.urlopen(request).read()
print("logged", run_id)
"#;
    let output = output(ets_run(
        &server.served.base,
        spool.path(),
        &["--experiment", "mlflow"],
        &["python3", "-c", script],
    ));
    assert_eq!(output.status.code(), Some(0));
    let run = server.only_run("mlflow");
    let id = run["id"].as_str().unwrap();
    assert_eq!(run["status"], "finished");
    assert_eq!(server.log(id), [("stdout".into(), format!("logged {id}"))]);
    let points = server.points(id, "accuracy");
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0]["value"], 0.93);
    assert_eq!(points[0]["step"], 7);
}

/// A port nothing listens on (yet).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `ets run` of [`SCRIPT`] ending as `how`, in `experiment`, with no server on `base`'s port.
struct Offline {
    port: u16,
    base: String,
    spool: tempfile::TempDir,
    output: Output,
}

impl Offline {
    fn run(experiment: &str, extra: &[&str], how: &str) -> Offline {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let spool = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--experiment",
            experiment,
            "--param",
            "lr=0.01",
            "--tag",
            "team=vision",
        ];
        args.extend_from_slice(extra);
        let output = output(ets_run(
            &base,
            spool.path(),
            &args,
            &["python3", "-c", SCRIPT, how],
        ));
        Offline {
            port,
            base,
            spool,
            output,
        }
    }
}

/// `ets sync` of `spool` to `base`: its exit code and stderr.
fn sync(base: &str, spool: &Path) -> (Option<i32>, String) {
    let output = ets()
        .args(["sync", "--server", base, "--spool"])
        .arg(spool)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("ets sync stderr:\n{stderr}");
    (output.status.code(), stderr)
}

#[test]
fn offline_then_sync_uploads_everything_once() {
    if !python() {
        eprintln!("skipped: no python3");
        return;
    }
    let offline = Offline::run("offline", &["--project", "field", "--name", "script"], "3");
    let (base, spool) = (&offline.base, offline.spool.path());
    // The command ran as usual, with its exit code.
    assert_eq!(offline.output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&offline.output.stderr);
    assert!(stderr.contains("ets sync"), "{stderr}");
    assert!(!common::files_under(spool).is_empty());

    // Still no server: nothing is lost.
    let before = common::files_under(spool);
    let (code, stderr) = sync(base, spool);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cannot be reached"), "{stderr}");
    assert_eq!(common::files_under(spool), before);

    let server = Server::start_on_port(offline.port);
    let (code, _) = sync(base, spool);
    assert_eq!(code, Some(0));
    assert!(common::files_under(spool).is_empty());
    let run = server.only_run("offline");
    assert_eq!(run["name"], "script");
    check_script_run(&server, &run, "failed", "3");
    let projects = server.get("/api/v1/projects?name=field");
    assert_eq!(run["project_id"], projects["items"][0]["id"]);
    let started = run["started_at"].as_str().unwrap().to_owned();
    let id = run["id"].as_str().unwrap().to_owned();
    let log = server.log(&id);
    let metrics = server.metrics(&id);

    // Again: nothing to send, nothing doubled.
    let (code, stderr) = sync(base, spool);
    assert_eq!(code, Some(0));
    assert!(stderr.contains("nothing to upload"), "{stderr}");
    assert_eq!(server.only_run("offline")["started_at"], started.as_str());
    assert_eq!(server.log(&id), log);
    assert_eq!(server.metrics(&id), metrics);
}

#[test]
fn a_retried_sync_doubles_nothing() {
    // The spool as an interrupted sync leaves it: the run created and some records sent,
    // but not yet removed (their acknowledgements lost). Sending all of it again must find
    // the run by its client id and store each line and point once.
    if !python() {
        eprintln!("skipped: no python3");
        return;
    }
    let offline = Offline::run("retry", &[], "0");
    assert_eq!(offline.output.status.code(), Some(0));
    // A copy of the spool taken before the first sync plays the lost acknowledgements.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(offline.spool.path(), copy.path());
    let server = Server::start_on_port(offline.port);
    for dir in [offline.spool.path(), copy.path()] {
        assert_eq!(sync(&offline.base, dir).0, Some(0));
    }
    let run = server.only_run("retry");
    check_script_run(&server, &run, "finished", "0");
}

#[test]
fn the_server_lost_midway_gets_the_rest_from_sync() {
    let server_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let served = serve_on(port, server_dir.path());
    let spool = tempfile::tempdir().unwrap();
    let child = spawn_until(
        ets_run(
            &base,
            spool.path(),
            &["--experiment", "midway"],
            &[
                "sh",
                "-c",
                "echo before; sleep 1.5; echo after; sleep 0.2; echo late >&2; exit 0",
            ],
        ),
        "before",
    );
    // Give the first batch its second to be sent, then take the server away.
    std::thread::sleep(Duration::from_millis(1300));
    served.kill();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert_eq!(output.status.code(), Some(0));
    assert!(stderr.contains("ets sync"), "{stderr}");

    let server = Server {
        served: serve_on(port, server_dir.path()),
        http: Http::new(),
        _dir: tempfile::tempdir().unwrap(),
    };
    let run = server.only_run("midway");
    assert_eq!(run["status"], "running", "{run}");
    assert_eq!(sync(&base, spool.path()).0, Some(0));
    let run = server.only_run("midway");
    assert_eq!(run["status"], "finished", "{run}");
    let log = server.log(run["id"].as_str().unwrap());
    assert_eq!(
        log,
        [
            ("stdout".to_owned(), "before".to_owned()),
            ("stdout".to_owned(), "after".to_owned()),
            ("stderr".to_owned(), "late".to_owned()),
        ]
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "lock" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_command_that_cannot_start_fails_its_run() {
    let server = Server::start();
    let spool = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = output(ets_run(
        &server.served.base,
        spool.path(),
        &["--experiment", "missing"],
        &["/nonexistent/command"],
    ));
    assert_eq!(output.status.code(), Some(127));
    assert!(started.elapsed() < Duration::from_secs(30));
    let run = server.only_run("missing");
    assert_eq!(run["status"], "failed");
    let log = server.log(run["id"].as_str().unwrap());
    assert_eq!(log.len(), 1);
    assert!(
        log[0].1.contains("cannot run '/nonexistent/command'"),
        "{log:?}"
    );
}

#[test]
fn with_authentication_the_api_key_is_sent_and_passed_on() {
    let dir = tempfile::tempdir().unwrap();
    let (served, key) = Served::start_with_auth(dir.path());
    let spool = tempfile::tempdir().unwrap();
    let script = r#"curl -sf -X POST "$MLFLOW_TRACKING_URI/api/2.0/mlflow/runs/log-metric" \
      -H "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" -H 'content-type: application/json' \
      -d "{\"run_id\": \"$MLFLOW_RUN_ID\", \"key\": \"auc\", \"value\": 0.5, \"timestamp\": 0}""#;

    // Without a key the server refuses the run: nothing runs, nothing is spooled.
    let refused = output(ets_run(
        &served.base,
        spool.path(),
        &["--experiment", "auth"],
        &["sh", "-c", script],
    ));
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("ETS_API_KEY"),
        "{stderr}"
    );
    assert!(common::files_under(spool.path()).is_empty());

    let mut command = ets_run(
        &served.base,
        spool.path(),
        &["--experiment", "auth"],
        &["sh", "-c", script],
    );
    command.env("ETS_API_KEY", &key);
    let ran = output(command);
    assert_eq!(ran.status.code(), Some(0));
    let http = Http::new();
    let (status, runs) = http.call(
        http.inner
            .get(format!("{}/api/v1/runs?page_size=10", served.base))
            .bearer_auth(&key),
    );
    assert_eq!(status, 200, "{runs}");
    let runs = runs["items"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["status"], "finished");
    assert_eq!(runs[0]["metrics"][0]["key"], "auc", "{runs:?}");
}
