-- The series index covers each chunk's step range (issue 14): a read from step `low` (the
-- history's tail, an alert's window, the duplicate check of appended points) tests
-- `last_step >= low` in the index instead of reading every earlier chunk's row. Same number
-- of indexes as before, so ingest pays nothing more.
DROP INDEX metric_chunks_by_series;
CREATE INDEX metric_chunks_by_series ON metric_chunks (series_id, first_step, last_step);
