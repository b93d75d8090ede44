//! `/api/v1/runs`: lifecycle, params and tags, metrics. Artifacts are in `artifacts.rs`.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::StatusCode;
use ets_domain::model::{
    FinishRun, LogMetricsResult, MetricSeries, MetricSummary, NewRun, Run, RunPatch,
};

use super::error::ErrorBody;
use super::extract::{Json, OptionalJson, Path, Query};
use super::{AppState, ItemList, ListResponse};
use crate::actor::Actor;
use crate::error::Result;
use crate::service::ListParams;
use crate::service::runs::{LogMetricsBody, RunQuery, SeriesQuery};

/// Create a run (status `running` unless `scheduled` is asked for).
#[utoipa::path(post, path = "/api/v1/runs", tag = "runs", request_body = NewRun,
    responses((status = 201, body = Run), (status = 422, body = ErrorBody),
              (status = 409, description = "Conflict, or limits.max_runs_per_experiment reached (`limit_exceeded`)", body = ErrorBody)))]
pub async fn create_run(
    State(s): State<AppState>,
    actor: Actor,
    Json(body): Json<NewRun>,
) -> Result<(StatusCode, JsonResponse<Run>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_run(&actor, body).await?),
    ))
}

/// List runs with their params, tags and latest metrics, filtered, sorted and paged.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunQuery, ListParams),
    responses((status = 200, body = ListResponse<Run>), (status = 400, body = ErrorBody)))]
pub async fn list_runs(
    State(s): State<AppState>,
    actor: Actor,
    Query(query): Query<RunQuery>,
    Query(list): Query<ListParams>,
) -> Result<JsonResponse<ListResponse<Run>>> {
    Ok(JsonResponse(s.list_runs(&actor, query, list).await?.into()))
}

/// Get a run with its params, tags and latest metrics.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, body = Run), (status = 404, body = ErrorBody)))]
pub async fn get_run(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<Run>> {
    Ok(JsonResponse(s.get_run(&actor, &id).await?))
}

/// Update a run: rename, describe, add params (write-once), set or remove tags.
#[utoipa::path(put, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = String, Path)), request_body = RunPatch,
    responses((status = 200, body = Run), (status = 404, body = ErrorBody),
              (status = 409, description = "A param would change", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_run(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(patch): Json<RunPatch>,
) -> Result<JsonResponse<Run>> {
    Ok(JsonResponse(s.update_run(&actor, &id, patch).await?))
}

/// Query of `DELETE /api/v1/runs/{id}`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `true` deletes at once, for good, with everything below (metrics, artifacts). Default:
    /// move to the trash.
    #[serde(default)]
    pub permanent: bool,
}

/// Delete a run. By default it moves to the trash (as MLflow does): it leaves the lists
/// (`lifecycle=deleted` shows it), refuses new metrics and artifacts, keeps everything, and
/// `POST …/restore` brings it back; `ets gc` removes it for good after
/// `artifacts.deleted_run_retention_days`. `?permanent=true` deletes it with its metrics and
/// artifacts at once (also from the trash).
#[utoipa::path(delete, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = String, Path), DeleteQuery),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_run(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> Result<StatusCode> {
    if query.permanent {
        s.delete_run(&actor, &id).await?;
    } else {
        s.trash_run(&actor, &id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Bring a run back from the trash, with everything it had.
#[utoipa::path(post, path = "/api/v1/runs/{id}/restore", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, body = Run), (status = 404, body = ErrorBody)))]
pub async fn restore_run(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<Run>> {
    Ok(JsonResponse(s.restore_run(&actor, &id).await?))
}

/// Start a scheduled run.
#[utoipa::path(post, path = "/api/v1/runs/{id}/start", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, body = Run), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start_run(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<Run>> {
    Ok(JsonResponse(s.start_run(&actor, &id).await?))
}

/// Finish a run as `finished` (default), `failed` or `killed`.
#[utoipa::path(post, path = "/api/v1/runs/{id}/finish", tag = "runs", params(("id" = String, Path)),
    request_body(content = Option<FinishRun>, description = "Optional"),
    responses((status = 200, body = Run), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn finish_run(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<FinishRun>,
) -> Result<JsonResponse<Run>> {
    Ok(JsonResponse(s.finish_run(&actor, &id, body).await?))
}

/// Log one metric point or a batch of many keys × steps, in one transaction.
#[utoipa::path(post, path = "/api/v1/runs/{id}/metrics", tag = "runs", params(("id" = String, Path)),
    request_body = LogMetricsBody,
    responses((status = 201, body = LogMetricsResult), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 409, description = "Run in the trash, or limits.max_metric_keys_per_run reached (`limit_exceeded`)", body = ErrorBody)))]
pub async fn log_metrics(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(body): Json<LogMetricsBody>,
) -> Result<(StatusCode, JsonResponse<LogMetricsResult>)> {
    let points = body.into_points()?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.log_metrics(&actor, &id, points).await?),
    ))
}

/// Bulk ingest: many keys × steps as columnar arrays (`{"series": [{"key", "steps": [...],
/// "values": [...], "timestamps"?: [...]}]}`) — the fastest way to load metrics. Same
/// semantics as `POST …/metrics`: one transaction, duplicates skipped.
#[utoipa::path(post, path = "/api/v1/runs/{id}/bulk-metrics", tag = "runs", params(("id" = String, Path)),
    request_body = ets_domain::model::BulkMetrics,
    responses((status = 201, body = LogMetricsResult), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 409, description = "Run in the trash, or limits.max_metric_keys_per_run reached (`limit_exceeded`)", body = ErrorBody)))]
pub async fn log_bulk_metrics(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(body): Json<ets_domain::model::BulkMetrics>,
) -> Result<(StatusCode, JsonResponse<LogMetricsResult>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.log_bulk_metrics(&actor, &id, body).await?),
    ))
}

/// Summary of every metric key of the run: latest value, min, max, count.
#[utoipa::path(get, path = "/api/v1/runs/{id}/metrics", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, body = ItemList<MetricSummary>), (status = 404, body = ErrorBody)))]
pub async fn metric_summaries(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<ItemList<MetricSummary>>> {
    Ok(JsonResponse(ItemList {
        items: s.metric_summaries(&actor, &id).await?,
    }))
}

/// One metric series, optionally a step range and downsampled to `max_points` (min/max per
/// bucket, so spikes survive). Keys may contain `/` (`train/loss`).
#[utoipa::path(get, path = "/api/v1/runs/{id}/metrics/{name}", tag = "runs",
    params(("id" = String, Path), ("name" = String, Path, description = "Metric key"), SeriesQuery),
    responses((status = 200, body = MetricSeries), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn metric_series(
    State(s): State<AppState>,
    actor: Actor,
    Path((id, name)): Path<(String, String)>,
    Query(query): Query<SeriesQuery>,
) -> Result<JsonResponse<MetricSeries>> {
    Ok(JsonResponse(
        s.metric_series(&actor, &id, &name, query).await?,
    ))
}

/// Record evaluation counts of the run on one slice (`{"name": "crisis_detection", "slice":
/// "overall", "tp": 99, "fn": 1, "fp": 3, "tn": 897}`, or `successes` of `trials`). Stored as
/// metrics `eval/<name>/<slice>/<count>` — what an MLflow script logs to feed the same verdicts.
#[utoipa::path(post, path = "/api/v1/runs/{id}/evaluations", tag = "runs", params(("id" = String, Path)),
    request_body = crate::service::evaluations::Evaluation,
    responses((status = 201, body = crate::service::evaluations::Evaluation), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_evaluation(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(body): Json<crate::service::evaluations::Evaluation>,
) -> Result<(
    StatusCode,
    JsonResponse<crate::service::evaluations::Evaluation>,
)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.add_evaluation(&actor, &id, body).await?),
    ))
}

/// The run's safety verdict: each healthcare threshold of its experiment (the spec's defaults
/// when it has none) judged on a one-sided confidence bound of its latest evaluation counts,
/// per slice; the worst slice decides. `pass`, `fail` or `insufficient_evidence`. With the
/// experiment's objectives met, not met or unknown, and the `overall` verdict of both.
#[utoipa::path(get, path = "/api/v1/runs/{id}/safety", tag = "runs",
    params(("id" = String, Path), crate::service::evaluations::SafetyParams),
    responses((status = 200, body = crate::service::evaluations::RunSafety), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn run_safety(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(params): Query<crate::service::evaluations::SafetyParams>,
) -> Result<JsonResponse<crate::service::evaluations::RunSafety>> {
    Ok(JsonResponse(s.run_safety(&actor, &id, &params).await?))
}

/// Every run's safety verdict and objectives, and the experiment's verdict: `pass` when some
/// run passes its safety checks and meets every required objective.
#[utoipa::path(get, path = "/api/v1/experiments/{id}/safety", tag = "experiments",
    params(("id" = String, Path), crate::service::evaluations::SafetyParams),
    responses((status = 200, body = crate::service::evaluations::ExperimentSafety), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn experiment_safety(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(params): Query<crate::service::evaluations::SafetyParams>,
) -> Result<JsonResponse<crate::service::evaluations::ExperimentSafety>> {
    Ok(JsonResponse(
        s.experiment_safety(&actor, &id, &params).await?,
    ))
}

/// Sign the run (21 CFR Part 11): re-enter your password (or one of your API keys); the
/// signature records your name, the time, its meaning (`reviewed`, `approved`, `rejected`)
/// and a hash of the run's content. A run of an experiment requiring a medical disclaimer is
/// approved only with the disclaimer recorded (tag `ets.medical_disclaimer`).
#[utoipa::path(post, path = "/api/v1/runs/{id}/signatures", tag = "runs", params(("id" = String, Path)),
    request_body = crate::service::signatures::NewSignature,
    responses((status = 201, body = crate::service::signatures::Signature), (status = 403, description = "Not signed: credentials re-entered wrongly, or no identity", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "Approval without the required medical disclaimer", body = ErrorBody)))]
pub async fn sign_run(
    State(s): State<AppState>,
    actor: Actor,
    super::extract::ClientIp(ip): super::extract::ClientIp,
    Path(id): Path<String>,
    Json(body): Json<crate::service::signatures::NewSignature>,
) -> Result<(
    StatusCode,
    JsonResponse<crate::service::signatures::Signature>,
)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.sign_run(&actor, &id, body, ip).await?),
    ))
}

/// The run's signatures, oldest first: `valid`, or `superseded` when the run changed after.
#[utoipa::path(get, path = "/api/v1/runs/{id}/signatures", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, body = crate::service::signatures::SignatureList), (status = 404, body = ErrorBody)))]
pub async fn run_signatures(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<crate::service::signatures::SignatureList>> {
    Ok(JsonResponse(s.run_signatures(&actor, &id).await?))
}
