//! Metric points in SQLite: the ingest hot path and series reads, over chunked storage
//! (`metric_chunks`, see `chunks.rs`).

use ets_domain::Timestamp;
use ets_domain::model::{MetricPoint, MetricSeries, MetricSummary, SeriesPoints};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::sql::{value_from_sql, value_to_sql};
use crate::error::{EntityKind, Error, Result};
use crate::store::chunks::StoredChunk;
use crate::store::ingest::{
    self, ChunkExtent, ChunkInfo, ChunkRow, DownsampledRead, SeriesAggregates, SeriesBatch,
    TailChunk,
};
use crate::store::{SeriesRequest, StoreLimits};
use crate::store::{chunks, run_details};

/// Appends `points` to the run's series; returns (written, duplicates skipped). The rules
/// (identity of a point, order, aggregates, key limit) are `store::ingest`'s.
pub(super) fn log(
    conn: &Connection,
    run_id: &str,
    series: Vec<SeriesPoints>,
    limits: &StoreLimits,
) -> Result<(usize, usize)> {
    super::runs::ensure_active(conn, run_id)?;
    let mut batches = resolve_series(conn, run_id, ingest::merge_groups(series), limits)?;
    let mut duplicates = ingest::prepare(&mut batches);

    let mut insert = conn.prepare_cached(
        "INSERT INTO metric_chunks (series_id, first_step, last_step, point_count, data, summary, encoding) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut rewrite = conn.prepare_cached(
        "UPDATE metric_chunks SET last_step = ?2, point_count = ?3, data = ?4, summary = ?5, encoding = ?6 \
         WHERE id = ?1",
    )?;
    let mut update = conn.prepare_cached(
        "UPDATE metric_series SET point_count = ?2, min_value = ?3, max_value = ?4, \
           last_step = ?5, last_timestamp = ?6, last_value = ?7 WHERE id = ?1",
    )?;
    let encoding = ChunkRow::ENCODING.column();
    for batch in &mut batches {
        if let Some((low, high)) = batch.stored_range() {
            let stored = read_points(conn, batch.series_id, low, high)?;
            duplicates += batch.drop_stored(&stored);
        }
        if batch.points.is_empty() {
            continue;
        }
        if batch.may_append_to_tail() {
            batch.tail = read_tail(
                conn,
                batch.series_id,
                ingest::SQLITE_TAIL_REWRITES.max_points,
            )?;
        }
        let mut closed_a_chunk = false;
        for row in batch.chunk_rows(ingest::SQLITE_TAIL_REWRITES)? {
            closed_a_chunk |= row.replaces.is_none() && batch.stored.count > 0;
            match row.replaces {
                Some(id) => rewrite.execute(params![
                    id,
                    row.last_step,
                    row.point_count as i64,
                    row.data,
                    row.summary,
                    encoding
                ])?,
                None => insert.execute(params![
                    batch.series_id,
                    row.first_step,
                    row.last_step,
                    row.point_count as i64,
                    row.data,
                    row.summary,
                    encoding
                ])?,
            };
        }
        if closed_a_chunk {
            merge_closed_chunks(conn, batch.series_id)?;
        }
        let aggregates = batch.aggregates();
        let Some(latest) = aggregates.latest else {
            continue;
        };
        update.execute(params![
            batch.series_id,
            aggregates.count,
            aggregates.min,
            aggregates.max,
            latest.step,
            latest.timestamp,
            value_to_sql(latest.value)
        ])?;
    }
    let written = ingest::written(&batches);
    if written > 0 {
        super::runs::touch(conn, run_id, Timestamp::now())?;
    }
    Ok((written, duplicates))
}

/// A series row's aggregates (`point_count, min_value, max_value, last_step, last_timestamp,
/// last_value` from column `at` on).
fn aggregates_at(r: &Row<'_>, at: usize) -> rusqlite::Result<SeriesAggregates> {
    let last_step: Option<i64> = r.get(at + 3)?;
    Ok(SeriesAggregates {
        count: r.get(at)?,
        min: r.get(at + 1)?,
        max: r.get(at + 2)?,
        latest: match last_step {
            Some(step) => Some(MetricPoint {
                step,
                timestamp: r.get(at + 4)?,
                value: value_from_sql(r.get(at + 5)?),
            }),
            None => None,
        },
    })
}

/// Finds (or creates, within the per-run key limit) the series of each key.
fn resolve_series(
    conn: &Connection,
    run_id: &str,
    groups: Vec<SeriesPoints>,
    limits: &StoreLimits,
) -> Result<Vec<SeriesBatch>> {
    let mut batches = Vec::with_capacity(groups.len());
    let mut missing: Vec<SeriesPoints> = Vec::new();
    let mut lookup = conn.prepare_cached(
        "SELECT id, point_count, min_value, max_value, last_step, last_timestamp, last_value \
         FROM metric_series WHERE run_id = ?1 AND key = ?2",
    )?;
    for group in groups {
        match lookup
            .query_row(params![run_id, group.key], |r| {
                Ok((r.get::<_, i64>(0)?, aggregates_at(r, 1)?))
            })
            .optional()?
        {
            Some((series_id, stored)) => batches.push(SeriesBatch {
                series_id,
                stored,
                points: group.points,
                tail: None,
            }),
            None => missing.push(group),
        }
    }
    if !missing.is_empty() {
        let existing: i64 = conn
            .prepare_cached("SELECT count(*) FROM metric_series WHERE run_id = ?1")?
            .query_row([run_id], |r| r.get(0))?;
        ingest::check_key_limit(run_id, existing as u64, missing.len(), limits)?;
        let mut create = conn.prepare_cached(
            "INSERT INTO metric_series (run_id, experiment_id, key) \
             VALUES (?1, (SELECT experiment_id FROM runs WHERE id = ?1), ?2)",
        )?;
        for group in missing {
            create.execute(params![run_id, group.key])?;
            batches.push(SeriesBatch {
                series_id: conn.last_insert_rowid(),
                stored: SeriesAggregates::default(),
                points: group.points,
                tail: None,
            });
        }
    }
    Ok(batches)
}

/// Merges the closed chunks behind the series' tail into one once they nearly fill a chunk
/// (`ingest::chunks_to_merge`): tails are rewritten only up to a block, so a commit writes
/// about what its points take, and merges keep chunks long on disk. The merged chunk takes
/// the oldest part's row, so the tail stays the newest of equal step ranges.
fn merge_closed_chunks(conn: &Connection, series_id: i64) -> Result<()> {
    let newest_first = conn
        .prepare_cached(
            "SELECT id, first_step, last_step, point_count FROM metric_chunks \
             WHERE series_id = ?1 ORDER BY first_step DESC, last_step DESC LIMIT ?2",
        )?
        .query_map(params![series_id, ingest::MERGE_SCAN as i64], |r| {
            Ok(ChunkExtent {
                id: r.get(0)?,
                first_step: r.get(1)?,
                last_step: r.get(2)?,
                point_count: r.get::<_, i64>(3)?.max(0) as usize,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Some(parts) = ingest::chunks_to_merge(&newest_first) else {
        return Ok(());
    };
    let mut read = conn.prepare_cached("SELECT encoding, data FROM metric_chunks WHERE id = ?1")?;
    let stored = parts
        .iter()
        .map(|part| {
            read.query_row([part.id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let merged = ingest::merged_chunk(
        series_id,
        parts
            .iter()
            .zip(&stored)
            .map(|(part, (encoding, data))| (part.point_count, *encoding, data.as_slice())),
    )?;
    conn.prepare_cached(
        "UPDATE metric_chunks SET first_step = ?2, last_step = ?3, point_count = ?4, data = ?5, \
           summary = ?6, encoding = ?7 WHERE id = ?1",
    )?
    .execute(params![
        parts[0].id,
        merged.first_step,
        merged.last_step,
        merged.point_count as i64,
        merged.data,
        merged.summary,
        ChunkRow::ENCODING.column()
    ])?;
    let mut delete = conn.prepare_cached("DELETE FROM metric_chunks WHERE id = ?1")?;
    for part in &parts[1..] {
        delete.execute([part.id])?;
    }
    Ok(())
}

/// The series' last chunk, with its data when it holds at most `limit` points (else `None`:
/// too long to rewrite for this batch).
fn read_tail(conn: &Connection, series_id: i64, limit: usize) -> Result<Option<TailChunk>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, first_step, point_count, encoding, CASE WHEN point_count <= ?2 THEN data END \
         FROM metric_chunks WHERE series_id = ?1 ORDER BY first_step DESC, last_step DESC LIMIT 1",
    )?;
    let tail = statement
        .query_row(params![series_id, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
            ))
        })
        .optional()?;
    let Some((id, first_step, count, encoding, Some(data))) = tail else {
        return Ok(None);
    };
    TailChunk::from_row(series_id, id, first_step, count, encoding, data).map(Some)
}

/// Every point of a series with `low <= step <= high`, in series order.
pub(super) fn read_points(
    conn: &Connection,
    series_id: i64,
    low: i64,
    high: i64,
) -> Result<Vec<MetricPoint>> {
    let mut statement = conn.prepare_cached(
        "SELECT data, point_count, encoding FROM metric_chunks \
         WHERE series_id = ?1 AND first_step <= ?3 AND last_step >= ?2 ORDER BY first_step, last_step, id",
    )?;
    let mut rows = statement.query(params![series_id, low, high])?;
    let mut points = Vec::new();
    while let Some(row) = rows.next()? {
        let data = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
        StoredChunk::new(data, row.get(1)?, row.get(2)?)
            .and_then(|chunk| chunk.decode_into(&mut points))
            .ok_or_else(|| ingest::corrupt_chunk(series_id))?;
    }
    ingest::finish_read(&mut points, low, high);
    Ok(points)
}

/// Summaries of every metric key of the given runs, as (run id, summary), ordered by key.
pub(super) fn summaries(conn: &Connection, run_id: &str) -> Result<Vec<MetricSummary>> {
    ensure_run(conn, run_id)?;
    let mut statement = conn.prepare_cached(&super::sql::numbered(run_details::RUN_SUMMARIES))?;
    let summaries = statement
        .query_map([run_id], |row| run_details::metric_summary(row, 0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(summaries)
}

fn ensure_run(conn: &Connection, run_id: &str) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .query_row([run_id], |_| Ok(()))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Run, run_id))
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
            entity: EntityKind::Metric,
            id: format!("{key}' of run '{run_id}"),
        })?;
    let low = request.start_step.unwrap_or(i64::MIN);
    let high = request.end_step.unwrap_or(i64::MAX);
    if request.max_points.is_some()
        && let Some(answer) = read_downsampled(conn, series_id, key, low, high, request)?
    {
        return Ok(answer);
    }
    let points = read_points(conn, series_id, low, high)?;
    Ok(ingest::series_answer(key, points, request))
}

/// A downsampled read decoding only the chunks it must (`ingest::DownsampledRead`); `None`
/// when every point has to be read.
fn read_downsampled(
    conn: &Connection,
    series_id: i64,
    key: &str,
    low: i64,
    high: i64,
    request: &SeriesRequest,
) -> Result<Option<MetricSeries>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, first_step, last_step, point_count, summary FROM metric_chunks \
         WHERE series_id = ?1 AND first_step <= ?3 AND last_step >= ?2 ORDER BY first_step, last_step, id",
    )?;
    let chunk_infos = statement
        .query_map(params![series_id, low, high], |r| {
            Ok(ChunkInfo {
                id: r.get(0)?,
                first_step: r.get(1)?,
                last_step: r.get(2)?,
                point_count: usize::try_from(r.get::<_, i64>(3)?).unwrap_or(usize::MAX),
                summary: r
                    .get_ref(4)?
                    .as_blob_or_null()
                    .map_err(rusqlite::Error::from)?
                    .and_then(chunks::read_summary),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let Some(mut read) = DownsampledRead::new(chunk_infos, request) else {
        return Ok(None);
    };
    let edges = read.edges();
    decode_chunks(conn, series_id, &edges, &mut read)?;
    let needed = read.needed();
    decode_chunks(conn, series_id, &needed, &mut read)?;
    Ok(Some(read.finish(key)))
}

fn decode_chunks(
    conn: &Connection,
    series_id: i64,
    ids: &[i64],
    read: &mut DownsampledRead,
) -> Result<()> {
    let mut statement =
        conn.prepare_cached("SELECT data, point_count, encoding FROM metric_chunks WHERE id = ?1")?;
    for &id in ids {
        statement
            .query_row([id], |row| {
                let data = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
                Ok(StoredChunk::new(data, row.get(1)?, row.get(2)?)
                    .and_then(|chunk| read.add_stored(id, chunk)))
            })?
            .ok_or_else(|| ingest::corrupt_chunk(series_id))?;
    }
    Ok(())
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
