//! `/api/v1/.../studies` and `/api/v1/trials/...`: hyperparameter optimization by ask and
//! tell (issue 16). The rules live in `service::studies`.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::ErrorBody;
use super::extract::{Json, Path, Query};
use super::{AppState, ItemList};
use crate::actor::Actor;
use crate::error::Result;
use crate::service::reports::ChartTemplate;
use crate::service::studies::{
    AskedTrial, ImportanceQuery, NewStudy, PruneDecision, StudyImportance, StudyView,
    TrialCompletion, TrialReport, TrialView,
};
use crate::service::study_charts::StudyChartRequest;
use crate::service::visualizations::Chart;

/// Creates a study of the experiment: a search space, objective direction(s), a sampler
/// (`tpe`, `random`, `grid`) and a pruner (`median`, `successive_halving`, `hyperband`, …).
#[utoipa::path(post, path = "/api/v1/experiments/{id}/studies", tag = "studies", params(("id" = String, Path)),
    request_body = NewStudy,
    responses((status = 201, body = StudyView), (status = 404, body = ErrorBody),
              (status = 409, description = "A study of that name exists in the experiment", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_study(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(body): Json<NewStudy>,
) -> Result<(StatusCode, JsonResponse<StudyView>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_study(&actor, &id, body).await?),
    ))
}

/// The experiment's studies (also those Optuna clients created), oldest first, each with its
/// progress.
#[utoipa::path(get, path = "/api/v1/experiments/{id}/studies", tag = "studies", params(("id" = String, Path)),
    responses((status = 200, body = ItemList<StudyView>), (status = 404, body = ErrorBody)))]
pub async fn list_studies(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<ItemList<StudyView>>> {
    Ok(JsonResponse(ItemList {
        items: s.list_studies(&actor, &id).await?,
    }))
}

/// Parameter importance: how much of an objective's variation over the complete trials
/// each parameter explains (0–1, most important first).
#[utoipa::path(get, path = "/api/v1/studies/{id}/importance", tag = "studies",
    params(("id" = String, Path), ImportanceQuery),
    responses((status = 200, body = StudyImportance), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn study_importance(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<ImportanceQuery>,
) -> Result<JsonResponse<StudyImportance>> {
    Ok(JsonResponse(
        s.study_importance(&actor, &id, query.objective.unwrap_or(0))
            .await?,
    ))
}

/// Saves a chart of the study's trials from a template: `optimization_history` (objective
/// per trial number), `parallel_coordinates`, or `contour` (the two most important params).
/// The chart follows the study as trials are added.
#[utoipa::path(post, path = "/api/v1/studies/{id}/charts", tag = "studies", params(("id" = String, Path)),
    request_body = StudyChartRequest,
    responses((status = 201, body = Chart), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_study_chart(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(body): Json<StudyChartRequest>,
) -> Result<(StatusCode, JsonResponse<Chart>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_study_chart(&actor, &id, body).await?),
    ))
}

/// The chart templates of studies.
#[utoipa::path(get, path = "/api/v1/studies/chart-templates", tag = "studies",
    responses((status = 200, body = Vec<ChartTemplate>)))]
pub async fn study_chart_templates() -> JsonResponse<Vec<ChartTemplate>> {
    JsonResponse(crate::service::study_charts::study_chart_templates())
}

/// A study with its trial counts by state, its best value and params (one objective) or
/// its Pareto front (`best_trials`, several objectives).
#[utoipa::path(get, path = "/api/v1/studies/{id}", tag = "studies", params(("id" = String, Path)),
    responses((status = 200, body = StudyView), (status = 404, body = ErrorBody)))]
pub async fn get_study(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<StudyView>> {
    Ok(JsonResponse(s.get_study(&actor, &id).await?))
}

/// Asks for a trial: creates a run of the experiment with the sampler's suggested params.
#[utoipa::path(post, path = "/api/v1/studies/{id}/trials", tag = "studies", params(("id" = String, Path)),
    responses((status = 201, body = AskedTrial), (status = 404, body = ErrorBody),
              (status = 409, description = "Nothing left to suggest (a grid study is exhausted)", body = ErrorBody)))]
pub async fn ask_trial(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<(StatusCode, JsonResponse<AskedTrial>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.ask_trial(&actor, &id).await?),
    ))
}

/// The study's trials by number, with their params, values and intermediate values.
#[utoipa::path(get, path = "/api/v1/studies/{id}/trials", tag = "studies", params(("id" = String, Path)),
    responses((status = 200, body = ItemList<TrialView>), (status = 404, body = ErrorBody)))]
pub async fn list_trials(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<ItemList<TrialView>>> {
    Ok(JsonResponse(ItemList {
        items: s.study_trials(&actor, &id).await?,
    }))
}

/// Reports an intermediate value (`{step, value}`, also a point of the run's `objective`
/// metric) and answers whether the pruner stops the trial (`{"prune": true}`).
#[utoipa::path(post, path = "/api/v1/trials/{id}/report", tag = "studies", params(("id" = String, Path)),
    request_body = TrialReport,
    responses((status = 200, body = PruneDecision), (status = 404, body = ErrorBody),
              (status = 409, description = "The trial is finished", body = ErrorBody)))]
pub async fn report_trial(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(body): Json<TrialReport>,
) -> Result<JsonResponse<PruneDecision>> {
    Ok(JsonResponse(s.report_trial(&actor, &id, body).await?))
}

/// Tells the trial's outcome: `{"value": …}` (or `values`), or `{"state": "pruned"}` /
/// `{"state": "failed"}`; its run ends with it. A trial is told once.
#[utoipa::path(post, path = "/api/v1/trials/{id}/complete", tag = "studies", params(("id" = String, Path)),
    request_body = TrialCompletion,
    responses((status = 200, body = TrialView), (status = 404, body = ErrorBody),
              (status = 409, description = "The trial was told already", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn complete_trial(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(body): Json<TrialCompletion>,
) -> Result<JsonResponse<TrialView>> {
    Ok(JsonResponse(s.complete_trial(&actor, &id, body).await?))
}
