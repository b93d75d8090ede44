//! Logged models (MLflow 3) in SQLite.

use ets_domain::Timestamp;
use ets_domain::model::{LoggedModel, LoggedModelStatus, ModelMetric};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::sql::{Sql, json_column, to_json};
use crate::error::{EntityKind, Error, Result};
use crate::store::{Mutation, ingest};

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
    model.metrics = conn
        .prepare_cached(
            "SELECT model_id, run_id, key, value, step, timestamp FROM logged_model_metrics WHERE model_id = ?1 \
             ORDER BY key, timestamp, step, value",
        )?
        .query_map([id], model_metric)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(model)
}

/// A `logged_model_metrics` row (`model_id, run_id, key, value, step, timestamp`).
fn model_metric(r: &Row<'_>) -> rusqlite::Result<ModelMetric> {
    Ok(ModelMetric {
        model_id: r.get(0)?,
        run_id: r.get(1)?,
        key: r.get(2)?,
        value: super::sql::value_from_sql(r.get(3)?),
        step: r.get(4)?,
        timestamp: r.get(5)?,
    })
}

/// Records metrics logged for models, skipping those identical to stored ones
/// (`ingest::new_model_metrics`); each model must exist.
pub(super) fn log_metrics(conn: &Connection, metrics: &[ModelMetric]) -> Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    let mut select = conn.prepare_cached(
        "SELECT model_id, run_id, key, value, step, timestamp FROM logged_model_metrics \
         WHERE model_id = ?1 AND key = ?2",
    )?;
    let mut stored = Vec::new();
    let mut read = std::collections::HashSet::new();
    for m in metrics {
        if read.insert((m.model_id.as_str(), m.key.as_str())) {
            let rows = select.query_map(params![m.model_id, m.key], model_metric)?;
            stored.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
        }
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO logged_model_metrics (model_id, run_id, key, step, timestamp, value) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for m in ingest::new_model_metrics(metrics, &stored) {
        insert
            .execute(params![
                m.model_id,
                m.run_id,
                m.key,
                m.step,
                m.timestamp,
                super::sql::value_to_sql(m.value)
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
        " ORDER BY m.created_at DESC, m.id DESC LIMIT {} OFFSET {offset}",
        limit + 1
    ));
    Ok(sql.query(conn, from_row)?)
}
