//! PostgreSQL: runs. (Stubs: to be implemented.)

#![allow(unused_imports, clippy::unused_async)]

use super::{PgStore, Tx};
use crate::error::{Error, Result};
use crate::store::*;
use ets_domain::Timestamp;
use ets_domain::model::*;

impl PgStore {
    pub(super) async fn create_run(
        &self,
        run: Run,
        params: Vec<(String, ParamValue)>,
    ) -> Result<Run> {
        let _ = (run, params);
        Err(Error::internal(
            "PostgreSQL: create_run not implemented yet",
        ))
    }

    pub(super) async fn get_run(&self, id: &str) -> Result<Run> {
        let _ = (id,);
        Err(Error::internal("PostgreSQL: get_run not implemented yet"))
    }

    pub(super) async fn list_runs(
        &self,
        filter: RunFilter,
        page: PageRequest,
    ) -> Result<Page<Run>> {
        let _ = (filter, page);
        Err(Error::internal("PostgreSQL: list_runs not implemented yet"))
    }

    pub(super) async fn update_run(
        &self,
        id: &str,
        mutation: Mutation<Run>,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
    ) -> Result<Run> {
        let _ = (id, mutation, params, tags);
        Err(Error::internal(
            "PostgreSQL: update_run not implemented yet",
        ))
    }

    pub(super) async fn delete_run(&self, id: &str) -> Result<()> {
        let _ = (id,);
        Err(Error::internal(
            "PostgreSQL: delete_run not implemented yet",
        ))
    }

    pub(super) async fn search_runs(&self, search: Search) -> Result<Vec<Run>> {
        let _ = (search,);
        Err(Error::internal(
            "PostgreSQL: search_runs not implemented yet",
        ))
    }

    pub(super) async fn log_inputs(&self, run_id: &str, inputs: Vec<DatasetInput>) -> Result<()> {
        let _ = (run_id, inputs);
        Err(Error::internal(
            "PostgreSQL: log_inputs not implemented yet",
        ))
    }
}

/// Refuses (not found / conflict) unless the run exists and is not in the trash.
pub(super) async fn ensure_active(tx: &Tx<'_>, run_id: &str) -> Result<()> {
    let _ = (tx, run_id);
    Err(Error::internal(
        "PostgreSQL: runs::ensure_active not implemented yet",
    ))
}

/// Adds params (write-once), applies tags and optionally renames the run (log-batch).
pub(super) async fn log_params_and_tags(
    tx: &Tx<'_>,
    run_id: &str,
    params: &[(String, ParamValue)],
    tags: &TagPatch,
    rename: Option<String>,
) -> Result<()> {
    let _ = (tx, run_id, params, tags, rename);
    Err(Error::internal(
        "PostgreSQL: runs::log_params_and_tags not implemented yet",
    ))
}

/// Sets the run's `updated_at`.
pub(super) async fn touch(tx: &Tx<'_>, run_id: &str, at: Timestamp) -> Result<()> {
    let _ = (tx, run_id, at);
    Err(Error::internal(
        "PostgreSQL: runs::touch not implemented yet",
    ))
}
