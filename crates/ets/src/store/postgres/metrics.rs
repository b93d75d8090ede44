//! PostgreSQL: metric points — the ingest hot path and series reads, over the chunked storage
//! SQLite uses too (`metric_chunks`, packed by `store/chunks.rs`).
//!
//! A batch costs a fixed number of statements whatever its size: the run row is locked, the
//! series of every key are resolved (and the missing ones created) with array parameters,
//! stored points are read back only for series the batch reaches below their highest stored
//! step (duplicate check), chunks go in by binary COPY and the series aggregates are updated
//! by one `UPDATE … FROM UNNEST(…)`.
//!
//! Locking the run row (`FOR NO KEY UPDATE`, the lock `runs::touch` takes anyway) serialises
//! batches to the same run across instances, as SQLite's single writer does: the key limit,
//! the series uniqueness and the duplicate check all see the previous batch committed.

use std::collections::HashMap;

use ets_domain::Timestamp;
use ets_domain::model::{
    MetricPoint, MetricSeries, MetricSummary, ParamValue, SeriesPoints, TagPatch,
};
use futures_util::{TryFutureExt, TryStreamExt, pin_mut};
use tokio_postgres::Row;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{Conn, PgStore, Tx};
use crate::error::{EntityKind, Error, Result};
use crate::store::chunks::StoredChunk;
use crate::store::ingest::{
    self, ChunkInfo, ChunkRow, DownsampledRead, SeriesAggregates, SeriesBatch, TailChunk,
};
use crate::store::series_cache::CachedSeries;
use crate::store::{PointContext, SeriesRequest, StoreLimits, value_from_sql, value_to_sql};
use crate::store::{chunks, run_details};

const COPY_CHUNKS: &str = "COPY metric_chunks (series_id, first_step, last_step, point_count, data, summary, \
     encoding) FROM STDIN BINARY";
const CHUNK_TYPES: [Type; 7] = [
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT4,
    Type::BYTEA,
    Type::BYTEA,
    Type::INT2,
];

impl PgStore {
    pub(super) async fn log_batch(
        &self,
        run_id: &str,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
        rename: Option<String>,
        points: Vec<SeriesPoints>,
        contexts: Vec<PointContext>,
    ) -> Result<(usize, usize)> {
        if !ingest::writes_run_metadata(&params, &tags, rename.as_ref(), &points)
            && contexts.is_empty()
        {
            // Points alone: the hot path of a training loop's `log_metric` (`appends.rs`).
            return self.log_points(run_id, points).await;
        }
        let (run_id, limits) = (run_id.to_owned(), self.limits);
        self.series_cache
            .forget(&run_id, points.iter().map(|g| g.key.as_str()));
        self.write(move |tx| {
            Box::pin(async move {
                // Every row this batch touches is written under the run's lock, taken first
                // (by `ensure_active` in `log_params_and_tags`, or by `log`'s run update).
                if ingest::writes_run_metadata(&params, &tags, rename.as_ref(), &points) {
                    super::runs::log_params_and_tags(tx, &run_id, &params, &tags, rename).await?;
                }
                let counts = if points.is_empty() {
                    (0, 0)
                } else {
                    let logged = log(tx, &run_id, points, &limits).await?;
                    (logged.written, logged.duplicates)
                };
                let (model_metrics, point_datasets) = ingest::split_contexts(contexts);
                super::models::log_model_metrics(tx, &model_metrics).await?;
                super::models::log_point_datasets(tx, &point_datasets).await?;
                Ok(counts)
            })
        })
        .await
    }

    pub(super) async fn metric_summaries(&self, run_id: &str) -> Result<Vec<MetricSummary>> {
        let run_id = run_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                ensure_run(tx, &run_id).await?;
                let statement = tx.prepare_cached(run_details::RUN_SUMMARIES).await?;
                Ok(tx
                    .query(&statement, &[&run_id])
                    .await?
                    .iter()
                    .map(|row| run_details::metric_summary(row, 0))
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn metric_series(
        &self,
        run_id: &str,
        key: &str,
        request: SeriesRequest,
    ) -> Result<MetricSeries> {
        let (run_id, key) = (run_id.to_owned(), key.to_owned());
        self.read(move |tx| Box::pin(async move { series(tx, &run_id, &key, &request).await }))
            .await
    }
}

async fn ensure_run(tx: &Tx<'_>, run_id: &str) -> Result<()> {
    let statement = tx
        .prepare_cached("SELECT 1 FROM runs WHERE id = $1")
        .await?;
    tx.query_opt(&statement, &[&run_id])
        .await?
        .map(|_| ())
        .ok_or_else(|| Error::not_found(EntityKind::Run, run_id))
}

/// What [`log`] did: points written, duplicates skipped, and the state it left of each series
/// it appended to (for the series cache).
pub(super) struct Logged {
    pub written: usize,
    pub duplicates: usize,
    pub appended: Vec<CachedSeries>,
}

/// Appends `points` to the run's series, under the run row's lock (taken by `resolve_series`:
/// `FOR NO KEY UPDATE`). The rules (identity of a point, order, aggregates, key limit) are
/// `store::ingest`'s.
pub(super) async fn log(
    tx: &impl Conn,
    run_id: &str,
    series: Vec<SeriesPoints>,
    limits: &StoreLimits,
) -> Result<Logged> {
    let groups = ingest::merge_groups(series);
    let keys: Vec<String> = groups.iter().map(|g| g.key.clone()).collect();
    let mut batches = resolve_series(tx, run_id, groups, limits).await?;
    let mut duplicates = ingest::prepare(&mut batches);
    let appends: Vec<bool> = batches.iter().map(|b| b.stored_range().is_none()).collect();
    duplicates += drop_stored(tx, &mut batches).await?;
    let written = ingest::written(&batches);
    if written == 0 {
        return Ok(Logged {
            written,
            duplicates,
            appended: Vec::new(),
        });
    }
    let appended = write_batches(tx, &keys, &batches, &appends).await?;
    Ok(Logged {
        written,
        duplicates,
        appended,
    })
}

/// Stores prepared batches (duplicates dropped): their chunk rows — new ones, and tails
/// rewritten with the batch appended — and their series' aggregates. With at most
/// `COPY_THRESHOLD_CHUNKS` new rows every statement goes out when first polled (one round
/// trip, if prepared before). Returns, for each batch that `appends` (in order with `keys`),
/// the state it leaves of its series.
pub(super) async fn write_batches(
    tx: &impl Conn,
    keys: &[String],
    batches: &[SeriesBatch],
    appends: &[bool],
) -> Result<Vec<CachedSeries>> {
    let mut rows = Vec::new();
    for batch in batches {
        rows.extend(
            batch
                .chunk_rows(ingest::POSTGRES_TAIL_REWRITES)?
                .into_iter()
                .map(|row| (batch.series_id, row)),
        );
    }
    let (rewritten, new): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(_, row)| row.replaces.is_some());
    let new_ids = if new.len() > COPY_THRESHOLD_CHUNKS {
        copy_chunks(tx, &new).await?;
        tokio::try_join!(
            rewrite_tails(tx, &rewritten),
            update_aggregates(tx, batches)
        )?;
        None
    } else {
        // Independent statements, sent together (one round trip).
        let (ids, (), ()) = tokio::try_join!(
            insert_chunks(tx, &new),
            rewrite_tails(tx, &rewritten),
            update_aggregates(tx, batches)
        )?;
        Some(ids)
    };
    Ok(appended_states(
        keys, batches, appends, rewritten, new, new_ids,
    ))
}

/// The state each appending batch left of its series: its last chunk is the batch's last row
/// (a rewritten tail, or the last new row, whose id the insert returned; none after `COPY`).
fn appended_states(
    keys: &[String],
    batches: &[SeriesBatch],
    appends: &[bool],
    rewritten: Vec<(i64, ChunkRow)>,
    new: Vec<(i64, ChunkRow)>,
    new_ids: Option<HashMap<(i64, i64), i64>>,
) -> Vec<CachedSeries> {
    let mut last_rows: HashMap<i64, (ChunkRow, i64)> = HashMap::new();
    for (series_id, row) in rewritten {
        let id = row.replaces.expect("partitioned on it");
        last_rows.insert(series_id, (row, id));
    }
    if let Some(ids) = new_ids {
        // A series' new rows are in step order: the last one stays.
        for (series_id, row) in new {
            if let Some(&id) = ids.get(&(series_id, row.first_step)) {
                last_rows.insert(series_id, (row, id));
            }
        }
    }
    keys.iter()
        .zip(batches)
        .zip(appends)
        .filter(|((_, batch), appends)| **appends && !batch.points.is_empty())
        .filter_map(|((key, batch), _)| {
            let (row, id) = last_rows.remove(&batch.series_id)?;
            Some(CachedSeries::after_append(key.clone(), batch, row, id))
        })
        .collect()
}

/// A series row's aggregates (`point_count, min_value, max_value, last_step, last_timestamp,
/// last_value` from column `at` on).
fn aggregates_at(r: &Row, at: usize) -> SeriesAggregates {
    SeriesAggregates {
        count: r.get(at),
        min: r.get(at + 1),
        max: r.get(at + 2),
        latest: r.get::<_, Option<i64>>(at + 3).map(|step| MetricPoint {
            step,
            timestamp: r.get(at + 4),
            value: value_from_sql(r.get(at + 5)),
        }),
    }
}

/// Locks the run row and marks the run updated (`$1` the run, `$2` now); answers its
/// `deleted_at` (no row: no such run).
pub(super) const TOUCH_RUN: &str =
    "UPDATE runs SET updated_at = greatest(updated_at, $2) WHERE id = $1 RETURNING deleted_at";

/// Locks the run and marks it updated (refusing a missing or trashed one, as
/// `runs::ensure_active`), then finds — or creates, within the per-run key limit — the series of
/// each key. Two statements when every key exists (four when keys are new: the count for the
/// limit, the insert).
async fn resolve_series(
    tx: &impl Conn,
    run_id: &str,
    groups: Vec<SeriesPoints>,
    limits: &StoreLimits,
) -> Result<Vec<SeriesBatch>> {
    let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
    // Taking the run row's lock first serialises batches to one run across instances; the
    // lookup after it is a new statement, so (READ COMMITTED) it sees what the batch that held
    // the lock before committed — a lookup joined into the locking statement would not.
    // Both prepared before either is sent, so they go out in this order. Sent together (one
    // round trip): the lookup still runs after the lock is granted.
    let (touch, lookup) = tokio::try_join!(
        tx.prepare_cached(TOUCH_RUN),
        // With each series its last chunk (the data only when short enough to append the
        // batch to: `ingest::POSTGRES_TAIL_REWRITES`).
        tx.prepare_cached(
            "SELECT s.key, s.id, s.point_count, s.min_value, s.max_value, s.last_step, \
               s.last_timestamp, s.last_value, t.id, t.first_step, t.point_count, t.encoding, t.data \
             FROM UNNEST($2::text[]) AS k (key) \
             JOIN metric_series s ON s.run_id = $1 AND s.key = k.key \
             LEFT JOIN LATERAL (SELECT c.id, c.first_step, c.point_count, c.encoding, c.data FROM metric_chunks c \
                 WHERE c.series_id = s.id ORDER BY c.first_step DESC, c.last_step DESC LIMIT 1) t \
               ON t.point_count <= $3",
        ),
    )?;
    let tail_limit = i32::try_from(ingest::POSTGRES_TAIL_REWRITES.max_points).unwrap_or(0);
    let now = Timestamp::now().millis();
    let (touch_params, lookup_params): ([&(dyn ToSql + Sync); 2], [&(dyn ToSql + Sync); 3]) =
        ([&run_id, &now], [&run_id, &keys, &tail_limit]);
    let (run, found) = super::pipelined_values(tokio::join!(
        tx.query_opt(&touch, &touch_params).err_into(),
        tx.query(&lookup, &lookup_params).err_into(),
    ))?;
    crate::store::rules::check_run_active(run_id, run.map(|r| r.get::<_, Option<i64>>(0)))?;
    let mut found: HashMap<String, (i64, SeriesAggregates, Option<TailChunk>)> = found
        .iter()
        .map(|r| Ok((r.get(0), (r.get(1), aggregates_at(r, 2), tail_at(r, 8)?))))
        .collect::<Result<_>>()?;
    let missing: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !found.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        // Prepared first, then sent together (one round trip): the count runs before the
        // insert; a refusal by the key limit rolls the insert back with the transaction.
        let (count, create) = tokio::try_join!(
            tx.prepare_cached("SELECT count(*) FROM metric_series WHERE run_id = $1"),
            tx.prepare_cached(
                "INSERT INTO metric_series (run_id, experiment_id, key) \
                 SELECT $1, (SELECT experiment_id FROM runs WHERE id = $1), k FROM UNNEST($2::text[]) AS k \
                 RETURNING key, id",
            ),
        )?;
        let (count_params, create_params): ([&(dyn ToSql + Sync); 1], [&(dyn ToSql + Sync); 2]) =
            ([&run_id], [&run_id, &missing]);
        let (existing, created) = tokio::try_join!(
            tx.query_one(&count, &count_params),
            tx.query(&create, &create_params),
        )?;
        let existing: i64 = existing.get(0);
        ingest::check_key_limit(run_id, existing as u64, missing.len(), limits)?;
        for row in created {
            found.insert(row.get(0), (row.get(1), SeriesAggregates::default(), None));
        }
    }
    groups
        .into_iter()
        .map(|group| {
            let (series_id, stored, tail) = found.remove(&group.key).ok_or_else(|| {
                Error::internal(format!("metric series '{}' was not created", group.key))
            })?;
            Ok(SeriesBatch {
                series_id,
                stored,
                points: group.points,
                tail,
            })
        })
        .collect()
}

/// A series' last chunk (`id, first_step, point_count, encoding, data` from column `at` on),
/// when its data was read.
fn tail_at(r: &Row, at: usize) -> Result<Option<TailChunk>> {
    let (Some(id), Some(first_step)) =
        (r.get::<_, Option<i64>>(at), r.get::<_, Option<i64>>(at + 1))
    else {
        return Ok(None);
    };
    let Some(data) = r.get::<_, Option<Vec<u8>>>(at + 4) else {
        return Ok(None);
    };
    // Column 1 of the lookup is the series' id.
    TailChunk::from_row(
        r.get(1),
        id,
        first_step,
        r.get::<_, i32>(at + 2).into(),
        r.get::<_, i16>(at + 3).into(),
        data,
    )
    .map(Some)
}

/// Removes from the (prepared) batches the points already stored, reading in one query only
/// the chunks that overlap the step range each batch may repeat (`SeriesBatch::stored_range`;
/// none in the usual append). Returns how many it removed.
async fn drop_stored(tx: &impl Conn, batches: &mut [SeriesBatch]) -> Result<usize> {
    let (mut ids, mut lows, mut highs) = (Vec::new(), Vec::new(), Vec::new());
    for batch in batches.iter() {
        if let Some((low, high)) = batch.stored_range() {
            ids.push(batch.series_id);
            lows.push(low);
            highs.push(high);
        }
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let statement = tx
        .prepare_cached(
            "SELECT c.series_id, c.data, c.point_count, c.encoding FROM metric_chunks c \
             JOIN UNNEST($1::int8[], $2::int8[], $3::int8[]) AS b (series_id, low, high) \
               ON c.series_id = b.series_id AND c.first_step <= b.high AND c.last_step >= b.low",
        )
        .await?;
    let mut stored: HashMap<i64, Vec<MetricPoint>> = HashMap::new();
    for row in tx.query(&statement, &[&ids, &lows, &highs]).await? {
        let series_id: i64 = row.get(0);
        stored_chunk(&row, [1, 2, 3])
            .and_then(|chunk| chunk.decode_into(stored.entry(series_id).or_default()))
            .ok_or_else(|| ingest::corrupt_chunk(series_id))?;
    }
    Ok(batches
        .iter_mut()
        .filter_map(|batch| {
            let points = stored.get(&batch.series_id)?;
            Some(batch.drop_stored(points))
        })
        .sum())
}

/// A chunk row's `point_count` (INTEGER) at `column`.
fn chunk_points(row: &tokio_postgres::Row, column: usize) -> usize {
    usize::try_from(row.get::<_, i32>(column)).unwrap_or(usize::MAX)
}

/// A chunk row's `data`, `point_count` (INTEGER) and `encoding` (SMALLINT) at `columns`;
/// `None` if they are not a chunk this build reads.
pub(super) fn stored_chunk(
    row: &tokio_postgres::Row,
    [data, count, encoding]: [usize; 3],
) -> Option<StoredChunk<'_>> {
    StoredChunk::new(
        row.get(data),
        row.get::<_, i32>(count).into(),
        row.get::<_, i16>(encoding).into(),
    )
}

/// The `encoding` column of the chunk rows written (`ChunkRow::ENCODING`).
pub(super) const ENCODING: i16 = ChunkRow::ENCODING.column() as i16;

/// Inserts chunk rows given as arrays (`$7` their encoding); answers each row's series, first
/// step and id (a series' new rows never share a first step).
pub(super) const INSERT_CHUNKS: &str = "INSERT INTO metric_chunks (series_id, first_step, last_step, point_count, data, summary, \
       encoding) \
     SELECT *, $7::int2 FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int4[], $5::bytea[], \
                                    $6::bytea[]) \
     RETURNING series_id, first_step, id";

/// Chunk rows up to which one `INSERT … UNNEST` (one round trip) beats binary COPY (two round
/// trips and a per-row protocol cost that only pays off for many rows).
const COPY_THRESHOLD_CHUNKS: usize = 64;

/// Chunk rows (with their series) as the array parameters of one statement.
struct ChunkColumns<'a> {
    series: Vec<i64>,
    replaces: Vec<Option<i64>>,
    firsts: Vec<i64>,
    lasts: Vec<i64>,
    counts: Vec<i32>,
    data: Vec<&'a [u8]>,
    summaries: Vec<Option<&'a [u8]>>,
}

impl<'a> ChunkColumns<'a> {
    fn of(rows: &'a [(i64, ChunkRow)]) -> ChunkColumns<'a> {
        ChunkColumns {
            series: rows.iter().map(|(series_id, _)| *series_id).collect(),
            replaces: rows.iter().map(|(_, row)| row.replaces).collect(),
            firsts: rows.iter().map(|(_, row)| row.first_step).collect(),
            lasts: rows.iter().map(|(_, row)| row.last_step).collect(),
            counts: rows.iter().map(|(_, row)| row.point_count as i32).collect(),
            data: rows.iter().map(|(_, row)| row.data.as_slice()).collect(),
            summaries: rows.iter().map(|(_, row)| row.summary.as_deref()).collect(),
        }
    }
}

/// Stores new chunk rows (a row per series and chunk, never a row per point) by one
/// `INSERT … UNNEST` (`log` loads more than `COPY_THRESHOLD_CHUNKS` rows by binary COPY
/// instead); returns their ids by series and first step.
async fn insert_chunks(
    tx: &impl Conn,
    rows: &[(i64, ChunkRow)],
) -> Result<HashMap<(i64, i64), i64>> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let c = ChunkColumns::of(rows);
    let statement = tx.prepare_cached(INSERT_CHUNKS).await?;
    let params: [&(dyn ToSql + Sync); 7] = [
        &c.series,
        &c.firsts,
        &c.lasts,
        &c.counts,
        &c.data,
        &c.summaries,
        &ENCODING,
    ];
    Ok(tx
        .query(&statement, &params)
        .await?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// Rewrites chunks (`$1` ids) with points appended: last step, count, data, summary and
/// (`$6`) encoding.
pub(super) const REWRITE_TAILS: &str = "UPDATE metric_chunks AS c SET last_step = u.last, point_count = u.n, \
       data = u.data, summary = u.summary, encoding = $6::int2 \
     FROM UNNEST($1::int8[], $2::int8[], $3::int4[], $4::bytea[], $5::bytea[]) \
       AS u (id, last, n, data, summary) \
     WHERE c.id = u.id";

/// Sets series' (`$1` ids) count, min, max and latest point.
pub(super) const UPDATE_AGGREGATES: &str = "UPDATE metric_series AS s SET point_count = u.n, min_value = u.lo, \
       max_value = u.hi, last_step = u.step, last_timestamp = u.ts, last_value = u.val \
     FROM UNNEST($1::int8[], $2::int8[], $3::float8[], $4::float8[], $5::int8[], $6::int8[], \
                 $7::float8[]) AS u (id, n, lo, hi, step, ts, val) \
     WHERE s.id = u.id";

/// Rewrites the stored chunks batches were appended to (`ChunkRow::replaces`), in one
/// statement.
async fn rewrite_tails(tx: &impl Conn, rows: &[(i64, ChunkRow)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let c = ChunkColumns::of(rows);
    let statement = tx.prepare_cached(REWRITE_TAILS).await?;
    let params: [&(dyn ToSql + Sync); 6] = [
        &c.replaces,
        &c.lasts,
        &c.counts,
        &c.data,
        &c.summaries,
        &ENCODING,
    ];
    tx.execute(&statement, &params).await?;
    Ok(())
}

/// Loads new chunk rows by binary COPY.
async fn copy_chunks(tx: &impl Conn, rows: &[(i64, ChunkRow)]) -> Result<()> {
    let statement = tx.prepare_cached(COPY_CHUNKS).await?;
    let sink = tx.copy_in_sink(&statement).await?;
    let writer = BinaryCopyInWriter::new(sink, &CHUNK_TYPES);
    pin_mut!(writer);
    for (series_id, row) in rows {
        let count = row.point_count as i32;
        writer
            .as_mut()
            .write(&[
                series_id,
                &row.first_step,
                &row.last_step,
                &count,
                &row.data,
                &row.summary,
                &ENCODING,
            ])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Writes count, min, max and latest point (`SeriesBatch::aggregates`) of every series the
/// batches wrote to, in one statement.
async fn update_aggregates(tx: &impl Conn, batches: &[SeriesBatch]) -> Result<()> {
    let n = batches.len();
    let (mut ids, mut counts) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut mins, mut maxs) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut steps, mut timestamps, mut values) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for batch in batches.iter().filter(|b| !b.points.is_empty()) {
        let aggregates = batch.aggregates();
        let Some(latest) = aggregates.latest else {
            continue;
        };
        ids.push(batch.series_id);
        counts.push(aggregates.count);
        mins.push(aggregates.min);
        maxs.push(aggregates.max);
        steps.push(latest.step);
        timestamps.push(latest.timestamp);
        values.push(value_to_sql(latest.value));
    }
    let statement = tx.prepare_cached(UPDATE_AGGREGATES).await?;
    tx.execute(
        &statement,
        &[&ids, &counts, &mins, &maxs, &steps, &timestamps, &values],
    )
    .await?;
    Ok(())
}

/// Every point of a series with `low <= step <= high`, in series order; chunks are decoded as
/// they stream in.
async fn read_points(tx: &Tx<'_>, series_id: i64, low: i64, high: i64) -> Result<Vec<MetricPoint>> {
    let statement = tx
        .prepare_cached(
            "SELECT data, point_count, encoding FROM metric_chunks \
             WHERE series_id = $1 AND first_step <= $3 AND last_step >= $2 ORDER BY first_step, last_step, id",
        )
        .await?;
    let params: [&(dyn ToSql + Sync); 3] = [&series_id, &low, &high];
    let rows = tx.query_raw(&statement, params).await?;
    pin_mut!(rows);
    let mut points = Vec::new();
    while let Some(row) = rows.try_next().await? {
        stored_chunk(&row, [0, 1, 2])
            .and_then(|chunk| chunk.decode_into(&mut points))
            .ok_or_else(|| ingest::corrupt_chunk(series_id))?;
    }
    ingest::finish_read(&mut points, low, high);
    Ok(points)
}

/// Reads a series (or a step range of it), downsampled when asked.
async fn series(
    tx: &Tx<'_>,
    run_id: &str,
    key: &str,
    request: &SeriesRequest,
) -> Result<MetricSeries> {
    let statement = tx
        .prepare_cached(
            "SELECT s.id FROM runs r LEFT JOIN metric_series s ON s.run_id = r.id AND s.key = $2 \
             WHERE r.id = $1",
        )
        .await?;
    let row = tx
        .query_opt(&statement, &[&run_id, &key])
        .await?
        .ok_or_else(|| Error::not_found(EntityKind::Run, run_id))?;
    let series_id: i64 = row
        .get::<_, Option<i64>>(0)
        .ok_or_else(|| Error::NotFound {
            entity: EntityKind::Metric,
            id: format!("{key}' of run '{run_id}"),
        })?;
    let low = request.start_step.unwrap_or(i64::MIN);
    let high = request.end_step.unwrap_or(i64::MAX);
    if request.max_points.is_some()
        && let Some(answer) = read_downsampled(tx, series_id, key, low, high, request).await?
    {
        return Ok(answer);
    }
    let points = read_points(tx, series_id, low, high).await?;
    Ok(ingest::series_answer(key, points, request))
}

/// A downsampled read decoding only the chunks it must (`ingest::DownsampledRead`); `None`
/// when every point has to be read.
async fn read_downsampled(
    tx: &Tx<'_>,
    series_id: i64,
    key: &str,
    low: i64,
    high: i64,
    request: &SeriesRequest,
) -> Result<Option<MetricSeries>> {
    let statement = tx
        .prepare_cached(
            "SELECT id, first_step, last_step, point_count, summary FROM metric_chunks \
             WHERE series_id = $1 AND first_step <= $3 AND last_step >= $2 ORDER BY first_step, last_step, id",
        )
        .await?;
    let chunk_infos = tx
        .query(&statement, &[&series_id, &low, &high])
        .await?
        .iter()
        .map(|r| ChunkInfo {
            id: r.get(0),
            first_step: r.get(1),
            last_step: r.get(2),
            point_count: chunk_points(r, 3),
            summary: r.get::<_, Option<&[u8]>>(4).and_then(chunks::read_summary),
        })
        .collect();
    let Some(mut read) = DownsampledRead::new(chunk_infos, request) else {
        return Ok(None);
    };
    let edges = read.edges();
    decode_chunks(tx, series_id, &edges, &mut read).await?;
    let needed = read.needed();
    decode_chunks(tx, series_id, &needed, &mut read).await?;
    Ok(Some(read.finish(key)))
}

async fn decode_chunks(
    tx: &Tx<'_>,
    series_id: i64,
    ids: &[i64],
    read: &mut DownsampledRead,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let statement = tx
        .prepare_cached(
            "SELECT id, data, point_count, encoding FROM metric_chunks WHERE id = ANY($1::int8[])",
        )
        .await?;
    for row in tx.query(&statement, &[&ids]).await? {
        stored_chunk(&row, [1, 2, 3])
            .and_then(|chunk| read.add_stored(row.get(0), chunk))
            .ok_or_else(|| ingest::corrupt_chunk(series_id))?;
    }
    Ok(())
}

/// Summaries of every metric key of the given runs, as (run id, summary), ordered by key.
/// Removes the points of the given runs' series (chunks carry no foreign key).
pub(super) async fn delete_points_of_runs(tx: &Tx<'_>, run_ids: &[String]) -> Result<()> {
    let statement = tx
        .prepare_cached(
            "DELETE FROM metric_chunks WHERE series_id IN \
             (SELECT id FROM metric_series WHERE run_id = ANY($1::text[]))",
        )
        .await?;
    tx.execute(&statement, &[&run_ids]).await?;
    Ok(())
}

/// Run with `PG_TEST_URL=postgres://…` (skipped otherwise); each test migrates a fresh schema
/// and drops it at the end. Metric behaviour is checked against the SQLite store.
#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use ets_domain::model::{Artifact, LoggedModel, LoggedModelStatus, ModelMetric, Tags};

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Store, log_metrics};

    pub(crate) const RUN: &str = "run1";

    pub(crate) fn limits(max_keys: u64) -> StoreLimits {
        StoreLimits {
            max_concurrent_experiments: 100,
            max_runs_per_experiment: 1000,
            max_metric_keys_per_run: max_keys,
        }
    }

    /// A migrated schema of its own, with run `run1` in MLflow's Default experiment.
    pub(crate) struct TestDb {
        pub(crate) admin: tokio_postgres::Client,
        pub(crate) schema: String,
        pub(crate) url: String,
    }

    impl TestDb {
        pub(crate) async fn new() -> Option<TestDb> {
            let base = std::env::var("PG_TEST_URL").ok()?;
            let schema = format!("ets_pgm_{}", uuid::Uuid::now_v7().simple());
            let admin = super::super::connect(&super::super::test_options(&base))
                .await
                .unwrap();
            admin
                .batch_execute(&format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
            super::super::migrate(&super::super::test_options(&url))
                .await
                .unwrap();
            admin
                .batch_execute(&format!(
                    "INSERT INTO {schema}.runs (id, experiment_id, name, status, created_at, updated_at) \
                     VALUES ('{RUN}', '0', 'r', 'running', 0, 0)"
                ))
                .await
                .unwrap();
            Some(TestDb { admin, schema, url })
        }

        pub(crate) async fn store(&self, max_keys: u64) -> PgStore {
            PgStore::open(
                &super::super::test_options(&self.url),
                8,
                limits(max_keys),
                false,
            )
            .await
            .unwrap()
        }

        pub(crate) async fn drop(self) {
            self.admin
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))
                .await
                .unwrap();
        }
    }

    pub(crate) async fn sqlite(dir: &tempfile::TempDir, max_keys: u64) -> SqliteStore {
        let path = dir.path().join("ets.db");
        let store = SqliteStore::open(&path, 2, limits(max_keys)).await.unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO runs (id, experiment_id, name, status, created_at, updated_at) \
                 VALUES (?1, '0', 'r', 'running', 0, 0)",
                [RUN],
            )
            .unwrap();
        store
    }

    pub(crate) fn p(step: i64, timestamp: i64, value: f64) -> MetricPoint {
        MetricPoint::new(step, timestamp, value)
    }

    pub(crate) fn group(key: &str, points: Vec<MetricPoint>) -> SeriesPoints {
        SeriesPoints {
            key: key.to_owned(),
            points,
        }
    }

    /// Points compared bit for bit (NaN equals NaN).
    pub(crate) fn bits(points: &[MetricPoint]) -> Vec<(i64, i64, u64)> {
        points
            .iter()
            .map(|p| (p.step, p.timestamp, p.value.to_bits()))
            .collect()
    }

    fn summary_bits(s: &[MetricSummary]) -> Vec<String> {
        s.iter()
            .map(|s| {
                format!(
                    "{} {:?} {} {} {:?} {:?} {}",
                    s.key,
                    s.last_value.to_bits(),
                    s.last_step,
                    s.last_timestamp,
                    s.min.map(f64::to_bits),
                    s.max.map(f64::to_bits),
                    s.count
                )
            })
            .collect()
    }

    /// Deterministic batches: duplicates inside and across batches, out-of-order steps, keys
    /// repeated within a batch, NaN and ±infinity, batches larger than a chunk.
    fn batches() -> Vec<Vec<SeriesPoints>> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut out = vec![
            vec![
                group(
                    "loss",
                    vec![
                        p(3, 30, 0.5),
                        p(1, 10, f64::NAN),
                        p(2, 20, 0.7),
                        p(2, 20, 9.0),
                    ],
                ),
                group(
                    "acc",
                    vec![p(0, 1, f64::INFINITY), p(5, 1, f64::NEG_INFINITY)],
                ),
                group("loss", vec![p(4, 40, 0.25)]),
                group("empty", vec![]),
            ],
            // A retry of the first batch: all duplicates.
            vec![group(
                "loss",
                vec![p(3, 30, 0.5), p(1, 10, 1.0), p(2, 20, 0.7), p(4, 40, 0.0)],
            )],
            // Above the stored max (no check), then below it (checked), same step new timestamp.
            vec![group("loss", vec![p(10, 100, 0.1), p(11, 110, f64::NAN)])],
            vec![group(
                "loss",
                vec![p(0, 0, 2.0), p(3, 31, 0.4), p(3, 30, 7.0)],
            )],
            vec![group("nan", vec![p(1, 1, f64::NAN), p(2, 2, f64::NAN)])],
        ];
        for _ in 0..12 {
            let mut batch = Vec::new();
            for key in ["loss", "acc", "lr"] {
                let n = next(2500) as usize;
                let base = next(5000) as i64 - 1000;
                let points = (0..n)
                    .map(|_| {
                        let step = base + next(3000) as i64;
                        let value = match next(50) {
                            0 => f64::NAN,
                            1 => f64::INFINITY,
                            2 => f64::NEG_INFINITY,
                            v => v as f64 / 7.0 - 3.0,
                        };
                        p(step, next(4) as i64, value)
                    })
                    .collect();
                batch.push(group(key, points));
            }
            out.push(batch);
        }
        out
    }

    /// Logs series "curve" (batches of 100, single points, one batch of 2,100) and "ooo"
    /// (batches reaching back below earlier ones: overlapping chunks).
    async fn log_curves(store: &dyn Store) {
        let value =
            |i: i64| ((i * 7919) % 1000) as f64 / 10.0 + if i % 97 == 0 { f64::NAN } else { 0.0 };
        for batch in 0..30 {
            let points = (batch * 100..batch * 100 + 100)
                .map(|i| p(i, 1000 + i, value(i)))
                .collect();
            log_metrics(store, RUN, vec![group("curve", points)])
                .await
                .unwrap();
        }
        for i in 3000..3200 {
            let point = vec![p(i, 1000 + i, value(i))];
            log_metrics(store, RUN, vec![group("curve", point)])
                .await
                .unwrap();
        }
        let big = (3200..5300).map(|i| p(i, 1000 + i, value(i))).collect();
        log_metrics(store, RUN, vec![group("curve", big)])
            .await
            .unwrap();
        for batch in [5, 1, 3, 0, 4, 2] {
            let points = (0..300).map(|i| p(batch + 6 * i, i, value(i))).collect();
            log_metrics(store, RUN, vec![group("ooo", points)])
                .await
                .unwrap();
        }
    }

    /// `log_curves` left few, long chunks: (rows, rows with a summary) of "curve". On
    /// SQLite a tail is rewritten while it holds at most one block (`SQLITE_TAIL_REWRITES`):
    /// the 30 × 100 points and 200 single points fill chunks of about 1,100 points, and the
    /// 2,100 points join the last one — three or four rows for 232 calls. PostgreSQL rewrites
    /// tails only under ~1.8 kB (`POSTGRES_TAIL_REWRITES`; these values take ~7 bytes each): a
    /// dozen rows — nowhere near a row per call.
    fn check_chunk_rows((rows, summarised): (i64, i64), max_rows: i64) {
        assert!((2..=max_rows).contains(&rows), "{rows} chunk rows");
        assert!(summarised >= 2, "{summarised} of {rows} chunks summarised");
    }

    /// A downsampled read that decodes only some chunks answers exactly what downsampling
    /// every point answers.
    async fn check_downsampled_reads(store: &dyn Store) {
        for key in ["curve", "ooo"] {
            let every_point = SeriesRequest {
                start_step: None,
                end_step: None,
                max_points: None,
            };
            let every = store.metric_series(RUN, key, every_point).await.unwrap();
            assert_eq!(every.total_points, if key == "curve" { 5300 } else { 1800 });
            for (start_step, end_step, max_points) in [
                (None, None, 2),
                (None, None, 4),
                (None, None, 6),
                (Some(700), None, 8),
                (None, None, 100),
                (None, None, 1000),
                (None, None, 10_000),
                (Some(150), Some(4321), 64),
                (Some(1024), None, 300),
                (None, Some(3100), 20),
                (Some(-5), Some(5), 2),
            ] {
                let request = SeriesRequest {
                    start_step,
                    end_step,
                    max_points: Some(max_points),
                };
                let mut points = every.points.clone();
                let (low, high) = (start_step.unwrap_or(i64::MIN), end_step.unwrap_or(i64::MAX));
                ingest::finish_read(&mut points, low, high);
                let want = ingest::series_answer(key, points, &request);
                let got = store.metric_series(RUN, key, request).await.unwrap();
                assert_eq!(bits(&got.points), bits(&want.points), "{key} {request:?}");
                assert_eq!(
                    (got.total_points, got.downsampled),
                    (want.total_points, want.downsampled),
                    "{key} {request:?}"
                );
            }
        }
    }

    const CHUNK_ROWS: &str = "SELECT count(*), count(c.summary) FROM metric_chunks c \
                              JOIN metric_series s ON s.id = c.series_id WHERE s.key = 'curve'";

    #[tokio::test]
    async fn appends_fill_chunks_and_downsampled_reads_use_summaries() {
        let dir = tempfile::tempdir().unwrap();
        let lite = sqlite(&dir, 100).await;
        log_curves(&lite).await;
        check_chunk_rows(
            rusqlite::Connection::open(dir.path().join("ets.db"))
                .unwrap()
                .query_row(CHUNK_ROWS, [], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap(),
            4,
        );
        check_downsampled_reads(&lite).await;

        let Some(db) = TestDb::new().await else {
            return;
        };
        let pg = db.store(100).await;
        log_curves(&pg).await;
        let row = db
            .admin
            .query_one(
                &CHUNK_ROWS.replace("metric_", &format!("{}.metric_", db.schema)),
                &[],
            )
            .await
            .unwrap();
        check_chunk_rows((row.get(0), row.get(1)), 16);
        check_downsampled_reads(&pg).await;
        db.drop().await;
    }

    /// Logs series "long": 180 batches of 100 points, one batch reaching back among them
    /// (a chunk overlapping others), 60 more batches and 300 single points; returns every
    /// point logged, in series order.
    async fn log_long_series(store: &dyn Store) -> Vec<MetricPoint> {
        let value = |i: i64| ((i * 7919) % 1000) as f64 / 7.0 - (i as f64).sqrt();
        let mut logged = Vec::new();
        let mut log = async |points: Vec<MetricPoint>| {
            logged.extend_from_slice(&points);
            log_metrics(store, RUN, vec![group("long", points)])
                .await
                .unwrap();
        };
        for batch in 0..180 {
            log((batch * 100..batch * 100 + 100)
                .map(|i| p(i, 10 * i, value(i)))
                .collect())
            .await;
        }
        log((0..50).map(|i| p(9000 + 2 * i, 7, value(i))).collect()).await;
        for batch in 180..240 {
            log((batch * 100..batch * 100 + 100)
                .map(|i| p(i, 10 * i, value(i)))
                .collect())
            .await;
        }
        for i in 24_000..24_300 {
            log(vec![p(i, 10 * i, value(i))]).await;
        }
        logged.sort_by_key(MetricPoint::series_key);
        logged
    }

    /// On SQLite, tails are rewritten only up to a block and the closed chunks behind them
    /// are merged into long ones; reads, whole and downsampled, answer exactly the points
    /// logged on both backends.
    #[tokio::test]
    async fn closed_chunks_merge_into_long_ones() {
        const LONG_ROWS: &str = "SELECT c.point_count FROM metric_chunks c \
                                 JOIN metric_series s ON s.id = c.series_id WHERE s.key = 'long' \
                                 ORDER BY c.first_step";
        let dir = tempfile::tempdir().unwrap();
        let lite = sqlite(&dir, 100).await;
        let logged = log_long_series(&lite).await;
        let counts: Vec<i64> = rusqlite::Connection::open(dir.path().join("ets.db"))
            .unwrap()
            .prepare(LONG_ROWS)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        // 24,350 points: without merges ~22 rows of ~1,100 points; with them, three chunks
        // of 7,700 or so (one took the batch that reached back) and the short ones behind the
        // tail.
        let merged = counts.iter().filter(|&&c| c >= 7168).count();
        assert!(merged >= 3 && counts.len() <= 12, "chunk rows {counts:?}");
        assert_eq!(counts.iter().sum::<i64>(), logged.len() as i64);
        check_reads_of_long(&lite, &logged).await;

        let Some(db) = TestDb::new().await else {
            return;
        };
        let pg = db.store(100).await;
        let logged_pg = log_long_series(&pg).await;
        check_reads_of_long(&pg, &logged_pg).await;
        db.drop().await;
    }

    /// Every read of "long" — whole, a range, downsampled — answers what the logged points do.
    async fn check_reads_of_long(store: &dyn Store, logged: &[MetricPoint]) {
        for (start_step, end_step, max_points) in [
            (None, None, None),
            (Some(8_990), Some(9_200), None),
            (None, None, Some(1000)),
            (None, None, Some(7)),
            (Some(7_000), Some(16_500), Some(300)),
        ] {
            let request = SeriesRequest {
                start_step,
                end_step,
                max_points,
            };
            let mut points = logged.to_vec();
            let (low, high) = (start_step.unwrap_or(i64::MIN), end_step.unwrap_or(i64::MAX));
            ingest::finish_read(&mut points, low, high);
            let want = ingest::series_answer("long", points, &request);
            let got = store.metric_series(RUN, "long", request).await.unwrap();
            assert_eq!(bits(&got.points), bits(&want.points), "{request:?}");
            assert_eq!(got.total_points, want.total_points, "{request:?}");
        }
    }

    /// "old": 200 points logged, their chunk then rewritten as a version before appendable
    /// chunks wrote it (Gorilla-compressed, `encoding` 0); returns the points and the
    /// statement that does the rewrite (data `?1`/`$1`).
    fn old_series() -> (Vec<MetricPoint>, &'static str) {
        let points = (0..200)
            .map(|i| p(i, 1000 + 50 * i, f64::from((i as f32).sqrt())))
            .collect();
        (
            points,
            "UPDATE metric_chunks SET data = $1, encoding = 0 WHERE series_id = \
             (SELECT id FROM metric_series WHERE key = 'old')",
        )
    }

    /// Reads "old" whole and downsampled, appends 100 points to it, reads it again: every
    /// point there, the chunk now in the new format (one row, `encoding` 1).
    async fn check_old_series(store: &dyn Store, points: &[MetricPoint]) {
        let every = SeriesRequest {
            start_step: None,
            end_step: None,
            max_points: None,
        };
        let got = store.metric_series(RUN, "old", every).await.unwrap();
        assert_eq!(bits(&got.points), bits(points));
        let more: Vec<MetricPoint> = (200..300).map(|i| p(i, 1000 + 50 * i, -1.5)).collect();
        log_metrics(store, RUN, vec![group("old", more.clone())])
            .await
            .unwrap();
        let got = store.metric_series(RUN, "old", every).await.unwrap();
        let mut all = points.to_vec();
        all.extend(more);
        assert_eq!(bits(&got.points), bits(&all));
        let request = SeriesRequest {
            start_step: None,
            end_step: None,
            max_points: Some(4),
        };
        let want = ingest::series_answer("old", all, &request);
        let got = store.metric_series(RUN, "old", request).await.unwrap();
        assert_eq!(bits(&got.points), bits(&want.points));
    }

    const OLD_ROWS: &str = "SELECT count(*), min(encoding), max(encoding) FROM metric_chunks \
                            WHERE series_id = (SELECT id FROM metric_series WHERE key = 'old')";

    /// Chunks written before appendable chunks (migration 21) still read on both backends,
    /// and the first batch appended to one rewrites it in the new format.
    #[tokio::test]
    async fn chunks_of_the_earlier_format_read_and_take_appends() {
        let (points, rewrite) = old_series();
        let old = chunks::packed_for_tests(&points);
        let dir = tempfile::tempdir().unwrap();
        let lite = sqlite(&dir, 100).await;
        log_metrics(&lite, RUN, vec![group("old", points.clone())])
            .await
            .unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("ets.db")).unwrap();
        assert_eq!(
            conn.execute(&rewrite.replace("$1", "?1"), [&old]).unwrap(),
            1
        );
        check_old_series(&lite, &points).await;
        let rows: (i64, i64, i64) = conn
            .query_row(OLD_ROWS, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        assert_eq!(rows, (1, 1, 1));

        let Some(db) = TestDb::new().await else {
            return;
        };
        let pg = db.store(100).await;
        log_metrics(&pg, RUN, vec![group("old", points.clone())])
            .await
            .unwrap();
        let in_schema = |sql: &str| sql.replace("metric_", &format!("{}.metric_", db.schema));
        assert_eq!(
            db.admin
                .execute(&in_schema(rewrite), &[&old])
                .await
                .unwrap(),
            1
        );
        check_old_series(&pg, &points).await;
        let row = db.admin.query_one(&in_schema(OLD_ROWS), &[]).await.unwrap();
        let rows: (i64, i16, i16) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(rows, (1, 1, 1));
        db.drop().await;
    }

    #[tokio::test]
    async fn ingest_and_reads_match_sqlite() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let pg = db.store(10).await;
        let dir = tempfile::tempdir().unwrap();
        let lite = sqlite(&dir, 10).await;
        for (i, batch) in batches().into_iter().enumerate() {
            let expected = log_metrics(&lite, RUN, batch.clone()).await.unwrap();
            let got = log_metrics(&pg, RUN, batch).await.unwrap();
            assert_eq!(got, expected, "batch {i}");
        }
        // A retry of a stored point is a duplicate; another value at its step and timestamp is
        // a new point.
        for (point, expected) in [(p(0, 1, f64::INFINITY), (0, 1)), (p(0, 1, 5.0), (1, 0))] {
            for store in [&pg as &dyn Store, &lite as &dyn Store] {
                let got = log_metrics(store, RUN, vec![group("acc", vec![point])]).await;
                assert_eq!(got.unwrap(), expected, "{point:?}");
            }
        }

        let summaries = pg.metric_summaries(RUN).await.unwrap();
        assert_eq!(
            summary_bits(&summaries),
            summary_bits(&lite.metric_summaries(RUN).await.unwrap())
        );
        let keys: Vec<&str> = summaries.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["acc", "loss", "lr", "nan"], "'empty' has no points");
        let nan = &summaries[3];
        assert!(nan.last_value.is_nan() && nan.min.is_none() && nan.max.is_none());

        let requests = [
            (None, None, None),
            (Some(2), Some(3), None),
            (Some(-500), Some(1500), None),
            (None, None, Some(100)),
            (Some(100), Some(2000), Some(37)),
            (Some(100), Some(2000), Some(1_000_000)),
            (Some(9_000), None, Some(10)),
        ];
        for key in ["loss", "acc", "lr", "nan", "empty"] {
            for (start_step, end_step, max_points) in requests {
                let request = SeriesRequest {
                    start_step,
                    end_step,
                    max_points,
                };
                let want = lite.metric_series(RUN, key, request).await.unwrap();
                let got = pg.metric_series(RUN, key, request).await.unwrap();
                assert_eq!(bits(&got.points), bits(&want.points), "{key} {request:?}");
                assert_eq!(
                    (got.total_points, got.downsampled),
                    (want.total_points, want.downsampled),
                    "{key} {request:?}"
                );
            }
        }
        let all = pg
            .metric_series(
                RUN,
                "loss",
                SeriesRequest {
                    start_step: None,
                    end_step: None,
                    max_points: None,
                },
            )
            .await
            .unwrap();
        assert!(
            all.points
                .windows(2)
                .all(|w| w[0].series_key() < w[1].series_key()),
            "sorted, no duplicates"
        );

        let missing = pg
            .metric_series(
                RUN,
                "nope",
                SeriesRequest {
                    start_step: None,
                    end_step: None,
                    max_points: None,
                },
            )
            .await;
        assert!(matches!(
            missing,
            Err(Error::NotFound {
                entity: EntityKind::Metric,
                ..
            })
        ));
        assert!(matches!(
            pg.metric_summaries("nope").await,
            Err(Error::NotFound {
                entity: EntityKind::Run,
                ..
            })
        ));
        assert!(matches!(
            log_metrics(&pg, "nope", vec![group("x", vec![p(1, 1, 1.0)])]).await,
            Err(Error::NotFound {
                entity: EntityKind::Run,
                ..
            })
        ));

        // Deleting the run's points leaves no chunk behind.
        pg.write(|tx| Box::pin(async move { delete_points_of_runs(tx, &[RUN.to_owned()]).await }))
            .await
            .unwrap();
        let left: i64 = db
            .admin
            .query_one(
                &format!("SELECT count(*) FROM {}.metric_chunks", db.schema),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 0);
        db.drop().await;
    }

    /// Points-only batches begin and commit their transaction by hand (pipelined): one that
    /// fails, and one abandoned after its statements went out (the HTTP client left), leave
    /// the only pooled connection outside any transaction, the run row unlocked and the
    /// audit chain whole.
    #[tokio::test]
    async fn pipelined_writes_leave_no_transaction_open() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let pg = PgStore::open(&super::super::test_options(&db.url), 1, limits(10), false)
            .await
            .unwrap();
        let one = |step| vec![group("loss", vec![p(step, step, 1.0)])];
        assert_eq!(log_metrics(&pg, RUN, one(1)).await.unwrap(), (1, 0));
        assert!(matches!(
            log_metrics(&pg, "nope", one(2)).await,
            Err(Error::NotFound { .. })
        ));
        let too_many = (0..11)
            .map(|k| group(&format!("k{k}"), vec![p(1, 1, 1.0)]))
            .collect();
        assert!(matches!(
            log_metrics(&pg, RUN, too_many).await,
            Err(Error::LimitExceeded { .. })
        ));
        {
            let abandoned = log_metrics(&pg, RUN, one(3));
            tokio::pin!(abandoned);
            // Polled once (its BEGIN and first statements go out), then dropped.
            assert!(futures_util::poll!(&mut abandoned).is_pending());
        }
        // The abandoned transaction ends (its connection closed) on its own: within a few
        // seconds, the run row it locked is free again.
        let run_unlocked = format!(
            "BEGIN; SELECT 1 FROM {}.runs WHERE id = '{RUN}' FOR UPDATE NOWAIT; ROLLBACK",
            db.schema
        );
        let mut unlocked = false;
        for _ in 0..100 {
            if db.admin.batch_execute(&run_unlocked).await.is_ok() {
                unlocked = true;
                break;
            }
            let _ = db.admin.batch_execute("ROLLBACK").await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(unlocked, "the abandoned write still holds the run row");
        let next = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            log_metrics(&pg, RUN, one(4)),
        )
        .await
        .expect("the run row is not left locked");
        assert_eq!(next.unwrap(), (1, 0));
        let every_point = SeriesRequest {
            start_step: None,
            end_step: None,
            max_points: None,
        };
        let series = pg.metric_series(RUN, "loss", every_point).await.unwrap();
        let steps: Vec<i64> = series.points.iter().map(|p| p.step).collect();
        assert_eq!(steps, [1, 4], "the abandoned write was rolled back");
        let report = pg.verify_audit().await.unwrap();
        assert!(report.ok, "{report:?}");
        db.drop().await;
    }

    #[tokio::test]
    async fn key_limit_and_concurrent_batches() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let pg = db.store(3).await;
        let dir = tempfile::tempdir().unwrap();
        let lite = sqlite(&dir, 3).await;
        for store in [&pg as &dyn Store, &lite as &dyn Store] {
            let two = vec![group("a", vec![p(1, 1, 1.0)]), group("b", vec![])];
            assert_eq!(log_metrics(store, RUN, two).await.unwrap(), (1, 0));
            let over = vec![
                group("a", vec![p(2, 2, 1.0)]),
                group("c", vec![]),
                group("d", vec![]),
            ];
            let err = log_metrics(store, RUN, over).await.unwrap_err();
            match err {
                Error::LimitExceeded { message, limit, .. } => {
                    assert_eq!(limit, 3);
                    assert_eq!(
                        message,
                        "run 'run1' has 2 metric keys and this request adds 2 more"
                    );
                }
                other => panic!("{other:?}"),
            }
            // Nothing of the refused batch was stored.
            let a = store.metric_summaries(RUN).await.unwrap();
            assert_eq!((a.len(), a[0].count), (1, 1));
        }

        // Two instances, many concurrent batches: the limit holds, no duplicate series, no
        // point stored twice.
        let stores = [Arc::new(db.store(6).await), Arc::new(db.store(6).await)];
        let mut tasks = Vec::new();
        for i in 0..24i64 {
            let store = Arc::clone(&stores[(i % 2) as usize]);
            tasks.push(tokio::spawn(async move {
                let key = format!("k{}", i % 8);
                let points = (0..50).map(|s| p(s, 7, s as f64)).collect();
                log_metrics(
                    store.as_ref(),
                    RUN,
                    vec![group(&key, points), group("shared", vec![p(0, 0, 1.0)])],
                )
                .await
            }));
        }
        let (mut written, mut refused) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok((w, _)) => written += w,
                Err(Error::LimitExceeded { .. }) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        let summaries = pg.metric_summaries(RUN).await.unwrap();
        let keys: i64 = db
            .admin
            .query_one(
                &format!("SELECT count(*) FROM {}.metric_series", db.schema),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(keys <= 6, "{keys} keys");
        assert!(refused > 0);
        let k_points: i64 = summaries
            .iter()
            .filter(|s| s.key.starts_with('k'))
            .map(|s| s.count)
            .sum();
        let shared = summaries.iter().find(|s| s.key == "shared").unwrap();
        assert_eq!(shared.count, 1);
        assert_eq!(written as i64, k_points + 1);
        assert!(
            summaries
                .iter()
                .filter(|s| s.key.starts_with('k'))
                .all(|s| s.count == 50)
        );
        db.drop().await;
    }

    #[tokio::test]
    async fn artifacts_and_models() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let pg = db.store(10).await;
        let artifact = |path: &str, size: i64| Artifact {
            path: path.to_owned(),
            size,
            sha256: "00".into(),
            content_type: None,
            created_at: Timestamp(5),
        };
        assert!(
            pg.put_artifact(RUN, artifact("a/b.txt", 1), "k1".into())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            pg.put_artifact(RUN, artifact("a/c.txt", 2), "k2".into())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            pg.put_artifact(RUN, artifact("ab", 3), "k3".into())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            pg.put_artifact(RUN, artifact("a\u{e9}", 3), "k4".into())
                .await
                .unwrap()
                .is_none()
        );
        let previous = pg
            .put_artifact(RUN, artifact("a/b.txt", 10), "k5".into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (previous.artifact.size, previous.object_key.as_deref()),
            (1, Some("k1"))
        );
        let paths = |list: Vec<Artifact>| list.into_iter().map(|a| a.path).collect::<Vec<_>>();
        assert_eq!(
            paths(pg.list_artifacts(RUN, None).await.unwrap()),
            ["a/b.txt", "a/c.txt", "ab", "a\u{e9}"]
        );
        assert_eq!(
            paths(pg.list_artifacts(RUN, Some("a/")).await.unwrap()),
            ["a/b.txt", "a/c.txt"]
        );
        assert_eq!(
            pg.get_artifact(RUN, "a/b.txt").await.unwrap().artifact.size,
            10
        );
        assert!(matches!(
            pg.get_artifact(RUN, "zz").await,
            Err(Error::NotFound {
                entity: EntityKind::Artifact,
                ..
            })
        ));
        assert!(matches!(
            pg.list_artifacts("nope", None).await,
            Err(Error::NotFound {
                entity: EntityKind::Run,
                ..
            })
        ));
        let mut keys = pg.artifact_object_keys(RUN).await.unwrap().unwrap();
        keys.sort();
        assert_eq!(keys, ["k2", "k3", "k4", "k5"]);
        assert_eq!(pg.artifact_object_keys("nope").await.unwrap(), None);
        let removed = pg.delete_artifacts(RUN, "a").await.unwrap();
        assert_eq!(
            removed
                .iter()
                .map(|a| a.artifact.path.as_str())
                .collect::<Vec<_>>(),
            ["a/b.txt", "a/c.txt"]
        );
        assert_eq!(
            paths(pg.list_artifacts(RUN, None).await.unwrap()),
            ["ab", "a\u{e9}"]
        );
        assert!(
            pg.runs_deleted_before(Timestamp::now())
                .await
                .unwrap()
                .is_empty()
        );

        let model = LoggedModel {
            id: "m1".into(),
            experiment_id: "0".into(),
            name: "model".into(),
            model_type: Some("sklearn".into()),
            source_run_id: Some(RUN.into()),
            status: LoggedModelStatus::Pending,
            status_message: None,
            tags: Tags::from([("t".to_owned(), "v".to_owned())]),
            params: Tags::new(),
            metrics: Vec::new(),
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        };
        pg.create_logged_model(model.clone()).await.unwrap();
        let bad_run = LoggedModel {
            id: "m2".into(),
            source_run_id: Some("nope".into()),
            ..model.clone()
        };
        assert!(matches!(
            pg.create_logged_model(bad_run).await,
            Err(Error::Invalid(_))
        ));
        let bad_experiment = LoggedModel {
            id: "m3".into(),
            experiment_id: "nope".into(),
            ..model.clone()
        };
        assert!(matches!(
            pg.create_logged_model(bad_experiment).await,
            Err(Error::NotFound {
                entity: EntityKind::Experiment,
                ..
            })
        ));
        let metric = |model_id: &str, step: i64, value: f64| ModelMetric {
            model_id: model_id.into(),
            run_id: RUN.into(),
            key: "acc".into(),
            value,
            step,
            timestamp: 9,
            dataset_name: None,
            dataset_digest: None,
        };
        pg.write(|tx| {
            Box::pin(async move {
                log_model_metrics_for_test(
                    tx,
                    &[
                        metric("m1", 1, 0.5),
                        metric("m1", 0, f64::NAN),
                        metric("m1", 1, 0.7),
                    ],
                )
                .await
            })
        })
        .await
        .unwrap();
        let missing = pg
            .write(|tx| {
                Box::pin(async move {
                    log_model_metrics_for_test(tx, &[metric("m1", 2, 1.0), metric("zz", 1, 1.0)])
                        .await
                })
            })
            .await;
        assert!(matches!(
            missing,
            Err(Error::NotFound {
                entity: EntityKind::LoggedModel,
                ..
            })
        ));
        let got = pg.get_logged_model("m1").await.unwrap();
        assert_eq!(got.tags, model.tags);
        // Same step and timestamp, other value: a metric of its own.
        assert_eq!(got.metrics.len(), 3);
        assert!(got.metrics[0].value.is_nan() && got.metrics[1].value == 0.5);
        assert_eq!(got.metrics[2].value, 0.7);
        let updated = pg
            .update_logged_model(
                "m1",
                Box::new(|m| {
                    m.status = LoggedModelStatus::Ready;
                    Ok(())
                }),
            )
            .await
            .unwrap();
        assert_eq!(updated.status, LoggedModelStatus::Ready);
        assert_eq!(
            pg.get_logged_model("m1").await.unwrap().status,
            LoggedModelStatus::Ready
        );
        assert_eq!(
            pg.search_logged_models(&["0".into()], 0, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            pg.search_logged_models(&["0".into()], 1, 10)
                .await
                .unwrap()
                .is_empty()
        );
        pg.delete_logged_model("m1").await.unwrap();
        assert!(matches!(
            pg.delete_logged_model("m1").await,
            Err(Error::NotFound {
                entity: EntityKind::LoggedModel,
                ..
            })
        ));
        db.drop().await;
    }

    async fn log_model_metrics_for_test(tx: &Tx<'_>, metrics: &[ModelMetric]) -> Result<()> {
        super::super::models::log_model_metrics(tx, metrics).await
    }

    /// Ingest throughput: 1M points in 1000-point batches (`--ignored --nocapture`).
    #[tokio::test]
    #[ignore = "benchmark"]
    async fn ingest_throughput() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let pg = db.store(10).await;
        let started = Instant::now();
        for batch in 0..1000i64 {
            let points = (0..1000)
                .map(|i| p(batch * 1000 + i, batch, i as f64 * 0.5))
                .collect();
            let (written, _) = log_metrics(&pg, RUN, vec![group("loss", points)])
                .await
                .unwrap();
            assert_eq!(written, 1000);
        }
        let elapsed = started.elapsed();
        println!(
            "ingest: 1000000 points in {elapsed:?}: {:.0} points/s",
            1e6 / elapsed.as_secs_f64()
        );
        db.drop().await;
    }
}
