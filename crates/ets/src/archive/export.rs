//! `ets export --project P --to DIR`: reads a project through the service layer (as ETS
//! itself) and writes the archive. Everything is listed in a fixed order, so exporting the same
//! data twice writes the same files (the manifest's time aside).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use ets_domain::model::{BulkSeries, Experiment, MetricPoint, Project, Run};
use futures_util::StreamExt;

use super::Counts;
use super::format::{self, LinesWriter, LogLine, Manifest};
use crate::actor::Actor;
use crate::error::Error;
use crate::service::Services;
use crate::service::logs::LogQuery;
use crate::store::{
    Cursor, ExperimentFilter, Lifecycle, Page, PageRequest, ProjectFilter, RunFilter, SortField,
};

const PAGE: u32 = 1000;

/// Writes the archive of `project` (id or name) to `to`.
pub async fn export(services: Arc<Services>, project: &str, to: &Path) -> anyhow::Result<Counts> {
    let started = Instant::now();
    let project = find_project(&services, project).await?;
    prepare_dir(to)?;
    let mut counts = Counts::default();
    format::write_json(&to.join(format::PROJECT), &project)?;

    let mut experiments = all_pages(|after| {
        services.store.list_experiments(
            ExperimentFilter {
                project_id: Some(project.id.clone()),
                lifecycle: Lifecycle::All,
                ..Default::default()
            },
            page(after),
        )
    })
    .await?;
    experiments.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let mut out = LinesWriter::create(to.join(format::EXPERIMENTS))?;
    for experiment in &experiments {
        out.write(experiment)?;
    }
    out.finish()?;
    counts.experiments = experiments.len() as u64;

    let runs = project_runs(&services, &experiments).await?;
    let mut out = LinesWriter::create(to.join(format::RUNS))?;
    for run in &runs {
        out.write(run)?;
    }
    out.finish()?;
    counts.runs = runs.len() as u64;

    let experiment_ids: Vec<String> = experiments.iter().map(|e| e.id.clone()).collect();
    let mut models = Vec::new();
    loop {
        // The store answers up to one more than asked, to tell whether more follow.
        let mut batch = services
            .store
            .search_logged_models(&experiment_ids, models.len(), PAGE as usize)
            .await?;
        let more = batch.len() > PAGE as usize;
        batch.truncate(PAGE as usize);
        models.extend(batch);
        if !more {
            break;
        }
    }
    models.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let mut out = LinesWriter::create(to.join(format::LOGGED_MODELS))?;
    for model in &models {
        out.write(model)?;
    }
    out.finish()?;
    counts.logged_models = models.len() as u64;

    for (index, run) in runs.iter().enumerate() {
        let dir = format::run_dir(to, &run.id);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create '{}'", dir.display()))?;
        counts.metric_points += export_metrics(&services, run, &dir).await?;
        counts.log_lines += export_logs(&services, run, &dir).await?;
        let (files, bytes) = export_artifacts(&services, run, &dir).await?;
        counts.artifacts += files;
        counts.artifact_bytes += bytes;
        if (index + 1) % 100 == 0 {
            eprintln!("ets export: {}/{} runs", index + 1, runs.len());
        }
    }

    format::write_json(
        &to.join(format::MANIFEST),
        &Manifest {
            format: format::FORMAT.to_owned(),
            version: format::VERSION,
            ets_version: env!("CARGO_PKG_VERSION").to_owned(),
            exported_at: ets_domain::Timestamp::now(),
            project_id: project.id.clone(),
            project_name: project.name.clone(),
            counts: counts.clone(),
        },
    )?;
    eprintln!(
        "ets export: project '{}' written to {} in {:.1} s",
        project.name,
        to.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(counts)
}

async fn find_project(services: &Services, project: &str) -> anyhow::Result<Project> {
    match services.store.get_project(project).await {
        Ok(found) => return Ok(found),
        Err(Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let named = services
        .store
        .list_projects(
            ProjectFilter {
                lifecycle: Lifecycle::All,
                name: Some(project.to_owned()),
                ..Default::default()
            },
            page(None),
        )
        .await?;
    named
        .items
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no project with id or name '{project}'"))
}

/// A new or empty folder: an archive is never written over another one.
fn prepare_dir(to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        let mut entries =
            std::fs::read_dir(to).with_context(|| format!("cannot read '{}'", to.display()))?;
        anyhow::ensure!(
            entries.next().is_none(),
            "'{}' is not empty; export into a new folder",
            to.display()
        );
    }
    std::fs::create_dir_all(to.join("runs"))
        .with_context(|| format!("cannot create '{}'", to.display()))
}

fn page(after: Option<Cursor>) -> PageRequest {
    PageRequest {
        sort: SortField::CreatedAt,
        descending: false,
        page_size: PAGE,
        after,
    }
}

/// Every item of a cursor-paged list.
async fn all_pages<T, F, Fut>(mut list: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: Future<Output = crate::error::Result<Page<T>>>,
{
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = list(after).await?;
        items.extend(page.items);
        match page.next_page_token {
            Some(token) => {
                after = Some(
                    Cursor::decode(&token, SortField::CreatedAt, false)
                        .context("the store issued a page token it cannot read")?,
                );
            }
            None => return Ok(items),
        }
    }
}

/// The runs of the experiments, trashed ones too, in creation order with every parent before
/// its children (an import creates them in this order).
async fn project_runs(services: &Services, experiments: &[Experiment]) -> anyhow::Result<Vec<Run>> {
    let mut runs = Vec::new();
    for experiment in experiments {
        runs.extend(
            all_pages(|after| {
                services.store.list_runs(
                    RunFilter {
                        experiment_id: Some(experiment.id.clone()),
                        lifecycle: Lifecycle::All,
                        ..Default::default()
                    },
                    page(after),
                )
            })
            .await?,
        );
    }
    runs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(parents_first(runs))
}

/// Keeps the order, except that a run whose parent comes later moves after it.
fn parents_first(runs: Vec<Run>) -> Vec<Run> {
    let present: HashSet<String> = runs.iter().map(|r| r.id.clone()).collect();
    let mut children: HashMap<String, Vec<Run>> = HashMap::new();
    let mut roots = Vec::new();
    for run in runs {
        match run.parent_run_id.clone().filter(|p| present.contains(p)) {
            Some(parent) => children.entry(parent).or_default().push(run),
            None => roots.push(run),
        }
    }
    // Depth-first from the roots would reorder siblings; instead emit in order, appending
    // each run's children once the run itself is out.
    let mut ordered = Vec::with_capacity(present.len());
    let mut queue = std::collections::VecDeque::from(roots);
    while let Some(run) = queue.pop_front() {
        if let Some(kids) = children.remove(&run.id) {
            queue.extend(kids);
        }
        ordered.push(run);
    }
    // Runs in a parent cycle (not creatable through the API) are kept, last.
    ordered.extend(children.into_values().flatten());
    ordered
}

/// `metrics.jsonl` (series by key, points in series order, columnar) and `contexts.jsonl`.
async fn export_metrics(services: &Services, run: &Run, dir: &Path) -> anyhow::Result<u64> {
    let mut keys: Vec<String> = services
        .store
        .metric_summaries(&run.id)
        .await?
        .into_iter()
        .map(|s| s.key)
        .collect();
    if keys.is_empty() {
        return Ok(0);
    }
    keys.sort();
    let series: Vec<(String, String)> = keys.iter().map(|k| (run.id.clone(), k.clone())).collect();
    let (send, mut receive) = tokio::sync::mpsc::channel(4);
    let store = services.store.clone();
    let reading = tokio::spawn(async move { store.stream_series(series, send).await });
    let mut out = LinesWriter::create(dir.join(format::METRICS))?;
    let mut count = 0u64;
    // Series arrive whole, one after the other (possibly in several batches each).
    let mut current: Option<(usize, Vec<MetricPoint>)> = None;
    while let Some((index, batch)) = receive.recv().await {
        match &mut current {
            Some((at, points)) if *at == index => points.extend(batch),
            _ => {
                if let Some((at, points)) = current.replace((index, batch)) {
                    count += write_series(&mut out, &keys[at], &points)?;
                }
            }
        }
    }
    if let Some((at, points)) = current {
        count += write_series(&mut out, &keys[at], &points)?;
    }
    reading.await.context("reading series")??;
    out.finish()?;

    let mut contexts = LinesWriter::create(dir.join(format::CONTEXTS))?;
    let mut any = false;
    for key in &keys {
        for context in services
            .store
            .metric_contexts(vec![run.id.clone()], key.clone())
            .await?
        {
            contexts.write(&context)?;
            any = true;
        }
    }
    contexts.finish()?;
    if !any {
        std::fs::remove_file(dir.join(format::CONTEXTS))?;
    }
    Ok(count)
}

fn write_series(out: &mut LinesWriter, key: &str, points: &[MetricPoint]) -> anyhow::Result<u64> {
    for chunk in points.chunks(format::POINTS_PER_LINE) {
        out.write(&BulkSeries {
            key: key.to_owned(),
            steps: chunk.iter().map(|p| p.step).collect(),
            values: chunk
                .iter()
                .map(|p| ets_domain::value::MetricValue(p.value))
                .collect(),
            timestamps: Some(chunk.iter().map(|p| p.timestamp).collect()),
            timestamp: None,
        })?;
    }
    Ok(points.len() as u64)
}

/// `logs.jsonl`, in line order.
async fn export_logs(services: &Services, run: &Run, dir: &Path) -> anyhow::Result<u64> {
    let mut out: Option<LinesWriter> = None;
    let mut count = 0u64;
    let mut token = None;
    loop {
        let page = services
            .run_logs(
                &Actor::System,
                &run.id,
                LogQuery {
                    limit: Some(services.config.limits.max_page_size),
                    page_token: token.take(),
                    ..Default::default()
                },
            )
            .await?;
        for item in page.items {
            let writer = match &mut out {
                Some(writer) => writer,
                None => out.insert(LinesWriter::create(dir.join(format::LOGS))?),
            };
            writer.write(&LogLine {
                stream: item.stream,
                timestamp: item.timestamp,
                line: item.line,
            })?;
            count += 1;
        }
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    if let Some(out) = out {
        out.finish()?;
    }
    Ok(count)
}

/// `artifacts.jsonl` (the records, by path) and the files below `artifacts/`.
async fn export_artifacts(
    services: &Services,
    run: &Run,
    dir: &Path,
) -> anyhow::Result<(u64, u64)> {
    let mut artifacts = services.store.list_artifacts(&run.id, None).await?;
    if artifacts.is_empty() {
        return Ok((0, 0));
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    let mut records = LinesWriter::create(dir.join(format::ARTIFACTS))?;
    let mut bytes = 0u64;
    for artifact in &artifacts {
        // Paths were checked on upload (relative, no `..`): they stay below the folder.
        let path = dir.join(format::ARTIFACT_DIR).join(&artifact.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create '{}'", parent.display()))?;
        }
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&path)
                .with_context(|| format!("cannot create '{}'", path.display()))?,
        );
        let mut stream = services
            .open_artifact(&Actor::System, &run.id, &artifact.path)
            .await?
            .open(None)
            .await?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| {
                format!("reading artifact '{}' of run '{}'", artifact.path, run.id)
            })?;
            file.write_all(&chunk)
                .with_context(|| format!("cannot write '{}'", path.display()))?;
            bytes += chunk.len() as u64;
        }
        file.flush()
            .with_context(|| format!("cannot write '{}'", path.display()))?;
        records.write(artifact)?;
    }
    records.finish()?;
    Ok((artifacts.len() as u64, bytes))
}
