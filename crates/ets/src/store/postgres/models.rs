//! PostgreSQL: logged models (MLflow 3) and the metrics logged for them.

use ets_domain::Timestamp;
use ets_domain::model::{LoggedModel, LoggedModelStatus, ModelMetric, Tags};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;

use super::sql::{value_from_sql, value_to_sql};
use super::{PgStore, Tx};
use crate::error::{EntityKind, Error, Result};
use crate::store::{Mutation, ingest};

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
                         ORDER BY m.created_at DESC, m.id DESC LIMIT $2 OFFSET $3"
                    ))
                    .await?;
                Ok(tx
                    .query(&statement, &[&ids, &limit, &offset])
                    .await?
                    .iter()
                    .map(from_row)
                    .collect())
            })
        })
        .await
    }
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
    let metrics = tx
        .prepare_cached(
            "SELECT model_id, run_id, key, value, step, timestamp FROM logged_model_metrics \
             WHERE model_id = $1 ORDER BY key, timestamp, step, value",
        )
        .await?;
    model.metrics = tx
        .query(&metrics, &[&id])
        .await?
        .iter()
        .map(model_metric)
        .collect();
    Ok(model)
}

/// A `logged_model_metrics` row (`model_id, run_id, key, value, step, timestamp`).
fn model_metric(r: &Row) -> ModelMetric {
    ModelMetric {
        model_id: r.get(0),
        run_id: r.get(1),
        key: r.get(2),
        value: value_from_sql(r.get(3)),
        step: r.get(4),
        timestamp: r.get(5),
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
        .prepare_cached(
            "SELECT model_id, run_id, key, value, step, timestamp FROM logged_model_metrics \
             WHERE (model_id, key) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))",
        )
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
    let run_ids: Vec<&str> = new.iter().map(|m| m.run_id.as_str()).collect();
    let keys: Vec<&str> = new.iter().map(|m| m.key.as_str()).collect();
    let steps: Vec<i64> = new.iter().map(|m| m.step).collect();
    let timestamps: Vec<i64> = new.iter().map(|m| m.timestamp).collect();
    let values: Vec<Option<f64>> = new.iter().map(|m| value_to_sql(m.value)).collect();
    let insert = tx
        .prepare_cached(
            "INSERT INTO logged_model_metrics (model_id, run_id, key, step, timestamp, value) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::float8[])",
        )
        .await?;
    tx.execute(
        &insert,
        &[&model_ids, &run_ids, &keys, &steps, &timestamps, &values],
    )
    .await?;
    Ok(())
}
