//! The MLflow tracking REST API 2.0 (`/api/2.0/mlflow/…`, `/ajax-api/2.0/mlflow/…`) and the
//! artifact proxy (`/api/2.0/mlflow-artifacts/…`), so `mlflow` clients and their
//! integrations log to ETS unchanged.
//!
//! Every handler translates MLflow's request shape into a call of the same service function
//! the native API uses, and the result back into MLflow's response shape. MLflow experiments
//! and runs are ETS experiments and runs.

mod artifacts;
mod experiments;
mod models;
mod runs;
mod types;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::Error;

/// MLflow's error body: `{"error_code": "...", "message": "..."}`.
/// The second field overrides the error code where MLflow answers one that the variant does
/// not tell (always with HTTP 400); the third, the message, where MLflow's wording needs what
/// the error does not carry.
pub struct MlflowError(pub Error, Option<&'static str>, Option<String>);

impl From<Error> for MlflowError {
    fn from(error: Error) -> Self {
        MlflowError(error, None, None)
    }
}

impl MlflowError {
    pub fn invalid(message: impl Into<String>) -> Self {
        MlflowError(Error::BadRequest(message.into()), None, None)
    }

    /// `BAD_REQUEST` (400), as MLflow's SQL store answers a database constraint violation.
    pub fn bad_request(error: Error) -> Self {
        MlflowError(error, Some("BAD_REQUEST"), None)
    }

    /// MLflow's refusal of a request without `parameter`, word for word.
    pub fn missing(parameter: &str) -> Self {
        Self::invalid(format!(
            "Missing value for required parameter '{parameter}'. {SEE_THE_DOCS}"
        ))
    }

    /// `error` answered with MLflow's `message`.
    pub fn worded(error: Error, message: String) -> Self {
        MlflowError(error, None, Some(message))
    }

    /// A key refused for its form worded as MLflow words it (`Invalid value "k" for parameter
    /// 'key' supplied: Names may …`); `parameter` names the field as MLflow does on the call,
    /// given ETS's field and the key. Other errors stay as they are.
    pub fn keyed(error: Error, parameter: impl FnOnce(&str, &str) -> String) -> Self {
        use ets_domain::validate::KeyProblem;
        let Error::Invalid(refusal) = &error else {
            return error.into();
        };
        let Some(refused) = &refusal.refused_key else {
            return error.into();
        };
        let reason = match &refused.problem {
            KeyProblem::Character => {
                "Names may only contain alphanumerics, underscores (_), dashes (-), \
                 periods (.), spaces ( ), colon(:) and slashes (/)."
                    .to_owned()
            }
            KeyProblem::Path { resolves_to } => format!(
                "Names may be treated as files in certain cases, and must not resolve to other names \
                 when treated as such. This name would resolve to '{resolves_to}'"
            ),
        };
        let message = format!(
            "Invalid value {} for parameter '{}' supplied: {reason}",
            ascii_json(&refused.key),
            parameter(&refusal.field, &refused.key)
        );
        Self::worded(error, message)
    }
}

/// A string as Python's `json.dumps` writes it (non-ASCII escaped), which MLflow uses for
/// the values it quotes in errors.
fn ascii_json(text: &str) -> String {
    let json = serde_json::Value::from(text).to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// How MLflow ends its messages about request parameters.
const SEE_THE_DOCS: &str = "See the API docs for more information about request parameters.";

/// MLflow's wording of the errors tools and tests match on (`Run with id=… not found`); the
/// error's own text elsewhere.
fn mlflow_message(error: &Error) -> String {
    use crate::error::EntityKind;
    match error {
        Error::NotFound {
            entity: EntityKind::Run,
            id,
        } => format!("Run with id={id} not found"),
        Error::NotFound {
            entity: EntityKind::Experiment,
            id,
        } => format!("No Experiment with id={id} exists"),
        Error::NotFound {
            entity: EntityKind::LoggedModel,
            id,
        } => format!("Logged model with ID '{id}' not found."),
        // MLflow's `validate_path_is_safe` says only "Invalid path"; ETS adds what to fix.
        Error::InvalidPath(refusal) => format!("Invalid path: {}", refusal.message),
        other => other.to_string(),
    }
}

/// MLflow's error code and status for each of our errors (no catch-all arm).
fn classify(error: &Error) -> (StatusCode, &'static str) {
    match error {
        Error::Invalid(_)
        | Error::InvalidPath(_)
        | Error::ChecksumMismatch { .. }
        | Error::BadRequest(_)
        | Error::Conflict(_) => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
        Error::NotFound { .. } => (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
        Error::AlreadyExists { .. } => (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS"),
        // Not 429: MLflow clients retry 429s for minutes, and a configured limit does not lift
        // by waiting.
        Error::LimitExceeded { .. } => (StatusCode::BAD_REQUEST, "RESOURCE_EXHAUSTED"),
        Error::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE"),
        Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE"),
        Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        // MLflow's client retries 429 with backoff, which is what a rate limit wants.
        Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "REQUEST_LIMIT_EXCEEDED"),
        Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "INVALID_PARAMETER_VALUE"),
        // Not a 5xx MLflow clients retry at once: space comes back when someone frees it.
        Error::StorageFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "RESOURCE_EXHAUSTED"),
        // MLflow's `_validate_content_type`: 400.
        Error::UnsupportedMediaType(_) => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
        Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        let (status, code) = match self.1 {
            Some(code) => (StatusCode::BAD_REQUEST, code),
            None => classify(&self.0),
        };
        let message = match (&self.0, self.2) {
            (Error::Internal(cause), _) => {
                tracing::error!(cause = %cause, "internal error");
                "internal error; the server log has the details".to_owned()
            }
            (_, Some(message)) => message,
            (other, None) => mlflow_message(other),
        };
        let mut response = (status, axum::Json(error_json(code, message))).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(
                axum::http::header::RETRY_AFTER,
                super::error::retry_after(&self.0).into(),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(super::error::WWW_AUTHENTICATE),
            );
        }
        super::error::close_if_too_large(response)
    }
}

/// MLflow's error body.
pub(crate) fn error_json(code: &str, message: String) -> serde_json::Value {
    serde_json::json!({ "error_code": code, "message": message })
}

/// A JSON response serialised directly from typed data (for large bodies, where building a
/// `serde_json::Value` tree first would multiply memory).
pub fn json_bytes<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(e) => MlflowError::from(Error::internal(format!("cannot serialise response: {e}")))
            .into_response(),
    }
}

/// Result of MLflow handlers.
pub type MlflowResult<T> = Result<T, MlflowError>;

/// A JSON request body as MLflow clients send it. Unknown fields are ignored, as MLflow's
/// own server does, so newer clients keep working.
pub struct MlflowJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for MlflowJson<T> {
    type Rejection = MlflowError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes =
            super::extract::read_json_body(req, state, super::extract::JsonRule::Mlflow).await?;
        // MLflow clients send an empty body for calls whose fields are all optional.
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        super::extract::parse_json_object(bytes)
            .map(MlflowJson)
            .map_err(|problem| match problem {
                super::extract::JsonProblem::Syntax(message) => MlflowError::invalid(message),
                super::extract::JsonProblem::Shape { path, message } => {
                    let value = value_at(bytes, &path)
                        .map_or_else(String::new, |v| format!(" {v}"));
                    MlflowError::invalid(format!(
                        "Invalid value{value} for parameter '{path}' supplied: {message}. {SEE_THE_DOCS}"
                    ))
                }
            })
    }
}

/// The JSON value at `path` (`metrics[3].key`, as serde_path_to_error writes it) of a body,
/// for an error message; only called on a refused body.
fn value_at(body: &[u8], path: &str) -> Option<serde_json::Value> {
    let root: serde_json::Value = serde_json::from_slice(body).ok()?;
    let pointer: String = path
        .split('.')
        .flat_map(|part| part.split('['))
        .map(|segment| format!("/{}", segment.trim_end_matches(']')))
        .collect();
    root.pointer(&pointer).cloned()
}

/// Query parameters of MLflow's GET calls.
pub struct MlflowQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for MlflowQuery<T> {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_html_form::from_str(query)
            .map(MlflowQuery)
            .map_err(|e| MlflowError::invalid(format!("invalid query parameters: {e}")))
    }
}

/// The tracking API routes (mounted under `/api/2.0/mlflow` and `/ajax-api/2.0/mlflow`).
fn tracking_routes() -> Router<AppState> {
    Router::new()
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route(
            "/experiments/search",
            get(experiments::search_get).post(experiments::search),
        )
        .route("/experiments/update", post(experiments::update))
        .route(
            "/experiments/search-datasets",
            post(experiments::search_datasets),
        )
        .route("/experiments/delete", post(experiments::delete))
        .route("/experiments/restore", post(experiments::restore))
        .route(
            "/experiments/set-experiment-tag",
            post(experiments::set_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(experiments::delete_tag),
        )
        .route("/runs/create", post(runs::create))
        .route("/runs/get", get(runs::get))
        .route("/runs/update", post(runs::update))
        .route("/runs/delete", post(runs::delete))
        .route("/runs/restore", post(runs::restore))
        .route("/runs/search", post(runs::search))
        .route("/runs/log-metric", post(runs::log_metric))
        .route("/runs/log-parameter", post(runs::log_param))
        .route("/runs/log-batch", post(runs::log_batch))
        .route("/runs/log-inputs", post(runs::log_inputs))
        .route("/runs/outputs", post(runs::log_outputs))
        .route("/runs/set-tag", post(runs::set_tag))
        .route("/runs/delete-tag", post(runs::delete_tag))
        .route("/metrics/get-history", get(runs::get_history))
        .route("/metrics/get-history-bulk", get(runs::get_history_bulk))
        .route(
            "/metrics/get-history-bulk-interval",
            get(runs::get_history_bulk_interval),
        )
        .route("/artifacts/list", get(artifacts::list_run_artifacts))
        .route("/upload-artifact", post(artifacts::ui_upload))
        .route("/logged-models", post(models::create))
        .route("/logged-models/search", post(models::search))
        .route(
            "/logged-models/{model_id}",
            get(models::get)
                .patch(models::finalize)
                .delete(models::delete),
        )
        .route("/logged-models/{model_id}/tags", patch(models::set_tags))
        .route(
            "/logged-models/{model_id}/tags/{key}",
            delete(models::delete_tag),
        )
        .route("/logged-models/{model_id}/params", post(models::log_params))
}

/// The MLflow release whose REST API ETS serves and is tested against
/// (`tests/mlflow_client/requirements-server.txt`): clients read it from `GET /version` to decide
/// which features the server has.
pub const MLFLOW_VERSION: &str = "3.17.2";

/// `GET /version`: the MLflow version, as plain text (MLflow answers the same text).
async fn version() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        MLFLOW_VERSION,
    )
}

/// Every MLflow route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .nest("/api/2.0/mlflow", tracking_routes())
        .nest("/ajax-api/2.0/mlflow", tracking_routes())
        .route("/get-artifact", get(artifacts::get_artifact))
        .route("/version", get(version))
        .route(
            "/api/2.0/mlflow-artifacts/artifacts",
            get(artifacts::proxy_list),
        )
        .route(
            "/api/2.0/mlflow-artifacts/artifacts/{*path}",
            get(artifacts::proxy_download)
                .put(artifacts::proxy_upload)
                .delete(artifacts::proxy_delete),
        )
        .route(
            "/api/2.0/mlflow-artifacts/mpu/create/{*path}",
            post(artifacts::mpu_create),
        )
        .route(
            "/api/2.0/mlflow-artifacts/mpu/complete/{*path}",
            post(artifacts::mpu_complete),
        )
        .route(
            "/api/2.0/mlflow-artifacts/mpu/abort/{*path}",
            post(artifacts::mpu_abort),
        )
        .route(
            "/api/2.0/mlflow-artifacts/mpu/parts/{upload_id}/{part_number}",
            axum::routing::put(artifacts::mpu_put_part),
        )
        .route(
            "/ajax-api/2.0/mlflow-artifacts/artifacts",
            get(artifacts::proxy_list),
        )
        .route(
            "/ajax-api/2.0/mlflow-artifacts/artifacts/{*path}",
            get(artifacts::proxy_download)
                .put(artifacts::proxy_upload)
                .delete(artifacts::proxy_delete),
        )
}
