//! Writing an archive of `ets export` back (`ets import DIR`): projects, experiments and runs
//! with the ids and times they had, checked as their create paths check them. For the command
//! line only (trusted, as `ets users`): no route calls these.
//!
//! A run is created carrying [`PENDING_TAG`] and loses it in [`Services::finish_imported_run`],
//! after its contents: an import that was interrupted finds the tag and writes the run's
//! contents again (every write is idempotent), one that finished finds the run without it and
//! skips it.

use ets_domain::Timestamp;
use ets_domain::model::{Experiment, LoggedModel, Project, Run, TagPatch};

use super::Services;
use super::{validate_description, validate_tags};
use crate::error::{Error, Result};
use crate::store::{PointContext, Trashable};
use ets_domain::validate;

/// Tag of a run whose contents an import is still writing.
pub const PENDING_TAG: &str = "ets.import.pending";

/// What [`Services::import_run`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportState {
    /// Created now.
    Created,
    /// Created by an import that did not finish: its contents are to be written again.
    Unfinished,
    /// Imported whole before: nothing to do.
    Done,
}

impl Services {
    /// Creates the project as archived (outside the trash until
    /// [`Services::import_times`]). `false` when it exists already (an earlier import of the
    /// same archive), which it must be: the same name under the same id.
    pub async fn import_project(&self, mut project: Project) -> Result<bool> {
        validate::name("name", &project.name)?;
        validate_description("description", project.description.as_ref())?;
        validate_tags("tags", project.tags.iter().map(|(k, v)| (k, Some(v))))?;
        super::projects::validate_members(&project.members)?;
        super::projects::validate_defaults(&project.experiment_defaults)?;
        if let Some(existing) = found(self.store.get_project(&project.id).await)? {
            return same_name("project", &project.id, &existing.name, &project.name).map(|_| false);
        }
        project.deleted_at = None;
        // Members of the source deployment are its users: no admin is added here (global
        // admins reach the project; `PUT …/members` gives others a role).
        self.store.create_project(project, None).await?;
        Ok(true)
    }

    /// Creates the experiment as archived, in its project (outside the trash until
    /// [`Services::import_times`]). `false` when it exists already, as for projects.
    pub async fn import_experiment(&self, mut experiment: Experiment) -> Result<bool> {
        validate::name("name", &experiment.name)?;
        validate_description("description", experiment.description.as_ref())?;
        validate_tags("tags", experiment.tags.iter().map(|(k, v)| (k, Some(v))))?;
        super::experiments::validate_links(&experiment.links)?;
        super::experiments::validate_objectives("objectives", &experiment.objectives)?;
        super::experiments::validate_search_space(&experiment.search_space)?;
        if let Some(existing) = found(self.store.get_experiment(&experiment.id).await)? {
            same_parent(
                "experiment",
                &experiment.id,
                "project",
                &existing.project_id,
                &experiment.project_id,
            )?;
            return same_name(
                "experiment",
                &experiment.id,
                &existing.name,
                &experiment.name,
            )
            .map(|_| false);
        }
        experiment.deleted_at = None;
        self.store.create_experiment(experiment).await?;
        Ok(true)
    }

    /// Creates the run as archived — status, times, params, tags — with [`PENDING_TAG`],
    /// outside the trash. Its parent, if any, must be restored first; its datasets and models
    /// follow with [`Services::import_run_links`].
    pub async fn import_run(&self, run: &Run) -> Result<ImportState> {
        validate::name("name", &run.name)?;
        validate_description("description", run.description.as_ref())?;
        validate_tags("tags", run.tags.iter().map(|(k, v)| (k, Some(v))))?;
        let params = super::runs::validate_params("params", run.params.clone())?;
        if let Some(existing) = found(self.store.get_run(&run.id).await)? {
            same_parent(
                "run",
                &run.id,
                "experiment",
                &existing.experiment_id,
                &run.experiment_id,
            )?;
            return Ok(if existing.tags.contains_key(PENDING_TAG) {
                ImportState::Unfinished
            } else {
                ImportState::Done
            });
        }
        let mut new = run.clone();
        new.deleted_at = None;
        new.metrics.clear();
        new.tags.insert(PENDING_TAG.to_owned(), "true".to_owned());
        new.inputs.clear();
        new.models.clear();
        self.store.create_run(new, params).await?;
        Ok(ImportState::Created)
    }

    /// Creates the logged model as archived (its metrics come back with the runs' points).
    /// `false` when it exists already.
    pub async fn import_logged_model(&self, mut model: LoggedModel) -> Result<bool> {
        validate::name("name", &model.name)?;
        validate_tags("tags", model.tags.iter().map(|(k, v)| (k, Some(v))))?;
        if let Some(existing) = found(self.store.get_logged_model(&model.id).await)? {
            return same_name("logged model", &model.id, &existing.name, &model.name)
                .map(|_| false);
        }
        model.metrics.clear();
        self.store.create_logged_model(model).await?;
        Ok(true)
    }

    /// Links a restored run to the datasets and logged models it had (again is harmless).
    pub async fn import_run_links(&self, run: &Run) -> Result<()> {
        if !run.inputs.is_empty() {
            self.store.log_inputs(&run.id, run.inputs.clone()).await?;
        }
        if !run.models.is_empty() {
            self.store
                .log_run_models(&run.id, run.models.clone())
                .await?;
        }
        Ok(())
    }

    /// Records the model or dataset archived points were logged with (the points are written
    /// first); contexts the run has already (an import resumed) are skipped by the store.
    pub async fn import_contexts(&self, run_id: &str, contexts: Vec<PointContext>) -> Result<()> {
        for (i, context) in contexts.iter().enumerate() {
            if context.run_id != run_id {
                return Err(Error::invalid(
                    format!("contexts[{i}].run_id"),
                    format!("names run '{}', not '{run_id}'", context.run_id),
                ));
            }
            validate::key(&format!("contexts[{i}].key"), &context.key)?;
        }
        self.store
            .log_batch(
                run_id,
                Vec::new(),
                TagPatch::new(),
                None,
                Vec::new(),
                contexts,
            )
            .await?;
        Ok(())
    }

    /// Ends a run's restore: drops [`PENDING_TAG`] and puts back its archived `updated_at`
    /// and `deleted_at`.
    pub async fn finish_imported_run(&self, run: &Run) -> Result<()> {
        let untag = TagPatch::from([(PENDING_TAG.to_owned(), None)]);
        self.store
            .update_run(&run.id, Box::new(|_| Ok(())), Vec::new(), untag)
            .await?;
        self.import_times(Trashable::Runs, &run.id, run.updated_at, run.deleted_at)
            .await
    }

    /// Puts back an entity's archived `updated_at` and `deleted_at` (last: writing its
    /// contents marked it updated, and the trash takes no writes).
    pub async fn import_times(
        &self,
        kind: Trashable,
        id: &str,
        updated_at: Timestamp,
        deleted_at: Option<Timestamp>,
    ) -> Result<()> {
        self.store
            .restore_times(kind, id, updated_at, deleted_at)
            .await
    }
}

/// `Some` when the entity exists, `None` when not found.
fn found<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(entity) => Ok(Some(entity)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn same_name(kind: &str, id: &str, existing: &str, archived: &str) -> Result<()> {
    if existing == archived {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "{kind} '{id}' exists here as '{existing}', not '{archived}' as in the archive; this \
         ETS holds other data under the archive's ids"
    )))
}

/// An entity already here under an archived id must be in the same parent.
fn same_parent(kind: &str, id: &str, parent: &str, existing: &str, archived: &str) -> Result<()> {
    if existing == archived {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "{kind} '{id}' exists here in another {parent} ('{existing}', not '{archived}'); this \
         ETS holds other data under the archive's ids"
    )))
}
