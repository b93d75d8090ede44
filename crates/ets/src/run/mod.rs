//! `ets run -- CMD …` and `ets sync` (issue 17): track any command as a run. `ets run`
//! creates the run (the experiment too, when missing), starts the command, and until it
//! exits logs its output lines ([`Pending`]) and samples its resource usage as `system/*`
//! metrics ([`usage`]); it finishes the run with the command's status and exits with it.
//!
//! Everything goes through a local spool first ([`spool`]): an uploader task sends it and
//! removes what the server acknowledged ([`upload`]). When the server cannot be reached, at the
//! start or midway, the records stay, and `ets sync` sends them later with the same uploader.
//!
//! Reused from `ets agent`: the HTTP client (`agent/client.rs`), the command as a process
//! group with its output passed through (`agent/child.rs`), and Ctrl-C / SIGTERM handling
//! (`agent/signals.rs`).

pub mod gpu;
pub mod spool;
pub mod upload;
pub mod usage;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::agent::child::{Child, Signal, Stream};
use crate::agent::signals::{Signals, Stop};
use crate::agent::{api_key, command_main, parse_duration};
use spool::{Final, RecordKind, RunDir, RunSpec};
use upload::Stopped;

/// A log batch is written when this many lines are there…
const BATCH_LINES: usize = 1000;
/// …else every this long.
const BATCH_WINDOW: Duration = Duration::from_secs(1);
/// The longest line sent (the server's default `limits.max_log_line_bytes`).
const MAX_LINE_BYTES: usize = 65_536;
/// How long the run's creation may take before the command starts anyway (offline).
const CREATE_WITHIN: Duration = Duration::from_secs(15);
/// How long the rest of the command's output is awaited after it exits.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// The longest pause between upload attempts while the server cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

const RUN_HELP: &str = "\
The run gets --name, the --param and --tag pairs, and the tags ets.run.client_id (the
client's id of the run: the key that makes uploads idempotent), ets.run.command and
ets.run.host; when the command ends, ets.run.exit_code and the status finished (exit 0),
failed (another exit code) or killed (ended by a signal, e.g. Ctrl-C or SIGTERM, which are
passed on to the command's process group). ets run exits with the command's exit code, or
128 + the signal's number.

Recorded while the command runs:
  its output lines, stdout and stderr, with the time each was read (also shown in the
  terminal as it comes); sent in batches of up to 1,000 lines or about a second
  system/* metrics every --interval seconds (Linux, read from /proc): cpu_percent and
  rss_bytes of the command's process tree (100 = one core), disk_read_bytes and
  disk_write_bytes of the tree, memory_used_bytes and memory_percent of the host, and
  net_rx_bytes and net_tx_bytes of the host since the start (all interfaces but loopback)

The command gets ETS_URL, ETS_RUN_CLIENT_ID, and, once the run exists on the server,
ETS_RUN_ID, MLFLOW_RUN_ID and MLFLOW_TRACKING_URI (an MLflow script logs into the same run),
MLFLOW_TRACKING_TOKEN (the API key, unless MLflow credentials are set) and PYTHONUNBUFFERED=1
(unless set). Its standard input is closed.

Offline: when the server cannot be reached, at the start or midway, the command runs anyway
and everything is kept in the spool (--spool); `ets sync` uploads it later. Without a server
at the start the command gets no ETS_RUN_ID.

The API key is read from ETS_API_KEY (else MLFLOW_TRACKING_TOKEN), sent as a bearer token.

Example:
  ets run --experiment mnist --name baseline --param lr=0.01 -- python train.py --lr 0.01";

const SYNC_HELP: &str = "\
Every run folder of the spool is uploaded in order: the run (looked up by its tag
ets.run.client_id, created when missing), its log batches and metric points, and its final
status; each record leaves the spool once the server has acknowledged it, and a run's folder
once all of it is on the server. Running it again, or after an interruption, doubles nothing.
A folder whose ets run is still running is skipped. A run whose ets run died without a final
status is finished as failed. Records the server refuses (4xx) are moved to the folder's
rejected/ and named on stderr.";

/// `ets run`: run a command as a tracked run.
#[derive(Debug, clap::Args)]
#[command(after_long_help = RUN_HELP, next_help_heading = "Run options")]
pub struct RunArgs {
    /// The server's URL (also the command's MLFLOW_TRACKING_URI).
    #[arg(long, env = "ETS_URL", default_value = "http://127.0.0.1:8003")]
    pub server: String,
    /// The project of a new experiment (default: ETS's `default` project).
    #[arg(long, value_name = "P")]
    pub project: Option<String>,
    /// The experiment, by name; created when missing.
    #[arg(long, value_name = "E", default_value = "Default")]
    pub experiment: String,
    /// The run's name (default: one the server makes up).
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// A param of the run (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub params: Vec<(String, String)>,
    /// A tag of the run (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub tags: Vec<(String, String)>,
    /// Seconds between resource usage samples (system/* metrics).
    #[arg(long, value_name = "SECONDS", value_parser = parse_interval, default_value = "10")]
    pub interval: Duration,
    /// The spool folder (ETS_SPOOL; default $XDG_DATA_HOME/ets/spool, else
    /// ~/.local/share/ets/spool).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// Time the command gets to exit after a passed-on Ctrl-C or SIGTERM, before SIGKILL.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub kill_after: Duration,
    /// The command, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `ets sync`: upload what `ets run` kept in the spool.
#[derive(Debug, clap::Args)]
#[command(after_long_help = SYNC_HELP)]
pub struct SyncArgs {
    /// The server's URL.
    #[arg(long, env = "ETS_URL", default_value = "http://127.0.0.1:8003")]
    pub server: String,
    /// The spool folder (ETS_SPOOL; default $XDG_DATA_HOME/ets/spool, else
    /// ~/.local/share/ets/spool).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("'{text}': use KEY=VALUE")),
    }
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval < Duration::from_millis(100) {
        return Err(format!("'{text}': at least 0.1 seconds"));
    }
    Ok(interval)
}

/// Runs `ets run`; the process's exit status (the command's).
pub fn main(args: RunArgs) -> ExitCode {
    command_main("ets run", run(args), |_| false)
}

/// Runs `ets sync`: 0 when the spool is empty afterwards (but for folders in use).
pub fn sync_main(args: SyncArgs) -> ExitCode {
    let work = async { Ok(if sync(args).await? { 0 } else { 1 }) };
    command_main("ets sync", work, |_| false)
}

fn now_millis() -> i64 {
    ets_domain::time::Timestamp::now().millis()
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// A line of output as the logs API takes it.
struct Line {
    stream: Stream,
    timestamp: i64,
    text: String,
}

/// Cuts `text` to at most `max` bytes (at a character boundary).
fn clip(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Numbers the records of the run and writes them to its spool folder.
struct Writer {
    run: RunDir,
    client_id: String,
    seq: u64,
    uploader: Arc<Notify>,
    /// The first write error (the spool's disk is full…): reported once.
    failed: bool,
}

impl Writer {
    fn write(&mut self, kind: RecordKind, body: &Value) {
        self.seq += 1;
        match self.run.write(self.seq, kind, body) {
            Ok(()) => self.uploader.notify_one(),
            Err(e) if !self.failed => {
                self.failed = true;
                eprintln!(
                    "ets run: cannot write to the spool {}: {e}; records are lost",
                    self.run.dir.display()
                );
            }
            Err(_) => {}
        }
    }

    fn logs(&mut self, lines: &mut Vec<Line>) {
        if lines.is_empty() {
            return;
        }
        let items: Vec<Value> = lines
            .drain(..)
            .map(|line| {
                json!({ "stream": line.stream.name(), "timestamp": line.timestamp, "line": line.text })
            })
            .collect();
        let body = json!({
            "batch_id": format!("{}-{:010}", self.client_id, self.seq + 1),
            "lines": items,
        });
        self.write(RecordKind::Logs, &body);
    }
}

/// The lines read since the last batch, shared by the output readers (which add them) and the
/// main loop (which takes them every [`BATCH_WINDOW`], or as soon as [`BATCH_LINES`] are
/// there): a line costs a lock, not a wake-up of the loop.
#[derive(Clone, Default)]
struct Pending {
    lines: Arc<Mutex<Vec<Line>>>,
    full: Arc<Notify>,
}

impl Pending {
    fn push(&self, line: Line) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.push(line);
        if lines.len() == BATCH_LINES {
            self.full.notify_one();
        }
    }

    /// Writes what is there as batches of at most [`BATCH_LINES`] lines.
    fn flush(&self, writer: &mut Writer) {
        let lines = std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()));
        let mut lines = lines.into_iter().peekable();
        while lines.peek().is_some() {
            let mut batch: Vec<Line> = lines.by_ref().take(BATCH_LINES).collect();
            writer.logs(&mut batch);
        }
    }
}

/// Uploads the run's spool as records arrive, until told to stop; pauses (backing off) while
/// the server cannot be reached.
async fn uploader(
    client: Arc<crate::agent::client::Client>,
    run: RunDir,
    notify: Arc<Notify>,
    stop: Arc<Notify>,
    mut offline: bool,
) {
    let mut backoff = Duration::from_secs(1);
    let mut refused = false;
    loop {
        if !refused {
            // Stopping cancels a pass midway: a record sent but not yet removed is sent again
            // by the final pass, and the server keeps it once.
            let pass = tokio::select! {
                pass = upload::upload(&client, &run, false) => pass,
                _ = stop.notified() => return,
            };
            match pass {
                Ok(_) => {
                    if offline {
                        eprintln!("ets run: the server is back: uploading");
                    }
                    offline = false;
                    backoff = Duration::from_secs(1);
                }
                Err(Stopped::Unreachable(why)) => {
                    if !offline {
                        eprintln!(
                            "ets run: the server cannot be reached ({why}); keeping the run in \
                             {}",
                            run.dir.display()
                        );
                    }
                    offline = true;
                }
                Err(Stopped::Refused(e)) => {
                    eprintln!(
                        "ets run: the server refuses the run's records: {e:#}; keeping them in \
                         {}",
                        run.dir.display()
                    );
                    refused = true;
                }
            }
        }
        if offline {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.notified() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        } else {
            tokio::select! {
                _ = notify.notified() => {}
                _ = stop.notified() => return,
            }
        }
    }
}

/// What the command's environment gets.
fn environment(
    client: &crate::agent::client::Client,
    client_id: &str,
    run_id: Option<&str>,
    api_key: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("ETS_URL".to_owned(), client.base().to_owned()),
        ("ETS_RUN_CLIENT_ID".to_owned(), client_id.to_owned()),
    ];
    if let Some(run_id) = run_id {
        env.push(("ETS_RUN_ID".to_owned(), run_id.to_owned()));
        env.push(("MLFLOW_RUN_ID".to_owned(), run_id.to_owned()));
        env.push(("MLFLOW_TRACKING_URI".to_owned(), client.base().to_owned()));
    }
    if std::env::var_os("PYTHONUNBUFFERED").is_none() {
        env.push(("PYTHONUNBUFFERED".to_owned(), "1".to_owned()));
    }
    if let Some(key) = api_key
        && std::env::var_os("MLFLOW_TRACKING_TOKEN").is_none()
        && std::env::var_os("MLFLOW_TRACKING_USERNAME").is_none()
    {
        env.push(("MLFLOW_TRACKING_TOKEN".to_owned(), key.to_owned()));
    }
    env
}

/// How the command ended: the run's status and `ets run`'s exit code.
fn ending(status: std::process::ExitStatus, stopped: Option<Stop>) -> (&'static str, u8) {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return ("killed", u8::try_from(128 + signal).unwrap_or(255));
        }
    }
    match status.code() {
        // A command that exits by itself after a passed-on Ctrl-C was still stopped by it.
        Some(code) if stopped.is_some() && code != 0 => ("killed", code as u8),
        Some(0) => ("finished", 0),
        Some(code) => ("failed", code as u8),
        None => ("failed", 1),
    }
}

async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let api_key = api_key();
    let client = Arc::new(upload::client(&args.server, api_key.clone())?);
    let spool_dir = args.spool.clone().unwrap_or_else(spool::default_dir);
    let client_id = uuid::Uuid::now_v7().simple().to_string();
    let mut tags: BTreeMap<String, String> = args.tags.iter().cloned().collect();
    tags.insert(
        "ets.run.command".to_owned(),
        clip(args.command.join(" "), 4096),
    );
    if let Some(host) = hostname() {
        tags.insert("ets.run.host".to_owned(), host);
    }
    let spec = RunSpec {
        client_id: client_id.clone(),
        project: args.project.clone(),
        experiment: args.experiment.clone(),
        name: args.name.clone(),
        params: args.params.iter().cloned().collect(),
        tags,
        started_at: now_millis(),
    };
    let (run, _lock) = RunDir::create(&spool_dir, &spec)
        .map_err(|e| anyhow::anyhow!("cannot write the spool {}: {e}", spool_dir.display()))?;
    let mut signals = Signals::listen()?;

    let run_id = match tokio::time::timeout(CREATE_WITHIN, upload::create(&client, &run)).await {
        Ok(Ok(run_id)) => {
            eprintln!(
                "ets run: run {run_id} in experiment '{}' on {}",
                spec.experiment,
                client.base()
            );
            Some(run_id)
        }
        Ok(Err(Stopped::Refused(e))) => {
            let _ = std::fs::remove_dir_all(&run.dir);
            return Err(e.context("cannot create the run"));
        }
        Ok(Err(Stopped::Unreachable(why))) => {
            eprintln!(
                "ets run: the server cannot be reached ({why}); running offline: the run is kept \
                 in {} (upload it with `ets sync`)",
                run.dir.display()
            );
            None
        }
        Err(_) => {
            eprintln!(
                "ets run: the server did not answer within {CREATE_WITHIN:?}; running offline: \
                 the run is kept in {}",
                run.dir.display()
            );
            None
        }
    };

    let env = environment(&client, &client_id, run_id.as_deref(), api_key.as_deref());
    let pending = Pending::default();
    let readers = pending.clone();
    let on_line = move |stream: Stream, text: String| {
        readers.push(Line {
            stream,
            timestamp: now_millis(),
            text: clip(text, MAX_LINE_BYTES),
        });
    };
    let mut child = match Child::spawn_with_lines(&args.command, &env, &[], on_line) {
        Ok(child) => child,
        Err(e) => {
            // Nothing ran: the run failed, and says why.
            let mut writer_run = Writer {
                run: run.clone(),
                client_id: client_id.clone(),
                seq: 0,
                uploader: Arc::new(Notify::new()),
                failed: false,
            };
            let mut line = vec![Line {
                stream: Stream::Stderr,
                timestamp: now_millis(),
                text: format!("ets run: cannot run '{}': {e}", args.command[0]),
            }];
            writer_run.logs(&mut line);
            eprintln!("ets run: cannot run '{}': {e}", args.command[0]);
            finish(&client, &run, "failed", 127).await;
            // The shell's code for a command that cannot be run.
            return Ok(127);
        }
    };

    let notify = Arc::new(Notify::new());
    let stop = Arc::new(Notify::new());
    let upload_task = tokio::spawn(uploader(
        client.clone(),
        run.clone(),
        notify.clone(),
        stop.clone(),
        run_id.is_none(),
    ));
    let mut writer = Writer {
        run: run.clone(),
        client_id,
        seq: 0,
        uploader: notify,
        failed: false,
    };
    let mut batches = tokio::time::interval_at(Instant::now() + BATCH_WINDOW, BATCH_WINDOW);
    batches.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sampler = child.id().map(usage::Sampler::new);
    let mut samples = tokio::time::interval_at(Instant::now() + args.interval, args.interval);
    samples.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut step = 0i64;
    let mut stopped: Option<Stop> = None;

    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = pending.full.notified() => pending.flush(&mut writer),
            _ = batches.tick() => pending.flush(&mut writer),
            _ = samples.tick() => {
                if let Some(sampler) = sampler.as_mut() {
                    let values = sampler.sample();
                    if !values.is_empty() {
                        let timestamp = now_millis();
                        let metrics: Vec<Value> = values
                            .into_iter()
                            .map(|(key, value)| json!({
                                "key": key, "value": value, "step": step, "timestamp": timestamp,
                            }))
                            .collect();
                        writer.write(RecordKind::Metrics, &json!({ "metrics": metrics }));
                        step += 1;
                    }
                }
            }
            stop_request = signals.next() => {
                stopped = Some(stop_request);
                let signal = match stop_request {
                    Stop::Interrupt => Signal::Interrupt,
                    Stop::Terminate => Signal::Terminate,
                };
                break child.stop(signal, args.kill_after, &mut signals).await?;
            }
        }
    };
    child.finish_output(OUTPUT_DRAIN).await;
    drop(child);
    pending.flush(&mut writer);

    let (run_status, code) = ending(status, stopped);
    stop.notify_one();
    let _ = upload_task.await;
    finish(&client, &run, run_status, code).await;
    Ok(code)
}

/// Spools the final status and sends what is left (once: the server may be gone).
async fn finish(client: &crate::agent::client::Client, run: &RunDir, status: &str, code: u8) {
    let ended = Final {
        status: status.to_owned(),
        end_time: now_millis(),
        exit_code: i32::from(code),
    };
    if let Err(e) = run.write_final(&ended) {
        eprintln!("ets run: cannot write the spool: {e}");
    }
    match upload::upload(client, run, true).await {
        Ok(sent) if sent.done => {
            eprintln!("ets run: run {status} (exit code {code})");
        }
        Ok(_) => eprintln!(
            "ets run: run {status} (exit code {code}); records the server refused are kept in \
             {}",
            run.dir.join("rejected").display()
        ),
        Err(e) => eprintln!(
            "ets run: run {status} (exit code {code}), not uploaded: {e}; it is kept in {} \
             (upload it with `ets sync`)",
            run.dir.display()
        ),
    }
}

async fn sync(args: SyncArgs) -> anyhow::Result<bool> {
    let client = upload::client(&args.server, api_key())?.named("ets sync");
    let spool_dir = args.spool.clone().unwrap_or_else(spool::default_dir);
    let runs = RunDir::list(&spool_dir)?;
    if runs.is_empty() {
        eprintln!("ets sync: nothing to upload in {}", spool_dir.display());
        return Ok(true);
    }
    let mut all_done = true;
    for run in runs {
        let Some(_lock) = run.lock()? else {
            eprintln!(
                "ets sync: {}: its ets run is still running; skipped",
                run.dir.display()
            );
            continue;
        };
        let spec = run.spec()?;
        if run.final_record()?.is_none() && !run.dir.join("rejected").join("final.json").exists() {
            // Its ets run ended without a final status (killed, or the machine went down).
            let last = run
                .records()?
                .last()
                .and_then(|r| std::fs::metadata(&r.path).ok()?.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
                .unwrap_or(spec.started_at);
            run.write_final(&Final {
                status: "failed".to_owned(),
                end_time: last.max(spec.started_at),
                exit_code: -1,
            })?;
            eprintln!(
                "ets sync: {}: its ets run ended without a status: finishing it as failed",
                run.dir.display()
            );
        }
        match upload::upload(&client, &run, true).await {
            Ok(sent) => {
                let run_id = &sent.run_id;
                let kept = if sent.done {
                    String::new()
                } else {
                    all_done = false;
                    format!(
                        "; records the server refused are kept in {}",
                        run.dir.join("rejected").display()
                    )
                };
                eprintln!(
                    "ets sync: run {run_id} (client id {}): {} record(s) uploaded{kept}",
                    spec.client_id, sent.records
                );
            }
            Err(Stopped::Unreachable(why)) => {
                eprintln!(
                    "ets sync: the server cannot be reached ({why}); the spool is kept: try again"
                );
                return Ok(false);
            }
            Err(Stopped::Refused(e)) => {
                eprintln!("ets sync: {}: {e:#}; kept", run.dir.display());
                all_done = false;
            }
        }
    }
    Ok(all_done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_intervals() {
        assert_eq!(
            parse_pair("lr=0.1=x"),
            Ok(("lr".to_owned(), "0.1=x".to_owned()))
        );
        assert!(parse_pair("=1").is_err());
        assert!(parse_pair("lr").is_err());
        assert_eq!(parse_interval("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_interval("0").is_err());
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let line = "é".repeat(MAX_LINE_BYTES);
        let clipped = clip(line, MAX_LINE_BYTES);
        assert!(clipped.len() <= MAX_LINE_BYTES);
        assert!(clipped.chars().all(|c| c == 'é'));
    }
}
