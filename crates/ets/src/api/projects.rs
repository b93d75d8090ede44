//! `/api/v1/projects`.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::StatusCode;
use ets_domain::model::{NewProject, Project, ProjectPatch, ProjectStats, ProjectTemplate};

use super::error::ErrorBody;
use super::extract::{Json, Path, Query};
use super::{AppState, ItemList, ListResponse};
use crate::actor::Actor;
use crate::error::Result;
use crate::service::ListParams;
use crate::service::projects::{FromTemplate, ProjectQuery};

/// Create a project.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = NewProject,
    responses((status = 201, body = Project), (status = 409, description = "Name taken", body = ErrorBody),
              (status = 422, description = "Invalid field", body = ErrorBody)))]
pub async fn create_project(
    State(s): State<AppState>,
    actor: Actor,
    Json(body): Json<NewProject>,
) -> Result<(StatusCode, JsonResponse<Project>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_project(&actor, body).await?),
    ))
}

/// List projects, filtered, sorted and paged.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ProjectQuery, ListParams),
    responses((status = 200, body = ListResponse<Project>), (status = 400, body = ErrorBody)))]
pub async fn list_projects(
    State(s): State<AppState>,
    actor: Actor,
    Query(query): Query<ProjectQuery>,
    Query(list): Query<ListParams>,
) -> Result<JsonResponse<ListResponse<Project>>> {
    Ok(JsonResponse(
        s.list_projects(&actor, query, list).await?.into(),
    ))
}

/// Get a project.
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, body = Project), (status = 404, body = ErrorBody)))]
pub async fn get_project(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<Project>> {
    Ok(JsonResponse(s.get_project(&actor, &id).await?))
}

/// Update a project: present fields change; `tags` entries set (string) or remove (`null`).
#[utoipa::path(put, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = String, Path)), request_body = ProjectPatch,
    responses((status = 200, body = Project), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn update_project(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(patch): Json<ProjectPatch>,
) -> Result<JsonResponse<Project>> {
    Ok(JsonResponse(s.update_project(&actor, &id, patch).await?))
}

/// Query of `DELETE /api/v1/projects/{id}`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteProjectQuery {
    /// Also delete the project's experiments (with their runs). Without it, a project that
    /// still has experiments is refused (409): outside the trash for a move to the trash, any
    /// for `permanent`.
    #[serde(default)]
    pub cascade: bool,
    /// `true` deletes at once, for good, with the experiments, runs, metrics and artifacts.
    /// Default: move to the trash.
    #[serde(default)]
    pub permanent: bool,
}

/// Delete a project. By default it moves to the trash with its experiments and their runs:
/// they leave the lists (`lifecycle=deleted` shows them), refuse writes, keep everything, and
/// `POST …/restore` brings back what went to the trash with it; `ets gc` removes it for good
/// after `artifacts.deleted_run_retention_days`. `?permanent=true` deletes at once.
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = String, Path), DeleteProjectQuery),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, description = "Has experiments and no ?cascade=true", body = ErrorBody)))]
pub async fn delete_project(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<DeleteProjectQuery>,
) -> Result<StatusCode> {
    s.delete_project(&actor, &id, query.permanent, query.cascade)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Bring a project back from the trash, with the experiments and runs trashed with it.
#[utoipa::path(post, path = "/api/v1/projects/{id}/restore", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, body = Project), (status = 404, body = ErrorBody), (status = 409, description = "Not in the trash", body = ErrorBody)))]
pub async fn restore_project(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<Project>> {
    Ok(JsonResponse(s.restore_project(&actor, &id).await?))
}

/// Project statistics: experiments and runs by status, metric points, artifacts, last activity.
#[utoipa::path(get, path = "/api/v1/projects/{id}/stats", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, body = ProjectStats), (status = 404, body = ErrorBody)))]
pub async fn project_stats(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<ProjectStats>> {
    Ok(JsonResponse(s.project_stats(&actor, &id).await?))
}

/// Available project templates.
#[utoipa::path(get, path = "/api/v1/projects/templates", tag = "projects",
    responses((status = 200, body = ItemList<ProjectTemplate>)))]
pub async fn project_templates(
    State(s): State<AppState>,
) -> JsonResponse<ItemList<ProjectTemplate>> {
    JsonResponse(ItemList {
        items: s.project_templates(),
    })
}

/// Create a project from a template (`baseline`, `healthcare`, …).
#[utoipa::path(post, path = "/api/v1/projects/from-template/{name}", tag = "projects",
    params(("name" = String, Path, description = "Template name")), request_body = FromTemplate,
    responses((status = 201, body = Project), (status = 404, description = "Unknown template", body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_project_from_template(
    State(s): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Json(body): Json<FromTemplate>,
) -> Result<(StatusCode, JsonResponse<Project>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_project_from_template(&actor, &name, body).await?),
    ))
}
