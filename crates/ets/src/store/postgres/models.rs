//! PostgreSQL: logged models (MLflow 3) and the metrics logged for them.

use ets_domain::Timestamp;
use ets_domain::model::{LoggedModel, LoggedModelStatus, ModelMetric, RunModel, Tags};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};

use super::sql::{value_from_sql, value_to_sql};
use super::{PgStore, Tx};
use crate::error::{EntityKind, Error, Result};
use crate::store::ingest::PointRow;
use crate::store::models as shared;
use crate::store::{Mutation, PointContext, ingest, statements};

/// The columns of a `logged_model_metrics` row read as a [`ModelMetric`].
const METRIC_COLUMNS: &str =
    "model_id, run_id, key, value, step, timestamp, dataset_name, dataset_digest";

const COLUMNS: &str = "m.id, m.experiment_id, m.name, m.model_type, m.source_run_id, m.status, \
                       m.status_message, m.tags, m.params, m.created_at, m.updated_at";

fn status_name(status: LoggedModelStatus) -> &'static str {
    match status {
        LoggedModelStatus::Pending => "pending",
        LoggedModelStatus::Ready => "ready",
        LoggedModelStatus::Failed => "failed",
    }
}

fn from_row(row: &Row) -> LoggedModel {
    let status = match row.get::<_, &str>(5) {
        "ready" => LoggedModelStatus::Ready,
        "failed" => LoggedModelStatus::Failed,
        _ => LoggedModelStatus::Pending,
    };
    LoggedModel {
        id: row.get(0),
        experiment_id: row.get(1),
        name: row.get(2),
        model_type: row.get(3),
        source_run_id: row.get(4),
        status,
        status_message: row.get(6),
        tags: row.get::<_, Json<Tags>>(7).0,
        params: row.get::<_, Json<Tags>>(8).0,
        metrics: Vec::new(),
        created_at: Timestamp(row.get(9)),
        updated_at: Timestamp(row.get(10)),
    }
}

impl PgStore {
    pub(super) async fn create_logged_model(&self, model: LoggedModel) -> Result<LoggedModel> {
        self.write(move |tx| {
            Box::pin(async move {
                insert(tx, &model).await?;
                Ok(model)
            })
        })
        .await
    }

    pub(super) async fn get_logged_model(&self, id: &str) -> Result<LoggedModel> {
        let id = id.to_owned();
        self.read(move |tx| Box::pin(async move { get(tx, &id, false).await }))
            .await
    }

    pub(super) async fn update_logged_model(
        &self,
        id: &str,
        mutation: Mutation<LoggedModel>,
    ) -> Result<LoggedModel> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let mut model = get(tx, &id, true).await?;
                mutation(&mut model)?;
                model.updated_at = Timestamp::now().max(model.updated_at);
                let statement = tx
                    .prepare_cached(
                        "UPDATE logged_models SET name = $2, status = $3, status_message = $4, tags = $5, \
                         params = $6, updated_at = $7 WHERE id = $1",
                    )
                    .await?;
                tx.execute(
                    &statement,
                    &[
                        &model.id,
                        &model.name,
                        &status_name(model.status),
                        &model.status_message,
                        &Json(&model.tags),
                        &Json(&model.params),
                        &model.updated_at.millis(),
                    ],
                )
                .await?;
                Ok(model)
            })
        })
        .await
    }

    pub(super) async fn delete_logged_model(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached("DELETE FROM logged_models WHERE id = $1")
                    .await?;
                if tx.execute(&statement, &[&id]).await? == 0 {
                    return Err(Error::not_found(EntityKind::LoggedModel, id));
                }
                Ok(())
            })
        })
        .await
    }

    /// Models of the given experiments, newest first, `offset`/`limit` paged (one extra row
    /// tells whether more follow).
    pub(super) async fn search_logged_models(
        &self,
        experiment_ids: &[String],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LoggedModel>> {
        let ids = experiment_ids.to_vec();
        let (limit, offset) = (limit as i64 + 1, offset as i64);
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM logged_models m WHERE m.experiment_id = ANY($1::text[]) \
                         ORDER BY m.created_at DESC, m.id LIMIT $2 OFFSET $3"
                    ))
                    .await?;
                let mut models: Vec<LoggedModel> = tx
                    .query(&statement, &[&ids, &limit, &offset])
                    .await?
                    .iter()
                    .map(from_row)
                    .collect();
                load_metrics(tx, &mut models).await?;
                Ok(models)
            })
        })
        .await
    }

    /// Links a run to the models it used or produced (`Store::log_run_models`).
    pub(super) async fn log_run_models(&self, run_id: &str, models: Vec<RunModel>) -> Result<()> {
        let run_id = run_id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                super::runs::ensure_active(tx, &run_id).await?;
                let exists = tx.prepare_cached(statements::LOGGED_MODEL_EXISTS).await?;
                let insert = tx.prepare_cached(statements::INSERT_RUN_MODEL).await?;
                for m in &models {
                    let count: i64 = tx.query_one(&exists, &[&m.model_id]).await?.try_get(0)?;
                    shared::check_model_exists(&m.model_id, count)?;
                    let direction = shared::direction_name(m.direction);
                    tx.execute(&insert, &[&run_id, &direction, &m.model_id, &m.step])
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// The contexts of the points of metric `key` of the runs (`Store::metric_contexts`).
    pub(super) async fn metric_contexts(
        &self,
        run_ids: Vec<String>,
        key: String,
    ) -> Result<Vec<PointContext>> {
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(
                        "SELECT run_id, key, step, timestamp, value, model_id, dataset_name, dataset_digest \
                         FROM logged_model_metrics WHERE key = $1 AND run_id = ANY($2::text[]) \
                         UNION ALL SELECT run_id, key, step, timestamp, value, NULL, dataset_name, dataset_digest \
                         FROM metric_point_datasets WHERE key = $1 AND run_id = ANY($2::text[])",
                    )
                    .await?;
                let rows = tx.query(&statement, &[&key, &run_ids]).await?;
                Ok(rows.iter().map(point_context).collect())
            })
        })
        .await
    }
}

/// A context row: `run_id, key, step, timestamp, value, model_id, dataset_name, dataset_digest`.
fn point_context(r: &Row) -> PointContext {
    PointContext {
        run_id: r.get(0),
        key: r.get(1),
        step: r.get(2),
        timestamp: r.get(3),
        value: value_from_sql(r.get(4)),
        model_id: r.get(5),
        dataset_name: r.get(6),
        dataset_digest: r.get(7),
    }
}

/// Records the dataset contexts of points logged with a dataset and no model, skipping those
/// identical to stored ones (`ingest::new_point_datasets`).
pub(super) async fn log_point_datasets(tx: &Tx<'_>, contexts: &[PointContext]) -> Result<()> {
    let Some(first) = contexts.first() else {
        return Ok(());
    };
    let keys: Vec<&str> = contexts.iter().map(|c| c.key.as_str()).collect();
    let select = tx
        .prepare_cached(
            "SELECT run_id, key, step, timestamp, value, NULL::text, dataset_name, dataset_digest \
             FROM metric_point_datasets WHERE run_id = $1 AND key = ANY($2::text[])",
        )
        .await?;
    let stored: Vec<PointContext> = tx
        .query(&select, &[&first.run_id, &keys])
        .await?
        .iter()
        .map(point_context)
        .collect();
    let new = ingest::new_point_datasets(contexts, &stored);
    if new.is_empty() {
        return Ok(());
    }
    let c = PointColumns::of(new.iter().map(|&row| PointRow::from(row)));
    let insert = tx
        .prepare_cached(
            "INSERT INTO metric_point_datasets (run_id, key, step, timestamp, value, dataset_name, dataset_digest) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::float8[], $6::text[], $7::text[])",
        )
        .await?;
    tx.execute(&insert, &c.params()).await?;
    Ok(())
}

/// Fills the metrics of `models` with one query.
async fn load_metrics(tx: &Tx<'_>, models: &mut [LoggedModel]) -> Result<()> {
    if models.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = models.iter().map(|m| m.id.clone()).collect();
    let statement = tx
        .prepare_cached(&format!(
            "SELECT {METRIC_COLUMNS} FROM logged_model_metrics WHERE model_id = ANY($1::text[]) \
             ORDER BY model_id, key, timestamp, step, value"
        ))
        .await?;
    let metrics = tx
        .query(&statement, &[&ids])
        .await?
        .iter()
        .map(model_metric)
        .collect();
    shared::attach_metrics(models, metrics);
    Ok(())
}

async fn insert(tx: &Tx<'_>, model: &LoggedModel) -> Result<()> {
    let experiment = tx
        .prepare_cached("SELECT 1 FROM experiments WHERE id = $1 FOR KEY SHARE")
        .await?;
    if tx
        .query_opt(&experiment, &[&model.experiment_id])
        .await?
        .is_none()
    {
        return Err(Error::not_found(
            EntityKind::Experiment,
            model.experiment_id.clone(),
        ));
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO logged_models (id, experiment_id, name, model_type, source_run_id, status, \
             status_message, tags, params, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &model.id,
            &model.experiment_id,
            &model.name,
            &model.model_type,
            &model.source_run_id,
            &status_name(model.status),
            &model.status_message,
            &Json(&model.tags),
            &Json(&model.params),
            &model.created_at.millis(),
            &model.updated_at.millis(),
        ],
    )
    .await
    .map_err(|e| {
        if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
            && e.as_db_error()
                .and_then(|d| d.constraint())
                .is_some_and(|c| c.contains("source_run_id"))
        {
            Error::invalid(
                "source_run_id",
                format!(
                    "run '{}' does not exist",
                    model.source_run_id.clone().unwrap_or_default()
                ),
            )
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// A model with its metrics; `for_update` locks its row for the rest of the transaction.
async fn get(tx: &Tx<'_>, id: &str, for_update: bool) -> Result<LoggedModel> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let statement = tx
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM logged_models m WHERE m.id = $1{lock}"
        ))
        .await?;
    let mut model = tx
        .query_opt(&statement, &[&id])
        .await?
        .map(|r| from_row(&r))
        .ok_or_else(|| Error::not_found(EntityKind::LoggedModel, id))?;
    load_metrics(tx, std::slice::from_mut(&mut model)).await?;
    Ok(model)
}

/// A `logged_model_metrics` row ([`METRIC_COLUMNS`]).
fn model_metric(r: &Row) -> ModelMetric {
    ModelMetric {
        model_id: r.get(0),
        run_id: r.get(1),
        key: r.get(2),
        value: value_from_sql(r.get(3)),
        step: r.get(4),
        timestamp: r.get(5),
        dataset_name: r.get(6),
        dataset_digest: r.get(7),
    }
}

/// Stores metrics logged for models (MLflow 3's `log_metric(model_id=…)`); each model must
/// exist (the first metric naming a missing one is reported). Repeats are ignored.
pub(super) async fn log_model_metrics(tx: &Tx<'_>, metrics: &[ModelMetric]) -> Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    let model_ids: Vec<&str> = metrics.iter().map(|m| m.model_id.as_str()).collect();
    // Key-share locks keep the models from being deleted before the insert below.
    let existing = tx
        .prepare_cached(
            "SELECT id FROM logged_models WHERE id = ANY($1::text[]) ORDER BY id FOR KEY SHARE",
        )
        .await?;
    let found: std::collections::HashSet<String> = tx
        .query(&existing, &[&model_ids])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if let Some(missing) = metrics.iter().find(|m| !found.contains(&m.model_id)) {
        return Err(Error::not_found(
            EntityKind::LoggedModel,
            missing.model_id.clone(),
        ));
    }
    let keys: Vec<&str> = metrics.iter().map(|m| m.key.as_str()).collect();
    let stored_statement = tx
        .prepare_cached(&format!(
            "SELECT {METRIC_COLUMNS} FROM logged_model_metrics \
             WHERE (model_id, key) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))"
        ))
        .await?;
    let stored: Vec<ModelMetric> = tx
        .query(&stored_statement, &[&model_ids, &keys])
        .await?
        .iter()
        .map(model_metric)
        .collect();
    let new = ingest::new_model_metrics(metrics, &stored);
    if new.is_empty() {
        return Ok(());
    }
    let model_ids: Vec<&str> = new.iter().map(|m| m.model_id.as_str()).collect();
    let c = PointColumns::of(new.iter().map(|&row| PointRow::from(row)));
    let insert = tx
        .prepare_cached(
            "INSERT INTO logged_model_metrics (model_id, run_id, key, step, timestamp, value, dataset_name, \
             dataset_digest) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], \
             $6::float8[], $7::text[], $8::text[])",
        )
        .await?;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&model_ids];
    params.extend(c.params());
    tx.execute(&insert, &params).await?;
    Ok(())
}

/// The columns of [`PointRow`]s, one array each, for an `INSERT … SELECT * FROM UNNEST(…)`.
#[derive(Default)]
struct PointColumns<'a> {
    run_ids: Vec<&'a str>,
    keys: Vec<&'a str>,
    steps: Vec<i64>,
    timestamps: Vec<i64>,
    values: Vec<Option<f64>>,
    names: Vec<Option<&'a str>>,
    digests: Vec<Option<&'a str>>,
}

impl<'a> PointColumns<'a> {
    fn of(rows: impl Iterator<Item = PointRow<'a>>) -> Self {
        let mut c = PointColumns::default();
        for r in rows {
            c.run_ids.push(r.run_id);
            c.keys.push(r.key);
            c.steps.push(r.step);
            c.timestamps.push(r.timestamp);
            c.values.push(value_to_sql(r.value));
            c.names.push(r.dataset_name);
            c.digests.push(r.dataset_digest);
        }
        c
    }

    /// The arrays as statement parameters, in [`PointRow`]'s column order.
    fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.run_ids,
            &self.keys,
            &self.steps,
            &self.timestamps,
            &self.values,
            &self.names,
            &self.digests,
        ]
    }
}
