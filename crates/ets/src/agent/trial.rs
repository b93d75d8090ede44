//! One trial: its command with the trial's parameters, the reports it prints passed to the
//! pruner, and its outcome — the objective it printed, else its run's metric(s).

use std::collections::BTreeSet;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::time::Instant;

use super::child::{Child, Said, Signal};
use super::client::{Client, Completion, Study, Trial};
use super::placeholders::{self, env_name, param_text};
use super::protocol::Directive;
use super::signals::{Signals, Stop};

/// How long the rest of a command's output is awaited after it exits.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// What every trial of a run of the agent shares.
pub struct Plan {
    pub study: Study,
    pub command: Vec<String>,
    /// The run metrics read as the objective(s) when the command prints none; `None` when
    /// there is no default (a study of several objectives without `--metric`).
    pub metrics: Option<Vec<String>>,
    pub timeout: Option<Duration>,
    pub kill_after: Duration,
    /// Given to the command as `MLFLOW_TRACKING_TOKEN` unless it has MLflow credentials.
    pub api_key: Option<String>,
    /// Inherited `ETS_PARAM_*` variables (of an enclosing agent), not passed on.
    pub unset: Vec<String>,
}

impl Plan {
    /// The study's parameter names.
    pub fn param_names(study: &Study) -> BTreeSet<String> {
        study
            .search_space
            .as_object()
            .map(|space| space.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Complete(Vec<f64>),
    /// The pruner stopped it after the report of `step`.
    Pruned {
        step: i64,
    },
    Failed(String),
    /// The agent was asked to stop; the trial is failed.
    Stopped(Stop),
}

impl Outcome {
    pub fn completion(&self) -> Completion {
        match self {
            Outcome::Complete(values) => Completion::Complete(values.clone()),
            Outcome::Pruned { .. } => Completion::Pruned,
            Outcome::Failed(_) | Outcome::Stopped(_) => Completion::Failed,
        }
    }
}

/// How the command ended.
enum Ended {
    Exited(ExitStatus),
    Pruned(i64),
    TimedOut,
    Stopped(Stop),
}

/// The command's environment: the trial, its run, its parameters, and the MLflow settings
/// that make an MLflow script log to the trial's run.
pub fn environment(plan: &Plan, client: &Client, trial: &Trial) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("ETS_URL", client.base().to_owned()),
        ("ETS_STUDY_ID", plan.study.id.clone()),
        ("ETS_TRIAL_ID", trial.trial_id.clone()),
        ("ETS_TRIAL_NUMBER", trial.number.to_string()),
        ("ETS_RUN_ID", trial.run_id.clone()),
        (
            "ETS_PARAMS",
            serde_json::to_string(&trial.params).unwrap_or_default(),
        ),
        ("MLFLOW_TRACKING_URI", client.base().to_owned()),
        ("MLFLOW_RUN_ID", trial.run_id.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (name, value) in &trial.params {
        env.push((env_name(name), param_text(value)));
    }
    // Python buffers a pipe's output: without this, reports would arrive when it exits.
    if std::env::var_os("PYTHONUNBUFFERED").is_none() {
        env.push(("PYTHONUNBUFFERED".to_owned(), "1".to_owned()));
    }
    if let Some(key) = &plan.api_key
        && std::env::var_os("MLFLOW_TRACKING_TOKEN").is_none()
        && std::env::var_os("MLFLOW_TRACKING_USERNAME").is_none()
    {
        env.push(("MLFLOW_TRACKING_TOKEN".to_owned(), key.clone()));
    }
    env
}

/// Runs the trial's command to its end. An error (the command cannot start, the server
/// cannot be reached) ends the agent.
pub async fn run(
    client: &Client,
    plan: &Plan,
    trial: &Trial,
    signals: &mut Signals,
) -> anyhow::Result<Outcome> {
    let argv = match placeholders::substitute(&plan.command, &trial.params) {
        Ok(argv) => argv,
        Err(why) => return Ok(Outcome::Failed(why)),
    };
    let env = environment(plan, client, trial);
    let (mut child, mut said) = Child::spawn(&argv, &env, &plan.unset)
        .map_err(|e| anyhow::anyhow!("cannot run '{}': {e}", argv[0]))?;
    let mut heard = Heard::default();
    let timer = async {
        match plan.timeout {
            Some(timeout) => tokio::time::sleep_until(Instant::now() + timeout).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timer);
    let ended = loop {
        tokio::select! {
            status = child.wait() => break Ended::Exited(status?),
            Some(message) = said.recv() => {
                if let Some(step) = heard.take(client, trial, message).await {
                    child.stop(Signal::Terminate, plan.kill_after, signals).await?;
                    break Ended::Pruned(step);
                }
            }
            _ = &mut timer => {
                child.stop(Signal::Terminate, plan.kill_after, signals).await?;
                break Ended::TimedOut;
            }
            stop = signals.next() => {
                let signal = match stop {
                    Stop::Interrupt => Signal::Interrupt,
                    Stop::Terminate => Signal::Terminate,
                };
                child.stop(signal, plan.kill_after, signals).await?;
                break Ended::Stopped(stop);
            }
        }
    };
    child.finish_output(OUTPUT_DRAIN).await;
    let status = match ended {
        Ended::Stopped(stop) => return Ok(Outcome::Stopped(stop)),
        Ended::Pruned(step) => return Ok(Outcome::Pruned { step }),
        Ended::TimedOut => {
            let limit = plan.timeout.unwrap_or_default();
            return Ok(Outcome::Failed(format!(
                "ran longer than --timeout {}s and was stopped",
                limit.as_secs_f64()
            )));
        }
        Ended::Exited(status) => status,
    };
    // What the command printed last, before it exited.
    while let Ok(message) = said.try_recv() {
        if let Some(step) = heard.take(client, trial, message).await {
            return Ok(Outcome::Pruned { step });
        }
    }
    if !status.success() {
        return Ok(Outcome::Failed(describe(status)));
    }
    objective(client, plan, trial, heard.objective).await
}

/// The trial's objective value(s): printed, else read from the run's metrics.
async fn objective(
    client: &Client,
    plan: &Plan,
    trial: &Trial,
    printed: Option<Vec<f64>>,
) -> anyhow::Result<Outcome> {
    let objectives = plan.study.directions.len();
    let values = match (printed, &plan.metrics) {
        (Some(values), _) => values,
        (None, Some(keys)) => {
            let latest = client.latest_metrics(&trial.run_id, keys).await?;
            let missing: Vec<&str> = keys
                .iter()
                .zip(&latest)
                .filter(|(_, value)| value.is_none())
                .map(|(key, _)| key.as_str())
                .collect();
            if !missing.is_empty() {
                return Ok(Outcome::Failed(format!(
                    "it printed no `ets: objective=…` line and its run has no metric '{}'",
                    missing.join("', '")
                )));
            }
            latest.into_iter().flatten().collect()
        }
        (None, None) => {
            return Ok(Outcome::Failed(format!(
                "it printed no `ets: objective=…` line with the study's {objectives} values \
                 (or pass --metric with one metric per objective)"
            )));
        }
    };
    if values.len() != objectives {
        return Ok(Outcome::Failed(format!(
            "{} objective value(s) for a study of {objectives} objective(s)",
            values.len()
        )));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Ok(Outcome::Failed(format!(
            "the objective {values:?} is not a finite number"
        )));
    }
    Ok(Outcome::Complete(values))
}

/// What the command said so far.
#[derive(Default)]
struct Heard {
    objective: Option<Vec<f64>>,
}

impl Heard {
    /// Takes in one message; reports go to the server at once. Answers the step whose report
    /// the pruner stopped the trial at.
    async fn take(&mut self, client: &Client, trial: &Trial, message: Said) -> Option<i64> {
        match message {
            Ok(Directive::Objective(values)) => {
                self.objective = Some(values);
                None
            }
            Ok(Directive::Report { step, value }) => {
                match client.report(&trial.trial_id, step, value).await {
                    Ok(prune) => prune.then_some(step),
                    Err(e) => {
                        eprintln!(
                            "ets agent: trial {}: the report of step {step} was not recorded: {e:#}",
                            trial.number
                        );
                        None
                    }
                }
            }
            Err((why, line)) => {
                eprintln!(
                    "ets agent: trial {}: ignoring '{line}': {why}",
                    trial.number
                );
                None
            }
        }
    }
}

/// `exited with status 1`, `was killed by signal 9`.
fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("it exited with status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("it was killed by signal {signal}");
        }
    }
    format!("it ended with {status}")
}
