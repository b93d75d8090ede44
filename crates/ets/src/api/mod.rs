//! The native HTTP API (`/api/v1`, health, OpenAPI and docs) over the service layer.

pub mod alerts;
pub mod artifacts;
pub mod audit;
pub(crate) mod auth;
pub mod error;
pub mod experiments;
pub mod extract;
pub(crate) mod guard;
pub mod health;
pub mod identity;
pub mod logs;
pub mod mlflow;
pub mod projects;
pub mod runs;
pub(crate) mod security;
pub mod stream;
pub mod studies;
pub mod visualizations;

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tower::ServiceBuilder;
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::CorsConfig;
use crate::service::Services;
use crate::store::Page;

/// Shared state of every handler.
pub type AppState = Arc<Services>;

/// A page of a list endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    /// Pass as `page_token` to get the next page; `null` on the last page.
    pub next_page_token: Option<String>,
}

impl<T> From<Page<T>> for ListResponse<T> {
    fn from(page: Page<T>) -> Self {
        ListResponse {
            items: page.items,
            next_page_token: page.next_page_token,
        }
    }
}

/// A complete (unpaged) list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemList<T> {
    pub items: Vec<T>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ETS — Experiment Tracking Service",
        description = "Record, search and compare ML experiments: projects, experiments, runs, params, tags, \
                       metric series and artifacts. Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`.",
    ),
    paths(runs::metric_series, artifacts::download_artifact, artifacts::delete_artifact),
    tags(
        (name = "health", description = "Health checks and service discovery"),
        (name = "projects", description = "Projects, templates and statistics"),
        (name = "experiments", description = "Experiments: lifecycle, objectives, aggregates, comparison"),
        (name = "runs", description = "Runs: lifecycle, params, tags, metrics"),
        (name = "artifacts", description = "Run artifacts: streamed, resumable and ranged uploads and downloads"),
        (name = "auth", description = "API keys, users and browser sessions"),
        (name = "audit", description = "The tamper-evident audit trail of every change (global admins)"),
        (name = "studies", description = "Hyperparameter optimization: studies whose trials are runs, ask and tell, pruning"),
        (name = "alerts", description = "Alert rules on metrics, safety verdicts and run health; alerts; signed webhook deliveries"),
        (name = "visualizations", description = "Saved charts and dashboards, templates, exports (Plotly JSON, SVG, PNG, PDF, HTML) and the healthcare dashboard"),
    )
)]
struct ApiDoc;

/// Whether a route table is built with its OpenAPI description (each operation's parameters,
/// bodies and answers, and the schemas they name) or without. Composing the description of
/// the ~120 operations takes milliseconds, touches megabytes of code and keeps its tree in
/// memory; the server needs it only when `/openapi.json` is asked for, so it starts without.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Docs {
    With,
    Without,
}

/// `utoipa_axum::routes!` with `Docs::With`. With `Docs::Without`, the same routes — each
/// handler's path and methods, from the same `#[utoipa::path]` — with empty operations and no
/// schemas.
macro_rules! routes {
    ($docs:expr; $($($segment:ident)::+),+ $(,)?) => {
        if $docs == Docs::With {
            utoipa_axum::routes!($($($segment)::+),+)
        } else {
            use utoipa_axum::PathItemExt as _;
            let mut paths = utoipa::openapi::path::Paths::new();
            let mut method_router = axum::routing::MethodRouter::new();
            $(
                let path = utoipa_axum::routes!(@path [path()] of $($segment)::+);
                let methods = utoipa_axum::routes!(@path [methods()] of $($segment)::+);
                method_router = methods.iter().fold(method_router, |router, method| {
                    router.on(method.to_method_filter(), $($segment)::+)
                });
                paths.add_path_operation(path, methods, utoipa::openapi::path::Operation::new());
            )+
            (Vec::new(), paths, method_router)
        }
    };
}

/// The documented routes, and the OpenAPI document generated from them (`Docs::With`) or
/// an empty one.
fn documented_routes(docs: Docs) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let openapi = match docs {
        Docs::With => ApiDoc::openapi(),
        Docs::Without => utoipa::openapi::OpenApiBuilder::new().build(),
    };
    OpenApiRouter::with_openapi(openapi)
        .routes(routes!(docs; health::health))
        .routes(routes!(docs; health::live))
        .routes(routes!(docs; health::ready))
        .routes(routes!(docs; health::info))
        .routes(routes!(docs; identity::whoami))
        .routes(routes!(docs; identity::create_key, identity::list_keys))
        .routes(routes!(docs; identity::revoke_key))
        .routes(routes!(docs; identity::create_user, identity::list_users))
        .routes(routes!(docs; identity::get_user, identity::update_user))
        .routes(routes!(docs; identity::login))
        .routes(routes!(docs; identity::logout))
        .routes(routes!(docs; identity::list_members))
        .routes(routes!(docs; identity::put_member, identity::delete_member))
        .routes(routes!(docs; projects::create_project, projects::list_projects))
        .routes(routes!(docs; projects::project_templates))
        .routes(routes!(docs; projects::create_project_from_template))
        .routes(routes!(
            docs;
            projects::get_project,
            projects::update_project,
            projects::delete_project
        ))
        .routes(routes!(docs; projects::project_stats))
        .routes(routes!(docs; projects::restore_project))
        .routes(routes!(
            docs;
            experiments::create_experiment,
            experiments::list_experiments
        ))
        .routes(routes!(docs; experiments::experiment_templates))
        .routes(routes!(docs; experiments::compare_experiments))
        .routes(routes!(
            docs;
            experiments::get_experiment,
            experiments::update_experiment,
            experiments::delete_experiment
        ))
        .routes(routes!(docs; experiments::restore_experiment))
        .routes(routes!(docs; experiments::start_experiment))
        .routes(routes!(docs; experiments::stop_experiment))
        .routes(routes!(docs; experiments::experiment_metrics))
        .routes(routes!(docs; experiments::compare_groups))
        .routes(routes!(docs; runs::create_run, runs::list_runs))
        .routes(routes!(docs; runs::get_run, runs::update_run, runs::delete_run))
        .routes(routes!(docs; runs::start_run))
        .routes(routes!(docs; runs::finish_run))
        .routes(routes!(docs; runs::restore_run))
        .routes(routes!(docs; runs::log_metrics, runs::metric_summaries))
        .routes(routes!(docs; runs::log_bulk_metrics))
        .routes(routes!(docs; stream::run_stream))
        .routes(routes!(docs; stream::experiment_stream))
        .routes(routes!(
            docs;
            artifacts::upload_artifact,
            artifacts::list_artifacts
        ))
        .routes(routes!(docs; artifacts::start_upload))
        .routes(routes!(docs; artifacts::upload_status, artifacts::abort_upload))
        .routes(routes!(docs; artifacts::upload_part))
        .routes(routes!(docs; artifacts::complete_upload))
        .routes(routes!(docs; audit::list_audit))
        .routes(routes!(docs; audit::verify_audit))
        .routes(routes!(docs; alerts::create_rule, alerts::list_rules))
        .routes(routes!(
            docs;
            alerts::get_rule,
            alerts::update_rule,
            alerts::delete_rule
        ))
        .routes(routes!(docs; alerts::list_alerts))
        .routes(routes!(docs; alerts::get_alert))
        .routes(routes!(docs; alerts::acknowledge_alert))
        .routes(routes!(docs; alerts::list_deliveries))
        .routes(routes!(docs; studies::create_study, studies::list_studies))
        .routes(routes!(docs; studies::study_importance))
        .routes(routes!(docs; studies::create_study_chart))
        .routes(routes!(docs; studies::study_chart_templates))
        .routes(routes!(docs; studies::get_study))
        .routes(routes!(docs; studies::ask_trial, studies::list_trials))
        .routes(routes!(docs; studies::report_trial))
        .routes(routes!(docs; studies::complete_trial))
        .merge(visualization_routes(docs))
        .merge(log_routes(docs))
        .split_for_parts()
}

/// The visualization routes. Their answers are compressed (gzip) for clients that accept it:
/// a Plotly figure of 100 long runs is ~2 MB of JSON, an HTML export carries plotly.js
/// (4.6 MB). PNG, PDF and ZIP are compressed already and are sent as they are.
fn visualization_routes(docs: Docs) -> OpenApiRouter<AppState> {
    let compressible = DefaultPredicate::new()
        .and(NotForContentType::const_new("application/pdf"))
        .and(NotForContentType::const_new("application/zip"));
    OpenApiRouter::new()
        .routes(routes!(
            docs;
            visualizations::create_chart,
            visualizations::list_charts
        ))
        .routes(routes!(
            docs;
            visualizations::get_chart,
            visualizations::update_chart,
            visualizations::delete_chart
        ))
        .routes(routes!(docs; runs::add_evaluation))
        .routes(routes!(docs; runs::run_safety))
        .routes(routes!(docs; runs::experiment_safety))
        .routes(routes!(docs; runs::sign_run, runs::run_signatures))
        .routes(routes!(docs; visualizations::preview_chart))
        .routes(routes!(docs; visualizations::list_templates))
        .routes(routes!(docs; visualizations::create_chart_from_template))
        .routes(routes!(
            docs;
            visualizations::create_dashboard,
            visualizations::list_dashboards
        ))
        .routes(routes!(
            docs;
            visualizations::get_dashboard,
            visualizations::update_dashboard,
            visualizations::delete_dashboard
        ))
        .routes(routes!(docs; visualizations::export_experiment))
        .routes(routes!(docs; visualizations::crisis_detection_dashboard))
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Fastest)
                .compress_when(compressible),
        )
}

/// The run log routes. Log reads compress well (a page of a thousand lines is often 100 kB of
/// JSON), so their answers are gzip-compressed for clients that accept it; the event stream is
/// never compressed (the default predicate leaves `text/event-stream` alone).
fn log_routes(docs: Docs) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(docs; logs::append_logs, logs::run_logs))
        .routes(routes!(docs; logs::experiment_logs))
        .routes(routes!(docs; logs::run_log_stream))
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
}

/// The OpenAPI document of the native API (what `/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes(Docs::With).1
}

/// `/openapi.json`: generated at its first request, then kept as JSON text.
async fn openapi_json() -> Response {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        serde_json::to_string(&openapi()).expect("the OpenAPI document serializes")
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        JSON.as_str(),
    )
        .into_response()
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let (documented, _) = documented_routes(Docs::Without);
    let cors = cors_layer(&state.config.cors);
    // Keys and artifact paths may contain '/', so these two routes use wildcards, which
    // OpenAPI cannot express; they are documented through `ApiDoc::paths` instead.
    let app = documented
        .route(
            "/api/v1/runs/{id}/metrics/{*name}",
            get(runs::metric_series),
        )
        .route(
            "/api/v1/runs/{id}/artifacts/{*path}",
            get(artifacts::download_artifact).delete(artifacts::delete_artifact),
        )
        .merge(mlflow::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), route_context))
        .route("/openapi.json", get(openapi_json))
        .merge(SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/openapi.json")))
        .merge(crate::ui::routes())
        .fallback(|uri: Uri| async move {
            guard::error_response(
                uri.path(),
                StatusCode::NOT_FOUND,
                "no such endpoint; see /docs",
            )
        })
        .method_not_allowed_fallback(|uri: Uri| async move {
            guard::error_response(
                uri.path(),
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this path; see /docs",
            )
        })
        .with_state(state.clone());
    // The layers every request passes wrap the router as a whole: `Router::layer` would wrap
    // each route on its own, and a route's layers are cloned for every request it serves.
    // Outside CORS, so foreign hosts are refused and every answer (preflights too) gets the
    // security headers; inside `observe`, so refusals are logged and counted.
    let policy = Arc::new(security::SecurityPolicy::new(&state.config));
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(middleware::from_fn(observe))
        .layer(middleware::from_fn_with_state(policy, security::security))
        .option_layer(cors)
        .layer(middleware::from_fn_with_state(state, guard::guard))
        // JSON bodies are bounded by our own extractor; uploads by the artifact size limit.
        .layer(DefaultBodyLimit::disable())
        .service(app);
    Router::new().fallback_service(stack)
}

/// Cross-origin calls from browsers. `"*"` lets any page call without credentials (browsers
/// refuse credentials with `*`, and so does the configuration); listed origins may also get
/// credentials (`cors.allow_credentials`).
fn cors_layer(config: &CorsConfig) -> Option<CorsLayer> {
    if config.allowed_origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-process-time"),
        ]);
    if config.allowed_origins.iter().any(|o| o.trim() == "*") {
        return Some(layer.allow_origin(Any).allow_headers(Any));
    }
    let origins = config
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim().trim_end_matches('/')).ok());
    Some(
        layer
            .allow_origin(AllowOrigin::list(origins))
            .allow_headers(AllowHeaders::mirror_request())
            .allow_credentials(config.allow_credentials),
    )
}

/// The route template a request matched, carried to the outer `observe` layer.
#[derive(Clone)]
struct RouteTemplate(Arc<str>);

/// What a matched route's request passes before its handler, in one layer (a route's layers
/// are cloned for every request): the caller is authenticated against the route's declared
/// permission (`auth::authenticate`), the handler runs in the request's audit context (so
/// every write is attributed to the authenticated caller), and the route template and the
/// principal are put on the response for `observe`.
async fn route_context(
    axum::extract::State(s): axum::extract::State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let template: Option<Arc<str>> = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| Arc::from(p.as_str()));
    let mut response =
        match auth::authenticate(&s, &mut request, template.as_deref().unwrap_or("")).await {
            Ok(principal) => {
                let context = audit::request_context(&request);
                let mut response = context.scope(next.run(request)).await;
                if let Some(principal) = principal {
                    response.extensions_mut().insert(principal);
                }
                response
            }
            Err(refusal) => refusal,
        };
    if let Some(template) = template {
        response.extensions_mut().insert(RouteTemplate(template));
    }
    response
}

/// Timing header, per-route Prometheus metrics and one log line per request.
async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let uri_path = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    if let Ok(value) = HeaderValue::from_str(&format!("{elapsed:.6}")) {
        response.headers_mut().insert("x-process-time", value);
    }
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or("unmatched", |r| &*r.0)
        .to_owned();
    let status = response.status();
    let principal = response
        .extensions()
        .get::<auth::PrincipalName>()
        .map_or("-", |p| &*p.0)
        .to_owned();
    metrics::counter!("ets_http_requests_total", "method" => method.to_string(), "route" => route.clone(),
        "status" => status.as_u16().to_string())
    .increment(1);
    metrics::histogram!("ets_http_request_duration_seconds", "method" => method.to_string(), "route" => route)
        .record(elapsed);
    let duration_ms = elapsed * 1000.0;
    if status.is_server_error() {
        tracing::error!(%method, path = %uri_path, status = status.as_u16(), duration_ms, request_id, principal, "request failed");
    } else if status.is_client_error() {
        tracing::info!(%method, path = %uri_path, status = status.as_u16(), duration_ms, request_id, principal, "request refused");
    } else {
        tracing::debug!(%method, path = %uri_path, status = status.as_u16(), duration_ms, request_id, principal, "request");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path and method of the described table, and nothing else, is in the table the
    /// server starts with (built without the description).
    #[test]
    fn the_table_without_docs_has_the_same_paths_and_methods() {
        let methods = |docs: Docs| -> Vec<(String, Vec<String>)> {
            let (_, openapi) = documented_routes(docs);
            openapi
                .paths
                .paths
                .iter()
                .map(|(path, item)| {
                    let value = serde_json::to_value(item).unwrap();
                    let mut methods: Vec<String> =
                        value.as_object().unwrap().keys().cloned().collect();
                    methods.retain(|m| {
                        !["parameters", "summary", "description"].contains(&m.as_str())
                    });
                    methods.sort();
                    (path.clone(), methods)
                })
                .collect()
        };
        // The two wildcard routes are described by `ApiDoc` itself and routed by `router`.
        let wildcards = ApiDoc::openapi().paths.paths;
        assert_eq!(wildcards.len(), 2);
        let mut described = methods(Docs::With);
        described.retain(|(path, _)| !wildcards.contains_key(path));
        assert!(described.len() > 50, "{}", described.len());
        assert_eq!(methods(Docs::Without), described);
        let (_, bare) = documented_routes(Docs::Without);
        assert!(bare.components.is_none_or(|c| c.schemas.is_empty()));
    }
}
