-- Optuna's storage API (issue 16): what an Optuna client stores beyond ETS's own studies.
-- * `studies.seq`: the study's number, Optuna's integer study id (a trial's integer id is
--   the study's number and the trial's number together, see `store::studies`).
-- * Trials may wait (`enqueue_trial`), keep each param's distribution as Optuna's JSON
--   (empty: the study's search space), and start later than they were created.
-- * Studies and trials carry user and system attributes (JSON texts).
ALTER TABLE studies ADD COLUMN seq BIGSERIAL;
CREATE UNIQUE INDEX studies_by_seq ON studies (seq);

ALTER TABLE trials DROP CONSTRAINT trials_state_check;
ALTER TABLE trials ADD CONSTRAINT trials_state_check
    CHECK (state IN ('waiting', 'running', 'complete', 'pruned', 'failed'));
ALTER TABLE trials ADD COLUMN distributions JSONB NOT NULL DEFAULT '{}';
ALTER TABLE trials ADD COLUMN started_at BIGINT;  -- NULL while waiting
UPDATE trials SET started_at = created_at;

CREATE TABLE study_attrs (
    study_id TEXT COLLATE "C" NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL CHECK (kind IN ('user', 'system')),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,  -- JSON text
    PRIMARY KEY (study_id, kind, key)
);

CREATE TABLE trial_attrs (
    trial_id TEXT COLLATE "C" NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL CHECK (kind IN ('user', 'system')),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,  -- JSON text
    PRIMARY KEY (trial_id, kind, key)
);
