//! MLflow's artifact calls: `artifacts/list` of the tracking API and the artifact proxy
//! `/api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>` that
//! `mlflow-artifacts:/` URIs resolve to. Both are the same run artifacts the native API serves.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::types::run_artifact_uri;
use super::{MlflowError, MlflowQuery, MlflowResult};
use crate::actor::Actor;
use crate::api::AppState;
use crate::error::Error;

/// A proxy path split into its run and the artifact path inside the run.
struct ProxyPath {
    run_id: String,
    /// `None` for the run's artifact root.
    path: Option<String>,
}

/// Parses `<experiment>/<run>/artifacts[/<path>]` and checks the run belongs to the experiment.
async fn resolve(s: &AppState, actor: &Actor, full: &str) -> Result<ProxyPath, MlflowError> {
    let trimmed = full.trim_matches('/');
    let mut parts = trimmed.splitn(4, '/');
    let (Some(experiment_id), Some(run_id), Some("artifacts")) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::NotFound {
            entity: "artifact location",
            id: format!(
                "{trimmed}' (ETS stores artifacts per run: <experiment>/<run>/artifacts/<path>)"
            ),
        }
        .into());
    };
    let run = s.get_run(actor, run_id).await?;
    if run.experiment_id != experiment_id {
        return Err(
            Error::not_found("run", format!("{run_id}' in experiment '{experiment_id}")).into(),
        );
    }
    let path = parts.next().map(str::to_owned).filter(|p| !p.is_empty());
    if let Some(path) = &path {
        ets_domain::validate::artifact_path("path", path).map_err(Error::from)?;
    }
    Ok(ProxyPath {
        run_id: run.id,
        path,
    })
}

/// One entry of a directory listing, MLflow's `FileInfo`.
fn file_info(path: String, is_dir: bool, size: Option<i64>) -> Value {
    match size {
        Some(size) if !is_dir => json!({ "path": path, "is_dir": false, "file_size": size }),
        _ => json!({ "path": path, "is_dir": is_dir }),
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    run_uuid: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

/// `artifacts/list`: the entries directly under `path` of a run, with paths from the run root.
pub async fn list_run_artifacts(
    State(s): State<AppState>,
    actor: Actor,
    MlflowQuery(q): MlflowQuery<ListQuery>,
) -> MlflowResult<Json<Value>> {
    let run_id = q.run_id.or(q.run_uuid).unwrap_or_default();
    let run = s.get_run(&actor, &run_id).await?;
    let dir = q
        .path
        .filter(|p| !p.is_empty())
        .map(|p| p.trim_matches('/').to_owned());
    let entries = s.list_artifact_dir(&actor, &run.id, dir.as_deref()).await?;
    let files: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let path = match &dir {
                Some(dir) => format!("{dir}/{}", e.name),
                None => e.name,
            };
            file_info(path, e.is_dir, e.size)
        })
        .collect();
    Ok(Json(
        json!({ "root_uri": run_artifact_uri(&run.experiment_id, &run.id), "files": files }),
    ))
}

#[derive(Deserialize)]
pub struct ProxyListQuery {
    #[serde(default)]
    path: Option<String>,
}

/// Proxy listing: entries directly under a path, by base name (as MLflow's server answers).
pub async fn proxy_list(
    State(s): State<AppState>,
    actor: Actor,
    MlflowQuery(q): MlflowQuery<ProxyListQuery>,
) -> MlflowResult<Json<Value>> {
    let location = resolve(&s, &actor, q.path.as_deref().unwrap_or_default()).await?;
    let entries = s
        .list_artifact_dir(&actor, &location.run_id, location.path.as_deref())
        .await?;
    let files: Vec<Value> = entries
        .into_iter()
        .map(|e| file_info(e.name, e.is_dir, e.size))
        .collect();
    Ok(Json(json!({ "files": files })))
}

pub async fn proxy_download(
    State(s): State<AppState>,
    actor: Actor,
    Path(path): Path<String>,
) -> MlflowResult<Response> {
    let location = resolve(&s, &actor, &path).await?;
    let file_path = location
        .path
        .ok_or_else(|| MlflowError::invalid("name a file to download, not the artifact root"))?;
    let (artifact, file) = s
        .open_artifact(&actor, &location.run_id, &file_path)
        .await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let content_type = artifact
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_LENGTH, artifact.size.to_string()),
        ],
        body,
    )
        .into_response())
}

pub async fn proxy_upload(
    State(s): State<AppState>,
    actor: Actor,
    Path(path): Path<String>,
    request: Request,
) -> MlflowResult<Json<Value>> {
    let location = resolve(&s, &actor, &path).await?;
    let file_path = location
        .path
        .ok_or_else(|| MlflowError::invalid("name the file to upload"))?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let staged = s
        .stage_artifact(&location.run_id, request.into_body().into_data_stream())
        .await?;
    s.store_artifact(&actor, &location.run_id, &file_path, staged, content_type)
        .await?;
    Ok(Json(json!({})))
}

pub async fn proxy_delete(
    State(s): State<AppState>,
    actor: Actor,
    Path(path): Path<String>,
) -> MlflowResult<Json<Value>> {
    let location = resolve(&s, &actor, &path).await?;
    let file_path = location
        .path
        .ok_or_else(|| MlflowError::invalid("name the file or folder to delete"))?;
    s.delete_artifacts(&actor, &location.run_id, &file_path)
        .await?;
    Ok(Json(json!({})))
}
