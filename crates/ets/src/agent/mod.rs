//! `ets agent STUDY -- CMD …` (issue 16): runs a study's trials one after another on this
//! machine. Each loop asks the server for a trial, runs the command with the trial's
//! parameters (environment variables and `{name}` placeholders), passes the intermediate
//! values it prints to the pruner (stopping it when the pruner says so), and tells the
//! server the objective it printed — or the last value of its run's metric.
//!
//! Layers: [`client`] (the study API over HTTP), [`child`] (the command as a process group,
//! its output passed through), [`protocol`] (the lines a command prints for the agent),
//! [`placeholders`] (parameters in the command), [`trial`] (one trial), and the loop here.

pub mod child;
pub mod client;
pub mod placeholders;
pub mod protocol;
pub mod signals;
pub mod trial;

use std::process::ExitCode;
use std::time::Duration;

use client::{Ask, Client, Completion, Told};
use signals::Signals;
use trial::{Outcome, Plan};

const AFTER_HELP: &str = "\
Each trial's command gets these environment variables:
  ETS_STUDY_ID, ETS_TRIAL_ID, ETS_TRIAL_NUMBER, ETS_RUN_ID (the trial's run), ETS_URL,
  ETS_PARAMS (the parameters as a JSON object), ETS_PARAM_<NAME> (one per parameter: the name
  uppercased, every character but letters and digits as _), MLFLOW_TRACKING_URI and
  MLFLOW_RUN_ID (an MLflow script logs to the trial's run), PYTHONUNBUFFERED=1 (unless set),
  and MLFLOW_TRACKING_TOKEN (the API key, unless MLflow credentials are set).
In the command's arguments, {name} is replaced by the value of the parameter `name`;
{{ and }} are literal braces, ${...} is left to the shell, and a placeholder that names no
parameter of the study is refused before any trial runs.

The command talks to the agent with lines of its output (standard output or error):
  ets: objective=0.25          the trial's result (one value per objective: 0.25,3.1);
                               the last such line wins
  ets: report step=3 value=0.4 an intermediate value; when the pruner stops the trial, the
                               command gets SIGTERM (SIGKILL after --kill-after) and the
                               trial is pruned
Without an objective line, the last value of the run's --metric is the objective (an MLflow
script may log `objective`). A command that exits non-zero, prints no objective or runs out
of --timeout fails its trial, and the agent goes on with the next.

The agent stops after --trials trials, when the study has nothing left to suggest (a grid),
after --max-consecutive-failures failed trials in a row (exit 1), or on Ctrl-C / SIGTERM:
the signal is passed on to the command, the trial is failed, and the agent exits 130 / 143.

The API key is read from ETS_API_KEY (else MLFLOW_TRACKING_TOKEN), sent as a bearer token.

Example:
  ETS_API_KEY=... ets agent --trials 20 $STUDY -- python train.py --lr {lr} --layers {layers}";

/// `ets agent`: run a study's trials in a loop.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP, next_help_heading = "Agent options")]
pub struct AgentArgs {
    /// The server's URL (also the command's MLFLOW_TRACKING_URI).
    #[arg(long, env = "ETS_URL", default_value = "http://127.0.0.1:8003")]
    pub server: String,
    /// Run at most N trials (default: until the study is exhausted or Ctrl-C).
    #[arg(long, value_name = "N")]
    pub trials: Option<u64>,
    /// The run metric read as the objective when the command prints no objective line; one
    /// per objective, comma-separated [default: objective, for a study of one objective].
    #[arg(long, value_name = "NAME[,NAME...]")]
    pub metric: Option<String>,
    /// Time one trial may take (90s, 30m, 2h; plain seconds); then its command is stopped
    /// and the trial fails.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Time a command gets to exit after SIGTERM or a passed-on Ctrl-C, before SIGKILL.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub kill_after: Duration,
    /// Stop after this many failed trials in a row (0: never).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_consecutive_failures: u32,
    /// The study's id.
    #[arg(value_name = "STUDY_ID")]
    pub study: String,
    /// The command of each trial, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// A refusal before any trial runs (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Usage(String);

/// Runs the agent; the process's exit status.
pub fn main(args: AgentArgs) -> ExitCode {
    command_main("ets agent", run(args), |e| e.is::<Usage>())
}

/// Runs `work`, a client command that runs a child (`ets agent`, `ets run`), on a runtime of
/// its own: its exit code, or the error on stderr (named `who`) and 1 — 2 when `usage`.
pub(crate) fn command_main(
    who: &str,
    work: impl Future<Output = anyhow::Result<u8>>,
    usage: impl Fn(&anyhow::Error) -> bool,
) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{who}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(work);
    // Reader tasks of a command whose background processes still hold its output.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{who}: {e:#}");
            ExitCode::from(if usage(&e) { 2 } else { 1 })
        }
    }
}

/// The API key: `ETS_API_KEY`, else the MLflow client's `MLFLOW_TRACKING_TOKEN`.
pub(crate) fn api_key() -> Option<String> {
    ["ETS_API_KEY", "MLFLOW_TRACKING_TOKEN"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|key| !key.is_empty())
}

/// The trials run by this agent, by outcome.
#[derive(Default)]
struct Tally {
    complete: u64,
    pruned: u64,
    failed: u64,
}

async fn run(args: AgentArgs) -> anyhow::Result<u8> {
    let api_key = api_key();
    let client = Client::new(&args.server, api_key.clone())?;
    let mut signals = Signals::listen()?;
    let study = client.study(&args.study, false).await?;
    let plan = plan(&args, study, api_key)?;
    eprintln!(
        "ets agent: study '{}' ({}, {}) on {}",
        plan.study.name,
        plan.study.id,
        plan.study.directions.join(", "),
        client.base()
    );
    let mut tally = Tally::default();
    let mut failures_in_a_row = 0;
    loop {
        if let Some(stop) = signals.received() {
            finish(&client, &plan, &tally).await;
            return Ok(stop.exit_code());
        }
        if args
            .trials
            .is_some_and(|n| tally.complete + tally.pruned + tally.failed >= n)
        {
            break;
        }
        let trial = match client.ask(&plan.study.id).await? {
            Ask::Trial(trial) => trial,
            Ask::Exhausted(why) => {
                eprintln!("ets agent: the study has nothing left to suggest ({why})");
                break;
            }
        };
        let params: Vec<String> = trial
            .params
            .iter()
            .map(|(name, value)| format!("{name}={}", placeholders::param_text(value)))
            .collect();
        eprintln!(
            "ets agent: trial {} (run {}): {}",
            trial.number,
            trial.run_id,
            params.join(" ")
        );
        let outcome = match signals.received() {
            Some(stop) => Outcome::Stopped(stop),
            None => match trial::run(&client, &plan, &trial, &mut signals).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    // The trial cannot go on: fail it, then stop.
                    let _ = client.complete(&trial.trial_id, &Completion::Failed).await;
                    return Err(e.context(format!("trial {}", trial.number)));
                }
            },
        };
        if let Told::Already(why) = client
            .complete(&trial.trial_id, &outcome.completion())
            .await?
        {
            eprintln!("ets agent: trial {} was told already: {why}", trial.number);
        }
        let n = trial.number;
        match &outcome {
            Outcome::Complete(values) => {
                tally.complete += 1;
                failures_in_a_row = 0;
                let values: Vec<String> = values.iter().map(f64::to_string).collect();
                eprintln!("ets agent: trial {n} complete: {}", values.join(", "));
            }
            Outcome::Pruned { step } => {
                tally.pruned += 1;
                failures_in_a_row = 0;
                eprintln!("ets agent: trial {n} pruned at step {step}");
            }
            Outcome::Failed(why) => {
                tally.failed += 1;
                failures_in_a_row += 1;
                eprintln!("ets agent: trial {n} failed: {why}");
            }
            Outcome::Stopped(stop) => {
                tally.failed += 1;
                eprintln!("ets agent: trial {n} failed: stopped by {}", stop.name());
                finish(&client, &plan, &tally).await;
                return Ok(stop.exit_code());
            }
        }
        if args.max_consecutive_failures > 0 && failures_in_a_row >= args.max_consecutive_failures {
            finish(&client, &plan, &tally).await;
            eprintln!(
                "ets agent: stopping after {failures_in_a_row} failed trials in a row \
                 (--max-consecutive-failures)"
            );
            return Ok(1);
        }
    }
    finish(&client, &plan, &tally).await;
    Ok(0)
}

/// What every trial shares, checked before any trial runs.
fn plan(args: &AgentArgs, study: client::Study, api_key: Option<String>) -> anyhow::Result<Plan> {
    let names = Plan::param_names(&study);
    placeholders::check(&args.command, &names).map_err(Usage)?;
    let objectives = study.directions.len();
    let metrics = match &args.metric {
        Some(list) => {
            let keys: Vec<String> = list.split(',').map(|k| k.trim().to_owned()).collect();
            if keys.iter().any(String::is_empty) || keys.len() != objectives {
                return Err(Usage(format!(
                    "--metric '{list}': name {objectives} metric(s), one per objective of the \
                     study ({}), comma-separated",
                    study.directions.join(", ")
                ))
                .into());
            }
            Some(keys)
        }
        None if objectives == 1 => Some(vec!["objective".to_owned()]),
        None => None,
    };
    for (first, second) in placeholders::env_name_clashes(&names) {
        eprintln!(
            "ets agent: warning: parameters '{first}' and '{second}' are both {}; read \
             ETS_PARAMS for their values",
            placeholders::env_name(&first)
        );
    }
    let unset = std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| key.starts_with("ETS_PARAM_"))
        .collect();
    Ok(Plan {
        study,
        command: args.command.clone(),
        metrics,
        timeout: args.timeout,
        kill_after: args.kill_after,
        api_key,
        unset,
    })
}

/// The closing line: this agent's trials by outcome, and the study's best so far.
async fn finish(client: &Client, plan: &Plan, tally: &Tally) {
    let mut line = format!(
        "ets agent: ran {} trial(s): {} complete, {} pruned, {} failed",
        tally.complete + tally.pruned + tally.failed,
        tally.complete,
        tally.pruned,
        tally.failed
    );
    if let Ok(study) = client.study(&plan.study.id, true).await
        && let (Some(value), Some(params)) = (study.best_value, study.best_params)
    {
        let params: Vec<String> = params
            .iter()
            .map(|(name, value)| format!("{name}={}", placeholders::param_text(value)))
            .collect();
        line.push_str(&format!(
            "; the study's best value is {value} ({})",
            params.join(" ")
        ));
    }
    eprintln!("{line}");
}

/// `90`, `90s`, `30m`, `2h`, `1.5h` → a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "'{text}': use a number with s, m or h, e.g. 90s, 30m, 2h"
            ));
        }
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .ok_or_else(|| format!("'{text}': use a number with s, m or h, e.g. 90s, 30m, 2h"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "s", "-1s", "10d", "ten", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
