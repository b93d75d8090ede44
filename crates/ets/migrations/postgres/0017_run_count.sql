-- SQLite's migration 17 gives experiments the run counter (`experiments.run_count`) that
-- PostgreSQL has had since migration 1; nothing changes here. The empty step keeps both
-- backends' migration numbers the same.
SELECT 1;
