//! Persistence of metadata and metrics behind one async trait.
//!
//! The service layer owns the rules; a store owns atomicity. Operations that must check the
//! current state before changing it (lifecycle transitions, write-once params, limits) take
//! the rule as a closure or a parameter and run it inside the store's transaction, so a check
//! and its write can never interleave with another request's. Backends are picked from the
//! database URL at start-up (`open`).

pub mod alerts;
pub mod audit;
mod chunks;
pub mod datasets;
pub mod files;
mod filter_sql;
pub mod identity;
mod ingest;
pub mod logs;
pub(crate) mod models;
pub mod postgres;
mod rows;
pub(crate) mod rules;
pub(crate) mod run_details;
mod series_cache;
pub mod signatures;
pub mod sqlite;
pub(crate) mod statements;
pub mod studies;
pub mod views;

use std::sync::Arc;

use async_trait::async_trait;
use ets_domain::Timestamp;
use ets_domain::filter::{Expr, OrderKey};
use ets_domain::model::{
    Artifact, DatasetInput, Experiment, LoggedModel, MetricPoint, MetricSeries, MetricSummary,
    ParamValue, Project, ProjectStats, Run, RunModel, SeriesPoints, TagPatch,
};
use ets_domain::status::{ExperimentStatus, ProjectStatus, RunStatus};

pub use self::audit::{AuditQuery, DataOf};
use crate::audit::{AuditRecord, AuditedStore, VerifyReport};
use crate::auth::Role;
use crate::database_url::DatabaseUrl;
use crate::error::Result;
pub use alerts::{
    AlertQuery, AlertRecord, AlertRuleRecord, AlertState, DeliveryOutcome, DeliveryRecord,
};
pub use identity::{ApiKeyRecord, KeyLogin, MemberRecord, SessionRecord, UserRecord, UserRef};
pub use signatures::SignatureRecord;
pub use studies::{
    AttrKind, AttrRecord, NewTrial, OpenTrials, StudyRecord, TrialRecord, TrialRunEnd, TrialState,
};
pub use views::{ViewKind, ViewQuery, ViewRecord};

/// A change to apply to an entity inside the store's transaction; may refuse with an error.
pub type Mutation<T> = Box<dyn FnOnce(&mut T) -> Result<()> + Send>;

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque cursor for the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Sortable columns of list endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
    Name,
}

impl SortField {
    pub fn as_str(self) -> &'static str {
        match self {
            SortField::CreatedAt => "created_at",
            SortField::UpdatedAt => "updated_at",
            SortField::Name => "name",
        }
    }
}

/// Order and page of a list request, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub sort: SortField,
    pub descending: bool,
    pub page_size: u32,
    /// The decoded cursor: (sort value, id) of the last item of the previous page.
    pub after: Option<Cursor>,
}

/// Position after which the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub sort_value: CursorValue,
    pub id: String,
}

/// The sort column's value at the cursor.
#[derive(Debug, Clone, PartialEq)]
pub enum CursorValue {
    Int(i64),
    Text(String),
}

/// Tag condition of a list filter: the key exists, or has exactly this value.
#[derive(Debug, Clone, PartialEq)]
pub struct TagFilter {
    pub key: String,
    pub value: Option<String>,
}

/// Filter of `GET /api/v1/projects`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectFilter {
    /// Only these projects' entities (the caller's visible projects); `None`: all.
    pub visible_projects: Option<Vec<String>>,
    pub lifecycle: Lifecycle,
    pub status: Option<ProjectStatus>,
    pub name: Option<String>,
    pub name_contains: Option<String>,
    pub owner: Option<String>,
    pub tag: Option<TagFilter>,
}

/// Which entities a list or search includes, by soft-deletion state (MLflow's view type).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lifecycle {
    /// Not deleted (the default everywhere).
    #[default]
    Active,
    Deleted,
    All,
}

/// A search with an arbitrary filter and order (MLflow's `search` calls): offset-paged, except
/// runs ordered by one metric, which are paged by keyset ([`RunCursor`], see
/// [`keyset_metric`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Search {
    /// Only these projects' entities (the caller's visible projects); `None`: all.
    pub visible_projects: Option<Vec<String>>,
    /// Runs: the experiments to search (empty means none). Experiments: ignored.
    pub experiment_ids: Vec<String>,
    pub filter: Option<Expr>,
    pub lifecycle: Lifecycle,
    pub order_by: Vec<OrderKey>,
    pub offset: usize,
    /// Runs ordered by one metric: the page starts after this run (offset is then 0).
    pub after: Option<RunCursor>,
    /// Items to return; the store fetches one more to tell whether more follow.
    pub limit: usize,
}

/// Where a page of runs ordered by one metric starts: after the run with these sort values.
/// The order is the metric's value (runs without one last), then start time (newest first),
/// then id.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCursor {
    /// The run's latest value of the metric; `None` when it has none (or NaN).
    pub value: Option<f64>,
    /// The run's start time (its creation time when it never started), in ms.
    pub start: i64,
    pub id: String,
}

impl RunCursor {
    /// The cursor after `run` in an order by metric `key`.
    pub fn after(run: &Run, key: &str) -> RunCursor {
        RunCursor {
            value: run
                .metrics
                .iter()
                .find(|m| m.key == key)
                .map(|m| m.last_value)
                .filter(|v| !v.is_nan()),
            start: run.started_at.unwrap_or(run.created_at).millis(),
            id: run.id.clone(),
        }
    }
}

/// The metric a run search orders by when it pages by keyset: an order by one metric alone
/// (MLflow's usual `metrics.x DESC`). Such a search walks the experiment's series of that metric
/// in value order through an index (migration 19) and stops after a page, where any other order
/// sorts every matching run of the experiments for each page.
pub fn keyset_metric(order_by: &[OrderKey]) -> Option<&OrderKey> {
    match order_by {
        [key] if key.entity == ets_domain::filter::Entity::Metric => Some(key),
        _ => None,
    }
}

/// Filter of `GET /api/v1/experiments`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExperimentFilter {
    /// Only these projects' entities (the caller's visible projects); `None`: all.
    pub visible_projects: Option<Vec<String>>,
    pub lifecycle: Lifecycle,
    /// A filter in the search language (`ets_domain::filter`), ANDed with the fields.
    pub expr: Option<Expr>,
    pub project_id: Option<String>,
    pub status: Option<ExperimentStatus>,
    pub name: Option<String>,
    pub name_contains: Option<String>,
    pub tag: Option<TagFilter>,
}

/// Filter of `GET /api/v1/runs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    /// Only these projects' entities (the caller's visible projects); `None`: all.
    pub visible_projects: Option<Vec<String>>,
    pub lifecycle: Lifecycle,
    /// A filter in the search language (`ets_domain::filter`), ANDed with the fields.
    pub expr: Option<Expr>,
    pub project_id: Option<String>,
    pub experiment_id: Option<String>,
    pub status: Option<RunStatus>,
    pub name: Option<String>,
    pub name_contains: Option<String>,
    pub tag: Option<TagFilter>,
    pub parent_run_id: Option<String>,
}

/// Step range and resolution of a series read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesRequest {
    pub start_step: Option<i64>,
    pub end_step: Option<i64>,
    /// Downsample to at most this many points (min/max per bucket); `None` returns all.
    pub max_points: Option<usize>,
}

/// The latest value of one metric key of one run, for cross-run aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestMetric {
    pub experiment_id: String,
    pub run_id: String,
    pub key: String,
    pub value: f64,
}

/// Counters of the connection pool, exported as Prometheus gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolState {
    pub read_connections: usize,
    pub read_connections_idle: usize,
    /// Write jobs waiting for the single writer.
    pub write_queue_depth: usize,
}

/// What goes to the trash: its table names the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trashable {
    Projects,
    Experiments,
    Runs,
}

impl Trashable {
    pub(crate) fn entity(self) -> crate::error::EntityKind {
        use crate::error::EntityKind;
        match self {
            Trashable::Projects => EntityKind::Project,
            Trashable::Experiments => EntityKind::Experiment,
            Trashable::Runs => EntityKind::Run,
        }
    }

    pub(crate) fn table(self) -> &'static str {
        match self {
            Trashable::Projects => "projects",
            Trashable::Experiments => "experiments",
            Trashable::Runs => "runs",
        }
    }

    /// The statement of `Store::restore_times`: `$1` id, `$2` updated_at, `$3` deleted_at.
    pub(crate) fn restore_times_sql(self) -> String {
        format!(
            "UPDATE {} SET updated_at = $2, deleted_at = $3 WHERE id = $1",
            self.table()
        )
    }

    /// The query of `Store::deleted_before`, with the time as `$1`.
    pub(crate) fn deleted_before_sql(self) -> String {
        format!(
            "SELECT id FROM {} WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY deleted_at, id",
            self.table()
        )
    }
}

/// Limits the store enforces inside its transactions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreLimits {
    pub max_concurrent_experiments: u64,
    pub max_runs_per_experiment: u64,
    pub max_metric_keys_per_run: u64,
}

/// The MLflow 3 context of a metric point: the logged model and the dataset it was logged
/// with. Points logged without either have none. The point itself is in the run's series; its
/// context is kept beside it (with the model's metrics when it names a model).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointContext {
    pub run_id: String,
    pub key: String,
    pub step: i64,
    pub timestamp: i64,
    #[serde(with = "ets_domain::value::metric_f64")]
    pub value: f64,
    pub model_id: Option<String>,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// An artifact's record and where its bytes are.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredArtifact {
    pub artifact: Artifact,
    /// The artifact store key of its bytes; `None` for artifacts written before objects had
    /// keys of their own (they live at `<run id>/<path>`).
    pub object_key: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- projects
    /// Creates a project; `admin` (a user id) becomes its first admin in the same transaction.
    async fn create_project(&self, project: Project, admin: Option<String>) -> Result<Project>;
    async fn get_project(&self, id: &str) -> Result<Project>;
    async fn list_projects(
        &self,
        filter: ProjectFilter,
        page: PageRequest,
    ) -> Result<Page<Project>>;
    async fn update_project(&self, id: &str, mutation: Mutation<Project>) -> Result<Project>;
    /// Deletes a project for good; with `cascade` also its experiments and runs, otherwise a
    /// project that still has experiments (trashed or not) is refused with a conflict. Returns
    /// the ids of the runs deleted with it.
    async fn delete_project(&self, id: &str, cascade: bool) -> Result<Vec<String>>;
    /// Moves a project (with its experiments and their runs) to the trash, or restores it
    /// (with what went to the trash with it). Trashing a trashed project changes nothing;
    /// trashing one with experiments outside the trash needs `cascade`.
    async fn set_project_deleted(&self, id: &str, deleted: bool, cascade: bool) -> Result<Project>;
    async fn project_stats(&self, id: &str) -> Result<ProjectStats>;

    // ---- experiments
    async fn create_experiment(&self, experiment: Experiment) -> Result<Experiment>;
    async fn get_experiment(&self, id: &str) -> Result<Experiment>;
    async fn list_experiments(
        &self,
        filter: ExperimentFilter,
        page: PageRequest,
    ) -> Result<Page<Experiment>>;
    /// Applies `mutation`; if it moves the experiment into `running`, refuses when
    /// `limits.max_concurrent_experiments` are running already.
    async fn update_experiment(
        &self,
        id: &str,
        mutation: Mutation<Experiment>,
    ) -> Result<Experiment>;
    /// Deletes an experiment for good with its runs; returns the run ids.
    async fn delete_experiment(&self, id: &str) -> Result<Vec<String>>;
    /// Moves an experiment (and its runs) to the trash, or restores it (and the runs that
    /// went to the trash with it). Trashing a trashed experiment changes nothing; restoring
    /// one whose project is in the trash is a conflict.
    async fn set_experiment_deleted(&self, id: &str, deleted: bool) -> Result<Experiment>;
    /// Experiments matching a search, in the requested order (at most `limit + 1`).
    async fn search_experiments(&self, search: Search) -> Result<Vec<Experiment>>;
    /// The experiment with this name (the oldest, should several projects use it).
    async fn find_experiment_by_name(&self, name: &str) -> Result<Experiment>;
    /// Number of runs of each experiment, in the order given.
    async fn count_runs(&self, experiment_ids: &[String]) -> Result<Vec<i64>>;
    /// Latest values of the given keys (all keys when `None`) for every run of the experiments.
    async fn latest_metrics(
        &self,
        experiment_ids: &[String],
        keys: Option<&[String]>,
    ) -> Result<Vec<LatestMetric>>;

    // ---- runs
    /// Creates a run with its first params and tags, enforcing `max_runs_per_experiment`.
    async fn create_run(&self, run: Run, params: Vec<(String, ParamValue)>) -> Result<Run>;
    async fn get_run(&self, id: &str) -> Result<Run>;
    /// The runs `ids` that exist, in the order given, with their details: one read for the
    /// lot (ids without a run are left out).
    async fn get_runs(&self, ids: Vec<String>) -> Result<Vec<Run>>;
    async fn list_runs(&self, filter: RunFilter, page: PageRequest) -> Result<Page<Run>>;
    /// Applies `mutation` to the run's own fields, adds `params` (write-once: a different value
    /// for an existing key is a conflict and nothing changes) and applies `tags`.
    async fn update_run(
        &self,
        id: &str,
        mutation: Mutation<Run>,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
    ) -> Result<Run>;
    async fn delete_run(&self, id: &str) -> Result<()>;
    /// Runs matching a search, in the requested order (at most `limit + 1`), with details.
    async fn search_runs(&self, search: Search) -> Result<Vec<Run>>;
    /// Records datasets used by a run.
    async fn log_inputs(&self, run_id: &str, inputs: Vec<DatasetInput>) -> Result<()>;
    /// Records logged models a run used or produced, in a run that exists and is not in the
    /// trash; each model must exist (`NotFound`). A link already recorded is kept as it is.
    async fn log_run_models(&self, run_id: &str, models: Vec<RunModel>) -> Result<()>;

    // ---- logged models
    async fn create_logged_model(&self, model: LoggedModel) -> Result<LoggedModel>;
    async fn get_logged_model(&self, id: &str) -> Result<LoggedModel>;
    async fn update_logged_model(
        &self,
        id: &str,
        mutation: Mutation<LoggedModel>,
    ) -> Result<LoggedModel>;
    async fn delete_logged_model(&self, id: &str) -> Result<()>;
    /// Models of the experiments with their metrics, newest first, then by id (MLflow's
    /// default order), at most `limit + 1`.
    async fn search_logged_models(
        &self,
        experiment_ids: &[String],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LoggedModel>>;

    // ---- metrics (the hot path)
    /// The one ingest entry point: adds params (write-once), applies tags, optionally renames
    /// the run, records the points' contexts (model metrics among them: `ingest::split_contexts`)
    /// and appends metric points — all in one transaction.
    /// Returns (points written, duplicates skipped). A point identical in key, step, timestamp
    /// and value (bit for bit, NaN equal to NaN) to a stored one, or to an earlier one of the
    /// request, is a duplicate: a retried request does not double-count, and points that
    /// differ only in value are all kept. Enforces `max_metric_keys_per_run`. The rules are
    /// `store::ingest`'s; metrics alone go through [`log_metrics`].
    async fn log_batch(
        &self,
        run_id: &str,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
        rename: Option<String>,
        points: Vec<SeriesPoints>,
        contexts: Vec<PointContext>,
    ) -> Result<(usize, usize)>;
    /// Summaries of every key of a run; the latest value is the greatest point by
    /// `MetricPoint::series_key` (step, timestamp, value: MLflow's rule).
    async fn metric_summaries(&self, run_id: &str) -> Result<Vec<MetricSummary>>;
    /// The contexts of the points of metric `key` of the runs logged with one, in one read.
    async fn metric_contexts(&self, run_ids: Vec<String>, key: String)
    -> Result<Vec<PointContext>>;
    /// A series (or a step range of it) in `MetricPoint::series_key` order, downsampled when
    /// asked.
    async fn metric_series(
        &self,
        run_id: &str,
        key: &str,
        request: SeriesRequest,
    ) -> Result<MetricSeries>;

    // ---- run logs (see `store::logs`)
    /// Appends a batch of log lines (one chunk) to a run that exists and is not in the trash
    /// (`rules::check_run_active`, as for metrics), numbering its lines after the run's last
    /// one. A batch whose `batch_id` the run already has is a retry: identical, it is not
    /// stored again; different, it is a conflict (`logs::check_retry`).
    async fn append_logs(&self, run_id: &str, chunk: logs::NewLogChunk) -> Result<logs::LogAppend>;
    /// The chunks a read wants, in (run id, line) order, at most `query.limit`.
    async fn log_chunks(&self, query: logs::LogChunkQuery) -> Result<Vec<logs::StoredLogChunk>>;
    /// Lines in a run's log (the number its next line gets); `NotFound` when there is no
    /// such run.
    async fn log_line_count(&self, run_id: &str) -> Result<i64>;

    // ---- artifacts (metadata; bytes live in the artifact store)
    /// Records (or replaces) the artifact at `artifact.path`, whose bytes are the object
    /// `object_key`, in a run that exists and is not in the trash. Returns the record it
    /// replaced, whose object the caller removes.
    async fn put_artifact(
        &self,
        run_id: &str,
        artifact: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>>;
    async fn list_artifacts(&self, run_id: &str, prefix: Option<&str>) -> Result<Vec<Artifact>>;
    async fn get_artifact(&self, run_id: &str, path: &str) -> Result<StoredArtifact>;
    /// Forgets artifacts at `path` or below it; returns them (their objects are the caller's
    /// to remove).
    async fn delete_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<StoredArtifact>>;
    /// Object keys of every artifact of a run (trashed or not); `None` when the run does not
    /// exist. For garbage collection.
    async fn artifact_object_keys(&self, run_id: &str) -> Result<Option<Vec<String>>>;

    // ---- the artifact proxy's files outside runs (see `store::files`)
    /// Records (or replaces) the file at `file.path`, inside the folder of `experiment_id` or
    /// in the shared area; returns the record it replaced (its object is the caller's).
    async fn put_file(
        &self,
        experiment_id: Option<String>,
        file: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>>;
    /// Files whose path starts with `prefix` (all when `None`), by path.
    async fn list_files(&self, prefix: Option<&str>) -> Result<Vec<StoredArtifact>>;
    async fn get_file(&self, path: &str) -> Result<StoredArtifact>;
    /// Forgets the file at `path`, or the files below it as a folder; returns them.
    async fn delete_files(&self, path: &str) -> Result<Vec<StoredArtifact>>;
    /// Every object key a file names.
    async fn file_object_keys(&self) -> Result<Vec<String>>;
    /// Runs moved to the trash before `before`.
    async fn runs_deleted_before(&self, before: ets_domain::Timestamp) -> Result<Vec<String>> {
        self.deleted_before(Trashable::Runs, before).await
    }
    /// Ids of the entities of a kind moved to the trash before `before`, oldest first.
    async fn deleted_before(
        &self,
        kind: Trashable,
        before: ets_domain::Timestamp,
    ) -> Result<Vec<String>>;

    // ---- identities (see `store::identity`)
    /// The id of the project `entity` `id` belongs to (a project, experiment, run or logged
    /// model); `NotFound` when it does not exist.
    /// Puts back the `updated_at` and `deleted_at` an archive recorded for a project,
    /// experiment or run (`ets import DIR` writes an entity's contents first, which marks it
    /// updated now, and moves it to the trash last). `NotFound` when there is no such entity.
    async fn restore_times(
        &self,
        kind: Trashable,
        id: &str,
        updated_at: ets_domain::Timestamp,
        deleted_at: Option<ets_domain::Timestamp>,
    ) -> Result<()>;
    async fn project_of(&self, entity: crate::error::EntityKind, id: &str) -> Result<String>;
    /// Creates a user or service account; a taken name is `AlreadyExists`.
    async fn create_user(&self, user: UserRecord) -> Result<UserRecord>;
    async fn get_user(&self, by: UserRef) -> Result<UserRecord>;
    async fn list_users(&self) -> Result<Vec<UserRecord>>;
    async fn update_user(&self, by: UserRef, mutation: Mutation<UserRecord>) -> Result<UserRecord>;
    async fn create_api_key(&self, key: ApiKeyRecord) -> Result<ApiKeyRecord>;
    async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>>;
    /// Revokes a key of `user_id` (a revoked key stays listed, with its revocation time).
    async fn revoke_api_key(&self, user_id: &str, key_id: &str, at: i64) -> Result<ApiKeyRecord>;
    /// The key with its user and the user's project roles (one read), for authentication.
    async fn key_login(&self, key_id: &str) -> Result<Option<KeyLogin>>;
    /// Records a key's use (to the minute). Bookkeeping, not a change of state: not audited.
    async fn touch_api_key(&self, key_id: &str, at: i64) -> Result<()>;
    /// Project roles of a user.
    async fn user_roles(&self, user_id: &str) -> Result<Vec<(String, Role)>>;
    async fn list_members(&self, project_id: &str) -> Result<Vec<MemberRecord>>;
    /// Gives a user a role on a project (`None` removes it); a project keeps one admin.
    async fn set_member(
        &self,
        project_id: &str,
        user: UserRef,
        role: Option<Role>,
        at: i64,
    ) -> Result<Option<MemberRecord>>;
    async fn create_session(&self, session: SessionRecord) -> Result<()>;
    async fn get_session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>>;
    async fn delete_session(&self, token_hash: &[u8]) -> Result<()>;
    // ---- saved views: charts and dashboards (see `store::views`)
    /// Saves a new chart or dashboard (a dashboard's charts must exist: `NotFound` otherwise).
    async fn create_view(&self, view: ViewRecord) -> Result<ViewRecord>;
    async fn get_view(&self, kind: ViewKind, id: &str) -> Result<ViewRecord>;
    async fn list_views(&self, query: ViewQuery) -> Result<Vec<ViewRecord>>;
    /// Applies `mutation` to the stored view and saves it (a dashboard's charts too).
    async fn update_view(
        &self,
        kind: ViewKind,
        id: &str,
        mutation: Mutation<ViewRecord>,
    ) -> Result<ViewRecord>;
    /// Deletes a view; a deleted chart leaves every dashboard that showed it.
    async fn delete_view(&self, kind: ViewKind, id: &str) -> Result<()>;
    /// Sends the points of each series `(run id, key)` whole, in series order, one series at
    /// a time as `(index in series, points)`, so a caller reducing them holds one series at
    /// once. Series that do not exist are sent empty. Stops early when `out` is closed.
    async fn stream_series(
        &self,
        series: Vec<(String, String)>,
        out: tokio::sync::mpsc::Sender<(usize, Vec<MetricPoint>)>,
    ) -> Result<()>;
    /// The lowest and highest step of each series `(run id, key)` (`None`: no points), from
    /// the chunks' bounds without reading points.
    async fn series_step_bounds(
        &self,
        series: Vec<(String, String)>,
    ) -> Result<Vec<Option<(i64, i64)>>>;
    /// The distinct datasets used in the experiments, with their contexts (`store::datasets`).
    async fn dataset_summaries(
        &self,
        experiment_ids: Vec<String>,
    ) -> Result<Vec<datasets::DatasetSummary>>;
    // ---- studies and trials (see `store::studies`)
    /// Records a study (`AlreadyExists` when its experiment has one of that name); returns it
    /// numbered.
    async fn create_study(&self, study: StudyRecord) -> Result<StudyRecord>;
    async fn get_study(&self, id: &str) -> Result<StudyRecord>;
    /// The study of that number (Optuna's study id).
    async fn study_by_seq(&self, seq: i64) -> Result<StudyRecord>;
    /// The experiment's studies, oldest first.
    async fn studies(&self, experiment_id: &str) -> Result<Vec<StudyRecord>>;
    /// The studies of the project's experiments, by number.
    async fn project_studies(&self, project_id: &str) -> Result<Vec<StudyRecord>>;
    /// Removes a study with its trials (their runs stay).
    async fn delete_study(&self, id: &str) -> Result<()>;
    async fn set_study_attr(
        &self,
        study_id: &str,
        kind: AttrKind,
        key: &str,
        value: &str,
    ) -> Result<()>;
    async fn study_attrs(&self, study_id: &str) -> Result<Vec<AttrRecord>>;
    /// The attributes of every study of the project (one read for `project_studies`).
    async fn project_study_attrs(&self, project_id: &str) -> Result<Vec<AttrRecord>>;
    /// Adds a parameter's distribution to the study's search space unless it has one.
    async fn grow_search_space(
        &self,
        study_id: &str,
        name: &str,
        distribution: serde_json::Value,
    ) -> Result<()>;
    /// Records a trial numbered after the study's last one (with its intermediate values
    /// and attributes); returns it.
    async fn add_trial(&self, trial: NewTrial) -> Result<TrialRecord>;
    /// Creates a run (as `create_run`: lifecycle and limits) and the trial it carries
    /// (`trial.run_id` names it; numbered as `add_trial`) in one transaction; returns both,
    /// the run as created. The trial's params were sampled for number `number` (the study's
    /// next one as last read): when the trial would take another (another ask was first),
    /// nothing is written and the answer is `AlreadyExists` for the trial
    /// (`studies::trial_number_taken`). With `seen`, the params were sampled from that view
    /// of the study's unfinished trials without reading it: when the study's trials differ
    /// from it, nothing is written either (`studies::trials_changed`).
    async fn start_trial(
        &self,
        run: Run,
        params: Vec<(String, ParamValue)>,
        trial: NewTrial,
        number: i64,
        seen: Option<OpenTrials>,
    ) -> Result<(Run, TrialRecord)>;
    /// Sets one param and its distribution; `Conflict` when the trial is finished.
    async fn set_trial_param(
        &self,
        id: &str,
        name: &str,
        value: serde_json::Value,
        distribution: serde_json::Value,
    ) -> Result<()>;
    /// A trial with its intermediate values and attributes.
    async fn get_trial(&self, id: &str) -> Result<TrialRecord>;
    /// A trial (as [`get_trial`](Self::get_trial)) and its study, on one snapshot: what a
    /// tell reads (one round trip on PostgreSQL).
    async fn trial_with_study(&self, id: &str) -> Result<(TrialRecord, StudyRecord)>;
    async fn trial_by_number(&self, study_id: &str, number: i64) -> Result<TrialRecord>;
    /// Every trial of a study with its intermediate values, by number.
    async fn trials(&self, study_id: &str) -> Result<Vec<TrialRecord>> {
        Ok(self.trials_after(study_id, -1).await?.1)
    }
    /// The study and its trials numbered above `after`, with values and attributes, by
    /// number (one snapshot).
    async fn trials_after(
        &self,
        study_id: &str,
        after: i64,
    ) -> Result<(StudyRecord, Vec<TrialRecord>)>;
    /// The experiment's studies (as [`Store::studies`] orders them), each with its trials,
    /// with values and attributes, by number (one snapshot; a fixed number of statements
    /// whatever the number of studies).
    async fn experiment_trials(
        &self,
        experiment_id: &str,
    ) -> Result<Vec<(StudyRecord, Vec<TrialRecord>)>>;
    /// Moves a trial that is not finished to its final `state`; `Conflict` when it is.
    async fn finish_trial(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
    ) -> Result<TrialRecord> {
        debug_assert!(state.is_finished());
        self.set_trial_state(id, state, values, at)
            .await?
            .ok_or_else(studies::final_state_skipped)
    }
    /// Moves a trial that is not finished to its final `state` (as `finish_trial`) and ends
    /// its run (`run`: points as `log_batch`, then the mutation as `update_run`), in one
    /// transaction. Returns the trial, and the run as left with the number of points written.
    async fn tell_trial(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
        run: Option<TrialRunEnd>,
    ) -> Result<(TrialRecord, Option<(Run, usize)>)>;
    /// Moves a trial as Optuna's storages do: `Ok(None)` when asked to run a trial that is
    /// not waiting (another worker claimed it); `Conflict` when it is finished.
    async fn set_trial_state(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
    ) -> Result<Option<TrialRecord>>;
    /// Sets an attribute of a trial that is not finished (`Conflict` otherwise).
    async fn set_trial_attr(&self, id: &str, kind: AttrKind, key: &str, value: &str) -> Result<()>;
    /// Records a running trial's value at `step` (replacing one there); `Conflict` when the
    /// trial is not running.
    async fn report_trial_value(&self, id: &str, step: i64, value: f64) -> Result<()>;

    // ---- signatures (see `store::signatures`)
    /// Records a signature of a run that exists.
    async fn add_signature(&self, signature: SignatureRecord) -> Result<SignatureRecord>;
    /// The runs' signatures, oldest first.
    async fn signatures(&self, run_ids: Vec<String>) -> Result<Vec<SignatureRecord>>;
    // ---- alerts (see `store::alerts`)
    async fn create_alert_rule(&self, rule: AlertRuleRecord) -> Result<AlertRuleRecord>;
    async fn get_alert_rule(&self, id: &str) -> Result<AlertRuleRecord>;
    /// Every rule (`None`), or those of the given projects.
    async fn list_alert_rules(&self, projects: Option<Vec<String>>)
    -> Result<Vec<AlertRuleRecord>>;
    async fn update_alert_rule(
        &self,
        id: &str,
        mutation: Mutation<AlertRuleRecord>,
    ) -> Result<AlertRuleRecord>;
    /// Deletes a rule with its alerts and their deliveries.
    async fn delete_alert_rule(&self, id: &str) -> Result<()>;
    /// Opens `alert` and queues `delivery` in one transaction, unless its rule already has an
    /// open alert on the run: then nothing is written and the answer is `false`.
    async fn fire_alert(
        &self,
        alert: AlertRecord,
        delivery: Option<DeliveryRecord>,
    ) -> Result<bool>;
    /// Resolves an open alert and queues `delivery` in one transaction; `false` (nothing
    /// written) when it is no longer open.
    async fn resolve_alert(
        &self,
        id: &str,
        at: i64,
        delivery: Option<DeliveryRecord>,
    ) -> Result<bool>;
    /// Acknowledges an open alert (`Conflict` when it is resolved).
    async fn acknowledge_alert(&self, id: &str, by: &str, at: i64) -> Result<AlertRecord>;
    async fn get_alert(&self, id: &str) -> Result<AlertRecord>;
    async fn list_alerts(&self, query: AlertQuery) -> Result<Vec<AlertRecord>>;
    /// The open (firing or acknowledged) alerts of the runs.
    async fn open_alerts(&self, run_ids: Vec<String>) -> Result<Vec<AlertRecord>>;
    async fn alert_deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRecord>>;
    /// Leases up to `limit` deliveries due at `now` until `lease_until`, counting the attempt
    /// (several instances never lease the same row at once).
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>>;
    async fn finish_delivery(&self, id: &str, outcome: DeliveryOutcome) -> Result<()>;
    /// Runs of the experiments and projects that are running or were active since `since`.
    async fn alert_sweep_runs(
        &self,
        since: i64,
        experiment_ids: Vec<String>,
        project_ids: Vec<String>,
        limit: u32,
    ) -> Result<Vec<String>>;
    // ---- audit trail (records are appended by the backends' write helpers: `crate::audit`)
    /// One page of audit records.
    async fn audit_records(&self, query: AuditQuery) -> Result<Page<AuditRecord>>;
    /// Checks the whole trail in `seq` order, on one snapshot.
    async fn verify_audit(&self) -> Result<VerifyReport>;
    /// Whether the experiment, or the run's experiment, has a healthcare configuration (false
    /// when it does not exist).
    async fn is_healthcare(&self, of: DataOf) -> Result<bool>;
    /// A write of nothing but the audit event in scope (`audit::with_event`): audited reads.
    async fn append_audit(&self) -> Result<()>;

    // ---- operations
    /// A cheap round trip to the database, for readiness.
    async fn ping(&self) -> Result<()>;
    fn pool_state(&self) -> PoolState;
}

/// Appends metric points alone: [`Store::log_batch`] without params, tags or model metrics.
pub async fn log_metrics(
    store: &dyn Store,
    run_id: &str,
    points: Vec<SeriesPoints>,
) -> Result<(usize, usize)> {
    store
        .log_batch(
            run_id,
            Vec::new(),
            TagPatch::default(),
            None,
            points,
            Vec::new(),
        )
        .await
}

/// Opens the store `database` names: a SQLite file (created and migrated) or a PostgreSQL
/// database (migrated when `run_migrations`, else its schema version is checked), behind the
/// audit trail's [`AuditedStore`].
pub async fn open(
    database: &DatabaseUrl,
    pool_size: u32,
    limits: StoreLimits,
    run_migrations: bool,
) -> Result<Arc<dyn Store>> {
    let backend: Arc<dyn Store> = match database {
        DatabaseUrl::Postgres(options) => {
            Arc::new(postgres::PgStore::open(options, pool_size, limits, run_migrations).await?)
        }
        DatabaseUrl::Sqlite(path) => {
            Arc::new(sqlite::SqliteStore::open(path, pool_size, limits).await?)
        }
    };
    Ok(Arc::new(AuditedStore::new(backend)))
}

/// Creates or upgrades the schema of `database`; returns the versions applied.
pub async fn migrate(database: &DatabaseUrl) -> Result<Vec<i64>> {
    match database {
        DatabaseUrl::Postgres(options) => postgres::migrate(options).await,
        DatabaseUrl::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || sqlite::migrate_file(&path))
                .await
                .map_err(|e| crate::error::Error::internal(format!("migration failed: {e}")))?
        }
    }
}

/// Cuts the extra row off a page query's result (the backends fetch `page_size + 1`) and
/// builds the cursor for the next page.
pub(crate) fn finish_page<T>(
    mut items: Vec<T>,
    page: &PageRequest,
    key: impl Fn(&T) -> (CursorValue, String),
) -> Page<T> {
    let has_more = items.len() > page.page_size as usize;
    items.truncate(page.page_size as usize);
    let next_page_token = match (has_more, items.last()) {
        (true, Some(last)) => {
            let (sort_value, id) = key(last);
            Some(Cursor { sort_value, id }.encode(page.sort, page.descending))
        }
        _ => None,
    };
    Page {
        items,
        next_page_token,
    }
}

/// Cursor key of an entity for the requested sort.
pub(crate) fn cursor_key(
    sort: SortField,
    id: &str,
    name: &str,
    created_at: i64,
    updated_at: i64,
) -> (CursorValue, String) {
    let value = match sort {
        SortField::CreatedAt => CursorValue::Int(created_at),
        SortField::UpdatedAt => CursorValue::Int(updated_at),
        SortField::Name => CursorValue::Text(name.to_owned()),
    };
    (value, id.to_owned())
}

/// A metric value as both schemas store it: NaN as NULL (SQLite turns NaN into NULL anyway;
/// PostgreSQL follows so the backends agree on ordering and filters). ±inf are stored as is.
pub(crate) fn value_to_sql(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
}

/// The inverse of [`value_to_sql`].
pub(crate) fn value_from_sql(value: Option<f64>) -> f64 {
    value.unwrap_or(f64::NAN)
}

/// The sort as a list request spells it: `name`, `-name`, …
fn sort_key(sort: SortField, descending: bool) -> String {
    if descending {
        format!("-{}", sort.as_str())
    } else {
        sort.as_str().to_owned()
    }
}

impl Cursor {
    /// An opaque, URL-safe token: base64 of `[sort, sort value, id]`, where `sort` is the
    /// field with a `-` prefix when descending (a cursor only means something in the direction
    /// it was issued for).
    pub fn encode(&self, sort: SortField, descending: bool) -> String {
        use base64::Engine;
        let value = match &self.sort_value {
            CursorValue::Int(v) => serde_json::Value::from(*v),
            CursorValue::Text(v) => serde_json::Value::from(v.as_str()),
        };
        let json = serde_json::json!([sort_key(sort, descending), value, self.id]).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a token issued for `sort` in this direction; `None` when it is malformed or was
    /// issued for another sort field or direction.
    pub fn decode(token: &str, sort: SortField, descending: bool) -> Option<Cursor> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let (field, value, id): (String, serde_json::Value, String) =
            serde_json::from_slice(&bytes).ok()?;
        if field != sort_key(sort, descending) {
            return None;
        }
        let sort_value = match (sort, value) {
            (SortField::Name, serde_json::Value::String(s)) => CursorValue::Text(s),
            (SortField::CreatedAt | SortField::UpdatedAt, serde_json::Value::Number(n)) => {
                CursorValue::Int(n.as_i64()?)
            }
            _ => return None,
        };
        Some(Cursor { sort_value, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_sort_binding() {
        let cursor = Cursor {
            sort_value: CursorValue::Int(42),
            id: "abc".into(),
        };
        let token = cursor.encode(SortField::CreatedAt, false);
        assert_eq!(
            Cursor::decode(&token, SortField::CreatedAt, false),
            Some(cursor)
        );
        assert_eq!(
            Cursor::decode(&token, SortField::Name, false),
            None,
            "a token is bound to its sort"
        );
        assert_eq!(
            Cursor::decode(&token, SortField::CreatedAt, true),
            None,
            "a token is bound to its direction"
        );
        assert_eq!(
            Cursor::decode("not a token", SortField::CreatedAt, false),
            None
        );
        let named = Cursor {
            sort_value: CursorValue::Text("zeta".into()),
            id: "x".into(),
        };
        assert_eq!(
            Cursor::decode(&named.encode(SortField::Name, true), SortField::Name, true),
            Some(named)
        );
    }
}
