-- MLflow fidelity (issue 15). An experiment may name where its runs' artifacts go
-- (`artifact_location`, given at creation, never changed), and MLflow's artifact proxy is a
-- general file store: files outside any run (`mlflow-artifacts:/a.txt`, the files of a model
-- logged without a run) are recorded here, each naming its object like a run's artifact.
ALTER TABLE experiments ADD COLUMN artifact_location TEXT;

CREATE TABLE stored_files (
    path          TEXT COLLATE "C" PRIMARY KEY,
    -- The experiment the path is inside (its first segment is the experiment's id), whose
    -- permissions apply; NULL for the shared area. The rows go with the experiment.
    experiment_id TEXT COLLATE "C" REFERENCES experiments (id) ON DELETE CASCADE,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    content_type  TEXT,
    created_at    BIGINT NOT NULL,
    object_key    TEXT NOT NULL
);
CREATE INDEX stored_files_by_experiment ON stored_files (experiment_id);
