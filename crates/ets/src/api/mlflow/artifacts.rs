//! MLflow's artifact calls: `artifacts/list` of the tracking API and the artifact proxy
//! `/api/2.0/mlflow-artifacts/artifacts/<path>` that `mlflow-artifacts:/` URIs resolve to.
//! The proxy is a general file store, as MLflow's is: a path inside a run's artifact root is
//! that run's artifact (the same the native API serves), anything else a file of the shared
//! store (`service::files` says which is which).

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::types::run_artifact_uri;
use super::{MlflowError, MlflowQuery, MlflowResult};
use crate::actor::Actor;
use crate::api::AppState;
use crate::api::artifacts::{declared_length, download_response, expected_sha256};
use crate::error::Error;
use crate::service::artifacts::{ArtifactReader, NewUpload, UploadMeta};
use crate::service::files::ProxyTarget;

/// The run and the path in it that a proxy path names, for the calls that take run
/// artifacts only (multipart uploads).
async fn run_location(
    s: &AppState,
    actor: &Actor,
    path: &str,
) -> Result<(String, Option<String>), MlflowError> {
    match s.resolve_proxy_path(actor, path).await? {
        ProxyTarget::Run { run_id, path } => Ok((run_id, path)),
        ProxyTarget::Files { .. } => Err(MlflowError::invalid(format!(
            "multipart uploads go to a run's artifacts (<experiment>/<run id>/artifacts/...); \
             '{path}' is outside every run: upload it in one request"
        ))),
    }
}

/// One entry of a directory listing, MLflow's `FileInfo`.
fn file_info(path: String, is_dir: bool, size: Option<i64>) -> Value {
    match size {
        Some(size) if !is_dir => json!({ "path": path, "is_dir": false, "file_size": size }),
        _ => json!({ "path": path, "is_dir": is_dir }),
    }
}

/// A run and a path in it (`artifacts/list`, `/get-artifact`).
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
        .map(|p| p.trim_end_matches('/').to_owned());
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
    let root = s.artifact_root(&run.experiment_id).await?;
    Ok(Json(
        json!({ "root_uri": run_artifact_uri(&root, &run.id), "files": files }),
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
    let target = s
        .resolve_proxy_path(&actor, q.path.as_deref().unwrap_or_default())
        .await?;
    let entries = match &target {
        ProxyTarget::Run { run_id, path } => {
            s.list_artifact_dir(&actor, run_id, path.as_deref()).await?
        }
        ProxyTarget::Files { owner, path } => {
            s.list_file_dir(&actor, owner, path.as_deref()).await?
        }
    };
    let files: Vec<Value> = entries
        .into_iter()
        .map(|e| file_info(e.name, e.is_dir, e.size))
        .collect();
    Ok(Json(json!({ "files": files })))
}

/// The file a proxy path names (a folder, or the root, is no file).
async fn open_target(
    s: &AppState,
    actor: &Actor,
    path: &str,
) -> MlflowResult<(ArtifactReader, String)> {
    let missing = || MlflowError::invalid("name a file to download, not a folder");
    let (reader, path) = match s.resolve_proxy_path(actor, path).await? {
        ProxyTarget::Run { run_id, path } => {
            let path = path.ok_or_else(missing)?;
            (s.open_artifact(actor, &run_id, &path).await?, path)
        }
        ProxyTarget::Files { owner, path } => {
            let path = path.ok_or_else(missing)?;
            (s.open_file(actor, &owner, &path).await?, path)
        }
    };
    Ok((reader, path))
}

pub async fn proxy_download(
    State(s): State<AppState>,
    actor: Actor,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> MlflowResult<Response> {
    let (reader, file_path) = open_target(&s, &actor, &path).await?;
    let response = download_response(reader, &headers).await?;
    Ok(with_mlflow_content_type(response, &file_path, false))
}

/// `PUT`: one file, streamed (`mlflow.log_artifact`).
pub async fn proxy_upload(
    State(s): State<AppState>,
    actor: Actor,
    Path(path): Path<String>,
    request: Request,
) -> MlflowResult<Json<Value>> {
    let target = s.resolve_proxy_path(&actor, &path).await?;
    let headers = request.headers();
    let meta = UploadMeta {
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        sha256: expected_sha256(headers)?,
    };
    let declared = declared_length(headers);
    let body = request.into_body().into_data_stream();
    let missing = || MlflowError::invalid("name the file to upload");
    match target {
        ProxyTarget::Run { run_id, path } => {
            let path = path.ok_or_else(missing)?;
            s.upload_artifact(&actor, &run_id, &path, declared, meta, body)
                .await?
        }
        ProxyTarget::Files { owner, path } => {
            let path = path.ok_or_else(missing)?;
            s.upload_file(&actor, &owner, &path, declared, meta, body)
                .await?
        }
    };
    Ok(Json(json!({})))
}

pub async fn proxy_delete(
    State(s): State<AppState>,
    actor: Actor,
    Path(path): Path<String>,
) -> MlflowResult<Json<Value>> {
    let missing = || MlflowError::invalid("name the file or folder to delete");
    match s.resolve_proxy_path(&actor, &path).await? {
        ProxyTarget::Run { run_id, path } => {
            let path = path.ok_or_else(missing)?;
            s.delete_artifacts(&actor, &run_id, &path).await?
        }
        ProxyTarget::Files { owner, path } => {
            let path = path.ok_or_else(missing)?;
            s.delete_files(&actor, &owner, &path).await?
        }
    };
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct CreateMultipartBody {
    /// The client's local file; its base name is the artifact's name inside the URL's folder.
    #[serde(default)]
    path: String,
    #[serde(default, deserialize_with = "super::types::lenient_i64")]
    num_parts: Option<i64>,
}

/// Multipart calls address a folder and name the file by the client's local path (MLflow's
/// protocol); the artifact is `<folder>/<base name>`.
fn multipart_target(folder: Option<String>, local_path: &str) -> Result<String, MlflowError> {
    let name = local_path.rsplit(['/', '\\']).next().unwrap_or_default();
    if name.is_empty() {
        return Err(MlflowError::invalid(
            "'path' must name the file being uploaded",
        ));
    }
    let path = match folder {
        Some(folder) => format!("{folder}/{name}"),
        None => name.to_owned(),
    };
    Error::check_artifact_path("path", &path)?;
    Ok(path)
}

/// The URL clients should send parts to: this server, as the client reached it.
fn base_url(headers: &axum::http::HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or("127.0.0.1");
    format!("{scheme}://{host}")
}

/// `mpu/create/<path>`: starts a multipart upload; each part goes to a URL of this server.
pub async fn mpu_create(
    State(s): State<AppState>,
    actor: Actor,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
    super::MlflowJson(body): super::MlflowJson<CreateMultipartBody>,
) -> MlflowResult<Json<Value>> {
    let (run_id, folder) = run_location(&s, &actor, &path).await?;
    let file_path = multipart_target(folder, &body.path)?;
    let parts = body.num_parts.unwrap_or(1);
    if !(1..=10_000).contains(&parts) {
        return Err(MlflowError::invalid(format!(
            "num_parts must be between 1 and 10000, got {parts}"
        )));
    }
    let upload = s
        .start_upload(
            &actor,
            &run_id,
            NewUpload {
                path: file_path,
                ..Default::default()
            },
        )
        .await?;
    let upload_id = upload.upload_id;
    let base = base_url(&headers);
    // MLflow's client sends parts with only the headers named here (they are meant for
    // presigned URLs), so a caller's own credentials come back to it for its part uploads;
    // parts need them when authentication is on.
    let part_headers = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(authorization) => json!({ "Authorization": authorization }),
        None => json!({}),
    };
    let credentials: Vec<Value> = (1..=parts)
        .map(|n| {
            json!({
                "part_number": n,
                "url": format!("{base}/api/2.0/mlflow-artifacts/mpu/parts/{upload_id}/{n}"),
                "headers": part_headers,
            })
        })
        .collect();
    Ok(Json(
        json!({ "upload_id": upload_id, "credentials": credentials }),
    ))
}

/// `PUT mpu/parts/<upload id>/<part number>`: one part; answers with its `ETag`.
pub async fn mpu_put_part(
    State(s): State<AppState>,
    Path((upload_id, part_number)): Path<(String, u32)>,
    actor: Actor,
    request: Request,
) -> MlflowResult<Response> {
    let sha256 = expected_sha256(request.headers())?;
    let declared = declared_length(request.headers());
    let part = s
        .upload_part(
            &actor,
            None,
            &upload_id,
            crate::service::artifacts::PartUpload {
                number: part_number,
                declared_size: declared,
                sha256,
            },
            request.into_body().into_data_stream(),
        )
        .await?;
    Ok((
        [(header::ETAG, format!("\"{}\"", part.etag))],
        Json(json!({})),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct CompleteMultipartBody {
    #[serde(default)]
    path: String,
    #[serde(default)]
    upload_id: String,
    #[serde(default)]
    parts: Vec<CompletedPart>,
}

#[derive(Deserialize)]
pub struct CompletedPart {
    #[serde(default, deserialize_with = "super::types::lenient_i64")]
    part_number: Option<i64>,
    #[serde(default)]
    etag: String,
}

pub async fn mpu_complete(
    State(s): State<AppState>,
    actor: Actor,
    Path(path): Path<String>,
    super::MlflowJson(body): super::MlflowJson<CompleteMultipartBody>,
) -> MlflowResult<Json<Value>> {
    let (run_id, folder) = run_location(&s, &actor, &path).await?;
    let file_path = multipart_target(folder, &body.path)?;
    let parts = body
        .parts
        .into_iter()
        .map(|p| match p.part_number {
            Some(n) if (1..=10_000).contains(&n) => Ok((n as u32, p.etag)),
            _ => Err(MlflowError::invalid(
                "every part needs a part_number between 1 and 10000",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    s.complete_upload(
        &actor,
        &run_id,
        &body.upload_id,
        Some(&file_path),
        Some(parts),
        None,
    )
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct AbortMultipartBody {
    #[serde(default)]
    upload_id: String,
}

pub async fn mpu_abort(
    State(s): State<AppState>,
    actor: Actor,
    Path(path): Path<String>,
    super::MlflowJson(body): super::MlflowJson<AbortMultipartBody>,
) -> MlflowResult<Json<Value>> {
    let (run_id, _) = run_location(&s, &actor, &path).await?;
    s.abort_upload(&actor, Some(&run_id), &body.upload_id)
        .await?;
    Ok(Json(json!({})))
}

/// Extensions MLflow's server sends as `text/plain` (its `get_text_extensions`), so its UI
/// shows logs, configs and `MLmodel` files inline. (`mlproject` is lower case there, so an
/// `MLproject` file goes as bytes; ETS labels it the same.)
const TEXT_EXTENSIONS: [&str; 26] = [
    "txt",
    "log",
    "err",
    "cfg",
    "conf",
    "cnf",
    "cf",
    "ini",
    "properties",
    "prop",
    "hocon",
    "toml",
    "yaml",
    "yml",
    "xml",
    "json",
    "js",
    "py",
    "py3",
    "csv",
    "tsv",
    "md",
    "rst",
    "ipynb",
    "MLmodel",
    "mlproject",
];

/// The content type MLflow's `_send_artifact` gives a file: `text/plain` for its text
/// extensions (a file without one, like `MLmodel`, by its whole name), else by extension, else
/// `application/octet-stream`.
fn mlflow_content_type(file_name: &str) -> String {
    let extension = match file_name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext,
        _ => file_name,
    };
    if TEXT_EXTENSIONS.contains(&extension) {
        return "text/plain".to_owned();
    }
    mime_guess::from_path(file_name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// `GET /get-artifact?run_id=…&path=…`: MLflow's download route (its UI and tools use it).
/// The bytes as the native download sends them (ranges, ETag), always as an attachment with
/// MLflow's content type, so a browser never renders an artifact on the server's origin.
pub async fn get_artifact(
    State(s): State<AppState>,
    actor: Actor,
    MlflowQuery(q): MlflowQuery<ListQuery>,
    headers: HeaderMap,
) -> MlflowResult<Response> {
    let run_id = q
        .run_id
        .or(q.run_uuid)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| MlflowError::missing("run_id"))?;
    let path = q
        .path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| MlflowError::missing("path"))?;
    let reader = s.open_artifact(&actor, &run_id, &path).await?;
    let response = download_response(reader, &headers).await?;
    Ok(with_mlflow_content_type(response, &path, true))
}

/// A download labelled as MLflow labels the file (whatever type its uploader claimed), with
/// the download protections for that type; `always_attachment` for the UI's download route.
fn with_mlflow_content_type(
    mut response: Response,
    path: &str,
    always_attachment: bool,
) -> Response {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    let content_type = mlflow_content_type(file_name);
    let headers = response.headers_mut();
    if headers.contains_key(header::CONTENT_TYPE)
        && let Ok(value) = content_type.parse()
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    crate::api::security::protect_download(headers, &content_type, file_name, always_attachment);
    response
}

/// The largest file the UI's upload route takes (MLflow's limit).
const UI_UPLOAD_MAX_BYTES: usize = 10 * 1024 * 1024;

#[derive(Deserialize)]
pub struct UiUploadQuery {
    run_uuid: Option<String>,
    path: Option<String>,
}

/// `POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=…&path=…`: the MLflow UI's upload of
/// one small file (at most 10 MB) to a run, answered with an empty body as MLflow does.
pub async fn ui_upload(
    State(s): State<AppState>,
    actor: Actor,
    MlflowQuery(q): MlflowQuery<UiUploadQuery>,
    request: Request,
) -> MlflowResult<Response> {
    let run_id = q
        .run_uuid
        .filter(|id| !id.is_empty())
        .ok_or_else(|| MlflowError::invalid("Request must specify run_uuid."))?;
    let path = q
        .path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| MlflowError::invalid("Request must specify path."))?;
    let too_large = || MlflowError::invalid("Artifact size is too large. Max size is 10MB.");
    if declared_length(request.headers()).is_some_and(|n| n > UI_UPLOAD_MAX_BYTES as u64) {
        return Err(too_large());
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let data = axum::body::to_bytes(request.into_body(), UI_UPLOAD_MAX_BYTES)
        .await
        .map_err(|_| too_large())?;
    if data.is_empty() {
        return Err(MlflowError::invalid("Request must specify data."));
    }
    let length = data.len() as u64;
    s.upload_artifact(
        &actor,
        &run_id,
        &path,
        Some(length),
        UploadMeta {
            content_type,
            sha256: None,
        },
        axum::body::Body::from(data).into_data_stream(),
    )
    .await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::empty(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::mlflow_content_type;

    #[test]
    fn content_types_follow_mlflows_send_artifact() {
        for (name, expected) in [
            ("MLmodel", "text/plain"),
            ("conda.yaml", "text/plain"),
            ("metrics.json", "text/plain"),
            ("train.log", "text/plain"),
            ("report.ipynb", "text/plain"),
            ("MLproject", "application/octet-stream"),
            ("plot.png", "image/png"),
            ("model.pkl", "application/octet-stream"),
            ("noextension", "application/octet-stream"),
            ("page.html", "text/html"),
        ] {
            assert_eq!(mlflow_content_type(name), expected, "{name}");
        }
    }
}
