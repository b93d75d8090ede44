//! Rows of the alert tables (migration 10) and the SQL both backends run on them, written once
//! (`$n` placeholders; SQLite converts them).
//!
//! - `alert_rules`: what to watch, where to notify.
//! - `alert_events`: one alert per rule and run while open (`firing` → `acknowledged`), then
//!   `resolved`; a partial unique index allows one open alert per (rule, run), so instances
//!   evaluating the same run cannot fire twice.
//! - `alert_deliveries`: the webhook outbox, written in the transaction that fires or resolves
//!   the alert, so no notification is lost to a crash; workers lease due rows, send them and
//!   record the outcome (at least once; the row id is the receiver's idempotency key).

use ets_domain::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::rows::RowRead;
use super::statements::{TextQuery, placeholders};
use crate::alerts::rule::RuleSpec;

/// A rule as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRuleRecord {
    pub id: String,
    pub project_id: String,
    /// `None`: the rule watches every experiment of the project.
    pub experiment_id: Option<String>,
    pub name: String,
    pub spec: RuleSpec,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub enabled: bool,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<AlertState> {
        match text {
            "firing" => Some(AlertState::Firing),
            "acknowledged" => Some(AlertState::Acknowledged),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }
}

/// An alert: a rule's condition held on a run.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertRecord {
    pub id: String,
    pub rule_id: String,
    pub project_id: String,
    pub experiment_id: String,
    pub run_id: String,
    pub state: AlertState,
    /// The value that breached (a metric, minutes idle); `null` when there is none or it was
    /// NaN.
    pub value: Option<f64>,
    /// Why it fired, in a sentence.
    pub message: String,
    pub fired_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
}

/// One webhook notification and its delivery so far.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryRecord {
    /// Also sent as `X-ETS-Delivery` and `Idempotency-Key`: the same on every retry.
    pub id: String,
    pub alert_id: String,
    /// `alert.firing` or `alert.resolved`.
    pub event: String,
    pub url: String,
    /// The JSON body, identical on every attempt.
    #[serde(skip)]
    pub payload: String,
    /// `sha256=<hex>` of the body (HMAC with the rule's secret when the delivery was queued).
    #[serde(skip)]
    pub signature: Option<String>,
    /// `pending`, `delivered` or `failed` (gave up after `alerts.max_attempts`).
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    #[serde(skip)]
    pub lease_until: Option<i64>,
    /// HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Delivered {
        status: i64,
        at: i64,
    },
    /// Try again at `next_attempt_at`.
    Retry {
        status: Option<i64>,
        error: String,
        next_attempt_at: i64,
    },
    /// No more attempts.
    GaveUp {
        status: Option<i64>,
        error: String,
    },
}

impl DeliveryOutcome {
    /// (state, last_status, last_error, next_attempt_at, delivered_at) as [`FINISH_DELIVERY`]
    /// binds them (`next_attempt_at` unchanged when `None`).
    pub(crate) fn columns(
        &self,
    ) -> (
        &'static str,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
    ) {
        match self {
            DeliveryOutcome::Delivered { status, at } => {
                ("delivered", Some(*status), None, None, Some(*at))
            }
            DeliveryOutcome::Retry {
                status,
                error,
                next_attempt_at,
            } => (
                "pending",
                *status,
                Some(error.clone()),
                Some(*next_attempt_at),
                None,
            ),
            DeliveryOutcome::GaveUp { status, error } => {
                ("failed", *status, Some(error.clone()), None, None)
            }
        }
    }
}

/// Which alerts a list returns: newest first, after a (fired_at, id) key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertQuery {
    /// Only these projects' alerts; `None`: all.
    pub project_ids: Option<Vec<String>>,
    pub experiment_id: Option<String>,
    pub run_id: Option<String>,
    pub rule_id: Option<String>,
    pub state: Option<AlertState>,
    pub before: Option<(i64, String)>,
    pub limit: u32,
}

pub(crate) const RULE_COLUMNS: &str = "id, project_id, experiment_id, name, spec, webhook_url, \
     webhook_secret, enabled, created_by, created_at, updated_at";
pub(crate) const INSERT_RULE: &str = "INSERT INTO alert_rules (id, project_id, experiment_id, name, \
     spec, webhook_url, webhook_secret, enabled, created_by, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
pub(crate) const UPDATE_RULE: &str = "UPDATE alert_rules SET name = $2, spec = $3, webhook_url = $4, \
     webhook_secret = $5, enabled = $6, updated_at = $7 WHERE id = $1";
pub(crate) const DELETE_RULE: &str = "DELETE FROM alert_rules WHERE id = $1";

pub(crate) fn select_rule() -> String {
    format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1")
}

/// Every rule, or those of the projects bound as `$1..$n`, oldest first.
pub(crate) fn list_rules(projects: Option<usize>) -> String {
    match projects {
        None => format!("SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY created_at, id"),
        Some(0) => format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE 1 = 0"),
        Some(n) => format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE project_id IN ({}) ORDER BY created_at, id",
            placeholders(1, n)
        ),
    }
}

pub(crate) fn rule_row<R: RowRead>(row: &R) -> Result<AlertRuleRecord, R::Error> {
    Ok(AlertRuleRecord {
        id: row.text(0)?,
        project_id: row.text(1)?,
        experiment_id: row.opt_text(2)?,
        name: row.text(3)?,
        spec: row.json(4)?,
        webhook_url: row.opt_text(5)?,
        webhook_secret: row.opt_text(6)?,
        enabled: row.flag(7)?,
        created_by: row.opt_text(8)?,
        created_at: row.int(9)?,
        updated_at: row.int(10)?,
    })
}

pub(crate) const ALERT_COLUMNS: &str = "id, rule_id, project_id, experiment_id, run_id, state, value, \
     message, fired_at, acknowledged_at, acknowledged_by, resolved_at";
/// Does nothing when the rule already has an open alert on the run (the partial unique index).
pub(crate) const INSERT_ALERT: &str = "INSERT INTO alert_events (id, rule_id, project_id, \
     experiment_id, run_id, state, value, message, fired_at) \
     VALUES ($1, $2, $3, $4, $5, 'firing', $6, $7, $8) ON CONFLICT DO NOTHING";
pub(crate) const RESOLVE_ALERT: &str = "UPDATE alert_events SET state = 'resolved', resolved_at = $2 \
     WHERE id = $1 AND state <> 'resolved'";
pub(crate) const ACKNOWLEDGE_ALERT: &str = "UPDATE alert_events SET state = 'acknowledged', \
     acknowledged_at = $2, acknowledged_by = $3 WHERE id = $1 AND state = 'firing'";

pub(crate) fn select_alert() -> String {
    format!("SELECT {ALERT_COLUMNS} FROM alert_events WHERE id = $1")
}

/// The open alerts of the runs bound as `$1..$n`.
pub(crate) fn open_alerts(runs: usize) -> String {
    format!(
        "SELECT {ALERT_COLUMNS} FROM alert_events WHERE run_id IN ({}) AND state <> 'resolved'",
        placeholders(1, runs)
    )
}

pub(crate) fn alert_row<R: RowRead>(row: &R) -> Result<AlertRecord, R::Error> {
    Ok(AlertRecord {
        id: row.text(0)?,
        rule_id: row.text(1)?,
        project_id: row.text(2)?,
        experiment_id: row.text(3)?,
        run_id: row.text(4)?,
        state: AlertState::parse(&row.text(5)?).unwrap_or(AlertState::Firing),
        value: row.opt_float(6)?,
        message: row.text(7)?,
        fired_at: row.timestamp(8)?,
        acknowledged_at: row.opt_timestamp(9)?,
        acknowledged_by: row.opt_text(10)?,
        resolved_at: row.opt_timestamp(11)?,
    })
}

/// The list query of `query` and its bound text values in order.
pub(crate) fn list_alerts(query: &AlertQuery) -> (String, Vec<String>) {
    let mut q = TextQuery::new(format!(
        "SELECT {ALERT_COLUMNS} FROM alert_events WHERE 1 = 1"
    ));
    if let Some(projects) = &query.project_ids {
        q.and_in("project_id", projects);
    }
    for (column, value) in [
        ("experiment_id", &query.experiment_id),
        ("run_id", &query.run_id),
        ("rule_id", &query.rule_id),
    ] {
        if let Some(value) = value {
            q.and_equal(column, value);
        }
    }
    if let Some(state) = query.state {
        q.push(&format!(" AND state = '{}'", state.as_str()));
    }
    if let Some((fired_at, id)) = &query.before {
        q.push(&format!(
            " AND (fired_at < {fired_at} OR (fired_at = {fired_at} AND id < "
        ));
        q.bind(id);
        q.push("))");
    }
    q.push(&format!(
        " ORDER BY fired_at DESC, id DESC LIMIT {}",
        query.limit
    ));
    q.finish()
}

pub(crate) const DELIVERY_COLUMNS: &str = "id, alert_id, event, url, payload, signature, state, \
     attempts, next_attempt_at, lease_until, last_status, last_error, created_at, delivered_at";
pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO alert_deliveries (id, alert_id, event, url, \
     payload, signature, state, attempts, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)";
pub(crate) const FINISH_DELIVERY: &str = "UPDATE alert_deliveries SET state = $2, last_status = $3, \
     last_error = $4, next_attempt_at = coalesce($5, next_attempt_at), delivered_at = $6, \
     lease_until = NULL WHERE id = $1";

/// Leases up to `limit` due deliveries until `$2` (now is `$1`) and counts the attempt;
/// `lock` is PostgreSQL's `FOR UPDATE SKIP LOCKED` (SQLite has one writer).
pub(crate) fn claim_deliveries(limit: u32, lock: &str) -> String {
    format!(
        "UPDATE alert_deliveries SET lease_until = $2, attempts = attempts + 1 WHERE id IN \
         (SELECT id FROM alert_deliveries WHERE state = 'pending' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at LIMIT {limit} {lock}) \
         RETURNING {DELIVERY_COLUMNS}"
    )
}

pub(crate) fn deliveries_of_alert() -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE alert_id = $1 ORDER BY created_at, id"
    )
}

pub(crate) fn delivery_row<R: RowRead>(row: &R) -> Result<DeliveryRecord, R::Error> {
    Ok(DeliveryRecord {
        id: row.text(0)?,
        alert_id: row.text(1)?,
        event: row.text(2)?,
        url: row.text(3)?,
        payload: row.text(4)?,
        signature: row.opt_text(5)?,
        state: row.text(6)?,
        attempts: row.int(7)?,
        next_attempt_at: row.timestamp(8)?,
        lease_until: row.opt_int(9)?,
        last_status: row.opt_int(10)?,
        last_error: row.opt_text(11)?,
        created_at: row.timestamp(12)?,
        delivered_at: row.opt_timestamp(13)?,
    })
}

/// Runs a periodic sweep looks at: those of the experiments bound as `$1..` and the projects
/// after them, that are running or were active since `since` (epoch ms; rendered, so every
/// bound value is text), most recently active first.
pub(crate) fn sweep_runs(since: i64, experiments: usize, projects: usize, limit: u32) -> String {
    let mut scopes = Vec::new();
    if experiments > 0 {
        scopes.push(format!(
            "r.experiment_id IN ({})",
            placeholders(1, experiments)
        ));
    }
    if projects > 0 {
        scopes.push(format!(
            "e.project_id IN ({})",
            placeholders(1 + experiments, projects)
        ));
    }
    let scope = if scopes.is_empty() {
        "1 = 0".to_owned()
    } else {
        scopes.join(" OR ")
    };
    format!(
        "SELECT r.id FROM runs r JOIN experiments e ON e.id = r.experiment_id \
         WHERE r.deleted_at IS NULL AND (r.status = 'running' OR r.updated_at >= {since}) AND ({scope}) \
         ORDER BY r.updated_at DESC LIMIT {limit}"
    )
}
