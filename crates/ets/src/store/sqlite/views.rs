//! Saved charts and dashboards in SQLite (SQL and rows: `store::views`), and the series reads
//! charts stream.

use ets_domain::model::MetricPoint;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::sql::{numbered, to_json};
use crate::error::{Error, Result};
use crate::store::Mutation;
use crate::store::views::{self as q, ViewKind, ViewQuery, ViewRecord};

pub(super) fn insert(conn: &Connection, view: &ViewRecord) -> Result<()> {
    conn.prepare_cached(&numbered(q::INSERT_VIEW))?
        .execute(params![
            view.id,
            view.kind.as_str(),
            view.project_id,
            view.experiment_id,
            view.name,
            view.description,
            to_json(&view.body),
            view.created_by,
            view.created_at,
            view.updated_at,
        ])?;
    write_charts(conn, view)
}

/// Replaces a dashboard's chart list; a chart that does not exist is `NotFound`.
fn write_charts(conn: &Connection, view: &ViewRecord) -> Result<()> {
    if view.kind != ViewKind::Dashboard {
        return Ok(());
    }
    conn.prepare_cached(&numbered(q::DELETE_VIEW_CHARTS))?
        .execute([&view.id])?;
    let mut insert = conn.prepare_cached(&numbered(q::INSERT_VIEW_CHART))?;
    for (position, chart) in view.chart_ids.iter().enumerate() {
        insert
            .execute(params![view.id, position as i64, chart])
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Error::not_found(crate::error::EntityKind::Chart, chart)
                }
                e => e.into(),
            })?;
    }
    Ok(())
}

pub(super) fn get(conn: &Connection, kind: ViewKind, id: &str) -> Result<ViewRecord> {
    let mut view = conn
        .prepare_cached(&numbered(&q::select_view()))?
        .query_row([id, kind.as_str()], |r| q::view_row(r, kind))
        .optional()?
        .ok_or_else(|| Error::not_found(kind.entity(), id))?;
    if kind == ViewKind::Dashboard {
        let mut statement = conn.prepare_cached(&numbered(q::SELECT_VIEW_CHARTS))?;
        view.chart_ids = statement
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(view)
}

pub(super) fn list(conn: &Connection, query: &ViewQuery) -> Result<Vec<ViewRecord>> {
    let (sql, values) = q::list_views(query);
    let mut statement = conn.prepare_cached(&numbered(&sql))?;
    let mut views: Vec<ViewRecord> = statement
        .query_map(params_from_iter(values.iter()), |r| {
            q::view_row(r, query.kind)
        })?
        .collect::<rusqlite::Result<_>>()?;
    if query.kind == ViewKind::Dashboard && !views.is_empty() {
        let ids: Vec<&str> = views.iter().map(|v| v.id.as_str()).collect();
        let mut statement = conn.prepare_cached(&numbered(&q::charts_of_dashboards(ids.len())))?;
        let links = statement
            .query_map(params_from_iter(ids.iter()), |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        q::attach_charts(&mut views, links);
    }
    Ok(views)
}

pub(super) fn update(
    conn: &Connection,
    kind: ViewKind,
    id: &str,
    mutation: Mutation<ViewRecord>,
) -> Result<ViewRecord> {
    let mut view = get(conn, kind, id)?;
    mutation(&mut view)?;
    conn.prepare_cached(&numbered(q::UPDATE_VIEW))?
        .execute(params![
            view.id,
            view.experiment_id,
            view.name,
            view.description,
            to_json(&view.body),
            view.updated_at,
        ])?;
    write_charts(conn, &view)?;
    Ok(view)
}

pub(super) fn delete(conn: &Connection, kind: ViewKind, id: &str) -> Result<()> {
    let deleted = conn
        .prepare_cached(&numbered(q::DELETE_VIEW))?
        .execute([id, kind.as_str()])?;
    if deleted == 0 {
        return Err(Error::not_found(kind.entity(), id));
    }
    Ok(())
}

/// Sends each series whole, one at a time (see `Store::stream_series`).
pub(super) fn stream_series(
    conn: &Connection,
    series: &[(String, String)],
    out: &tokio::sync::mpsc::Sender<(usize, Vec<MetricPoint>)>,
) -> Result<()> {
    let mut find =
        conn.prepare_cached("SELECT id FROM metric_series WHERE run_id = ?1 AND key = ?2")?;
    for (index, (run_id, key)) in series.iter().enumerate() {
        let series_id: Option<i64> = find
            .query_row(params![run_id, key], |r| r.get(0))
            .optional()?;
        let points = match series_id {
            Some(id) => super::metrics::read_points(conn, id, i64::MIN, i64::MAX)?,
            None => Vec::new(),
        };
        if out.blocking_send((index, points)).is_err() {
            break; // the reader stopped listening
        }
    }
    Ok(())
}

pub(super) fn step_bounds(
    conn: &Connection,
    series: &[(String, String)],
) -> Result<Vec<Option<(i64, i64)>>> {
    let mut statement = conn.prepare_cached(
        "SELECT min(c.first_step), max(c.last_step) FROM metric_series s \
         JOIN metric_chunks c ON c.series_id = s.id WHERE s.run_id = ?1 AND s.key = ?2",
    )?;
    series
        .iter()
        .map(|(run_id, key)| {
            let (low, high): (Option<i64>, Option<i64>) =
                statement.query_row(params![run_id, key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(low.zip(high))
        })
        .collect()
}
