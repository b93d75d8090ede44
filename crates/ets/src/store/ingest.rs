//! The rules of metric ingest, once for both backends: merging a request's groups by key, the
//! per-run key limit, sorting and de-duplicating a batch, deciding which stored points a batch
//! must be checked against, the series aggregates, and finishing a series read. Pure functions;
//! each backend calls them inside its transaction and does only the I/O around them.
//!
//! A point is a duplicate when a point equal in key, step, timestamp and value (bit for bit,
//! every NaN equal to every other: [`MetricPoint::same_point`]) is stored or comes earlier in
//! the same batch. A series is kept in [`MetricPoint::series_key`] order.

use std::collections::{HashMap, HashSet};

use ets_domain::downsample::{Extremes, MinMaxDownsampler};
use ets_domain::model::{
    MetricPoint, MetricSeries, ModelMetric, ParamValue, SeriesPoints, TagPatch,
};

use crate::error::{Error, Result};
use crate::store::chunks::{self, BLOCK_POINTS, Encoding, MAX_CHUNK_POINTS, StoredChunk};
use crate::store::{PointContext, SeriesRequest, StoreLimits};

/// Whether a `log_batch` call needs its params-and-tags step: when it carries metadata, or
/// nothing else (then that step is what checks the run). Metric points alone skip it: the
/// metric write checks the run and marks it updated itself.
pub(super) fn writes_run_metadata(
    params: &[(String, ParamValue)],
    tags: &TagPatch,
    rename: Option<&String>,
    points: &[SeriesPoints],
) -> bool {
    !(params.is_empty() && tags.is_empty() && rename.is_none()) || points.is_empty()
}

/// Merges the groups of a request that name the same key (in order of first appearance).
pub(super) fn merge_groups(series: Vec<SeriesPoints>) -> Vec<SeriesPoints> {
    let mut groups: Vec<SeriesPoints> = Vec::with_capacity(series.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(series.len());
    for group in series {
        match index.get(&group.key) {
            Some(&i) => groups[i].points.extend(group.points),
            None => {
                index.insert(group.key.clone(), groups.len());
                groups.push(group);
            }
        }
    }
    groups
}

/// Refuses a request that would give the run more than `limits.max_metric_keys_per_run`
/// metric keys: it has `existing` and the request adds `new` ones.
pub(super) fn check_key_limit(
    run_id: &str,
    existing: u64,
    new: usize,
    limits: &StoreLimits,
) -> Result<()> {
    if new == 0 || existing + new as u64 <= limits.max_metric_keys_per_run {
        return Ok(());
    }
    Err(Error::LimitExceeded {
        message: format!(
            "run '{run_id}' has {existing} metric keys and this request adds {new} more"
        ),
        setting: "limits.max_metric_keys_per_run",
        limit: limits.max_metric_keys_per_run,
    })
}

/// Count, range and latest point of a series, as `metric_series` stores them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct SeriesAggregates {
    pub count: i64,
    /// Smallest and largest non-NaN value; `None` while every value is NaN.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The greatest point by [`MetricPoint::series_key`]; `None` for an empty series.
    pub latest: Option<MetricPoint>,
}

impl SeriesAggregates {
    /// The aggregates after adding `points` (not yet counted).
    fn with(mut self, points: &[MetricPoint]) -> SeriesAggregates {
        self.count += points.len() as i64;
        for value in points.iter().map(|p| p.value).filter(|v| !v.is_nan()) {
            self.min = Some(self.min.map_or(value, |m| m.min(value)));
            self.max = Some(self.max.map_or(value, |m| m.max(value)));
        }
        let batch_latest = points.iter().max_by_key(|p| p.series_key()).copied();
        self.latest = match (self.latest, batch_latest) {
            (Some(stored), Some(new)) if stored.series_key() >= new.series_key() => Some(stored),
            (stored, new) => new.or(stored),
        };
        self
    }
}

/// The points one request brings to one series, with what the store holds of it.
pub(super) struct SeriesBatch {
    pub series_id: i64,
    /// The series before this batch (default for a new series).
    pub stored: SeriesAggregates,
    pub points: Vec<MetricPoint>,
    /// The series' last stored chunk, when the backend read it to append to (see
    /// [`TailRewrites`]).
    pub tail: Option<TailChunk>,
}

/// A series' last stored chunk (greatest `first_step`, then `last_step`), as its row holds it.
pub(super) struct TailChunk {
    pub id: i64,
    pub first_step: i64,
    pub point_count: usize,
    pub encoding: Encoding,
    pub data: Vec<u8>,
}

impl TailChunk {
    /// A tail as its row reads (`point_count` and `encoding` as stored) of series
    /// `series_id`; fails on a row this build cannot read.
    pub fn from_row(
        series_id: i64,
        id: i64,
        first_step: i64,
        point_count: i64,
        encoding: i64,
        data: Vec<u8>,
    ) -> Result<TailChunk> {
        let chunk = StoredChunk::new(&data, point_count, encoding)
            .ok_or_else(|| corrupt_chunk(series_id))?;
        let (point_count, encoding) = (chunk.count, chunk.encoding);
        Ok(TailChunk {
            id,
            first_step,
            point_count,
            encoding,
            data,
        })
    }
}

/// The error for a stored chunk of series `series_id` that does not decode.
pub(super) fn corrupt_chunk(series_id: i64) -> Error {
    Error::internal(format!("metric chunk of series {series_id} is corrupt"))
}

/// A chunk row to write: a new one, or the stored chunk `replaces` rewritten with the batch's
/// points appended. Its data is in [`ChunkRow::ENCODING`].
pub(super) struct ChunkRow {
    pub replaces: Option<i64>,
    pub first_step: i64,
    pub last_step: i64,
    pub point_count: usize,
    pub data: Vec<u8>,
    /// `chunks::summary`.
    pub summary: Option<Vec<u8>>,
}

impl ChunkRow {
    /// The format of every chunk written (the `encoding` column of the rows).
    pub const ENCODING: Encoding = Encoding::Blocks;

    fn of(points: &[MetricPoint]) -> ChunkRow {
        ChunkRow {
            replaces: None,
            first_step: points[0].step,
            last_step: points[points.len() - 1].step,
            point_count: points.len(),
            data: chunks::encode(points),
            summary: chunks::summary(&Extremes::of(points), points.len()),
        }
    }
}

/// How far a backend grows a series' last chunk by rewriting it: what a rewrite costs differs.
/// A tail is appended to — its row rewritten — while it holds at most `max_points` points
/// and `max_bytes` bytes of data; backends read a tail's data only then.
#[derive(Debug, Clone, Copy)]
pub(super) struct TailRewrites {
    /// Most points of a tail that is read to be rewritten.
    pub max_points: usize,
    /// Most bytes of a tail's data that is rewritten.
    pub max_bytes: usize,
}

/// SQLite rewrites a row's pages whole, into the write-ahead log: a tail is rewritten up to
/// one block (~3 kB, a page). Tails grown to 8,192 points wrote 2.4× the bytes of November's
/// format on every 1,000-point batch, and log-batch from one client ran 20–27 % slower
/// (`docs/benchmarks.md`, issue 18, "Why log-batch from one client is slower").
pub(super) const SQLITE_TAIL_REWRITES: TailRewrites = TailRewrites {
    max_points: BLOCK_POINTS,
    max_bytes: usize::MAX,
};

/// PostgreSQL writes a new row version on each rewrite; one over ~2 kB goes to TOAST, whose
/// dead versions stay until a vacuum (measured: 8,192-point tails rewritten a batch at a
/// time left 138 MB of TOAST for 3 MB of chunks). A tail is rewritten while its data is under
/// TOAST's threshold (2,032 bytes a row), where dead versions are pruned with the page.
pub(super) const POSTGRES_TAIL_REWRITES: TailRewrites = TailRewrites {
    max_points: BLOCK_POINTS,
    max_bytes: 1800,
};

/// Where a stored chunk lies in its series: what a merge is planned from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ChunkExtent {
    pub id: i64,
    pub first_step: i64,
    pub last_step: i64,
    pub point_count: usize,
}

/// A merge is planned from this many of a series' newest chunks: the open tail and the closed
/// chunks behind it, which hold at least a block's worth each when logged in order (a tail
/// is closed once past `max_points`), so the eight that fill a chunk are among them.
pub(super) const MERGE_SCAN: usize = 1 + 2 * MAX_CHUNK_POINTS / BLOCK_POINTS;

/// Closed chunks are merged once together they hold this many points: a merged chunk then has
/// room for less than a block, so only chunks shorter than that (batches that reached back)
/// can join it later, and a point is rewritten by merges about once.
const MERGE_AT: usize = MAX_CHUNK_POINTS - BLOCK_POINTS;

/// Where tails are rewritten only up to a block (SQLite), the closed chunks behind a series'
/// tail are merged into one: from `newest_first` (a series' newest chunks, the first its open
/// tail, which is left alone), the run of closed chunks that lie in order and together fit one
/// chunk, oldest first, once they hold at least [`MERGE_AT`] points; `None` otherwise. Chunks
/// that overlap (batches logged out of order) end the run.
pub(super) fn chunks_to_merge(newest_first: &[ChunkExtent]) -> Option<Vec<ChunkExtent>> {
    let (tail, closed) = newest_first.split_first()?;
    let mut taken = Vec::new();
    let mut points = 0;
    let mut next_first_step = tail.first_step;
    for chunk in closed {
        if chunk.last_step > next_first_step || points + chunk.point_count > MAX_CHUNK_POINTS {
            break;
        }
        points += chunk.point_count;
        next_first_step = chunk.first_step;
        taken.push(*chunk);
    }
    if taken.len() < 2 || points < MERGE_AT {
        return None;
    }
    taken.reverse();
    Some(taken)
}

/// The chunk row that holds every point of `parts` (stored chunks of series `series_id`:
/// their point count, encoding and data), in series order. Fails on a part that does not
/// decode (a corrupt row).
pub(super) fn merged_chunk<'a>(
    series_id: i64,
    parts: impl IntoIterator<Item = (usize, i64, &'a [u8])>,
) -> Result<ChunkRow> {
    let mut points = Vec::with_capacity(MAX_CHUNK_POINTS);
    for (count, encoding, data) in parts {
        StoredChunk::new(data, count as i64, encoding)
            .and_then(|chunk| chunk.decode_into(&mut points))
            .ok_or_else(|| corrupt_chunk(series_id))?;
    }
    if !points.is_sorted_by_key(MetricPoint::series_key) {
        points.sort_by_key(MetricPoint::series_key);
    }
    if points.is_empty() {
        return Err(corrupt_chunk(series_id));
    }
    Ok(ChunkRow::of(&points))
}

impl SeriesBatch {
    /// Sorts the points in series order and drops those repeating an earlier one of the batch
    /// (the first wins); returns how many it dropped.
    fn sort_and_dedup(&mut self) -> usize {
        let before = self.points.len();
        if !self.points.is_sorted_by_key(MetricPoint::series_key) {
            self.points.sort_by_key(MetricPoint::series_key);
        }
        self.points
            .dedup_by(|later, earlier| later.same_point(earlier));
        before - self.points.len()
    }

    /// The step range of the stored points the batch may repeat, or `None` when it cannot
    /// repeat any: every step of the batch lies above the highest stored step (the usual case,
    /// which spares reading stored points). Call after [`prepare`].
    pub fn stored_range(&self) -> Option<(i64, i64)> {
        let stored_max_step = self.stored.latest?.step;
        match (self.points.first(), self.points.last()) {
            (Some(first), Some(last)) if first.step <= stored_max_step => {
                Some((first.step, last.step.min(stored_max_step)))
            }
            _ => None,
        }
    }

    /// Drops the points of the batch equal to one of `stored` (the stored points of
    /// [`stored_range`]); returns how many it dropped.
    pub fn drop_stored(&mut self, stored: &[MetricPoint]) -> usize {
        if stored.is_empty() {
            return 0;
        }
        let keys: HashSet<_> = stored.iter().map(MetricPoint::series_key).collect();
        let before = self.points.len();
        self.points.retain(|p| !keys.contains(&p.series_key()));
        before - self.points.len()
    }

    /// The series' aggregates once the batch's (remaining) points are stored.
    pub fn aggregates(&self) -> SeriesAggregates {
        self.stored.with(&self.points)
    }

    /// Whether the backend should read the series' last chunk to append to: the series has
    /// points and every point of the batch comes after them. Call after [`prepare`].
    pub fn may_append_to_tail(&self) -> bool {
        self.stored.count > 0 && !self.points.is_empty() && self.stored_range().is_none()
    }

    /// The chunk rows that store the batch's (remaining) points: appended to its
    /// [`tail`](SeriesBatch::tail) when that is short enough ([`TailRewrites`]) and the batch
    /// comes after it, else chunks of at most `MAX_CHUNK_POINTS` of their own. Fails on a
    /// tail that does not decode (a corrupt row).
    pub fn chunk_rows(&self, rewrites: TailRewrites) -> Result<Vec<ChunkRow>> {
        let mut rows = Vec::with_capacity(self.points.len().div_ceil(MAX_CHUNK_POINTS) + 1);
        let mut rest = &self.points[..];
        if let Some((merged, taken)) = self.appended_to_tail(rewrites)? {
            rows.push(merged);
            rest = &rest[taken..];
        }
        rows.extend(rest.chunks(MAX_CHUNK_POINTS).map(ChunkRow::of));
        Ok(rows)
    }

    /// The tail rewritten with the first points of the batch appended (as many as fit), and
    /// how many it took; `None` when the batch does not go onto the tail.
    fn appended_to_tail(&self, rewrites: TailRewrites) -> Result<Option<(ChunkRow, usize)>> {
        let Some(tail) = &self.tail else {
            return Ok(None);
        };
        if !self.may_append_to_tail()
            || tail.point_count == 0
            || tail.point_count > rewrites.max_points
            || tail.data.len() > rewrites.max_bytes
        {
            return Ok(None);
        }
        let taken = (MAX_CHUNK_POINTS - tail.point_count).min(self.points.len());
        let points = &self.points[..taken];
        let corrupt = || corrupt_chunk(self.series_id);
        let point_count = tail.point_count + points.len();
        let data = match tail.encoding {
            Encoding::Blocks => chunks::append(&tail.data, points).ok_or_else(corrupt)?,
            // A chunk of the earlier format is decoded once and written in the new one.
            Encoding::Packed => {
                let mut merged = Vec::with_capacity(point_count);
                chunks::decode_into(&tail.data, tail.point_count, tail.encoding, &mut merged)
                    .ok_or_else(corrupt)?;
                // The tail holds stored points, which all come before the batch; checked
                // anyway, as a chunk must stay in series order.
                if merged.last().map(MetricPoint::series_key) > Some(points[0].series_key()) {
                    return Ok(None);
                }
                merged.extend_from_slice(points);
                chunks::encode(&merged)
            }
        };
        let extremes = chunks::extremes(&data).ok_or_else(corrupt)?;
        let row = ChunkRow {
            replaces: Some(tail.id),
            first_step: tail.first_step,
            last_step: points[taken - 1].step,
            point_count,
            summary: chunks::summary(&extremes, point_count),
            data,
        };
        Ok(Some((row, taken)))
    }
}

/// Whether `points` append to a series holding `stored`: every step above the highest stored
/// one, so no point can repeat a stored one ([`SeriesBatch::stored_range`] is `None`) and the
/// points go after the series' last chunk.
pub(super) fn appends(stored: &SeriesAggregates, points: &[MetricPoint]) -> bool {
    match stored.latest {
        None => true,
        Some(latest) => points.iter().all(|p| p.step > latest.step),
    }
}

/// Sorts and de-duplicates every batch (see [`SeriesBatch`]); returns the duplicates dropped.
pub(super) fn prepare(batches: &mut [SeriesBatch]) -> usize {
    batches.iter_mut().map(SeriesBatch::sort_and_dedup).sum()
}

/// Points a request wrote: the batches' points left after dropping duplicates.
pub(super) fn written(batches: &[SeriesBatch]) -> usize {
    batches.iter().map(|b| b.points.len()).sum()
}

/// Splits the contexts of a request's points: those naming a model become the model's metrics
/// (with their dataset); those with a dataset alone stay contexts of the run's points. Points
/// with neither have no context to keep.
pub(super) fn split_contexts(contexts: Vec<PointContext>) -> (Vec<ModelMetric>, Vec<PointContext>) {
    let mut models = Vec::new();
    let mut datasets = Vec::new();
    for c in contexts {
        match c.model_id {
            Some(model_id) => models.push(ModelMetric {
                model_id,
                run_id: c.run_id,
                key: c.key,
                value: c.value,
                step: c.step,
                timestamp: c.timestamp,
                dataset_name: c.dataset_name,
                dataset_digest: c.dataset_digest,
            }),
            None if c.dataset_name.is_some() || c.dataset_digest.is_some() => datasets.push(c),
            None => {}
        }
    }
    (models, datasets)
}

/// The items of `incoming` whose identity is not that of one of `stored` or of an earlier one.
fn unseen<'a, T, K: Eq + std::hash::Hash>(
    incoming: &'a [T],
    stored: &[T],
    identity: impl Fn(&T) -> K,
) -> Vec<&'a T> {
    let mut seen: HashSet<K> = stored.iter().map(&identity).collect();
    incoming
        .iter()
        .filter(|m| seen.insert(identity(m)))
        .collect()
}

/// The fields a model metric and a dataset context share: a point of a run's metric and the
/// dataset it was computed on. Both context tables store these columns.
pub(super) struct PointRow<'a> {
    pub run_id: &'a str,
    pub key: &'a str,
    pub step: i64,
    pub timestamp: i64,
    pub value: f64,
    pub dataset_name: Option<&'a str>,
    pub dataset_digest: Option<&'a str>,
}

impl PointRow<'_> {
    /// Identical rows are one: same run, key, dataset and [`MetricPoint::same_point`].
    fn identity(&self) -> impl Eq + std::hash::Hash + use<> {
        let point = MetricPoint::new(self.step, self.timestamp, self.value);
        (
            (self.run_id.to_owned(), self.key.to_owned()),
            (
                self.dataset_name.map(str::to_owned),
                self.dataset_digest.map(str::to_owned),
            ),
            point.series_key(),
        )
    }
}

impl<'a> From<&'a ModelMetric> for PointRow<'a> {
    fn from(m: &'a ModelMetric) -> Self {
        PointRow {
            run_id: &m.run_id,
            key: &m.key,
            step: m.step,
            timestamp: m.timestamp,
            value: m.value,
            dataset_name: m.dataset_name.as_deref(),
            dataset_digest: m.dataset_digest.as_deref(),
        }
    }
}

impl<'a> From<&'a PointContext> for PointRow<'a> {
    fn from(c: &'a PointContext) -> Self {
        PointRow {
            run_id: &c.run_id,
            key: &c.key,
            step: c.step,
            timestamp: c.timestamp,
            value: c.value,
            dataset_name: c.dataset_name.as_deref(),
            dataset_digest: c.dataset_digest.as_deref(),
        }
    }
}

/// The model metrics of a request to store: those not identical (same model and
/// [`PointRow`]) to one of `stored` (the stored metrics of the request's models and keys) or to
/// an earlier one of the request.
pub(super) fn new_model_metrics<'a>(
    incoming: &'a [ModelMetric],
    stored: &[ModelMetric],
) -> Vec<&'a ModelMetric> {
    unseen(incoming, stored, |m| {
        (m.model_id.clone(), PointRow::from(m).identity())
    })
}

/// The dataset contexts of a request to store: those not identical (as [`PointRow`]s) to one
/// of `stored` (the stored contexts of the request's run and keys) or to an earlier one of the
/// request.
pub(super) fn new_point_datasets<'a>(
    incoming: &'a [PointContext],
    stored: &[PointContext],
) -> Vec<&'a PointContext> {
    unseen(incoming, stored, |c| PointRow::from(c).identity())
}

/// Finishes a read of stored chunks (decoded in `first_step` order; chunks of batches logged
/// out of order overlap): keeps `low <= step <= high` and puts the points in series order.
pub(super) fn finish_read(points: &mut Vec<MetricPoint>, low: i64, high: i64) {
    points.retain(|p| (low..=high).contains(&p.step));
    if !points.is_sorted_by_key(MetricPoint::series_key) {
        points.sort_by_key(MetricPoint::series_key);
    }
}

/// The answer to a series read from its points (finished by [`finish_read`]): downsampled
/// when the request asks for fewer points than there are.
pub(super) fn series_answer(
    key: &str,
    points: Vec<MetricPoint>,
    request: &SeriesRequest,
) -> MetricSeries {
    let total_points = points.len() as i64;
    if let (Some(max_points), Some(first), Some(last)) =
        (request.max_points, points.first(), points.last())
        && points.len() > max_points
    {
        let mut sampler = MinMaxDownsampler::new(first.step, last.step, max_points);
        points.iter().for_each(|p| sampler.push(*p));
        return MetricSeries {
            key: key.to_owned(),
            points: sampler.finish(),
            total_points,
            downsampled: true,
        };
    }
    MetricSeries {
        key: key.to_owned(),
        points,
        total_points,
        downsampled: false,
    }
}

/// A stored chunk as a downsampled read first sees it: its range, size and summary, not its
/// points.
pub(super) struct ChunkInfo {
    pub id: i64,
    pub first_step: i64,
    pub last_step: i64,
    pub point_count: usize,
    /// `chunks::read_summary` of the row's summary, when it has one.
    pub summary: Option<Extremes>,
}

/// A read of a series downsampled to `max_points` that decodes only the chunks it must: the
/// chunks that reach outside the step range asked for, and the chunks that span more than
/// one bucket of the downsampler or have no summary; every other chunk adds its summary (the
/// points of a chunk in one bucket count only by their extremes). The answer is the one
/// [`series_answer`] gives from every point.
///
/// Used as: [`new`](Self::new) with the chunks overlapping the range (in `first_step, last_step, id`
/// order); decode [`edges`](Self::edges) and [`add`](Self::add) them; decode
/// [`needed`](Self::needed) and add them; [`finish`](Self::finish).
pub(super) struct DownsampledRead {
    chunks: Vec<ChunkInfo>,
    low: i64,
    high: i64,
    max_points: usize,
    /// The points (within `low..=high`) of the chunks decoded so far, by chunk id.
    decoded: HashMap<i64, Vec<MetricPoint>>,
    /// Chunks read block by block (see [`add_stored`](Self::add_stored)), by chunk id.
    in_blocks: HashMap<i64, Vec<Piece>>,
    /// The downsampler's buckets, once the edges are added and the range holds more than
    /// `max_points` points (set by [`needed`](Self::needed)).
    buckets: Option<MinMaxDownsampler>,
}

/// A block of a chunk as a downsampled read takes it: its points, or only its extremes when
/// it falls in one bucket.
enum Piece {
    Points(Vec<MetricPoint>),
    Extremes(Extremes),
}

impl DownsampledRead {
    /// `None` when the request reads every point, or when chunks overlap (a series logged out
    /// of order: only a full read puts its points in order); read every point then.
    pub fn new(chunks: Vec<ChunkInfo>, request: &SeriesRequest) -> Option<DownsampledRead> {
        let max_points = request.max_points?;
        if chunks.windows(2).any(|w| w[0].last_step >= w[1].first_step) {
            return None;
        }
        Some(DownsampledRead {
            chunks,
            low: request.start_step.unwrap_or(i64::MIN),
            high: request.end_step.unwrap_or(i64::MAX),
            max_points,
            decoded: HashMap::new(),
            in_blocks: HashMap::new(),
            buckets: None,
        })
    }

    fn inside(&self, chunk: &ChunkInfo) -> bool {
        self.low <= chunk.first_step && chunk.last_step <= self.high
    }

    /// The chunks reaching outside the step range: their points in it are needed to know how
    /// many points the range holds and where it starts and ends.
    pub fn edges(&self) -> Vec<i64> {
        self.chunks
            .iter()
            .filter(|c| !self.inside(c))
            .map(|c| c.id)
            .collect()
    }

    /// Adds decoded chunks (`points`: a chunk's points, in series order).
    fn add(&mut self, id: i64, mut points: Vec<MetricPoint>) {
        points.retain(|p| (self.low..=self.high).contains(&p.step));
        self.decoded.insert(id, points);
    }

    /// Adds a chunk as its row stores it: once
    /// [`needed`](Self::needed) has set the buckets, a chunk in blocks is read block by block
    /// — a block within one bucket by its extremes, the others decoded — else every point is
    /// decoded. `None` if the data is corrupt.
    pub fn add_stored(&mut self, id: i64, chunk: StoredChunk) -> Option<()> {
        let StoredChunk {
            data,
            count,
            encoding,
        } = chunk;
        if let (Encoding::Blocks, Some(buckets)) = (encoding, &self.buckets) {
            let blocks = chunks::blocks(data)?;
            if blocks.iter().map(|b| b.count).sum::<usize>() != count {
                return None;
            }
            let mut pieces = Vec::with_capacity(blocks.len());
            for block in blocks {
                if buckets.one_bucket(block.first_step, block.last_step) {
                    pieces.push(Piece::Extremes(block.extremes));
                } else {
                    let mut points = Vec::with_capacity(block.count);
                    chunks::decode_block(data, &block, &mut points)?;
                    pieces.push(Piece::Points(points));
                }
            }
            self.in_blocks.insert(id, pieces);
            return Some(());
        }
        let mut points = Vec::with_capacity(count);
        chunk.decode_into(&mut points)?;
        self.add(id, points);
        Some(())
    }

    /// How many points the range holds (call after adding the edges).
    fn total(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| match self.decoded.get(&c.id) {
                Some(points) => points.len(),
                None => c.point_count,
            })
            .sum()
    }

    /// The first and last step of the points in the range (call after adding the edges).
    fn step_range(&self) -> Option<(i64, i64)> {
        let steps = |c: &ChunkInfo| match self.decoded.get(&c.id) {
            Some(points) => points
                .first()
                .zip(points.last())
                .map(|(a, b)| (a.step, b.step)),
            None => Some((c.first_step, c.last_step)),
        };
        let first = self.chunks.iter().find_map(steps)?.0;
        let last = self.chunks.iter().rev().find_map(steps)?.1;
        Some((first, last))
    }

    fn sampler(&self) -> Option<MinMaxDownsampler> {
        if self.total() <= self.max_points {
            return None;
        }
        let (first, last) = self.step_range()?;
        Some(MinMaxDownsampler::new(first, last, self.max_points))
    }

    /// The chunks still to decode once the edges are added: every one when the range holds
    /// no more than `max_points` points, else those without a summary or spanning buckets.
    pub fn needed(&mut self) -> Vec<i64> {
        self.buckets = self.sampler();
        let sampler = &self.buckets;
        self.chunks
            .iter()
            .filter(|c| !self.decoded.contains_key(&c.id))
            .filter(|c| match (sampler, c.summary) {
                (Some(sampler), Some(_)) => !sampler.one_bucket(c.first_step, c.last_step),
                _ => true,
            })
            .map(|c| c.id)
            .collect()
    }

    /// The answer, once the chunks of [`needed`](Self::needed) are added.
    pub fn finish(mut self, key: &str) -> MetricSeries {
        let total_points = self.total() as i64;
        let Some(mut sampler) = self.sampler() else {
            let points = self
                .chunks
                .iter()
                .flat_map(|c| self.decoded.remove(&c.id).unwrap_or_default())
                .collect();
            return MetricSeries {
                key: key.to_owned(),
                points,
                total_points,
                downsampled: false,
            };
        };
        for chunk in &self.chunks {
            if let Some(pieces) = self.in_blocks.get(&chunk.id) {
                for piece in pieces {
                    match piece {
                        Piece::Points(points) => points.iter().for_each(|p| sampler.push(*p)),
                        Piece::Extremes(extremes) => sampler.push_extremes(extremes),
                    }
                }
                continue;
            }
            match (self.decoded.get(&chunk.id), &chunk.summary) {
                (Some(points), _) => points.iter().for_each(|p| sampler.push(*p)),
                (None, Some(extremes)) => sampler.push_extremes(extremes),
                (None, None) => {}
            }
        }
        MetricSeries {
            key: key.to_owned(),
            points: sampler.finish(),
            total_points,
            downsampled: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(step: i64, timestamp: i64, value: f64) -> MetricPoint {
        MetricPoint::new(step, timestamp, value)
    }

    fn batch(stored: SeriesAggregates, points: Vec<MetricPoint>) -> SeriesBatch {
        SeriesBatch {
            series_id: 1,
            stored,
            points,
            tail: None,
        }
    }

    #[test]
    fn same_step_and_time_with_other_values_are_all_kept() {
        let mut batches = vec![batch(
            SeriesAggregates::default(),
            vec![
                p(5, 1, 1e9),
                p(5, 1, 1.0),
                p(5, 1, 1.0),
                p(5, 1, f64::NAN),
                p(5, 1, -f64::NAN),
            ],
        )];
        assert_eq!(prepare(&mut batches), 2);
        let values: Vec<String> = batches[0]
            .points
            .iter()
            .map(|p| format!("{:?}", p.value))
            .collect();
        assert_eq!(values, ["NaN", "1.0", "1000000000.0"], "NaN ranks as 0");
        assert_eq!(written(&batches), 3);
        let aggregates = batches[0].aggregates();
        assert_eq!(aggregates.count, 3);
        assert_eq!((aggregates.min, aggregates.max), (Some(1.0), Some(1e9)));
        assert_eq!(aggregates.latest, Some(p(5, 1, 1e9)));
    }

    #[test]
    fn only_batches_reaching_back_are_checked_against_stored_points() {
        let stored = SeriesAggregates {
            count: 3,
            min: Some(0.0),
            max: Some(2.0),
            latest: Some(p(10, 100, 2.0)),
        };
        let mut above = batch(stored, vec![p(11, 1, 0.0), p(12, 1, 0.0)]);
        prepare(std::slice::from_mut(&mut above));
        assert_eq!(above.stored_range(), None);
        let mut back = batch(
            stored,
            vec![p(20, 1, 0.0), p(10, 100, 2.0), p(10, 100, 3.0)],
        );
        prepare(std::slice::from_mut(&mut back));
        assert_eq!(back.stored_range(), Some((10, 10)));
        assert_eq!(back.drop_stored(&[p(10, 100, 2.0)]), 1);
        assert_eq!(back.points, [p(10, 100, 3.0), p(20, 1, 0.0)]);
        let merged = back.aggregates();
        assert_eq!(merged.count, 5);
        assert_eq!((merged.min, merged.max), (Some(0.0), Some(3.0)));
        assert_eq!(merged.latest, Some(p(20, 1, 0.0)));
        assert_eq!(
            batch(SeriesAggregates::default(), vec![]).stored_range(),
            None
        );
    }

    #[test]
    fn latest_is_the_greatest_by_step_timestamp_value() {
        let stored = SeriesAggregates {
            count: 1,
            min: Some(5.0),
            max: Some(5.0),
            latest: Some(p(3, 10, 5.0)),
        };
        let lower = batch(stored, vec![p(3, 10, 4.0)]).aggregates();
        assert_eq!(lower.latest, Some(p(3, 10, 5.0)));
        let higher = batch(stored, vec![p(3, 10, 6.0), p(2, 99, 9.0)]).aggregates();
        assert_eq!(higher.latest, Some(p(3, 10, 6.0)));
        let nans = batch(SeriesAggregates::default(), vec![p(1, 1, f64::NAN)]).aggregates();
        assert_eq!((nans.count, nans.min, nans.max), (1, None, None));
        assert!(nans.latest.unwrap().value.is_nan());
    }

    #[test]
    fn key_limit_counts_only_new_keys() {
        let limits = StoreLimits {
            max_concurrent_experiments: 1,
            max_runs_per_experiment: 1,
            max_metric_keys_per_run: 3,
        };
        assert!(check_key_limit("r", 3, 0, &limits).is_ok());
        assert!(check_key_limit("r", 1, 2, &limits).is_ok());
        match check_key_limit("r", 2, 2, &limits) {
            Err(Error::LimitExceeded {
                message,
                setting,
                limit,
            }) => {
                assert_eq!(
                    message,
                    "run 'r' has 2 metric keys and this request adds 2 more"
                );
                assert_eq!((setting, limit), ("limits.max_metric_keys_per_run", 3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn model_metrics_are_new_unless_identical_in_value_too() {
        let metric = |model_id: &str, step: i64, value: f64| ModelMetric {
            model_id: model_id.into(),
            run_id: "r".into(),
            key: "acc".into(),
            value,
            step,
            timestamp: 9,
            dataset_name: None,
            dataset_digest: None,
        };
        let stored = [metric("m1", 1, 0.5), metric("m1", 2, f64::NAN)];
        let incoming = [
            metric("m1", 1, 0.5),
            metric("m1", 1, 0.7),
            metric("m1", 1, 0.7),
            metric("m1", 2, f64::NAN),
            metric("m2", 1, 0.5),
        ];
        let new = new_model_metrics(&incoming, &stored);
        assert_eq!(new, [&incoming[1], &incoming[4]]);
    }

    /// Chunks of 8,192 points in blocks, read downsampled block by block (extremes of the
    /// blocks within a bucket, the others decoded): exactly what downsampling every point
    /// gives, for ranges cutting chunks and blocks, and with buckets wider and narrower than
    /// a block.
    #[test]
    fn downsampled_reads_of_chunks_in_blocks_match_every_point() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let points: Vec<MetricPoint> = (0..20_000i64)
            .map(|i| {
                let value = match next(100) {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => -0.0,
                    v => (v % 13) as f64 + (i as f64 / 1000.0).sin(),
                };
                p(3 * i + next(2) as i64, 1_765_000_000_000 + 50 * i, value)
            })
            .collect::<Vec<_>>();
        let mut points = points;
        points.sort_by_key(MetricPoint::series_key);
        let rows: Vec<ChunkRow> = points.chunks(MAX_CHUNK_POINTS).map(ChunkRow::of).collect();
        let mut by_blocks = 0;
        for (low, high, max_points) in [
            (i64::MIN, i64::MAX, 2),
            (i64::MIN, i64::MAX, 6),
            (i64::MIN, i64::MAX, 20),
            (i64::MIN, i64::MAX, 1000),
            (5000, 50_000, 4),
            (100, 59_000, 10),
            (30_000, i64::MAX, 7),
        ] {
            let request = SeriesRequest {
                start_step: Some(low),
                end_step: Some(high),
                max_points: Some(max_points),
            };
            let infos = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.first_step <= high && r.last_step >= low)
                .map(|(id, r)| ChunkInfo {
                    id: id as i64,
                    first_step: r.first_step,
                    last_step: r.last_step,
                    point_count: r.point_count,
                    summary: r.summary.as_deref().and_then(chunks::read_summary),
                })
                .collect();
            let mut read = DownsampledRead::new(infos, &request).expect("chunks in order");
            let stored = |id: i64| {
                let row = &rows[id as usize];
                StoredChunk::new(
                    &row.data,
                    row.point_count as i64,
                    ChunkRow::ENCODING.column(),
                )
                .expect("a chunk")
            };
            for id in read.edges() {
                read.add_stored(id, stored(id)).expect("decodes");
            }
            for id in read.needed() {
                read.add_stored(id, stored(id)).expect("decodes");
            }
            by_blocks += read
                .in_blocks
                .values()
                .flatten()
                .filter(|p| matches!(p, Piece::Extremes(_)))
                .count();
            let got = read.finish("k");
            let mut every = points.clone();
            finish_read(&mut every, low, high);
            let want = series_answer("k", every, &request);
            let bits = |s: &MetricSeries| -> Vec<(i64, i64, u64)> {
                s.points
                    .iter()
                    .map(|p| (p.step, p.timestamp, p.value.to_bits()))
                    .collect()
            };
            assert_eq!(bits(&got), bits(&want), "{request:?}");
            assert_eq!(
                (got.total_points, got.downsampled),
                (want.total_points, want.downsampled)
            );
        }
        assert!(by_blocks > 10, "{by_blocks} blocks read by their extremes");
    }

    /// Closed chunks merge once together they nearly fill a chunk, oldest first; the open
    /// tail, a chunk they would overfill and a chunk out of order end the run.
    #[test]
    fn closed_chunks_merge_once_they_nearly_fill_a_chunk() {
        let extent = |id: i64, point_count: usize| ChunkExtent {
            id,
            first_step: id * 10_000,
            last_step: id * 10_000 + point_count as i64 - 1,
            point_count,
        };
        let ids = |parts: Option<Vec<ChunkExtent>>| {
            parts.map(|parts| parts.iter().map(|p| p.id).collect::<Vec<_>>())
        };
        // The tail (9) and eight closed chunks of 1,100 points: the seven newest fit one chunk.
        let newest_first: Vec<ChunkExtent> = (1..=9).rev().map(|id| extent(id, 1100)).collect();
        assert_eq!(
            ids(chunks_to_merge(&newest_first)),
            Some(vec![2, 3, 4, 5, 6, 7, 8])
        );
        // Six closed chunks (6,600 points) wait for more.
        assert_eq!(ids(chunks_to_merge(&newest_first[..7])), None);
        // A chunk the run would overfill ends it: 7,000 + 1,100 + 1,100 > 8,192.
        let behind_full = [
            extent(9, 100),
            extent(8, 1100),
            extent(7, 1100),
            extent(6, 7000),
        ];
        assert_eq!(ids(chunks_to_merge(&behind_full)), None);
        let fills = [extent(9, 100), extent(8, 1100), extent(7, 7000)];
        assert_eq!(ids(chunks_to_merge(&fills)), Some(vec![7, 8]));
        // A chunk reaching past the next one's first step ends the run.
        let mut out_of_order: Vec<ChunkExtent> = (1..=9).rev().map(|id| extent(id, 1100)).collect();
        out_of_order[4].last_step = out_of_order[3].first_step + 1;
        assert_eq!(ids(chunks_to_merge(&out_of_order)), None);
        // The merged chunk holds the parts' points in series order, whatever their format.
        let first: Vec<MetricPoint> = (0..1100).map(|i| p(i, i, (i % 13) as f64)).collect();
        let second: Vec<MetricPoint> = (1100..2000).map(|i| p(i, i, f64::NAN)).collect();
        let (a, b) = (chunks::packed_for_tests(&first), chunks::encode(&second));
        let row = merged_chunk(
            1,
            [
                (first.len(), Encoding::Packed.column(), a.as_slice()),
                (second.len(), Encoding::Blocks.column(), b.as_slice()),
            ],
        )
        .expect("merges");
        assert_eq!(
            (row.replaces, row.first_step, row.last_step, row.point_count),
            (None, 0, 1999, 2000)
        );
        let mut out = Vec::new();
        chunks::decode_into(&row.data, 2000, ChunkRow::ENCODING, &mut out).expect("decodes");
        let all: Vec<MetricPoint> = first.iter().chain(&second).copied().collect();
        let bits = |points: &[MetricPoint]| -> Vec<(i64, i64, u64)> {
            points
                .iter()
                .map(|p| (p.step, p.timestamp, p.value.to_bits()))
                .collect()
        };
        assert_eq!(bits(&out), bits(&all));
        assert!(merged_chunk(1, [(5, Encoding::Blocks.column(), &b[..3])]).is_err());
    }

    /// A batch appended to a tail in blocks is encoded alone onto it; a tail of the earlier
    /// format is decoded and written anew; either way the row holds every point and its
    /// summary covers them all.
    #[test]
    fn batches_append_to_tails_of_either_format() {
        let stored: Vec<MetricPoint> = (0..500).map(|i| p(i, i, (i % 17) as f64)).collect();
        let batch_points: Vec<MetricPoint> = (500..600).map(|i| p(i, i, -1.0)).collect();
        for (encoding, data) in [
            (Encoding::Blocks, chunks::encode(&stored)),
            (Encoding::Packed, chunks::packed_for_tests(&stored)),
        ] {
            let mut batch = batch(
                SeriesAggregates {
                    count: 500,
                    min: Some(0.0),
                    max: Some(16.0),
                    latest: stored.last().copied(),
                },
                batch_points.clone(),
            );
            batch.tail = Some(TailChunk {
                id: 9,
                first_step: 0,
                point_count: stored.len(),
                encoding,
                data,
            });
            let rows = batch.chunk_rows(SQLITE_TAIL_REWRITES).expect("appends");
            assert_eq!(rows.len(), 1);
            let row = &rows[0];
            assert_eq!(
                (row.replaces, row.first_step, row.last_step, row.point_count),
                (Some(9), 0, 599, 600)
            );
            let mut out = Vec::new();
            chunks::decode_into(&row.data, 600, ChunkRow::ENCODING, &mut out).expect("decodes");
            let mut all = stored.clone();
            all.extend_from_slice(&batch_points);
            assert_eq!(out, all, "{encoding:?}");
            let summary = chunks::read_summary(row.summary.as_deref().expect("summarised"));
            assert_eq!(summary.and_then(|s| s.low).map(|p| p.step), Some(500));
            assert_eq!(summary.and_then(|s| s.high).map(|p| p.step), Some(16));
        }
        // A batch larger than the room left fills the tail up and starts new chunks.
        let stored: Vec<MetricPoint> = (0..8000).map(|i| p(i, i, 0.5)).collect();
        let mut big = batch(
            SeriesAggregates {
                count: 8000,
                min: Some(0.5),
                max: Some(0.5),
                latest: stored.last().copied(),
            },
            (8000..8000 + 10_000).map(|i| p(i, i, 0.25)).collect(),
        );
        big.tail = Some(TailChunk {
            id: 3,
            first_step: 0,
            point_count: stored.len(),
            encoding: Encoding::Blocks,
            data: chunks::encode(&stored),
        });
        // On SQLite a tail past one block is left alone: rewriting it would cost more than
        // the batch's own rows.
        let fresh = big.chunk_rows(SQLITE_TAIL_REWRITES).expect("writes");
        assert!(fresh.iter().all(|r| r.replaces.is_none()));
        assert_eq!(fresh.len(), 2);
        let rows = big
            .chunk_rows(TailRewrites {
                max_points: MAX_CHUNK_POINTS,
                max_bytes: usize::MAX,
            })
            .expect("appends");
        let shape: Vec<_> = rows
            .iter()
            .map(|r| (r.replaces, r.first_step, r.last_step, r.point_count))
            .collect();
        // Where rewrites are capped in bytes (PostgreSQL), a tail past the cap is left alone.
        let capped = big
            .chunk_rows(TailRewrites {
                max_points: MAX_CHUNK_POINTS,
                max_bytes: 1000,
            })
            .expect("writes");
        assert!(capped.iter().all(|r| r.replaces.is_none()));
        assert_eq!(capped.len(), 2);
        assert_eq!(
            shape,
            [
                (Some(3), 0, 8191, 8192),
                (None, 8192, 16_383, 8192),
                (None, 16_384, 17_999, 1616)
            ]
        );
    }

    #[test]
    fn reads_are_finished_in_series_order() {
        let mut points = vec![p(5, 1, 2.0), p(1, 1, 0.0), p(5, 1, 1.0), p(9, 1, 0.0)];
        finish_read(&mut points, 2, 8);
        assert_eq!(points, [p(5, 1, 1.0), p(5, 1, 2.0)]);
    }
}
