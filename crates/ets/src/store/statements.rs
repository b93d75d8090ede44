//! SQL statements both backends run, written once. Placeholders are PostgreSQL's `$n`; SQLite
//! runs them as `?n` (`sqlite::sql::numbered`). The rules that decide what to run are in
//! `store::rules`.

use super::rules::TrashMove;

/// Experiments running now, for `limits.max_concurrent_experiments`.
pub(crate) const RUNNING_EXPERIMENTS: &str =
    "SELECT count(*) FROM experiments WHERE status = 'running'";
/// Experiments of project `$1`, trashed or not, for [`super::rules::check_project_cascade`] of a
/// permanent delete.
pub(crate) const PROJECT_EXPERIMENTS: &str =
    "SELECT count(*) FROM experiments WHERE project_id = $1";
/// Experiments of project `$1` outside the trash, for [`super::rules::check_project_cascade`] of a
/// move to the trash.
pub(crate) const PROJECT_LIVE_EXPERIMENTS: &str =
    "SELECT count(*) FROM experiments WHERE project_id = $1 AND deleted_at IS NULL";

/// Runs of experiment `$1` not in the trash go there at `$2`.
pub(crate) const TRASH_EXPERIMENT_RUNS: &str =
    "UPDATE runs SET deleted_at = $2 WHERE experiment_id = $1 AND deleted_at IS NULL";
/// Runs of experiment `$1` that went to the trash at `$2` come back.
pub(crate) const RESTORE_EXPERIMENT_RUNS: &str =
    "UPDATE runs SET deleted_at = NULL WHERE experiment_id = $1 AND deleted_at = $2";
/// Runs of the experiments of project `$1` not in the trash go there at `$2` (before the
/// experiments themselves).
pub(crate) const TRASH_PROJECT_RUNS: &str = "UPDATE runs SET deleted_at = $2 WHERE experiment_id IN \
     (SELECT id FROM experiments WHERE project_id = $1 AND deleted_at IS NULL) AND deleted_at IS NULL";
/// Experiments of project `$1` not in the trash go there at `$2`.
pub(crate) const TRASH_PROJECT_EXPERIMENTS: &str =
    "UPDATE experiments SET deleted_at = $2 WHERE project_id = $1 AND deleted_at IS NULL";
/// Runs that went to the trash at `$2` with an experiment of project `$1` come back (before
/// the experiments).
pub(crate) const RESTORE_PROJECT_RUNS: &str = "UPDATE runs SET deleted_at = NULL WHERE experiment_id IN \
     (SELECT id FROM experiments WHERE project_id = $1 AND deleted_at = $2) AND deleted_at = $2";
/// Experiments of project `$1` that went to the trash at `$2` come back.
pub(crate) const RESTORE_PROJECT_EXPERIMENTS: &str =
    "UPDATE experiments SET deleted_at = NULL WHERE project_id = $1 AND deleted_at = $2";
/// Project `$1` gets deletion time `$2` (NULL: restored) and `updated_at` `$3`.
pub(crate) const SET_PROJECT_DELETED: &str =
    "UPDATE projects SET deleted_at = $2, updated_at = $3 WHERE id = $1";

/// The statements that move the children of an experiment (`project`: false) or a
/// project along, in order; each takes the entity's id and [`TrashMove::at`].
pub(crate) fn children(project: bool, change: TrashMove) -> &'static [&'static str] {
    use TrashMove::{AlreadyTrashed, Restore, Trash};
    match (project, change) {
        (_, AlreadyTrashed) => &[],
        (false, Trash(_)) => &[TRASH_EXPERIMENT_RUNS],
        (false, Restore(_)) => &[RESTORE_EXPERIMENT_RUNS],
        (true, Trash(_)) => &[TRASH_PROJECT_RUNS, TRASH_PROJECT_EXPERIMENTS],
        (true, Restore(_)) => &[RESTORE_PROJECT_RUNS, RESTORE_PROJECT_EXPERIMENTS],
    }
}

/// Columns of an experiment row (`experiments e`), in the order the backends read them.
pub(crate) const EXPERIMENT_COLUMNS: &str = "e.id, e.project_id, e.name, e.description, e.owner, e.status, e.tags, \
     e.objectives, e.search_space, e.healthcare, e.links, e.template, e.created_at, e.updated_at, e.started_at, \
     e.ended_at, e.deleted_at, e.artifact_location";
/// A new experiment row, `$1`… in [`EXPERIMENT_COLUMNS`] order.
pub(crate) const INSERT_EXPERIMENT: &str = "INSERT INTO experiments (id, project_id, name, description, owner, \
     status, tags, objectives, search_space, healthcare, links, template, created_at, updated_at, started_at, \
     ended_at, deleted_at, artifact_location) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
     $16, $17, $18)";
/// An experiment row rewritten, the same parameters as [`INSERT_EXPERIMENT`].
pub(crate) const UPDATE_EXPERIMENT: &str = "UPDATE experiments SET project_id = $2, name = $3, description = $4, \
     owner = $5, status = $6, tags = $7, objectives = $8, search_space = $9, healthcare = $10, links = $11, \
     template = $12, created_at = $13, updated_at = $14, started_at = $15, ended_at = $16, deleted_at = $17, \
     artifact_location = $18 WHERE id = $1";

/// Columns of a project row (`projects p`), in the order the backends read them.
pub(crate) const PROJECT_COLUMNS: &str = "p.id, p.name, p.description, p.owner, p.members, p.tags, p.status, \
     p.template, p.experiment_defaults, p.created_at, p.updated_at, p.deleted_at";
/// A new project row (not in the trash).
pub(crate) const INSERT_PROJECT: &str = "INSERT INTO projects (id, name, description, owner, members, tags, status, \
     template, experiment_defaults, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
/// A project's own fields rewritten.
pub(crate) const UPDATE_PROJECT: &str = "UPDATE projects SET name = $2, description = $3, owner = $4, members = $5, \
     tags = $6, status = $7, experiment_defaults = $8, updated_at = $9 WHERE id = $1";

/// Columns of a run row, from [`RUN_FROM`], in the order the backends read them.
pub(crate) const RUN_COLUMNS: &str = "r.id, r.experiment_id, e.project_id, r.name, r.description, r.owner, \
     r.status, r.parent_run_id, r.created_at, r.updated_at, r.started_at, r.ended_at, r.deleted_at";
/// Runs with their experiment (for its project).
pub(crate) const RUN_FROM: &str = "FROM runs r JOIN experiments e ON e.id = r.experiment_id";
/// A new run row.
pub(crate) const INSERT_RUN: &str = "INSERT INTO runs (id, experiment_id, name, description, owner, status, \
     parent_run_id, created_at, updated_at, started_at, ended_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
/// A run's own fields rewritten.
pub(crate) const UPDATE_RUN: &str = "UPDATE runs SET name = $2, description = $3, owner = $4, status = $5, \
     updated_at = $6, started_at = $7, ended_at = $8, deleted_at = $9 WHERE id = $1";

/// A query built piece by piece whose bound values are all text, numbered `$1..` in the order
/// they are added, so one `Vec<String>` binds it on both backends (integers are rendered).
pub(crate) struct TextQuery {
    pub sql: String,
    pub values: Vec<String>,
}

impl TextQuery {
    pub fn new(sql: impl Into<String>) -> TextQuery {
        TextQuery {
            sql: sql.into(),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) {
        self.sql.push_str(text);
    }

    /// Binds `value` at this point of the text.
    pub fn bind(&mut self, value: &str) {
        self.values.push(value.to_owned());
        self.sql.push_str(&format!("${}", self.values.len()));
    }

    /// ` AND <column> = $n`.
    pub fn and_equal(&mut self, column: &str, value: &str) {
        self.push(&format!(" AND {column} = "));
        self.bind(value);
    }

    /// ` AND <column> IN ($n, …)`; an empty list matches nothing.
    pub fn and_in(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            self.push(" AND 1 = 0");
            return;
        }
        self.push(&format!(" AND {column} IN ("));
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self.push(")");
    }

    pub fn finish(self) -> (String, Vec<String>) {
        (self.sql, self.values)
    }
}

/// `$from, …` for `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether logged model `$1` exists (`Store::log_run_models` checks each model it links).
pub(crate) const LOGGED_MODEL_EXISTS: &str = "SELECT count(*) FROM logged_models WHERE id = $1";
/// Links run `$1` to logged model `$3` as `$2` (`input` or `output`) at step `$4`; a link
/// already recorded is kept.
pub(crate) const INSERT_RUN_MODEL: &str = "INSERT INTO run_models (run_id, direction, model_id, step) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (run_id, direction, model_id) DO NOTHING";
