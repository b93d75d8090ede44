-- Run searches walk an index in the order asked for and stop after a page, instead of sorting
-- every matching run of the experiment for each page (194 ms a page at 100,000 runs).
--
-- Ordered by a metric (MLflow's `runs/search … order_by metrics.acc DESC`): the experiment's
-- series of that metric in value order. Each series carries its run's experiment for this (a run
-- never changes experiment); the index holds the run id, so the walk reads no series row.
ALTER TABLE metric_series ADD COLUMN experiment_id TEXT;
UPDATE metric_series SET experiment_id = (SELECT experiment_id FROM runs WHERE runs.id = metric_series.run_id);
CREATE INDEX metric_series_by_experiment_value ON metric_series (experiment_id, key, last_value, run_id);
-- In MLflow's default order (newest start first, then id), which also orders the runs without
-- a value of the metric after the others.
CREATE INDEX runs_by_experiment_start ON runs (experiment_id, coalesce(started_at, created_at) DESC, id);
