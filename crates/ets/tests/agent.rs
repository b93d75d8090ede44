//! `ets agent` (issue 16) as a user runs it: the real binary against a served instance
//! (SQLite), with shell commands as trials — parameters in the environment and in `{name}`
//! placeholders, objectives and reports printed or logged through MLflow's API, failures,
//! time-outs, pruning, a grid running out, Ctrl-C, and authentication.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::process::{Http, Served, ets};
use serde_json::{Value, json};

/// A served instance, a client, and a study of a new experiment made from `study`.
struct Setup {
    served: Served,
    http: Http,
    study: String,
    key: Option<String>,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new(study: Value) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let served = Served::start(dir.path());
        Setup::with(served, dir, None, study)
    }

    fn with(served: Served, dir: tempfile::TempDir, key: Option<String>, study: Value) -> Setup {
        let mut setup = Setup {
            served,
            http: Http::new(),
            study: String::new(),
            key,
            _dir: dir,
        };
        let (status, project) = setup.post("/api/v1/projects", json!({ "name": "hpo" }));
        assert_eq!(status, 201, "{project}");
        let (status, experiment) = setup.post(
            "/api/v1/experiments",
            json!({ "project_id": project["id"], "name": "e" }),
        );
        assert_eq!(status, 201, "{experiment}");
        let path = format!(
            "/api/v1/experiments/{}/studies",
            experiment["id"].as_str().unwrap()
        );
        let (status, created) = setup.post(&path, study);
        assert_eq!(status, 201, "{created}");
        setup.study = created["id"].as_str().unwrap().to_owned();
        setup
    }

    fn with_key(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.served.base);
        self.http
            .call(self.with_key(self.http.inner.post(url).json(&body)))
    }

    fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.served.base);
        let (status, body) = self.http.call(self.with_key(self.http.inner.get(url)));
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// The study's trials by number.
    fn trials(&self) -> Vec<Value> {
        let reply = self.get(&format!("/api/v1/studies/{}/trials", self.study));
        reply["items"].as_array().unwrap().clone()
    }

    /// `ets agent <agent args> STUDY -- <command>` with `ETS_URL` naming the server.
    fn agent(&self, agent_args: &[&str], command: &[&str]) -> Command {
        let mut agent = ets();
        agent
            .env("ETS_URL", &self.served.base)
            .arg("agent")
            .args(agent_args)
            .arg(&self.study)
            .arg("--")
            .args(command)
            .env_remove("MLFLOW_TRACKING_TOKEN")
            .env_remove("MLFLOW_TRACKING_URI");
        agent
    }
}

/// What a finished command did.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `command` to its end (killed, and the test failed, after two minutes).
fn run(mut command: Command) -> Ran {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ets starts");
    let readers: Vec<_> = [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    })
    .collect();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("ets agent still runs after two minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let mut texts = readers.into_iter().map(|r| r.join().unwrap());
    Ran {
        status,
        stdout: texts.next().unwrap(),
        stderr: texts.next().unwrap(),
        took,
    }
}

fn x_of(trial: &Value) -> f64 {
    trial["params"]["x"].as_f64().expect("x")
}

fn states(trials: &[Value]) -> Vec<&str> {
    trials
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect()
}

/// The `key=value` fields of the line of `stdout` starting with `seen number=<n>`.
fn seen(stdout: &str, number: i64) -> std::collections::BTreeMap<String, String> {
    let line = stdout
        .lines()
        .find(|line| line.starts_with(&format!("seen number={number} ")))
        .unwrap_or_else(|| panic!("trial {number} printed its line: {stdout}"));
    line.split(' ')
        .skip(1)
        .filter_map(|field| field.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn quadratic_study(pruner: Value) -> Value {
    json!({ "name": "quad", "direction": "minimize", "sampler": "random", "pruner": pruner,
            "seed": 7, "search_space": { "x": { "type": "float", "low": -5, "high": 5 } } })
}

/// Six trials of (x - 2)²: each command sees its trial's params (environment, `ETS_PARAMS`,
/// a `{x}` placeholder) equal to its run's, reports, and prints the objective the trial gets.
#[test]
fn trials_run_with_their_params_and_tell_the_objective_they_print() {
    // A median pruner that starts pruning after ten trials: all six complete.
    let pruner = json!({ "type": "median", "n_startup_trials": 10 });
    let setup = Setup::new(quadratic_study(pruner));
    let script = r#"
        echo "seen number=$ETS_TRIAL_NUMBER trial=$ETS_TRIAL_ID run=$ETS_RUN_ID mlflow_run=$MLFLOW_RUN_ID study=$ETS_STUDY_ID uri=$MLFLOW_TRACKING_URI x=$ETS_PARAM_X arg=$1 umask=$(umask) params=$ETS_PARAMS"
        y=$(awk -v x="$ETS_PARAM_X" 'BEGIN { printf "%.17g", (x - 2) ^ 2 }')
        echo "ets: report step=1 value=$y"
        echo "ets: objective=$y"
    "#;
    let ran = run(setup.agent(&["--trials", "6"], &["sh", "-c", script, "trial", "{x}"]));
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("ran 6 trial(s): 6 complete, 0 pruned, 0 failed"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("the study's best value is"),
        "{}",
        ran.stderr
    );

    // The command inherits the caller's umask, not the server's owner-only one.
    let umask = Command::new("sh").args(["-c", "umask"]).output().unwrap();
    let umask = String::from_utf8(umask.stdout).unwrap();

    let trials = setup.trials();
    assert_eq!(states(&trials), ["complete"; 6]);
    for trial in &trials {
        let number = trial["number"].as_i64().unwrap();
        let x = x_of(trial);
        let expected = (x - 2.0).powi(2);
        let value = trial["values"][0].as_f64().unwrap();
        assert!(
            (value - expected).abs() <= 1e-12 * expected.max(1.0),
            "{trial}"
        );
        assert_eq!(trial["intermediate_values"]["1"].as_f64(), Some(value));

        let fields = seen(&ran.stdout, number);
        let run_id = trial["run_id"].as_str().unwrap();
        assert_eq!(fields["trial"], trial["trial_id"].as_str().unwrap());
        assert_eq!(fields["run"], run_id);
        assert_eq!(fields["mlflow_run"], run_id);
        assert_eq!(fields["study"], setup.study);
        assert_eq!(fields["uri"], setup.served.base);
        // The same x, exactly, in the environment, the placeholder and ETS_PARAMS.
        assert_eq!(fields["x"].parse::<f64>().unwrap(), x);
        assert_eq!(fields["arg"], fields["x"]);
        assert_eq!(fields["umask"], umask.trim());
        let params: Value = serde_json::from_str(&fields["params"]).unwrap();
        assert_eq!(params, trial["params"]);
        // The run's params are the suggestion.
        let run = setup.get(&format!("/api/v1/runs/{run_id}"));
        assert_eq!(run["params"], trial["params"], "{run}");
        assert_eq!(run["status"], "finished", "{run}");
    }
}

/// A command that fails, prints no objective or runs out of time fails its trial, and the
/// agent goes on; failures in a row stop it.
#[test]
fn failing_commands_fail_their_trials_and_the_agent_goes_on() {
    let setup = Setup::new(quadratic_study(json!("none")));
    let script = r#"
        case "$ETS_TRIAL_NUMBER" in
          0) echo "ets: objective=$ETS_PARAM_X" ;;
          1) echo "boom" >&2; exit 3 ;;
          2) echo "ets: objective=not-a-number"; echo "done, no objective" ;;
          3) sleep 30 ;;
          4) echo "ets: objective=nan" ;;
        esac
    "#;
    let ran = run(setup.agent(
        &["--trials", "5", "--timeout", "1s", "--kill-after", "1s"],
        &["sh", "-c", script],
    ));
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(ran.took < Duration::from_secs(25), "{:?}", ran.took);
    let trials = setup.trials();
    assert_eq!(
        states(&trials),
        ["complete", "failed", "failed", "failed", "failed"]
    );
    assert_eq!(trials[0]["values"][0].as_f64(), Some(x_of(&trials[0])));
    for message in [
        "trial 1 failed: it exited with status 3",
        "trial 2: ignoring 'ets: objective=not-a-number': objective value 'not-a-number' is not a number",
        "trial 2 failed: it printed no `ets: objective=…` line and its run has no metric 'objective'",
        "trial 3 failed: ran longer than --timeout 1s",
        "trial 4 failed: the objective [NaN] is not a finite number",
        "ran 5 trial(s): 1 complete, 0 pruned, 4 failed",
    ] {
        assert!(ran.stderr.contains(message), "{message}\n{}", ran.stderr);
    }
    assert!(
        ran.stderr.contains("boom"),
        "stderr passes through: {}",
        ran.stderr
    );
    let run_id = trials[1]["run_id"].as_str().unwrap();
    assert_eq!(
        setup.get(&format!("/api/v1/runs/{run_id}"))["status"],
        "failed"
    );

    let ran = run(setup.agent(
        &["--max-consecutive-failures", "2"],
        &["sh", "-c", "exit 1"],
    ));
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("stopping after 2 failed trials in a row"),
        "{}",
        ran.stderr
    );
    assert_eq!(setup.trials().len(), 7);
}

/// Without an objective line, the last value of the run's metric is the objective: here
/// logged through MLflow's REST API with the MLflow variables the agent sets.
#[test]
fn the_objective_falls_back_to_the_metric_an_mlflow_client_logs() {
    let setup = Setup::new(quadratic_study(json!("median")));
    let script = r#"
        log() {
          curl -sf -X POST "$MLFLOW_TRACKING_URI/api/2.0/mlflow/runs/log-metric" \
            -H 'content-type: application/json' \
            -d "{\"run_id\": \"$MLFLOW_RUN_ID\", \"key\": \"$1\", \"value\": $2, \"timestamp\": 0, \"step\": $3}" >/dev/null
        }
        log score 1000 0
        log score "$ETS_PARAM_X" 1
        log objective 5 1
    "#;
    let ran = run(setup.agent(
        &["--trials", "2", "--metric", "score"],
        &["sh", "-c", script],
    ));
    assert!(ran.status.success(), "{}", ran.stderr);
    let trials = setup.trials();
    assert_eq!(states(&trials), ["complete"; 2]);
    for trial in &trials {
        assert_eq!(trial["values"][0].as_f64(), Some(x_of(trial)), "{trial}");
    }
    // The default metric is `objective`.
    let ran = run(setup.agent(&["--trials", "1"], &["sh", "-c", script]));
    assert!(ran.status.success(), "{}", ran.stderr);
    assert_eq!(setup.trials()[2]["values"][0].as_f64(), Some(5.0));
}

/// When the pruner stops a trial, its command gets SIGTERM (it may clean up) and the trial is
/// pruned.
#[test]
fn a_trial_the_pruner_stops_is_terminated_and_pruned() {
    let setup = Setup::new(quadratic_study(json!("median")));
    let good =
        r#"echo "ets: report step=1 value=$ETS_PARAM_X"; echo "ets: objective=$ETS_PARAM_X""#;
    let ran = run(setup.agent(&["--trials", "5"], &["sh", "-c", good]));
    assert!(ran.status.success(), "{}", ran.stderr);

    // Reports once sleeping (in the background, so that the trap runs at once).
    let bad = r#"
        trap 'echo "got SIGTERM"; exit 143' TERM
        sleep 30 &
        echo "ets: report step=1 value=1000"
        wait
        echo "ets: objective=1000"
    "#;
    let ran = run(setup.agent(&["--trials", "1", "--kill-after", "5s"], &["sh", "-c", bad]));
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(ran.took < Duration::from_secs(20), "{:?}", ran.took);
    assert!(ran.stdout.contains("got SIGTERM"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("objective=1000"), "{}", ran.stdout);
    assert!(
        ran.stderr.contains("trial 5 pruned at step 1"),
        "{}",
        ran.stderr
    );
    let trials = setup.trials();
    assert_eq!(trials[5]["state"], "pruned", "{}", trials[5]);
    assert_eq!(trials[5]["intermediate_values"]["1"].as_f64(), Some(1000.0));
}

/// A grid runs until every point was tried; `{n}` inside a shell script is substituted.
#[test]
fn a_grid_study_runs_until_it_has_nothing_left() {
    let setup = Setup::new(json!({
        "name": "grid", "sampler": "grid", "pruner": "none",
        "search_space": { "n": { "type": "int", "low": 1, "high": 3 },
                          "opt": { "type": "categorical", "choices": ["sgd"] } } }));
    let ran = run(setup.agent(
        &[],
        &[
            "sh",
            "-c",
            r#"echo "ets: objective={n}"; echo "opt=$ETS_PARAM_OPT""#,
        ],
    ));
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("nothing left to suggest"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.stdout.matches("opt=sgd").count(), 3, "{}", ran.stdout);
    let complete: Vec<(i64, f64)> = setup
        .trials()
        .iter()
        .filter(|t| t["state"] == "complete")
        .map(|t| {
            (
                t["params"]["n"].as_i64().unwrap(),
                t["values"][0].as_f64().unwrap(),
            )
        })
        .collect();
    let mut points: Vec<i64> = complete.iter().map(|(n, _)| *n).collect();
    points.sort();
    assert_eq!(points, [1, 2, 3]);
    assert!(complete.iter().all(|(n, value)| *n as f64 == *value));
}

/// Several objectives are printed comma-separated.
#[test]
fn several_objectives_are_printed_together() {
    let setup = Setup::new(json!({
        "name": "mo", "directions": ["minimize", "maximize"], "sampler": "random",
        "search_space": { "x": { "type": "float", "low": 0, "high": 1 } } }));
    let ran = run(setup.agent(
        &["--trials", "2"],
        &["sh", "-c", r#"echo "ets: objective=$ETS_PARAM_X, 2""#],
    ));
    assert!(ran.status.success(), "{}", ran.stderr);
    for trial in setup.trials() {
        assert_eq!(trial["values"], json!([x_of(&trial), 2.0]), "{trial}");
    }
    // One value for two objectives fails the trial.
    let ran = run(setup.agent(&["--trials", "1"], &["sh", "-c", "echo 'ets: objective=1'"]));
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("1 objective value(s) for a study of 2 objective(s)"),
        "{}",
        ran.stderr
    );
    // --metric names one metric per objective.
    let ran = run(setup.agent(&["--metric", "loss"], &["true"]));
    assert_eq!(ran.status.code(), Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("one per objective"), "{}", ran.stderr);
}

/// Mistakes found before any trial: an unknown placeholder, an unknown study; and a command
/// that cannot start ends the agent after failing its one trial.
#[test]
fn mistakes_are_refused_before_any_trial_runs() {
    let setup = Setup::new(quadratic_study(json!("median")));
    let ran = run(setup.agent(&[], &["echo", "--y={y}"]));
    assert_eq!(ran.status.code(), Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("unknown placeholder {y} in argument 2")
            && ran.stderr.contains("parameters are {x}"),
        "{}",
        ran.stderr
    );
    assert!(setup.trials().is_empty());

    let mut nobody = ets();
    nobody.args([
        "agent",
        "--server",
        "http://127.0.0.1:1",
        &setup.study,
        "--",
        "true",
    ]);
    let ran = run(nobody);
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("cannot be reached"), "{}", ran.stderr);

    let mut missing = ets();
    missing.args([
        "agent",
        "--server",
        &setup.served.base,
        "nope",
        "--",
        "true",
    ]);
    let ran = run(missing);
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("404"), "{}", ran.stderr);

    let ran = run(setup.agent(&[], &["/nonexistent/train"]));
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("cannot run '/nonexistent/train'"),
        "{}",
        ran.stderr
    );
    assert_eq!(states(&setup.trials()), ["failed"]);
}

/// Ctrl-C is passed on to the command, fails the trial, and ends the agent with 130.
#[test]
fn ctrl_c_is_passed_on_and_fails_the_trial() {
    let setup = Setup::new(quadratic_study(json!("median")));
    // The background sleep ignores SIGINT (as in any non-interactive shell): the agent kills
    // it after --kill-after.
    let script = r#"trap 'echo "got SIGINT"; exit 130' INT; sleep 30 & echo ready; wait"#;
    let mut agent = setup.agent(&["--kill-after", "1s"], &["sh", "-c", script]);
    let started = Instant::now();
    let mut child = agent
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(rest.contains("got SIGINT"), "{rest}");
    assert!(
        stderr.contains("trial 0 failed: stopped by SIGINT"),
        "{stderr}"
    );
    assert_eq!(states(&setup.trials()), ["failed"]);
}

/// With authentication on, the agent sends ETS_API_KEY and gives it to the command as
/// MLFLOW_TRACKING_TOKEN.
#[test]
fn with_authentication_the_api_key_is_sent_and_passed_on() {
    let dir = tempfile::tempdir().unwrap();
    let (served, key) = Served::start_with_auth(dir.path());
    let setup = Setup::with(
        served,
        dir,
        Some(key.clone()),
        quadratic_study(json!("median")),
    );

    let script = r#"
        curl -sf -X POST "$MLFLOW_TRACKING_URI/api/2.0/mlflow/runs/log-metric" \
          -H "Authorization: Bearer $MLFLOW_TRACKING_TOKEN" -H 'content-type: application/json' \
          -d "{\"run_id\": \"$MLFLOW_RUN_ID\", \"key\": \"objective\", \"value\": $ETS_PARAM_X, \"timestamp\": 0}"
    "#;
    let ran = run(setup.agent(&["--trials", "1"], &["sh", "-c", script]));
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("401") && ran.stderr.contains("ETS_API_KEY"),
        "{}",
        ran.stderr
    );

    let mut agent = setup.agent(&["--trials", "1"], &["sh", "-c", script]);
    agent.env("ETS_API_KEY", &key);
    let ran = run(agent);
    assert!(ran.status.success(), "{}", ran.stderr);
    let trials = setup.trials();
    assert_eq!(states(&trials), ["complete"]);
    assert_eq!(trials[0]["values"][0].as_f64(), Some(x_of(&trials[0])));
}

/// `ets agent --help` says what the command gets and what it may print.
#[test]
fn help_tells_the_variables_and_the_lines() {
    let output = ets().args(["agent", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "ETS_PARAM_<NAME>",
        "ETS_PARAMS",
        "MLFLOW_RUN_ID",
        "{name}",
        "ets: objective=",
        "ets: report step=",
        "ETS_API_KEY",
        "--max-consecutive-failures",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}
