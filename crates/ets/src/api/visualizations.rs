//! `/api/v1/visualizations`: saved charts and dashboards, templates, experiment exports and
//! the healthcare crisis-detection dashboard. A chart read with `?format=` answers the
//! figure (Plotly JSON, SVG, PNG, PDF or a self-contained HTML page) drawn from the runs'
//! current data; without it, the saved definition.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::ErrorBody;
use super::extract::{Json, Path, Query};
use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::service::charts::MEDICAL_DISCLAIMER;
use crate::service::render::{self, Format, RenderParams, Rendered, Report};
use crate::service::reports::{ChartFromTemplate, ChartTemplate, chart_templates};
use crate::service::visualizations::{
    Chart, ChartDefinition, Dashboard, DashboardDefinition, DashboardPatch, ViewList,
    ViewListParams,
};

/// [`ets_charts::html::CSP`] (inline scripts, nothing fetched), sandboxed, never framed.
const HTML_EXPORT_CSP: &str = "sandbox allow-scripts allow-downloads; default-src 'none'; \
     script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn respond(rendered: Rendered, file: &str) -> Response {
    let disposition = match rendered.extension {
        // Shown in the browser; the rest are downloads with a name.
        "json" | "svg" | "png" | "html" => "inline".to_owned(),
        extension => format!(
            "attachment; filename=\"{}.{extension}\"",
            render::file_stem(file)
        ),
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, rendered.content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        rendered.bytes,
    )
        .into_response();
    if rendered.extension == "html" {
        // The page's inline plotly.js must run, but in a sandbox: an opaque origin without the
        // API's cookies, so even a label that escaped escaping could not act as the user.
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static(HTML_EXPORT_CSP),
        );
    }
    response
}

/// Save a chart: a typed query (experiment, run ids or filter) plus presentation.
#[utoipa::path(post, path = "/api/v1/visualizations/charts", tag = "visualizations",
    request_body = ChartDefinition,
    responses((status = 201, body = Chart), (status = 400, description = "Invalid chart", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn create_chart(
    State(s): State<AppState>,
    actor: Actor,
    Json(body): Json<ChartDefinition>,
) -> Result<(StatusCode, JsonResponse<Chart>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_chart(&actor, body).await?),
    ))
}

/// Draw a chart definition without saving it (`format`: json — the default —, svg, png, pdf,
/// html): what `POST …/charts` would save, drawn from the runs' current data.
#[utoipa::path(post, path = "/api/v1/visualizations/preview", tag = "visualizations",
    params(RenderParams), request_body = ChartDefinition,
    responses((status = 200, description = "The figure: application/json (Plotly), image/svg+xml, image/png, application/pdf, text/html"),
              (status = 400, description = "Invalid chart", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn preview_chart(
    State(s): State<AppState>,
    actor: Actor,
    Query(mut params): Query<RenderParams>,
    Json(body): Json<ChartDefinition>,
) -> Result<Response> {
    let format = *params.format.get_or_insert(Format::Json);
    let size = params.size()?;
    let name = body.name.clone();
    let figure = s.preview_chart(&actor, body, size).await?;
    Ok(respond(
        render::figure(figure, format, size.scale).await?,
        &name,
    ))
}

/// List saved charts (of a project or experiment), oldest first.
#[utoipa::path(get, path = "/api/v1/visualizations/charts", tag = "visualizations",
    params(ViewListParams),
    responses((status = 200, body = ViewList<Chart>), (status = 400, body = ErrorBody)))]
pub async fn list_charts(
    State(s): State<AppState>,
    actor: Actor,
    Query(params): Query<ViewListParams>,
) -> Result<JsonResponse<ViewList<Chart>>> {
    Ok(JsonResponse(s.list_charts(&actor, &params).await?))
}

/// A chart: its definition, or with `format` the figure drawn from the runs' current data.
#[utoipa::path(get, path = "/api/v1/visualizations/charts/{id}", tag = "visualizations",
    params(("id" = String, Path), RenderParams),
    responses((status = 200, description = "The definition (no format), or the figure: application/json (Plotly), image/svg+xml, image/png, application/pdf, text/html", body = Chart),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_chart(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(params): Query<RenderParams>,
) -> Result<Response> {
    let Some(format) = params.format else {
        return Ok(JsonResponse(s.get_chart(&actor, &id).await?).into_response());
    };
    let size = params.size()?;
    let chart = s.saved_chart(&actor, &id).await?;
    let figure = s.chart_figure(&actor, &chart, size).await?;
    let name = chart.record.name.clone();
    Ok(respond(
        render::figure(figure, format, size.scale).await?,
        &name,
    ))
}

/// Change a chart: the fields given replace the saved ones (`snapshot: true` freezes the
/// data now, `false` makes it live again).
#[utoipa::path(patch, path = "/api/v1/visualizations/charts/{id}", tag = "visualizations",
    params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Chart), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_chart(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(patch): Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<JsonResponse<Chart>> {
    Ok(JsonResponse(s.update_chart(&actor, &id, patch).await?))
}

/// Delete a chart (it leaves every dashboard that showed it).
#[utoipa::path(delete, path = "/api/v1/visualizations/charts/{id}", tag = "visualizations",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_chart(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    s.delete_chart(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The chart templates.
#[utoipa::path(get, path = "/api/v1/visualizations/templates", tag = "visualizations",
    responses((status = 200, body = Vec<ChartTemplate>)))]
pub async fn list_templates() -> JsonResponse<Vec<ChartTemplate>> {
    JsonResponse(chart_templates())
}

/// Save a chart from a template, its metrics and params chosen from the experiment.
#[utoipa::path(post, path = "/api/v1/visualizations/charts/from-template/{name}", tag = "visualizations",
    params(("name" = String, Path)), request_body = ChartFromTemplate,
    responses((status = 201, body = Chart), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_chart_from_template(
    State(s): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Json(body): Json<ChartFromTemplate>,
) -> Result<(StatusCode, JsonResponse<Chart>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_chart_from_template(&actor, &name, body).await?),
    ))
}

/// Save a dashboard: charts of one project, in order.
#[utoipa::path(post, path = "/api/v1/visualizations/dashboards", tag = "visualizations",
    request_body = DashboardDefinition,
    responses((status = 201, body = Dashboard), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_dashboard(
    State(s): State<AppState>,
    actor: Actor,
    Json(body): Json<DashboardDefinition>,
) -> Result<(StatusCode, JsonResponse<Dashboard>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_dashboard(&actor, body).await?),
    ))
}

/// List dashboards, oldest first.
#[utoipa::path(get, path = "/api/v1/visualizations/dashboards", tag = "visualizations",
    params(ViewListParams),
    responses((status = 200, body = ViewList<Dashboard>), (status = 400, body = ErrorBody)))]
pub async fn list_dashboards(
    State(s): State<AppState>,
    actor: Actor,
    Query(params): Query<ViewListParams>,
) -> Result<JsonResponse<ViewList<Dashboard>>> {
    Ok(JsonResponse(s.list_dashboards(&actor, &params).await?))
}

/// A dashboard with its charts; with `format` (pdf, html, json, zip, png, svg) the charts drawn.
#[utoipa::path(get, path = "/api/v1/visualizations/dashboards/{id}", tag = "visualizations",
    params(("id" = String, Path), RenderParams),
    responses((status = 200, body = Dashboard), (status = 404, body = ErrorBody)))]
pub async fn get_dashboard(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(params): Query<RenderParams>,
) -> Result<Response> {
    let Some(format) = params.format else {
        return Ok(JsonResponse(s.get_dashboard(&actor, &id).await?).into_response());
    };
    let size = params.size()?;
    let dashboard = s.dashboard_record(&actor, &id).await?;
    let mut figures = Vec::with_capacity(dashboard.chart_ids.len());
    for chart_id in &dashboard.chart_ids {
        let chart = s.saved_chart(&actor, chart_id).await?;
        figures.push(s.chart_figure(&actor, &chart, size).await?);
    }
    let disclaimer = figures
        .iter()
        .any(|f| f.notes.iter().any(|n| n == MEDICAL_DISCLAIMER))
        .then(|| MEDICAL_DISCLAIMER.to_owned());
    let report = Report {
        title: dashboard.name.clone(),
        sections: vec![ets_charts::html::ReportSection {
            heading: dashboard.name.clone(),
            paragraphs: dashboard.description.clone().into_iter().collect(),
            figures,
        }],
        disclaimer,
    };
    Ok(respond(
        render::report(report, format, size.scale).await?,
        &dashboard.name,
    ))
}

/// Change a dashboard: name, description, charts (replaced as a whole), columns.
#[utoipa::path(patch, path = "/api/v1/visualizations/dashboards/{id}", tag = "visualizations",
    params(("id" = String, Path)), request_body = DashboardPatch,
    responses((status = 200, body = Dashboard), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_dashboard(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(patch): Json<DashboardPatch>,
) -> Result<JsonResponse<Dashboard>> {
    Ok(JsonResponse(s.update_dashboard(&actor, &id, patch).await?))
}

/// Delete a dashboard (its charts stay).
#[utoipa::path(delete, path = "/api/v1/visualizations/dashboards/{id}", tag = "visualizations",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_dashboard(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    s.delete_dashboard(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Export an experiment: a multi-page PDF report (title page with its configuration and
/// objectives, then its dashboard's charts; the medical disclaimer on every page when the
/// experiment requires it), a self-contained HTML report, a JSON bundle of Plotly figures,
/// or a ZIP of the charts as PNG and SVG (`png`/`svg`: that format only).
#[utoipa::path(get, path = "/api/v1/visualizations/export/experiment/{id}", tag = "visualizations",
    params(("id" = String, Path), RenderParams),
    responses((status = 200, description = "application/pdf, text/html, application/json or application/zip"),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn export_experiment(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(params): Query<RenderParams>,
) -> Result<Response> {
    let format = params.format.unwrap_or(Format::Pdf);
    let size = params.size()?;
    let report = s.experiment_report(&actor, &id, size).await?;
    let name = report.title.clone();
    Ok(respond(
        render::report(report, format, size.scale).await?,
        &name,
    ))
}

/// Query of the crisis-detection dashboard.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CrisisQuery {
    /// Only this project's healthcare experiments.
    pub project_id: Option<String>,
    /// Only this experiment (it must have a healthcare configuration).
    pub experiment_id: Option<String>,
    /// `json` (default: rows, thresholds and Plotly figures), `html` or `pdf`.
    pub format: Option<Format>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Crisis-detection rate, false-negative rate and response quality per run over time against
/// each healthcare experiment's thresholds; runs that breach one are marked and listed.
#[utoipa::path(get, path = "/api/v1/visualizations/healthcare/crisis-detection-dashboard", tag = "visualizations",
    params(CrisisQuery),
    responses((status = 200, description = "JSON panels (or HTML / PDF)"), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn crisis_detection_dashboard(
    State(s): State<AppState>,
    actor: Actor,
    Query(query): Query<CrisisQuery>,
) -> Result<Response> {
    let format = query.format.unwrap_or(Format::Json);
    let size = RenderParams {
        format: Some(format),
        width: query.width,
        height: query.height,
        dpi: None,
    }
    .size()?;
    let panels = s
        .crisis_detection_dashboard(
            &actor,
            query.project_id.as_deref(),
            query.experiment_id.as_deref(),
            size,
        )
        .await?;
    if format == Format::Json {
        let items: Vec<serde_json::Value> = panels
            .iter()
            .map(|p| {
                serde_json::json!({
                    "experiment_id": p.experiment_id,
                    "experiment_name": p.experiment_name,
                    "thresholds": p.thresholds,
                    "breaching_runs": p.breaching_runs,
                    "runs": p.runs,
                    "figures": p.figures.iter().map(ets_charts::plotly::figure_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        return Ok(JsonResponse(serde_json::json!({ "items": items })).into_response());
    }
    if !matches!(format, Format::Html | Format::Pdf) {
        return Err(Error::BadRequest(
            "the crisis-detection dashboard is served as json, html or pdf".into(),
        ));
    }
    let disclaimer = panels
        .iter()
        .any(|p| p.thresholds.require_medical_disclaimer)
        .then(|| MEDICAL_DISCLAIMER.to_owned());
    let sections = panels
        .into_iter()
        .map(|p| ets_charts::html::ReportSection {
            heading: p.experiment_name,
            paragraphs: p
                .runs
                .iter()
                .filter(|r| !r.breaches.is_empty())
                .map(|r| {
                    let what: Vec<String> = r
                        .breaches
                        .iter()
                        .map(|b| {
                            format!(
                                "{} {} (threshold {} {})",
                                b.metric, b.value, b.rule, b.threshold
                            )
                        })
                        .collect();
                    format!("Run {} breaches: {}", r.name, what.join("; "))
                })
                .collect(),
            figures: p.figures,
        })
        .collect();
    let report = Report {
        title: "Crisis detection".into(),
        sections,
        disclaimer,
    };
    Ok(respond(
        render::report(report, format, size.scale).await?,
        "crisis-detection",
    ))
}
