//! Rows of the saved views (charts and dashboards, migration 9) and the SQL both backends run
//! on them, written once (`$n` placeholders; SQLite converts them).

use super::rows::RowRead;
use super::statements::{TextQuery, placeholders};

/// What a view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Chart,
    Dashboard,
}

impl ViewKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewKind::Chart => "chart",
            ViewKind::Dashboard => "dashboard",
        }
    }

    pub fn entity(self) -> crate::error::EntityKind {
        match self {
            ViewKind::Chart => crate::error::EntityKind::Chart,
            ViewKind::Dashboard => crate::error::EntityKind::Dashboard,
        }
    }
}

/// A chart or dashboard as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewRecord {
    pub id: String,
    pub kind: ViewKind,
    pub project_id: String,
    pub experiment_id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    /// Kind-specific content (JSON): a chart's spec and run selection, a dashboard's layout.
    pub body: serde_json::Value,
    /// A dashboard's charts, in order (empty for a chart).
    pub chart_ids: Vec<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which views a list returns: those of the given kind in the given projects (all projects
/// when `None`), optionally of one experiment, oldest first, after a (created_at, id) key.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewQuery {
    pub kind: ViewKind,
    pub project_ids: Option<Vec<String>>,
    pub experiment_id: Option<String>,
    /// Only these views (e.g. a page of dashboards' charts, read at once).
    pub ids: Option<Vec<String>>,
    pub after: Option<(i64, String)>,
    pub limit: u32,
}

pub(crate) const VIEW_COLUMNS: &str = "v.id, v.project_id, v.experiment_id, v.name, v.description, \
     v.body, v.created_by, v.created_at, v.updated_at";

pub(crate) const INSERT_VIEW: &str = "INSERT INTO views (id, kind, project_id, experiment_id, name, \
     description, body, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub(crate) const UPDATE_VIEW: &str = "UPDATE views SET experiment_id = $2, name = $3, description = $4, \
     body = $5, updated_at = $6 WHERE id = $1";
pub(crate) const DELETE_VIEW: &str = "DELETE FROM views WHERE id = $1 AND kind = $2";
pub(crate) const DELETE_VIEW_CHARTS: &str = "DELETE FROM view_charts WHERE dashboard_id = $1";
pub(crate) const INSERT_VIEW_CHART: &str =
    "INSERT INTO view_charts (dashboard_id, position, chart_id) VALUES ($1, $2, $3)";
pub(crate) const SELECT_VIEW_CHARTS: &str =
    "SELECT chart_id FROM view_charts WHERE dashboard_id = $1 ORDER BY position";

/// One view by id and kind.
pub(crate) fn select_view() -> String {
    format!("SELECT {VIEW_COLUMNS} FROM views v WHERE v.id = $1 AND v.kind = $2")
}

/// A view row in [`VIEW_COLUMNS`] order (without its charts, read separately).
pub(crate) fn view_row<R: RowRead>(row: &R, kind: ViewKind) -> Result<ViewRecord, R::Error> {
    Ok(ViewRecord {
        id: row.text(0)?,
        kind,
        project_id: row.text(1)?,
        experiment_id: row.opt_text(2)?,
        name: row.text(3)?,
        description: row.opt_text(4)?,
        body: row.json(5)?,
        chart_ids: Vec::new(),
        created_by: row.opt_text(6)?,
        created_at: row.int(7)?,
        updated_at: row.int(8)?,
    })
}

/// The list query of `query` and its bound values in order (`$n` placeholders); the project
/// ids, when given, are bound one by one.
pub(crate) fn list_views(query: &ViewQuery) -> (String, Vec<String>) {
    let mut q = TextQuery::new(format!(
        "SELECT {VIEW_COLUMNS} FROM views v WHERE v.kind = "
    ));
    q.bind(query.kind.as_str());
    if let Some(projects) = &query.project_ids {
        q.and_in("v.project_id", projects);
    }
    if let Some(experiment) = &query.experiment_id {
        q.and_equal("v.experiment_id", experiment);
    }
    if let Some(ids) = &query.ids {
        q.and_in("v.id", ids);
    }
    if let Some((created_at, id)) = &query.after {
        // Integers are rendered, not bound, so one list of text values serves both backends.
        q.push(&format!(
            " AND (v.created_at > {created_at} OR (v.created_at = {created_at} AND v.id > "
        ));
        q.bind(id);
        q.push("))");
    }
    q.push(&format!(
        " ORDER BY v.created_at, v.id LIMIT {}",
        query.limit
    ));
    q.finish()
}

/// The charts of `n` dashboards (bound as `$1..$n`), as (dashboard id, chart id) in order.
pub(crate) fn charts_of_dashboards(n: usize) -> String {
    format!(
        "SELECT dashboard_id, chart_id FROM view_charts WHERE dashboard_id IN ({}) \
         ORDER BY dashboard_id, position",
        placeholders(1, n)
    )
}

/// Puts each dashboard's charts (rows of [`charts_of_dashboards`]) into its record.
pub(crate) fn attach_charts(views: &mut [ViewRecord], links: Vec<(String, String)>) {
    let mut by_dashboard: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (dashboard, chart) in links {
        by_dashboard.entry(dashboard).or_default().push(chart);
    }
    for view in views {
        view.chart_ids = by_dashboard.remove(&view.id).unwrap_or_default();
    }
}
