//! How service errors look on the native API: `{"error": {"code", "message", "details"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;

/// The body of every native API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and people (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_input`, `limit_exceeded`.
    pub code: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// Structured context such as the offending `field`, or the `setting` of a limit.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// `Retry-After` of a 429 for a capacity in use, which frees up within seconds.
const RETRY_AFTER_SECONDS: u64 = 5;

/// Seconds a client should wait before retrying after `error`, when it is a 429.
pub(crate) fn retry_after(error: &Error) -> u64 {
    match error {
        Error::RateLimited {
            retry_after_seconds,
            ..
        } => (*retry_after_seconds).max(1),
        _ => RETRY_AFTER_SECONDS,
    }
}

/// Status, code and details of each error; one arm per variant, no catch-all.
fn classify(error: &Error) -> (StatusCode, &'static str, Option<serde_json::Value>) {
    match error {
        Error::Invalid(v) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            Some(serde_json::json!({ "field": v.field })),
        ),
        Error::InvalidPath(v) => (
            StatusCode::BAD_REQUEST,
            "invalid_path",
            Some(serde_json::json!({ "field": v.field })),
        ),
        Error::ChecksumMismatch {
            expected, actual, ..
        } => (
            StatusCode::BAD_REQUEST,
            "checksum_mismatch",
            Some(serde_json::json!({ "expected_sha256": expected, "actual_sha256": actual })),
        ),
        Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", None),
        Error::NotFound { entity, id } => (
            StatusCode::NOT_FOUND,
            "not_found",
            Some(serde_json::json!({ "entity": entity.as_str(), "id": id })),
        ),
        Error::AlreadyExists { entity, name, .. } => (
            StatusCode::CONFLICT,
            "already_exists",
            Some(serde_json::json!({ "entity": entity.as_str(), "name": name })),
        ),
        Error::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
        // A quota is not a rate: retrying does not help, so 409 (429 is kept for rate limits).
        Error::LimitExceeded { setting, limit, .. } => (
            StatusCode::CONFLICT,
            "limit_exceeded",
            Some(serde_json::json!({ "setting": setting, "limit": limit })),
        ),
        Error::Busy { setting, limit, .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            Some(serde_json::json!({ "setting": setting, "limit": limit })),
        ),
        Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
        Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated", None),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
        Error::RateLimited {
            retry_after_seconds,
            ..
        } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            Some(serde_json::json!({ "retry_after_seconds": retry_after_seconds })),
        ),
        Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None),
        Error::StorageFull(_) => (
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
            None,
        ),
        Error::UnsupportedMediaType(_) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            None,
        ),
        Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code, details) = classify(&self);
        let retry_after = retry_after(&self);
        let challenge = matches!(self, Error::Unauthenticated(_));
        let message = match &self {
            Error::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                "internal error; the server log has the details".to_owned()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                details,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after),
            );
        }
        if challenge {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(WWW_AUTHENTICATE),
            );
        }
        close_if_too_large(response)
    }
}

/// The challenge of a 401: an API key or JWT as a Bearer token, or Basic user + password/key.
pub(crate) const WWW_AUTHENTICATE: &str =
    "Bearer realm=\"ets\", Basic realm=\"ets\", charset=\"UTF-8\"";

/// A refused oversized request is answered at once, without reading the rest of its body; the
/// connection then closes (`Connection: close`) rather than waiting for or draining the
/// remaining bytes.
pub(crate) fn close_if_too_large(mut response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}
