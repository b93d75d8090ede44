//! `ets import mlflow --from URI --server URL` (issue 17): copies an MLflow store's
//! experiments (by name), runs (name, status, times, user, params, tags, every metric point
//! with its step and timestamp), artifacts and MLflow 3 logged models (name, type, source
//! run, status, params, tags, metric values with their run and dataset, artifacts, and the
//! runs' links to them) into an ETS server, through ETS's MLflow-compatible REST API.
//!
//! Sources ([`source::Source`]): [`sqlite`] (MLflow's SQL store in a SQLite file), [`files`]
//! (the `./mlruns` file store) and [`http`] (an MLflow tracking server). The [`writer`] talks
//! to ETS. Each imported run carries the tag `ets.import.source_run_id` (ETS chooses its own
//! run ids) and, once everything of it is copied, `ets.import.complete`: a second import
//! skips complete runs and finishes incomplete ones (metric points ETS already has are
//! skipped by the server, params and tags are set again, artifacts replaced whole). Logged
//! models are copied after every run (their metrics are logged by runs, maybe of another
//! experiment), each tagged `ets.import.source_model_id`, and `ets.import.complete` once
//! whole: skipped or finished the same way.

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

use source::{Experiment, LoggedModel, ModelPoint, Owner, Run, Source};
use writer::{
    COMPLETE_TAG, Imported, ImportedModel, SOURCE_MODEL_TAG, SOURCE_RUN_TAG, SOURCE_TAG, Writer,
};

const AFTER_HELP: &str = "\
URI is one of:
  sqlite:///PATH          an MLflow SQLite tracking database (sqlite:///mlflow.db,
                          sqlite:////abs/mlflow.db); --artifacts names its artifact folder
                          (the server's --artifacts-destination) when runs have
                          mlflow-artifacts:/ URIs
  PATH                    an MLflow file store (./mlruns)
  http(s)://HOST[:PORT]   an MLflow tracking server (MLFLOW_TRACKING_TOKEN, or
                          MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)

Active experiments, runs and (MLflow 3) logged models are copied; experiments are matched
by name (created when missing). Every imported run gets the tags ets.import.source_run_id
(its MLflow run id; ETS chooses its own ids) and ets.import.source, and ets.import.complete
once copied whole; every logged model likewise ets.import.source_model_id,
ets.import.source and ets.import.complete. Importing again copies nothing twice: complete
runs and models are skipped, incomplete ones finished.

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
    /// MLflow 3 logged models copied.
    pub logged_models: u64,
    /// Of `logged_models`: those an earlier, interrupted import had left incomplete.
    pub logged_models_resumed: u64,
    /// Logged models already imported whole before (nothing copied).
    pub logged_models_skipped: u64,
    pub model_params: u64,
    pub model_tags: u64,
    pub model_metric_values: u64,
    /// Model metric values not copied: logged by a run that was not imported (each model
    /// named on stderr).
    pub model_metric_values_skipped: u64,
    /// Files of logged models (their bytes are counted in `artifact_bytes`).
    pub model_artifacts: u64,
    /// Logged models whose artifacts could not be reached (each named on stderr).
    pub model_artifacts_unreachable: u64,
    /// Runs' links to the logged models they used or produced.
    pub model_links: u64,
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
         logged models: {} imported ({} of them resumed), {} already imported (skipped); \
         {} params, {} tags, {} metric values{}, {} files{}, {} run links\n\
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
        note(s.artifacts_unreachable, "runs' artifacts unreachable"),
        s.logged_models,
        s.logged_models_resumed,
        s.logged_models_skipped,
        s.model_params,
        s.model_tags,
        s.model_metric_values,
        note(
            s.model_metric_values_skipped,
            "of runs not imported skipped"
        ),
        s.model_artifacts,
        note(
            s.model_artifacts_unreachable,
            "models' artifacts unreachable"
        ),
        s.model_links,
        s.seconds,
        s.runs as f64 / s.seconds.max(1e-9),
        s.metric_points as f64 / s.seconds.max(1e-9),
    );
}

/// ` (N what)` when `n` is not 0.
fn note(n: u64, what: &str) -> String {
    if n > 0 {
        format!(" ({n} {what})")
    } else {
        String::new()
    }
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
    // Source run id → ETS run id, of every experiment: nested runs point at their imported
    // parent, logged models at their source run, model metric values at the run that logged
    // them.
    let mut ids: HashMap<String, String> = HashMap::new();
    // Per experiment: its ETS id and its source runs, for the logged models.
    let mut copied: Vec<(String, Vec<Run>)> = Vec::new();
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
        ids.extend(
            imported
                .iter()
                .map(|(source, i)| (source.clone(), i.run_id.clone())),
        );
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
        copied.push((experiment_id, runs));
    }
    // The logged models of every experiment, and those imported before.
    let mut found = Vec::new();
    for (experiment, (experiment_id, _)) in experiments.iter().zip(&copied) {
        let models = source
            .models(experiment)
            .await
            .with_context(|| format!("logged models of experiment '{}'", experiment.name))?;
        let imported = if models.is_empty() {
            HashMap::new()
        } else {
            writer.imported_models(experiment_id).await?
        };
        found.push((models, imported));
    }
    // The runs' links to models, read only when a model is to be copied.
    let to_copy = found.iter().any(|(models, imported)| {
        models
            .iter()
            .any(|m| !imported.get(&m.id).is_some_and(|i| i.complete))
    });
    let links = if to_copy {
        model_links(&mut *source, copied.iter().flat_map(|(_, runs)| runs)).await?
    } else {
        HashMap::new()
    };
    for ((experiment, (experiment_id, _)), (models, imported)) in
        experiments.iter().zip(&copied).zip(found)
    {
        import_models(
            &mut *source,
            &writer,
            experiment,
            experiment_id,
            &models,
            &imported,
            &source_uri,
            &ids,
            &links,
            args.no_artifacts,
            &mut summary,
        )
        .await
        .with_context(|| format!("logged models of experiment '{}'", experiment.name))?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// A run's link to a logged model: the run used it (no step) or produced it (at a step).
#[derive(Debug, Clone, PartialEq)]
struct ModelLink {
    run_id: String,
    output_step: Option<i64>,
}

/// Source model id → the runs linked to it.
async fn model_links<'a>(
    source: &mut dyn Source,
    runs: impl Iterator<Item = &'a Run>,
) -> anyhow::Result<HashMap<String, Vec<ModelLink>>> {
    let mut links: HashMap<String, Vec<ModelLink>> = HashMap::new();
    for run in runs {
        let (inputs, outputs) = source
            .model_links(run)
            .await
            .with_context(|| format!("the logged models of run {}", run.id))?;
        let used = inputs.into_iter().map(|id| (id, None));
        let produced = outputs.into_iter().map(|(id, step)| (id, Some(step)));
        for (model_id, output_step) in used.chain(produced) {
            links.entry(model_id).or_default().push(ModelLink {
                run_id: run.id.clone(),
                output_step,
            });
        }
    }
    Ok(links)
}

/// Copies the logged models of an experiment (into `experiment_id`, its ETS copy) not
/// imported whole before.
#[allow(clippy::too_many_arguments)]
async fn import_models(
    source: &mut dyn Source,
    writer: &Writer,
    experiment: &Experiment,
    experiment_id: &str,
    models: &[LoggedModel],
    imported: &HashMap<String, ImportedModel>,
    source_uri: &str,
    ids: &HashMap<String, String>,
    links: &HashMap<String, Vec<ModelLink>>,
    no_artifacts: bool,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    if models.is_empty() {
        return Ok(());
    }
    eprintln!(
        "ets import: experiment '{}': {} logged model(s), {} imported before",
        experiment.name,
        models.len(),
        models
            .iter()
            .filter(|m| imported.get(&m.id).is_some_and(|i| i.complete))
            .count()
    );
    for model in models {
        let before = imported.get(&model.id);
        if before.is_some_and(|i| i.complete) {
            summary.logged_models_skipped += 1;
            continue;
        }
        import_model(
            source,
            writer,
            experiment_id,
            model,
            before,
            source_uri,
            ids,
            links.get(&model.id).map_or(&[], Vec::as_slice),
            no_artifacts,
            summary,
        )
        .await
        .with_context(|| format!("logged model {} ('{}')", model.id, model.name))?;
    }
    Ok(())
}

/// Copies one logged model (into `before`, the model an interrupted import left, when
/// given), with the links of the imported runs to it.
#[allow(clippy::too_many_arguments)]
async fn import_model(
    source: &mut dyn Source,
    writer: &Writer,
    experiment_id: &str,
    model: &LoggedModel,
    before: Option<&ImportedModel>,
    source_uri: &str,
    ids: &HashMap<String, String>,
    links: &[ModelLink],
    no_artifacts: bool,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let source_run = model.source_run_id.as_ref().and_then(|id| ids.get(id));
    let target = match before {
        Some(before) => {
            summary.logged_models_resumed += 1;
            before.clone()
        }
        None => {
            if let (Some(run), None) = (&model.source_run_id, source_run) {
                eprintln!(
                    "ets import:   model {}: its source run {run} was not imported: copied without",
                    model.id
                );
            }
            let link = [
                (SOURCE_MODEL_TAG.to_owned(), model.id.clone()),
                (SOURCE_TAG.to_owned(), source_uri.to_owned()),
            ];
            writer
                .create_model(
                    experiment_id,
                    &model.name,
                    model.model_type.as_deref(),
                    source_run.map(String::as_str),
                    &link,
                )
                .await?
        }
    };
    let tags: Vec<(String, String)> = model
        .tags
        .iter()
        .filter(|(key, _)| ![SOURCE_MODEL_TAG, SOURCE_TAG, COMPLETE_TAG].contains(&key.as_str()))
        .cloned()
        .collect();
    writer
        .model_params_and_tags(&target.model_id, &model.params, &tags)
        .await?;
    // The metric values, logged by the ETS copies of the runs that logged them.
    let mut by_run: std::collections::BTreeMap<&str, Vec<&ModelPoint>> = Default::default();
    for point in &model.metrics {
        by_run.entry(&point.run_id).or_default().push(point);
    }
    for (run_id, points) in by_run {
        match ids.get(run_id) {
            Some(run) => {
                writer.model_metrics(run, &target.model_id, &points).await?;
                summary.model_metric_values += points.len() as u64;
            }
            None => {
                eprintln!(
                    "ets import:   model {}: {} metric value(s) of run {run_id}, which was not imported, not copied",
                    model.id,
                    points.len()
                );
                summary.model_metric_values_skipped += points.len() as u64;
            }
        }
    }
    if !no_artifacts {
        copy_artifacts(
            source,
            writer,
            Owner::Model(model),
            &target.artifact_uri,
            summary,
        )
        .await?;
    }
    for link in links {
        let Some(run) = ids.get(&link.run_id) else {
            continue;
        };
        writer
            .link_model(run, &target.model_id, link.output_step)
            .await?;
        summary.model_links += 1;
    }
    writer.finish_model(&target, &model.status).await?;
    summary.logged_models += 1;
    summary.model_params += model.params.len() as u64;
    summary.model_tags += tags.len() as u64;
    eprintln!(
        "ets import:   model '{}': {} metric values, {} params",
        model.name,
        model.metrics.len(),
        model.params.len()
    );
    Ok(())
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
        copy_artifacts(
            source,
            writer,
            Owner::Run(run),
            &target.artifact_uri,
            summary,
        )
        .await?;
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

/// Copies the artifact files of a run or logged model to `artifact_uri` (its ETS copy's),
/// counted in `summary`; artifacts that cannot be reached are named on stderr and counted.
async fn copy_artifacts(
    source: &mut dyn Source,
    writer: &Writer,
    of: Owner<'_>,
    artifact_uri: &str,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let (copied, unreachable) = match of {
        Owner::Run(_) => (&mut summary.artifacts, &mut summary.artifacts_unreachable),
        Owner::Model(_) => (
            &mut summary.model_artifacts,
            &mut summary.model_artifacts_unreachable,
        ),
    };
    let files = match source.artifacts(of).await {
        Ok(files) => files,
        Err(e) => {
            *unreachable += 1;
            eprintln!("ets import:   {of}: artifacts not copied: {e:#}");
            return Ok(());
        }
    };
    for path in files {
        let bytes = source.artifact(of, &path).await?;
        summary.artifact_bytes += bytes.len() as u64;
        writer.upload(artifact_uri, &path, bytes).await?;
        *copied += 1;
    }
    Ok(())
}
