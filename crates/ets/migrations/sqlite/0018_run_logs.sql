-- Run logs (issue 17): a run's stdout/stderr lines, stored in chunks. One row per appended
-- batch: its lines packed and deflate-compressed (`store/logs.rs`), numbered in append order
-- within the run (`first_line` … `last_line`), with the time range and the streams present so
-- that time and stream filters skip chunks without decompressing them. `batch_id` is the
-- client's idempotency key (at most one batch per key and run) and `digest` the SHA-256 of the
-- batch's lines, so a retry is recognised as identical. Rows go with their run (foreign key).
-- A rowid table, not WITHOUT ROWID: a WITHOUT ROWID row keeps at most ~1 kB in its B-tree page
-- and spills the rest of a chunk into a 4 kB overflow page of its own (measured: 47 bytes a
-- line stored for 21 bytes of chunk, at 100 lines a batch); a rowid row keeps up to ~4 kB.
CREATE TABLE run_log_chunks (
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    last_line  INTEGER NOT NULL,
    first_line INTEGER NOT NULL,
    line_count INTEGER NOT NULL,
    min_ts     INTEGER NOT NULL,
    max_ts     INTEGER NOT NULL,
    streams    INTEGER NOT NULL,
    batch_id   TEXT,
    digest     BLOB NOT NULL,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, last_line)
);
CREATE UNIQUE INDEX run_log_chunks_by_batch ON run_log_chunks (run_id, batch_id) WHERE batch_id IS NOT NULL;
