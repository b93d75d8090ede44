-- Each chunk's extremes (issue 18): its first lowest, first highest and first NaN point (see
-- `store/chunks.rs`, `summary`), so a downsampled read of a long series takes a chunk that
-- falls within one of its buckets from these few bytes instead of decoding every point.
-- NULL for chunks written before, and for short chunks (decoding them costs as little).
ALTER TABLE metric_chunks ADD COLUMN summary BLOB;
