//! `ets import DIR`: writes an archive of `ets export` back with its ids and times. Order:
//! the project, its experiments, its runs (parents first, each marked pending), the logged
//! models (which name runs, and which runs name), then each run's links, points, log and
//! artifacts, and last the times and trash state of runs, experiments and project.
//!
//! Every write is idempotent, so an interrupted import is finished by running it again: runs
//! still marked pending get their contents again (points and log batches already there are
//! skipped, artifacts with the recorded checksum are kept).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use ets_domain::model::{Artifact, BulkMetrics, BulkSeries, Experiment, LoggedModel, Project, Run};

use super::Counts;
use super::format::{self, LogLine, Manifest};
use crate::actor::Actor;
use crate::error::Error;
use crate::service::Services;
use crate::service::archive::ImportState;
use crate::service::logs::{AppendLogs, LogLineInput};
use crate::store::{PointContext, Trashable};

/// Points sent to the store in one transaction.
const POINTS_PER_WRITE: usize = 50_000;

/// What an import did besides the archive's counts.
#[derive(Debug, Default)]
pub struct Report {
    pub counts: Counts,
    /// Runs an earlier import had finished (left as they are).
    pub runs_skipped: u64,
    /// Runs an earlier, interrupted import had begun (finished now).
    pub runs_resumed: u64,
    pub seconds: f64,
}

impl Report {
    pub fn print(&self, json: bool) {
        super::print_summary(
            &self.counts,
            &[
                ("runs_skipped", self.runs_skipped.into()),
                ("runs_resumed", self.runs_resumed.into()),
                ("seconds", self.seconds.into()),
            ],
            json,
        );
    }
}

pub async fn import(services: Arc<Services>, from: &Path) -> anyhow::Result<Report> {
    let started = Instant::now();
    let manifest: Manifest = format::read_json(&from.join(format::MANIFEST))
        .context("not an archive of `ets export` (no manifest.json)")?;
    anyhow::ensure!(
        manifest.format == format::FORMAT,
        "'{}' is a '{}' archive, not '{}'",
        from.display(),
        manifest.format,
        format::FORMAT
    );
    anyhow::ensure!(
        manifest.version <= format::VERSION,
        "the archive has format version {}; this ETS ({}) reads up to {}: upgrade ETS",
        manifest.version,
        env!("CARGO_PKG_VERSION"),
        format::VERSION
    );
    let project: Project = format::read_json(&from.join(format::PROJECT))?;
    anyhow::ensure!(
        project.id == manifest.project_id,
        "project.json holds project '{}', the manifest names '{}'",
        project.id,
        manifest.project_id
    );
    let mut report = Report::default();
    services
        .import_project(project.clone())
        .await
        .with_context(|| format!("project '{}'", project.name))?;

    let mut experiments = Vec::new();
    for experiment in format::read_lines::<Experiment>(&from.join(format::EXPERIMENTS))? {
        let experiment = experiment?;
        anyhow::ensure!(
            experiment.project_id == project.id,
            "experiment '{}' belongs to project '{}', not the archive's",
            experiment.id,
            experiment.project_id
        );
        services
            .import_experiment(experiment.clone())
            .await
            .with_context(|| format!("experiment '{}'", experiment.name))?;
        experiments.push(experiment);
    }
    report.counts.experiments = experiments.len() as u64;

    // Two passes over runs.jsonl (the runs, then their contents, with the logged models
    // between): only each run's import state is kept in between, not the runs.
    let mut states = Vec::new();
    for run in format::read_lines::<Run>(&from.join(format::RUNS))? {
        let run = run?;
        let state = services
            .import_run(&run)
            .await
            .with_context(|| format!("run '{}'", run.id))?;
        match state {
            ImportState::Done => report.runs_skipped += 1,
            ImportState::Unfinished => report.runs_resumed += 1,
            ImportState::Created => {}
        }
        states.push(state);
    }
    report.counts.runs = states.len() as u64;

    for model in format::read_lines::<LoggedModel>(&from.join(format::LOGGED_MODELS))? {
        let model = model?;
        services
            .import_logged_model(model.clone())
            .await
            .with_context(|| format!("logged model '{}'", model.id))?;
        report.counts.logged_models += 1;
    }

    let todo = states.iter().filter(|s| **s != ImportState::Done).count();
    eprintln!(
        "ets import: project '{}': {} experiment(s), {} run(s) to write ({} done before)",
        project.name,
        experiments.len(),
        todo,
        report.runs_skipped
    );
    let mut written = 0;
    let runs_file = from.join(format::RUNS);
    let mut runs = format::read_lines::<Run>(&runs_file)?;
    for state in &states {
        let run = runs
            .next()
            .context("runs.jsonl changed during the import (it has fewer runs now)")??;
        if *state == ImportState::Done {
            continue;
        }
        let dir = format::run_dir(from, &run.id);
        restore_contents(&services, &run, &dir, &mut report.counts)
            .await
            .with_context(|| format!("run '{}'", run.id))?;
        services.finish_imported_run(&run).await?;
        written += 1;
        if written % 100 == 0 {
            eprintln!("ets import: {written}/{todo} runs");
        }
    }
    for experiment in &experiments {
        services
            .import_times(
                Trashable::Experiments,
                &experiment.id,
                experiment.updated_at,
                experiment.deleted_at,
            )
            .await?;
    }
    services
        .import_times(
            Trashable::Projects,
            &project.id,
            project.updated_at,
            project.deleted_at,
        )
        .await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A run's links, points (with their contexts), log lines and artifacts.
async fn restore_contents(
    services: &Services,
    run: &Run,
    dir: &Path,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    services.import_run_links(run).await?;
    counts.metric_points += restore_points(services, run, dir).await?;
    counts.log_lines += restore_logs(services, run, dir).await?;
    let (files, bytes) = restore_artifacts(services, run, dir).await?;
    counts.artifacts += files;
    counts.artifact_bytes += bytes;
    Ok(())
}

async fn restore_points(services: &Services, run: &Run, dir: &Path) -> anyhow::Result<u64> {
    let mut count = 0u64;
    let mut batch: Vec<BulkSeries> = Vec::new();
    let mut in_batch = 0;
    for series in format::read_lines::<BulkSeries>(&dir.join(format::METRICS))? {
        let series = series?;
        // Without its own times a point would be stamped now: not the archive's data.
        anyhow::ensure!(
            series.timestamps.is_some(),
            "series '{}' has no timestamps",
            series.key
        );
        count += series.steps.len() as u64;
        in_batch += series.steps.len();
        batch.push(series);
        if in_batch >= POINTS_PER_WRITE {
            write_series(services, run, std::mem::take(&mut batch)).await?;
            in_batch = 0;
        }
    }
    if !batch.is_empty() {
        write_series(services, run, batch).await?;
    }
    let contexts = format::read_lines::<PointContext>(&dir.join(format::CONTEXTS))?
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !contexts.is_empty() {
        services.import_contexts(&run.id, contexts).await?;
    }
    Ok(count)
}

/// Columnar series through the bulk-metrics path (its checks, limits and duplicate rule).
async fn write_series(
    services: &Services,
    run: &Run,
    series: Vec<BulkSeries>,
) -> anyhow::Result<()> {
    services
        .log_bulk_metrics(&Actor::System, &run.id, BulkMetrics { series })
        .await?;
    Ok(())
}

/// The log, in batches whose ids come from their position: a resumed import sends the same
/// batches under the same ids, which the run already has.
async fn restore_logs(services: &Services, run: &Run, dir: &Path) -> anyhow::Result<u64> {
    let per_batch = services
        .config
        .limits
        .max_log_lines_per_request
        .clamp(1, 10_000) as usize;
    let mut count = 0u64;
    let mut lines = Vec::new();
    for line in format::read_lines::<LogLine>(&dir.join(format::LOGS))? {
        let line = line?;
        lines.push(LogLineInput {
            stream: line.stream,
            timestamp: line.timestamp,
            line: line.line,
        });
        if lines.len() == per_batch {
            count += append_logs(services, run, count, std::mem::take(&mut lines)).await?;
        }
    }
    if !lines.is_empty() {
        count += append_logs(services, run, count, lines).await?;
    }
    Ok(count)
}

async fn append_logs(
    services: &Services,
    run: &Run,
    first: u64,
    lines: Vec<LogLineInput>,
) -> anyhow::Result<u64> {
    let count = lines.len() as u64;
    services
        .append_logs(
            &Actor::System,
            &run.id,
            AppendLogs {
                lines,
                batch_id: Some(format!("ets-import:{first}")),
            },
        )
        .await?;
    Ok(count)
}

async fn restore_artifacts(
    services: &Services,
    run: &Run,
    dir: &Path,
) -> anyhow::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    for artifact in format::read_lines::<Artifact>(&dir.join(format::ARTIFACTS))? {
        let artifact = artifact?;
        files += 1;
        bytes += artifact.size as u64;
        match services.store.get_artifact(&run.id, &artifact.path).await {
            // Copied whole by an earlier import.
            Ok(stored) if stored.artifact == artifact => continue,
            Ok(_) | Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // Paths were checked on upload and are checked again on restore (relative, no `..`).
        crate::error::Error::check_artifact_path("path", &artifact.path)?;
        let path = dir.join(format::ARTIFACT_DIR).join(&artifact.path);
        let file = tokio::fs::File::open(&path)
            .await
            .with_context(|| format!("cannot read '{}'", path.display()))?;
        let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 16);
        let name = artifact.path.clone();
        services
            .restore_artifact(&Actor::System, &run.id, artifact, body)
            .await
            .with_context(|| format!("artifact '{name}'"))?;
    }
    Ok((files, bytes))
}
