-- Artifact bytes live in an object store (a local folder or S3) under a key of their own,
-- `runs/<run id>/<object id>`, recorded here: a new upload of a path writes a new object and
-- then swaps the key in this row. NULL marks artifacts stored at `<run id>/<path>`.
ALTER TABLE artifacts ADD COLUMN object_key TEXT;

-- `ets gc` looks for runs that have been in the trash longer than the retention.
CREATE INDEX runs_by_deleted_at ON runs (deleted_at) WHERE deleted_at IS NOT NULL;
