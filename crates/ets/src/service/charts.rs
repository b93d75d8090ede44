//! Drawing charts: the runs' current data read into a figure. Line charts stream their series
//! one at a time through the builder, which reduces each with M4 to the plot's pixel columns,
//! so a chart of 100 runs × 100,000 points never holds more than one series whole.

use std::collections::HashMap;

use ets_charts::Figure;
use ets_charts::build::{self, ChartInput, Size, confusion, line};
use ets_charts::figure::{DEFAULT_HEIGHT, DEFAULT_WIDTH};
use ets_charts::m4::Reduction;
use ets_charts::spec::{Aggregate, ChartKind, ChartSpec, XAxis};
use ets_domain::model::{Experiment, MetricPoint, Run};

use super::Services;
use super::search::SearchRequest;
use super::visualizations::SavedChart;
use crate::actor::Actor;
use crate::error::{Error, Result};

/// Most runs one chart draws; more need a filter.
pub const MAX_CHART_RUNS: usize = 1000;
/// Largest confusion-matrix artifact read.
const MAX_CONFUSION_BYTES: usize = 4 << 20;
/// Confusion matrices of at most this many runs are summed into one chart.
const MAX_CONFUSION_RUNS: usize = 100;

/// Printed under every chart of an experiment that requires the medical disclaimer.
pub const MEDICAL_DISCLAIMER: &str = "Medical disclaimer: research results, not medical advice; \
     not validated for clinical decisions.";

pub fn default_size() -> Size {
    Size {
        width: DEFAULT_WIDTH,
        height: DEFAULT_HEIGHT,
        scale: 1.0,
        reduction: Reduction::M4,
    }
}

/// The data a figure is drawn from.
struct ChartData {
    runs: Vec<Run>,
    experiments: HashMap<String, Experiment>,
    notes: Vec<String>,
}

impl Services {
    /// The chart's figure at `size`: its snapshot, or its runs' current data.
    pub(crate) async fn chart_figure(
        &self,
        actor: &Actor,
        chart: &SavedChart,
        size: Size,
    ) -> Result<Figure> {
        if let Some(snapshot) = &chart.body.snapshot {
            let mut figure = snapshot.figure.clone();
            figure.width = size.width;
            figure.height = size.height;
            return Ok(figure);
        }
        let data = self.chart_data(actor, chart).await?;
        self.draw(&chart.record.name, &chart.body.spec, &data, size)
            .await
    }

    /// The runs a chart shows, with their experiments and the notes every figure prints.
    async fn chart_data(&self, actor: &Actor, chart: &SavedChart) -> Result<ChartData> {
        let mut filter = chart.body.filter.clone();
        if let Some(ids) = &chart.body.run_ids {
            let quoted: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
            let by_id = format!("attributes.run_id IN ({})", quoted.join(", "));
            filter = Some(match filter {
                Some(f) => format!("({f}) AND {by_id}"),
                None => by_id,
            });
        }
        let page = self
            .search_runs(
                actor,
                SearchRequest {
                    experiment_ids: chart.body.experiment_ids.clone(),
                    filter,
                    order_by: vec!["attributes.start_time ASC".into()],
                    max_results: MAX_CHART_RUNS,
                    ..SearchRequest::default()
                },
            )
            .await?;
        let mut notes = Vec::new();
        if page.next_page_token.is_some() {
            notes.push(format!(
                "Only the first {MAX_CHART_RUNS} runs are drawn; narrow the chart with a filter."
            ));
        }
        let mut experiments = HashMap::new();
        for id in &chart.body.experiment_ids {
            let experiment = self.store.get_experiment(id).await?;
            experiments.insert(id.clone(), experiment);
        }
        for run in &page.items {
            if !experiments.contains_key(&run.experiment_id) {
                let experiment = self.store.get_experiment(&run.experiment_id).await?;
                experiments.insert(run.experiment_id.clone(), experiment);
            }
        }
        if experiments.values().any(requires_disclaimer) {
            notes.push(MEDICAL_DISCLAIMER.to_owned());
        }
        Ok(ChartData {
            runs: page.items,
            experiments,
            notes,
        })
    }

    /// Draws `spec` over `data`.
    async fn draw(
        &self,
        title: &str,
        spec: &ChartSpec,
        data: &ChartData,
        size: Size,
    ) -> Result<Figure> {
        let means = if spec.aggregate == Aggregate::Mean && spec.kind != ChartKind::Line {
            self.series_means(spec, &data.runs).await?
        } else {
            HashMap::new()
        };
        let input = ChartInput {
            title,
            spec,
            runs: &data.runs,
            experiments: &data.experiments,
            means: &means,
            size,
            notes: &data.notes,
        };
        match spec.kind {
            ChartKind::Line => self.line_figure(&input).await,
            ChartKind::ConfusionMatrix => self.confusion_figure(&input).await,
            _ => build::summary_chart(&input).map_err(Error::BadRequest),
        }
    }

    /// Reads the series in order and folds each into `state` as it arrives, on the blocking
    /// pool (reducing 100,000 points is CPU work that must not hold a request thread).
    async fn fold_series<S, F>(
        &self,
        series: Vec<(String, String)>,
        state: S,
        mut visit: F,
    ) -> Result<S>
    where
        S: Send + 'static,
        F: FnMut(&mut S, usize, Vec<MetricPoint>) + Send + 'static,
    {
        // Two in flight: the store reads the next series while this one is reduced.
        let (sender, mut receiver) = tokio::sync::mpsc::channel(2);
        let store = self.store.clone();
        let reader = tokio::spawn(async move { store.stream_series(series, sender).await });
        let folder = tokio::task::spawn_blocking(move || {
            let mut state = state;
            while let Some((index, points)) = receiver.blocking_recv() {
                visit(&mut state, index, points);
            }
            state
        });
        let state = folder
            .await
            .map_err(|e| Error::internal(format!("series reduction failed: {e}")))?;
        reader
            .await
            .map_err(|e| Error::internal(format!("series reader failed: {e}")))??;
        Ok(state)
    }

    async fn line_figure(&self, input: &ChartInput<'_>) -> Result<Figure> {
        let spec = input.spec;
        let reads = line::series_reads(spec, input.runs);
        let pairs: Vec<(String, String)> = reads
            .iter()
            .map(|r| (input.runs[r.run].id.clone(), r.key.clone()))
            .collect();
        let extent = match spec.x_axis {
            XAxis::Metric => line::x_extent_from_summaries(spec, input.runs),
            XAxis::Step if !spec.log_x => {
                let bounds = self.store.series_step_bounds(pairs.clone()).await?;
                bounds.into_iter().flatten().fold(None, |acc, (lo, hi)| {
                    let (lo, hi) = (lo as f64, hi as f64);
                    Some(acc.map_or((lo, hi), |(a, b): (f64, f64)| (a.min(lo), b.max(hi))))
                })
            }
            // Time axes (and log steps, which must skip x <= 0) need a first pass over the points.
            XAxis::Step | XAxis::Time | XAxis::RelativeTime => {
                let runs: Vec<Run> = reads.iter().map(|r| input.runs[r.run].clone()).collect();
                let spec = spec.clone();
                self.fold_series(pairs.clone(), None, move |extent, index, points| {
                    line::extend_x_extent(extent, &spec, &runs[index], &points);
                })
                .await?
            }
        };
        let plan = line::LinePlan::new(input, extent);
        let plan = self
            .fold_series(pairs, plan, |plan, index, points| plan.push(index, &points))
            .await?;
        Ok(plan.finish())
    }

    /// `(run id, key)` → mean of every finite point, for the chart's metrics.
    async fn series_means(
        &self,
        spec: &ChartSpec,
        runs: &[Run],
    ) -> Result<HashMap<(String, String), f64>> {
        let pairs: Vec<(String, String)> = runs
            .iter()
            .flat_map(|run| {
                spec.metrics
                    .iter()
                    .filter(|key| run.metrics.iter().any(|m| &m.key == *key))
                    .map(|key| (run.id.clone(), key.clone()))
            })
            .collect();
        let keys = pairs.clone();
        let means = HashMap::with_capacity(pairs.len());
        self.fold_series(pairs, means, move |means, index, points| {
            let (sum, n) = points
                .iter()
                .filter(|p| p.value.is_finite())
                .fold((0.0, 0u64), |(s, n), p| (s + p.value, n + 1));
            if n > 0 {
                means.insert(keys[index].clone(), sum / n as f64);
            }
        })
        .await
    }

    /// Sums the confusion matrices the runs logged (artifact first, then the metric convention).
    async fn confusion_figure(&self, input: &ChartInput<'_>) -> Result<Figure> {
        let path = input
            .spec
            .artifact
            .as_deref()
            .unwrap_or(ets_charts::spec::CONFUSION_ARTIFACT);
        let mut matrices = Vec::new();
        for (index, run) in input.runs.iter().enumerate().take(MAX_CONFUSION_RUNS) {
            match self.store.get_artifact(&run.id, path).await {
                Ok(stored) => {
                    let bytes = self.read_small_artifact(&run.id, &stored).await?;
                    let matrix = confusion::parse_artifact(&bytes)
                        .map_err(|e| Error::BadRequest(format!("run '{}': {path}: {e}", run.id)))?;
                    matrices.push((index, matrix));
                }
                Err(Error::NotFound { .. }) => {
                    if let Some(matrix) = confusion::from_metrics(run) {
                        matrices.push((index, matrix));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if matrices.is_empty() {
            return Err(Error::BadRequest(format!(
                "no run of this chart logged a confusion matrix: log a JSON artifact '{path}' \
                 ({{\"labels\": [...], \"matrix\": [[...]]}}) or metrics named \
                 'confusion_matrix/<actual>/<predicted>'"
            )));
        }
        confusion::build(input, &matrices).map_err(Error::BadRequest)
    }

    async fn read_small_artifact(
        &self,
        run_id: &str,
        stored: &crate::store::StoredArtifact,
    ) -> Result<Vec<u8>> {
        if stored.artifact.size > MAX_CONFUSION_BYTES as i64 {
            return Err(Error::BadRequest(format!(
                "run '{run_id}': '{}' is {} bytes; a confusion matrix artifact may have at most {MAX_CONFUSION_BYTES}",
                stored.artifact.path, stored.artifact.size
            )));
        }
        let key = super::artifacts::object_key(run_id, stored);
        let bytes = self.artifacts.get_bytes(&key).await?.ok_or_else(|| {
            Error::Conflict(format!(
                "run '{run_id}': artifact '{}' was removed while it was read; try again",
                stored.artifact.path
            ))
        })?;
        Ok(bytes.to_vec())
    }
}

fn requires_disclaimer(experiment: &Experiment) -> bool {
    experiment
        .healthcare
        .as_ref()
        .is_some_and(|h| h.require_medical_disclaimer)
}
