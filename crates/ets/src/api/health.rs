//! Health and discovery: `/health`, `/health/live`, `/health/ready`, `/info`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::service::health::{ComponentHealth, DependencyState, HealthReport};

/// Service health, with the database, storage and sibling MLOps services.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = HealthReport), (status = 503, description = "Database or storage down", body = HealthReport)))]
pub async fn health(State(s): State<AppState>) -> (StatusCode, Json<HealthReport>) {
    let report = s.health_report().await;
    let status = if report.status == "healthy" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

/// Liveness probe body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    pub status: String,
}

/// Kubernetes liveness probe: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = Liveness)))]
pub async fn live() -> Json<Liveness> {
    Json(Liveness {
        status: "alive".into(),
    })
}

/// Readiness probe body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    pub database: ComponentHealth,
    pub storage: ComponentHealth,
}

/// Kubernetes readiness probe: our own database and artifact storage work (sibling services
/// do not count).
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn ready(State(s): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (database, storage) = s.readiness().await;
    let ok = database.status == DependencyState::Up && storage.status == DependencyState::Up;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ok { "ready" } else { "not_ready" }.into(),
            database,
            storage,
        }),
    )
}

/// A sibling service as configured.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceLink {
    pub name: String,
    pub url: Option<String>,
}

/// `GET /info`: what this service is and where its parts are.
#[derive(Debug, Serialize, ToSchema)]
pub struct Info {
    pub service: String,
    pub title: String,
    pub version: String,
    pub environment: String,
    pub api_versions: Vec<String>,
    pub openapi_url: String,
    pub docs_url: String,
    pub metrics_port: u16,
    /// Metadata database: `sqlite` or `postgresql`.
    pub storage_backend: String,
    /// Where artifact bytes live: `local` or `s3`.
    pub artifact_backend: String,
    pub limits: InfoLimits,
    pub services: Vec<ServiceLink>,
}

/// The limits in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct InfoLimits {
    pub max_concurrent_experiments: u64,
    pub max_runs_per_experiment: u64,
    pub max_metric_keys_per_run: u64,
    pub max_artifact_bytes: u64,
    pub max_request_body_bytes: u64,
    pub max_metrics_per_request: u64,
    pub max_log_lines_per_request: u64,
    pub max_log_line_bytes: u64,
    pub db_pool_size: u32,
}

/// Service discovery information.
#[utoipa::path(get, path = "/info", tag = "health", responses((status = 200, body = Info)))]
pub async fn info(State(s): State<AppState>) -> Json<Info> {
    let c = &s.config;
    let l = &c.limits;
    Json(Info {
        service: "ets".into(),
        title: "ETS — Experiment Tracking Service".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        environment: format!("{:?}", c.env).to_lowercase(),
        api_versions: vec!["v1".into()],
        openapi_url: "/openapi.json".into(),
        docs_url: "/docs".into(),
        metrics_port: c.metrics_port,
        storage_backend: c.effective_database_url().backend().into(),
        artifact_backend: s.artifacts.backend().as_str().into(),
        limits: InfoLimits {
            max_concurrent_experiments: l.max_concurrent_experiments,
            max_runs_per_experiment: l.max_runs_per_experiment,
            max_metric_keys_per_run: l.max_metric_keys_per_run,
            max_artifact_bytes: l.max_artifact_bytes,
            max_request_body_bytes: l.max_request_body_bytes,
            max_metrics_per_request: l.max_metrics_per_request,
            max_log_lines_per_request: l.max_log_lines_per_request,
            max_log_line_bytes: l.max_log_line_bytes,
            db_pool_size: l.db_pool_size,
        },
        services: s
            .health
            .targets()
            .iter()
            .map(|(name, url)| ServiceLink {
                name: (*name).into(),
                url: url.as_deref().map(crate::database_url::redact_url),
            })
            .collect(),
    })
}
