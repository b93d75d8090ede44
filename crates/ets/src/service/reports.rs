//! Chart templates, the experiment report (export) and the healthcare crisis-detection
//! dashboard: figures drawn from saved charts or from templates over an experiment's runs.

use std::collections::BTreeMap;

use ets_charts::Figure;
use ets_charts::build::{Size, healthcare};
use ets_charts::html::ReportSection;
use ets_charts::spec::{ChartKind, ChartSpec};
use ets_domain::model::{Experiment, Run};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Services;
use super::charts::MEDICAL_DISCLAIMER;
use super::render::Report;
use super::search::SearchRequest;
use super::visualizations::{Chart, ChartBody, ChartDefinition, SavedChart};
use crate::actor::Actor;
use crate::error::{EntityKind, Error, Result};
use crate::store::{ViewKind, ViewQuery, ViewRecord};

/// A chart template: a chart type with options filled from the experiment it is applied to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChartTemplate {
    pub name: &'static str,
    pub title: &'static str,
    #[schema(value_type = String)]
    pub r#type: ChartKind,
    pub description: &'static str,
}

pub fn chart_templates() -> Vec<ChartTemplate> {
    vec![
        ChartTemplate {
            name: "training_progress",
            title: "Training progress",
            r#type: ChartKind::Line,
            description: "Metric curves of every run against step: the experiment's objective \
                          metrics, else its most logged keys (loss first), smoothed lightly.",
        },
        ChartTemplate {
            name: "hyperparameter_search",
            title: "Hyperparameter search",
            r#type: ChartKind::ParallelCoordinates,
            description: "Parallel coordinates of the search-space params (else the most used \
                          params) and the primary objective, one line per run.",
        },
        ChartTemplate {
            name: "model_comparison",
            title: "Model comparison",
            r#type: ChartKind::Bar,
            description: "The objective metrics' latest value per run, side by side.",
        },
        ChartTemplate {
            name: "confusion_matrix",
            title: "Confusion matrix",
            r#type: ChartKind::ConfusionMatrix,
            description: "The confusion matrix the runs logged (artifact confusion_matrix.json \
                          or metrics confusion_matrix/<actual>/<predicted>).",
        },
        ChartTemplate {
            name: "healthcare_crisis_detection",
            title: "Crisis detection rate",
            r#type: ChartKind::Line,
            description: "Crisis detection rate per run against the experiment's healthcare \
                          threshold (0.99 by default); runs below it are marked.",
        },
    ]
}

/// Body of `POST /api/v1/visualizations/charts/from-template/{name}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartFromTemplate {
    pub experiment_id: String,
    /// Defaults to the template's title.
    #[serde(default)]
    pub name: Option<String>,
    /// Replace the metrics the template would choose.
    #[serde(default)]
    pub metrics: Option<Vec<String>>,
    /// Replace the params the template would choose.
    #[serde(default)]
    pub params: Option<Vec<String>>,
    #[serde(default)]
    pub run_ids: Option<Vec<String>>,
    #[serde(default)]
    pub filter: Option<String>,
}

/// Most experiments one crisis-detection dashboard shows.
const MAX_HEALTHCARE_EXPERIMENTS: u32 = 100;

/// Most runs looked at to choose a template's metrics and params.
const TEMPLATE_SAMPLE_RUNS: usize = 200;

impl Services {
    pub async fn create_chart_from_template(
        &self,
        actor: &Actor,
        name: &str,
        request: ChartFromTemplate,
    ) -> Result<Chart> {
        let template = chart_templates()
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::not_found(EntityKind::ChartTemplate, name))?;
        let experiment = self.get_experiment(actor, &request.experiment_id).await?;
        let runs = self
            .experiment_runs(actor, &experiment.id, TEMPLATE_SAMPLE_RUNS)
            .await?;
        let mut spec = template_spec(template.name, &experiment, &runs)?;
        if let Some(metrics) = request.metrics {
            spec.metrics = metrics;
        }
        if let Some(params) = request.params {
            spec.params = params;
        }
        self.create_chart(
            actor,
            ChartDefinition {
                name: request.name.unwrap_or_else(|| template.title.to_owned()),
                description: Some(template.description.to_owned()),
                experiment_id: Some(experiment.id),
                run_ids: request.run_ids,
                filter: request.filter,
                snapshot: false,
                spec,
            },
        )
        .await
    }

    /// Up to `limit` runs of an experiment, oldest first.
    async fn experiment_runs(
        &self,
        actor: &Actor,
        experiment_id: &str,
        limit: usize,
    ) -> Result<Vec<Run>> {
        Ok(self
            .search_runs(
                actor,
                SearchRequest {
                    experiment_ids: vec![experiment_id.to_owned()],
                    order_by: vec!["attributes.start_time ASC".into()],
                    max_results: limit,
                    ..SearchRequest::default()
                },
            )
            .await?
            .items)
    }

    /// The experiment's report: a title section (the experiment, its configuration, its
    /// objectives) and the charts of its dashboard (else its saved charts, else the templates
    /// that apply).
    pub async fn experiment_report(
        &self,
        actor: &Actor,
        experiment_id: &str,
        size: Size,
    ) -> Result<Report> {
        let experiment = self.get_experiment(actor, experiment_id).await?;
        let charts = self.report_charts(actor, &experiment).await?;
        let mut figures = Vec::with_capacity(charts.len());
        for chart in &charts {
            match self.chart_figure(actor, chart, size).await {
                Ok(figure) => figures.push(figure),
                // A chart whose runs lack its data is left out, not the whole report.
                Err(Error::BadRequest(reason)) => {
                    tracing::debug!(chart = %chart.record.id, %reason, "chart left out of report")
                }
                Err(e) => return Err(e),
            }
        }
        let disclaimer = experiment
            .healthcare
            .as_ref()
            .is_some_and(|h| h.require_medical_disclaimer)
            .then(|| MEDICAL_DISCLAIMER.to_owned());
        let run_count = self.experiment_run_count(actor, experiment_id).await?;
        let approvals = self.approval_lines(experiment_id).await?;
        Ok(Report {
            title: format!("Experiment report: {}", experiment.name),
            sections: vec![
                ReportSection {
                    heading: "Experiment".into(),
                    paragraphs: describe(&experiment, run_count),
                    figures: Vec::new(),
                },
                ReportSection {
                    heading: "Charts".into(),
                    paragraphs: if figures.is_empty() {
                        vec![
                            "No chart could be drawn: the experiment's runs have no metrics yet."
                                .into(),
                        ]
                    } else {
                        Vec::new()
                    },
                    figures,
                },
                ReportSection {
                    heading: "Approvals".into(),
                    paragraphs: if approvals.is_empty() {
                        vec!["No run of this experiment is signed.".into()]
                    } else {
                        approvals
                    },
                    figures: Vec::new(),
                },
            ],
            disclaimer,
        })
    }

    /// The signatures and recorded medical disclaimers of the experiment's runs, as the
    /// report prints them.
    async fn approval_lines(&self, experiment_id: &str) -> Result<Vec<String>> {
        let runs = self.all_runs_of(experiment_id).await?;
        let signatures = self
            .store
            .signatures(runs.iter().map(|r| r.id.clone()).collect())
            .await?;
        let mut runs_with_artifacts = Vec::with_capacity(runs.len());
        for run in runs {
            // A signature's state needs the run's artifacts; unsigned runs need none.
            let artifacts = if signatures.iter().any(|s| s.run_id == run.id) {
                self.store.list_artifacts(&run.id, None).await?
            } else {
                Vec::new()
            };
            runs_with_artifacts.push((run, artifacts));
        }
        Ok(super::signatures::approval_lines(
            &runs_with_artifacts,
            &signatures,
        ))
    }

    /// Saved charts for the report, or unsaved ones from templates.
    async fn report_charts(
        &self,
        actor: &Actor,
        experiment: &Experiment,
    ) -> Result<Vec<SavedChart>> {
        let query = |kind| ViewQuery {
            kind,
            project_ids: None,
            experiment_id: Some(experiment.id.clone()),
            ids: None,
            after: None,
            limit: 100,
        };
        let dashboards = self.store.list_views(query(ViewKind::Dashboard)).await?;
        if let Some(dashboard) = dashboards.into_iter().find(|d| !d.chart_ids.is_empty()) {
            let mut charts = Vec::with_capacity(dashboard.chart_ids.len());
            for id in &dashboard.chart_ids {
                charts.push(self.saved_chart(actor, id).await?);
            }
            return Ok(charts);
        }
        let saved = self.store.list_views(query(ViewKind::Chart)).await?;
        if !saved.is_empty() {
            return saved.into_iter().map(SavedChart::parse).collect();
        }
        let runs = self
            .experiment_runs(actor, &experiment.id, TEMPLATE_SAMPLE_RUNS)
            .await?;
        let mut names = vec!["training_progress", "model_comparison"];
        if !experiment.search_space.is_empty() {
            names.push("hyperparameter_search");
        }
        if experiment.healthcare.is_some() {
            names.push("healthcare_crisis_detection");
        }
        Ok(names
            .into_iter()
            .filter_map(|name| {
                let spec = template_spec(name, experiment, &runs).ok()?;
                let title = chart_templates()
                    .into_iter()
                    .find(|t| t.name == name)?
                    .title;
                Some(unsaved_chart(experiment, title, spec))
            })
            .collect())
    }

    /// The crisis-detection dashboard of every healthcare experiment the caller can see in a
    /// project (or of one experiment).
    pub async fn crisis_detection_dashboard(
        &self,
        actor: &Actor,
        project_id: Option<&str>,
        experiment_id: Option<&str>,
        size: Size,
    ) -> Result<Vec<CrisisPanel>> {
        let experiments: Vec<Experiment> = match (experiment_id, project_id) {
            (Some(id), _) => {
                let experiment = self.get_experiment(actor, id).await?;
                if experiment.healthcare.is_none() {
                    return Err(Error::BadRequest(format!(
                        "experiment '{id}' has no healthcare configuration; create it with the \
                         'healthcare' template or set 'healthcare'"
                    )));
                }
                vec![experiment]
            }
            (None, project) => {
                if let Some(project) = project {
                    self.authorize_project(actor, project).await?;
                }
                let filter = crate::store::ExperimentFilter {
                    visible_projects: self.visible_projects(actor).await?,
                    project_id: project.map(str::to_owned),
                    ..Default::default()
                };
                let page = crate::store::PageRequest {
                    sort: crate::store::SortField::CreatedAt,
                    descending: false,
                    page_size: MAX_HEALTHCARE_EXPERIMENTS,
                    after: None,
                };
                let found: Vec<Experiment> = self
                    .store
                    .list_experiments(filter, page)
                    .await?
                    .items
                    .into_iter()
                    .filter(|e| e.healthcare.is_some())
                    .collect();
                found
            }
        };
        let mut panels = Vec::with_capacity(experiments.len());
        for experiment in experiments {
            let Some(config) = experiment.healthcare.clone() else {
                continue;
            };
            let mut figures = Vec::new();
            for (title, spec) in healthcare::specs(&config) {
                let chart = unsaved_chart(&experiment, &title, spec);
                figures.push(self.chart_figure(actor, &chart, size).await?);
            }
            let runs = self
                .experiment_runs(actor, &experiment.id, super::charts::MAX_CHART_RUNS)
                .await?;
            let rows = healthcare::run_rows(&config, &runs);
            panels.push(CrisisPanel {
                experiment_id: experiment.id.clone(),
                experiment_name: experiment.name.clone(),
                thresholds: config,
                breaching_runs: rows.iter().filter(|r| !r.breaches.is_empty()).count(),
                runs: rows,
                figures,
            });
        }
        Ok(panels)
    }
}

/// One experiment of the crisis-detection dashboard.
pub struct CrisisPanel {
    pub experiment_id: String,
    pub experiment_name: String,
    pub thresholds: ets_domain::model::HealthcareConfig,
    pub breaching_runs: usize,
    pub runs: Vec<healthcare::RunSafetyRow>,
    pub figures: Vec<Figure>,
}

/// A chart drawn once and not saved (templates in reports and the healthcare dashboard).
fn unsaved_chart(experiment: &Experiment, title: &str, spec: ChartSpec) -> SavedChart {
    SavedChart {
        record: ViewRecord {
            id: String::new(),
            kind: ViewKind::Chart,
            project_id: experiment.project_id.clone(),
            experiment_id: Some(experiment.id.clone()),
            name: title.to_owned(),
            description: None,
            body: serde_json::Value::Null,
            chart_ids: Vec::new(),
            created_by: None,
            created_at: 0,
            updated_at: 0,
        },
        body: ChartBody {
            spec,
            run_ids: None,
            filter: None,
            experiment_ids: vec![experiment.id.clone()],
            snapshot: None,
        },
    }
}

/// The spec a template gives over an experiment and a sample of its runs.
fn template_spec(name: &str, experiment: &Experiment, runs: &[Run]) -> Result<ChartSpec> {
    let objective_metrics: Vec<String> = experiment
        .objectives
        .iter()
        .map(|o| o.metric.clone())
        .collect();
    let common_metrics = most_common(
        runs.iter()
            .flat_map(|r| r.metrics.iter().map(|m| m.key.as_str())),
    );
    let pick_metrics = |n: usize| -> Vec<String> {
        let mut metrics: Vec<String> = objective_metrics
            .iter()
            .filter(|m| common_metrics.contains(m))
            .cloned()
            .collect();
        if metrics.is_empty() {
            metrics = common_metrics.clone();
            // Loss first: what people open a training chart for.
            metrics.sort_by_key(|m| !m.contains("loss"));
        }
        metrics.truncate(n);
        metrics
    };
    let mut spec = match name {
        "training_progress" => ChartSpec {
            metrics: pick_metrics(3),
            smoothing: 0.6,
            ..ChartSpec::new(ChartKind::Line)
        },
        "model_comparison" => ChartSpec {
            metrics: pick_metrics(4),
            ..ChartSpec::new(ChartKind::Bar)
        },
        "hyperparameter_search" => {
            let mut params: Vec<String> = experiment.search_space.keys().cloned().collect();
            if params.is_empty() {
                params = most_common(
                    runs.iter()
                        .flat_map(|r| r.params.keys().map(String::as_str)),
                );
            }
            params.truncate(8);
            ChartSpec {
                params,
                metrics: pick_metrics(1),
                ..ChartSpec::new(ChartKind::ParallelCoordinates)
            }
        }
        "confusion_matrix" => ChartSpec::new(ChartKind::ConfusionMatrix),
        "healthcare_crisis_detection" => {
            let config = experiment.healthcare.clone().unwrap_or_default();
            healthcare::specs(&config)
                .into_iter()
                .next()
                .map(|(_, spec)| spec)
                .ok_or_else(|| Error::internal("healthcare specs are empty"))?
        }
        other => return Err(Error::not_found(EntityKind::ChartTemplate, other)),
    };
    if spec.kind != ChartKind::ConfusionMatrix
        && spec.metrics.is_empty()
        && spec.kind != ChartKind::Line
        || spec.kind == ChartKind::Line && spec.metrics.is_empty()
    {
        spec.metrics = pick_metrics(1);
    }
    spec.validate().map_err(|reason| {
        Error::BadRequest(format!(
            "template '{name}' does not fit experiment '{}' yet: {reason}; log metrics first or pass 'metrics'/'params'",
            experiment.name
        ))
    })?;
    Ok(spec)
}

/// Names by how many runs use them, most used first (ties by name).
fn most_common<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for name in names {
        *counts.entry(name).or_default() += 1;
    }
    let mut names: Vec<(&str, usize)> = counts.into_iter().collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    names.into_iter().map(|(n, _)| n.to_owned()).collect()
}

/// The title section's lines.
fn describe(experiment: &Experiment, run_count: i64) -> Vec<String> {
    let mut lines = vec![
        format!("Name: {}", experiment.name),
        format!(
            "Id: {}  ·  Project: {}",
            experiment.id, experiment.project_id
        ),
        format!(
            "Status: {}  ·  Runs: {run_count}",
            experiment.status.as_str()
        ),
    ];
    if let Some(description) = &experiment.description {
        lines.push(format!("Description: {description}"));
    }
    for objective in &experiment.objectives {
        lines.push(format!(
            "Objective: {} {:?}{}{}",
            objective.metric,
            objective.direction,
            objective
                .target
                .map(|t| format!(", target {t}"))
                .unwrap_or_default(),
            if objective.required {
                " (required)"
            } else {
                ""
            }
        ));
    }
    if !experiment.search_space.is_empty() {
        let params: Vec<&str> = experiment.search_space.keys().map(String::as_str).collect();
        lines.push(format!("Search space: {}", params.join(", ")));
    }
    if let Some(h) = &experiment.healthcare {
        lines.push(format!(
            "Healthcare thresholds: crisis detection ≥ {}, false negatives ≤ {}, response quality ≥ {}",
            h.min_crisis_detection_rate, h.max_false_negative_rate, h.min_response_quality
        ));
    }
    lines
}
