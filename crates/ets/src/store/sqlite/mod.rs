//! The embedded SQLite backend: one file in the data directory, WAL mode.

mod alerts;
mod audit;
mod datasets;
mod experiments;
mod files;
mod identity;
mod logs;
mod metrics;
mod models;
mod pool;
mod projects;
mod runs;
mod search;
mod signatures;
mod sql;
mod studies;
mod views;

use std::path::Path;

use async_trait::async_trait;
use ets_domain::Timestamp;
use ets_domain::model::{
    Artifact, DatasetInput, Experiment, LoggedModel, MetricPoint, MetricSeries, MetricSummary,
    ParamValue, Project, ProjectStats, Run, RunModel, SeriesPoints, TagPatch,
};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use self::pool::{ReadPool, Writer};
use crate::audit::{AuditRecord, VerifyReport};
use crate::auth::Role;
use crate::error::{EntityKind, Error, Result};
use crate::store::SignatureRecord;
use crate::store::identity::{
    ApiKeyRecord, KeyLogin, MemberRecord, SessionRecord, UserRecord, UserRef,
};
use crate::store::studies as q_attrs;
use crate::store::{
    AlertQuery, AlertRecord, AlertRuleRecord, AttrKind, AttrRecord, AuditQuery, DataOf,
    DeliveryOutcome, DeliveryRecord, ExperimentFilter, LatestMetric, Mutation, NewTrial,
    OpenTrials, Page, PageRequest, PointContext, PoolState, ProjectFilter, RunFilter, Search,
    SeriesRequest, Store, StoreLimits, StoredArtifact, StudyRecord, TrialRecord, TrialRunEnd,
    TrialState, ViewKind, ViewQuery, ViewRecord, ingest,
};

/// Embedded migrations, applied in order at start-up. Never edit a released one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "mlflow",
        include_str!("../../../migrations/sqlite/0002_mlflow.sql"),
    ),
    (
        3,
        "artifact_objects",
        include_str!("../../../migrations/sqlite/0003_artifact_objects.sql"),
    ),
    (
        4,
        "trash",
        include_str!("../../../migrations/sqlite/0004_trash.sql"),
    ),
    (
        5,
        "tag_values",
        include_str!("../../../migrations/sqlite/0005_tag_values.sql"),
    ),
    (
        6,
        "model_metric_values",
        include_str!("../../../migrations/sqlite/0006_model_metric_values.sql"),
    ),
    (
        7,
        "auth",
        include_str!("../../../migrations/sqlite/0007_auth.sql"),
    ),
    (
        8,
        "audit",
        include_str!("../../../migrations/sqlite/0008_audit.sql"),
    ),
    (
        9,
        "views",
        include_str!("../../../migrations/sqlite/0009_views.sql"),
    ),
    (
        10,
        "alerts",
        include_str!("../../../migrations/sqlite/0010_alerts.sql"),
    ),
    (
        11,
        "signatures",
        include_str!("../../../migrations/sqlite/0011_signatures.sql"),
    ),
    (
        12,
        "chunk_ranges",
        include_str!("../../../migrations/sqlite/0012_chunk_ranges.sql"),
    ),
    (
        13,
        "artifact_locations",
        include_str!("../../../migrations/sqlite/0013_artifact_locations.sql"),
    ),
    (
        14,
        "model_links",
        include_str!("../../../migrations/sqlite/0014_model_links.sql"),
    ),
    (
        15,
        "studies",
        include_str!("../../../migrations/sqlite/0015_studies.sql"),
    ),
    (
        16,
        "optuna_storage",
        include_str!("../../../migrations/sqlite/0016_optuna_storage.sql"),
    ),
    (
        17,
        "run_count",
        include_str!("../../../migrations/sqlite/0017_run_count.sql"),
    ),
    (
        18,
        "run_logs",
        include_str!("../../../migrations/sqlite/0018_run_logs.sql"),
    ),
    (
        19,
        "chunk_summaries",
        include_str!("../../../migrations/sqlite/0019_chunk_summaries.sql"),
    ),
    (
        20,
        "metric_order",
        include_str!("../../../migrations/sqlite/0020_metric_order.sql"),
    ),
    (
        21,
        "chunk_encoding",
        include_str!("../../../migrations/sqlite/0021_chunk_encoding.sql"),
    ),
];

/// Moves the children of an experiment (`project`: false) or project along with it into or
/// out of the trash (the statements of `store::statements`, which take the entity's id and `at`).
fn move_children(
    conn: &Connection,
    project: bool,
    change: crate::store::rules::TrashMove,
    id: &str,
    at: Timestamp,
) -> Result<()> {
    for statement in crate::store::statements::children(project, change) {
        conn.prepare_cached(&sql::numbered(statement))?
            .execute(params![id, at.millis()])?;
    }
    Ok(())
}

/// SQLite store: one writer thread (group commit) and a pool of readers.
pub struct SqliteStore {
    writer: Writer,
    readers: ReadPool,
    limits: StoreLimits,
}

/// Settings of every connection. WAL lets readers run beside the writer; `synchronous =
/// NORMAL` in WAL mode survives a process crash (`kill -9`) without losing committed data and
/// only risks the last commits on power loss, at a fraction of FULL's fsync cost.
const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
     PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; \
     PRAGMA mmap_size = 268435456;";

fn open_connection(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        Error::internal(format!(
            "cannot open SQLite database '{}': {e}",
            path.display()
        ))
    })?;
    conn.execute_batch(CONNECTION_PRAGMAS)?;
    // Plans never depend on bound values (the query planner stability guarantee). Without
    // it, SQLite re-prepares some cached statements on every new binding (`number > ?2`, a
    // run by id: eight re-parses per HPO ask and tell, seen in `perf probe` of
    // sqlite3Reprepare), and ETS has no statistics (no ANALYZE) for values to steer a plan.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Applies pending migrations, all in one transaction (a database is left at its old version
/// or brought fully up to date, and a fresh one is created in one commit); returns the
/// versions applied now.
fn migrate(conn: &mut Connection) -> Result<Vec<i64>> {
    apply_migrations(conn, MIGRATIONS)
}

fn apply_migrations(conn: &mut Connection, migrations: &[(i64, &str, &str)]) -> Result<Vec<i64>> {
    let tx = conn.transaction()?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         applied_at INTEGER NOT NULL)",
    )?;
    let mut applied = Vec::new();
    for (version, name, sql) in migrations {
        let done: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_some() {
            continue;
        }
        tx.execute_batch(sql)
            .map_err(|e| Error::internal(format!("migration {version} ({name}) failed: {e}")))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![version, name, Timestamp::now().millis()],
        )?;
        applied.push(*version);
    }
    tx.commit()?;
    Ok(applied)
}

/// Creates the database if needed and applies migrations (what `ets migrate` does).
pub fn migrate_file(path: &Path) -> Result<Vec<i64>> {
    open_migrated(path).map(|(_, applied)| applied)
}

/// Creates the database if needed and applies migrations; returns the read-write connection
/// that did it (in WAL mode) and the versions applied.
fn open_migrated(path: &Path) -> Result<(Connection, Vec<i64>)> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::private_files::create_dir_all(parent, "database folder").map_err(|e| {
            Error::internal(format!("cannot create folder '{}': {e}", parent.display()))
        })?;
    }
    // Created 0600 before SQLite opens it: its -wal and -shm files take the same mode.
    crate::private_files::create_file(path, "database file").map_err(|e| {
        Error::internal(format!("cannot create database '{}': {e}", path.display()))
    })?;
    let mut conn = open_connection(path, false)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::internal(format!(
            "SQLite refused WAL mode (got '{mode}'); is '{}' on a network share?",
            path.display()
        )));
    }
    let applied = migrate(&mut conn)?;
    Ok((conn, applied))
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `path` with up to `readers` read
    /// connections: the first now (so a database that cannot be read fails the start), the
    /// others when concurrent reads need them.
    pub async fn open(path: &Path, readers: u32, limits: StoreLimits) -> Result<SqliteStore> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            // The connection that migrated becomes the writer's: its schema is loaded already.
            let (conn, applied) = open_migrated(&path)?;
            if !applied.is_empty() {
                tracing::info!(database = %path.display(), versions = ?applied, "applied migrations");
            }
            let writer = Writer::start(conn)?;
            let first = open_connection(&path, true)?;
            let readers = ReadPool::new(first, readers as usize, move || open_connection(&path, true));
            Ok(SqliteStore { writer, readers, limits })
        })
        .await
        .map_err(|e| Error::internal(format!("opening the database failed: {e}")))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_project(&self, project: Project, admin: Option<String>) -> Result<Project> {
        self.writer
            .run(move |c| {
                projects::insert(c, &project)?;
                if let Some(admin) = &admin {
                    identity::add_first_admin(c, &project.id, admin, project.created_at.millis())?;
                }
                Ok(project)
            })
            .await
    }

    async fn get_project(&self, id: &str) -> Result<Project> {
        let id = id.to_owned();
        self.readers.run(move |c| projects::get(c, &id)).await
    }

    async fn list_projects(
        &self,
        filter: ProjectFilter,
        page: PageRequest,
    ) -> Result<Page<Project>> {
        self.readers
            .run(move |c| projects::list(c, &filter, &page))
            .await
    }

    async fn update_project(&self, id: &str, mutation: Mutation<Project>) -> Result<Project> {
        let id = id.to_owned();
        self.writer
            .run(move |c| projects::update(c, &id, mutation))
            .await
    }

    async fn delete_project(&self, id: &str, cascade: bool) -> Result<Vec<String>> {
        let id = id.to_owned();
        self.writer
            .run(move |c| projects::delete(c, &id, cascade))
            .await
    }

    async fn set_project_deleted(&self, id: &str, deleted: bool, cascade: bool) -> Result<Project> {
        let id = id.to_owned();
        self.writer
            .run(move |c| projects::set_deleted(c, &id, deleted, cascade))
            .await
    }

    async fn project_stats(&self, id: &str) -> Result<ProjectStats> {
        let id = id.to_owned();
        self.readers
            .run(move |c| in_snapshot(c, |c| projects::stats(c, &id)))
            .await
    }

    async fn create_experiment(&self, experiment: Experiment) -> Result<Experiment> {
        self.writer
            .run(move |c| experiments::insert(c, &experiment).map(|()| experiment))
            .await
    }

    async fn get_experiment(&self, id: &str) -> Result<Experiment> {
        let id = id.to_owned();
        self.readers.run(move |c| experiments::get(c, &id)).await
    }

    async fn list_experiments(
        &self,
        filter: ExperimentFilter,
        page: PageRequest,
    ) -> Result<Page<Experiment>> {
        self.readers
            .run(move |c| experiments::list(c, &filter, &page))
            .await
    }

    async fn update_experiment(
        &self,
        id: &str,
        mutation: Mutation<Experiment>,
    ) -> Result<Experiment> {
        let (id, limits) = (id.to_owned(), self.limits);
        self.writer
            .run(move |c| experiments::update(c, &id, mutation, &limits))
            .await
    }

    async fn delete_experiment(&self, id: &str) -> Result<Vec<String>> {
        let id = id.to_owned();
        self.writer.run(move |c| experiments::delete(c, &id)).await
    }

    async fn count_runs(&self, experiment_ids: &[String]) -> Result<Vec<i64>> {
        let ids = experiment_ids.to_vec();
        self.readers
            .run(move |c| experiments::count_runs(c, &ids))
            .await
    }

    async fn latest_metrics(
        &self,
        experiment_ids: &[String],
        keys: Option<&[String]>,
    ) -> Result<Vec<LatestMetric>> {
        let (ids, keys) = (experiment_ids.to_vec(), keys.map(<[String]>::to_vec));
        self.readers
            .run(move |c| experiments::latest_metrics(c, &ids, keys.as_deref()))
            .await
    }

    async fn create_run(&self, run: Run, params: Vec<(String, ParamValue)>) -> Result<Run> {
        let limits = self.limits;
        self.writer
            .run(move |c| {
                runs::insert(c, &run, &params, &limits)?;
                runs::get(c, &run.id)
            })
            .await
    }

    async fn get_run(&self, id: &str) -> Result<Run> {
        let id = id.to_owned();
        self.readers
            .run(move |c| in_snapshot(c, |c| runs::get(c, &id)))
            .await
    }

    async fn get_runs(&self, ids: Vec<String>) -> Result<Vec<Run>> {
        self.readers
            .run(move |c| in_snapshot(c, |c| runs::get_many(c, &ids)))
            .await
    }

    async fn list_runs(&self, filter: RunFilter, page: PageRequest) -> Result<Page<Run>> {
        self.readers
            .run(move |c| in_snapshot(c, |c| runs::list(c, &filter, &page)))
            .await
    }

    async fn update_run(
        &self,
        id: &str,
        mutation: Mutation<Run>,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
    ) -> Result<Run> {
        let id = id.to_owned();
        self.writer
            .run(move |c| runs::update(c, &id, mutation, &params, &tags))
            .await
    }

    async fn delete_run(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.writer.run(move |c| runs::delete(c, &id)).await
    }

    async fn log_batch(
        &self,
        run_id: &str,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
        rename: Option<String>,
        points: Vec<SeriesPoints>,
        contexts: Vec<PointContext>,
    ) -> Result<(usize, usize)> {
        let (run_id, limits) = (run_id.to_owned(), self.limits);
        self.writer
            .run(move |c| {
                if ingest::writes_run_metadata(&params, &tags, rename.as_ref(), &points) {
                    runs::log_params_and_tags(c, &run_id, &params, &tags, rename)?;
                }
                let counts = if points.is_empty() {
                    (0, 0)
                } else {
                    metrics::log(c, &run_id, points, &limits)?
                };
                let (model_metrics, point_datasets) = ingest::split_contexts(contexts);
                models::log_metrics(c, &model_metrics)?;
                models::log_point_datasets(c, &point_datasets)?;
                Ok(counts)
            })
            .await
    }

    async fn metric_summaries(&self, run_id: &str) -> Result<Vec<MetricSummary>> {
        let run_id = run_id.to_owned();
        self.readers
            .run(move |c| in_snapshot(c, |c| metrics::summaries(c, &run_id)))
            .await
    }

    async fn metric_contexts(
        &self,
        run_ids: Vec<String>,
        key: String,
    ) -> Result<Vec<PointContext>> {
        self.readers
            .run(move |c| models::metric_contexts(c, &run_ids, &key))
            .await
    }

    async fn metric_series(
        &self,
        run_id: &str,
        key: &str,
        request: SeriesRequest,
    ) -> Result<MetricSeries> {
        let (run_id, key) = (run_id.to_owned(), key.to_owned());
        self.readers
            .run(move |c| in_snapshot(c, |c| metrics::series(c, &run_id, &key, &request)))
            .await
    }

    async fn append_logs(
        &self,
        run_id: &str,
        chunk: crate::store::logs::NewLogChunk,
    ) -> Result<crate::store::logs::LogAppend> {
        let run_id = run_id.to_owned();
        self.writer
            .run(move |c| logs::append(c, &run_id, &chunk))
            .await
    }

    async fn log_chunks(
        &self,
        query: crate::store::logs::LogChunkQuery,
    ) -> Result<Vec<crate::store::logs::StoredLogChunk>> {
        self.readers.run(move |c| logs::chunks(c, &query)).await
    }

    async fn log_line_count(&self, run_id: &str) -> Result<i64> {
        let run_id = run_id.to_owned();
        self.readers.run(move |c| logs::next_line(c, &run_id)).await
    }

    async fn put_artifact(
        &self,
        run_id: &str,
        artifact: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>> {
        let run_id = run_id.to_owned();
        self.writer
            .run(move |c| {
                runs::ensure_active(c, &run_id)?;
                let previous = c
                    .prepare_cached(&format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = ?1 AND path = ?2"))?
                    .query_row(params![run_id, artifact.path], stored_artifact_from_row)
                    .optional()?;
                c.prepare_cached(
                    "INSERT INTO artifacts (run_id, path, size, sha256, content_type, created_at, object_key) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (run_id, path) DO UPDATE SET size = excluded.size, \
                     sha256 = excluded.sha256, content_type = excluded.content_type, created_at = excluded.created_at, \
                     object_key = excluded.object_key",
                )?
                .execute(params![
                    run_id,
                    artifact.path,
                    artifact.size,
                    artifact.sha256,
                    artifact.content_type,
                    artifact.created_at.millis(),
                    object_key,
                ])?;
                Ok(previous)
            })
            .await
    }

    async fn list_artifacts(&self, run_id: &str, prefix: Option<&str>) -> Result<Vec<Artifact>> {
        let (run_id, prefix) = (run_id.to_owned(), prefix.map(str::to_owned));
        self.readers
            .run(move |c| {
                runs::get(c, &run_id)?;
                let mut sql = Sql::new(&format!(
                    "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = "
                ));
                sql.bind(run_id.clone());
                if let Some(prefix) = prefix {
                    // Range scan on the primary key instead of LIKE (no wildcard escaping needed).
                    sql.push(" AND path >= ")
                        .bind(prefix.clone())
                        .push(" AND path < ")
                        .bind(format!("{prefix}\u{10FFFF}"));
                }
                sql.push(" ORDER BY path");
                Ok(sql.query(c, artifact_from_row)?)
            })
            .await
    }

    async fn get_artifact(&self, run_id: &str, path: &str) -> Result<StoredArtifact> {
        let (run_id, path) = (run_id.to_owned(), path.to_owned());
        self.readers
            .run(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = ?1 AND path = ?2"
                ))?
                .query_row(params![run_id, path], stored_artifact_from_row)
                .optional()?
                .ok_or_else(|| Error::NotFound {
                    entity: EntityKind::Artifact,
                    id: format!("{path}' of run '{run_id}"),
                })
            })
            .await
    }

    async fn artifact_object_keys(&self, run_id: &str) -> Result<Option<Vec<String>>> {
        let run_id = run_id.to_owned();
        self.readers
            .run(move |c| {
                in_snapshot(c, |c| {
                    let exists = c
                        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
                        .query_row([&run_id], |_| Ok(()))
                        .optional()?;
                    if exists.is_none() {
                        return Ok(None);
                    }
                    let keys = c
                        .prepare_cached("SELECT object_key FROM artifacts WHERE run_id = ?1 AND object_key IS NOT NULL")?
                        .query_map([&run_id], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()?;
                    Ok(Some(keys))
                })
            })
            .await
    }

    async fn put_file(
        &self,
        experiment_id: Option<String>,
        file: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>> {
        self.writer
            .run(move |c| files::put(c, experiment_id.as_deref(), &file, &object_key))
            .await
    }

    async fn list_files(&self, prefix: Option<&str>) -> Result<Vec<StoredArtifact>> {
        let prefix = prefix.map(str::to_owned);
        self.readers
            .run(move |c| files::list(c, prefix.as_deref()))
            .await
    }

    async fn get_file(&self, path: &str) -> Result<StoredArtifact> {
        let path = path.to_owned();
        self.readers.run(move |c| files::get(c, &path)).await
    }

    async fn delete_files(&self, path: &str) -> Result<Vec<StoredArtifact>> {
        let path = path.to_owned();
        self.writer.run(move |c| files::delete(c, &path)).await
    }

    async fn file_object_keys(&self) -> Result<Vec<String>> {
        self.readers.run(files::object_keys).await
    }

    async fn deleted_before(
        &self,
        kind: crate::store::Trashable,
        before: Timestamp,
    ) -> Result<Vec<String>> {
        self.readers
            .run(move |c| {
                Ok(
                    c.prepare_cached(&sql::numbered(&kind.deleted_before_sql()))?
                        .query_map([before.millis()], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()?,
                )
            })
            .await
    }

    async fn set_experiment_deleted(&self, id: &str, deleted: bool) -> Result<Experiment> {
        let id = id.to_owned();
        self.writer
            .run(move |c| experiments::set_deleted(c, &id, deleted))
            .await
    }

    async fn search_experiments(&self, search: Search) -> Result<Vec<Experiment>> {
        self.readers
            .run(move |c| experiments::search(c, &search))
            .await
    }

    async fn find_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        let name = name.to_owned();
        self.readers
            .run(move |c| experiments::find_by_name(c, &name))
            .await
    }

    async fn search_runs(&self, search: Search) -> Result<Vec<Run>> {
        self.readers
            .run(move |c| in_snapshot(c, |c| runs::search(c, &search)))
            .await
    }

    async fn log_inputs(&self, run_id: &str, inputs: Vec<DatasetInput>) -> Result<()> {
        let run_id = run_id.to_owned();
        self.writer
            .run(move |c| datasets::log_inputs(c, &run_id, &inputs))
            .await
    }

    async fn log_run_models(&self, run_id: &str, models: Vec<RunModel>) -> Result<()> {
        let run_id = run_id.to_owned();
        self.writer
            .run(move |c| models::log_run_models(c, &run_id, &models))
            .await
    }

    async fn create_logged_model(&self, model: LoggedModel) -> Result<LoggedModel> {
        self.writer
            .run(move |c| models::insert(c, &model).map(|()| model))
            .await
    }

    async fn get_logged_model(&self, id: &str) -> Result<LoggedModel> {
        let id = id.to_owned();
        self.readers.run(move |c| models::get(c, &id)).await
    }

    async fn update_logged_model(
        &self,
        id: &str,
        mutation: Mutation<LoggedModel>,
    ) -> Result<LoggedModel> {
        let id = id.to_owned();
        self.writer
            .run(move |c| models::update(c, &id, mutation))
            .await
    }

    async fn delete_logged_model(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.writer.run(move |c| models::delete(c, &id)).await
    }

    async fn search_logged_models(
        &self,
        experiment_ids: &[String],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LoggedModel>> {
        let ids = experiment_ids.to_vec();
        self.readers
            .run(move |c| models::search(c, &ids, offset, limit))
            .await
    }

    async fn delete_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<StoredArtifact>> {
        let (run_id, path) = (run_id.to_owned(), path.to_owned());
        self.writer
            .run(move |c| {
                let below = format!("{path}/");
                let end = format!("{below}\u{10FFFF}");
                let removed = c
                    .prepare_cached(&format!(
                        "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = ?1 AND (path = ?2 OR (path >= ?3 AND path < ?4))"
                    ))?
                    .query_map(params![run_id, path, below, end], stored_artifact_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                c.prepare_cached(
                    "DELETE FROM artifacts WHERE run_id = ?1 AND (path = ?2 OR (path >= ?3 AND path < ?4))",
                )?
                .execute(params![run_id, path, below, end])?;
                Ok(removed)
            })
            .await
    }

    async fn restore_times(
        &self,
        kind: crate::store::Trashable,
        id: &str,
        updated_at: Timestamp,
        deleted_at: Option<Timestamp>,
    ) -> Result<()> {
        let id = id.to_owned();
        self.writer
            .run(move |c| {
                let changed = c
                    .prepare_cached(&sql::numbered(&kind.restore_times_sql()))?
                    .execute(rusqlite::params![
                        id,
                        updated_at.millis(),
                        deleted_at.map(Timestamp::millis)
                    ])?;
                match changed {
                    0 => Err(Error::not_found(kind.entity(), id)),
                    _ => Ok(()),
                }
            })
            .await
    }

    async fn project_of(&self, entity: EntityKind, id: &str) -> Result<String> {
        let id = id.to_owned();
        self.readers
            .run(move |c| identity::project_of(c, entity, &id))
            .await
    }

    async fn create_user(&self, user: UserRecord) -> Result<UserRecord> {
        self.writer
            .run(move |c| identity::insert_user(c, &user).map(|()| user))
            .await
    }

    async fn get_user(&self, by: UserRef) -> Result<UserRecord> {
        self.readers.run(move |c| identity::get_user(c, &by)).await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.readers.run(identity::list_users).await
    }

    async fn update_user(&self, by: UserRef, mutation: Mutation<UserRecord>) -> Result<UserRecord> {
        self.writer
            .run(move |c| identity::update_user(c, &by, mutation))
            .await
    }

    async fn create_api_key(&self, key: ApiKeyRecord) -> Result<ApiKeyRecord> {
        self.writer
            .run(move |c| identity::insert_key(c, &key).map(|()| key))
            .await
    }

    async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>> {
        let user_id = user_id.to_owned();
        self.readers
            .run(move |c| identity::list_keys(c, &user_id))
            .await
    }

    async fn revoke_api_key(&self, user_id: &str, key_id: &str, at: i64) -> Result<ApiKeyRecord> {
        let (user_id, key_id) = (user_id.to_owned(), key_id.to_owned());
        self.writer
            .run(move |c| identity::revoke_key(c, &user_id, &key_id, at))
            .await
    }

    async fn key_login(&self, key_id: &str) -> Result<Option<KeyLogin>> {
        let key_id = key_id.to_owned();
        self.readers
            .run(move |c| identity::key_login(c, &key_id))
            .await
    }

    async fn touch_api_key(&self, key_id: &str, at: i64) -> Result<()> {
        let key_id = key_id.to_owned();
        self.writer
            .run(move |c| identity::touch_key(c, &key_id, at))
            .await
    }

    async fn user_roles(&self, user_id: &str) -> Result<Vec<(String, Role)>> {
        let user_id = user_id.to_owned();
        self.readers
            .run(move |c| identity::user_roles(c, &user_id))
            .await
    }

    async fn list_members(&self, project_id: &str) -> Result<Vec<MemberRecord>> {
        let project_id = project_id.to_owned();
        self.readers
            .run(move |c| identity::list_members(c, &project_id))
            .await
    }

    async fn set_member(
        &self,
        project_id: &str,
        user: UserRef,
        role: Option<Role>,
        at: i64,
    ) -> Result<Option<MemberRecord>> {
        let project_id = project_id.to_owned();
        self.writer
            .run(move |c| identity::set_member(c, &project_id, &user, role, at))
            .await
    }

    async fn create_session(&self, session: SessionRecord) -> Result<()> {
        self.writer
            .run(move |c| identity::insert_session(c, &session))
            .await
    }

    async fn get_session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        let token_hash = token_hash.to_vec();
        self.readers
            .run(move |c| identity::get_session(c, &token_hash))
            .await
    }

    async fn dataset_summaries(
        &self,
        experiment_ids: Vec<String>,
    ) -> Result<Vec<crate::store::datasets::DatasetSummary>> {
        self.readers
            .run(move |c| datasets::summaries(c, &experiment_ids))
            .await
    }

    async fn create_study(&self, study: StudyRecord) -> Result<StudyRecord> {
        self.writer
            .run(move |c| studies::insert_study(c, &study))
            .await
    }

    async fn get_study(&self, id: &str) -> Result<StudyRecord> {
        let id = id.to_owned();
        self.readers.run(move |c| studies::get_study(c, &id)).await
    }

    async fn study_by_seq(&self, seq: i64) -> Result<StudyRecord> {
        self.readers
            .run(move |c| studies::study_by_seq(c, seq))
            .await
    }

    async fn studies(&self, experiment_id: &str) -> Result<Vec<StudyRecord>> {
        let experiment_id = experiment_id.to_owned();
        self.readers
            .run(move |c| studies::studies(c, &experiment_id))
            .await
    }

    async fn project_studies(&self, project_id: &str) -> Result<Vec<StudyRecord>> {
        let project_id = project_id.to_owned();
        self.readers
            .run(move |c| studies::project_studies(c, &project_id))
            .await
    }

    async fn delete_study(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.writer
            .run(move |c| studies::delete_study(c, &id))
            .await
    }

    async fn set_study_attr(
        &self,
        study_id: &str,
        kind: AttrKind,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let (id, key, value) = (study_id.to_owned(), key.to_owned(), value.to_owned());
        self.writer
            .run(move |c| studies::set_study_attr(c, &id, kind, &key, &value))
            .await
    }

    async fn study_attrs(&self, study_id: &str) -> Result<Vec<AttrRecord>> {
        let id = study_id.to_owned();
        self.readers
            .run(move |c| studies::study_attrs(c, q_attrs::STUDY_ATTRS, &id))
            .await
    }

    async fn project_study_attrs(&self, project_id: &str) -> Result<Vec<AttrRecord>> {
        let id = project_id.to_owned();
        self.readers
            .run(move |c| studies::study_attrs(c, q_attrs::PROJECT_STUDY_ATTRS, &id))
            .await
    }

    async fn grow_search_space(
        &self,
        study_id: &str,
        name: &str,
        distribution: serde_json::Value,
    ) -> Result<()> {
        let (id, name) = (study_id.to_owned(), name.to_owned());
        self.writer
            .run(move |c| studies::grow_search_space(c, &id, &name, &distribution))
            .await
    }

    async fn add_trial(&self, trial: NewTrial) -> Result<TrialRecord> {
        self.writer.run(move |c| studies::add_trial(c, trial)).await
    }

    async fn start_trial(
        &self,
        run: Run,
        params: Vec<(String, ParamValue)>,
        trial: NewTrial,
        number: i64,
        seen: Option<OpenTrials>,
    ) -> Result<(Run, TrialRecord)> {
        let limits = self.limits;
        self.writer
            .run(move |c| {
                let experiment = runs::insert(c, &run, &params, &limits)?;
                let trial = studies::add_trial(c, trial)?;
                crate::store::studies::check_trial_number(&trial, number)?;
                if let Some(seen) = &seen {
                    studies::check_open_trials(c, seen, &trial.study_id, number)?;
                }
                let run = crate::store::studies::created_run(run, &params, &experiment.project_id);
                Ok((run, trial))
            })
            .await
    }

    async fn set_trial_param(
        &self,
        id: &str,
        name: &str,
        value: serde_json::Value,
        distribution: serde_json::Value,
    ) -> Result<()> {
        let (id, name) = (id.to_owned(), name.to_owned());
        self.writer
            .run(move |c| studies::set_param(c, &id, &name, &value, &distribution))
            .await
    }

    async fn trial_with_study(&self, id: &str) -> Result<(TrialRecord, StudyRecord)> {
        let id = id.to_owned();
        self.readers
            .run(move |c| {
                in_snapshot(c, |c| {
                    let trial = studies::get_trial(c, &id)?;
                    let study = studies::get_study(c, &trial.study_id)?;
                    Ok((trial, study))
                })
            })
            .await
    }

    async fn get_trial(&self, id: &str) -> Result<TrialRecord> {
        let id = id.to_owned();
        self.readers
            .run(move |c| in_snapshot(c, |c| studies::get_trial(c, &id)))
            .await
    }

    async fn trial_by_number(&self, study_id: &str, number: i64) -> Result<TrialRecord> {
        let id = study_id.to_owned();
        self.readers
            .run(move |c| in_snapshot(c, |c| studies::trial_by_number(c, &id, number)))
            .await
    }

    async fn trials_after(
        &self,
        study_id: &str,
        after: i64,
    ) -> Result<(StudyRecord, Vec<TrialRecord>)> {
        let study_id = study_id.to_owned();
        self.readers
            .run(move |c| in_snapshot(c, |c| studies::trials(c, &study_id, after)))
            .await
    }

    async fn experiment_trials(
        &self,
        experiment_id: &str,
    ) -> Result<Vec<(StudyRecord, Vec<TrialRecord>)>> {
        let experiment_id = experiment_id.to_owned();
        self.readers
            .run(move |c| in_snapshot(c, |c| studies::experiment_trials(c, &experiment_id)))
            .await
    }

    async fn set_trial_state(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
    ) -> Result<Option<TrialRecord>> {
        let id = id.to_owned();
        self.writer
            .run(move |c| studies::set_trial_state(c, &id, state, values.as_deref(), at))
            .await
    }

    async fn tell_trial(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
        run: Option<TrialRunEnd>,
    ) -> Result<(TrialRecord, Option<(Run, usize)>)> {
        let (id, limits) = (id.to_owned(), self.limits);
        self.writer
            .run(move |c| {
                let trial = studies::set_trial_state(c, &id, state, values.as_deref(), at)?
                    .ok_or_else(crate::store::studies::final_state_skipped)?;
                let Some(end) = run else {
                    return Ok((trial, None));
                };
                let (written, _) = if end.points.is_empty() {
                    (0, 0)
                } else {
                    metrics::log(c, &end.run_id, end.points, &limits)?
                };
                let run = runs::update(c, &end.run_id, end.mutation, &[], &TagPatch::new())?;
                Ok((trial, Some((run, written))))
            })
            .await
    }
    async fn set_trial_attr(&self, id: &str, kind: AttrKind, key: &str, value: &str) -> Result<()> {
        let (id, key, value) = (id.to_owned(), key.to_owned(), value.to_owned());
        self.writer
            .run(move |c| studies::set_trial_attr(c, &id, kind, &key, &value))
            .await
    }

    async fn report_trial_value(&self, id: &str, step: i64, value: f64) -> Result<()> {
        let id = id.to_owned();
        self.writer
            .run(move |c| studies::report_value(c, &id, step, value))
            .await
    }

    async fn add_signature(&self, signature: SignatureRecord) -> Result<SignatureRecord> {
        self.writer
            .run(move |c| signatures::insert(c, &signature).map(|()| signature))
            .await
    }

    async fn signatures(&self, run_ids: Vec<String>) -> Result<Vec<SignatureRecord>> {
        self.readers
            .run(move |c| signatures::of_runs(c, &run_ids))
            .await
    }

    async fn create_alert_rule(&self, rule: AlertRuleRecord) -> Result<AlertRuleRecord> {
        self.writer
            .run(move |c| alerts::insert_rule(c, &rule).map(|()| rule))
            .await
    }

    async fn get_alert_rule(&self, id: &str) -> Result<AlertRuleRecord> {
        let id = id.to_owned();
        self.readers.run(move |c| alerts::get_rule(c, &id)).await
    }

    async fn list_alert_rules(
        &self,
        projects: Option<Vec<String>>,
    ) -> Result<Vec<AlertRuleRecord>> {
        self.readers
            .run(move |c| alerts::list_rules(c, projects.as_deref()))
            .await
    }

    async fn update_alert_rule(
        &self,
        id: &str,
        mutation: Mutation<AlertRuleRecord>,
    ) -> Result<AlertRuleRecord> {
        let id = id.to_owned();
        self.writer
            .run(move |c| alerts::update_rule(c, &id, mutation))
            .await
    }

    async fn delete_alert_rule(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.writer.run(move |c| alerts::delete_rule(c, &id)).await
    }

    async fn fire_alert(
        &self,
        alert: AlertRecord,
        delivery: Option<DeliveryRecord>,
    ) -> Result<bool> {
        self.writer
            .run(move |c| alerts::fire(c, &alert, delivery.as_ref()))
            .await
    }

    async fn resolve_alert(
        &self,
        id: &str,
        at: i64,
        delivery: Option<DeliveryRecord>,
    ) -> Result<bool> {
        let id = id.to_owned();
        self.writer
            .run(move |c| alerts::resolve(c, &id, at, delivery.as_ref()))
            .await
    }

    async fn acknowledge_alert(&self, id: &str, by: &str, at: i64) -> Result<AlertRecord> {
        let (id, by) = (id.to_owned(), by.to_owned());
        self.writer
            .run(move |c| alerts::acknowledge(c, &id, &by, at))
            .await
    }

    async fn get_alert(&self, id: &str) -> Result<AlertRecord> {
        let id = id.to_owned();
        self.readers.run(move |c| alerts::get_alert(c, &id)).await
    }

    async fn list_alerts(&self, query: AlertQuery) -> Result<Vec<AlertRecord>> {
        self.readers
            .run(move |c| alerts::list_alerts(c, &query))
            .await
    }

    async fn open_alerts(&self, run_ids: Vec<String>) -> Result<Vec<AlertRecord>> {
        self.readers
            .run(move |c| alerts::open_alerts(c, &run_ids))
            .await
    }

    async fn alert_deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRecord>> {
        let alert_id = alert_id.to_owned();
        self.readers
            .run(move |c| alerts::deliveries(c, &alert_id))
            .await
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        self.writer
            .run(move |c| alerts::claim(c, now, lease_until, limit))
            .await
    }

    async fn finish_delivery(&self, id: &str, outcome: DeliveryOutcome) -> Result<()> {
        let id = id.to_owned();
        self.writer
            .run(move |c| alerts::finish(c, &id, &outcome))
            .await
    }

    async fn alert_sweep_runs(
        &self,
        since: i64,
        experiment_ids: Vec<String>,
        project_ids: Vec<String>,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.readers
            .run(move |c| alerts::sweep_runs(c, since, &experiment_ids, &project_ids, limit))
            .await
    }

    async fn create_view(&self, view: ViewRecord) -> Result<ViewRecord> {
        self.writer
            .run(move |c| views::insert(c, &view).map(|()| view))
            .await
    }

    async fn get_view(&self, kind: ViewKind, id: &str) -> Result<ViewRecord> {
        let id = id.to_owned();
        self.readers.run(move |c| views::get(c, kind, &id)).await
    }

    async fn list_views(&self, query: ViewQuery) -> Result<Vec<ViewRecord>> {
        self.readers.run(move |c| views::list(c, &query)).await
    }

    async fn update_view(
        &self,
        kind: ViewKind,
        id: &str,
        mutation: Mutation<ViewRecord>,
    ) -> Result<ViewRecord> {
        let id = id.to_owned();
        self.writer
            .run(move |c| views::update(c, kind, &id, mutation))
            .await
    }

    async fn delete_view(&self, kind: ViewKind, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.writer.run(move |c| views::delete(c, kind, &id)).await
    }

    async fn stream_series(
        &self,
        series: Vec<(String, String)>,
        out: tokio::sync::mpsc::Sender<(usize, Vec<MetricPoint>)>,
    ) -> Result<()> {
        self.readers
            .run(move |c| views::stream_series(c, &series, &out))
            .await
    }

    async fn series_step_bounds(
        &self,
        series: Vec<(String, String)>,
    ) -> Result<Vec<Option<(i64, i64)>>> {
        self.readers
            .run(move |c| views::step_bounds(c, &series))
            .await
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        let token_hash = token_hash.to_vec();
        self.writer
            .run(move |c| identity::delete_session(c, &token_hash))
            .await
    }

    async fn audit_records(&self, query: AuditQuery) -> Result<Page<AuditRecord>> {
        self.readers.run(move |c| audit::list(c, &query)).await
    }

    async fn verify_audit(&self) -> Result<VerifyReport> {
        self.readers.run(|c| in_snapshot(c, audit::verify)).await
    }

    async fn is_healthcare(&self, of: DataOf) -> Result<bool> {
        self.readers
            .run(move |c| audit::is_healthcare(c, &of))
            .await
    }

    async fn append_audit(&self) -> Result<()> {
        self.writer.run(|_| Ok(())).await
    }

    async fn ping(&self) -> Result<()> {
        self.readers
            .run(|c| {
                Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                    .map(|_| ())?)
            })
            .await
    }

    fn pool_state(&self) -> PoolState {
        let (read_connections, read_connections_idle) = self.readers.state();
        PoolState {
            read_connections,
            read_connections_idle,
            write_queue_depth: self.writer.queue_depth(),
        }
    }
}

use self::sql::Sql;

const ARTIFACT_COLUMNS: &str = "path, size, sha256, content_type, created_at, object_key";

fn stored_artifact_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredArtifact> {
    Ok(StoredArtifact {
        artifact: artifact_from_row(row)?,
        object_key: row.get(5)?,
    })
}

fn artifact_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Artifact> {
    Ok(Artifact {
        path: row.get(0)?,
        size: row.get(1)?,
        sha256: row.get(2)?,
        content_type: row.get(3)?,
        created_at: Timestamp(row.get(4)?),
    })
}

/// Runs several reads against one consistent snapshot.
fn in_snapshot<T>(conn: &Connection, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let tx = conn.unchecked_transaction()?;
    let result = read(&tx);
    tx.finish()?;
    result
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    /// Pending migrations are applied whole or not at all: one that fails leaves the
    /// database as it was before the first of them, and says which failed.
    #[test]
    fn a_failing_migration_leaves_the_database_as_it_was() {
        let mut conn = Connection::open_in_memory().unwrap();
        let first: &[(i64, &str, &str)] = &[(1, "one", "CREATE TABLE a (x INTEGER)")];
        assert_eq!(apply_migrations(&mut conn, first).unwrap(), vec![1]);
        let more: &[(i64, &str, &str)] = &[
            (1, "one", "CREATE TABLE a (x INTEGER)"),
            (2, "two", "CREATE TABLE b (x INTEGER)"),
            (3, "three", "CREATE TABLE broken (x"),
        ];
        let error = apply_migrations(&mut conn, more).unwrap_err().to_string();
        assert!(error.contains("migration 3 (three) failed"), "{error}");
        let versions: Vec<i64> = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(versions, vec![1]);
        let b_exists: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(b_exists, 0, "migration 2 was rolled back with 3");
        let fixed: &[(i64, &str, &str)] = &[
            (1, "one", "CREATE TABLE a (x INTEGER)"),
            (2, "two", "CREATE TABLE b (x INTEGER)"),
            (3, "three", "CREATE TABLE fixed (x INTEGER)"),
        ];
        assert_eq!(apply_migrations(&mut conn, fixed).unwrap(), vec![2, 3]);
    }
}
