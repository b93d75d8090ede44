//! MLflow's artifact proxy as a general file store. A proxy path (`mlflow-artifacts:/<path>`)
//! names, in this order:
//!
//! - a run's artifact, when it lies in a run's artifact root,
//!   `<experiment's root>/<run id>/artifacts/…` (the root is the experiment's id, or the path
//!   its `artifact_location` names);
//! - a logged model's file, `<experiment>/models/<model id>/artifacts/…` (where MLflow puts
//!   them), which ETS keeps with the model's source run, under `models/<model id>/artifacts/`,
//!   so a model shows up with the run that logged it;
//! - otherwise a file of the shared store (`stored_files`): under the permissions of the
//!   experiment whose id is its first segment, else of the `default` project (MLflow's proxy
//!   checks the experiment of the first segment too, and falls back to its default
//!   permission).
//!
//! Files keep the guarantees of run artifacts: paths cannot leave the root (they never become
//! object keys), uploads stream into objects of their own and become visible whole, with
//! their size and SHA-256 recorded.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use ets_domain::model::{Artifact, Run};
use futures_util::Stream;

use super::Services;
use super::artifacts::{ArtifactReader, DirEntry, Owner, UploadMeta, dir_entries};
use crate::actor::Actor;
use crate::error::{EntityKind, Error, Result};
use crate::store::StoredArtifact;

/// What a proxy path names.
#[derive(Debug, Clone, PartialEq)]
pub enum ProxyTarget {
    /// A run's artifact, or folder of artifacts (`None`: the run's artifact root).
    Run {
        run_id: String,
        path: Option<String>,
    },
    /// A file or folder of the shared store (`None`: the proxy's root).
    Files { owner: Owner, path: Option<String> },
}

/// Entries kept before the cache starts over (it only caps memory).
const ROOTS_CAPACITY: usize = 100_000;

/// Each experiment's artifact root below the proxy: set when the experiment is created and
/// never changed, so it is read once.
#[derive(Default)]
pub struct ArtifactRoots(Mutex<HashMap<String, String>>);

impl Services {
    /// The proxy path of an experiment's artifact root: its runs' artifacts are at
    /// `<root>/<run id>/artifacts`.
    pub async fn artifact_root(&self, experiment_id: &str) -> Result<String> {
        let cached = {
            let roots = self
                .artifact_roots
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            roots.get(experiment_id).cloned()
        };
        if let Some(root) = cached {
            return Ok(root);
        }
        let experiment = self.store.get_experiment(experiment_id).await?;
        let root = match &experiment.artifact_location {
            None => experiment.id.clone(),
            Some(location) => self.check_artifact_location(location).unwrap_or_else(|e| {
                // The store was configured differently when the location was accepted.
                tracing::warn!(experiment_id, location, error = %e, "an experiment's artifact location is no longer inside the artifact store; its runs' artifacts are served from the default root");
                experiment.id.clone()
            }),
        };
        let mut roots = self
            .artifact_roots
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if roots.len() >= ROOTS_CAPACITY {
            roots.clear();
        }
        roots.insert(experiment_id.to_owned(), root.clone());
        Ok(root)
    }

    /// The artifact roots of the runs' experiments, by experiment id.
    pub async fn artifact_roots_of(&self, runs: &[Run]) -> Result<HashMap<String, String>> {
        let mut roots = HashMap::new();
        for run in runs {
            if !roots.contains_key(&run.experiment_id) {
                let root = self.artifact_root(&run.experiment_id).await?;
                roots.insert(run.experiment_id.clone(), root);
            }
        }
        Ok(roots)
    }

    /// What the proxy path names, checked against what `actor` may do with its route's role.
    pub async fn resolve_proxy_path(&self, actor: &Actor, path: &str) -> Result<ProxyTarget> {
        let path = path.trim_matches('/');
        if !path.is_empty() {
            Error::check_artifact_path("path", path)?;
        }
        let segments: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        let rest = |from: usize| Some(segments[from..].join("/")).filter(|p| !p.is_empty());

        // A run's artifacts: a run id followed by `artifacts`, below its experiment's root.
        for i in 0..segments.len().saturating_sub(1) {
            if segments[i + 1] != "artifacts" {
                continue;
            }
            let experiment_id = match self.store.get_run(segments[i]).await {
                Ok(run) => run.experiment_id,
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if self.artifact_root(&experiment_id).await? == segments[..i].join("/") {
                let run_id = segments[i].to_owned();
                self.authorize(actor, EntityKind::Run, &run_id).await?;
                return Ok(ProxyTarget::Run {
                    run_id,
                    path: rest(i + 2),
                });
            }
        }

        // A logged model's files, kept with its source run.
        if let [experiment_id, "models", model_id, "artifacts", ..] = segments.as_slice() {
            match self.store.get_logged_model(model_id).await {
                Ok(model) if model.experiment_id == *experiment_id => {
                    if let Some(run_id) = model.source_run_id {
                        self.authorize(actor, EntityKind::Run, &run_id).await?;
                        let mut inner =
                            format!("{}/artifacts", super::models::model_artifact_dir(&model.id));
                        if let Some(rest) = rest(4) {
                            inner = format!("{inner}/{rest}");
                        }
                        return Ok(ProxyTarget::Run {
                            run_id,
                            path: Some(inner),
                        });
                    }
                }
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }

        // The shared store.
        let experiment_id = match segments.first() {
            Some(first) => match self.project_of(EntityKind::Experiment, first).await {
                Ok(_) => Some((*first).to_owned()),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let owner = Owner::Files { experiment_id };
        self.authorize_owner(actor, &owner).await?;
        Ok(ProxyTarget::Files {
            owner,
            path: rest(0),
        })
    }

    /// Stores one file of the shared store, streamed, replacing one at `path`.
    pub async fn upload_file<S, E>(
        &self,
        actor: &Actor,
        owner: &Owner,
        path: &str,
        declared_size: Option<u64>,
        meta: UploadMeta,
        body: S,
    ) -> Result<Artifact>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.authorize_owner(actor, owner).await?;
        Error::check_artifact_path("path", path)?;
        self.check_upload_size(declared_size)?;
        let staged = self.stage(owner.clone(), body).await?;
        self.store_artifact(actor, path, staged, meta).await
    }

    /// The entries directly inside folder `dir` of the shared store (its root when `None`).
    pub async fn list_file_dir(
        &self,
        actor: &Actor,
        owner: &Owner,
        dir: Option<&str>,
    ) -> Result<Vec<DirEntry>> {
        self.authorize_owner(actor, owner).await?;
        if let Some(dir) = dir
            .map(|d| d.trim_end_matches('/'))
            .filter(|d| !d.is_empty())
        {
            Error::check_artifact_path("path", dir)?;
        }
        let prefix = dir.map(|d| format!("{}/", d.trim_end_matches('/')));
        let files = self.store.list_files(prefix.as_deref()).await?;
        Ok(dir_entries(
            files
                .iter()
                .map(|f| (f.artifact.path.as_str(), f.artifact.size)),
            prefix.as_deref(),
        ))
    }

    /// A file's record, and a reader for its bytes.
    pub async fn open_file(
        &self,
        actor: &Actor,
        owner: &Owner,
        path: &str,
    ) -> Result<ArtifactReader> {
        self.authorize_owner(actor, owner).await?;
        Error::check_artifact_path("path", path)?;
        let stored = self.store.get_file(path).await?;
        Ok(self.reader(owner.clone(), stored))
    }

    /// Deletes the file at `path`, or every file below it as a folder; returns how many.
    pub async fn delete_files(&self, actor: &Actor, owner: &Owner, path: &str) -> Result<usize> {
        self.authorize_owner(actor, owner).await?;
        Error::check_artifact_path("path", path)?;
        let removed = self.store.delete_files(path).await?;
        if removed.is_empty() {
            return Err(Error::not_found(EntityKind::Artifact, path));
        }
        self.remove_file_objects(&removed).await;
        Ok(removed.len())
    }

    /// Best-effort removal of the bytes of files no longer recorded (whatever remains is
    /// found by `ets gc`).
    pub(crate) async fn remove_file_objects(&self, files: &[StoredArtifact]) {
        for key in files.iter().filter_map(|f| f.object_key.as_deref()) {
            if let Err(e) = self.artifacts.delete(key).await {
                tracing::warn!(key, error = %e, "a deleted file's bytes remain; `ets gc` removes them");
            }
        }
    }
}
