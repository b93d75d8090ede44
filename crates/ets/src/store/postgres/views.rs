//! Saved charts and dashboards in PostgreSQL (SQL and rows: `store::views`), and the series
//! reads charts stream.

use ets_domain::model::MetricPoint;
use futures_util::{TryStreamExt, pin_mut};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};

use super::{PgStore, Tx};
use crate::error::{EntityKind, Error, Result};

use crate::store::views::{self as q, ViewKind, ViewQuery, ViewRecord};
use crate::store::{Mutation, ingest};

/// Replaces a dashboard's chart list; a chart that does not exist is `NotFound`.
async fn write_charts(tx: &Tx<'_>, view: &ViewRecord) -> Result<()> {
    if view.kind != ViewKind::Dashboard {
        return Ok(());
    }
    let delete = tx.prepare_cached(q::DELETE_VIEW_CHARTS).await?;
    tx.execute(&delete, &[&view.id]).await?;
    let insert = tx.prepare_cached(q::INSERT_VIEW_CHART).await?;
    for (position, chart) in view.chart_ids.iter().enumerate() {
        tx.execute(&insert, &[&view.id, &(position as i64), chart])
            .await
            .map_err(|e| {
                if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
                    Error::not_found(EntityKind::Chart, chart)
                } else {
                    e.into()
                }
            })?;
    }
    Ok(())
}

async fn get(tx: &Tx<'_>, kind: ViewKind, id: &str, lock: &str) -> Result<ViewRecord> {
    let statement = tx
        .prepare_cached(&format!("{} {lock}", q::select_view()))
        .await?;
    let row = tx
        .query_opt(&statement, &[&id, &kind.as_str()])
        .await?
        .ok_or_else(|| Error::not_found(kind.entity(), id))?;
    let mut view = q::view_row(&row, kind)?;
    if kind == ViewKind::Dashboard {
        let statement = tx.prepare_cached(q::SELECT_VIEW_CHARTS).await?;
        view.chart_ids = tx
            .query(&statement, &[&id])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
    }
    Ok(view)
}

impl PgStore {
    pub(super) async fn create_view(&self, view: ViewRecord) -> Result<ViewRecord> {
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::INSERT_VIEW).await?;
                tx.execute(
                    &statement,
                    &[
                        &view.id,
                        &view.kind.as_str(),
                        &view.project_id,
                        &view.experiment_id,
                        &view.name,
                        &view.description,
                        &Json(&view.body),
                        &view.created_by,
                        &view.created_at,
                        &view.updated_at,
                    ],
                )
                .await?;
                write_charts(tx, &view).await?;
                Ok(view)
            })
        })
        .await
    }

    pub(super) async fn get_view(&self, kind: ViewKind, id: &str) -> Result<ViewRecord> {
        let id = id.to_owned();
        self.read(move |tx| Box::pin(async move { get(tx, kind, &id, "").await }))
            .await
    }

    pub(super) async fn list_views(&self, query: ViewQuery) -> Result<Vec<ViewRecord>> {
        self.read(move |tx| {
            Box::pin(async move {
                let (sql, values) = q::list_views(&query);
                let statement = tx.prepare_cached(&sql).await?;
                let params: Vec<&(dyn ToSql + Sync)> =
                    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                let mut views = tx
                    .query(&statement, &params)
                    .await?
                    .iter()
                    .map(|r| q::view_row(r, query.kind))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                if query.kind == ViewKind::Dashboard && !views.is_empty() {
                    let statement = tx
                        .prepare_cached(&q::charts_of_dashboards(views.len()))
                        .await?;
                    let ids: Vec<&(dyn ToSql + Sync)> =
                        views.iter().map(|v| &v.id as &(dyn ToSql + Sync)).collect();
                    let links = tx
                        .query(&statement, &ids)
                        .await?
                        .iter()
                        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                        .collect::<std::result::Result<_, tokio_postgres::Error>>()?;
                    q::attach_charts(&mut views, links);
                }
                Ok(views)
            })
        })
        .await
    }

    pub(super) async fn update_view(
        &self,
        kind: ViewKind,
        id: &str,
        mutation: Mutation<ViewRecord>,
    ) -> Result<ViewRecord> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let mut view = get(tx, kind, &id, "FOR UPDATE").await?;
                mutation(&mut view)?;
                let statement = tx.prepare_cached(q::UPDATE_VIEW).await?;
                tx.execute(
                    &statement,
                    &[
                        &view.id,
                        &view.experiment_id,
                        &view.name,
                        &view.description,
                        &Json(&view.body),
                        &view.updated_at,
                    ],
                )
                .await?;
                write_charts(tx, &view).await?;
                Ok(view)
            })
        })
        .await
    }

    pub(super) async fn delete_view(&self, kind: ViewKind, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::DELETE_VIEW).await?;
                if tx.execute(&statement, &[&id, &kind.as_str()]).await? == 0 {
                    return Err(Error::not_found(kind.entity(), &id));
                }
                Ok(())
            })
        })
        .await
    }

    /// One query for every series; rows arrive grouped by series, each sent when complete.
    pub(super) async fn stream_series(
        &self,
        series: Vec<(String, String)>,
        out: tokio::sync::mpsc::Sender<(usize, Vec<MetricPoint>)>,
    ) -> Result<()> {
        self.read(move |tx| {
            Box::pin(async move {
                let runs: Vec<&str> = series.iter().map(|(r, _)| r.as_str()).collect();
                let keys: Vec<&str> = series.iter().map(|(_, k)| k.as_str()).collect();
                // `ord` numbers the requested pairs, so rows come back in request order.
                let statement = tx
                    .prepare_cached(
                        "SELECT w.ord, c.data, c.point_count, c.encoding FROM unnest($1::text[], $2::text[]) WITH ORDINALITY \
                         AS w (run_id, key, ord) \
                         JOIN metric_series s ON s.run_id = w.run_id AND s.key = w.key \
                         JOIN metric_chunks c ON c.series_id = s.id \
                         ORDER BY w.ord, c.first_step, c.id",
                    )
                    .await?;
                let params: [&(dyn ToSql + Sync); 2] = [&runs, &keys];
                let rows = tx.query_raw(&statement, params).await?;
                pin_mut!(rows);
                let mut next = 0usize;
                let mut current: Option<(usize, Vec<MetricPoint>)> = None;
                let send = |index: usize, mut points: Vec<MetricPoint>| {
                    ingest::finish_read(&mut points, i64::MIN, i64::MAX);
                    out.send((index, points))
                };
                while let Some(row) = rows.try_next().await? {
                    let index = usize::try_from(row.get::<_, i64>(0) - 1).unwrap_or(0);
                    if current.as_ref().map(|(i, _)| *i) != Some(index) {
                        if let Some((i, points)) = current.take() {
                            if send(i, points).await.is_err() {
                                return Ok(());
                            }
                            next = i + 1;
                        }
                        // Requested series without points are sent empty, in order.
                        while next < index {
                            if out.send((next, Vec::new())).await.is_err() {
                                return Ok(());
                            }
                            next += 1;
                        }
                        current = Some((index, Vec::new()));
                    }
                    if let Some((_, points)) = current.as_mut() {
                        super::metrics::stored_chunk(&row, [1, 2, 3])
                            .and_then(|chunk| chunk.decode_into(points))
                            .ok_or_else(|| {
                            Error::internal(format!("a metric chunk of series {index} is corrupt"))
                        })?;
                    }
                }
                if let Some((i, points)) = current.take() {
                    if send(i, points).await.is_err() {
                        return Ok(());
                    }
                    next = i + 1;
                }
                for index in next..series.len() {
                    if out.send((index, Vec::new())).await.is_err() {
                        break;
                    }
                }
                Ok(())
            })
        })
        .await
    }

    pub(super) async fn series_step_bounds(
        &self,
        series: Vec<(String, String)>,
    ) -> Result<Vec<Option<(i64, i64)>>> {
        self.read(move |tx| {
            Box::pin(async move {
                let runs: Vec<&str> = series.iter().map(|(r, _)| r.as_str()).collect();
                let keys: Vec<&str> = series.iter().map(|(_, k)| k.as_str()).collect();
                let statement = tx
                    .prepare_cached(
                        "SELECT w.ord, min(c.first_step), max(c.last_step) \
                         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w (run_id, key, ord) \
                         JOIN metric_series s ON s.run_id = w.run_id AND s.key = w.key \
                         JOIN metric_chunks c ON c.series_id = s.id GROUP BY w.ord",
                    )
                    .await?;
                let mut bounds = vec![None; series.len()];
                for row in tx.query(&statement, &[&runs, &keys]).await? {
                    let index = usize::try_from(row.try_get::<_, i64>(0)? - 1).unwrap_or(0);
                    if let Some(slot) = bounds.get_mut(index) {
                        *slot = Some((row.try_get(1)?, row.try_get(2)?));
                    }
                }
                Ok(bounds)
            })
        })
        .await
    }
}
