-- MLflow 3 context of metric points, and the logged models runs use and produce.
--
-- A metric point logged with a dataset (MLflow's `Metric.dataset_name/dataset_digest`) or a
-- model (`Metric.model_id`) keeps its value in the run's metric chunks as any point does; its
-- context is recorded once beside it: in `logged_model_metrics` when it names a model (which
-- gains the dataset columns), else in `metric_point_datasets`.
ALTER TABLE logged_model_metrics ADD COLUMN dataset_name TEXT;
ALTER TABLE logged_model_metrics ADD COLUMN dataset_digest TEXT;
CREATE INDEX logged_model_metrics_by_run ON logged_model_metrics (run_id, key);

CREATE TABLE metric_point_datasets (
    run_id         TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key            TEXT COLLATE "C" NOT NULL,
    step           BIGINT NOT NULL,
    timestamp      BIGINT NOT NULL,
    value          DOUBLE PRECISION,
    dataset_name   TEXT NOT NULL,
    dataset_digest TEXT NOT NULL
);
CREATE INDEX metric_point_datasets_by_series ON metric_point_datasets (run_id, key);

-- Logged models a run used (`log_inputs` with models) or produced (`log_outputs`, with the
-- step it was produced at).
CREATE TABLE run_models (
    run_id    TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    direction TEXT NOT NULL CHECK (direction IN ('input', 'output')),
    model_id  TEXT COLLATE "C" NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    step      BIGINT,
    PRIMARY KEY (run_id, direction, model_id)
);
CREATE INDEX run_models_by_model ON run_models (model_id);
