//! PostgreSQL: runs, their params and tags.

use std::collections::HashMap;
use std::sync::LazyLock;

use ets_domain::Timestamp;
use ets_domain::model::{DatasetInput, Experiment, ParamValue, Run, TagPatch};
use futures_util::TryFutureExt;
use tokio_postgres::Row;

use super::search::{Target, and_filter, and_lifecycle, run_search, run_search_parts};
use super::sql::{Sql, cursor_key, finish_page};
use deadpool_postgres::GenericClient;

use super::{PgStore, Tx};
use crate::error::{EntityKind, Error, Result};
use crate::store::run_details::Detail;
use crate::store::statements::{self, RUN_COLUMNS as COLUMNS, RUN_FROM as FROM};
use crate::store::{Mutation, Page, PageRequest, RunFilter, Search, rules};

fn from_row(row: &Row) -> std::result::Result<Run, tokio_postgres::Error> {
    crate::store::rows::run(row)
}

/// Ids of runs matching a condition with one parameter (`$1`).
pub(super) async fn ids_where(tx: &Tx<'_>, condition: &str, param: &str) -> Result<Vec<String>> {
    let statement = tx
        .prepare_cached(&format!(
            "SELECT id FROM runs WHERE {condition} ORDER BY created_at, id"
        ))
        .await?;
    let rows = tx.query(&statement, &[&param]).await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?)
}

async fn insert(
    tx: &Tx<'_>,
    run: &Run,
    params: &[(String, ParamValue)],
    max_runs: u64,
) -> Result<()> {
    lock_for_new_run(tx, run, max_runs).await?;
    write_new_run(tx, run, params).await
}

/// How a new run locks its experiment ([`lock_for_new_run`]).
const LOCK_FOR_NEW_RUN: &str = "FOR NO KEY UPDATE";
/// Counts a new run in its experiment's counter; returns the count before it.
const COUNT_NEW_RUN: &str =
    "UPDATE experiments SET run_count = run_count + 1 WHERE id = $1 RETURNING run_count - 1";
const INSERT_PARAMS: &str = "INSERT INTO run_params (run_id, key, value, json) \
     SELECT $1, u.key, u.value, u.json FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS u(key, value, json) \
     ON CONFLICT (run_id, key) DO NOTHING";
const STORED_PARAMS: &str = "SELECT key, value FROM run_params WHERE run_id = $1 AND key = ANY($2)";
const UPSERT_TAGS: &str = "INSERT INTO run_tags (run_id, key, value) \
     SELECT $1, u.key, u.value FROM unnest($2::text[], $3::text[]) AS u(key, value) \
     ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value";

/// The statements [`lock_for_new_run`] and [`write_new_run`] send for a run without a parent,
/// to prepare before sending them all at once.
pub(super) fn new_run_statements() -> [String; 6] {
    [
        super::experiments::get_sql(LOCK_FOR_NEW_RUN),
        COUNT_NEW_RUN.to_owned(),
        statements::INSERT_RUN.to_owned(),
        INSERT_PARAMS.to_owned(),
        STORED_PARAMS.to_owned(),
        UPSERT_TAGS.to_owned(),
    ]
}

/// The checks before a run is inserted: its experiment locked, counted and allowed to take
/// it (`rules::check_run_creation`), its parent in the same experiment. Returns the experiment.
pub(super) async fn lock_for_new_run(
    tx: &impl GenericClient,
    run: &Run,
    max_runs: u64,
) -> Result<Experiment> {
    // One round trip (tokio-postgres pipelines requests polled together; PostgreSQL runs them
    // in order): lock the experiment, and count the run in its counter — O(1), unlike
    // count(*). Concurrent creations in this experiment count one after the other; an error
    // below rolls the increment back.
    let counter = tx.prepare_cached(COUNT_NEW_RUN).await?;
    let (experiment, counted) = super::pipelined_values(tokio::join!(
        super::experiments::get(tx, &run.experiment_id, LOCK_FOR_NEW_RUN),
        async {
            Ok::<_, Error>(
                tx.query_opt(&counter, &[&run.experiment_id])
                    .await?
                    .map(|r| r.try_get::<_, i64>(0))
                    .transpose()?,
            )
        },
    ))?;
    let runs = counted
        .ok_or_else(|| Error::not_found(EntityKind::Experiment, run.experiment_id.clone()))?;
    rules::check_run_creation(&experiment, runs, max_runs)?;
    if let Some(parent_id) = &run.parent_run_id {
        let statement = tx
            .prepare_cached("SELECT experiment_id FROM runs WHERE id = $1")
            .await?;
        let parent_experiment: Option<String> = tx
            .query_opt(&statement, &[parent_id])
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        rules::check_parent_run(&run.experiment_id, parent_id, parent_experiment.as_deref())?;
    }
    Ok(experiment)
}

/// Inserts a checked run ([`lock_for_new_run`]) with its params and tags: one round trip,
/// the row first.
pub(super) async fn write_new_run(
    tx: &impl GenericClient,
    run: &Run,
    params: &[(String, ParamValue)],
) -> Result<()> {
    let statement = tx.prepare_cached(statements::INSERT_RUN).await?;
    let tags: TagPatch = run
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    // The row, its params and its tags in one pipelined round trip (executed in this order).
    let (inserted, params_added, tags_applied) = tokio::join!(
        async {
            tx.execute(
                &statement,
                &[
                    &run.id,
                    &run.experiment_id,
                    &run.name,
                    &run.description,
                    &run.owner,
                    &run.status.as_str(),
                    &run.parent_run_id,
                    &run.created_at.millis(),
                    &run.updated_at.millis(),
                    &run.started_at.map(Timestamp::millis),
                    &run.ended_at.map(Timestamp::millis),
                ],
            )
            .await
            .map_err(Error::from)
        },
        add_params(tx, &run.id, params),
        apply_tags(tx, &run.id, &tags),
    );
    super::pipelined([inserted.map(drop), params_added, tags_applied])
}

/// Adds params; a different value for an existing key is refused (and the transaction, with
/// whatever it wrote, rolls back). `ON CONFLICT DO NOTHING` waits for a concurrent writer of
/// the same key, so the comparison that follows sees its value. One round trip.
async fn add_params(
    tx: &impl GenericClient,
    run_id: &str,
    params: &[(String, ParamValue)],
) -> Result<()> {
    if params.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    let texts: Vec<&str> = params.iter().map(|(_, v)| v.text.as_str()).collect();
    let jsons: Vec<&serde_json::Value> = params.iter().map(|(_, v)| &v.json).collect();
    let insert = tx.prepare_cached(INSERT_PARAMS).await?;
    let stored = tx.prepare_cached(STORED_PARAMS).await?;
    // Sent together: the read is a statement of its own, run after the insert (and after any
    // concurrent writer of the same key it waited for), so it sees every key's stored value.
    let (insert_params, stored_params): (
        [&(dyn tokio_postgres::types::ToSql + Sync); 4],
        [&(dyn tokio_postgres::types::ToSql + Sync); 2],
    ) = ([&run_id, &keys, &texts, &jsons], [&run_id, &keys]);
    let (_, stored) = super::pipelined_values(tokio::join!(
        tx.execute(&insert, &insert_params).err_into(),
        tx.query(&stored, &stored_params).err_into(),
    ))?;
    let stored: HashMap<String, String> = stored
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<std::result::Result<_, tokio_postgres::Error>>()?;
    // Every key is stored by now; the rule only compares.
    rules::merge_write_once_params(run_id, &stored, params)?;
    Ok(())
}

async fn apply_tags(tx: &impl GenericClient, run_id: &str, tags: &TagPatch) -> Result<()> {
    let (mut set_keys, mut set_values, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    for (key, value) in tags {
        match value {
            Some(value) => {
                set_keys.push(key.as_str());
                set_values.push(value.as_str());
            }
            None => removed.push(key.as_str()),
        }
    }
    if !set_keys.is_empty() {
        let upsert = tx.prepare_cached(UPSERT_TAGS).await?;
        tx.execute(&upsert, &[&run_id, &set_keys, &set_values])
            .await?;
    }
    if !removed.is_empty() {
        let remove = tx
            .prepare_cached("DELETE FROM run_tags WHERE run_id = $1 AND key = ANY($2)")
            .await?;
        tx.execute(&remove, &[&run_id, &removed]).await?;
    }
    Ok(())
}

// The page of a detail load joins the ids as `unnest($1::text[])` rather than testing
// `run_id = ANY($1)`: PostgreSQL plans `= ANY` of a 1000-element array by estimating every
// element against the column statistics, which cost ~10 ms per query at bind time (measured on
// a 1000-run search page); the join plans in microseconds and uses the same index.
const DETAIL_PAGE: &str = "unnest($1::text[]) WITH ORDINALITY AS page (id, n)";

/// Fills params, tags, metric summaries, inputs and models of `runs`: one statement per table
/// over the whole page (`store::run_details`), the five pipelined on the transaction's
/// connection.
async fn load_details(tx: &Tx<'_>, runs: &mut [Run]) -> Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    let details = read_details(tx, &ids).await?;
    attach_details(runs, details)
}

/// The rows of the five detail statements of the runs `ids`, pipelined.
async fn read_details(tx: &impl GenericClient, ids: &[&str]) -> Result<[Vec<Row>; 5]> {
    static STATEMENTS: LazyLock<[String; 5]> =
        LazyLock::new(|| Detail::ALL.map(|detail| detail.statement(DETAIL_PAGE)));
    let read = |statement: &'static str| async move {
        let statement = tx.prepare_cached(statement).await?;
        Ok::<_, Error>(tx.query(&statement, &[&ids]).await?)
    };
    let [params, tags, metrics, inputs, models] = &*STATEMENTS;
    let (params, tags, metrics, inputs, models) = super::pipelined_values(tokio::join!(
        read(params.as_str()),
        read(tags.as_str()),
        read(metrics.as_str()),
        read(inputs.as_str()),
        read(models.as_str()),
    ))?;
    Ok([params, tags, metrics, inputs, models])
}

fn attach_details(runs: &mut [Run], details: [Vec<Row>; 5]) -> Result<()> {
    for (detail, rows) in Detail::ALL.into_iter().zip(details) {
        for row in &rows {
            detail.attach(runs, row)?;
        }
    }
    Ok(())
}

/// The run with its details: the row and the detail loads sent together (one round trip).
pub(super) async fn get(tx: &impl GenericClient, id: &str) -> Result<Run> {
    let ids = [id];
    let (mut run, details) =
        super::pipelined_values(tokio::join!(get_bare(tx, id, ""), read_details(tx, &ids)))?;
    attach_details(std::slice::from_mut(&mut run), details)?;
    Ok(run)
}

/// The run row, optionally locked (`FOR UPDATE OF r`, …) until the transaction ends.
pub(super) async fn get_bare(tx: &impl GenericClient, id: &str, lock: &str) -> Result<Run> {
    let statement = tx
        .prepare_cached(&format!("SELECT {COLUMNS} {FROM} WHERE r.id = $1 {lock}"))
        .await?;
    match tx.query_opt(&statement, &[&id]).await? {
        Some(row) => Ok(from_row(&row)?),
        None => Err(Error::not_found(EntityKind::Run, id)),
    }
}

impl PgStore {
    pub(super) async fn create_run(
        &self,
        run: Run,
        params: Vec<(String, ParamValue)>,
    ) -> Result<Run> {
        let max_runs = self.limits.max_runs_per_experiment;
        self.write(move |tx| {
            Box::pin(async move {
                insert(tx, &run, &params, max_runs).await?;
                get(tx, &run.id).await
            })
        })
        .await
    }

    pub(super) async fn get_run(&self, id: &str) -> Result<Run> {
        let id = id.to_owned();
        self.read(move |tx| Box::pin(async move { get(tx, &id).await }))
            .await
    }

    pub(super) async fn get_runs(&self, ids: Vec<String>) -> Result<Vec<Run>> {
        static STATEMENT: LazyLock<String> =
            LazyLock::new(|| crate::store::run_details::runs_statement(DETAIL_PAGE));
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&STATEMENT).await?;
                let mut runs = tx
                    .query(&statement, &[&ids])
                    .await?
                    .iter()
                    .map(from_row)
                    .collect::<std::result::Result<Vec<Run>, _>>()?;
                load_details(tx, &mut runs).await?;
                Ok(runs)
            })
        })
        .await
    }

    pub(super) async fn list_runs(
        &self,
        filter: RunFilter,
        page: PageRequest,
    ) -> Result<Page<Run>> {
        self.read(move |tx| {
            Box::pin(async move {
                let mut sql = Sql::new(&format!("SELECT {COLUMNS} {FROM} WHERE 1 = 1"));
                sql.and_eq("r.experiment_id", filter.experiment_id.clone())
                    .and_eq("e.project_id", filter.project_id.clone())
                    .and_eq("r.status", filter.status.map(|s| s.as_str()))
                    .and_eq("r.name", filter.name.clone())
                    .and_contains("r.name", filter.name_contains.as_deref())
                    .and_eq("r.parent_run_id", filter.parent_run_id.clone());
                if let Some(tag) = &filter.tag {
                    sql.push(
                        " AND EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = r.id AND t.key = ",
                    )
                    .bind_text(tag.key.clone());
                    if let Some(value) = &tag.value {
                        sql.push(" AND t.value = ").bind_text(value.clone());
                    }
                    sql.push(")");
                }
                and_lifecycle(&mut sql, "r", filter.lifecycle);
                crate::store::filter_sql::and_visible(
                    &mut sql,
                    "e.project_id",
                    filter.visible_projects.as_deref(),
                );
                and_filter(&mut sql, filter.expr.as_ref(), Target::Runs)?;
                sql.page("r", &page);
                let items = sql.query(tx, from_row).await?;
                let mut page_of_runs = finish_page(items, &page, |r| {
                    cursor_key(
                        page.sort,
                        &r.id,
                        &r.name,
                        r.created_at.millis(),
                        r.updated_at.millis(),
                    )
                });
                load_details(tx, &mut page_of_runs.items).await?;
                Ok(page_of_runs)
            })
        })
        .await
    }

    pub(super) async fn update_run(
        &self,
        id: &str,
        mutation: Mutation<Run>,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
    ) -> Result<Run> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                apply_update(tx, &id, mutation, &params, &tags).await?;
                get(tx, &id).await
            })
        })
        .await
    }
}

/// [`PgStore::update_run`] without the read-back: the run locked, the mutation checked by its
/// rules, the row, params and tags written.
pub(super) async fn apply_update(
    tx: &impl GenericClient,
    id: &str,
    mutation: Mutation<Run>,
    params: &[(String, ParamValue)],
    tags: &TagPatch,
) -> Result<()> {
    let mut run = get_bare(tx, id, "FOR NO KEY UPDATE OF r").await?;
    if rules::update_run(&mut run, mutation)? {
        let experiment = super::experiments::get(tx, &run.experiment_id, "FOR SHARE").await?;
        rules::check_restorable(
            EntityKind::Run,
            EntityKind::Experiment,
            &experiment.id,
            experiment.deleted_at,
        )?;
    }
    let statement = tx.prepare_cached(statements::UPDATE_RUN).await?;
    let update = async {
        tx.execute(
            &statement,
            &[
                &run.id,
                &run.name,
                &run.description,
                &run.owner,
                &run.status.as_str(),
                &run.updated_at.millis(),
                &run.started_at.map(Timestamp::millis),
                &run.ended_at.map(Timestamp::millis),
                &run.deleted_at.map(Timestamp::millis),
            ],
        )
        .await
        .map_err(Error::from)
    };
    // One round trip for the writes (the run is locked).
    let (updated, params_added, tags_applied) =
        tokio::join!(update, add_params(tx, id, params), apply_tags(tx, id, tags));
    super::pipelined([updated.map(drop), params_added, tags_applied])
}

impl PgStore {
    pub(super) async fn delete_run(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                get_bare(tx, &id, "FOR UPDATE OF r").await?;
                super::metrics::delete_points_of_runs(tx, std::slice::from_ref(&id)).await?;
                let statement = tx
                    .prepare_cached(
                        "WITH gone AS (DELETE FROM runs WHERE id = $1 RETURNING experiment_id) \
                         UPDATE experiments e SET run_count = e.run_count - 1 FROM gone \
                         WHERE e.id = gone.experiment_id",
                    )
                    .await?;
                tx.execute(&statement, &[&id]).await?;
                Ok(())
            })
        })
        .await
    }

    pub(super) async fn search_runs(&self, search: Search) -> Result<Vec<Run>> {
        if search.experiment_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |tx| {
            Box::pin(async move {
                let wanted = search.limit + 1;
                let mut runs = Vec::new();
                for part in run_search_parts(&search) {
                    let mut sql = Sql::new("");
                    run_search(&mut sql, &search, *part, wanted - runs.len())?;
                    runs.extend(sql.query(tx, from_row).await?);
                    if runs.len() >= wanted {
                        break;
                    }
                }
                load_details(tx, &mut runs).await?;
                Ok(runs)
            })
        })
        .await
    }

    pub(super) async fn log_inputs(&self, run_id: &str, inputs: Vec<DatasetInput>) -> Result<()> {
        let run_id = run_id.to_owned();
        self.write(move |tx| {
            Box::pin(async move { super::datasets::log_inputs(tx, &run_id, &inputs).await })
        })
        .await
    }
}

/// Refuses writes to a run that does not exist or is in the trash. Locks the run row (`FOR
/// NO KEY UPDATE`) until the transaction ends, so it cannot go to the trash meanwhile and
/// writers of one run take its lock in the same order (no deadlock with `touch`).
pub(super) async fn ensure_active(tx: &Tx<'_>, run_id: &str) -> Result<()> {
    let statement = tx.prepare_cached(LOCK_ACTIVE_RUN).await?;
    lock_active(tx, &statement, run_id).await
}

/// [`ensure_active`]'s statement: prepare it first (`prepare_cached`, at once when cached) and
/// pass it to [`lock_active`] so the lock goes out before statements pipelined after it.
pub(super) const LOCK_ACTIVE_RUN: &str =
    "SELECT deleted_at FROM runs WHERE id = $1 FOR NO KEY UPDATE";

/// [`ensure_active`] with its statement prepared; sent when first polled.
pub(super) async fn lock_active(
    tx: &Tx<'_>,
    statement: &tokio_postgres::Statement,
    run_id: &str,
) -> Result<()> {
    let deleted: Option<Option<i64>> = tx
        .query_opt(statement, &[&run_id])
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    rules::check_run_active(run_id, deleted)
}

/// Adds params (write-once), applies tags and optionally renames the run (log-batch), without
/// the read-back of `update_run`: the MLflow logging calls answer with an empty body.
pub(super) async fn log_params_and_tags(
    tx: &Tx<'_>,
    run_id: &str,
    params: &[(String, ParamValue)],
    tags: &TagPatch,
    rename: Option<String>,
) -> Result<()> {
    let lock = tx.prepare_cached(LOCK_ACTIVE_RUN).await?;
    let now = Timestamp::now();
    let run_row = async {
        match rename {
            Some(name) => {
                let statement = tx
                    .prepare_cached(
                        "UPDATE runs SET name = $2, updated_at = greatest(updated_at, $3) WHERE id = $1",
                    )
                    .await?;
                tx.execute(&statement, &[&run_id, &name, &now.millis()])
                    .await?;
                Ok(())
            }
            None => touch(tx, run_id, now).await,
        }
    };
    // One round trip: the run's lock first, then the writes (executed in this order). A run
    // that is missing or trashed fails the first future, and its error is the one returned;
    // what the writes did rolls back with the transaction.
    let (locked, params_added, tags_applied, row_written) = tokio::join!(
        lock_active(tx, &lock, run_id),
        add_params(tx, run_id, params),
        apply_tags(tx, run_id, tags),
        run_row
    );
    super::pipelined([locked, params_added, tags_applied, row_written])
}

/// Sets the run's `updated_at` (metric logging counts as activity); never moves it back.
pub(super) async fn touch(tx: &Tx<'_>, run_id: &str, at: Timestamp) -> Result<()> {
    let statement = tx
        .prepare_cached("UPDATE runs SET updated_at = greatest(updated_at, $2) WHERE id = $1")
        .await?;
    tx.execute(&statement, &[&run_id, &at.millis()]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Store-level checks of the PostgreSQL port: the search language gives the same runs in
    //! the same order as on SQLite, and the limits and write-once params hold under
    //! concurrent writers from several store instances. Skipped unless `PG_TEST_URL` is set.

    use std::sync::Arc;

    use ets_domain::filter::{
        normalize_run_filter, normalize_run_order_key, parse_filter, parse_order_by,
    };
    use ets_domain::model::{
        Experiment, MetricPoint, MlopsLinks, ParamValue, Project, Run, SeriesPoints,
    };
    use ets_domain::status::{ExperimentStatus, ProjectStatus, RunStatus};
    use ets_domain::{Timestamp, ids};

    use super::PgStore;
    use crate::error::Error;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{
        ExperimentFilter, Lifecycle, PageRequest, Search, SortField, Store, StoreLimits,
    };

    const LIMITS: StoreLimits = StoreLimits {
        max_concurrent_experiments: 1_000,
        max_runs_per_experiment: 1_000,
        max_metric_keys_per_run: 1_000,
    };

    /// A fresh schema on the `PG_TEST_URL` server and its URL; `None` skips the test.
    async fn pg_url() -> Option<(String, String)> {
        let base = std::env::var("PG_TEST_URL").ok()?;
        let schema = format!("ets_unit_{}", ids::new_id());
        let client = super::super::connect(&super::super::test_options(&base))
            .await
            .expect("connect");
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create schema");
        let separator = if base.contains('?') { '&' } else { '?' };
        Some((
            format!("{base}{separator}options=-c%20search_path%3D{schema}"),
            schema,
        ))
    }

    async fn drop_schema(schema: &str) {
        let base = std::env::var("PG_TEST_URL").expect("set");
        let client = super::super::connect(&super::super::test_options(&base))
            .await
            .expect("connect");
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .expect("drop schema");
    }

    fn project(name: &str) -> Project {
        let now = Timestamp::now();
        Project {
            id: ids::new_id(),
            name: name.to_owned(),
            description: None,
            owner: None,
            members: Vec::new(),
            tags: [("team".to_owned(), "vision".to_owned())].into(),
            status: ProjectStatus::Active,
            template: None,
            experiment_defaults: Default::default(),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    fn experiment(project_id: &str, name: &str, created: i64) -> Experiment {
        Experiment {
            id: ids::new_id(),
            project_id: project_id.to_owned(),
            name: name.to_owned(),
            description: None,
            owner: None,
            status: ExperimentStatus::Draft,
            tags: [("kind".to_owned(), name.to_lowercase())].into(),
            objectives: Vec::new(),
            search_space: Default::default(),
            healthcare: None,
            links: MlopsLinks::default(),
            template: None,
            created_at: Timestamp(created),
            updated_at: Timestamp(created),
            started_at: None,
            ended_at: None,
            deleted_at: None,
            artifact_location: None,
        }
    }

    fn run(experiment_id: &str, id: &str, name: &str, started: Option<i64>) -> Run {
        Run {
            id: id.to_owned(),
            experiment_id: experiment_id.to_owned(),
            project_id: String::new(),
            name: name.to_owned(),
            description: None,
            owner: None,
            status: RunStatus::Running,
            parent_run_id: None,
            params: Default::default(),
            tags: Default::default(),
            metrics: Vec::new(),
            created_at: Timestamp(1_000),
            updated_at: Timestamp(1_000),
            started_at: started.map(Timestamp),
            ended_at: None,
            deleted_at: None,
            inputs: Vec::new(),
            models: Vec::new(),
        }
    }

    fn param(value: serde_json::Value) -> ParamValue {
        ParamValue::from_json(value)
    }

    /// The same data in `store`: runs with mixed-case and non-ASCII names, missing and NaN
    /// metrics, missing params and tags. Returns the experiment ids.
    async fn fill(store: &dyn Store) -> Vec<String> {
        let p = store.create_project(project("p"), None).await.unwrap();
        let mut e1 = experiment(&p.id, "Alpha", 10);
        e1.id = "e1".into();
        let mut e2 = experiment(&p.id, "beta_%", 20);
        e2.id = "e2".into();
        store.create_experiment(e1).await.unwrap();
        store.create_experiment(e2).await.unwrap();
        let names = [
            ("r1", "alpha", Some(5_000)),
            ("r2", "Alpha", None),
            ("r3", "ÉCLAIR", Some(7_000)),
            ("r4", "éclair", Some(7_000)),
            ("r5", "b_x%y", Some(2_000)),
            ("r6", "bAx", None),
        ];
        for (i, (id, name, started)) in names.into_iter().enumerate() {
            let experiment_id = if i < 4 { "e1" } else { "e2" };
            let mut r = run(experiment_id, id, name, started);
            if i % 2 == 0 {
                r.tags
                    .insert("color".into(), ["red", "Red", "blue"][i % 3].into());
            }
            let params = match i {
                0 => vec![("lr".into(), param(serde_json::json!(0.1)))],
                1 => vec![("lr".into(), param(serde_json::json!(10)))],
                2 => vec![("lr".into(), param(serde_json::json!("2")))],
                3 => vec![("opt".into(), param(serde_json::json!("adam")))],
                _ => Vec::new(),
            };
            store.create_run(r, params).await.unwrap();
            let value = match i {
                0 => Some(0.5),
                1 => Some(f64::NAN),
                2 => Some(-1.0),
                3 => Some(0.5),
                4 => Some(f64::INFINITY),
                _ => None,
            };
            if let Some(value) = value {
                let points = vec![SeriesPoints {
                    key: "acc".into(),
                    points: vec![MetricPoint {
                        step: 1,
                        timestamp: 1,
                        value,
                    }],
                }];
                crate::store::log_metrics(store, id, points).await.unwrap();
            }
        }
        vec!["e1".into(), "e2".into()]
    }

    async fn run_ids(
        store: &dyn Store,
        ids: &[String],
        filter: &str,
        order: &[&str],
    ) -> Vec<String> {
        let mut filter = parse_filter(filter).unwrap();
        if let Some(f) = filter.as_mut() {
            normalize_run_filter(f);
        }
        let order_by = order
            .iter()
            .map(|o| {
                let mut key = parse_order_by(o).unwrap();
                normalize_run_order_key(&mut key);
                key
            })
            .collect();
        let search = Search {
            experiment_ids: ids.to_vec(),
            filter,
            lifecycle: Lifecycle::Active,
            order_by,
            offset: 0,
            after: None,
            limit: 100,
            visible_projects: None,
        };
        store
            .search_runs(search)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    }

    #[tokio::test]
    async fn search_matches_sqlite() {
        let Some((url, schema)) = pg_url().await else {
            return;
        };
        let pg = PgStore::open(&super::super::test_options(&url), 2, LIMITS, true)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lite = SqliteStore::open(&dir.path().join("ets.db"), 2, LIMITS)
            .await
            .unwrap();
        let ids = fill(&pg).await;
        assert_eq!(fill(&lite).await, ids);

        let filters = [
            "",
            "metrics.acc > 0",
            "metrics.acc <= 0.5",
            "metrics.acc != 0.5",
            "params.lr = '10'",
            "params.lr = 10",
            "params.lr > '1'",
            "params.lr IN ('0.1', '2')",
            "params.lr NOT IN ('0.1')",
            "tags.color = 'red'",
            "tags.color != 'red'",
            "tags.color LIKE 'r%'",
            "tags.color ILIKE 'r%'",
            "attributes.run_name LIKE 'a%'",
            "attributes.run_name LIKE 'b_x%'",
            "attributes.run_name LIKE '%\\%%'",
            "attributes.run_name ILIKE 'alpha'",
            "attributes.run_name ILIKE 'éclair'",
            "attributes.run_name < 'b'",
            "tags.`mlflow.runName` = 'bAx'",
            "attributes.start_time > 1500",
            "attributes.start_time >= '5000'",
            "attributes.status = 'RUNNING'",
            "attributes.run_id IN ('r1', 'r6')",
            "metrics.acc > 0 OR params.opt = 'adam'",
            "(metrics.acc > 0 OR params.opt = 'adam') AND attributes.run_name != 'alpha'",
        ];
        let orders: [&[&str]; 9] = [
            &[],
            &["metrics.acc"],
            &["metrics.acc DESC"],
            &["params.lr"],
            &["params.lr DESC"],
            &["tags.color"],
            &["attributes.run_name"],
            &["attributes.run_name DESC", "metrics.acc"],
            &["attributes.start_time ASC"],
        ];
        // A few answers spelled out, so the comparison is not between two empty lists.
        let some = |filter: &'static str, order: &'static [&'static str]| {
            let (pg, ids) = (&pg, &ids);
            async move { run_ids(pg, ids, filter, order).await }
        };
        assert_eq!(some("attributes.run_name LIKE 'a%'", &[]).await, ["r1"]);
        assert_eq!(
            some("attributes.run_name ILIKE 'éclair'", &[]).await,
            ["r4"]
        );
        assert_eq!(
            some(
                "attributes.run_name ILIKE 'alpha'",
                &["attributes.run_name"]
            )
            .await,
            ["r2", "r1"]
        );
        assert_eq!(
            some("", &["metrics.acc DESC"]).await,
            ["r5", "r4", "r1", "r3", "r2", "r6"]
        );
        for filter in filters {
            for order in orders {
                assert_eq!(
                    run_ids(&pg, &ids, filter, order).await,
                    run_ids(&lite, &ids, filter, order).await,
                    "filter {filter:?}, order {order:?}"
                );
            }
        }

        for needle in ["a", "A", "É", "_", "%", "b_"] {
            let filter = ExperimentFilter {
                name_contains: Some(needle.into()),
                ..Default::default()
            };
            let page = PageRequest {
                sort: SortField::Name,
                descending: false,
                page_size: 10,
                after: None,
            };
            let names = |p: crate::store::Page<Experiment>| {
                p.items.into_iter().map(|e| e.name).collect::<Vec<_>>()
            };
            assert_eq!(
                names(
                    pg.list_experiments(filter.clone(), page.clone())
                        .await
                        .unwrap()
                ),
                names(lite.list_experiments(filter, page).await.unwrap()),
                "name contains {needle:?}"
            );
        }
        drop(pg);
        drop_schema(&schema).await;
    }

    #[tokio::test]
    async fn limits_and_write_once_params_hold_across_instances() {
        let Some((url, schema)) = pg_url().await else {
            return;
        };
        let limits = StoreLimits {
            max_concurrent_experiments: 1,
            max_runs_per_experiment: 3,
            max_metric_keys_per_run: 100,
        };
        let a: Arc<dyn Store> = Arc::new(
            PgStore::open(&super::super::test_options(&url), 4, limits, true)
                .await
                .unwrap(),
        );
        let b: Arc<dyn Store> = Arc::new(
            PgStore::open(&super::super::test_options(&url), 4, limits, false)
                .await
                .unwrap(),
        );
        let p = a.create_project(project("limits"), None).await.unwrap();
        let mut experiment_ids = Vec::new();
        for i in 0..4 {
            let e = a
                .create_experiment(experiment(&p.id, &format!("e{i}"), i))
                .await
                .unwrap();
            experiment_ids.push(e.id);
        }

        // Runs: 10 concurrent creations, 3 allowed.
        let mut tasks = Vec::new();
        for i in 0..10 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let r = run(&experiment_ids[0], &ids::new_id(), &format!("r{i}"), None);
            tasks.push(tokio::spawn(async move {
                store.create_run(r, Vec::new()).await
            }));
        }
        let mut created = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(run) => created.push(run.id),
                Err(Error::LimitExceeded { .. }) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(created.len(), 3);
        assert_eq!(a.count_runs(&experiment_ids[..1]).await.unwrap(), vec![3]);
        // The run counter follows permanent deletes: one slot frees up, and only one.
        b.delete_run(&created[0]).await.unwrap();
        assert_eq!(a.count_runs(&experiment_ids[..1]).await.unwrap(), vec![2]);
        let again = |name: &str| run(&experiment_ids[0], &ids::new_id(), name, None);
        a.create_run(again("r-again"), Vec::new()).await.unwrap();
        assert!(matches!(
            b.create_run(again("r-over"), Vec::new()).await,
            Err(Error::LimitExceeded { .. })
        ));

        // Experiments: 4 concurrent starts, 1 allowed.
        let mut tasks = Vec::new();
        for (i, id) in experiment_ids.iter().enumerate() {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .update_experiment(
                        &id,
                        Box::new(|e: &mut Experiment| {
                            e.status = ExperimentStatus::Running;
                            Ok(())
                        }),
                    )
                    .await
            }));
        }
        let mut started = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => started += 1,
                Err(Error::LimitExceeded { .. }) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(started, 1);

        // Params: concurrent writers of one key with different values; one wins.
        let r = a
            .create_run(run(&experiment_ids[1], "pr", "pr", None), Vec::new())
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let id = r.id.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .log_batch(
                        &id,
                        vec![("k".into(), param(serde_json::json!(i)))],
                        Default::default(),
                        None,
                        Vec::new(),
                        Vec::new(),
                    )
                    .await
            }));
        }
        let mut written = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => written += 1,
                Err(Error::Conflict(_)) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(written, 1);
        let stored = a.get_run(&r.id).await.unwrap();
        assert_eq!(stored.params.len(), 1);

        // A conflicting batch changes nothing, not even its other params or tags.
        let before = a.get_run(&r.id).await.unwrap();
        let value = before.params["k"].clone();
        let err = a
            .update_run(
                &r.id,
                Box::new(|_| Ok(())),
                vec![
                    ("fresh".into(), param(serde_json::json!("x"))),
                    ("k".into(), param(serde_json::json!(format!("not {value}")))),
                ],
                [("t".to_owned(), Some("v".to_owned()))].into(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        let after = a.get_run(&r.id).await.unwrap();
        assert_eq!(after.params, before.params);
        assert!(after.tags.is_empty());

        drop((a, b));
        drop_schema(&schema).await;
    }
}
