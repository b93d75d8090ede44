//! What this instance last wrote of each metric series — id, aggregates, last chunk — so that
//! its next append can be planned without reading the series first (PostgreSQL:
//! `store/postgres/appends.rs`, one round trip a call instead of three).
//!
//! A hint, never the truth: several instances may write one series, so a write planned on a
//! cached state sends, with its statements, a check that the series is still in that state
//! ([`SeriesCheck`]), and is written the ordinary way (reading the series) when it is not. An
//! entry is taken out of the cache while its write is in flight and put back only once that
//! write committed: a write that failed, or was abandoned with its outcome unknown, leaves no
//! entry behind, and two concurrent writes to one series do not both plan on it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ets_domain::model::SeriesPoints;

use super::chunks::MAX_CHUNK_POINTS;
use super::ingest::{self, ChunkRow, SeriesAggregates, SeriesBatch, TailChunk, TailRewrites};

/// How the planned writes grow a series' last chunk: PostgreSQL's rule (its only user).
const REWRITES: TailRewrites = ingest::POSTGRES_TAIL_REWRITES;

/// Series kept. A tail's data is kept only while it may still be rewritten (`REWRITES`: at
/// most ~1.8 kB), so the cache stays under ~8 MB.
const MAX_SERIES: usize = 4_096;

/// Requests larger than this go the ordinary way: they amortise their round trips, and their
/// new chunks may be too many for one `INSERT` (the backend loads many by `COPY`).
const MAX_PLANNED_POINTS: usize = 16 * MAX_CHUNK_POINTS;
const MAX_PLANNED_SERIES: usize = 32;

/// The cached series of this instance, by run and key.
#[derive(Default)]
pub(super) struct SeriesCache {
    entries: Mutex<HashMap<(String, String), CachedSeries>>,
    /// Writes planned on cached states, and those of them that found a series changed.
    planned: AtomicU64,
    stale: AtomicU64,
}

/// A series as this instance left it after a write.
#[derive(Debug)]
pub(super) struct CachedSeries {
    pub key: String,
    pub series_id: i64,
    pub stored: SeriesAggregates,
    /// The series' last chunk: its id, first step and size, and its data while more points
    /// may be appended to it (`REWRITES`; written in `ChunkRow::ENCODING`).
    pub tail_id: i64,
    pub tail_first_step: i64,
    pub tail_count: usize,
    pub tail_data: Option<Vec<u8>>,
}

/// What a planned write checks of each series before writing (all of it, in one statement):
/// the series holds `point_count` points up to `last_step`, and its last chunk is `tail_id`
/// with `tail_count` points. Every write of a series changes its count (a write that stores no
/// point changes nothing), so an equal count means nobody wrote since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SeriesCheck {
    pub series_id: i64,
    pub point_count: i64,
    pub last_step: i64,
    pub tail_id: i64,
    pub tail_count: i32,
}

/// A request's series, planned on their cached states.
pub(super) struct PlannedAppend {
    pub key: String,
    pub check: SeriesCheck,
    /// The points (not yet prepared: `ingest::prepare`) with the cached aggregates and tail.
    pub batch: SeriesBatch,
}

impl CachedSeries {
    /// The series of `batch` (`key`) once the batch — an append — is stored, its last chunk
    /// written as `last_row` with id `last_id`.
    pub fn after_append(
        key: String,
        batch: &SeriesBatch,
        last_row: ChunkRow,
        last_id: i64,
    ) -> CachedSeries {
        CachedSeries {
            key,
            series_id: batch.series_id,
            stored: batch.aggregates(),
            tail_id: last_id,
            tail_first_step: last_row.first_step,
            tail_count: last_row.point_count,
            tail_data: (last_row.point_count <= REWRITES.max_points
                && last_row.data.len() <= REWRITES.max_bytes)
                .then_some(last_row.data),
        }
    }

    fn check(&self) -> Option<SeriesCheck> {
        Some(SeriesCheck {
            series_id: self.series_id,
            point_count: self.stored.count,
            last_step: self.stored.latest?.step,
            tail_id: self.tail_id,
            tail_count: i32::try_from(self.tail_count).ok()?,
        })
    }
}

impl SeriesCache {
    /// The request's series (merged by key: `ingest::merge_groups`) planned on their cached
    /// states, taken out of the cache — when every one is cached, has points in the request
    /// and is appended to (every step above the stored ones: [`ingest::appends`]). Otherwise
    /// the points back, and the request's series leave the cache: the ordinary write about to
    /// change them puts them back ([`remember`](Self::remember)).
    pub fn take_planned(
        &self,
        run_id: &str,
        groups: Vec<SeriesPoints>,
    ) -> Result<Vec<PlannedAppend>, Vec<SeriesPoints>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = groups.iter().map(|g| g.points.len()).sum();
        let plannable = total <= MAX_PLANNED_POINTS
            && groups.len() <= MAX_PLANNED_SERIES
            && groups.iter().all(|group| {
                entries
                    .get(&(run_id.to_owned(), group.key.clone()))
                    .is_some_and(|cached| {
                        !group.points.is_empty()
                            && cached.check().is_some()
                            && ingest::appends(&cached.stored, &group.points)
                    })
            });
        let taken = groups
            .iter()
            .filter_map(|group| entries.remove(&(run_id.to_owned(), group.key.clone())));
        if !plannable {
            taken.for_each(drop);
            return Err(groups);
        }
        let taken: Vec<CachedSeries> = taken.collect();
        self.planned.fetch_add(1, Ordering::Relaxed);
        Ok(groups
            .into_iter()
            .zip(taken)
            .map(|(group, cached)| {
                let check = cached.check().expect("checked above");
                let tail = cached.tail_data.map(|data| TailChunk {
                    id: cached.tail_id,
                    first_step: cached.tail_first_step,
                    point_count: cached.tail_count,
                    encoding: ChunkRow::ENCODING,
                    data,
                });
                PlannedAppend {
                    key: group.key,
                    check,
                    batch: SeriesBatch {
                        series_id: cached.series_id,
                        stored: cached.stored,
                        points: group.points,
                        tail,
                    },
                }
            })
            .collect())
    }

    /// A planned write found a series changed by another instance.
    pub fn stale(&self) {
        self.stale.fetch_add(1, Ordering::Relaxed);
        ::metrics::counter!("ets_metric_series_cache_stale_total").increment(1);
    }

    /// Writes planned on cached states so far, and how many of them found a series changed.
    #[cfg(test)]
    pub fn planned_and_stale(&self) -> (u64, u64) {
        (
            self.planned.load(Ordering::Relaxed),
            self.stale.load(Ordering::Relaxed),
        )
    }

    /// Drops the run's series named in `keys`: a write the cache does not plan is about to
    /// change them.
    pub fn forget<'a>(&self, run_id: &str, keys: impl IntoIterator<Item = &'a str>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            entries.remove(&(run_id.to_owned(), key.to_owned()));
        }
    }

    /// Keeps the states a committed write left (a state older than the one kept — a slower
    /// write of the same series — is ignored).
    pub fn remember(&self, run_id: &str, states: Vec<CachedSeries>) {
        if states.is_empty() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for state in states {
            let key = (run_id.to_owned(), state.key.clone());
            if let Some(kept) = entries.get(&key)
                && kept.series_id == state.series_id
                && kept.stored.count >= state.stored.count
            {
                continue;
            }
            if entries.len() >= MAX_SERIES
                && !entries.contains_key(&key)
                && let Some(evicted) = entries.keys().next().cloned()
            {
                entries.remove(&evicted);
            }
            entries.insert(key, state);
        }
    }
}

#[cfg(test)]
mod tests {
    use ets_domain::model::MetricPoint;

    use super::*;

    fn cached(key: &str, count: i64, last_step: i64) -> CachedSeries {
        CachedSeries {
            key: key.to_owned(),
            series_id: 7,
            stored: SeriesAggregates {
                count,
                min: Some(0.0),
                max: Some(1.0),
                latest: Some(MetricPoint::new(last_step, 0, 1.0)),
            },
            tail_id: 70,
            tail_first_step: 0,
            tail_count: 3,
            tail_data: Some(vec![1, 2, 3]),
        }
    }

    fn points(key: &str, steps: &[i64]) -> SeriesPoints {
        SeriesPoints {
            key: key.to_owned(),
            points: steps.iter().map(|&s| MetricPoint::new(s, 0, 0.5)).collect(),
        }
    }

    #[test]
    fn plans_appends_to_cached_series_once() {
        let cache = SeriesCache::default();
        cache.remember("r", vec![cached("loss", 3, 2)]);
        let planned = cache
            .take_planned("r", vec![points("loss", &[4, 3])])
            .unwrap_or_else(|_| panic!("cached and appended to"));
        assert_eq!(planned.len(), 1);
        assert_eq!(
            planned[0].check,
            SeriesCheck {
                series_id: 7,
                point_count: 3,
                last_step: 2,
                tail_id: 70,
                tail_count: 3
            }
        );
        assert_eq!(planned[0].batch.tail.as_ref().map(|t| t.id), Some(70));
        // Taken out while the write is in flight: a second request goes the ordinary way.
        assert!(cache.take_planned("r", vec![points("loss", &[5])]).is_err());
    }

    #[test]
    fn anything_but_an_append_to_cached_series_goes_the_ordinary_way() {
        let cache = SeriesCache::default();
        cache.remember("r", vec![cached("loss", 3, 2), cached("acc", 3, 2)]);
        // A step at or below the stored ones (a possible duplicate): read the series.
        assert!(
            cache
                .take_planned("r", vec![points("loss", &[2, 9])])
                .is_err()
        );
        // ... and the series left the cache: the ordinary write will put it back.
        assert!(cache.take_planned("r", vec![points("loss", &[9])]).is_err());
        // A key not cached, another run, a group with no points.
        assert!(
            cache
                .take_planned("r", vec![points("acc", &[9]), points("new", &[1])])
                .is_err()
        );
        cache.remember("r", vec![cached("acc", 3, 2)]);
        assert!(
            cache
                .take_planned("other", vec![points("acc", &[9])])
                .is_err()
        );
        assert!(cache.take_planned("r", vec![points("acc", &[])]).is_err());
    }

    #[test]
    fn keeps_the_newest_state_of_a_series() {
        let cache = SeriesCache::default();
        cache.remember("r", vec![cached("loss", 5, 4)]);
        cache.remember("r", vec![cached("loss", 3, 2)]);
        let planned = cache
            .take_planned("r", vec![points("loss", &[5])])
            .unwrap_or_else(|_| panic!("cached"));
        assert_eq!(planned[0].check.point_count, 5);
    }
}
