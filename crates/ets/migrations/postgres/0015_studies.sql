-- Hyperparameter optimization (issue 16). A study belongs to an experiment: a search space,
-- objectives with directions, a sampler and a pruner. Its trials are runs of the experiment:
-- asking creates a run with the suggested params; telling finishes it. Intermediate values are
-- the trial run's metric points too; they are kept here as well, by trial and step, because the
-- pruner compares them across every trial of the study at each report.
CREATE TABLE studies (
    id            TEXT COLLATE "C" PRIMARY KEY,
    experiment_id TEXT COLLATE "C" NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    directions    JSONB NOT NULL, -- JSON: ["minimize", "maximize", ...]
    search_space  JSONB NOT NULL, -- JSON: name -> distribution (and condition)
    sampler       JSONB NOT NULL, -- JSON: {"type": "tpe", ...options}
    pruner        JSONB NOT NULL, -- JSON: {"type": "median", ...options}
    seed          BIGINT,
    created_at    BIGINT NOT NULL,
    UNIQUE (experiment_id, name)
);

CREATE TABLE trials (
    id               TEXT COLLATE "C" PRIMARY KEY,
    study_id         TEXT COLLATE "C" NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    number           BIGINT NOT NULL,
    run_id           TEXT COLLATE "C" REFERENCES runs (id) ON DELETE SET NULL,
    state            TEXT NOT NULL CHECK (state IN ('running', 'complete', 'pruned', 'failed')),
    params           JSONB NOT NULL, -- JSON object: name -> value
    objective_values JSONB,          -- JSON array, one per objective (complete trials)
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    UNIQUE (study_id, number)
);
CREATE INDEX trials_by_run ON trials (run_id);

CREATE TABLE trial_intermediate_values (
    trial_id TEXT COLLATE "C" NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
    step     BIGINT NOT NULL,
    value    DOUBLE PRECISION,  -- NULL: NaN
    PRIMARY KEY (trial_id, step)
);
