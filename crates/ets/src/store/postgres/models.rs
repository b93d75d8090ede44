//! PostgreSQL: models. (Stubs: to be implemented.)

#![allow(unused_imports, clippy::unused_async)]

use super::{PgStore, Tx};
use crate::error::{Error, Result};
use crate::store::*;
use ets_domain::Timestamp;
use ets_domain::model::*;

impl PgStore {
    pub(super) async fn create_logged_model(&self, model: LoggedModel) -> Result<LoggedModel> {
        let _ = (model,);
        Err(Error::internal(
            "PostgreSQL: create_logged_model not implemented yet",
        ))
    }

    pub(super) async fn get_logged_model(&self, id: &str) -> Result<LoggedModel> {
        let _ = (id,);
        Err(Error::internal(
            "PostgreSQL: get_logged_model not implemented yet",
        ))
    }

    pub(super) async fn update_logged_model(
        &self,
        id: &str,
        mutation: Mutation<LoggedModel>,
    ) -> Result<LoggedModel> {
        let _ = (id, mutation);
        Err(Error::internal(
            "PostgreSQL: update_logged_model not implemented yet",
        ))
    }

    pub(super) async fn delete_logged_model(&self, id: &str) -> Result<()> {
        let _ = (id,);
        Err(Error::internal(
            "PostgreSQL: delete_logged_model not implemented yet",
        ))
    }

    pub(super) async fn search_logged_models(
        &self,
        experiment_ids: &[String],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LoggedModel>> {
        let _ = (experiment_ids, offset, limit);
        Err(Error::internal(
            "PostgreSQL: search_logged_models not implemented yet",
        ))
    }
}

/// Stores metrics logged for models (MLflow 3's `log_metric(model_id=…)`).
pub(super) async fn log_model_metrics(tx: &Tx<'_>, metrics: &[ModelMetric]) -> Result<()> {
    let _ = (tx, metrics);
    Err(Error::internal(
        "PostgreSQL: models::log_model_metrics not implemented yet",
    ))
}
