-- A metric point is identified by key, step, timestamp and value (MLflow's identity): a model
-- metric may hold several values at one step and timestamp. The primary key could not say so
-- (values are nullable: NaN is stored as NULL), so it becomes a plain index and
-- `store::ingest` skips points identical to stored ones.
ALTER TABLE logged_model_metrics DROP CONSTRAINT logged_model_metrics_pkey;
CREATE INDEX logged_model_metrics_by_model ON logged_model_metrics (model_id, key, step, timestamp);
