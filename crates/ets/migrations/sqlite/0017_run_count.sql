-- Each experiment counts its runs, so that creating a run checks
-- `limits.max_runs_per_experiment` in O(1) instead of counting the experiment's runs (an index
-- scan that grew with the experiment: ~10,000 rows per HPO ask at 10,000 trials). PostgreSQL
-- has kept this counter since its first migration; here triggers keep it, so no writer can
-- forget it (run inserts, deletes, and the cascades of an experiment's deletion).
ALTER TABLE experiments ADD COLUMN run_count INTEGER NOT NULL DEFAULT 0;
UPDATE experiments SET run_count = (SELECT count(*) FROM runs WHERE runs.experiment_id = experiments.id);
CREATE TRIGGER runs_counted AFTER INSERT ON runs
BEGIN
    UPDATE experiments SET run_count = run_count + 1 WHERE id = NEW.experiment_id;
END;
CREATE TRIGGER runs_uncounted AFTER DELETE ON runs
BEGIN
    UPDATE experiments SET run_count = run_count - 1 WHERE id = OLD.experiment_id;
END;
