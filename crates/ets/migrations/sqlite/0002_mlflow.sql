-- MLflow compatibility: soft deletion (MLflow's lifecycle_stage), datasets logged as run
-- inputs, MLflow 3 logged models, and MLflow's Default experiment (id "0").

ALTER TABLE experiments ADD COLUMN deleted_at INTEGER;
ALTER TABLE runs ADD COLUMN deleted_at INTEGER;
CREATE INDEX experiments_by_name ON experiments (name);

-- A dataset is identified within its experiment by (name, digest), as in MLflow.
CREATE TABLE datasets (
    id            INTEGER PRIMARY KEY,
    experiment_id TEXT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    source_type   TEXT NOT NULL,
    source        TEXT NOT NULL,
    schema        TEXT,
    profile       TEXT,
    UNIQUE (experiment_id, name, digest)
);

CREATE TABLE run_inputs (
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    tags       TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, dataset_id)
) WITHOUT ROWID;
CREATE INDEX run_inputs_by_dataset ON run_inputs (dataset_id);

CREATE TABLE logged_models (
    id             TEXT PRIMARY KEY,
    experiment_id  TEXT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    model_type     TEXT,
    source_run_id  TEXT REFERENCES runs (id) ON DELETE SET NULL,
    status         TEXT NOT NULL,
    status_message TEXT,
    tags           TEXT NOT NULL DEFAULT '{}',
    params         TEXT NOT NULL DEFAULT '{}',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX logged_models_by_experiment ON logged_models (experiment_id, created_at);

-- Metrics logged for a model (MLflow 3's `log_metric(..., model_id=…)`), besides the run's own.
CREATE TABLE logged_model_metrics (
    model_id  TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    run_id    TEXT NOT NULL,
    key       TEXT NOT NULL,
    step      INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    value     REAL,
    PRIMARY KEY (model_id, key, step, timestamp, run_id)
) WITHOUT ROWID;

INSERT INTO projects (id, name, description, status, created_at, updated_at)
VALUES ('00000000000000000000000000000000', 'default',
        'Experiments created through the MLflow API without an ets.project tag',
        'active', CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));

INSERT INTO experiments (id, project_id, name, status, created_at, updated_at)
VALUES ('0', '00000000000000000000000000000000', 'Default', 'draft',
        CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
