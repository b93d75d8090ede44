//! Rows of `projects`, `experiments` and `runs` read into domain values, once for both
//! backends. Each backend implements [`RowRead`] over its own row type (rusqlite and
//! tokio-postgres rows have different APIs); the column order is `statements`' (`*_COLUMNS`).

use std::collections::BTreeMap;

use ets_domain::Timestamp;
use ets_domain::model::{Experiment, Project, Run};
use ets_domain::status::{ExperimentStatus, ProjectStatus, RunStatus};
use serde::de::DeserializeOwned;

/// Typed access to the columns of one result row.
pub(crate) trait RowRead {
    type Error;
    fn text(&self, index: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, index: usize) -> Result<Option<String>, Self::Error>;
    fn int(&self, index: usize) -> Result<i64, Self::Error>;
    fn opt_int(&self, index: usize) -> Result<Option<i64>, Self::Error>;
    fn bytes(&self, index: usize) -> Result<Vec<u8>, Self::Error>;
    fn flag(&self, index: usize) -> Result<bool, Self::Error>;
    fn opt_float(&self, index: usize) -> Result<Option<f64>, Self::Error>;
    /// A JSON document (TEXT on SQLite, JSONB on PostgreSQL).
    fn json<T: DeserializeOwned>(&self, index: usize) -> Result<T, Self::Error>;
    fn opt_json<T: DeserializeOwned>(&self, index: usize) -> Result<Option<T>, Self::Error>;

    fn timestamp(&self, index: usize) -> Result<Timestamp, Self::Error> {
        self.int(index).map(Timestamp)
    }

    fn opt_timestamp(&self, index: usize) -> Result<Option<Timestamp>, Self::Error> {
        Ok(self.opt_int(index)?.map(Timestamp))
    }
}

pub(crate) fn project<R: RowRead>(row: &R) -> Result<Project, R::Error> {
    Ok(Project {
        id: row.text(0)?,
        name: row.text(1)?,
        description: row.opt_text(2)?,
        owner: row.opt_text(3)?,
        members: row.json(4)?,
        tags: row.json(5)?,
        status: ProjectStatus::parse(&row.text(6)?).unwrap_or(ProjectStatus::Active),
        template: row.opt_text(7)?,
        experiment_defaults: row.json(8)?,
        created_at: row.timestamp(9)?,
        updated_at: row.timestamp(10)?,
        deleted_at: row.opt_timestamp(11)?,
    })
}

pub(crate) fn experiment<R: RowRead>(row: &R) -> Result<Experiment, R::Error> {
    Ok(Experiment {
        id: row.text(0)?,
        project_id: row.text(1)?,
        name: row.text(2)?,
        description: row.opt_text(3)?,
        owner: row.opt_text(4)?,
        status: ExperimentStatus::parse(&row.text(5)?).unwrap_or(ExperimentStatus::Draft),
        tags: row.json(6)?,
        objectives: row.json(7)?,
        search_space: row.json(8)?,
        healthcare: row.opt_json(9)?,
        links: row.json(10)?,
        template: row.opt_text(11)?,
        created_at: row.timestamp(12)?,
        updated_at: row.timestamp(13)?,
        started_at: row.opt_timestamp(14)?,
        ended_at: row.opt_timestamp(15)?,
        deleted_at: row.opt_timestamp(16)?,
        artifact_location: row.opt_text(17)?,
    })
}

/// A run without params, tags and metrics (loaded in bulk afterwards).
pub(crate) fn run<R: RowRead>(row: &R) -> Result<Run, R::Error> {
    Ok(Run {
        id: row.text(0)?,
        experiment_id: row.text(1)?,
        project_id: row.text(2)?,
        name: row.text(3)?,
        description: row.opt_text(4)?,
        owner: row.opt_text(5)?,
        status: RunStatus::parse(&row.text(6)?).unwrap_or(RunStatus::Running),
        parent_run_id: row.opt_text(7)?,
        params: BTreeMap::new(),
        tags: BTreeMap::new(),
        metrics: Vec::new(),
        created_at: row.timestamp(8)?,
        updated_at: row.timestamp(9)?,
        started_at: row.opt_timestamp(10)?,
        ended_at: row.opt_timestamp(11)?,
        deleted_at: row.opt_timestamp(12)?,
        inputs: Vec::new(),
        models: Vec::new(),
    })
}
