-- Hyperparameter optimization (issue 16). A study belongs to an experiment: a search space,
-- objectives with directions, a sampler and a pruner. Its trials are runs of the experiment:
-- asking creates a run with the suggested params; telling finishes it. Intermediate values are
-- the trial run's metric points too; they are kept here as well, by trial and step, because the
-- pruner compares them across every trial of the study at each report.
CREATE TABLE studies (
    id            TEXT PRIMARY KEY,
    experiment_id TEXT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    directions    TEXT NOT NULL,  -- JSON: ["minimize", "maximize", ...]
    search_space  TEXT NOT NULL,  -- JSON: name -> distribution (and condition)
    sampler       TEXT NOT NULL,  -- JSON: {"type": "tpe", ...options}
    pruner        TEXT NOT NULL,  -- JSON: {"type": "median", ...options}
    seed          INTEGER,
    created_at    INTEGER NOT NULL,
    UNIQUE (experiment_id, name)
);

CREATE TABLE trials (
    id               TEXT PRIMARY KEY,
    study_id         TEXT NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    run_id           TEXT REFERENCES runs (id) ON DELETE SET NULL,
    state            TEXT NOT NULL CHECK (state IN ('running', 'complete', 'pruned', 'failed')),
    params           TEXT NOT NULL,  -- JSON object: name -> value
    objective_values TEXT,           -- JSON array, one per objective (complete trials)
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    UNIQUE (study_id, number)
);
CREATE INDEX trials_by_run ON trials (run_id);

CREATE TABLE trial_intermediate_values (
    trial_id TEXT NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
    step     INTEGER NOT NULL,
    value    REAL,  -- NULL: NaN
    PRIMARY KEY (trial_id, step)
) WITHOUT ROWID;
