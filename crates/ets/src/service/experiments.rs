//! Experiment use cases: lifecycle, objectives, aggregates and comparison.

use std::collections::{BTreeMap, BTreeSet};

use ets_domain::model::{
    CompareRequest, ComparedExperiment, Comparison, Direction, Experiment, ExperimentMetricStats,
    ExperimentPatch, ExperimentTemplate, HealthcareConfig, MetricAggregate, MetricComparison,
    NewExperiment, Objective, ParamSpec, SearchSpace,
};
use ets_domain::stats::summarize;
use ets_domain::status::ExperimentStatus;
use ets_domain::{Timestamp, templates, validate};

use super::{
    ListParams, Services, apply_tag_patch, rates, significance, validate_description, validate_tags,
};
use crate::actor::Actor;
use crate::audit::Event;
use crate::error::{EntityKind, Error, Result};
use crate::store::{ExperimentFilter, LatestMetric, Page};

/// Query of `GET /api/v1/experiments`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExperimentQuery {
    pub project_id: Option<String>,
    /// `draft`, `running`, `stopped` or `completed`.
    pub status: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// `key` (has the tag) or `key:value`.
    pub tag: Option<String>,
    /// A search filter, e.g. `name LIKE 'resnet%' OR tags.team = 'vision'`.
    pub filter: Option<String>,
    /// `active` (default), `deleted` (in the trash) or `all`.
    pub lifecycle: Option<String>,
}

/// Body of `POST /api/v1/experiments/{id}/stop`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StopExperiment {
    /// `stopped` (default; may be resumed with start) or `completed` (final).
    pub status: Option<ExperimentStatus>,
}

pub(crate) fn validate_objectives(field: &str, objectives: &[Objective]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (i, objective) in objectives.iter().enumerate() {
        validate::key(&format!("{field}[{i}].metric"), &objective.metric)?;
        if !seen.insert(&objective.metric) {
            return Err(Error::invalid(
                format!("{field}[{i}].metric"),
                format!("metric '{}' has two objectives", objective.metric),
            ));
        }
        if objective.target.is_some_and(|t| !t.is_finite()) {
            return Err(Error::invalid(
                format!("{field}[{i}].target"),
                "target must be a finite number",
            ));
        }
    }
    Ok(())
}

pub(crate) fn validate_healthcare(field: &str, config: &HealthcareConfig) -> Result<()> {
    for (name, rate) in [
        (
            "min_crisis_detection_rate",
            config.min_crisis_detection_rate,
        ),
        ("max_false_negative_rate", config.max_false_negative_rate),
        ("min_response_quality", config.min_response_quality),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(Error::invalid(
                format!("{field}.{name}"),
                format!("must be between 0 and 1, got {rate}"),
            ));
        }
    }
    Ok(())
}

pub(super) fn validate_search_space(space: &SearchSpace) -> Result<()> {
    for (name, spec) in space {
        let field = format!("search_space.{name}");
        validate::key(&field, name)?;
        let problem = match spec {
            ParamSpec::Float { low, high, log } => {
                if !(low.is_finite() && high.is_finite()) || low >= high {
                    Some("needs finite low < high".to_owned())
                } else if *log && *low <= 0.0 {
                    Some("a log scale needs low > 0".to_owned())
                } else {
                    None
                }
            }
            ParamSpec::Int {
                low,
                high,
                step,
                log,
            } => {
                if low >= high {
                    Some("needs low < high".to_owned())
                } else if step.is_some_and(|s| s <= 0) {
                    Some("step must be positive".to_owned())
                } else if *log && *low <= 0 {
                    Some("a log scale needs low > 0".to_owned())
                } else {
                    None
                }
            }
            ParamSpec::Categorical { choices } if choices.is_empty() => {
                Some("needs at least one choice".to_owned())
            }
            ParamSpec::Categorical { .. } => None,
        };
        if let Some(problem) = problem {
            return Err(Error::invalid(field, problem));
        }
    }
    Ok(())
}

pub(super) fn validate_links(links: &ets_domain::model::MlopsLinks) -> Result<()> {
    for (name, value) in [
        ("links.model_registry_id", &links.model_registry_id),
        ("links.pipeline_run_id", &links.pipeline_run_id),
        (
            "links.feature_store_snapshot",
            &links.feature_store_snapshot,
        ),
    ] {
        if let Some(value) = value {
            validate::name(name, value)?;
        }
    }
    Ok(())
}

/// Moves an experiment to `next`, stamping start and end times; refuses invalid transitions.
fn transition(experiment: &mut Experiment, next: ExperimentStatus) -> Result<()> {
    if !experiment.status.can_become(next) {
        return Err(Error::Conflict(format!(
            "experiment '{}' is {} and cannot become {next}; allowed: draft → running → stopped | completed, \
             stopped → running | completed",
            experiment.id, experiment.status
        )));
    }
    let now = Timestamp::now();
    match next {
        ExperimentStatus::Running => {
            experiment.started_at.get_or_insert(now);
            experiment.ended_at = None;
        }
        ExperimentStatus::Stopped | ExperimentStatus::Completed => experiment.ended_at = Some(now),
        ExperimentStatus::Draft => {}
    }
    experiment.status = next;
    Ok(())
}

/// The best of `(run id, value)` for a direction, ignoring NaN.
fn best<'a>(
    values: impl Iterator<Item = (&'a str, f64)>,
    direction: Direction,
) -> Option<(&'a str, f64)> {
    values
        .filter(|(_, v)| !v.is_nan())
        .fold(None, |best, (run, v)| match best {
            Some((_, b))
                if (direction == Direction::Maximize && v <= b)
                    || (direction == Direction::Minimize && v >= b) =>
            {
                best
            }
            _ => Some((run, v)),
        })
}

fn meets(value: f64, target: f64, direction: Direction) -> bool {
    match direction {
        Direction::Maximize => value >= target,
        Direction::Minimize => value <= target,
    }
}

/// Id of the `default` project, created with the schema (it holds MLflow's Default
/// experiment, id `0`).
pub const DEFAULT_PROJECT_ID: &str = "00000000000000000000000000000000";

impl Services {
    /// Creates an experiment in the project with this name (created if missing), or in the
    /// `default` project (`input.project_id` is ignored). This is how MLflow clients, which know no projects, create experiments.
    pub async fn create_experiment_in_named_project(
        &self,
        actor: &Actor,
        input: NewExperiment,
        project_name: Option<&str>,
    ) -> Result<Experiment> {
        let project_id = match project_name {
            None => DEFAULT_PROJECT_ID.to_owned(),
            Some(project_name) => {
                let id = self.project_id_by_name(actor, project_name).await?;
                // A project the caller has no role on is named as the caller named it: its
                // id must not leak.
                self.authorize_project(actor, &id)
                    .await
                    .map_err(|e| match e {
                        Error::NotFound { .. } => {
                            Error::not_found(EntityKind::Project, project_name)
                        }
                        other => other,
                    })?;
                id
            }
        };
        let input = NewExperiment {
            project_id,
            ..input
        };
        self.create_experiment(actor, input).await
    }

    pub(crate) async fn project_id_by_name(&self, actor: &Actor, name: &str) -> Result<String> {
        let find = || async {
            let filter = crate::store::ProjectFilter {
                name: Some(name.to_owned()),
                ..Default::default()
            };
            let page = self.page_request(&ListParams {
                page_size: Some(1),
                ..Default::default()
            })?;
            Ok::<_, Error>(
                self.store
                    .list_projects(filter, page)
                    .await?
                    .items
                    .into_iter()
                    .next(),
            )
        };
        if let Some(project) = find().await? {
            return Ok(project.id);
        }
        let created = self
            .create_project(
                actor,
                ets_domain::model::NewProject {
                    name: name.to_owned(),
                    ..Default::default()
                },
            )
            .await;
        match created {
            Ok(project) => Ok(project.id),
            // Another request created it meanwhile.
            Err(Error::AlreadyExists { .. }) => find()
                .await?
                .map(|p| p.id)
                .ok_or_else(|| Error::not_found(EntityKind::Project, name)),
            Err(other) => Err(other),
        }
    }

    pub async fn create_experiment(
        &self,
        actor: &Actor,
        input: NewExperiment,
    ) -> Result<Experiment> {
        self.authorize_project(actor, &input.project_id).await?;
        let name = validate::name("name", &input.name)?;
        validate_description("description", input.description.as_ref())?;
        validate_tags("tags", input.tags.iter().map(|(k, v)| (k, Some(v))))?;
        validate_links(&input.links)?;
        let template = match &input.template {
            Some(t) => Some(templates::experiment_template(t).ok_or_else(|| {
                Error::invalid(
                    "template",
                    format!(
                        "unknown experiment template '{t}'; see GET /api/v1/experiments/templates"
                    ),
                )
            })?),
            None => None,
        };
        let project = self
            .store
            .get_project(&input.project_id)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::invalid(
                    "project_id",
                    format!("project '{}' does not exist", input.project_id),
                ),
                other => other,
            })?;
        // Explicit values win, then the template's, then the project's defaults.
        let objectives = input
            .objectives
            .or_else(|| {
                template
                    .as_ref()
                    .map(|t| t.objectives.clone())
                    .filter(|o| !o.is_empty())
            })
            .unwrap_or_else(|| project.experiment_defaults.objectives.clone());
        let healthcare = input
            .healthcare
            .or_else(|| template.as_ref().and_then(|t| t.healthcare.clone()))
            .or_else(|| project.experiment_defaults.healthcare.clone());
        let search_space = input
            .search_space
            .or_else(|| template.as_ref().map(|t| t.search_space.clone()))
            .unwrap_or_default();
        validate_objectives("objectives", &objectives)?;
        validate_search_space(&search_space)?;
        let artifact_location = match input.artifact_location.as_deref().map(str::trim) {
            Some(location) if !location.is_empty() => {
                self.check_artifact_location(location)?;
                Some(location.to_owned())
            }
            _ => None,
        };
        if let Some(hc) = &healthcare {
            validate_healthcare("healthcare", hc)?;
        }
        let mut tags = template
            .as_ref()
            .map(|t| t.tags.clone())
            .unwrap_or_default();
        tags.extend(input.tags);
        let now = Timestamp::now();
        let experiment = Experiment {
            id: ets_domain::new_id(),
            project_id: project.id,
            name,
            description: input.description,
            owner: input.owner.or_else(|| actor.user_name().map(str::to_owned)),
            status: ExperimentStatus::Draft,
            tags,
            objectives,
            search_space,
            healthcare,
            links: input.links,
            template: template.map(|t| t.name),
            created_at: now,
            updated_at: now,
            started_at: None,
            ended_at: None,
            deleted_at: None,
            artifact_location,
        };
        self.store.create_experiment(experiment).await
    }

    pub async fn get_experiment(&self, actor: &Actor, id: &str) -> Result<Experiment> {
        self.authorize(actor, EntityKind::Experiment, id).await?;
        let experiment = self.store.get_experiment(id).await?;
        let event = Event::new("experiment.read", "experiment", id);
        self.audit_read_of(event, experiment.healthcare.is_some())
            .await?;
        Ok(experiment)
    }

    /// Runs of an experiment (trashed ones included), e.g. for the `ready` event of its stream.
    pub async fn experiment_run_count(&self, actor: &Actor, id: &str) -> Result<i64> {
        self.authorize(actor, EntityKind::Experiment, id).await?;
        let counts = self.store.count_runs(&[id.to_owned()]).await?;
        Ok(counts.first().copied().unwrap_or(0))
    }

    pub async fn list_experiments(
        &self,
        actor: &Actor,
        query: ExperimentQuery,
        list: ListParams,
    ) -> Result<Page<Experiment>> {
        let status = super::status_filter(query.status.as_deref())?;
        let filter = ExperimentFilter {
            visible_projects: self.visible_projects(actor).await?,
            lifecycle: super::search::parse_lifecycle(query.lifecycle.as_deref())?,
            expr: super::search::parse_experiment_filter(query.filter.as_deref())?,
            project_id: query.project_id,
            status,
            name: query.name,
            name_contains: query.name_contains,
            tag: super::parse_tag_filter(query.tag.as_deref()),
        };
        self.store
            .list_experiments(filter, self.page_request(&list)?)
            .await
    }

    pub async fn update_experiment(
        &self,
        actor: &Actor,
        id: &str,
        patch: ExperimentPatch,
    ) -> Result<Experiment> {
        self.authorize(actor, EntityKind::Experiment, id).await?;
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        validate_description("description", patch.description.as_ref())?;
        validate_tags("tags", patch.tags.iter().map(|(k, v)| (k, v.as_ref())))?;
        if let Some(objectives) = &patch.objectives {
            validate_objectives("objectives", objectives)?;
        }
        if let Some(space) = &patch.search_space {
            validate_search_space(space)?;
        }
        if let Some(hc) = &patch.healthcare {
            validate_healthcare("healthcare", hc)?;
        }
        if let Some(links) = &patch.links {
            validate_links(links)?;
        }
        self.store
            .update_experiment(
                id,
                Box::new(move |experiment| {
                    if let Some(status) = patch.status.filter(|s| *s != experiment.status) {
                        transition(experiment, status)?;
                    }
                    if let Some(name) = name {
                        experiment.name = name;
                    }
                    if let Some(description) = patch.description {
                        experiment.description = Some(description);
                    }
                    if let Some(owner) = patch.owner {
                        experiment.owner = Some(owner);
                    }
                    if let Some(objectives) = patch.objectives {
                        experiment.objectives = objectives;
                    }
                    if let Some(space) = patch.search_space {
                        experiment.search_space = space;
                    }
                    if let Some(hc) = patch.healthcare {
                        experiment.healthcare = Some(hc);
                    }
                    if let Some(links) = patch.links {
                        experiment.links = links;
                    }
                    apply_tag_patch(&mut experiment.tags, &patch.tags);
                    Ok(())
                }),
            )
            .await
    }

    pub async fn start_experiment(&self, actor: &Actor, id: &str) -> Result<Experiment> {
        self.authorize(actor, EntityKind::Experiment, id).await?;
        self.store
            .update_experiment(id, Box::new(|e| transition(e, ExperimentStatus::Running)))
            .await
    }

    pub async fn stop_experiment(
        &self,
        actor: &Actor,
        id: &str,
        body: StopExperiment,
    ) -> Result<Experiment> {
        self.authorize(actor, EntityKind::Experiment, id).await?;
        let next = body.status.unwrap_or(ExperimentStatus::Stopped);
        if !matches!(
            next,
            ExperimentStatus::Stopped | ExperimentStatus::Completed
        ) {
            return Err(Error::invalid(
                "status",
                format!("stop takes 'stopped' or 'completed', not '{next}'"),
            ));
        }
        self.store
            .update_experiment(id, Box::new(move |e| transition(e, next)))
            .await
    }

    /// Deletes an experiment: moves it to the trash with its runs (restorable; MLflow's
    /// `experiments/delete`), or with `permanent` deletes it for good with its runs, their
    /// metrics and artifacts.
    pub async fn delete_experiment(&self, actor: &Actor, id: &str, permanent: bool) -> Result<()> {
        self.authorize(actor, EntityKind::Experiment, id).await?;
        if permanent {
            // The experiment's files in the artifact proxy go with it (their rows by cascade).
            let files = self.store.list_files(Some(&format!("{id}/"))).await?;
            let run_ids = self.store.delete_experiment(id).await?;
            self.delete_run_artifacts(&run_ids).await;
            self.remove_file_objects(&files).await;
        } else {
            self.trash_experiment(actor, id).await?;
        }
        Ok(())
    }

    /// Per-metric aggregates over the experiment's runs (each run's latest value).
    pub async fn experiment_metrics(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<Vec<MetricAggregate>> {
        self.authorize(actor, EntityKind::Experiment, id).await?;
        let experiment = self.store.get_experiment(id).await?;
        let latest = self
            .store
            .latest_metrics(std::slice::from_ref(&experiment.id), None)
            .await?;
        let event = Event::new("experiment.read_metrics", "experiment", id);
        self.audit_read_of(event, experiment.healthcare.is_some())
            .await?;
        let mut by_key: BTreeMap<&str, Vec<&LatestMetric>> = BTreeMap::new();
        for metric in &latest {
            by_key.entry(&metric.key).or_default().push(metric);
        }
        Ok(by_key
            .into_iter()
            .map(|(key, metrics)| {
                let objective = experiment.objectives.iter().find(|o| o.metric == key);
                let direction = objective.map(|o| o.direction);
                let values: Vec<f64> = metrics.iter().map(|m| m.value).collect();
                let best = direction
                    .and_then(|d| best(metrics.iter().map(|m| (m.run_id.as_str(), m.value)), d));
                let runs_meeting_target = objective.and_then(|o| {
                    o.target
                        .map(|t| values.iter().filter(|v| meets(**v, t, o.direction)).count())
                });
                MetricAggregate {
                    key: key.to_owned(),
                    direction,
                    summary: summarize(&values),
                    best_run_id: best.map(|(run, _)| run.to_owned()),
                    best_value: best.map(|(_, v)| v),
                    runs_meeting_target,
                }
            })
            .collect())
    }

    /// Compares two or more experiments metric by metric (summary statistics of each run's
    /// latest value).
    pub async fn compare_experiments(
        &self,
        actor: &Actor,
        request: CompareRequest,
    ) -> Result<Comparison> {
        let ids = &request.experiment_ids;
        if ids.len() < 2 {
            return Err(Error::invalid(
                "experiment_ids",
                "give at least two experiment ids to compare",
            ));
        }
        if ids.iter().collect::<BTreeSet<_>>().len() != ids.len() {
            return Err(Error::invalid(
                "experiment_ids",
                "each experiment may appear only once",
            ));
        }
        if let Some(keys) = &request.metrics {
            for (i, key) in keys.iter().enumerate() {
                validate::key(&format!("metrics[{i}]"), key)?;
            }
        }
        let evaluation_names = request.evaluations.as_deref().unwrap_or_default();
        rates::validate_names(evaluation_names)?;
        let mut experiments = Vec::with_capacity(ids.len());
        for id in ids {
            self.authorize(actor, EntityKind::Experiment, id).await?;
            experiments.push(self.store.get_experiment(id).await?);
        }
        let run_counts = self.store.count_runs(ids).await?;
        let latest = self
            .store
            .latest_metrics(ids, request.metrics.as_deref())
            .await?;
        let keys: Vec<String> = match &request.metrics {
            // Asked-for keys in request order, each once.
            Some(keys) => {
                let mut seen = BTreeSet::new();
                keys.iter().filter(|k| seen.insert(*k)).cloned().collect()
            }
            None => latest
                .iter()
                .map(|m| m.key.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        // The tests (a 10,000-resample bootstrap per metric) run on a blocking thread.
        let (metrics, experiments) = tokio::task::spawn_blocking(move || {
            let mut sizes = Vec::with_capacity(keys.len());
            let mut metrics: Vec<MetricComparison> = keys
                .into_iter()
                .map(|key| {
                    let direction = experiments.iter().find_map(|e| {
                        e.objectives
                            .iter()
                            .find(|o| o.metric == key)
                            .map(|o| o.direction)
                    });
                    // Each experiment's runs' latest values of this key, read once.
                    let per_experiment: Vec<Vec<&LatestMetric>> = experiments
                        .iter()
                        .map(|experiment| {
                            latest
                                .iter()
                                .filter(|m| m.key == key && m.experiment_id == experiment.id)
                                .collect()
                        })
                        .collect();
                    let by_experiment: Vec<ExperimentMetricStats> = experiments
                        .iter()
                        .zip(&per_experiment)
                        .map(|(experiment, runs)| {
                            let values: Vec<f64> = runs.iter().map(|m| m.value).collect();
                            let best_run = direction.and_then(|d| {
                                best(runs.iter().map(|m| (m.run_id.as_str(), m.value)), d)
                            });
                            ExperimentMetricStats {
                                experiment_id: experiment.id.clone(),
                                summary: summarize(&values),
                                best_run_id: best_run.map(|(run, _)| run.to_owned()),
                            }
                        })
                        .collect();
                    let best_experiment_id = direction.and_then(|d| {
                        best(
                            by_experiment.iter().filter_map(|s| {
                                s.summary.mean.map(|m| (s.experiment_id.as_str(), m))
                            }),
                            d,
                        )
                        .map(|(id, _)| id.to_owned())
                    });
                    let finite = |runs: &[&LatestMetric]| -> Vec<f64> {
                        runs.iter()
                            .map(|m| m.value)
                            .filter(|v| v.is_finite())
                            .collect()
                    };
                    let (baseline, candidate) =
                        (finite(&per_experiment[0]), finite(&per_experiment[1]));
                    sizes.push((baseline.len(), candidate.len()));
                    let tests = significance::metric_tests(
                        (&experiments[0].id, &baseline),
                        (&experiments[1].id, &candidate),
                    );
                    MetricComparison {
                        key,
                        direction,
                        by_experiment,
                        best_experiment_id,
                        tests,
                    }
                })
                .collect();
            significance::conclude(&mut metrics, &sizes);
            (metrics, experiments)
        })
        .await
        .map_err(Error::internal)?;
        let evaluations = if evaluation_names.is_empty() {
            Vec::new()
        } else {
            // Every key of the first two experiments' runs: the counts' keys are not known
            // in advance (slices).
            let all = self.store.latest_metrics(&ids[..2], None).await?;
            let side = |experiment: &str| -> Vec<rates::RunMetrics> {
                let mut runs: BTreeMap<&str, rates::RunMetrics> = BTreeMap::new();
                for m in all.iter().filter(|m| m.experiment_id == experiment) {
                    runs.entry(&m.run_id)
                        .or_default()
                        .push((m.key.as_str(), m.value));
                }
                runs.into_values().collect()
            };
            rates::compare(evaluation_names, &side(&ids[0]), &side(&ids[1]))?
        };
        Ok(Comparison {
            experiments: experiments
                .into_iter()
                .zip(run_counts)
                .map(|(e, run_count)| ComparedExperiment {
                    id: e.id,
                    name: e.name,
                    status: e.status,
                    run_count,
                })
                .collect(),
            metrics,
            evaluations,
        })
    }

    /// The distinct datasets used in the experiments the caller may read (others, and ids
    /// that do not exist, are left out).
    pub async fn dataset_summaries(
        &self,
        actor: &Actor,
        experiment_ids: Vec<String>,
    ) -> Result<Vec<crate::store::datasets::DatasetSummary>> {
        let mut visible = Vec::with_capacity(experiment_ids.len());
        for id in experiment_ids {
            match self.authorize(actor, EntityKind::Experiment, &id).await {
                Ok(()) => visible.push(id),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.store.dataset_summaries(visible).await
    }

    pub fn experiment_templates(&self) -> Vec<ExperimentTemplate> {
        templates::experiment_templates()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_respects_direction_and_skips_nan() {
        let values = [("a", 0.5), ("b", f64::NAN), ("c", 0.9), ("d", 0.1)];
        assert_eq!(
            best(values.iter().copied(), Direction::Maximize),
            Some(("c", 0.9))
        );
        assert_eq!(
            best(values.iter().copied(), Direction::Minimize),
            Some(("d", 0.1))
        );
        assert_eq!(
            best([("x", f64::NAN)].into_iter(), Direction::Maximize),
            None
        );
    }
}
