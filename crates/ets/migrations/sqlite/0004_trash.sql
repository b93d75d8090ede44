-- Projects go to the trash like experiments and runs (`DELETE` without `?permanent=true`);
-- `ets gc` purges experiments and projects that have been there longer than the retention.
ALTER TABLE projects ADD COLUMN deleted_at INTEGER;
CREATE INDEX projects_by_deleted_at ON projects (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX experiments_by_deleted_at ON experiments (deleted_at) WHERE deleted_at IS NOT NULL;
