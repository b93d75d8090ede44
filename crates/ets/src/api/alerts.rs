//! `/api/v1/alerts`: alert rules, the alerts they fire and their webhook deliveries.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::ErrorBody;
use super::extract::{Json, Path, Query};
use crate::actor::Actor;
use crate::error::Result;
use crate::service::alerts::{
    AlertList, AlertListParams, AlertRule, AlertRuleList, AlertRuleListParams, AlertRulePatch,
    DeliveryList, NewAlertRule,
};
use crate::store::AlertRecord;

/// Create an alert rule on an experiment (or, with `project_id` alone, on every experiment of
/// a project): a metric threshold, a failed safety verdict, a failed run or a stale run.
/// Alerts are delivered to `webhook_url`, signed with `secret`.
#[utoipa::path(post, path = "/api/v1/alerts/rules", tag = "alerts", request_body = NewAlertRule,
    responses((status = 201, body = AlertRule), (status = 400, description = "Invalid rule", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn create_rule(
    State(s): State<AppState>,
    actor: Actor,
    Json(body): Json<NewAlertRule>,
) -> Result<(StatusCode, JsonResponse<AlertRule>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_alert_rule(&actor, body).await?),
    ))
}

/// The alert rules the caller may see, optionally of one project or experiment.
#[utoipa::path(get, path = "/api/v1/alerts/rules", tag = "alerts", params(AlertRuleListParams),
    responses((status = 200, body = AlertRuleList), (status = 404, body = ErrorBody)))]
pub async fn list_rules(
    State(s): State<AppState>,
    actor: Actor,
    Query(params): Query<AlertRuleListParams>,
) -> Result<JsonResponse<AlertRuleList>> {
    Ok(JsonResponse(s.list_alert_rules(&actor, &params).await?))
}

#[utoipa::path(get, path = "/api/v1/alerts/rules/{id}", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, body = AlertRule), (status = 404, body = ErrorBody)))]
pub async fn get_rule(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<AlertRule>> {
    Ok(JsonResponse(s.get_alert_rule(&actor, &id).await?))
}

/// Change a rule (enable or disable it, move its threshold, change its webhook).
#[utoipa::path(patch, path = "/api/v1/alerts/rules/{id}", tag = "alerts", params(("id" = String, Path)),
    request_body = AlertRulePatch,
    responses((status = 200, body = AlertRule), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_rule(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(patch): Json<AlertRulePatch>,
) -> Result<JsonResponse<AlertRule>> {
    Ok(JsonResponse(s.update_alert_rule(&actor, &id, patch).await?))
}

/// Delete a rule with its alerts and their pending deliveries.
#[utoipa::path(delete, path = "/api/v1/alerts/rules/{id}", tag = "alerts", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    s.delete_alert_rule(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Alerts, newest first: `firing`, `acknowledged` (still open) or `resolved`.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertListParams),
    responses((status = 200, body = AlertList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_alerts(
    State(s): State<AppState>,
    actor: Actor,
    Query(params): Query<AlertListParams>,
) -> Result<JsonResponse<AlertList>> {
    Ok(JsonResponse(s.list_alerts(&actor, &params).await?))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, body = AlertRecord), (status = 404, body = ErrorBody)))]
pub async fn get_alert(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<AlertRecord>> {
    Ok(JsonResponse(s.get_alert(&actor, &id).await?))
}

/// Acknowledge an open alert: it stays open until its condition clears (then it is resolved),
/// and no new alert of its rule fires on the run meanwhile.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, body = AlertRecord), (status = 404, body = ErrorBody),
              (status = 409, description = "The alert is resolved", body = ErrorBody)))]
pub async fn acknowledge_alert(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<AlertRecord>> {
    Ok(JsonResponse(s.acknowledge_alert(&actor, &id).await?))
}

/// An alert's webhook deliveries: attempts, last status or error, when delivered.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/deliveries", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, body = DeliveryList), (status = 404, body = ErrorBody)))]
pub async fn list_deliveries(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<DeliveryList>> {
    Ok(JsonResponse(s.alert_deliveries(&actor, &id).await?))
}
