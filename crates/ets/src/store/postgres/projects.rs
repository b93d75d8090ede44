//! PostgreSQL: projects. (Stubs: to be implemented.)

#![allow(unused_imports, clippy::unused_async)]

use super::{PgStore, Tx};
use crate::error::{Error, Result};
use crate::store::*;
use ets_domain::Timestamp;
use ets_domain::model::*;

impl PgStore {
    pub(super) async fn create_project(&self, project: Project) -> Result<Project> {
        let _ = (project,);
        Err(Error::internal(
            "PostgreSQL: create_project not implemented yet",
        ))
    }

    pub(super) async fn get_project(&self, id: &str) -> Result<Project> {
        let _ = (id,);
        Err(Error::internal(
            "PostgreSQL: get_project not implemented yet",
        ))
    }

    pub(super) async fn list_projects(
        &self,
        filter: ProjectFilter,
        page: PageRequest,
    ) -> Result<Page<Project>> {
        let _ = (filter, page);
        Err(Error::internal(
            "PostgreSQL: list_projects not implemented yet",
        ))
    }

    pub(super) async fn update_project(
        &self,
        id: &str,
        mutation: Mutation<Project>,
    ) -> Result<Project> {
        let _ = (id, mutation);
        Err(Error::internal(
            "PostgreSQL: update_project not implemented yet",
        ))
    }

    pub(super) async fn delete_project(&self, id: &str, cascade: bool) -> Result<Vec<String>> {
        let _ = (id, cascade);
        Err(Error::internal(
            "PostgreSQL: delete_project not implemented yet",
        ))
    }

    pub(super) async fn project_stats(&self, id: &str) -> Result<ProjectStats> {
        let _ = (id,);
        Err(Error::internal(
            "PostgreSQL: project_stats not implemented yet",
        ))
    }
}
