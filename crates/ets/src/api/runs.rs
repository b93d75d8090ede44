//! `/api/v1/runs`: lifecycle, params and tags, metrics and artifacts.

use axum::Json as JsonResponse;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ets_domain::model::{
    Artifact, FinishRun, LogMetricsResult, MetricSeries, MetricSummary, NewRun, Run, RunPatch,
};

use super::error::ErrorBody;
use super::extract::{Json, OptionalJson, Path, Query};
use super::{AppState, ItemList, ListResponse};
use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::service::ListParams;
use crate::service::runs::{LogMetricsBody, RunQuery, SeriesQuery};

/// Create a run (status `running` unless `scheduled` is asked for).
#[utoipa::path(post, path = "/api/v1/runs", tag = "runs", request_body = NewRun,
    responses((status = 201, body = Run), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, description = "limits.max_runs_per_experiment reached", body = ErrorBody)))]
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

/// Delete a run with its metrics and artifacts.
#[utoipa::path(delete, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_run(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    s.delete_run(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
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
              (status = 422, body = ErrorBody), (status = 429, description = "limits.max_metric_keys_per_run reached", body = ErrorBody)))]
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
              (status = 422, body = ErrorBody), (status = 429, description = "limits.max_metric_keys_per_run reached", body = ErrorBody)))]
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

/// Query of `POST /api/v1/runs/{id}/artifacts`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Destination path, e.g. `models/best.pt`. Required for a raw body; for multipart it may
    /// instead come from the `path` field or the file name.
    pub path: Option<String>,
}

/// Query of `GET /api/v1/runs/{id}/artifacts`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArtifactListQuery {
    /// Only artifacts whose path starts with this prefix, e.g. `checkpoints/`.
    pub prefix: Option<String>,
}

/// Upload an artifact: `multipart/form-data` (field `file`, optional field `path`; a `path`
/// ending in `/` is a folder for the file's own name) or a raw body with `?path=dir/name`.
/// Streamed to storage, never buffered; replaces an artifact at the same path.
#[utoipa::path(post, path = "/api/v1/runs/{id}/artifacts", tag = "runs", params(("id" = String, Path), UploadQuery),
    request_body(content = Vec<u8>, description = "File content (raw) or multipart form", content_type = "application/octet-stream"),
    responses((status = 201, body = Artifact), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn upload_artifact(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, JsonResponse<Artifact>)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let artifact = if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("multipart/form-data"))
    {
        let multipart = Multipart::from_request(request, &s)
            .await
            .map_err(|e| Error::BadRequest(format!("malformed multipart body: {e}")))?;
        upload_multipart(&s, &actor, &id, query.path, multipart).await?
    } else {
        let path = query.path.ok_or_else(|| {
            Error::BadRequest("a raw upload needs ?path=dir/name (or send multipart/form-data with a 'file' field)".into())
        })?;
        ets_domain::validate::artifact_path("path", &path)?;
        let staged = s
            .stage_artifact(&id, request.into_body().into_data_stream())
            .await?;
        s.store_artifact(&actor, &id, &path, staged, content_type)
            .await?
    };
    Ok((StatusCode::CREATED, JsonResponse(artifact)))
}

async fn upload_multipart(
    s: &AppState,
    actor: &Actor,
    run_id: &str,
    query_path: Option<String>,
    mut multipart: Multipart,
) -> Result<Artifact> {
    let mut path_field: Option<String> = None;
    let mut staged = None;
    let mut file_name = None;
    let mut file_type = None;
    let outcome: Result<()> = async {
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| Error::BadRequest(format!("malformed multipart body: {e}")))?
        {
            match field.name() {
                Some("path") => {
                    path_field =
                        Some(field.text().await.map_err(|e| {
                            Error::BadRequest(format!("unreadable 'path' field: {e}"))
                        })?);
                }
                Some("file") if staged.is_none() => {
                    file_name = field.file_name().map(str::to_owned);
                    file_type = field.content_type().map(str::to_owned);
                    staged = Some(s.stage_artifact(run_id, field).await?);
                }
                Some("file") => {
                    return Err(Error::invalid("file", "send one 'file' field per request"));
                }
                other => {
                    return Err(Error::invalid(
                        other.unwrap_or("(unnamed)"),
                        "unexpected multipart field; use 'file' and optionally 'path'",
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    let Some(staged) = staged else {
        outcome?;
        return Err(Error::invalid(
            "file",
            "the multipart body has no 'file' field",
        ));
    };
    if let Err(e) = outcome {
        s.blobs.discard(staged).await;
        return Err(e);
    }
    let path = match (path_field.or(query_path), file_name) {
        (Some(dir), Some(name)) if dir.ends_with('/') => format!("{dir}{name}"),
        (Some(path), _) => path,
        (None, Some(name)) => name,
        (None, None) => {
            s.blobs.discard(staged).await;
            return Err(Error::invalid("path", "give a 'path' field or a file name"));
        }
    };
    s.store_artifact(actor, run_id, &path, staged, file_type)
        .await
}

/// List a run's artifacts, optionally under a prefix.
#[utoipa::path(get, path = "/api/v1/runs/{id}/artifacts", tag = "runs", params(("id" = String, Path), ArtifactListQuery),
    responses((status = 200, body = ItemList<Artifact>), (status = 404, body = ErrorBody)))]
pub async fn list_artifacts(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<ArtifactListQuery>,
) -> Result<JsonResponse<ItemList<Artifact>>> {
    Ok(JsonResponse(ItemList {
        items: s
            .list_artifacts(&actor, &id, query.prefix.as_deref())
            .await?,
    }))
}

/// Download an artifact (streamed; `ETag` is its SHA-256).
#[utoipa::path(get, path = "/api/v1/runs/{id}/artifacts/{path}", tag = "runs",
    params(("id" = String, Path), ("path" = String, Path, description = "Artifact path, may contain '/'")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
              (status = 404, body = ErrorBody)))]
pub async fn download_artifact(
    State(s): State<AppState>,
    actor: Actor,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response> {
    let (artifact, file) = s.open_artifact(&actor, &id, &path).await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let content_type = artifact
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_LENGTH, artifact.size.to_string()),
            (header::ETAG, format!("\"{}\"", artifact.sha256)),
        ],
        body,
    )
        .into_response())
}
