-- ETS schema, SQLite dialect. Released migrations are never edited; add a new file instead.
-- Times are epoch milliseconds. JSON columns hold small, rarely-filtered documents; anything
-- searched per run (params, tags, metrics) has its own table and index.

CREATE TABLE projects (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    description         TEXT,
    owner               TEXT,
    members             TEXT NOT NULL DEFAULT '[]',
    tags                TEXT NOT NULL DEFAULT '{}',
    status              TEXT NOT NULL,
    template            TEXT,
    experiment_defaults TEXT NOT NULL DEFAULT '{}',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX projects_by_created ON projects (created_at, id);
CREATE INDEX projects_by_updated ON projects (updated_at, id);

CREATE TABLE experiments (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT,
    owner        TEXT,
    status       TEXT NOT NULL,
    tags         TEXT NOT NULL DEFAULT '{}',
    objectives   TEXT NOT NULL DEFAULT '[]',
    search_space TEXT NOT NULL DEFAULT '{}',
    healthcare   TEXT,
    links        TEXT NOT NULL DEFAULT '{}',
    template     TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    started_at   INTEGER,
    ended_at     INTEGER,
    UNIQUE (project_id, name)
);
CREATE INDEX experiments_by_project ON experiments (project_id, created_at, id);
CREATE INDEX experiments_by_created ON experiments (created_at, id);
CREATE INDEX experiments_by_status ON experiments (status);

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    experiment_id TEXT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    description   TEXT,
    owner         TEXT,
    status        TEXT NOT NULL,
    parent_run_id TEXT REFERENCES runs (id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    started_at    INTEGER,
    ended_at      INTEGER
);
CREATE INDEX runs_by_experiment ON runs (experiment_id, created_at, id);
CREATE INDEX runs_by_created ON runs (created_at, id);
CREATE INDEX runs_by_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

-- `value` is the text form (MLflow's view, compared for write-once); `json` keeps the type.
CREATE TABLE run_params (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    json   TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;

CREATE TABLE run_tags (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX run_tags_by_key_value ON run_tags (key, value);

-- One row per (run, metric key): interns the key for the points table and keeps the latest
-- value and range, so run tables and summaries never scan history.
-- NaN is stored as NULL (SQLite turns NaN into NULL anyway); ±inf are stored as REAL.
CREATE TABLE metric_series (
    id             INTEGER PRIMARY KEY,
    run_id         TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    last_value     REAL,
    last_step      INTEGER,
    last_timestamp INTEGER,
    min_value      REAL,
    max_value      REAL,
    point_count    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (run_id, key)
);

-- The hot table: points stored in chunks, one row per series per logged batch (up to 1024
-- points), as packed arrays (see store/sqlite/chunks.rs). A row per point would cost a B-tree
-- insert per point; a chunk costs one per batch and series, which is what lets ingest run at
-- millions of points per second. Chunks of a series are found through (series_id, first_step).
-- No foreign key: deleting runs deletes their chunks explicitly.
CREATE TABLE metric_chunks (
    id          INTEGER PRIMARY KEY,
    series_id   INTEGER NOT NULL,
    first_step  INTEGER NOT NULL,
    last_step   INTEGER NOT NULL,
    point_count INTEGER NOT NULL,
    data        BLOB NOT NULL
);
CREATE INDEX metric_chunks_by_series ON metric_chunks (series_id, first_step);

CREATE TABLE artifacts (
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    content_type TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (run_id, path)
) WITHOUT ROWID;
