-- A metric point is identified by key, step, timestamp and value (MLflow's identity): a model
-- metric may hold several values at one step and timestamp. The primary key could not say so
-- (values are nullable: NaN is stored as NULL), so the table becomes a rowid table and
-- `store::ingest` skips points identical to stored ones.
CREATE TABLE logged_model_metrics_new (
    model_id  TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    run_id    TEXT NOT NULL,
    key       TEXT NOT NULL,
    step      INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    value     REAL
);
INSERT INTO logged_model_metrics_new (model_id, run_id, key, step, timestamp, value)
SELECT model_id, run_id, key, step, timestamp, value FROM logged_model_metrics;
DROP TABLE logged_model_metrics;
ALTER TABLE logged_model_metrics_new RENAME TO logged_model_metrics;
CREATE INDEX logged_model_metrics_by_model ON logged_model_metrics (model_id, key, step, timestamp);
