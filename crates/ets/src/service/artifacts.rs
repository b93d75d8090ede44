//! Artifact use cases, shared by the native API and the MLflow artifact proxy: streamed uploads
//! (one request, or resumable in parts), listings, ranged downloads, deletion, and the garbage
//! collection of `ets gc`.
//!
//! The bytes of every upload go to a new object of their own; the metadata row is written only
//! once the object is complete, and names that object. Replacing an artifact swaps the row's
//! key and then removes the old object, so concurrent uploads of one path always leave a row
//! that matches its bytes, and a failed upload leaves nothing.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use ets_domain::Timestamp;
use ets_domain::model::{Artifact, Run};
use futures_util::{Stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Services;
use crate::actor::Actor;
use crate::artifacts::{self, ArtifactStore, ByteStream, PendingObject};
use crate::audit::Event;
use crate::error::{EntityKind, Error, Result};
use crate::store::{DataOf, Store, StoredArtifact, Trashable};

/// Parts of one resumable upload.
pub const MAX_PARTS: u32 = 10_000;

/// One entry of an artifact folder listing.
#[derive(Debug, Clone, PartialEq)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
    /// File size; `None` for folders.
    pub size: Option<i64>,
}

/// What a client says about an upload besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct UploadMeta {
    /// The client's `Content-Type`; when absent (or a form encoding) the type is guessed from
    /// the path's extension.
    pub content_type: Option<String>,
    /// Hex SHA-256 the content must have.
    pub sha256: Option<String>,
}

/// Whose an artifact is: a run's, or a file of the artifact proxy's shared store
/// (`service::files`), inside an experiment's folder or in the shared area.
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    Run(String),
    Files { experiment_id: Option<String> },
}

impl Owner {
    /// Where the bytes of a record are.
    fn object_key(&self, stored: &StoredArtifact) -> String {
        match (self, &stored.object_key) {
            (_, Some(key)) => key.clone(),
            (Owner::Run(run_id), None) => artifacts::legacy_key(run_id, &stored.artifact.path),
            (Owner::Files { .. }, None) => String::new(),
        }
    }

    /// The record at `path` now.
    async fn current(&self, store: &dyn Store, path: &str) -> Result<StoredArtifact> {
        match self {
            Owner::Run(run_id) => store.get_artifact(run_id, path).await,
            Owner::Files { .. } => store.get_file(path).await,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Run(run_id) => write!(f, "run '{run_id}'"),
            Owner::Files { .. } => f.write_str("the artifact proxy's files"),
        }
    }
}

/// An upload received in full but not yet visible or recorded.
#[derive(Debug)]
pub struct StagedArtifact {
    owner: Owner,
    key: String,
    object: PendingObject,
}

impl StagedArtifact {
    pub fn size(&self) -> u64 {
        self.object.size
    }

    pub fn sha256(&self) -> &str {
        &self.object.sha256
    }

    /// Drops the bytes.
    pub async fn discard(self) {
        self.object.discard().await;
    }
}

/// An artifact about to be downloaded: its record, and its bytes on demand.
pub struct ArtifactReader {
    pub artifact: Artifact,
    owner: Owner,
    key: String,
    store: Arc<dyn Store>,
    artifacts: ArtifactStore,
}

impl ArtifactReader {
    /// Streams the content, or `range` of it (already checked against the size).
    pub async fn open(self, range: Option<Range<u64>>) -> Result<ByteStream> {
        match self.artifacts.read(&self.key, range.clone()).await {
            Err(Error::NotFound { .. }) => {
                // Replaced since the record was read: the old object is gone. Serve the new
                // one if it has the same content, so the response matches its headers.
                let current = self
                    .owner
                    .current(self.store.as_ref(), &self.artifact.path)
                    .await?;
                if current.artifact.sha256 != self.artifact.sha256 {
                    return Err(Error::Conflict(format!(
                        "artifact '{}' was replaced while it was being read; request it again",
                        self.artifact.path
                    )));
                }
                let key = self.owner.object_key(&current);
                self.artifacts.read(&key, range).await.map_err(|e| match e {
                    Error::NotFound { .. } => Error::internal(format!(
                        "the bytes of artifact '{}' of {} are missing from storage",
                        self.artifact.path, self.owner
                    )),
                    other => other,
                })
            }
            other => other,
        }
    }
}

/// Body of `POST /api/v1/runs/{id}/uploads`: start a resumable upload.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    /// Destination path in the run, e.g. `checkpoints/model.pt`.
    pub path: String,
    /// Total size, if known: checked against the limit now and against the parts on completion.
    #[serde(default)]
    pub size: Option<u64>,
    /// Hex SHA-256 of the whole file, if known: checked on completion.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Content type to record; guessed from the path when absent.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// A resumable upload and the parts received so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadInfo {
    pub upload_id: String,
    pub run_id: String,
    pub path: String,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub content_type: Option<String>,
    pub created_at: Timestamp,
    /// After this, `ets gc` may remove the unfinished upload (`artifacts.upload_expiry_hours`).
    pub expires_at: Timestamp,
    /// Parts received, by part number.
    pub parts: Vec<UploadedPart>,
    /// Sum of the parts' sizes.
    pub received_bytes: u64,
}

/// One stored part of a resumable upload.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadedPart {
    pub part_number: u32,
    pub size: u64,
    /// Identifies this upload of the part; pass it back when completing.
    pub etag: String,
    /// Hex SHA-256 of the part; only in the answer to the part's upload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// What `ets gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GcReport {
    /// Projects that were in the trash longer than the retention, deleted with their
    /// experiments, runs and artifacts.
    pub projects_purged: usize,
    /// Experiments that were in the trash longer than the retention, deleted with their runs
    /// and artifacts.
    pub experiments_purged: usize,
    /// Runs that were in the trash longer than the retention, deleted with their artifacts.
    pub runs_purged: usize,
    /// Unfinished resumable uploads past their expiry.
    pub uploads_removed: usize,
    /// Stored objects no artifact refers to (interrupted uploads, crashed replacements).
    pub orphan_objects_removed: usize,
    /// Local staging files of writes cut short by a crash.
    pub staging_files_removed: usize,
}

/// The resumable upload's own record, stored next to its parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadManifest {
    run_id: String,
    path: String,
    size: Option<u64>,
    sha256: Option<String>,
    content_type: Option<String>,
    created_at: i64,
}

/// Where the bytes of a recorded artifact are.
pub(crate) fn object_key(run_id: &str, stored: &StoredArtifact) -> String {
    Owner::Run(run_id.to_owned()).object_key(stored)
}

/// The entries directly inside the folder `prefix` (ending in `/`; the root when `None`) of
/// files listed by path: files with their size, and sub-folders once each.
pub(crate) fn dir_entries<'a>(
    files: impl Iterator<Item = (&'a str, i64)>,
    prefix: Option<&str>,
) -> Vec<DirEntry> {
    let skip = prefix.map_or(0, str::len);
    let mut entries: Vec<DirEntry> = Vec::new();
    for (path, size) in files {
        let relative = &path[skip..];
        match relative.split_once('/') {
            Some((folder, _)) => {
                if entries.last().is_none_or(|e| e.name != folder) {
                    entries.push(DirEntry {
                        name: folder.to_owned(),
                        is_dir: true,
                        size: None,
                    });
                }
            }
            None => entries.push(DirEntry {
                name: relative.to_owned(),
                is_dir: false,
                size: Some(size),
            }),
        }
    }
    entries.dedup_by(|a, b| a.name == b.name && a.is_dir == b.is_dir);
    entries
}

/// A hex SHA-256 as sent by a client, normalised to lowercase.
pub fn parse_sha256(field: &str, value: &str) -> Result<String> {
    let value = value.trim().to_ascii_lowercase();
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            field,
            "must be a SHA-256 as 64 hexadecimal characters",
        ));
    }
    Ok(value)
}

/// The content type to record: the client's, unless it says nothing specific — absent, the
/// generic `application/octet-stream` (what `curl -F` and most clients send by default) or a
/// form encoding (what `curl -d` sends) — in which case the one the path's extension suggests.
fn effective_content_type(given: Option<&str>, path: &str) -> String {
    const UNSPECIFIC: [&str; 3] = [
        "application/octet-stream",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ];
    let given = given.map(str::trim).filter(|t| !t.is_empty()).filter(|t| {
        let essence = t.split(';').next().unwrap_or_default().trim();
        !UNSPECIFIC.iter().any(|u| essence.eq_ignore_ascii_case(u))
    });
    match given {
        Some(t) => t.to_owned(),
        None => mime_guess::from_path(path)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned(),
    }
}

fn upload_prefix(upload_id: &str) -> Result<String> {
    // Upload ids are ours (32 hex digits); anything else cannot name an upload.
    if upload_id.len() != 32 || !upload_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::not_found(EntityKind::Upload, upload_id));
    }
    Ok(format!("uploads/{upload_id}"))
}

fn manifest_key(prefix: &str) -> String {
    format!("{prefix}/upload.json")
}

/// `uploads/<id>/part-00042.<etag>` → (42, etag).
fn parse_part_key(key: &str) -> Option<(u32, String)> {
    let name = key.rsplit('/').next()?;
    let (number, etag) = name.strip_prefix("part-")?.split_once('.')?;
    Some((number.parse().ok()?, etag.to_owned()))
}

fn check_part_number(part_number: u32) -> Result<()> {
    if part_number == 0 || part_number > MAX_PARTS {
        return Err(Error::invalid(
            "part_number",
            format!("part numbers run from 1 to {MAX_PARTS}"),
        ));
    }
    Ok(())
}

/// One part of a resumable upload as the request announces it.
pub struct PartUpload {
    pub number: u32,
    /// `Content-Length`, when sent: refused at once if it cannot fit.
    pub declared_size: Option<u64>,
    /// The SHA-256 the client expects the part to have.
    pub sha256: Option<String>,
}

/// Longest artifact location an experiment may name (MLflow's default limit).
const MAX_ARTIFACT_LOCATION_CHARS: usize = 2048;

impl Services {
    /// Checks an experiment's artifact location and returns its path below the proxy root. It
    /// must be inside this server's artifact store, so every artifact of the experiment's runs
    /// goes through ETS (checksums, permissions, the audit trail).
    pub(crate) fn check_artifact_location(&self, location: &str) -> Result<String> {
        let field = "artifact_location";
        if location.starts_with("runs:") {
            return Err(Error::invalid(
                field,
                format!("Artifact location cannot be a runs:/ URI. Given: '{location}'"),
            ));
        }
        if location.chars().count() > MAX_ARTIFACT_LOCATION_CHARS {
            return Err(Error::invalid(
                field,
                format!(
                    "Invalid artifact path length. The length of the artifact path cannot be \
                     greater than {MAX_ARTIFACT_LOCATION_CHARS} characters."
                ),
            ));
        }
        if location.contains(['#', '?', ';']) {
            return Err(Error::invalid(
                field,
                "'artifact_location' URL can't include fragments, params or a query.",
            ));
        }
        let path = self.artifacts.proxy_path_of(location).ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "'{location}' is outside ETS's artifact store ({}); ETS keeps every artifact in \
                     its store and serves it through its proxy: use an mlflow-artifacts:/<path> URI \
                     or a location inside the store",
                    self.artifacts.location()
                ),
            )
        })?;
        if !path.is_empty() {
            // A bad field of the body (422), like the other refusals here.
            Error::check_artifact_path(field, &path).map_err(|e| match e {
                Error::InvalidPath(refusal) => Error::Invalid(refusal),
                other => other,
            })?;
        }
        Ok(path)
    }

    pub(super) fn artifact_limit(&self) -> u64 {
        self.config.limits.max_artifact_bytes
    }

    /// Refuses an upload whose announced size (`Content-Length`, or a declared total) is over
    /// the limit before a byte of it is read.
    pub fn check_upload_size(&self, declared: Option<u64>) -> Result<()> {
        let limit = self.artifact_limit();
        match declared {
            Some(size) if size > limit => Err(Error::PayloadTooLarge(format!(
                "the upload announces {size} bytes; the limit is {limit} bytes ({}), limits.max_artifact_bytes \
                 (ETS_LIMITS__MAX_ARTIFACT_BYTES)",
                artifacts::human_bytes(limit)
            ))),
            _ => Ok(()),
        }
    }

    /// A run that may take new artifacts: it exists and is not in the trash.
    async fn writable_run(&self, run_id: &str) -> Result<Run> {
        let run = self.store.get_run(run_id).await?;
        if run.deleted_at.is_some() {
            return Err(Error::Conflict(format!(
                "run '{run_id}' is deleted; restore it before adding artifacts"
            )));
        }
        Ok(run)
    }

    /// Streams an upload into storage, refusing more than the artifact size limit. The run is
    /// checked first so nothing is uploaded for a run that does not exist. Nothing is visible
    /// until [`Services::store_artifact`].
    pub async fn stage_artifact<S, E>(
        &self,
        actor: &Actor,
        run_id: &str,
        body: S,
    ) -> Result<StagedArtifact>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        self.writable_run(run_id).await?;
        self.stage(Owner::Run(run_id.to_owned()), body).await
    }

    /// Streams an upload for `owner` into a new object of its own (not visible yet).
    pub(super) async fn stage<S, E>(&self, owner: Owner, body: S) -> Result<StagedArtifact>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let key = match &owner {
            Owner::Run(run_id) => artifacts::new_object_key(run_id),
            Owner::Files { .. } => artifacts::new_file_key(),
        };
        let object = self
            .artifacts
            .write(&key, body, self.artifact_limit())
            .await?;
        Ok(StagedArtifact { owner, key, object })
    }

    /// A reader of a record of `owner`'s.
    pub(super) fn reader(&self, owner: Owner, stored: StoredArtifact) -> ArtifactReader {
        ArtifactReader {
            key: owner.object_key(&stored),
            artifact: stored.artifact,
            owner,
            store: self.store.clone(),
            artifacts: self.artifacts.clone(),
        }
    }

    /// Publishes a staged upload as the artifact at `path` (replacing one there) and records
    /// it, after checking the path and, if the client sent one, the checksum. On any refusal
    /// the bytes are dropped.
    pub async fn store_artifact(
        &self,
        actor: &Actor,
        path: &str,
        staged: StagedArtifact,
        meta: UploadMeta,
    ) -> Result<Artifact> {
        if let Err(e) = self.authorize_owner(actor, &staged.owner).await {
            staged.discard().await;
            return Err(e);
        }
        if let Err(e) = Error::check_artifact_path("path", path) {
            staged.discard().await;
            return Err(e);
        }
        if let Some(expected) = &meta.sha256
            && *expected != staged.object.sha256
        {
            let actual = staged.object.sha256.clone();
            staged.discard().await;
            return Err(Error::ChecksumMismatch {
                what: format!("artifact '{path}'"),
                expected: expected.clone(),
                actual,
            });
        }
        let artifact = Artifact {
            path: path.to_owned(),
            size: staged.object.size as i64,
            sha256: staged.object.sha256.clone(),
            content_type: Some(effective_content_type(meta.content_type.as_deref(), path)),
            created_at: Timestamp::now(),
        };
        let StagedArtifact { owner, key, object } = staged;
        self.publish(owner, key, object, artifact).await
    }

    /// Stores an artifact of an archive (`ets import DIR`) with the record it had there (its
    /// time and content type); the bytes must have the recorded size and SHA-256.
    pub async fn restore_artifact<S, E>(
        &self,
        actor: &Actor,
        run_id: &str,
        artifact: Artifact,
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        Error::check_artifact_path("path", &artifact.path)?;
        let staged = self.stage_artifact(actor, run_id, body).await?;
        if staged.object.sha256 != artifact.sha256 || staged.object.size as i64 != artifact.size {
            let message = format!(
                "artifact '{}' of run '{run_id}': the archive records SHA-256 {} ({} bytes) but \
                 its file hashes to {} ({} bytes); the archive is damaged",
                artifact.path,
                artifact.sha256,
                artifact.size,
                staged.object.sha256,
                staged.object.size
            );
            staged.discard().await;
            return Err(Error::BadRequest(message));
        }
        let StagedArtifact { owner, key, object } = staged;
        self.publish(owner, key, object, artifact).await.map(drop)
    }

    /// Checks that `actor` may touch what `owner` holds, with its route's role.
    pub(crate) async fn authorize_owner(&self, actor: &Actor, owner: &Owner) -> Result<()> {
        match owner {
            Owner::Run(run_id) => self.authorize(actor, EntityKind::Run, run_id).await,
            Owner::Files {
                experiment_id: Some(id),
            } => self.authorize(actor, EntityKind::Experiment, id).await,
            Owner::Files {
                experiment_id: None,
            } => self
                .authorize_project(actor, super::experiments::DEFAULT_PROJECT_ID)
                .await
                .map_err(|e| match e {
                    // The shared area is no secret: say what it takes.
                    Error::NotFound { .. } => Error::Forbidden(
                        "files outside experiments' folders need a role on the `default` \
                         project"
                            .to_owned(),
                    ),
                    other => other,
                }),
        }
    }

    /// Makes an object visible and records it, then removes the object it replaced. Runs as
    /// its own task: once started it finishes even if the client goes away, so an object
    /// and its row never part ways.
    async fn publish(
        &self,
        owner: Owner,
        key: String,
        object: PendingObject,
        artifact: Artifact,
    ) -> Result<Artifact> {
        let store = self.store.clone();
        let storage = self.artifacts.clone();
        tokio::spawn(crate::audit::in_current_context(async move {
            object.commit().await?;
            let recorded = match &owner {
                Owner::Run(run_id) => store.put_artifact(run_id, artifact.clone(), key.clone()),
                Owner::Files { experiment_id } => {
                    store.put_file(experiment_id.clone(), artifact.clone(), key.clone())
                }
            };
            match recorded.await {
                Ok(previous) => {
                    if let Some(previous) = previous {
                        let old = owner.object_key(&previous);
                        if old != key
                            && let Err(e) = storage.delete(&old).await
                        {
                            tracing::warn!(%owner, key = old, error = %e, "a replaced artifact's bytes remain; `ets gc` removes them");
                        }
                    }
                    Ok(artifact)
                }
                Err(e) => {
                    if let Err(cleanup) = storage.delete(&key).await {
                        tracing::warn!(%owner, key, error = %cleanup, "an unrecorded upload remains; `ets gc` removes it");
                    }
                    Err(e)
                }
            }
        }))
        .await
        .map_err(|e| Error::internal(format!("storing an artifact failed: {e}")))?
    }

    /// A whole upload in one call: the path is checked first, a declared size over the limit is
    /// refused before reading, then the body streams to storage and is recorded.
    pub async fn upload_artifact<S, E>(
        &self,
        actor: &Actor,
        run_id: &str,
        path: &str,
        declared_size: Option<u64>,
        meta: UploadMeta,
        body: S,
    ) -> Result<Artifact>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        Error::check_artifact_path("path", path)?;
        self.check_upload_size(declared_size)?;
        let staged = self.stage_artifact(actor, run_id, body).await?;
        self.store_artifact(actor, path, staged, meta).await
    }

    pub async fn list_artifacts(
        &self,
        actor: &Actor,
        run_id: &str,
        prefix: Option<&str>,
    ) -> Result<Vec<Artifact>> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let artifacts = self.store.list_artifacts(run_id, prefix).await?;
        let event = Event::new("artifact.list", "run", run_id).detail("prefix", prefix);
        self.audit_read(event, DataOf::Run(run_id.to_owned()))
            .await?;
        Ok(artifacts)
    }

    /// The entries directly inside folder `dir` of a run's artifacts (the root when `None`):
    /// files with their size, and sub-folders.
    pub async fn list_artifact_dir(
        &self,
        actor: &Actor,
        run_id: &str,
        dir: Option<&str>,
    ) -> Result<Vec<DirEntry>> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        if let Some(dir) = dir
            .map(|d| d.trim_end_matches('/'))
            .filter(|d| !d.is_empty())
        {
            Error::check_artifact_path("path", dir)?;
        }
        let prefix = dir.map(|d| format!("{}/", d.trim_end_matches('/')));
        let artifacts = self
            .list_artifacts(actor, run_id, prefix.as_deref())
            .await?;
        Ok(dir_entries(
            artifacts.iter().map(|a| (a.path.as_str(), a.size)),
            prefix.as_deref(),
        ))
    }

    /// The artifact's record, and a reader for its bytes.
    pub async fn open_artifact(
        &self,
        actor: &Actor,
        run_id: &str,
        path: &str,
    ) -> Result<ArtifactReader> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        Error::check_artifact_path("path", path)?;
        let stored = self.store.get_artifact(run_id, path).await?;
        let event = Event::new("artifact.read", "artifact", &format!("{run_id}/{path}"));
        self.audit_read(event, DataOf::Run(run_id.to_owned()))
            .await?;
        Ok(self.reader(Owner::Run(run_id.to_owned()), stored))
    }

    /// Deletes the artifact at `path`, or everything below it if it is a folder; returns how
    /// many artifacts were removed.
    pub async fn delete_artifacts(&self, actor: &Actor, run_id: &str, path: &str) -> Result<usize> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        Error::check_artifact_path("path", path)?;
        self.writable_run(run_id).await?;
        let removed = self.store.delete_artifacts(run_id, path).await?;
        if removed.is_empty() {
            return Err(Error::NotFound {
                entity: EntityKind::Artifact,
                id: format!("{path}' of run '{run_id}"),
            });
        }
        for stored in &removed {
            let key = object_key(run_id, stored);
            if let Err(e) = self.artifacts.delete(&key).await {
                tracing::warn!(run_id, key, error = %e, "a deleted artifact's bytes remain; `ets gc` removes them");
            }
        }
        Ok(removed.len())
    }

    /// Best-effort removal of the artifacts of runs that were deleted for good (whatever
    /// remains is found by `ets gc`).
    pub(crate) async fn delete_run_artifacts(&self, run_ids: &[String]) {
        for run_id in run_ids {
            // The run's objects, and its folder of the layout before per-upload keys.
            for prefix in [artifacts::run_prefix(run_id), run_id.clone()] {
                if let Err(e) = self.artifacts.delete_prefix(&prefix).await {
                    tracing::warn!(run_id, error = %e, "artifacts of a deleted run remain; `ets gc` removes them");
                }
            }
        }
    }

    // ---------------------------------------------------------------- resumable uploads

    async fn manifest(&self, upload_id: &str) -> Result<(String, UploadManifest)> {
        let prefix = upload_prefix(upload_id)?;
        let bytes = self
            .artifacts
            .get_bytes(&manifest_key(&prefix))
            .await?
            .ok_or_else(|| Error::not_found(EntityKind::Upload, upload_id))?;
        let manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("upload '{upload_id}' is unreadable: {e}")))?;
        Ok((prefix, manifest))
    }

    /// The upload, checked to belong to `run_id` when one is given.
    async fn upload_of(
        &self,
        actor: &Actor,
        run_id: Option<&str>,
        upload_id: &str,
    ) -> Result<(String, UploadManifest)> {
        let (prefix, manifest) = self.manifest(upload_id).await?;
        // No role on the run's project: as if there were no such upload. A lesser role
        // stays a refusal (403), as for every other object.
        self.authorize(actor, EntityKind::Run, &manifest.run_id)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found(EntityKind::Upload, upload_id),
                other => other,
            })?;
        if let Some(run_id) = run_id
            && manifest.run_id != run_id
        {
            return Err(Error::not_found(
                EntityKind::Upload,
                format!("{upload_id}' of run '{run_id}"),
            ));
        }
        Ok((prefix, manifest))
    }

    /// The stored parts of an upload, by part number.
    async fn parts_of(&self, prefix: &str) -> Result<BTreeMap<u32, (String, u64, String)>> {
        let mut parts = BTreeMap::new();
        for object in self.artifacts.list(prefix).await? {
            if let Some((number, etag)) = parse_part_key(&object.key) {
                parts.insert(number, (etag, object.size, object.key));
            }
        }
        Ok(parts)
    }

    fn upload_info(
        &self,
        upload_id: &str,
        manifest: UploadManifest,
        parts: Vec<UploadedPart>,
    ) -> UploadInfo {
        let expiry_ms = self.config.artifacts.upload_expiry_hours as i64 * 3_600_000;
        UploadInfo {
            upload_id: upload_id.to_owned(),
            run_id: manifest.run_id,
            path: manifest.path,
            size: manifest.size,
            sha256: manifest.sha256,
            content_type: manifest.content_type,
            created_at: Timestamp(manifest.created_at),
            expires_at: Timestamp(manifest.created_at.saturating_add(expiry_ms)),
            received_bytes: parts.iter().map(|p| p.size).sum(),
            parts,
        }
    }

    /// Starts a resumable upload of `path` in a run: parts are sent separately (in any order,
    /// again if interrupted) and joined by [`Services::complete_upload`].
    pub async fn start_upload(
        &self,
        actor: &Actor,
        run_id: &str,
        input: NewUpload,
    ) -> Result<UploadInfo> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        Error::check_artifact_path("path", &input.path)?;
        self.check_upload_size(input.size)?;
        let sha256 = input
            .sha256
            .as_deref()
            .map(|s| parse_sha256("sha256", s))
            .transpose()?;
        self.writable_run(run_id).await?;
        let upload_id = ets_domain::new_id();
        let manifest = UploadManifest {
            run_id: run_id.to_owned(),
            path: input.path,
            size: input.size,
            sha256,
            content_type: input.content_type,
            created_at: Timestamp::now().millis(),
        };
        let prefix = upload_prefix(&upload_id)?;
        let json = serde_json::to_vec(&manifest).map_err(Error::internal)?;
        self.artifacts
            .put_bytes(&manifest_key(&prefix), Bytes::from(json))
            .await?;
        Ok(self.upload_info(&upload_id, manifest, Vec::new()))
    }

    /// An upload and the parts received so far (to resume after an interruption).
    pub async fn upload_status(
        &self,
        actor: &Actor,
        run_id: &str,
        upload_id: &str,
    ) -> Result<UploadInfo> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let (prefix, manifest) = self.upload_of(actor, Some(run_id), upload_id).await?;
        let parts = self
            .parts_of(&prefix)
            .await?
            .into_iter()
            .map(|(part_number, (etag, size, _))| UploadedPart {
                part_number,
                size,
                etag,
                sha256: None,
            })
            .collect();
        Ok(self.upload_info(upload_id, manifest, parts))
    }

    /// Stores one part (replacing an earlier upload of the same part number). The parts of an
    /// upload together may not exceed the artifact size limit.
    pub async fn upload_part<S, E>(
        &self,
        actor: &Actor,
        run_id: Option<&str>,
        upload_id: &str,
        part: PartUpload,
        body: S,
    ) -> Result<UploadedPart>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let PartUpload {
            number: part_number,
            declared_size,
            sha256,
        } = part;
        check_part_number(part_number)?;
        let (prefix, _) = self.upload_of(actor, run_id, upload_id).await?;
        let parts = self.parts_of(&prefix).await?;
        let others: u64 = parts
            .iter()
            .filter(|(n, _)| **n != part_number)
            .map(|(_, (_, size, _))| size)
            .sum();
        let limit = self.artifact_limit();
        let room = limit.saturating_sub(others);
        if declared_size.is_some_and(|size| size > room) {
            return Err(Error::PayloadTooLarge(format!(
                "this part would take upload '{upload_id}' over the limit of {limit} bytes ({}), \
                 limits.max_artifact_bytes (ETS_LIMITS__MAX_ARTIFACT_BYTES)",
                artifacts::human_bytes(limit)
            )));
        }
        let etag = ets_domain::new_id();
        let key = format!("{prefix}/part-{part_number:05}.{etag}");
        let object = self
            .artifacts
            .write(&key, body, room)
            .await
            .map_err(|e| match e {
                Error::PayloadTooLarge(_) => Error::PayloadTooLarge(format!(
                    "the parts of upload '{upload_id}' are larger than the limit of {limit} bytes ({}), \
                     limits.max_artifact_bytes (ETS_LIMITS__MAX_ARTIFACT_BYTES)",
                    artifacts::human_bytes(limit)
                )),
                other => other,
            })?;
        if let Some(expected) = sha256
            && expected != object.sha256
        {
            let actual = object.sha256.clone();
            object.discard().await;
            return Err(Error::ChecksumMismatch {
                what: format!("part {part_number} of upload '{upload_id}'"),
                expected,
                actual,
            });
        }
        let (size, part_sha) = (object.size, object.sha256.clone());
        object.commit().await?;
        // An earlier upload of this part number is replaced.
        if let Some((_, _, old)) = parts.get(&part_number) {
            self.artifacts.delete(old).await?;
        }
        Ok(UploadedPart {
            part_number,
            size,
            etag,
            sha256: Some(part_sha),
        })
    }

    /// Joins the parts into the artifact and records it. `parts` names the parts and their
    /// ETags, in any order (MLflow's protocol); without it, every stored part is used and the
    /// part numbers must run 1, 2, … without a gap. `path`, when given, must be the upload's.
    /// A SHA-256 given here or when the upload started is checked; on a mismatch nothing is
    /// kept but the parts, so the faulty ones can be sent again.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_upload(
        &self,
        actor: &Actor,
        run_id: &str,
        upload_id: &str,
        path: Option<&str>,
        parts: Option<Vec<(u32, String)>>,
        sha256: Option<String>,
    ) -> Result<Artifact> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let (prefix, manifest) = self.upload_of(actor, Some(run_id), upload_id).await?;
        if let Some(path) = path
            && path != manifest.path
        {
            return Err(Error::invalid(
                "path",
                format!(
                    "upload '{upload_id}' was started for '{}', not '{path}'",
                    manifest.path
                ),
            ));
        }
        self.writable_run(run_id).await?;
        let stored = self.parts_of(&prefix).await?;
        let chosen: Vec<(u32, String, u64)> = match parts {
            Some(mut listed) => {
                if listed.is_empty() {
                    return Err(Error::invalid(
                        "parts",
                        "a multipart upload needs at least one part",
                    ));
                }
                listed.sort_by_key(|(number, _)| *number);
                if listed.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(Error::invalid("parts", "a part number is listed twice"));
                }
                let mut chosen = Vec::with_capacity(listed.len());
                for (number, etag) in listed {
                    check_part_number(number)?;
                    let etag = etag.trim().trim_matches('"');
                    match stored.get(&number) {
                        Some((stored_etag, size, key)) if stored_etag == etag => {
                            chosen.push((number, key.clone(), *size));
                        }
                        Some(_) => {
                            return Err(Error::invalid(
                                "parts",
                                format!(
                                    "part {number}: ETag '{etag}' is not the part's latest upload"
                                ),
                            ));
                        }
                        None => {
                            return Err(Error::invalid(
                                "parts",
                                format!("part {number} was never uploaded"),
                            ));
                        }
                    }
                }
                chosen
            }
            None => {
                if stored.is_empty() {
                    return Err(Error::invalid("parts", "no part has been uploaded yet"));
                }
                if let Some((expected, _)) = stored
                    .keys()
                    .zip(1u32..)
                    .find(|(number, expected)| **number != *expected)
                    .map(|(n, e)| (e, n))
                {
                    return Err(Error::invalid(
                        "parts",
                        format!("part {expected} is missing"),
                    ));
                }
                stored
                    .into_values()
                    .zip(1u32..)
                    .map(|((_, size, key), number)| (number, key, size))
                    .collect()
            }
        };
        let total: u64 = chosen.iter().map(|(_, _, size)| size).sum();
        self.check_upload_size(Some(total))?;
        if let Some(size) = manifest.size
            && size != total
        {
            return Err(Error::invalid(
                "parts",
                format!("the parts hold {total} bytes but the upload was started for {size}"),
            ));
        }
        let expected = match sha256 {
            Some(sha) => Some(parse_sha256("sha256", &sha)?),
            None => manifest.sha256.clone(),
        };

        // Join the parts into the artifact's object, streaming, as a task of its own so a
        // client that goes away cannot leave it half done.
        let storage = self.artifacts.clone();
        let key = artifacts::new_object_key(run_id);
        let limit = self.artifact_limit();
        let keys: Vec<String> = chosen.into_iter().map(|(_, key, _)| key).collect();
        let joined = {
            let storage = storage.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let reader = storage.clone();
                let body = futures_util::stream::iter(keys)
                    .then(move |part| {
                        let reader = reader.clone();
                        async move {
                            reader
                                .read(&part, None)
                                .await
                                .map_err(std::io::Error::other)
                        }
                    })
                    .try_flatten()
                    .boxed();
                storage.write(&key, body, limit).await
            })
            .await
            .map_err(|e| Error::internal(format!("joining upload parts failed: {e}")))??
        };
        let staged = StagedArtifact {
            owner: Owner::Run(run_id.to_owned()),
            key,
            object: joined,
        };
        let meta = UploadMeta {
            content_type: manifest.content_type.clone(),
            sha256: expected,
        };
        let artifact = self
            .store_artifact(actor, &manifest.path, staged, meta)
            .await?;
        if let Err(e) = storage.delete_prefix(&prefix).await {
            tracing::warn!(upload_id, error = %e, "parts of a completed upload remain; `ets gc` removes them");
        }
        Ok(artifact)
    }

    /// Drops an unfinished upload and its parts.
    pub async fn abort_upload(
        &self,
        actor: &Actor,
        run_id: Option<&str>,
        upload_id: &str,
    ) -> Result<()> {
        let (prefix, _) = self.upload_of(actor, run_id, upload_id).await?;
        self.artifacts.delete_prefix(&prefix).await?;
        Ok(())
    }

    // ---------------------------------------------------------------- garbage collection

    /// Removes unfinished uploads started before `cutoff_ms` (and stray parts of uploads
    /// whose record is gone, last written before it); returns how many.
    pub async fn remove_expired_uploads(&self, cutoff_ms: i64) -> Result<usize> {
        let mut removed = 0;
        for upload_id in self.artifacts.list_dirs("uploads").await? {
            let prefix = format!("uploads/{upload_id}");
            let expired = match self.artifacts.get_bytes(&manifest_key(&prefix)).await? {
                Some(bytes) => serde_json::from_slice::<UploadManifest>(&bytes)
                    .map_or(true, |m| m.created_at < cutoff_ms),
                None => self
                    .artifacts
                    .list(&prefix)
                    .await?
                    .iter()
                    .all(|o| o.modified_ms < cutoff_ms),
            };
            if expired {
                self.artifacts.delete_prefix(&prefix).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// `ets gc`: deletes projects, experiments and runs that have been in the trash longer than
    /// `artifacts.deleted_run_retention_days` (with what is below them), unfinished
    /// uploads older than `artifacts.upload_expiry_hours`, and stored objects that no artifact
    /// refers to and that are older than that too (so uploads in flight are left alone).
    pub async fn collect_garbage(&self, actor: &Actor) -> Result<GcReport> {
        let now = Timestamp::now().millis();
        let settings = &self.config.artifacts;
        let retention_ms = (settings.deleted_run_retention_days as i64).saturating_mul(86_400_000);
        let expiry_ms = (settings.upload_expiry_hours as i64).saturating_mul(3_600_000);
        let upload_cutoff = now.saturating_sub(expiry_ms);
        let mut report = GcReport::default();

        // Top down, so what goes with a project or experiment is not purged twice; an entity
        // already gone with its parent (or by another gc) counts as purged.
        let cutoff = Timestamp(now.saturating_sub(retention_ms));
        for kind in [Trashable::Projects, Trashable::Experiments, Trashable::Runs] {
            for id in self.store.deleted_before(kind, cutoff).await? {
                let purged = match kind {
                    Trashable::Projects => self.delete_project(actor, &id, true, true).await,
                    Trashable::Experiments => self.delete_experiment(actor, &id, true).await,
                    Trashable::Runs => self.delete_run(actor, &id).await,
                };
                match purged {
                    Ok(()) | Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
                *match kind {
                    Trashable::Projects => &mut report.projects_purged,
                    Trashable::Experiments => &mut report.experiments_purged,
                    Trashable::Runs => &mut report.runs_purged,
                } += 1;
            }
        }

        report.uploads_removed = self.remove_expired_uploads(upload_cutoff).await?;

        for run_id in self.artifacts.list_dirs("runs").await? {
            let known: HashSet<String> = self
                .store
                .artifact_object_keys(&run_id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .collect();
            let prefix = artifacts::run_prefix(&run_id);
            report.orphan_objects_removed += self
                .remove_unreferenced(&prefix, &known, upload_cutoff)
                .await?;
        }
        let known: HashSet<String> = self.store.file_object_keys().await?.into_iter().collect();
        report.orphan_objects_removed += self
            .remove_unreferenced(artifacts::FILES_PREFIX, &known, upload_cutoff)
            .await?;
        // Folders of the layout before per-upload keys, whose run is gone.
        for name in self.artifacts.list_dirs("").await? {
            let run_like = name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit());
            if run_like && self.store.artifact_object_keys(&name).await?.is_none() {
                report.orphan_objects_removed += self.artifacts.delete_prefix(&name).await?;
            }
        }

        report.staging_files_removed = self
            .artifacts
            .remove_stale_staging_files(upload_cutoff)
            .await?;
        Ok(report)
    }
}

impl Services {
    /// Deletes the objects below `prefix` that no record names and that were last written
    /// before `cutoff_ms` (so uploads in flight stay); returns how many.
    async fn remove_unreferenced(
        &self,
        prefix: &str,
        known: &HashSet<String>,
        cutoff_ms: i64,
    ) -> Result<usize> {
        let mut removed = 0;
        for object in self.artifacts.list(prefix).await? {
            if !known.contains(&object.key) && object.modified_ms < cutoff_ms {
                match self.artifacts.delete(&object.key).await {
                    Ok(()) => removed += 1,
                    Err(Error::InvalidPath(_)) => {} // behind a symbolic link: left alone
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_come_from_the_client_or_the_extension() {
        assert_eq!(
            effective_content_type(Some("text/csv"), "x.bin"),
            "text/csv"
        );
        assert_eq!(
            effective_content_type(Some("application/x-www-form-urlencoded"), "a.json"),
            "application/json"
        );
        assert_eq!(
            effective_content_type(None, "model.pt"),
            "application/octet-stream"
        );
        assert_eq!(effective_content_type(None, "dir/notes.txt"), "text/plain");
        assert_eq!(effective_content_type(Some(" "), "img.png"), "image/png");
        assert_eq!(
            effective_content_type(Some("application/octet-stream"), "t.csv"),
            "text/csv"
        );
        assert_eq!(
            effective_content_type(Some("application/octet-stream"), "model.pt"),
            "application/octet-stream"
        );
    }

    #[test]
    fn part_keys_name_number_and_etag() {
        assert_eq!(
            parse_part_key("uploads/abc/part-00042.0123abcd"),
            Some((42, "0123abcd".to_owned()))
        );
        assert_eq!(parse_part_key("uploads/abc/upload.json"), None);
    }

    #[test]
    fn upload_ids_are_ours_or_not_found() {
        assert!(upload_prefix(&ets_domain::new_id()).is_ok());
        for bad in ["", "../x", "ab", &"g".repeat(32)] {
            assert!(
                matches!(upload_prefix(bad), Err(Error::NotFound { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn sha256_is_checked_and_lowercased() {
        let upper = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        assert_eq!(parse_sha256("sha256", upper).unwrap(), upper.to_lowercase());
        assert!(parse_sha256("sha256", "abc").is_err());
    }
}
