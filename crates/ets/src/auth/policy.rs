//! The permission each route needs, declared once for every route of both APIs.
//!
//! The auth middleware looks the matched route up here before the handler runs; a route
//! missing from this table is refused for everyone (deny by default), and a test walks every
//! documented operation and every MLflow route to make sure each one is declared.

use super::{Permission, Role};

use Permission::{Authenticated, GlobalAdmin, Project, Public};
use Role::{Admin, Editor, Viewer};

/// Native routes: (method, path template as OpenAPI writes it, permission).
const NATIVE: &[(&str, &str, Permission)] = &[
    ("GET", "/health", Public),
    ("GET", "/health/live", Public),
    ("GET", "/health/ready", Public),
    ("GET", "/info", Public),
    // Identities: a caller's own keys; users are the global admins' business.
    ("POST", "/api/v1/auth/login", Public),
    ("POST", "/api/v1/auth/logout", Public),
    ("GET", "/api/v1/auth/whoami", Authenticated),
    ("GET", "/api/v1/auth/keys", Authenticated),
    ("POST", "/api/v1/auth/keys", Authenticated),
    ("DELETE", "/api/v1/auth/keys/{id}", Authenticated),
    ("GET", "/api/v1/auth/users", GlobalAdmin),
    ("POST", "/api/v1/auth/users", GlobalAdmin),
    ("GET", "/api/v1/auth/users/{name}", GlobalAdmin),
    ("PATCH", "/api/v1/auth/users/{name}", GlobalAdmin),
    ("GET", "/api/v1/audit", GlobalAdmin),
    ("GET", "/api/v1/audit/verify", GlobalAdmin),
    // Alerts: a rule and its alerts belong to the project it watches.
    ("POST", "/api/v1/alerts/rules", Project(Editor)),
    ("GET", "/api/v1/alerts/rules", Project(Viewer)),
    ("GET", "/api/v1/alerts/rules/{id}", Project(Viewer)),
    ("PATCH", "/api/v1/alerts/rules/{id}", Project(Editor)),
    ("DELETE", "/api/v1/alerts/rules/{id}", Project(Editor)),
    ("GET", "/api/v1/alerts", Project(Viewer)),
    ("GET", "/api/v1/alerts/{id}", Project(Viewer)),
    ("POST", "/api/v1/alerts/{id}/acknowledge", Project(Editor)),
    ("GET", "/api/v1/alerts/{id}/deliveries", Project(Viewer)),
    // Studies: a study and its trials belong to their experiment's project.
    ("POST", "/api/v1/experiments/{id}/studies", Project(Editor)),
    ("GET", "/api/v1/experiments/{id}/studies", Project(Viewer)),
    ("GET", "/api/v1/studies/{id}/importance", Project(Viewer)),
    ("POST", "/api/v1/studies/{id}/charts", Project(Editor)),
    ("GET", "/api/v1/studies/chart-templates", Authenticated),
    ("GET", "/api/v1/studies/{id}", Project(Viewer)),
    ("POST", "/api/v1/studies/{id}/trials", Project(Editor)),
    ("GET", "/api/v1/studies/{id}/trials", Project(Viewer)),
    ("POST", "/api/v1/trials/{id}/report", Project(Editor)),
    ("POST", "/api/v1/trials/{id}/complete", Project(Editor)),
    // Visualizations: a chart or dashboard belongs to its project (its experiment's or runs').
    ("GET", "/api/v1/visualizations/charts", Project(Viewer)),
    ("POST", "/api/v1/visualizations/charts", Project(Editor)),
    ("GET", "/api/v1/visualizations/charts/{id}", Project(Viewer)),
    (
        "PATCH",
        "/api/v1/visualizations/charts/{id}",
        Project(Editor),
    ),
    (
        "DELETE",
        "/api/v1/visualizations/charts/{id}",
        Project(Editor),
    ),
    // Draws without saving: a read of the runs it shows.
    ("POST", "/api/v1/visualizations/preview", Project(Viewer)),
    ("GET", "/api/v1/visualizations/templates", Authenticated),
    (
        "POST",
        "/api/v1/visualizations/charts/from-template/{name}",
        Project(Editor),
    ),
    ("GET", "/api/v1/visualizations/dashboards", Project(Viewer)),
    ("POST", "/api/v1/visualizations/dashboards", Project(Editor)),
    (
        "GET",
        "/api/v1/visualizations/dashboards/{id}",
        Project(Viewer),
    ),
    (
        "PATCH",
        "/api/v1/visualizations/dashboards/{id}",
        Project(Editor),
    ),
    (
        "DELETE",
        "/api/v1/visualizations/dashboards/{id}",
        Project(Editor),
    ),
    (
        "GET",
        "/api/v1/visualizations/export/experiment/{id}",
        Project(Viewer),
    ),
    (
        "GET",
        "/api/v1/visualizations/healthcare/crisis-detection-dashboard",
        Project(Viewer),
    ),
    // Projects: anyone may create one (and becomes its admin).
    ("GET", "/api/v1/projects", Project(Viewer)),
    ("POST", "/api/v1/projects", Authenticated),
    ("GET", "/api/v1/projects/templates", Authenticated),
    (
        "POST",
        "/api/v1/projects/from-template/{name}",
        Authenticated,
    ),
    ("GET", "/api/v1/projects/{id}", Project(Viewer)),
    ("PUT", "/api/v1/projects/{id}", Project(Admin)),
    ("DELETE", "/api/v1/projects/{id}", Project(Admin)),
    ("POST", "/api/v1/projects/{id}/restore", Project(Admin)),
    ("GET", "/api/v1/projects/{id}/stats", Project(Viewer)),
    ("GET", "/api/v1/projects/{id}/members", Project(Viewer)),
    (
        "PUT",
        "/api/v1/projects/{id}/members/{user}",
        Project(Admin),
    ),
    (
        "DELETE",
        "/api/v1/projects/{id}/members/{user}",
        Project(Admin),
    ),
    // Experiments.
    ("GET", "/api/v1/experiments", Project(Viewer)),
    ("POST", "/api/v1/experiments", Project(Editor)),
    ("POST", "/api/v1/experiments/compare", Project(Viewer)),
    ("GET", "/api/v1/experiments/templates", Authenticated),
    ("GET", "/api/v1/experiments/{id}", Project(Viewer)),
    ("PUT", "/api/v1/experiments/{id}", Project(Editor)),
    ("DELETE", "/api/v1/experiments/{id}", Project(Admin)),
    ("GET", "/api/v1/experiments/{id}/metrics", Project(Viewer)),
    (
        "POST",
        "/api/v1/experiments/{id}/compare-groups",
        Project(Viewer),
    ),
    ("POST", "/api/v1/experiments/{id}/restore", Project(Admin)),
    ("POST", "/api/v1/experiments/{id}/start", Project(Editor)),
    ("POST", "/api/v1/experiments/{id}/stop", Project(Editor)),
    ("GET", "/api/v1/experiments/{id}/stream", Project(Viewer)),
    // Runs, metrics and artifacts.
    ("GET", "/api/v1/runs", Project(Viewer)),
    ("POST", "/api/v1/runs", Project(Editor)),
    ("GET", "/api/v1/runs/{id}", Project(Viewer)),
    ("PUT", "/api/v1/runs/{id}", Project(Editor)),
    ("DELETE", "/api/v1/runs/{id}", Project(Admin)),
    ("GET", "/api/v1/runs/{id}/artifacts", Project(Viewer)),
    ("POST", "/api/v1/runs/{id}/artifacts", Project(Editor)),
    ("GET", "/api/v1/runs/{id}/artifacts/{path}", Project(Viewer)),
    (
        "DELETE",
        "/api/v1/runs/{id}/artifacts/{path}",
        Project(Editor),
    ),
    ("POST", "/api/v1/runs/{id}/bulk-metrics", Project(Editor)),
    ("POST", "/api/v1/runs/{id}/finish", Project(Editor)),
    ("GET", "/api/v1/runs/{id}/metrics", Project(Viewer)),
    ("POST", "/api/v1/runs/{id}/metrics", Project(Editor)),
    ("POST", "/api/v1/runs/{id}/evaluations", Project(Editor)),
    ("GET", "/api/v1/runs/{id}/safety", Project(Viewer)),
    ("GET", "/api/v1/experiments/{id}/safety", Project(Viewer)),
    ("POST", "/api/v1/runs/{id}/signatures", Project(Editor)),
    ("GET", "/api/v1/runs/{id}/signatures", Project(Viewer)),
    ("GET", "/api/v1/runs/{id}/metrics/{name}", Project(Viewer)),
    ("POST", "/api/v1/runs/{id}/restore", Project(Admin)),
    ("POST", "/api/v1/runs/{id}/start", Project(Editor)),
    ("GET", "/api/v1/runs/{id}/stream", Project(Viewer)),
    // Run logs: appending writes to the run, reading and following read it.
    ("POST", "/api/v1/runs/{id}/logs", Project(Editor)),
    ("GET", "/api/v1/runs/{id}/logs", Project(Viewer)),
    ("GET", "/api/v1/runs/{id}/logs/stream", Project(Viewer)),
    ("GET", "/api/v1/experiments/{id}/logs", Project(Viewer)),
    ("POST", "/api/v1/runs/{id}/uploads", Project(Editor)),
    (
        "GET",
        "/api/v1/runs/{id}/uploads/{upload_id}",
        Project(Editor),
    ),
    (
        "DELETE",
        "/api/v1/runs/{id}/uploads/{upload_id}",
        Project(Editor),
    ),
    (
        "POST",
        "/api/v1/runs/{id}/uploads/{upload_id}/complete",
        Project(Editor),
    ),
    (
        "PUT",
        "/api/v1/runs/{id}/uploads/{upload_id}/parts/{part_number}",
        Project(Editor),
    ),
];

/// MLflow tracking routes, below `/api/2.0/mlflow` and `/ajax-api/2.0/mlflow`. MLflow
/// experiments follow their project's roles (MLflow's own experiments live in `default`).
const MLFLOW_TRACKING: &[(&str, &str, Permission)] = &[
    ("POST", "/experiments/create", Project(Editor)),
    ("GET", "/experiments/get", Project(Viewer)),
    ("GET", "/experiments/get-by-name", Project(Viewer)),
    ("GET", "/experiments/search", Project(Viewer)),
    ("POST", "/experiments/search", Project(Viewer)),
    ("POST", "/experiments/update", Project(Editor)),
    ("POST", "/experiments/search-datasets", Project(Viewer)),
    ("POST", "/experiments/delete", Project(Admin)),
    ("POST", "/experiments/restore", Project(Admin)),
    ("POST", "/experiments/set-experiment-tag", Project(Editor)),
    (
        "POST",
        "/experiments/delete-experiment-tag",
        Project(Editor),
    ),
    ("POST", "/runs/create", Project(Editor)),
    ("GET", "/runs/get", Project(Viewer)),
    ("POST", "/runs/update", Project(Editor)),
    ("POST", "/runs/delete", Project(Admin)),
    ("POST", "/runs/restore", Project(Admin)),
    ("POST", "/runs/search", Project(Viewer)),
    ("POST", "/runs/log-metric", Project(Editor)),
    ("POST", "/runs/log-parameter", Project(Editor)),
    ("POST", "/runs/log-batch", Project(Editor)),
    ("POST", "/runs/log-inputs", Project(Editor)),
    ("POST", "/runs/outputs", Project(Editor)),
    ("POST", "/runs/set-tag", Project(Editor)),
    ("POST", "/runs/delete-tag", Project(Editor)),
    ("GET", "/metrics/get-history", Project(Viewer)),
    ("GET", "/metrics/get-history-bulk", Project(Viewer)),
    ("GET", "/metrics/get-history-bulk-interval", Project(Viewer)),
    ("GET", "/artifacts/list", Project(Viewer)),
    ("POST", "/upload-artifact", Project(Editor)),
    ("POST", "/logged-models", Project(Editor)),
    ("POST", "/logged-models/search", Project(Viewer)),
    ("GET", "/logged-models/{model_id}", Project(Viewer)),
    ("PATCH", "/logged-models/{model_id}", Project(Editor)),
    ("DELETE", "/logged-models/{model_id}", Project(Admin)),
    ("PATCH", "/logged-models/{model_id}/tags", Project(Editor)),
    (
        "DELETE",
        "/logged-models/{model_id}/tags/{key}",
        Project(Editor),
    ),
    ("POST", "/logged-models/{model_id}/params", Project(Editor)),
];

/// The MLflow artifact routes (download route and artifact proxy).
const MLFLOW_ARTIFACTS: &[(&str, &str, Permission)] = &[
    ("GET", "/get-artifact", Project(Viewer)),
    // Which MLflow release's API this is: public, as MLflow's (clients ask before logging in).
    ("GET", "/version", Public),
    (
        "GET",
        "/api/2.0/mlflow-artifacts/artifacts",
        Project(Viewer),
    ),
    (
        "GET",
        "/api/2.0/mlflow-artifacts/artifacts/{path}",
        Project(Viewer),
    ),
    (
        "PUT",
        "/api/2.0/mlflow-artifacts/artifacts/{path}",
        Project(Editor),
    ),
    (
        "DELETE",
        "/api/2.0/mlflow-artifacts/artifacts/{path}",
        Project(Editor),
    ),
    (
        "POST",
        "/api/2.0/mlflow-artifacts/mpu/create/{path}",
        Project(Editor),
    ),
    (
        "POST",
        "/api/2.0/mlflow-artifacts/mpu/complete/{path}",
        Project(Editor),
    ),
    (
        "POST",
        "/api/2.0/mlflow-artifacts/mpu/abort/{path}",
        Project(Editor),
    ),
    (
        "PUT",
        "/api/2.0/mlflow-artifacts/mpu/parts/{upload_id}/{part_number}",
        Project(Editor),
    ),
    (
        "GET",
        "/ajax-api/2.0/mlflow-artifacts/artifacts",
        Project(Viewer),
    ),
    (
        "GET",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/{path}",
        Project(Viewer),
    ),
    (
        "PUT",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/{path}",
        Project(Editor),
    ),
    (
        "DELETE",
        "/ajax-api/2.0/mlflow-artifacts/artifacts/{path}",
        Project(Editor),
    ),
];

const MLFLOW_PREFIXES: [&str; 2] = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"];

/// The permission of a route, by method and matched path template (axum's `{*rest}`
/// wildcards are written `{rest}`, as in OpenAPI); `None`: undeclared, so refused.
pub fn permission(method: &str, template: &str) -> Option<Permission> {
    let template = template.replace("{*", "{");
    let find = |table: &[(&str, &str, Permission)], path: &str| {
        table
            .iter()
            .find(|(m, p, _)| *m == method && *p == path)
            .map(|(_, _, permission)| *permission)
    };
    if let Some(found) = find(NATIVE, &template).or_else(|| find(MLFLOW_ARTIFACTS, &template)) {
        return Some(found);
    }
    MLFLOW_PREFIXES
        .iter()
        .find_map(|prefix| template.strip_prefix(prefix))
        .and_then(|rest| find(MLFLOW_TRACKING, rest))
}

/// Every declared MLflow route as (method, full path template), for tests and docs.
pub fn mlflow_routes() -> Vec<(&'static str, String, Permission)> {
    let tracking = MLFLOW_PREFIXES.iter().flat_map(|prefix| {
        MLFLOW_TRACKING
            .iter()
            .map(move |(m, p, perm)| (*m, format!("{prefix}{p}"), *perm))
    });
    let artifacts = MLFLOW_ARTIFACTS
        .iter()
        .map(|(m, p, perm)| (*m, (*p).to_owned(), *perm));
    tracking.chain(artifacts).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_normalise_wildcards_and_mlflow_prefixes() {
        assert_eq!(
            permission("GET", "/api/v1/runs/{id}/artifacts/{*path}"),
            Some(Project(Viewer))
        );
        assert_eq!(
            permission("POST", "/ajax-api/2.0/mlflow/runs/log-batch"),
            Some(Project(Editor))
        );
        assert_eq!(permission("GET", "/health"), Some(Public));
        assert_eq!(permission("POST", "/health"), None, "undeclared method");
        assert_eq!(permission("GET", "/api/v1/nope"), None);
    }
}
