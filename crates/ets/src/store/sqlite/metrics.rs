//! Metric points in SQLite: the ingest hot path and series reads.

use std::collections::HashMap;

use ets_domain::Timestamp;
use ets_domain::downsample::MinMaxDownsampler;
use ets_domain::model::{MetricPoint, MetricSeries, MetricSummary, NewMetricPoint};
use rusqlite::{Connection, OptionalExtension, params};

use super::sql::{Sql, value_from_sql, value_to_sql};
use crate::error::{Error, Result};
use crate::store::{SeriesRequest, StoreLimits};

/// What one batch adds to a series, folded in Rust so the series row is updated once per
/// batch rather than once per point.
struct SeriesDelta {
    series_id: i64,
    written: i64,
    min: Option<f64>,
    max: Option<f64>,
    /// (step, timestamp, value) of the latest written point.
    latest: Option<(i64, i64, f64)>,
}

impl SeriesDelta {
    fn add(&mut self, step: i64, timestamp: i64, value: f64) {
        self.written += 1;
        if !value.is_nan() {
            self.min = Some(self.min.map_or(value, |m| m.min(value)));
            self.max = Some(self.max.map_or(value, |m| m.max(value)));
        }
        if self
            .latest
            .is_none_or(|(s, t, _)| (step, timestamp) > (s, t))
        {
            self.latest = Some((step, timestamp, value));
        }
    }
}

/// Appends `points` to the run's series; returns (written, duplicates skipped).
pub(super) fn log(
    conn: &Connection,
    run_id: &str,
    points: &[NewMetricPoint],
    limits: &StoreLimits,
) -> Result<(usize, usize)> {
    super::runs::ensure_active(conn, run_id)?;
    let mut series: HashMap<&str, SeriesDelta> = HashMap::new();
    let mut missing: Vec<&str> = Vec::new();
    {
        let mut lookup =
            conn.prepare_cached("SELECT id FROM metric_series WHERE run_id = ?1 AND key = ?2")?;
        for point in points {
            if series.contains_key(point.key.as_str()) || missing.contains(&point.key.as_str()) {
                continue;
            }
            match lookup
                .query_row(params![run_id, point.key], |r| r.get::<_, i64>(0))
                .optional()?
            {
                Some(series_id) => {
                    series.insert(
                        &point.key,
                        SeriesDelta {
                            series_id,
                            written: 0,
                            min: None,
                            max: None,
                            latest: None,
                        },
                    );
                }
                None => missing.push(&point.key),
            }
        }
    }
    if !missing.is_empty() {
        let existing: i64 = conn
            .prepare_cached("SELECT count(*) FROM metric_series WHERE run_id = ?1")?
            .query_row([run_id], |r| r.get(0))?;
        let total = existing as u64 + missing.len() as u64;
        if total > limits.max_metric_keys_per_run {
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
        for key in missing {
            create.execute(params![run_id, key])?;
            let series_id = conn.last_insert_rowid();
            series.insert(
                key,
                SeriesDelta {
                    series_id,
                    written: 0,
                    min: None,
                    max: None,
                    latest: None,
                },
            );
        }
    }

    let mut duplicates = 0usize;
    {
        let mut insert = conn.prepare_cached(
            "INSERT OR IGNORE INTO metric_points (series_id, step, timestamp, value) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for point in points {
            let delta = series
                .get_mut(point.key.as_str())
                .expect("every key has a series");
            let inserted = insert.execute(params![
                delta.series_id,
                point.step,
                point.timestamp,
                value_to_sql(point.value)
            ])?;
            if inserted == 1 {
                delta.add(point.step, point.timestamp, point.value);
            } else {
                duplicates += 1;
            }
        }
    }

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
    let mut written = 0usize;
    for delta in series.values() {
        let Some((step, timestamp, value)) = delta.latest else {
            continue;
        };
        written += delta.written as usize;
        update.execute(params![
            delta.series_id,
            delta.written,
            delta.min,
            delta.max,
            step,
            timestamp,
            value_to_sql(value)
        ])?;
    }
    if written > 0 {
        super::runs::touch(conn, run_id, Timestamp::now())?;
    }
    Ok((written, duplicates))
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

/// Reads a series (or a step range of it), downsampled on the fly when asked.
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
    let (total, first_step, last_step): (i64, Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT count(*), min(step), max(step) FROM metric_points WHERE series_id = ?1 AND step BETWEEN ?2 AND ?3",
        )?
        .query_row(params![series_id, low, high], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;

    let mut statement = conn.prepare_cached(
        "SELECT step, timestamp, value FROM metric_points WHERE series_id = ?1 AND step BETWEEN ?2 AND ?3 \
         ORDER BY step, timestamp",
    )?;
    let mut rows = statement.query(params![series_id, low, high])?;
    let mut next_point = || -> Result<Option<MetricPoint>> {
        Ok(rows
            .next()?
            .map(|r| -> rusqlite::Result<MetricPoint> {
                Ok(MetricPoint {
                    step: r.get(0)?,
                    timestamp: r.get(1)?,
                    value: value_from_sql(r.get(2)?),
                })
            })
            .transpose()?)
    };
    let downsample_to = request.max_points.filter(|&max| (total as usize) > max);
    let points = match (downsample_to, first_step, last_step) {
        (Some(max_points), Some(first), Some(last)) => {
            let mut sampler = MinMaxDownsampler::new(first, last, max_points);
            while let Some(point) = next_point()? {
                sampler.push(point);
            }
            sampler.finish()
        }
        _ => {
            let mut points = Vec::with_capacity(total as usize);
            while let Some(point) = next_point()? {
                points.push(point);
            }
            points
        }
    };
    Ok(MetricSeries {
        key: key.to_owned(),
        points,
        total_points: total,
        downsampled: downsample_to.is_some(),
    })
}

/// Removes the points of the given runs' series (points carry no foreign key; see schema).
pub(super) fn delete_points_of_runs(conn: &Connection, run_ids: &[String]) -> Result<()> {
    let mut statement = conn.prepare_cached(
        "DELETE FROM metric_points WHERE series_id IN (SELECT id FROM metric_series WHERE run_id = ?1)",
    )?;
    for run_id in run_ids {
        statement.execute([run_id])?;
    }
    Ok(())
}
