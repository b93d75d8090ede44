//! Logged models (MLflow 3) in SQLite.

use ets_domain::Timestamp;
use ets_domain::model::{LoggedModel, LoggedModelStatus, ModelMetric, RunModel};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::sql::{Sql, json_column, to_json};
use crate::error::{EntityKind, Error, Result};
use crate::store::models as shared;
use crate::store::{Mutation, PointContext, ingest, statements};

/// The columns of a `logged_model_metrics` row read as a [`ModelMetric`].
const METRIC_COLUMNS: &str =
    "model_id, run_id, key, value, step, timestamp, dataset_name, dataset_digest";

const COLUMNS: &str = "m.id, m.experiment_id, m.name, m.model_type, m.source_run_id, m.status, m.status_message, \
                       m.tags, m.params, m.created_at, m.updated_at";

fn status_name(status: LoggedModelStatus) -> &'static str {
    match status {
        LoggedModelStatus::Pending => "pending",
        LoggedModelStatus::Ready => "ready",
        LoggedModelStatus::Failed => "failed",
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<LoggedModel> {
    let status = match row.get::<_, String>(5)?.as_str() {
        "ready" => LoggedModelStatus::Ready,
        "failed" => LoggedModelStatus::Failed,
        _ => LoggedModelStatus::Pending,
    };
    Ok(LoggedModel {
        id: row.get(0)?,
        experiment_id: row.get(1)?,
        name: row.get(2)?,
        model_type: row.get(3)?,
        source_run_id: row.get(4)?,
        status,
        status_message: row.get(6)?,
        tags: json_column(row, 7)?,
        params: json_column(row, 8)?,
        metrics: Vec::new(),
        created_at: Timestamp(row.get(9)?),
        updated_at: Timestamp(row.get(10)?),
    })
}

pub(super) fn insert(conn: &Connection, model: &LoggedModel) -> Result<()> {
    super::experiments::get(conn, &model.experiment_id)?;
    conn.prepare_cached(
        "INSERT INTO logged_models (id, experiment_id, name, model_type, source_run_id, status, status_message, tags, \
         params, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        model.id,
        model.experiment_id,
        model.name,
        model.model_type,
        model.source_run_id,
        status_name(model.status),
        model.status_message,
        to_json(&model.tags),
        to_json(&model.params),
        model.created_at.millis(),
        model.updated_at.millis(),
    ])
    .map_err(|e| match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
            Error::invalid("source_run_id", format!("run '{}' does not exist", model.source_run_id.clone().unwrap_or_default()))
        }
        _ => e.into(),
    })?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<LoggedModel> {
    let mut model = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM logged_models m WHERE m.id = ?1"
        ))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::LoggedModel, id))?;
    load_metrics(conn, std::slice::from_mut(&mut model))?;
    Ok(model)
}

/// Fills the metrics of `models` with one query.
fn load_metrics(conn: &Connection, models: &mut [LoggedModel]) -> Result<()> {
    if models.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = models.iter().map(|m| m.id.clone()).collect();
    let mut sql = Sql::new(&format!(
        "SELECT {METRIC_COLUMNS} FROM logged_model_metrics WHERE model_id IN "
    ));
    sql.bind_list(&ids)
        .push(" ORDER BY model_id, key, timestamp, step, value");
    let metrics = sql.query(conn, model_metric)?;
    shared::attach_metrics(models, metrics);
    Ok(())
}

/// A `logged_model_metrics` row ([`METRIC_COLUMNS`]).
fn model_metric(r: &Row<'_>) -> rusqlite::Result<ModelMetric> {
    Ok(ModelMetric {
        model_id: r.get(0)?,
        run_id: r.get(1)?,
        key: r.get(2)?,
        value: super::sql::value_from_sql(r.get(3)?),
        step: r.get(4)?,
        timestamp: r.get(5)?,
        dataset_name: r.get(6)?,
        dataset_digest: r.get(7)?,
    })
}

/// Records metrics logged for models, skipping those identical to stored ones
/// (`ingest::new_model_metrics`); each model must exist.
pub(super) fn log_metrics(conn: &Connection, metrics: &[ModelMetric]) -> Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    let mut select = conn.prepare_cached(&format!(
        "SELECT {METRIC_COLUMNS} FROM logged_model_metrics WHERE model_id = ?1 AND key = ?2"
    ))?;
    let mut stored = Vec::new();
    let mut read = std::collections::HashSet::new();
    for m in metrics {
        if read.insert((m.model_id.as_str(), m.key.as_str())) {
            let rows = select.query_map(params![m.model_id, m.key], model_metric)?;
            stored.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
        }
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO logged_model_metrics (model_id, run_id, key, step, timestamp, value, dataset_name, \
         dataset_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for m in ingest::new_model_metrics(metrics, &stored) {
        insert
            .execute(params![
                m.model_id,
                m.run_id,
                m.key,
                m.step,
                m.timestamp,
                super::sql::value_to_sql(m.value),
                m.dataset_name,
                m.dataset_digest,
            ])
            .map_err(|e| match &e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
                {
                    Error::not_found(EntityKind::LoggedModel, m.model_id.clone())
                }
                _ => e.into(),
            })?;
    }
    Ok(())
}

pub(super) fn update(
    conn: &Connection,
    id: &str,
    mutation: Mutation<LoggedModel>,
) -> Result<LoggedModel> {
    let mut model = get(conn, id)?;
    mutation(&mut model)?;
    model.updated_at = Timestamp::now().max(model.updated_at);
    conn.prepare_cached(
        "UPDATE logged_models SET name = ?2, status = ?3, status_message = ?4, tags = ?5, params = ?6, updated_at = ?7 \
         WHERE id = ?1",
    )?
    .execute(params![
        model.id,
        model.name,
        status_name(model.status),
        model.status_message,
        to_json(&model.tags),
        to_json(&model.params),
        model.updated_at.millis(),
    ])?;
    Ok(model)
}

pub(super) fn delete(conn: &Connection, id: &str) -> Result<()> {
    let deleted = conn
        .prepare_cached("DELETE FROM logged_models WHERE id = ?1")?
        .execute([id])?;
    if deleted == 0 {
        return Err(Error::not_found(EntityKind::LoggedModel, id));
    }
    Ok(())
}

/// Models of the given experiments, newest first, `offset`/`limit` paged.
pub(super) fn search(
    conn: &Connection,
    experiment_ids: &[String],
    offset: usize,
    limit: usize,
) -> Result<Vec<LoggedModel>> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM logged_models m WHERE m.experiment_id IN "
    ));
    sql.bind_list(experiment_ids).push(&format!(
        " ORDER BY m.created_at DESC, m.id LIMIT {} OFFSET {offset}",
        limit + 1
    ));
    let mut models = sql.query(conn, from_row)?;
    load_metrics(conn, &mut models)?;
    Ok(models)
}

/// Records the dataset contexts of points logged with a dataset and no model, skipping those
/// identical to stored ones (`ingest::new_point_datasets`).
pub(super) fn log_point_datasets(conn: &Connection, contexts: &[PointContext]) -> Result<()> {
    let Some(first) = contexts.first() else {
        return Ok(());
    };
    let keys: Vec<String> = contexts.iter().map(|c| c.key.clone()).collect();
    let mut sql = Sql::new(
        "SELECT run_id, key, step, timestamp, value, NULL, dataset_name, dataset_digest \
         FROM metric_point_datasets WHERE run_id = ",
    );
    sql.bind(first.run_id.clone())
        .push(" AND key IN ")
        .bind_list(&keys);
    let stored = sql.query(conn, point_context)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO metric_point_datasets (run_id, key, step, timestamp, value, dataset_name, dataset_digest) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for c in ingest::new_point_datasets(contexts, &stored) {
        insert.execute(params![
            c.run_id,
            c.key,
            c.step,
            c.timestamp,
            super::sql::value_to_sql(c.value),
            c.dataset_name,
            c.dataset_digest,
        ])?;
    }
    Ok(())
}

/// A context row: `run_id, key, step, timestamp, value, model_id, dataset_name, dataset_digest`.
fn point_context(r: &Row<'_>) -> rusqlite::Result<PointContext> {
    Ok(PointContext {
        run_id: r.get(0)?,
        key: r.get(1)?,
        step: r.get(2)?,
        timestamp: r.get(3)?,
        value: super::sql::value_from_sql(r.get(4)?),
        model_id: r.get(5)?,
        dataset_name: r.get(6)?,
        dataset_digest: r.get(7)?,
    })
}

/// The contexts of the points of metric `key` of the runs (`Store::metric_contexts`).
pub(super) fn metric_contexts(
    conn: &Connection,
    run_ids: &[String],
    key: &str,
) -> Result<Vec<PointContext>> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT run_id, key, step, timestamp, value, model_id, dataset_name, dataset_digest \
         FROM logged_model_metrics WHERE key = ",
    );
    sql.bind(key.to_owned()).push(" AND run_id IN ").bind_list(run_ids).push(
        " UNION ALL SELECT run_id, key, step, timestamp, value, NULL, dataset_name, dataset_digest \
         FROM metric_point_datasets WHERE key = ",
    );
    sql.bind(key.to_owned())
        .push(" AND run_id IN ")
        .bind_list(run_ids);
    Ok(sql.query(conn, point_context)?)
}

/// Links a run to the models it used or produced (`Store::log_run_models`).
pub(super) fn log_run_models(conn: &Connection, run_id: &str, models: &[RunModel]) -> Result<()> {
    super::runs::ensure_active(conn, run_id)?;
    let mut exists = conn.prepare_cached(&super::sql::numbered(statements::LOGGED_MODEL_EXISTS))?;
    let mut insert = conn.prepare_cached(&super::sql::numbered(statements::INSERT_RUN_MODEL))?;
    for m in models {
        let count: i64 = exists.query_row([&m.model_id], |r| r.get(0))?;
        shared::check_model_exists(&m.model_id, count)?;
        insert.execute(params![
            run_id,
            shared::direction_name(m.direction),
            m.model_id,
            m.step
        ])?;
    }
    Ok(())
}
