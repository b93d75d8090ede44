//! Alert rules, alerts and the webhook outbox in SQLite (SQL and rows: `store::alerts`).

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::sql::{numbered, to_json};
use crate::error::{EntityKind, Error, Result};
use crate::store::Mutation;
use crate::store::alerts::{
    self as q, AlertQuery, AlertRecord, AlertRuleRecord, DeliveryOutcome, DeliveryRecord,
};

pub(super) fn insert_rule(conn: &Connection, rule: &AlertRuleRecord) -> Result<()> {
    conn.prepare_cached(&numbered(q::INSERT_RULE))?
        .execute(params![
            rule.id,
            rule.project_id,
            rule.experiment_id,
            rule.name,
            to_json(&rule.spec),
            rule.webhook_url,
            rule.webhook_secret,
            rule.enabled,
            rule.created_by,
            rule.created_at,
            rule.updated_at,
        ])?;
    Ok(())
}

pub(super) fn get_rule(conn: &Connection, id: &str) -> Result<AlertRuleRecord> {
    conn.prepare_cached(&numbered(&q::select_rule()))?
        .query_row([id], |r| q::rule_row(r))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::AlertRule, id))
}

pub(super) fn list_rules(
    conn: &Connection,
    projects: Option<&[String]>,
) -> Result<Vec<AlertRuleRecord>> {
    let mut statement = conn.prepare_cached(&numbered(&q::list_rules(projects.map(<[_]>::len))))?;
    let rows = statement.query_map(params_from_iter(projects.unwrap_or_default()), |r| {
        q::rule_row(r)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn update_rule(
    conn: &Connection,
    id: &str,
    mutation: Mutation<AlertRuleRecord>,
) -> Result<AlertRuleRecord> {
    let mut rule = get_rule(conn, id)?;
    mutation(&mut rule)?;
    conn.prepare_cached(&numbered(q::UPDATE_RULE))?
        .execute(params![
            rule.id,
            rule.name,
            to_json(&rule.spec),
            rule.webhook_url,
            rule.webhook_secret,
            rule.enabled,
            rule.updated_at,
        ])?;
    Ok(rule)
}

pub(super) fn delete_rule(conn: &Connection, id: &str) -> Result<()> {
    if conn
        .prepare_cached(&numbered(q::DELETE_RULE))?
        .execute([id])?
        == 0
    {
        return Err(Error::not_found(EntityKind::AlertRule, id));
    }
    Ok(())
}

fn insert_delivery(conn: &Connection, delivery: &DeliveryRecord) -> Result<()> {
    conn.prepare_cached(&numbered(q::INSERT_DELIVERY))?
        .execute(params![
            delivery.id,
            delivery.alert_id,
            delivery.event,
            delivery.url,
            delivery.payload,
            delivery.signature,
            delivery.created_at.millis(),
        ])?;
    Ok(())
}

pub(super) fn fire(
    conn: &Connection,
    alert: &AlertRecord,
    delivery: Option<&DeliveryRecord>,
) -> Result<bool> {
    let opened = conn
        .prepare_cached(&numbered(q::INSERT_ALERT))?
        .execute(params![
            alert.id,
            alert.rule_id,
            alert.project_id,
            alert.experiment_id,
            alert.run_id,
            alert.value.filter(|v| !v.is_nan()),
            alert.message,
            alert.fired_at.millis(),
        ])?
        == 1;
    if opened && let Some(delivery) = delivery {
        insert_delivery(conn, delivery)?;
    }
    Ok(opened)
}

pub(super) fn resolve(
    conn: &Connection,
    id: &str,
    at: i64,
    delivery: Option<&DeliveryRecord>,
) -> Result<bool> {
    let resolved = conn
        .prepare_cached(&numbered(q::RESOLVE_ALERT))?
        .execute(params![id, at])?
        == 1;
    if resolved && let Some(delivery) = delivery {
        insert_delivery(conn, delivery)?;
    }
    Ok(resolved)
}

pub(super) fn get_alert(conn: &Connection, id: &str) -> Result<AlertRecord> {
    conn.prepare_cached(&numbered(&q::select_alert()))?
        .query_row([id], |r| q::alert_row(r))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Alert, id))
}

pub(super) fn acknowledge(conn: &Connection, id: &str, by: &str, at: i64) -> Result<AlertRecord> {
    conn.prepare_cached(&numbered(q::ACKNOWLEDGE_ALERT))?
        .execute(params![id, at, by])?;
    let alert = get_alert(conn, id)?;
    crate::store::rules::check_acknowledged(&alert)?;
    Ok(alert)
}

pub(super) fn list_alerts(conn: &Connection, query: &AlertQuery) -> Result<Vec<AlertRecord>> {
    let (sql, values) = q::list_alerts(query);
    let mut statement = conn.prepare_cached(&numbered(&sql))?;
    let rows = statement.query_map(params_from_iter(values.iter()), |r| q::alert_row(r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn open_alerts(conn: &Connection, runs: &[String]) -> Result<Vec<AlertRecord>> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare_cached(&numbered(&q::open_alerts(runs.len())))?;
    let rows = statement.query_map(params_from_iter(runs.iter()), |r| q::alert_row(r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn deliveries(conn: &Connection, alert_id: &str) -> Result<Vec<DeliveryRecord>> {
    let mut statement = conn.prepare_cached(&numbered(&q::deliveries_of_alert()))?;
    let rows = statement.query_map([alert_id], |r| q::delivery_row(r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn claim(
    conn: &Connection,
    now: i64,
    lease_until: i64,
    limit: u32,
) -> Result<Vec<DeliveryRecord>> {
    let mut statement = conn.prepare_cached(&numbered(&q::claim_deliveries(limit, "")))?;
    let rows = statement.query_map(params![now, lease_until], |r| q::delivery_row(r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn finish(conn: &Connection, id: &str, outcome: &DeliveryOutcome) -> Result<()> {
    let (state, status, error, next, delivered) = outcome.columns();
    conn.prepare_cached(&numbered(q::FINISH_DELIVERY))?
        .execute(params![id, state, status, error, next, delivered])?;
    Ok(())
}

pub(super) fn sweep_runs(
    conn: &Connection,
    since: i64,
    experiments: &[String],
    projects: &[String],
    limit: u32,
) -> Result<Vec<String>> {
    let sql = q::sweep_runs(since, experiments.len(), projects.len(), limit);
    let mut statement = conn.prepare_cached(&numbered(&sql))?;
    let rows = statement.query_map(params_from_iter(experiments.iter().chain(projects)), |r| {
        r.get(0)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
