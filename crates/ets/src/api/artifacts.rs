//! Run artifacts on the native API: uploads (raw body, `multipart/form-data`, and resumable
//! uploads in parts), listing, ranged and conditional downloads, deletion. The HTTP helpers
//! for checksums and downloads are shared with the MLflow artifact proxy.

use axum::Json as JsonResponse;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ets_domain::model::Artifact;

use super::error::ErrorBody;
use super::extract::{OptionalJson, Path, Query};
use super::{AppState, ItemList};
use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::service::artifacts::{
    ArtifactReader, NewUpload, UploadInfo, UploadMeta, UploadedPart, parse_sha256,
};

/// Room for the form's own bytes (boundaries, headers, the `path` and `sha256` fields) when a
/// `multipart/form-data` upload's `Content-Length` is compared with the artifact size limit.
const FORM_OVERHEAD: u64 = 64 << 10;

// The two upload body types below exist for the OpenAPI document only.

/// File content, sent as the raw request body.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct FileContent(Vec<u8>);

/// A `multipart/form-data` artifact upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file; its file name is the artifact's name unless `path` (or `?path=`) says otherwise.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Destination path, e.g. `models/best.pt`; ending in `/`: a folder for the file's own name.
    path: Option<String>,
    /// The content's SHA-256 (hex) to verify.
    sha256: Option<String>,
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

/// The `Content-Length` a request announces.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The content's SHA-256 as the client states it, as lowercase hex: `Content-Digest:
/// sha-256=:<base64>:` (RFC 9530) or `X-Checksum-Sha256: <hex or base64>`.
pub(crate) fn expected_sha256(headers: &HeaderMap) -> Result<Option<String>> {
    let mut found: Option<String> = None;
    let mut record = |value: String| -> Result<()> {
        match &found {
            Some(other) if *other != value => Err(Error::BadRequest(
                "Content-Digest and X-Checksum-Sha256 state different checksums".into(),
            )),
            _ => {
                found = Some(value);
                Ok(())
            }
        }
    };
    for value in headers.get_all("content-digest") {
        let text = value
            .to_str()
            .map_err(|_| Error::BadRequest("Content-Digest is not ASCII".into()))?;
        for entry in text.split(',') {
            let Some((algorithm, digest)) = entry.split_once('=') else {
                continue;
            };
            if !algorithm.trim().eq_ignore_ascii_case("sha-256") {
                continue;
            }
            let digest = digest.trim();
            let encoded = digest
                .strip_prefix(':')
                .and_then(|d| d.strip_suffix(':'))
                .ok_or_else(|| {
                    Error::BadRequest(
                        "Content-Digest: write the SHA-256 as sha-256=:<base64>: (RFC 9530)".into(),
                    )
                })?;
            record(sha256_from_base64(encoded, "Content-Digest")?)?;
        }
    }
    if let Some(value) = headers.get("x-checksum-sha256") {
        let text = value
            .to_str()
            .map_err(|_| Error::BadRequest("X-Checksum-Sha256 is not ASCII".into()))?
            .trim();
        let hex = if text.len() == 64 {
            parse_sha256("X-Checksum-Sha256", text).map_err(|_| {
                Error::BadRequest("X-Checksum-Sha256 must be 64 hex digits or base64".into())
            })?
        } else {
            sha256_from_base64(text, "X-Checksum-Sha256")?
        };
        record(hex)?;
    }
    Ok(found)
}

fn sha256_from_base64(encoded: &str, header: &str) -> Result<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            Error::BadRequest(format!("{header}: the SHA-256 must be 32 bytes in base64"))
        })?;
    Ok(hex::encode(bytes))
}

/// Upload an artifact: `multipart/form-data` (field `file`, optional fields `path` — a `path`
/// ending in `/` is a folder for the file's own name — and `sha256`) or a raw body with
/// `?path=dir/name`. Streamed to storage, never buffered; replaces an artifact at the same
/// path. A checksum sent as `Content-Digest: sha-256=:<base64>:`, `X-Checksum-Sha256: <hex>`
/// or the `sha256` field is verified (mismatch: 400, nothing kept). The content type is the
/// request's (or the file part's), else guessed from the path.
#[utoipa::path(post, path = "/api/v1/runs/{id}/artifacts", tag = "artifacts", params(("id" = String, Path), UploadQuery),
    request_body(description = "File content as the raw body (with `?path=`), or a multipart form",
        content((FileContent = "application/octet-stream"), (UploadForm = "multipart/form-data"))),
    responses((status = 201, body = Artifact),
              (status = 400, description = "Bad path (`invalid_path`), checksum mismatch (`checksum_mismatch`) or malformed form", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "The run is deleted (in the trash)", body = ErrorBody),
              (status = 413, description = "Larger than limits.max_artifact_bytes", body = ErrorBody),
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
    let sha256 = expected_sha256(&headers)?;
    let artifact = if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("multipart/form-data"))
    {
        if sha256.is_some() {
            return Err(Error::BadRequest(
                "in a multipart form, send the file's checksum as the 'sha256' field (a digest header would describe the whole form)"
                    .into(),
            ));
        }
        s.check_upload_size(declared_length(&headers).map(|n| n.saturating_sub(FORM_OVERHEAD)))?;
        let multipart = Multipart::from_request(request, &s)
            .await
            .map_err(|e| Error::BadRequest(format!("malformed multipart body: {e}")))?;
        upload_multipart(&s, &actor, &id, query.path, multipart).await?
    } else {
        let path = query.path.ok_or_else(|| {
            Error::BadRequest("a raw upload needs ?path=dir/name (or send multipart/form-data with a 'file' field)".into())
        })?;
        let meta = UploadMeta {
            content_type,
            sha256,
        };
        s.upload_artifact(
            &actor,
            &id,
            &path,
            declared_length(&headers),
            meta,
            request.into_body().into_data_stream(),
        )
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
    let mut sha_field: Option<String> = None;
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
                    let text = field
                        .text()
                        .await
                        .map_err(|e| Error::BadRequest(format!("unreadable 'path' field: {e}")))?;
                    // Checked before any file bytes are stored when it comes first.
                    if staged.is_none() && !text.ends_with('/') {
                        Error::check_artifact_path("path", &text)?;
                    }
                    path_field = Some(text);
                }
                Some("sha256") => {
                    let text = field.text().await.map_err(|e| {
                        Error::BadRequest(format!("unreadable 'sha256' field: {e}"))
                    })?;
                    sha_field = Some(parse_sha256("sha256", &text)?);
                }
                Some("file") if staged.is_none() => {
                    file_name = field.file_name().map(str::to_owned);
                    file_type = field.content_type().map(str::to_owned);
                    staged = Some(s.stage_artifact(actor, run_id, field).await?);
                }
                Some("file") => {
                    return Err(Error::invalid("file", "send one 'file' field per request"));
                }
                other => {
                    return Err(Error::invalid(
                        other.unwrap_or("(unnamed)"),
                        "unexpected multipart field; use 'file' and optionally 'path' and 'sha256'",
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
        staged.discard().await;
        return Err(e);
    }
    let path = match (path_field.or(query_path), file_name) {
        (Some(dir), Some(name)) if dir.ends_with('/') => format!("{dir}{name}"),
        (Some(path), _) => path,
        (None, Some(name)) => name,
        (None, None) => {
            staged.discard().await;
            return Err(Error::InvalidPath(ets_domain::ValidationError::new(
                "path",
                "give a 'path' field or a file name",
            )));
        }
    };
    let meta = UploadMeta {
        content_type: file_type,
        sha256: sha_field,
    };
    s.store_artifact(actor, &path, staged, meta).await
}

/// List a run's artifacts (path, size, SHA-256, content type), optionally under a prefix.
#[utoipa::path(get, path = "/api/v1/runs/{id}/artifacts", tag = "artifacts", params(("id" = String, Path), ArtifactListQuery),
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

/// Download an artifact, streamed. `ETag` is its SHA-256 (`If-None-Match` answers 304);
/// `Range: bytes=…` (one range) answers 206 with `Content-Range`, honouring `If-Range`.
#[utoipa::path(get, path = "/api/v1/runs/{id}/artifacts/{path}", tag = "artifacts",
    params(("id" = String, Path), ("path" = String, Path, description = "Artifact path, may contain '/'"),
           ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`, `bytes=1024-`, `bytes=-512`"),
           ("If-None-Match" = Option<String>, Header, description = "ETag(s) the client has")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
              (status = 206, description = "The requested range"),
              (status = 304, description = "Not modified"),
              (status = 400, description = "Bad path", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 416, description = "Range not satisfiable")))]
pub async fn download_artifact(
    State(s): State<AppState>,
    actor: Actor,
    Path((id, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let reader = s.open_artifact(&actor, &id, &path).await?;
    download_response(reader, &headers).await
}

/// Delete an artifact, or every artifact below a folder path.
#[utoipa::path(delete, path = "/api/v1/runs/{id}/artifacts/{path}", tag = "artifacts",
    params(("id" = String, Path), ("path" = String, Path, description = "Artifact path or folder, may contain '/'")),
    responses((status = 204), (status = 400, description = "Bad path", body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "The run is deleted (in the trash)", body = ErrorBody)))]
pub async fn delete_artifact(
    State(s): State<AppState>,
    actor: Actor,
    Path((id, path)): Path<(String, String)>,
) -> Result<StatusCode> {
    s.delete_artifacts(&actor, &id, &path).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a request's `Range` asks for.
#[derive(Debug, PartialEq)]
enum RangeRequest {
    /// No (usable) range: the whole content.
    Full,
    /// Bytes `start..end`.
    Part(u64, u64),
    Unsatisfiable,
}

/// Parses a `Range` header against a content of `size` bytes. Several ranges, other units or
/// bad syntax are ignored (the whole content is sent), as RFC 9110 allows.
fn parse_range(value: &str, size: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix: the last N bytes.
        return match last.parse::<u64>() {
            Ok(n) if n > 0 && size > 0 => RangeRequest::Part(size.saturating_sub(n), size),
            Ok(_) => RangeRequest::Unsatisfiable,
            Err(_) => RangeRequest::Full,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeRequest::Full;
    };
    let end = if last.is_empty() {
        size
    } else {
        match last.parse::<u64>() {
            Ok(last) if last >= start => last.saturating_add(1).min(size),
            _ => return RangeRequest::Full,
        }
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Part(start, end)
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison).
fn none_match(value: &str, etag: &str) -> bool {
    value
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

/// The response to a download: 304, 416, 206 or 200 with the headers of the artifact, sent so
/// that a browser never renders it as a page of the API's origin.
pub(crate) async fn download_response(
    reader: ArtifactReader,
    headers: &HeaderMap,
) -> Result<Response> {
    let artifact = &reader.artifact;
    let etag = format!("\"{}\"", artifact.sha256);
    let size = artifact.size.max(0) as u64;
    let header_text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = artifact
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let mut common = HeaderMap::new();
    let file_name = artifact.path.rsplit('/').next().unwrap_or(&artifact.path);
    super::security::protect_download(&mut common, &content_type, file_name, false);
    common.insert(header::ETAG, header_value(&etag));
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    common.insert(
        header::LAST_MODIFIED,
        header_value(&http_date(artifact.created_at.millis())),
    );

    if let Some(value) = header_text(header::IF_NONE_MATCH)
        && none_match(value, &etag)
    {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    // A range applies only to the representation the client has (If-Range: its ETag).
    let range = match header_text(header::RANGE) {
        Some(value) if header_text(header::IF_RANGE).is_none_or(|v| v.trim() == etag) => {
            parse_range(value, size)
        }
        _ => RangeRequest::Full,
    };
    common.insert(header::CONTENT_TYPE, header_value(&content_type));
    match range {
        RangeRequest::Unsatisfiable => {
            common.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{size}")),
            );
            common.remove(header::CONTENT_TYPE);
            Ok((StatusCode::RANGE_NOT_SATISFIABLE, common).into_response())
        }
        RangeRequest::Part(start, end) => {
            let stream = reader.open(Some(start..end)).await?;
            common.insert(
                header::CONTENT_LENGTH,
                header_value(&(end - start).to_string()),
            );
            common.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {start}-{}/{size}", end - 1)),
            );
            Ok((
                StatusCode::PARTIAL_CONTENT,
                common,
                Body::from_stream(stream),
            )
                .into_response())
        }
        RangeRequest::Full => {
            let stream = reader.open(None).await?;
            common.insert(header::CONTENT_LENGTH, header_value(&size.to_string()));
            Ok((StatusCode::OK, common, Body::from_stream(stream)).into_response())
        }
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) of epoch milliseconds.
fn http_date(millis: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis.max(0) as u64);
    httpdate::fmt_http_date(time)
}

// ---------------------------------------------------------------- resumable uploads

/// Start a resumable upload of a large file: send its parts with `PUT …/parts/{n}` (any
/// order, in parallel, again after an interruption), then `POST …/complete`. Unfinished
/// uploads expire after `artifacts.upload_expiry_hours` and are removed by `ets gc`.
#[utoipa::path(post, path = "/api/v1/runs/{id}/uploads", tag = "artifacts", params(("id" = String, Path)),
    request_body = NewUpload,
    responses((status = 201, body = UploadInfo), (status = 400, description = "Bad path", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "The run is deleted", body = ErrorBody),
              (status = 413, description = "Declared size over limits.max_artifact_bytes", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn start_upload(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    super::extract::Json(body): super::extract::Json<NewUpload>,
) -> Result<(StatusCode, JsonResponse<UploadInfo>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.start_upload(&actor, &id, body).await?),
    ))
}

/// A resumable upload and the parts received so far: what to send again after an interruption.
#[utoipa::path(get, path = "/api/v1/runs/{id}/uploads/{upload_id}", tag = "artifacts",
    params(("id" = String, Path), ("upload_id" = String, Path)),
    responses((status = 200, body = UploadInfo), (status = 404, body = ErrorBody)))]
pub async fn upload_status(
    State(s): State<AppState>,
    actor: Actor,
    Path((id, upload_id)): Path<(String, String)>,
) -> Result<JsonResponse<UploadInfo>> {
    Ok(JsonResponse(
        s.upload_status(&actor, &id, &upload_id).await?,
    ))
}

/// Send one part (1..=10000) as the raw body; sending a part number again replaces it. The
/// answer's `etag` (also the `ETag` header) identifies this part upload. A `Content-Digest` /
/// `X-Checksum-Sha256` header is verified.
#[utoipa::path(put, path = "/api/v1/runs/{id}/uploads/{upload_id}/parts/{part_number}", tag = "artifacts",
    params(("id" = String, Path), ("upload_id" = String, Path), ("part_number" = u32, Path)),
    request_body(content = FileContent, description = "The part's bytes", content_type = "application/octet-stream"),
    responses((status = 200, body = UploadedPart), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, description = "The parts would exceed limits.max_artifact_bytes", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn upload_part(
    State(s): State<AppState>,
    Path((id, upload_id, part_number)): Path<(String, String, u32)>,
    actor: Actor,
    headers: HeaderMap,
    request: Request,
) -> Result<Response> {
    let sha256 = expected_sha256(&headers)?;
    let part = s
        .upload_part(
            &actor,
            Some(&id),
            &upload_id,
            crate::service::artifacts::PartUpload {
                number: part_number,
                declared_size: declared_length(&headers),
                sha256,
            },
            request.into_body().into_data_stream(),
        )
        .await?;
    let etag = header_value(&format!("\"{}\"", part.etag));
    Ok(([(header::ETAG, etag)], JsonResponse(part)).into_response())
}

/// Body of `POST …/uploads/{upload_id}/complete`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteUpload {
    /// The parts to join, with the ETags their uploads answered; default: every part received,
    /// which must be numbered 1, 2, … without a gap.
    #[serde(default)]
    pub parts: Option<Vec<CompletePart>>,
    /// Hex SHA-256 of the whole file, checked (if also given at the start, this one counts).
    #[serde(default)]
    pub sha256: Option<String>,
}

/// One part named on completion.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletePart {
    pub part_number: u32,
    pub etag: String,
}

/// Join the parts into the artifact (streamed server-side), record it and drop the parts.
#[utoipa::path(post, path = "/api/v1/runs/{id}/uploads/{upload_id}/complete", tag = "artifacts",
    params(("id" = String, Path), ("upload_id" = String, Path)),
    request_body(content = Option<CompleteUpload>, description = "Optional"),
    responses((status = 201, body = Artifact),
              (status = 400, description = "Checksum mismatch (the parts are kept, so faulty ones can be sent again)", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "The run is deleted", body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 422, description = "A part is missing or its ETag is stale", body = ErrorBody)))]
pub async fn complete_upload(
    State(s): State<AppState>,
    actor: Actor,
    Path((id, upload_id)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<CompleteUpload>,
) -> Result<(StatusCode, JsonResponse<Artifact>)> {
    let parts = body
        .parts
        .map(|parts| parts.into_iter().map(|p| (p.part_number, p.etag)).collect());
    let artifact = s
        .complete_upload(&actor, &id, &upload_id, None, parts, body.sha256)
        .await?;
    Ok((StatusCode::CREATED, JsonResponse(artifact)))
}

/// Abandon a resumable upload and drop its parts.
#[utoipa::path(delete, path = "/api/v1/runs/{id}/uploads/{upload_id}", tag = "artifacts",
    params(("id" = String, Path), ("upload_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn abort_upload(
    State(s): State<AppState>,
    actor: Actor,
    Path((id, upload_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    s.abort_upload(&actor, Some(&id), &upload_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 10));
        assert_eq!(parse_range("bytes=90-", 100), Part(90, 100));
        assert_eq!(parse_range("bytes=90-1000", 100), Part(90, 100));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 100));
        assert_eq!(parse_range("bytes=-1000", 100), Part(0, 100));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Full);
        assert_eq!(parse_range("items=0-1", 100), Full);
        assert_eq!(parse_range("bytes=x-1", 100), Full);
    }

    #[test]
    fn checksum_headers() {
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(sha).unwrap());
        let mut headers = HeaderMap::new();
        assert_eq!(expected_sha256(&headers).unwrap(), None);
        headers.insert(
            "content-digest",
            header_value(&format!("md5=:abc=:, sha-256=:{b64}:")),
        );
        assert_eq!(expected_sha256(&headers).unwrap().as_deref(), Some(sha));
        headers.insert("x-checksum-sha256", header_value(&sha.to_uppercase()));
        assert_eq!(expected_sha256(&headers).unwrap().as_deref(), Some(sha));
        headers.insert("x-checksum-sha256", header_value(&"0".repeat(64)));
        assert!(expected_sha256(&headers).is_err(), "disagreeing headers");
        let mut headers = HeaderMap::new();
        headers.insert("content-digest", header_value("sha-256=abc"));
        assert!(expected_sha256(&headers).is_err());
    }

    #[test]
    fn if_none_match() {
        assert!(none_match("\"a\"", "\"a\""));
        assert!(none_match("\"b\", W/\"a\"", "\"a\""));
        assert!(none_match("*", "\"a\""));
        assert!(!none_match("\"b\"", "\"a\""));
    }
}
