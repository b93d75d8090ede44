-- Run searches walk an index in the order asked for and stop after a page, instead of sorting
-- every matching run of the experiment for each page (194 ms a page at 100,000 runs).
--
-- Ordered by a metric (MLflow's `runs/search … order_by metrics.acc DESC`): the experiment's
-- series of that metric in value order. Each series carries its run's experiment for this (a run
-- never changes experiment).
ALTER TABLE metric_series ADD COLUMN experiment_id TEXT;
UPDATE metric_series s SET experiment_id = r.experiment_id FROM runs r WHERE r.id = s.run_id;
CREATE INDEX metric_series_by_experiment_value ON metric_series (experiment_id, key, last_value) INCLUDE (run_id);
-- Statistics of the filled column now: with those of the empty one the planner took each
-- experiment for ~100 series and sorted them all (165 ms a page at 20,000 runs instead of 10).
ANALYZE metric_series;
-- In MLflow's default order (newest start first, then id), which also orders the runs without
-- a value of the metric after the others.
CREATE INDEX runs_by_experiment_start ON runs (experiment_id, (coalesce(started_at, created_at)) DESC, id);
