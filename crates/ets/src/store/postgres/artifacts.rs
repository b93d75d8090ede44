//! PostgreSQL: artifacts. (Stubs: to be implemented.)

#![allow(unused_imports, clippy::unused_async)]

use super::{PgStore, Tx};
use crate::error::{Error, Result};
use crate::store::*;
use ets_domain::Timestamp;
use ets_domain::model::*;

impl PgStore {
    pub(super) async fn put_artifact(
        &self,
        run_id: &str,
        artifact: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>> {
        let _ = (run_id, artifact, object_key);
        Err(Error::internal(
            "PostgreSQL: put_artifact not implemented yet",
        ))
    }

    pub(super) async fn list_artifacts(
        &self,
        run_id: &str,
        prefix: Option<&str>,
    ) -> Result<Vec<Artifact>> {
        let _ = (run_id, prefix);
        Err(Error::internal(
            "PostgreSQL: list_artifacts not implemented yet",
        ))
    }

    pub(super) async fn get_artifact(&self, run_id: &str, path: &str) -> Result<StoredArtifact> {
        let _ = (run_id, path);
        Err(Error::internal(
            "PostgreSQL: get_artifact not implemented yet",
        ))
    }

    pub(super) async fn delete_artifacts(
        &self,
        run_id: &str,
        path: &str,
    ) -> Result<Vec<StoredArtifact>> {
        let _ = (run_id, path);
        Err(Error::internal(
            "PostgreSQL: delete_artifacts not implemented yet",
        ))
    }

    pub(super) async fn artifact_object_keys(&self, run_id: &str) -> Result<Option<Vec<String>>> {
        let _ = (run_id,);
        Err(Error::internal(
            "PostgreSQL: artifact_object_keys not implemented yet",
        ))
    }

    pub(super) async fn runs_deleted_before(
        &self,
        before: ets_domain::Timestamp,
    ) -> Result<Vec<String>> {
        let _ = (before,);
        Err(Error::internal(
            "PostgreSQL: runs_deleted_before not implemented yet",
        ))
    }
}
