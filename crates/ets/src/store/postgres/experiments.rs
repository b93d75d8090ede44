//! PostgreSQL: experiments. (Stubs: to be implemented.)

#![allow(unused_imports, clippy::unused_async)]

use super::{PgStore, Tx};
use crate::error::{Error, Result};
use crate::store::*;
use ets_domain::Timestamp;
use ets_domain::model::*;

impl PgStore {
    pub(super) async fn create_experiment(&self, experiment: Experiment) -> Result<Experiment> {
        let _ = (experiment,);
        Err(Error::internal(
            "PostgreSQL: create_experiment not implemented yet",
        ))
    }

    pub(super) async fn get_experiment(&self, id: &str) -> Result<Experiment> {
        let _ = (id,);
        Err(Error::internal(
            "PostgreSQL: get_experiment not implemented yet",
        ))
    }

    pub(super) async fn list_experiments(
        &self,
        filter: ExperimentFilter,
        page: PageRequest,
    ) -> Result<Page<Experiment>> {
        let _ = (filter, page);
        Err(Error::internal(
            "PostgreSQL: list_experiments not implemented yet",
        ))
    }

    pub(super) async fn update_experiment(
        &self,
        id: &str,
        mutation: Mutation<Experiment>,
    ) -> Result<Experiment> {
        let _ = (id, mutation);
        Err(Error::internal(
            "PostgreSQL: update_experiment not implemented yet",
        ))
    }

    pub(super) async fn delete_experiment(&self, id: &str) -> Result<Vec<String>> {
        let _ = (id,);
        Err(Error::internal(
            "PostgreSQL: delete_experiment not implemented yet",
        ))
    }

    pub(super) async fn set_experiment_deleted(
        &self,
        id: &str,
        deleted: bool,
    ) -> Result<Experiment> {
        let _ = (id, deleted);
        Err(Error::internal(
            "PostgreSQL: set_experiment_deleted not implemented yet",
        ))
    }

    pub(super) async fn search_experiments(&self, search: Search) -> Result<Vec<Experiment>> {
        let _ = (search,);
        Err(Error::internal(
            "PostgreSQL: search_experiments not implemented yet",
        ))
    }

    pub(super) async fn find_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        let _ = (name,);
        Err(Error::internal(
            "PostgreSQL: find_experiment_by_name not implemented yet",
        ))
    }

    pub(super) async fn count_runs(&self, experiment_ids: &[String]) -> Result<Vec<i64>> {
        let _ = (experiment_ids,);
        Err(Error::internal(
            "PostgreSQL: count_runs not implemented yet",
        ))
    }

    pub(super) async fn latest_metrics(
        &self,
        experiment_ids: &[String],
        keys: Option<&[String]>,
    ) -> Result<Vec<LatestMetric>> {
        let _ = (experiment_ids, keys);
        Err(Error::internal(
            "PostgreSQL: latest_metrics not implemented yet",
        ))
    }
}
