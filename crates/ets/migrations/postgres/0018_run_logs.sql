-- Run logs (issue 17): a run's stdout/stderr lines, stored in chunks. One row per appended
-- batch: its lines packed and deflate-compressed (`store/logs.rs`), numbered in append order
-- within the run (`first_line` … `last_line`), with the time range and the streams present so
-- that time and stream filters skip chunks without decompressing them. `batch_id` is the
-- client's idempotency key (at most one batch per key and run) and `digest` the SHA-256 of the
-- batch's lines, so a retry is recognised as identical. Rows go with their run (foreign key).
CREATE TABLE run_log_chunks (
    run_id     TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    last_line  BIGINT NOT NULL,
    first_line BIGINT NOT NULL,
    line_count BIGINT NOT NULL,
    min_ts     BIGINT NOT NULL,
    max_ts     BIGINT NOT NULL,
    streams    BIGINT NOT NULL,
    batch_id   TEXT COLLATE "C",
    digest     BYTEA NOT NULL,
    data       BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, last_line)
);
CREATE UNIQUE INDEX run_log_chunks_by_batch ON run_log_chunks (run_id, batch_id) WHERE batch_id IS NOT NULL;
-- The data is compressed already: keep PostgreSQL from trying again.
ALTER TABLE run_log_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
