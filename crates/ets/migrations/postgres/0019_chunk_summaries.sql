-- Each chunk's extremes (issue 18): its first lowest, first highest and first NaN point (see
-- `store/chunks.rs`, `summarize`), so a downsampled read of a long series takes a chunk that
-- falls within one of its buckets from these few bytes instead of decoding every point.
-- NULL for chunks written before, and for short chunks (decoding them costs as little).
ALTER TABLE metric_chunks ADD COLUMN summary bytea;

-- The series index carries each chunk's size and summary too (index-only scans once the
-- table is vacuumed), as SQLite's does. Same number of indexes as before.
DROP INDEX metric_chunks_by_series;
CREATE INDEX metric_chunks_by_series
    ON metric_chunks (series_id, first_step, last_step) INCLUDE (point_count, summary);
