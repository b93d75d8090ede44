-- Optuna's storage API (issue 16): what an Optuna client stores beyond ETS's own studies.
-- * `studies.seq`: the study's number, Optuna's integer study id (a trial's integer id is
--   the study's number and the trial's number together, see `store::studies`).
-- * Trials may wait (`enqueue_trial`), keep each param's distribution as Optuna's JSON
--   (empty: the study's search space), and start later than they were created.
-- * Studies and trials carry user and system attributes (JSON texts).
-- SQLite cannot change a CHECK constraint in place: the trial tables are rebuilt (the
-- intermediate values first, as they refer to the trials).
ALTER TABLE studies ADD COLUMN seq INTEGER;
UPDATE studies SET seq = rowid;
CREATE UNIQUE INDEX studies_by_seq ON studies (seq);
CREATE TRIGGER studies_numbered AFTER INSERT ON studies WHEN NEW.seq IS NULL
BEGIN
    UPDATE studies SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM studies) WHERE id = NEW.id;
END;

CREATE TABLE trials_v16 (
    id               TEXT PRIMARY KEY,
    study_id         TEXT NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    run_id           TEXT REFERENCES runs (id) ON DELETE SET NULL,
    state            TEXT NOT NULL
                     CHECK (state IN ('waiting', 'running', 'complete', 'pruned', 'failed')),
    params           TEXT NOT NULL,              -- JSON object: name -> value
    distributions    TEXT NOT NULL DEFAULT '{}', -- JSON object: name -> distribution
    objective_values TEXT,                       -- JSON array, one per objective
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,                    -- NULL while waiting
    finished_at      INTEGER,
    UNIQUE (study_id, number)
);
INSERT INTO trials_v16 (id, study_id, number, run_id, state, params, objective_values,
                        created_at, started_at, finished_at)
    SELECT id, study_id, number, run_id, state, params, objective_values, created_at,
           created_at, finished_at
    FROM trials;
CREATE TABLE trial_intermediate_values_v16 (
    trial_id TEXT NOT NULL REFERENCES trials_v16 (id) ON DELETE CASCADE,
    step     INTEGER NOT NULL,
    value    REAL,  -- NULL: NaN
    PRIMARY KEY (trial_id, step)
) WITHOUT ROWID;
INSERT INTO trial_intermediate_values_v16 SELECT trial_id, step, value
    FROM trial_intermediate_values;
DROP TABLE trial_intermediate_values;
DROP TABLE trials;
-- Renaming also renames the reference of the intermediate values.
ALTER TABLE trials_v16 RENAME TO trials;
ALTER TABLE trial_intermediate_values_v16 RENAME TO trial_intermediate_values;
CREATE INDEX trials_by_run ON trials (run_id);

CREATE TABLE study_attrs (
    study_id TEXT NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL CHECK (kind IN ('user', 'system')),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,  -- JSON text
    PRIMARY KEY (study_id, kind, key)
) WITHOUT ROWID;

CREATE TABLE trial_attrs (
    trial_id TEXT NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL CHECK (kind IN ('user', 'system')),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,  -- JSON text
    PRIMARY KEY (trial_id, kind, key)
) WITHOUT ROWID;
