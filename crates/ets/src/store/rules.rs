//! The lifecycle and limit rules the stores enforce inside their transactions, written once
//! for both backends. Each function decides from state a backend has read (under its
//! transaction's locks); the backend only reads that state and writes the outcome.

use std::collections::HashMap;

use ets_domain::Timestamp;
use ets_domain::model::{Experiment, ParamValue, Project, Run};
use ets_domain::status::{ExperimentStatus, ProjectStatus};

use crate::error::{EntityKind, Error, Result};

/// A run may be added to `experiment`, which has `runs` runs (trashed ones included): it is
/// neither in the trash nor completed, and `max_runs` is not reached.
pub(crate) fn check_run_creation(experiment: &Experiment, runs: i64, max_runs: u64) -> Result<()> {
    if experiment.deleted_at.is_some() {
        return Err(Error::Conflict(format!(
            "experiment '{}' is deleted (in the trash); restore it before adding runs",
            experiment.id
        )));
    }
    if experiment.status == ExperimentStatus::Completed {
        return Err(Error::Conflict(format!(
            "experiment '{}' is completed; runs cannot be added to a completed experiment",
            experiment.id
        )));
    }
    if runs as u64 >= max_runs {
        return Err(Error::LimitExceeded {
            message: format!("experiment '{}' already has {runs} runs", experiment.id),
            setting: "limits.max_runs_per_experiment",
            limit: max_runs,
        });
    }
    Ok(())
}

/// [`check_run_creation`] as an SQL condition, for a write that commits in the same round
/// trip as its statements (so before this process reads their answers): true when experiment
/// `e`, read after its counter took the new run, may take it (`$2` the limit). The write fails
/// in the server when it is false, and `check_run_creation` then says why from the answers;
/// `store::postgres::studies::tests::an_ask_is_committed_whole_or_refused_whole` checks that
/// each refusal of one is a refusal of the other.
pub(crate) const RUN_CREATION_ALLOWED_SQL: &str =
    "e.deleted_at IS NULL AND e.status <> 'completed' AND e.run_count <= $2";

/// A run's parent must be a run of the same experiment; `parent_experiment` is the parent's
/// experiment as read (`None`: no such run).
pub(crate) fn check_parent_run(
    experiment_id: &str,
    parent_id: &str,
    parent_experiment: Option<&str>,
) -> Result<()> {
    match parent_experiment {
        None => Err(Error::not_found(EntityKind::ParentRun, parent_id)),
        Some(e) if e != experiment_id => Err(Error::invalid(
            "parent_run_id",
            format!("parent run '{parent_id}' belongs to experiment '{e}', not '{experiment_id}'"),
        )),
        Some(_) => Ok(()),
    }
}

/// The answer to an experiment name taken in its project (the database's unique index).
pub(crate) fn experiment_name_taken(experiment: &Experiment) -> Error {
    Error::AlreadyExists {
        entity: EntityKind::Experiment,
        name: experiment.name.clone(),
        scope: format!(" in project '{}'", experiment.project_id),
    }
}

/// The answer to a project name taken (the database's unique index).
pub(crate) fn project_name_taken(name: &str) -> Error {
    Error::AlreadyExists {
        entity: EntityKind::Project,
        name: name.to_owned(),
        scope: String::new(),
    }
}

/// An experiment may be added to `project`: it is neither in the trash nor archived.
pub(crate) fn check_experiment_creation(project: &Project) -> Result<()> {
    if project.deleted_at.is_some() {
        return Err(Error::Conflict(format!(
            "project '{}' is deleted (in the trash); restore it before adding experiments",
            project.id
        )));
    }
    if project.status == ProjectStatus::Archived {
        return Err(Error::Conflict(format!(
            "project '{}' is archived; set its status to active before adding experiments",
            project.id
        )));
    }
    Ok(())
}

/// Applies `mutation` to an experiment read under lock. A trashed experiment is not changed;
/// returns whether the change starts it (the caller then counts the running experiments and
/// calls [`check_concurrent_experiments`]).
pub(crate) fn update_experiment(
    experiment: &mut Experiment,
    mutation: crate::store::Mutation<Experiment>,
) -> Result<bool> {
    if experiment.deleted_at.is_some() {
        return Err(Error::Conflict(format!(
            "experiment '{}' is deleted (in the trash); restore it before changing it",
            experiment.id
        )));
    }
    let was_running = experiment.status == ExperimentStatus::Running;
    mutation(experiment)?;
    experiment.updated_at = Timestamp::now().max(experiment.updated_at);
    Ok(experiment.status == ExperimentStatus::Running && !was_running)
}

/// Experiment `id` may start while `running` others run.
pub(crate) fn check_concurrent_experiments(id: &str, running: i64, max: u64) -> Result<()> {
    if running as u64 >= max {
        return Err(Error::LimitExceeded {
            message: format!(
                "{running} experiments are already running; stop one before starting '{id}'"
            ),
            setting: "limits.max_concurrent_experiments",
            limit: max,
        });
    }
    Ok(())
}

/// Applies `mutation` to a project read under lock; a trashed project is not changed.
pub(crate) fn update_project(
    project: &mut Project,
    mutation: crate::store::Mutation<Project>,
) -> Result<()> {
    if project.deleted_at.is_some() {
        return Err(Error::Conflict(format!(
            "project '{}' is deleted (in the trash); restore it before changing it",
            project.id
        )));
    }
    mutation(project)?;
    project.updated_at = Timestamp::now().max(project.updated_at);
    Ok(())
}

/// Params are write-once: given the values `stored` for the incoming keys, refuses a
/// different value for an existing key (before anything is written) and returns the params
/// still to insert. A backend that inserts first and compares afterwards ignores the result.
pub(crate) fn merge_write_once_params<'a>(
    run_id: &str,
    stored: &HashMap<String, String>,
    incoming: &'a [(String, ParamValue)],
) -> Result<Vec<&'a (String, ParamValue)>> {
    let mut fresh = Vec::with_capacity(incoming.len());
    for param in incoming {
        let (key, value) = param;
        match stored.get(key) {
            Some(stored) if *stored != value.text => {
                return Err(Error::Conflict(format!(
                    "param '{key}' of run '{run_id}' is already '{stored}' and cannot become '{}': params are \
                     write-once; log the new value under another key or start a new run",
                    value.text
                )));
            }
            Some(_) => {}
            None => fresh.push(param),
        }
    }
    Ok(fresh)
}

/// Writes to a run need it to exist and not be in the trash; `deleted_at` is the run's
/// deletion time as read (`None`: no such run).
pub(crate) fn check_run_active(run_id: &str, deleted_at: Option<Option<i64>>) -> Result<()> {
    match deleted_at {
        None => Err(Error::not_found(EntityKind::Run, run_id)),
        Some(Some(_)) => Err(Error::Conflict(format!(
            "run '{run_id}' is deleted; restore it before logging to it"
        ))),
        Some(None) => Ok(()),
    }
}

/// What moving an entity to the trash or back out of it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrashMove {
    /// Into the trash at this time, with the children that are not there yet.
    Trash(Timestamp),
    /// Out of the trash, with the children that went there at this time (with it).
    Restore(Timestamp),
    /// Already in the trash: nothing changes, the first deletion time stays (the retention of
    /// `ets gc` counts from there).
    AlreadyTrashed,
}

impl TrashMove {
    /// The time the children's statements take: the deletion time set or restored from.
    pub(crate) fn at(self) -> Option<Timestamp> {
        match self {
            TrashMove::Trash(at) | TrashMove::Restore(at) => Some(at),
            TrashMove::AlreadyTrashed => None,
        }
    }

    /// Applies the move to the entity's own fields: its `deleted_at`, and `updated_at` when it
    /// moved.
    pub(crate) fn apply(self, deleted_at: &mut Option<Timestamp>, updated_at: &mut Timestamp) {
        match self {
            TrashMove::Trash(at) => *deleted_at = Some(at),
            TrashMove::Restore(_) => *deleted_at = None,
            TrashMove::AlreadyTrashed => return,
        }
        *updated_at = Timestamp::now().max(*updated_at);
    }
}

/// The move that trashing (`deleted`) or restoring an entity whose `deleted_at` is as read
/// makes; restoring one that is not in the trash is a conflict.
pub(crate) fn trash_move(
    entity: EntityKind,
    id: &str,
    deleted_at: Option<Timestamp>,
    deleted: bool,
    now: Timestamp,
) -> Result<TrashMove> {
    match (deleted, deleted_at) {
        (true, None) => Ok(TrashMove::Trash(now)),
        (true, Some(_)) => Ok(TrashMove::AlreadyTrashed),
        (false, Some(at)) => Ok(TrashMove::Restore(at)),
        (false, None) => Err(Error::Conflict(format!("{entity} '{id}' is not deleted"))),
    }
}

/// An experiment or run (`child`) may leave the trash only while its project or experiment
/// (`parent`, with its `deleted_at` as read) is not in it.
pub(crate) fn check_restorable(
    child: EntityKind,
    parent: EntityKind,
    parent_id: &str,
    parent_deleted_at: Option<Timestamp>,
) -> Result<()> {
    if parent_deleted_at.is_some() {
        return Err(Error::Conflict(format!(
            "{parent} '{parent_id}' is deleted (in the trash); restore the {parent} first, which \
             restores the {child}s that went to the trash with it"
        )));
    }
    Ok(())
}

/// A run in the trash takes no writes (restoring it is done by the trash moves).
pub(crate) fn check_run_writable(run: &Run) -> Result<()> {
    check_run_active(&run.id, Some(run.deleted_at.map(Timestamp::millis)))
}

/// Applies `mutation` to a run read under lock. Returns whether that restores the run: the
/// caller then reads its experiment's `deleted_at` for [`check_restorable`].
pub(crate) fn update_run(run: &mut Run, mutation: crate::store::Mutation<Run>) -> Result<bool> {
    let was_deleted = run.deleted_at.is_some();
    mutation(run)?;
    run.updated_at = Timestamp::now().max(run.updated_at);
    Ok(was_deleted && run.deleted_at.is_none())
}

/// A project that has `experiments` experiments (counted by `sql::PROJECT_EXPERIMENTS` for a
/// permanent delete, `sql::PROJECT_LIVE_EXPERIMENTS` for a move to the trash) is deleted only
/// with `cascade`: deleting its contents is asked for, never implied.
pub(crate) fn check_project_cascade(id: &str, experiments: i64, cascade: bool) -> Result<()> {
    if experiments > 0 && !cascade {
        return Err(Error::Conflict(format!(
            "project '{id}' still has {experiments} experiment(s); delete them first or pass ?cascade=true"
        )));
    }
    Ok(())
}

/// A project keeps at least one admin: demoting or removing its last one is refused
/// (`admins` counts the project's admins now, `current` is the member's role now).
pub(crate) fn check_keeps_an_admin(
    project_id: &str,
    user: &str,
    current: Option<crate::auth::Role>,
    new: Option<crate::auth::Role>,
    admins: i64,
) -> Result<()> {
    use crate::auth::Role::Admin;
    if current == Some(Admin) && new != Some(Admin) && admins <= 1 {
        return Err(Error::Conflict(format!(
            "'{user}' is the last admin of project '{project_id}'; make another member admin first"
        )));
    }
    Ok(())
}

/// A user name is taken.
pub(crate) fn user_name_taken(name: &str) -> Error {
    Error::AlreadyExists {
        entity: EntityKind::User,
        name: name.to_owned(),
        scope: String::new(),
    }
}

/// An alert may be acknowledged while it is open (again is harmless); a resolved alert has
/// nothing left to acknowledge. `alert` is its state after the acknowledging write.
pub(crate) fn check_acknowledged(alert: &crate::store::alerts::AlertRecord) -> Result<()> {
    if alert.state == crate::store::alerts::AlertState::Resolved {
        return Err(Error::Conflict(format!(
            "alert '{}' is already resolved; there is nothing to acknowledge",
            alert.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(text: &str) -> (String, ParamValue) {
        (
            "lr".to_owned(),
            ParamValue::from_json(serde_json::json!(text)),
        )
    }

    #[test]
    fn write_once_params_keep_equal_values_and_refuse_changes() {
        let stored: HashMap<String, String> = [("lr".to_owned(), "0.1".to_owned())].into();
        let same = [param("0.1")];
        assert!(
            merge_write_once_params("r", &stored, &same)
                .unwrap()
                .is_empty()
        );
        let other = [param("0.2")];
        assert!(matches!(
            merge_write_once_params("r", &stored, &other),
            Err(Error::Conflict(_))
        ));
        let fresh = [param("0.3")];
        assert_eq!(
            merge_write_once_params("r", &HashMap::new(), &fresh)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn trash_moves() {
        let now = Timestamp(5);
        assert_eq!(
            trash_move(EntityKind::Experiment, "e", None, true, now).unwrap(),
            TrashMove::Trash(now)
        );
        assert_eq!(
            trash_move(EntityKind::Experiment, "e", Some(Timestamp(1)), true, now).unwrap(),
            TrashMove::AlreadyTrashed
        );
        assert_eq!(
            trash_move(EntityKind::Experiment, "e", Some(Timestamp(1)), false, now).unwrap(),
            TrashMove::Restore(Timestamp(1))
        );
        assert!(matches!(
            trash_move(EntityKind::Experiment, "e", None, false, now),
            Err(Error::Conflict(_))
        ));
    }

    #[test]
    fn the_last_admin_stays() {
        use crate::auth::Role::{Admin, Editor};
        assert!(check_keeps_an_admin("p", "u", Some(Admin), Some(Editor), 1).is_err());
        assert!(check_keeps_an_admin("p", "u", Some(Admin), None, 1).is_err());
        assert!(check_keeps_an_admin("p", "u", Some(Admin), None, 2).is_ok());
        assert!(check_keeps_an_admin("p", "u", Some(Editor), None, 1).is_ok());
        assert!(check_keeps_an_admin("p", "u", Some(Admin), Some(Admin), 1).is_ok());
    }

    #[test]
    fn quotas_are_limits_naming_their_setting() {
        match check_concurrent_experiments("e", 2, 2) {
            Err(Error::LimitExceeded { setting, .. }) => {
                assert_eq!(setting, "limits.max_concurrent_experiments");
            }
            other => panic!("{other:?}"),
        }
        assert!(check_concurrent_experiments("e", 1, 2).is_ok());
        assert!(check_project_cascade("p", 1, false).is_err());
        assert!(check_project_cascade("p", 1, true).is_ok());
    }
}
