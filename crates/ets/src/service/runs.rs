//! Run use cases: lifecycle, params and tags, metric ingest and reads, artifacts.

use ets_domain::model::{
    FinishRun, LogMetricsResult, MetricInput, MetricSeries, MetricSummary, NewRun, ParamValue, Run,
    RunPatch, SeriesPoints,
};
use ets_domain::status::RunStatus;
use ets_domain::{Timestamp, validate};

use super::{ListParams, Services, validate_description, validate_tags};
use crate::actor::Actor;
use crate::audit::Event;
use crate::error::{EntityKind, Error, Result};
use crate::store::{DataOf, Page, RunFilter, SeriesRequest};

/// Query of `GET /api/v1/runs`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    pub project_id: Option<String>,
    pub experiment_id: Option<String>,
    /// `scheduled`, `running`, `finished`, `failed` or `killed`.
    pub status: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// `key` (has the tag) or `key:value`.
    pub tag: Option<String>,
    /// Only child runs of this run.
    pub parent_run_id: Option<String>,
    /// A search filter, e.g. `metrics.accuracy > 0.9 AND (params.optimizer = 'adam' OR tags.team = 'vision')`
    /// (MLflow's grammar plus OR and parentheses).
    pub filter: Option<String>,
    /// `active` (default), `deleted` (in the trash) or `all`.
    pub lifecycle: Option<String>,
}

/// Body of `POST /api/v1/runs/{id}/metrics`: one point (`key`, `value`, `step`, `timestamp`)
/// or a batch (`metrics`), not both.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogMetricsBody {
    #[serde(default)]
    pub key: Option<String>,
    /// A number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
    #[serde(default, with = "ets_domain::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub value: Option<f64>,
    #[serde(default)]
    pub step: Option<i64>,
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// Many points, of any keys and steps.
    #[serde(default)]
    pub metrics: Option<Vec<MetricInput>>,
}

impl LogMetricsBody {
    /// The points of either form.
    pub fn into_points(self) -> Result<Vec<MetricInput>> {
        match (self.metrics, self.key) {
            (Some(_), Some(_)) => Err(Error::invalid(
                "metrics",
                "send either one point (key, value…) or a 'metrics' list, not both",
            )),
            (Some(batch), None) => {
                if self.value.is_some() || self.step.is_some() || self.timestamp.is_some() {
                    return Err(Error::invalid(
                        "metrics",
                        "value/step/timestamp belong inside each item of 'metrics'",
                    ));
                }
                Ok(batch)
            }
            (None, Some(key)) => {
                let value = self
                    .value
                    .ok_or_else(|| Error::invalid("value", "a metric point needs a value"))?;
                Ok(vec![MetricInput {
                    key,
                    value,
                    step: self.step,
                    timestamp: self.timestamp,
                }])
            }
            (None, None) => Err(Error::invalid(
                "key",
                "send one point {\"key\", \"value\"} or a batch {\"metrics\": [...]}",
            )),
        }
    }
}

/// A change of status, end time and name (MLflow's `runs/update`).
#[derive(Debug, Clone, Default)]
pub struct RunStateChange {
    pub status: Option<RunStatus>,
    pub end_time: Option<Timestamp>,
    pub name: Option<String>,
}

/// Metrics, params and tags logged together.
#[derive(Debug, Clone, Default)]
pub struct RunBatch {
    pub metrics: Vec<MetricInput>,
    /// The MLflow 3 context some of `metrics` were logged with, by index into `metrics`: a
    /// value that is also the logged model's metric (`model_id`), or computed on a dataset.
    pub contexts: Vec<(usize, MetricContext)>,
    pub params: std::collections::BTreeMap<String, serde_json::Value>,
    pub tags: ets_domain::model::TagPatch,
}

/// What a metric point was logged with besides its value (MLflow 3's `Metric` fields).
#[derive(Debug, Clone, Default)]
pub struct MetricContext {
    pub model_id: Option<String>,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// MLflow's refusal of a dataset named by half.
const HALF_A_DATASET: &str =
    "Both dataset_name and dataset_digest must be provided if one is provided";

/// A point's place in its series (`MetricPoint::series_key`).
type SeriesKey = (i64, i64, (i64, bool));

/// The contexts of one metric's points, by run and point (`MetricPoint::series_key`), to
/// attach to a history read.
#[derive(Debug, Default)]
pub struct PointContexts(
    std::collections::HashMap<
        String,
        std::collections::HashMap<SeriesKey, crate::store::PointContext>,
    >,
);

impl PointContexts {
    pub fn new(contexts: Vec<crate::store::PointContext>) -> Self {
        let mut index = Self::default();
        for c in contexts {
            let key =
                ets_domain::model::MetricPoint::new(c.step, c.timestamp, c.value).series_key();
            index
                .0
                .entry(c.run_id.clone())
                .or_default()
                .entry(key)
                .or_insert(c);
        }
        index
    }

    /// The context of `point` of run `run_id`, if it was logged with one.
    pub fn get(
        &self,
        run_id: &str,
        point: &ets_domain::model::MetricPoint,
    ) -> Option<&crate::store::PointContext> {
        self.0.get(run_id)?.get(&point.series_key())
    }
}

/// Query of `GET /api/v1/runs/{id}/metrics/{name}`.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// First step to include.
    pub start_step: Option<i64>,
    /// Last step to include.
    pub end_step: Option<i64>,
    /// Downsample to at most this many points, keeping each bucket's min and max (2..=100000).
    pub max_points: Option<usize>,
}

/// The MLflow tag that carries a run's name.
pub const RUN_NAME_TAG: &str = "mlflow.runName";
/// The MLflow tag that carries a run's parent.
pub const PARENT_RUN_TAG: &str = "mlflow.parentRunId";

/// Largest `max_points` a series read accepts.
const MAX_SERIES_POINTS: usize = 100_000;

pub(super) fn validate_params(
    field: &str,
    params: std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<Vec<(String, ParamValue)>> {
    params
        .into_iter()
        .map(|(key, json)| {
            let field = format!("{field}.{key}");
            validate::key(&field, &key)?;
            if json.is_null() {
                return Err(Error::invalid(field, "a param value cannot be null"));
            }
            let value = ParamValue::from_json(json);
            validate::param_value(&field, &value.text)?;
            Ok((key, value))
        })
        .collect()
}

/// Moves a run to `next` at time `at`, refusing transitions the lifecycle does not allow.
pub(crate) fn run_transition(run: &mut Run, next: RunStatus, at: Timestamp) -> Result<()> {
    crate::store::rules::check_run_writable(run)?;
    if !run.status.can_become(next) {
        return Err(Error::Conflict(format!(
            "run '{}' is {} and cannot become {next}; allowed: scheduled → running → finished | failed | killed, \
             scheduled → failed | killed, and an ended run → running (resume)",
            run.id, run.status
        )));
    }
    if next == RunStatus::Running {
        // Resuming keeps the original start time, as MLflow does.
        run.started_at.get_or_insert(at);
        run.ended_at = None;
    }
    if next.is_terminal() {
        run.ended_at = Some(at);
    }
    run.status = next;
    Ok(())
}

/// Params as stored, tags, and a new run name (`checked_params_and_tags`).
pub(super) type CheckedMetadata = (
    Vec<(String, ParamValue)>,
    ets_domain::model::TagPatch,
    Option<String>,
);

/// The params and tags of a `log_batch`, checked: the params as stored, the tags without
/// `mlflow.runName`, which renames the run (the new name, checked, is returned third).
pub(super) fn checked_params_and_tags(
    params: std::collections::BTreeMap<String, serde_json::Value>,
    mut tags: ets_domain::model::TagPatch,
) -> Result<CheckedMetadata> {
    let params = validate_params("params", params)?;
    validate_tags("tags", tags.iter().map(|(k, v)| (k, v.as_ref())))?;
    let rename = match tags.remove(RUN_NAME_TAG) {
        Some(Some(name)) => Some(validate::name("tags.mlflow.runName", &name)?),
        _ => None,
    };
    Ok((params, tags, rename))
}

/// What `update_run_state` does to a run: MLflow's `runs/update` (any status; `running`
/// resumes, an end status stamps the end time), and a new name.
pub(super) fn state_change(
    status: Option<RunStatus>,
    end_time: Option<Timestamp>,
    name: Option<String>,
) -> crate::store::Mutation<Run> {
    Box::new(move |run| {
        crate::store::rules::check_run_writable(run)?;
        if let Some(status) = status {
            if status == RunStatus::Running {
                run.ended_at = None;
            } else if status.is_terminal() && (status != run.status || end_time.is_some()) {
                run.ended_at = Some(end_time.unwrap_or_else(Timestamp::now));
            }
            run.status = status;
        } else if let Some(end_time) = end_time {
            run.ended_at = Some(end_time);
        }
        if let Some(name) = name {
            run.name = name;
        }
        Ok(())
    })
}

/// A missing experiment or parent named by a new run is the request's error (a field).
pub(super) fn run_creation_error(e: Error) -> Error {
    match e {
        Error::NotFound {
            entity: EntityKind::Experiment,
            id,
        } => Error::invalid("experiment_id", format!("experiment '{id}' does not exist")),
        Error::NotFound {
            entity: EntityKind::ParentRun,
            id,
        } => Error::invalid("parent_run_id", format!("parent run '{id}' does not exist")),
        other => other,
    }
}

impl Services {
    pub async fn create_run(&self, actor: &Actor, input: NewRun) -> Result<Run> {
        let (run, params) = self.new_run(actor, input).await?;
        let run = self
            .store
            .create_run(run, params)
            .await
            .map_err(run_creation_error)?;
        self.remember_project(EntityKind::Run, &run.id, &run.project_id);
        self.live.run_created(&run);
        Ok(run)
    }

    /// The run `create_run` stores, checked (the caller may create runs in the experiment,
    /// the input is valid), with its params.
    pub(super) async fn new_run(
        &self,
        actor: &Actor,
        input: NewRun,
    ) -> Result<(Run, Vec<(String, ParamValue)>)> {
        self.authorize(actor, EntityKind::Experiment, &input.experiment_id)
            .await?;
        let status = input.status.unwrap_or(RunStatus::Running);
        if !matches!(status, RunStatus::Running | RunStatus::Scheduled) {
            return Err(Error::invalid(
                "status",
                format!("a new run is 'running' or 'scheduled', not '{status}'"),
            ));
        }
        let id = ets_domain::new_id();
        let name = match input.name.as_ref().or(input.tags.get(RUN_NAME_TAG)) {
            Some(name) => validate::name("name", name)?,
            None => ets_domain::run_name(&id),
        };
        validate_description("description", input.description.as_ref())?;
        validate_tags("tags", input.tags.iter().map(|(k, v)| (k, Some(v))))?;
        let params = validate_params("params", input.params)?;
        let mut tags = input.tags;
        tags.remove(RUN_NAME_TAG);
        // MLflow clients name the parent of a nested run in a tag. To MLflow it is only a tag,
        // so a parent that does not exist (or is in another experiment) is kept as the tag
        // without linking the runs; the native `parent_run_id` must name a run of the
        // experiment.
        let parent_run_id = match (input.parent_run_id, tags.get(PARENT_RUN_TAG)) {
            (Some(parent), _) => Some(parent),
            (None, Some(tagged)) => match self.store.get_run(tagged).await {
                Ok(parent) if parent.experiment_id == input.experiment_id => Some(parent.id),
                Ok(_) | Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            (None, None) => None,
        };
        let now = Timestamp::now();
        let run = Run {
            id,
            experiment_id: input.experiment_id,
            project_id: String::new(),
            name,
            description: input.description,
            owner: input.owner.or_else(|| actor.user_name().map(str::to_owned)),
            status,
            parent_run_id,
            params: Default::default(),
            tags,
            metrics: Vec::new(),
            created_at: now,
            updated_at: now,
            started_at: input
                .started_at
                .or((status == RunStatus::Running).then_some(now)),
            ended_at: None,
            deleted_at: None,
            inputs: Vec::new(),
            models: Vec::new(),
        };
        Ok((run, params))
    }

    pub async fn get_run(&self, actor: &Actor, id: &str) -> Result<Run> {
        self.authorize(actor, EntityKind::Run, id).await?;
        let run = self.store.get_run(id).await?;
        let event = Event::new("run.read", "run", id);
        self.audit_read(event, DataOf::Experiment(run.experiment_id.clone()))
            .await?;
        Ok(run)
    }

    pub async fn list_runs(
        &self,
        actor: &Actor,
        query: RunQuery,
        list: ListParams,
    ) -> Result<Page<Run>> {
        let status = super::status_filter(query.status.as_deref())?;
        let filter = RunFilter {
            visible_projects: self.visible_projects(actor).await?,
            lifecycle: super::search::parse_lifecycle(query.lifecycle.as_deref())?,
            expr: super::search::parse_run_filter(query.filter.as_deref())?,
            project_id: query.project_id,
            experiment_id: query.experiment_id,
            status,
            name: query.name,
            name_contains: query.name_contains,
            tag: super::parse_tag_filter(query.tag.as_deref()),
            parent_run_id: query.parent_run_id,
        };
        let page = self
            .store
            .list_runs(filter, self.page_request(&list)?)
            .await?;
        self.audit_run_list(&page.items).await?;
        Ok(page)
    }

    pub async fn update_run(&self, actor: &Actor, id: &str, patch: RunPatch) -> Result<Run> {
        self.authorize(actor, EntityKind::Run, id).await?;
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        validate_description("description", patch.description.as_ref())?;
        validate_tags("tags", patch.tags.iter().map(|(k, v)| (k, v.as_ref())))?;
        let params = validate_params("params", patch.params)?;
        let description = patch.description;
        // MLflow shows the run name as the tag `mlflow.runName`; setting that tag renames the run.
        let mut tags = patch.tags;
        let name = match tags.remove(RUN_NAME_TAG) {
            Some(Some(new_name)) => Some(validate::name("tags.mlflow.runName", &new_name)?),
            _ => name,
        };
        self.store
            .update_run(
                id,
                Box::new(move |run| {
                    crate::store::rules::check_run_writable(run)?;
                    if let Some(name) = name {
                        run.name = name;
                    }
                    if let Some(description) = description {
                        run.description = Some(description);
                    }
                    Ok(())
                }),
                params,
                tags,
            )
            .await
    }

    pub async fn start_run(&self, actor: &Actor, id: &str) -> Result<Run> {
        self.authorize(actor, EntityKind::Run, id).await?;
        let run = self
            .store
            .update_run(
                id,
                Box::new(|run| run_transition(run, RunStatus::Running, Timestamp::now())),
                vec![],
                Default::default(),
            )
            .await?;
        self.run_status_changed(&run);
        Ok(run)
    }

    pub async fn finish_run(&self, actor: &Actor, id: &str, body: FinishRun) -> Result<Run> {
        self.authorize(actor, EntityKind::Run, id).await?;
        let next = body.status.unwrap_or(RunStatus::Finished);
        if !next.is_terminal() {
            return Err(Error::invalid(
                "status",
                format!("finish takes finished, failed or killed, not '{next}'"),
            ));
        }
        let run = self
            .store
            .update_run(
                id,
                Box::new(move |run| run_transition(run, next, Timestamp::now())),
                vec![],
                Default::default(),
            )
            .await?;
        self.run_status_changed(&run);
        Ok(run)
    }

    /// Sets status, end time and name together, as MLflow's `runs/update` does. Unlike the
    /// native `start`/`finish` transitions, MLflow lets a client set any status (a killed run
    /// may be marked finished by a retrying scheduler), so this follows MLflow: a `running`
    /// status resumes the run, an end status stamps the end time.
    pub async fn update_run_state(
        &self,
        actor: &Actor,
        id: &str,
        change: RunStateChange,
    ) -> Result<Run> {
        self.authorize(actor, EntityKind::Run, id).await?;
        let name = change
            .name
            .as_deref()
            .map(|n| validate::name("run_name", n))
            .transpose()?;
        let status_changes = change.status.is_some() || change.end_time.is_some();
        let run = self
            .store
            .update_run(
                id,
                state_change(change.status, change.end_time, name),
                Vec::new(),
                Default::default(),
            )
            .await?;
        if status_changes {
            self.run_status_changed(&run);
        }
        Ok(run)
    }

    /// Logs metrics, params and tags of a run in one transaction (MLflow's `log-batch`, and
    /// the single `log-metric`, `log-parameter` and `set-tag` calls): all of it or none.
    pub async fn log_batch(
        &self,
        actor: &Actor,
        run_id: &str,
        batch: RunBatch,
    ) -> Result<LogMetricsResult> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let (params, tags, rename) = checked_params_and_tags(batch.params, batch.tags)?;
        let now = Timestamp::now().millis();
        let mut contexts = Vec::with_capacity(batch.contexts.len());
        let mut models_checked = std::collections::HashSet::new();
        for (index, context) in batch.contexts {
            if context.dataset_name.is_some() != context.dataset_digest.is_some() {
                return Err(Error::BadRequest(HALF_A_DATASET.into()));
            }
            // A value logged for a model changes the model: the caller must reach it too.
            if let Some(model_id) = &context.model_id
                && models_checked.insert(model_id.clone())
            {
                self.authorize(actor, EntityKind::LoggedModel, model_id)
                    .await?;
            }
            if let Some(p) = batch.metrics.get(index) {
                contexts.push(crate::store::PointContext {
                    run_id: run_id.to_owned(),
                    key: p.key.clone(),
                    value: p.value,
                    step: p.step.unwrap_or(0),
                    timestamp: p.timestamp.unwrap_or(now),
                    model_id: context.model_id,
                    dataset_name: context.dataset_name,
                    dataset_digest: context.dataset_digest,
                });
            }
        }
        let points = self.group_points(batch.metrics, now)?;
        let live = self.live.prepare_metrics(&points);
        let (written, duplicates) = self
            .store
            .log_batch(run_id, params, tags, rename, points, contexts)
            .await?;
        metrics::counter!("ets_metric_points_ingested_total").increment(written as u64);
        if written > 0 {
            self.metrics_stored(run_id, live);
        }
        Ok(LogMetricsResult {
            run_id: run_id.to_owned(),
            written,
            duplicates,
        })
    }

    /// Deletes a run for good, with its metrics and artifacts (the native
    /// `DELETE …?permanent=true`, and `ets gc` for runs long in the trash). A plain delete
    /// moves the run to the trash instead ([`Services::trash_run`]).
    pub async fn delete_run(&self, actor: &Actor, id: &str) -> Result<()> {
        self.authorize(actor, EntityKind::Run, id).await?;
        self.store.delete_run(id).await?;
        self.delete_run_artifacts(&[id.to_owned()]).await;
        Ok(())
    }

    /// Logs metric points (the hot path): validates, fills defaults, stores in one transaction.
    pub async fn log_metrics(
        &self,
        actor: &Actor,
        run_id: &str,
        points: Vec<MetricInput>,
    ) -> Result<LogMetricsResult> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        if points.is_empty() {
            return Err(Error::invalid("metrics", "the batch is empty"));
        }
        let points = self.group_points(points, Timestamp::now().millis())?;
        self.store_series(run_id, points).await
    }

    /// Logs columnar series (`POST /api/v1/runs/{id}/bulk-metrics`), the fastest way in.
    pub async fn log_bulk_metrics(
        &self,
        actor: &Actor,
        run_id: &str,
        bulk: ets_domain::model::BulkMetrics,
    ) -> Result<LogMetricsResult> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let now = Timestamp::now().millis();
        let total: usize = bulk.series.iter().map(|s| s.steps.len()).sum();
        self.check_request_points(total)?;
        if total == 0 {
            return Err(Error::invalid("series", "the request carries no points"));
        }
        let mut series = Vec::with_capacity(bulk.series.len());
        for (i, s) in bulk.series.into_iter().enumerate() {
            validate::key(&format!("series[{i}].key"), &s.key)?;
            if s.values.len() != s.steps.len() {
                return Err(Error::invalid(
                    format!("series[{i}].values"),
                    format!(
                        "has {} values for {} steps; give one value per step",
                        s.values.len(),
                        s.steps.len()
                    ),
                ));
            }
            if let Some(timestamps) = &s.timestamps
                && timestamps.len() != s.steps.len()
            {
                return Err(Error::invalid(
                    format!("series[{i}].timestamps"),
                    format!(
                        "has {} timestamps for {} steps; give one per step, or one `timestamp`",
                        timestamps.len(),
                        s.steps.len()
                    ),
                ));
            }
            let shared = s.timestamp.unwrap_or(now);
            let points = s
                .steps
                .iter()
                .zip(&s.values)
                .enumerate()
                .map(|(j, (step, value))| ets_domain::model::MetricPoint {
                    step: *step,
                    timestamp: s.timestamps.as_ref().map_or(shared, |t| t[j]),
                    value: value.0,
                })
                .collect();
            series.push(SeriesPoints { key: s.key, points });
        }
        self.store_series(run_id, series).await
    }

    async fn store_series(
        &self,
        run_id: &str,
        points: Vec<SeriesPoints>,
    ) -> Result<LogMetricsResult> {
        let live = self.live.prepare_metrics(&points);
        let (written, duplicates) =
            crate::store::log_metrics(self.store.as_ref(), run_id, points).await?;
        metrics::counter!("ets_metric_points_ingested_total").increment(written as u64);
        if written > 0 {
            self.metrics_stored(run_id, live);
        }
        Ok(LogMetricsResult {
            run_id: run_id.to_owned(),
            written,
            duplicates,
        })
    }

    /// The experiment's runs outside the trash, oldest first, read a page at a time (not
    /// authorized or audited here: callers do both for what they show).
    pub(crate) async fn all_runs_of(
        &self,
        experiment_id: &str,
    ) -> Result<Vec<ets_domain::model::Run>> {
        let mut runs = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_runs(
                    crate::store::RunFilter {
                        experiment_id: Some(experiment_id.to_owned()),
                        ..Default::default()
                    },
                    crate::store::PageRequest {
                        sort: crate::store::SortField::CreatedAt,
                        descending: false,
                        page_size: self.config.limits.max_page_size,
                        after,
                    },
                )
                .await?;
            runs.extend(page.items);
            match page.next_page_token {
                Some(token) => {
                    after = crate::store::Cursor::decode(
                        &token,
                        crate::store::SortField::CreatedAt,
                        false,
                    );
                    if after.is_none() {
                        return Err(Error::internal("a run page token did not decode"));
                    }
                }
                None => return Ok(runs),
            }
        }
    }

    /// After commit of new points: live update and alert evaluation (neither waits).
    pub(super) fn metrics_stored(&self, run_id: &str, live: Option<crate::live::MetricsBatch>) {
        self.live.metrics_logged(run_id, live);
        self.alerts.touched(run_id);
    }

    /// After commit of a status change: live update and alert evaluation.
    pub(super) fn run_status_changed(&self, run: &Run) {
        self.live.run_status(run);
        self.alerts.touched(&run.id);
    }

    fn check_request_points(&self, count: usize) -> Result<()> {
        let limit = self.config.limits.max_metrics_per_request;
        if count as u64 > limit {
            return Err(Error::PayloadTooLarge(format!(
                "{count} metric points in one request; the limit is {limit} (limits.max_metrics_per_request, \
                 ETS_LIMITS__MAX_METRICS_PER_REQUEST): split the batch"
            )));
        }
        Ok(())
    }

    /// Validates logged points, fills their defaults (step 0, timestamp `now`) and groups them
    /// by key, in order of first appearance.
    pub(super) fn group_points(
        &self,
        points: Vec<MetricInput>,
        now: i64,
    ) -> Result<Vec<SeriesPoints>> {
        self.check_request_points(points.len())?;
        let mut groups: Vec<SeriesPoints> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut last: Option<usize> = None;
        for (i, input) in points.into_iter().enumerate() {
            let point = ets_domain::model::MetricPoint {
                step: input.step.unwrap_or(0),
                timestamp: input.timestamp.unwrap_or(now),
                value: input.value,
            };
            // Batches usually repeat a key many times in a row: check the last group first.
            let group = match last.filter(|&g| groups[g].key == input.key) {
                Some(g) => g,
                None => match index.get(&input.key) {
                    Some(&g) => g,
                    None => {
                        validate::key(&format!("metrics[{i}].key"), &input.key)?;
                        index.insert(input.key.clone(), groups.len());
                        groups.push(SeriesPoints {
                            key: input.key,
                            points: Vec::new(),
                        });
                        groups.len() - 1
                    }
                },
            };
            groups[group].points.push(point);
            last = Some(group);
        }
        Ok(groups)
    }

    pub async fn metric_summaries(
        &self,
        actor: &Actor,
        run_id: &str,
    ) -> Result<Vec<MetricSummary>> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let summaries = self.store.metric_summaries(run_id).await?;
        let event = Event::new("run.read_metrics", "run", run_id);
        self.audit_read(event, DataOf::Run(run_id.to_owned()))
            .await?;
        Ok(summaries)
    }

    /// The MLflow 3 contexts (model, dataset) of the points of metric `key` of the runs, in one
    /// read; runs the caller may not read are left out.
    pub async fn metric_contexts(
        &self,
        actor: &Actor,
        run_ids: &[String],
        key: &str,
    ) -> Result<Vec<crate::store::PointContext>> {
        let mut readable = Vec::with_capacity(run_ids.len());
        for id in run_ids {
            match self.authorize(actor, EntityKind::Run, id).await {
                Ok(()) => readable.push(id.clone()),
                Err(Error::NotFound { .. } | Error::Forbidden(_)) => {}
                Err(other) => return Err(other),
            }
        }
        if readable.is_empty() {
            return Ok(Vec::new());
        }
        self.store.metric_contexts(readable, key.to_owned()).await
    }

    /// Records logged models a run used (`Input`) or produced (`Output`, at a step); each model
    /// must exist and be readable by the caller.
    pub async fn log_run_models(
        &self,
        actor: &Actor,
        run_id: &str,
        models: Vec<ets_domain::model::RunModel>,
    ) -> Result<()> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        for model in &models {
            self.authorize(actor, EntityKind::LoggedModel, &model.model_id)
                .await?;
        }
        self.store.log_run_models(run_id, models).await
    }

    pub async fn metric_series(
        &self,
        actor: &Actor,
        run_id: &str,
        key: &str,
        query: SeriesQuery,
    ) -> Result<MetricSeries> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        if let Some(max) = query.max_points
            && !(2..=MAX_SERIES_POINTS).contains(&max)
        {
            return Err(Error::BadRequest(format!(
                "max_points must be between 2 and {MAX_SERIES_POINTS}"
            )));
        }
        if let (Some(start), Some(end)) = (query.start_step, query.end_step)
            && start > end
        {
            return Err(Error::BadRequest(format!(
                "start_step {start} is after end_step {end}"
            )));
        }
        let request = SeriesRequest {
            start_step: query.start_step,
            end_step: query.end_step,
            max_points: query.max_points,
        };
        let series = self.store.metric_series(run_id, key, request).await?;
        let event = Event::new("run.read_metrics", "run", run_id).detail("key", key);
        self.audit_read(event, DataOf::Run(run_id.to_owned()))
            .await?;
        Ok(series)
    }
}
