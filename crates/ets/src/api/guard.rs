//! What every request passes before and after its handler, in one place: the announced body
//! size is checked against the route's limit before anything is read (413 at once), the body
//! must keep arriving (`server.body_read_timeout_seconds`, else 408), and every error answer
//! — including those of the router and of axum's extractors, which are plain text or empty —
//! carries the API's JSON error body: the native shape on native routes, MLflow's
//! `{"error_code", "message"}` on MLflow routes.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Whether `path` belongs to the MLflow API (tracking, `ajax-api` and the artifact proxy),
/// whose errors are `{"error_code", "message"}`.
pub(crate) fn is_mlflow_path(path: &str) -> bool {
    path.starts_with("/api/2.0/mlflow") || path.starts_with("/ajax-api/")
}

/// The JSON error body for an error raised outside a handler, in the shape of `path`'s API.
pub(crate) fn error_body(path: &str, status: StatusCode, message: &str) -> Vec<u8> {
    coded_error_body(path, (native_code(status), mlflow_code(status)), message)
}

/// [`error_body`] with the error codes given: (native, MLflow).
fn coded_error_body(path: &str, (native, mlflow): (&str, &str), message: &str) -> Vec<u8> {
    let body = if is_mlflow_path(path) {
        super::mlflow::error_json(mlflow, message.to_owned())
    } else {
        serde_json::to_value(super::error::ErrorBody {
            error: super::error::ErrorDetail {
                code: native.to_owned(),
                message: message.to_owned(),
                details: None,
            },
        })
        .unwrap_or_default()
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A JSON error response for an error raised outside a handler (unknown route, wrong
/// method, refused or timed-out body), in the shape of `path`'s API.
pub(crate) fn error_response(path: &str, status: StatusCode, message: &str) -> Response {
    coded_error_response(
        path,
        status,
        (native_code(status), mlflow_code(status)),
        message,
    )
}

/// [`error_response`] with the error codes given: (native, MLflow).
pub(crate) fn coded_error_response(
    path: &str,
    status: StatusCode,
    codes: (&str, &str),
    message: &str,
) -> Response {
    let mut response = (status, coded_error_body(path, codes, message)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn native_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::RANGE_NOT_SATISFIABLE => "range_not_satisfiable",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

fn mlflow_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "ENDPOINT_NOT_FOUND",
        StatusCode::FORBIDDEN => "PERMISSION_DENIED",
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::RANGE_NOT_SATISFIABLE => {
            "INVALID_PARAMETER_VALUE"
        }
        StatusCode::TOO_MANY_REQUESTS => "REQUEST_LIMIT_EXCEEDED",
        StatusCode::SERVICE_UNAVAILABLE => "TEMPORARILY_UNAVAILABLE",
        s if s.is_server_error() => "INTERNAL_ERROR",
        _ => "BAD_REQUEST",
    }
}

/// Routes whose body is file content, bounded by `limits.max_artifact_bytes`; every other
/// body is JSON, bounded by `limits.max_request_body_bytes`.
fn carries_file_content(method: &Method, path: &str) -> bool {
    if method != Method::PUT && method != Method::POST {
        return false;
    }
    // MLflow's artifact proxy: `PUT …/mlflow-artifacts/artifacts/{path}` and part uploads.
    if let Some(rest) = path
        .strip_prefix("/api/2.0/mlflow-artifacts/")
        .or_else(|| path.strip_prefix("/ajax-api/2.0/mlflow-artifacts/"))
    {
        return method == Method::PUT
            && (rest.starts_with("artifacts/") || rest.starts_with("mpu/parts/"));
    }
    // Native: `POST /api/v1/runs/{id}/artifacts`, `PUT …/uploads/{upload}/parts/{n}`.
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        (method, segments.as_slice()),
        (&Method::POST, ["api", "v1", "runs", _, "artifacts"])
            | (
                &Method::PUT,
                ["api", "v1", "runs", _, "uploads", _, "parts", _]
            )
    )
}

/// The body limit of a request and the setting that sets it.
fn body_limit(state: &AppState, method: &Method, path: &str) -> (u64, &'static str) {
    let limits = &state.config.limits;
    if carries_file_content(method, path) {
        (limits.max_artifact_bytes, "limits.max_artifact_bytes")
    } else {
        (
            limits.max_request_body_bytes,
            "limits.max_request_body_bytes",
        )
    }
}

/// A refused or failed request whose body was not read closes its connection, so the server
/// neither waits for nor drains the rest.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The middleware: size check, body read timeout, and JSON error bodies.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let declared = super::artifacts::declared_length(request.headers());
    let (limit, setting) = body_limit(&state, request.method(), &path);
    if let Some(length) = declared
        && length > limit
    {
        let env = setting.replace('.', "__").to_ascii_uppercase();
        return closing(error_response(
            &path,
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request announces {length} bytes (Content-Length), more than the {limit} \
                 allowed here ({setting}, ETS_{env}); nothing was read"
            ),
        ));
    }

    let timeout = Duration::from_secs(state.config.server.body_read_timeout_seconds);
    let timed_out = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(ReadTimeoutBody {
            inner: body,
            timeout,
            sleep: None,
            armed: false,
            timed_out: timed_out.clone(),
        })
    });
    let response = next.run(request).await;

    if timed_out.load(Ordering::Relaxed) {
        return closing(error_response(
            &path,
            StatusCode::REQUEST_TIMEOUT,
            &format!(
                "the request body stopped arriving: no data for {} s \
                 (server.body_read_timeout_seconds)",
                timeout.as_secs()
            ),
        ));
    }
    if response.status().is_client_error() || response.status().is_server_error() {
        return in_error_shape(&path, response).await;
    }
    response
}

/// An error response that is not JSON (axum's plain-text rejections, empty 416s) rewritten
/// into the API's error body; its status and other headers are kept.
async fn in_error_shape(path: &str, response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 16 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    } else {
        text
    };
    let fresh = error_response(path, parts.status, &message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, fresh.into_body())
}

/// A request body that fails when no data arrives for `timeout` between two reads (the
/// timer runs only while the handler waits for data), and records that it did.
struct ReadTimeoutBody {
    inner: Body,
    timeout: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the timer runs for the current wait.
    armed: bool,
    timed_out: Arc<AtomicBool>,
}

impl HttpBody for ReadTimeoutBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame);
        }
        let deadline = tokio::time::Instant::now() + this.timeout;
        let sleep = match &mut this.sleep {
            Some(sleep) => {
                if !this.armed {
                    sleep.as_mut().reset(deadline);
                }
                sleep
            }
            None => this
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        this.armed = true;
        if sleep.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(format!(
                "no request body data for {} s",
                this.timeout.as_secs()
            )))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_content_routes_are_told_from_json_routes() {
        let cases = [
            (Method::POST, "/api/v1/runs/r1/artifacts", true),
            (Method::PUT, "/api/v1/runs/r1/uploads/u1/parts/3", true),
            (
                Method::PUT,
                "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/model.pkl",
                true,
            ),
            (
                Method::PUT,
                "/ajax-api/2.0/mlflow-artifacts/artifacts/x",
                true,
            ),
            (Method::PUT, "/api/2.0/mlflow-artifacts/mpu/parts/u/1", true),
            (Method::POST, "/api/v1/runs/r1/uploads", false),
            (Method::POST, "/api/v1/runs", false),
            (Method::POST, "/api/2.0/mlflow/runs/log-batch", false),
            (
                Method::POST,
                "/api/2.0/mlflow-artifacts/mpu/create/x",
                false,
            ),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                carries_file_content(&method, path),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn error_bodies_follow_the_api_of_the_path() {
        let native: serde_json::Value = serde_json::from_slice(&error_body(
            "/api/v1/nope",
            StatusCode::URI_TOO_LONG,
            "too long",
        ))
        .unwrap();
        assert_eq!(native["error"]["code"], "uri_too_long");
        assert_eq!(native["error"]["message"], "too long");
        let mlflow: serde_json::Value = serde_json::from_slice(&error_body(
            "/ajax-api/2.0/mlflow/nope",
            StatusCode::NOT_FOUND,
            "no such endpoint",
        ))
        .unwrap();
        assert_eq!(mlflow["error_code"], "ENDPOINT_NOT_FOUND");
        assert_eq!(mlflow["message"], "no such endpoint");
    }
}
