//! `/api/v1/experiments`.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::StatusCode;
use ets_domain::comparison::{GroupCompareRequest, GroupComparison};
use ets_domain::model::{
    CompareRequest, Comparison, Experiment, ExperimentPatch, ExperimentTemplate, MetricAggregate,
    NewExperiment,
};

use super::error::ErrorBody;
use super::extract::{Json, OptionalJson, Path, Query};
use super::runs::DeleteQuery;
use super::{AppState, ItemList, ListResponse};
use crate::actor::Actor;
use crate::error::Result;
use crate::service::ListParams;
use crate::service::experiments::{ExperimentQuery, StopExperiment};

/// Create an experiment (status `draft`). Objectives and healthcare settings default to the
/// template's, then the project's.
#[utoipa::path(post, path = "/api/v1/experiments", tag = "experiments", request_body = NewExperiment,
    responses((status = 201, body = Experiment), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_experiment(
    State(s): State<AppState>,
    actor: Actor,
    Json(body): Json<NewExperiment>,
) -> Result<(StatusCode, JsonResponse<Experiment>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_experiment(&actor, body).await?),
    ))
}

/// List experiments, filtered, sorted and paged.
#[utoipa::path(get, path = "/api/v1/experiments", tag = "experiments", params(ExperimentQuery, ListParams),
    responses((status = 200, body = ListResponse<Experiment>), (status = 400, body = ErrorBody)))]
pub async fn list_experiments(
    State(s): State<AppState>,
    actor: Actor,
    Query(query): Query<ExperimentQuery>,
    Query(list): Query<ListParams>,
) -> Result<JsonResponse<ListResponse<Experiment>>> {
    Ok(JsonResponse(
        s.list_experiments(&actor, query, list).await?.into(),
    ))
}

/// Get an experiment.
#[utoipa::path(get, path = "/api/v1/experiments/{id}", tag = "experiments", params(("id" = String, Path)),
    responses((status = 200, body = Experiment), (status = 404, body = ErrorBody)))]
pub async fn get_experiment(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<Experiment>> {
    Ok(JsonResponse(s.get_experiment(&actor, &id).await?))
}

/// Update an experiment; a `status` change follows the lifecycle rules (409 otherwise).
#[utoipa::path(put, path = "/api/v1/experiments/{id}", tag = "experiments", params(("id" = String, Path)),
    request_body = ExperimentPatch,
    responses((status = 200, body = Experiment), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 409, description = "Conflict, or limits.max_concurrent_experiments reached (`limit_exceeded`)", body = ErrorBody)))]
pub async fn update_experiment(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(patch): Json<ExperimentPatch>,
) -> Result<JsonResponse<Experiment>> {
    Ok(JsonResponse(s.update_experiment(&actor, &id, patch).await?))
}

/// Delete an experiment. By default it moves to the trash with its runs (as MLflow's
/// `experiments/delete` does): they leave the lists (`lifecycle=deleted` shows them), refuse
/// writes, keep everything, and `POST …/restore` brings back what went to the trash with it;
/// `ets gc` removes it for good after `artifacts.deleted_run_retention_days`.
/// `?permanent=true` deletes it with its runs, metrics and artifacts at once.
#[utoipa::path(delete, path = "/api/v1/experiments/{id}", tag = "experiments", params(("id" = String, Path), DeleteQuery),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_experiment(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> Result<StatusCode> {
    s.delete_experiment(&actor, &id, query.permanent).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Bring an experiment back from the trash, with the runs trashed with it.
#[utoipa::path(post, path = "/api/v1/experiments/{id}/restore", tag = "experiments", params(("id" = String, Path)),
    responses((status = 200, body = Experiment), (status = 404, body = ErrorBody),
              (status = 409, description = "Not in the trash, or its project is", body = ErrorBody)))]
pub async fn restore_experiment(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<Experiment>> {
    Ok(JsonResponse(s.restore_experiment(&actor, &id).await?))
}

/// Start (or resume) an experiment: `draft | stopped → running`.
#[utoipa::path(post, path = "/api/v1/experiments/{id}/start", tag = "experiments", params(("id" = String, Path)),
    responses((status = 200, body = Experiment), (status = 404, body = ErrorBody),
              (status = 409, description = "Conflict, or limits.max_concurrent_experiments reached (`limit_exceeded`)", body = ErrorBody)))]
pub async fn start_experiment(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<Experiment>> {
    Ok(JsonResponse(s.start_experiment(&actor, &id).await?))
}

/// Stop an experiment: `running → stopped` (default) or `→ completed` (final).
#[utoipa::path(post, path = "/api/v1/experiments/{id}/stop", tag = "experiments", params(("id" = String, Path)),
    request_body(content = Option<StopExperiment>, description = "Optional"),
    responses((status = 200, body = Experiment), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn stop_experiment(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<StopExperiment>,
) -> Result<JsonResponse<Experiment>> {
    Ok(JsonResponse(s.stop_experiment(&actor, &id, body).await?))
}

/// Per-metric aggregates across the experiment's runs (each run's latest value).
#[utoipa::path(get, path = "/api/v1/experiments/{id}/metrics", tag = "experiments", params(("id" = String, Path)),
    responses((status = 200, body = ItemList<MetricAggregate>), (status = 404, body = ErrorBody)))]
pub async fn experiment_metrics(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<ItemList<MetricAggregate>>> {
    Ok(JsonResponse(ItemList {
        items: s.experiment_metrics(&actor, &id).await?,
    }))
}

/// Compare two or more experiments metric by metric.
#[utoipa::path(post, path = "/api/v1/experiments/compare", tag = "experiments", request_body = CompareRequest,
    responses((status = 200, body = Comparison), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn compare_experiments(
    State(s): State<AppState>,
    actor: Actor,
    Json(body): Json<CompareRequest>,
) -> Result<JsonResponse<Comparison>> {
    Ok(JsonResponse(s.compare_experiments(&actor, body).await?))
}

/// Compare two groups of the experiment's runs, split by a param or tag value (e.g.
/// `params.optimizer`): per metric each group's summary and tests — paired t, Wilcoxon and
/// Cohen's d_z when the runs pair up by seed, else Welch, Mann–Whitney, Cohen's d and Cliff's
/// delta — with a seeded bootstrap CI, Holm across metrics, and the rates of evaluations.
#[utoipa::path(post, path = "/api/v1/experiments/{id}/compare-groups", tag = "experiments",
    params(("id" = String, Path)), request_body = GroupCompareRequest,
    responses((status = 200, body = GroupComparison), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn compare_groups(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(body): Json<GroupCompareRequest>,
) -> Result<JsonResponse<GroupComparison>> {
    Ok(JsonResponse(s.compare_groups(&actor, &id, body).await?))
}

/// Available experiment templates.
#[utoipa::path(get, path = "/api/v1/experiments/templates", tag = "experiments",
    responses((status = 200, body = ItemList<ExperimentTemplate>)))]
pub async fn experiment_templates(
    State(s): State<AppState>,
) -> JsonResponse<ItemList<ExperimentTemplate>> {
    JsonResponse(ItemList {
        items: s.experiment_templates(),
    })
}
