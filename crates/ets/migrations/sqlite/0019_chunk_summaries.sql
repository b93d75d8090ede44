-- Each chunk's extremes (issue 18): its first lowest, first highest and first NaN point (see
-- `store/chunks.rs`, `summarize`), so a downsampled read of a long series takes a chunk that
-- falls within one of its buckets from these few bytes instead of decoding every point.
-- NULL for chunks written before, and for short chunks (decoding them costs as little).
ALTER TABLE metric_chunks ADD COLUMN summary BLOB;

-- The series index carries each chunk's size and summary too, so that such a read finds
-- every chunk of the range in the index alone (a chunk row is about a page: reading ~10,000
-- rows for a 10-million-point series cost more than the index's ~150 pages). Same number of
-- indexes as before.
DROP INDEX metric_chunks_by_series;
CREATE INDEX metric_chunks_by_series
    ON metric_chunks (series_id, first_step, last_step, point_count, summary);
