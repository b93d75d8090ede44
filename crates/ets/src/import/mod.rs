//! `ets import mlflow --from URI --server URL` (issue 17): copies an MLflow store's
//! experiments (by name), runs (name, status, times, user, params, tags, every metric point
//! with its step and timestamp) and artifacts into an ETS server, through ETS's
//! MLflow-compatible REST API.
//!
//! Sources ([`source::Source`]): [`sqlite`] (MLflow's SQL store in a SQLite file), [`files`]
//! (the `./mlruns` file store) and [`http`] (an MLflow tracking server). The [`writer`] talks
//! to ETS. Each imported run carries the tag `ets.import.source_run_id` (ETS chooses its own
//! run ids) and, once everything of it is copied, `ets.import.complete`: a second import
//! skips complete runs and finishes incomplete ones (metric points ETS already has are
//! skipped by the server, params and tags are set again, artifacts replaced whole).

pub mod files;
pub mod http;
pub mod source;
pub mod sqlite;
pub mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use source::{Run, Source};
use writer::{COMPLETE_TAG, Imported, SOURCE_RUN_TAG, SOURCE_TAG, Writer};

const AFTER_HELP: &str = "\
URI is one of:
  sqlite:///PATH          an MLflow SQLite tracking database (sqlite:///mlflow.db,
                          sqlite:////abs/mlflow.db); --artifacts names its artifact folder
                          (the server's --artifacts-destination) when runs have
                          mlflow-artifacts:/ URIs
  PATH                    an MLflow file store (./mlruns)
  http(s)://HOST[:PORT]   an MLflow tracking server (MLFLOW_TRACKING_TOKEN, or
                          MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)

Active experiments and runs are copied; experiments are matched by name (created when
missing). Every imported run gets the tags ets.import.source_run_id (its MLflow run id; ETS
chooses its own ids) and ets.import.source, and ets.import.complete once copied whole.
Importing again copies nothing twice: complete runs are skipped, incomplete ones finished.

The ETS API key is read from ETS_API_KEY (sent as a bearer token).

Example:
  ets import mlflow --from sqlite:///mlflow.db --artifacts ./mlartifacts \\
    --server http://127.0.0.1:8003";

/// `ets import DIR` (an archive of `ets export`) or `ets import mlflow …`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ImportArgs {
    /// An archive folder written by `ets export`: restored into the database and artifact
    /// store of this ETS's configuration (as `ets serve` has it), with its ids and times.
    #[arg(value_name = "DIR", required = true)]
    pub dir: Option<PathBuf>,
    /// Print the summary as one JSON object on standard output.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub source: Option<ImportCommand>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Copy an MLflow store (SQLite database, ./mlruns file store or tracking server) into
    /// an ETS server; resumable, and idempotent.
    #[command(after_long_help = AFTER_HELP)]
    Mlflow(MlflowArgs),
}

#[derive(Debug, clap::Args)]
pub struct MlflowArgs {
    /// The MLflow store: sqlite:///PATH, a ./mlruns folder, or http(s)://tracking-server.
    #[arg(long = "from", value_name = "URI")]
    pub from: String,
    /// The artifact folder of a SQLite store or file store (where mlflow-artifacts:/ URIs
    /// point: the MLflow server's --artifacts-destination).
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// The ETS server.
    #[arg(long, env = "ETS_URL", default_value = "http://127.0.0.1:8003")]
    pub server: String,
    /// Only the experiment of this name (repeatable).
    #[arg(long, value_name = "NAME")]
    pub experiment: Vec<String>,
    /// Do not copy artifacts.
    #[arg(long)]
    pub no_artifacts: bool,
    /// Print the summary as one JSON object on standard output.
    #[arg(long)]
    pub json: bool,
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub experiments: u64,
    pub experiments_created: u64,
    pub runs: u64,
    /// Of `runs`: those an earlier, interrupted import had left incomplete.
    pub runs_resumed: u64,
    /// Runs already imported whole before (nothing copied).
    pub runs_skipped: u64,
    pub params: u64,
    pub tags: u64,
    pub metric_points: u64,
    pub artifacts: u64,
    pub artifact_bytes: u64,
    /// Runs whose artifacts could not be reached (each named on stderr).
    pub artifacts_unreachable: u64,
    pub seconds: f64,
}

/// Runs `ets import mlflow`; the process's exit status.
pub fn main(args: MlflowArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ets import: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(import_mlflow(&args)) {
        Ok(summary) => {
            print_summary(&summary, args.json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ets import: {e:#}");
            eprintln!("ets import: run the same command again to resume");
            ExitCode::FAILURE
        }
    }
}

fn print_summary(s: &Summary, json: bool) {
    if json {
        println!("{}", serde_json::to_string(s).unwrap_or_default());
        return;
    }
    println!(
        "experiments: {} ({} created)\nruns: {} imported ({} of them resumed), {} already imported (skipped)\n\
         params: {}\ntags: {}\nmetric points: {}\nartifacts: {} files, {} bytes{}\n\
         time: {:.1} s ({:.1} runs/s, {:.0} points/s)",
        s.experiments,
        s.experiments_created,
        s.runs,
        s.runs_resumed,
        s.runs_skipped,
        s.params,
        s.tags,
        s.metric_points,
        s.artifacts,
        s.artifact_bytes,
        if s.artifacts_unreachable > 0 {
            format!(" ({} runs' artifacts unreachable)", s.artifacts_unreachable)
        } else {
            String::new()
        },
        s.seconds,
        s.runs as f64 / s.seconds.max(1e-9),
        s.metric_points as f64 / s.seconds.max(1e-9),
    );
}

/// The store named by `--from`.
fn open_source(args: &MlflowArgs) -> anyhow::Result<Box<dyn Source>> {
    let from = args.from.as_str();
    if from.starts_with("sqlite:") {
        return Ok(Box::new(sqlite::SqliteSource::open(
            from,
            args.artifacts.clone(),
        )?));
    }
    if from.starts_with("http://") || from.starts_with("https://") {
        return Ok(Box::new(http::HttpSource::open(from)?));
    }
    if from.contains("://") && !from.starts_with("file://") {
        anyhow::bail!(
            "--from '{from}': use sqlite:///PATH, a ./mlruns folder or an http(s):// tracking server"
        );
    }
    let path = from.strip_prefix("file://").unwrap_or(from);
    Ok(Box::new(files::FileSource::open(
        std::path::Path::new(path),
        args.artifacts.clone(),
    )?))
}

/// The API key for ETS: `ETS_API_KEY`.
fn api_key() -> Option<String> {
    std::env::var("ETS_API_KEY").ok().filter(|k| !k.is_empty())
}

pub async fn import_mlflow(args: &MlflowArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut source = open_source(args)?;
    let client = crate::agent::client::Client::new(&args.server, api_key())?.named("ets import");
    let writer = Writer::new(client);
    let mut summary = Summary::default();
    let mut experiments = source.experiments().await?;
    if !args.experiment.is_empty() {
        experiments.retain(|e| args.experiment.contains(&e.name));
    }
    let source_uri = source.uri();
    eprintln!(
        "ets import: {} experiment(s) in {source_uri} → {}",
        experiments.len(),
        args.server
    );
    for (index, experiment) in experiments.iter().enumerate() {
        let (experiment_id, created) = writer
            .experiment(&experiment.name, &experiment.tags)
            .await
            .with_context(|| format!("experiment '{}'", experiment.name))?;
        summary.experiments += 1;
        summary.experiments_created += u64::from(created);
        let imported = writer.imported_runs(&experiment_id).await?;
        let runs = source.runs(experiment).await?;
        eprintln!(
            "ets import: experiment {}/{} '{}': {} run(s), {} imported before",
            index + 1,
            experiments.len(),
            experiment.name,
            runs.len(),
            runs.iter()
                .filter(|r| imported.get(&r.id).is_some_and(|i| i.complete))
                .count()
        );
        // Source run id → ETS run id, to point nested runs at their imported parent.
        let mut ids: HashMap<String, String> = imported
            .iter()
            .map(|(source, i)| (source.clone(), i.run_id.clone()))
            .collect();
        for (n, run) in runs.iter().enumerate() {
            let before = imported.get(&run.id);
            if before.is_some_and(|i| i.complete) {
                summary.runs_skipped += 1;
                continue;
            }
            let points = import_run(
                &mut *source,
                &writer,
                &experiment_id,
                run,
                before,
                &source_uri,
                &mut ids,
                args.no_artifacts,
                &mut summary,
            )
            .await
            .with_context(|| {
                format!(
                    "run {} ('{}') of experiment '{}'",
                    run.id,
                    run.name.as_deref().unwrap_or_default(),
                    experiment.name
                )
            })?;
            eprintln!(
                "ets import:   run {}/{} '{}': {} metric points ({} runs, {} points so far)",
                n + 1,
                runs.len(),
                run.name.as_deref().unwrap_or(&run.id),
                points,
                summary.runs,
                summary.metric_points
            );
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Copies one run (into `before`, the run an interrupted import left, when given); answers
/// its number of metric points.
#[allow(clippy::too_many_arguments)]
async fn import_run(
    source: &mut dyn Source,
    writer: &Writer,
    experiment_id: &str,
    run: &Run,
    before: Option<&Imported>,
    source_uri: &str,
    ids: &mut HashMap<String, String>,
    no_artifacts: bool,
    summary: &mut Summary,
) -> anyhow::Result<u64> {
    let link = [
        (SOURCE_RUN_TAG.to_owned(), run.id.clone()),
        (SOURCE_TAG.to_owned(), source_uri.to_owned()),
    ];
    let target = match before {
        Some(before) => {
            summary.runs_resumed += 1;
            before.clone()
        }
        None => {
            writer
                .create_run(
                    experiment_id,
                    run.name.as_deref(),
                    run.start_time,
                    run.user_id.as_deref(),
                    &link,
                )
                .await?
        }
    };
    ids.insert(run.id.clone(), target.run_id.clone());
    // The run's own tags (never ours: a source that is itself an import keeps its link out),
    // a parent run id pointed at the parent's copy when that was imported.
    let tags: Vec<(String, String)> = run
        .tags
        .iter()
        .filter(|(key, _)| ![SOURCE_RUN_TAG, SOURCE_TAG, COMPLETE_TAG].contains(&key.as_str()))
        .map(|(key, value)| match (key.as_str(), ids.get(value)) {
            ("mlflow.parentRunId", Some(parent)) => (key.clone(), parent.clone()),
            _ => (key.clone(), value.clone()),
        })
        .collect();
    let points = source.metrics(run).await?;
    writer
        .log(&target.run_id, &run.params, &tags, &points)
        .await?;
    if !no_artifacts {
        match source.artifacts(run).await {
            Ok(files) => {
                for path in files {
                    let bytes = source.artifact(run, &path).await?;
                    summary.artifact_bytes += bytes.len() as u64;
                    writer.upload(&target.artifact_uri, &path, bytes).await?;
                    summary.artifacts += 1;
                }
            }
            Err(e) => {
                summary.artifacts_unreachable += 1;
                eprintln!("ets import:   run {}: artifacts not copied: {e:#}", run.id);
            }
        }
    }
    writer
        .finish(&target.run_id, &run.status, run.end_time)
        .await?;
    summary.runs += 1;
    summary.params += run.params.len() as u64;
    summary.tags += tags.len() as u64;
    summary.metric_points += points.len() as u64;
    Ok(points.len() as u64)
}
