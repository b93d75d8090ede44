//! Metric points in SQLite: the ingest hot path and series reads, over chunked storage
//! (`metric_chunks`, see `chunks.rs`).

use std::collections::{HashMap, HashSet};

use ets_domain::Timestamp;
use ets_domain::downsample::MinMaxDownsampler;
use ets_domain::model::{MetricPoint, MetricSeries, MetricSummary, SeriesPoints};
use rusqlite::{Connection, OptionalExtension, params};

use super::sql::{Sql, value_from_sql, value_to_sql};
use crate::error::{Error, Result};
use crate::store::chunks::{self, MAX_CHUNK_POINTS};
use crate::store::{SeriesRequest, StoreLimits};

/// The points one batch brings to one series.
struct SeriesBatch {
    series_id: i64,
    /// Highest step stored before this batch (`None` for a new or empty series): a batch whose
    /// steps all lie above it cannot repeat a stored point, which spares the duplicate check.
    stored_max_step: Option<i64>,
    points: Vec<MetricPoint>,
}

/// Appends `points` to the run's series; returns (written, duplicates skipped). A point equal
/// in key, step and timestamp to a stored one (or to an earlier one of the same batch) is a
/// duplicate: retried batches do not double-count.
pub(super) fn log(
    conn: &Connection,
    run_id: &str,
    series: Vec<SeriesPoints>,
    limits: &StoreLimits,
) -> Result<(usize, usize)> {
    super::runs::ensure_active(conn, run_id)?;
    let mut batches = resolve_series(conn, run_id, series, limits)?;

    let mut insert = conn.prepare_cached(
        "INSERT INTO metric_chunks (series_id, first_step, last_step, point_count, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut update = conn.prepare_cached(
        "UPDATE metric_series SET \
           point_count = point_count + ?2, \
           min_value = CASE WHEN ?3 IS NULL THEN min_value WHEN min_value IS NULL THEN ?3 ELSE min(min_value, ?3) END, \
           max_value = CASE WHEN ?4 IS NULL THEN max_value WHEN max_value IS NULL THEN ?4 ELSE max(max_value, ?4) END, \
           last_value = CASE WHEN last_step IS NULL OR (?5, ?6) > (last_step, last_timestamp) THEN ?7 ELSE last_value END, \
           last_timestamp = CASE WHEN last_step IS NULL OR (?5, ?6) > (last_step, last_timestamp) THEN ?6 ELSE last_timestamp END, \
           last_step = CASE WHEN last_step IS NULL OR (?5, ?6) > (last_step, last_timestamp) THEN ?5 ELSE last_step END \
         WHERE id = ?1",
    )?;
    let (mut written, mut duplicates) = (0usize, 0usize);
    for batch in batches.values_mut() {
        let before = batch.points.len();
        batch.points.sort_by_key(|p| (p.step, p.timestamp));
        // First of equal (step, timestamp) wins within the batch.
        batch.points.dedup_by(|later, earlier| {
            (later.step, later.timestamp) == (earlier.step, earlier.timestamp)
        });
        let first_new_step = batch.points.first().map(|p| p.step);
        if batch
            .stored_max_step
            .is_some_and(|max| first_new_step.is_some_and(|first| first <= max))
        {
            drop_stored(conn, batch)?;
        }
        duplicates += before - batch.points.len();
        let Some(latest) = batch.points.last().copied() else {
            continue;
        };
        for chunk in batch.points.chunks(MAX_CHUNK_POINTS) {
            insert.execute(params![
                batch.series_id,
                chunk[0].step,
                chunk[chunk.len() - 1].step,
                chunk.len() as i64,
                chunks::encode(chunk)
            ])?;
        }
        let finite = batch.points.iter().map(|p| p.value).filter(|v| !v.is_nan());
        let (min, max) = finite.fold((None::<f64>, None::<f64>), |(lo, hi), v| {
            (
                Some(lo.map_or(v, |m| m.min(v))),
                Some(hi.map_or(v, |m| m.max(v))),
            )
        });
        update.execute(params![
            batch.series_id,
            batch.points.len() as i64,
            min,
            max,
            latest.step,
            latest.timestamp,
            value_to_sql(latest.value)
        ])?;
        written += batch.points.len();
    }
    if written > 0 {
        super::runs::touch(conn, run_id, Timestamp::now())?;
    }
    Ok((written, duplicates))
}

/// Finds (or creates, within the per-run key limit) the series of each key; merges groups that
/// name the same key.
fn resolve_series(
    conn: &Connection,
    run_id: &str,
    series: Vec<SeriesPoints>,
    limits: &StoreLimits,
) -> Result<HashMap<String, SeriesBatch>> {
    let mut batches: HashMap<String, SeriesBatch> = HashMap::with_capacity(series.len());
    let mut missing: Vec<SeriesPoints> = Vec::new();
    let mut lookup = conn
        .prepare_cached("SELECT id, last_step FROM metric_series WHERE run_id = ?1 AND key = ?2")?;
    for group in series {
        if let Some(batch) = batches.get_mut(&group.key) {
            batch.points.extend(group.points);
            continue;
        }
        if let Some(pending) = missing.iter_mut().find(|m| m.key == group.key) {
            pending.points.extend(group.points);
            continue;
        }
        match lookup
            .query_row(params![run_id, group.key], |r| {
                Ok((r.get::<_, i64>(0)?, r.get(1)?))
            })
            .optional()?
        {
            Some((series_id, stored_max_step)) => {
                batches.insert(
                    group.key,
                    SeriesBatch {
                        series_id,
                        stored_max_step,
                        points: group.points,
                    },
                );
            }
            None => missing.push(group),
        }
    }
    if !missing.is_empty() {
        let existing: i64 = conn
            .prepare_cached("SELECT count(*) FROM metric_series WHERE run_id = ?1")?
            .query_row([run_id], |r| r.get(0))?;
        if existing as u64 + missing.len() as u64 > limits.max_metric_keys_per_run {
            return Err(Error::LimitExceeded {
                message: format!(
                    "run '{run_id}' has {existing} metric keys and this request adds {} more",
                    missing.len()
                ),
                setting: "limits.max_metric_keys_per_run",
                limit: limits.max_metric_keys_per_run,
            });
        }
        let mut create =
            conn.prepare_cached("INSERT INTO metric_series (run_id, key) VALUES (?1, ?2)")?;
        for group in missing {
            create.execute(params![run_id, group.key])?;
            let batch = SeriesBatch {
                series_id: conn.last_insert_rowid(),
                stored_max_step: None,
                points: group.points,
            };
            batches.insert(group.key, batch);
        }
    }
    Ok(batches)
}

/// Removes from a (sorted) batch the points already stored: reads only the chunks whose step
/// range overlaps the batch.
fn drop_stored(conn: &Connection, batch: &mut SeriesBatch) -> Result<()> {
    let (Some(first), Some(last)) = (batch.points.first(), batch.points.last()) else {
        return Ok(());
    };
    let stored = read_points(conn, batch.series_id, first.step, last.step)?;
    let keys: HashSet<(i64, i64)> = stored.iter().map(|p| (p.step, p.timestamp)).collect();
    batch
        .points
        .retain(|p| !keys.contains(&(p.step, p.timestamp)));
    Ok(())
}

/// Every point of a series with `low <= step <= high`, in (step, timestamp) order.
fn read_points(conn: &Connection, series_id: i64, low: i64, high: i64) -> Result<Vec<MetricPoint>> {
    let mut statement = conn.prepare_cached(
        "SELECT data FROM metric_chunks WHERE series_id = ?1 AND first_step <= ?3 AND last_step >= ?2 \
         ORDER BY first_step, id",
    )?;
    let mut rows = statement.query(params![series_id, low, high])?;
    let mut points = Vec::new();
    let mut in_order = true;
    while let Some(row) = rows.next()? {
        let start = points.len();
        let data = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        chunks::decode_into(data, &mut points).ok_or_else(|| {
            Error::internal(format!("metric chunk of series {series_id} is corrupt"))
        })?;
        // Chunks logged out of order overlap; then the whole read is sorted once at the end.
        if start > 0 && in_order {
            in_order = (points[start - 1].step, points[start - 1].timestamp)
                <= (points[start].step, points[start].timestamp);
        }
    }
    points.retain(|p| (low..=high).contains(&p.step));
    if !in_order {
        points.sort_by_key(|p| (p.step, p.timestamp));
    }
    Ok(points)
}

/// Summaries of every metric key of the given runs, as (run id, summary), ordered by key.
pub(super) fn summaries_of_runs(
    conn: &Connection,
    run_ids: &[String],
) -> Result<Vec<(String, MetricSummary)>> {
    let mut sql = Sql::new(
        "SELECT run_id, key, last_value, last_step, last_timestamp, min_value, max_value, point_count \
         FROM metric_series WHERE point_count > 0 AND run_id IN ",
    );
    sql.bind_list(run_ids).push(" ORDER BY key");
    Ok(sql.query(conn, |r| {
        Ok((
            r.get(0)?,
            MetricSummary {
                key: r.get(1)?,
                last_value: value_from_sql(r.get(2)?),
                last_step: r.get(3)?,
                last_timestamp: r.get(4)?,
                min: r.get(5)?,
                max: r.get(6)?,
                count: r.get(7)?,
            },
        ))
    })?)
}

pub(super) fn summaries(conn: &Connection, run_id: &str) -> Result<Vec<MetricSummary>> {
    ensure_run(conn, run_id)?;
    Ok(summaries_of_runs(conn, &[run_id.to_owned()])?
        .into_iter()
        .map(|(_, s)| s)
        .collect())
}

fn ensure_run(conn: &Connection, run_id: &str) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .query_row([run_id], |_| Ok(()))
        .optional()?
        .ok_or_else(|| Error::not_found("run", run_id))
}

/// Reads a series (or a step range of it), downsampled when asked.
pub(super) fn series(
    conn: &Connection,
    run_id: &str,
    key: &str,
    request: &SeriesRequest,
) -> Result<MetricSeries> {
    ensure_run(conn, run_id)?;
    let series_id: i64 = conn
        .prepare_cached("SELECT id FROM metric_series WHERE run_id = ?1 AND key = ?2")?
        .query_row(params![run_id, key], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::NotFound {
            entity: "metric",
            id: format!("{key}' of run '{run_id}"),
        })?;
    let low = request.start_step.unwrap_or(i64::MIN);
    let high = request.end_step.unwrap_or(i64::MAX);
    let points = read_points(conn, series_id, low, high)?;
    let total = points.len() as i64;
    let points = match (request.max_points, points.first(), points.last()) {
        (Some(max_points), Some(first), Some(last)) if points.len() > max_points => {
            let mut sampler = MinMaxDownsampler::new(first.step, last.step, max_points);
            points.iter().for_each(|p| sampler.push(*p));
            let sampled = sampler.finish();
            return Ok(MetricSeries {
                key: key.to_owned(),
                points: sampled,
                total_points: total,
                downsampled: true,
            });
        }
        _ => points,
    };
    Ok(MetricSeries {
        key: key.to_owned(),
        points,
        total_points: total,
        downsampled: false,
    })
}

/// Removes the points of the given runs' series (chunks carry no foreign key; see schema).
pub(super) fn delete_points_of_runs(conn: &Connection, run_ids: &[String]) -> Result<()> {
    let mut statement = conn.prepare_cached(
        "DELETE FROM metric_chunks WHERE series_id IN (SELECT id FROM metric_series WHERE run_id = ?1)",
    )?;
    for run_id in run_ids {
        statement.execute([run_id])?;
    }
    Ok(())
}
