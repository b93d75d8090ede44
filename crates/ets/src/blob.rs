//! Artifact bytes in a local folder: `<root>/<run id>/<artifact path>`.
//!
//! Uploads stream to a temporary file while their size is checked and their SHA-256 computed,
//! and only a complete upload is renamed into place, so a reader never sees half a file and
//! an aborted or oversized upload leaves nothing behind.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

/// A completed upload waiting to be moved to its final path.
pub struct Staged {
    temp_path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

/// Local artifact storage.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// Uses (and creates) `root`.
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root.join(".staging")).map_err(|e| {
            Error::internal(format!(
                "cannot create artifact folder '{}': {e}",
                root.display()
            ))
        })?;
        Ok(LocalBlobStore {
            root: root.to_owned(),
        })
    }

    /// Streams `body` to a staging file, refusing more than `max_bytes`.
    pub async fn stage<S, E>(&self, mut body: S, max_bytes: u64) -> Result<Staged>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let temp_path = self.root.join(".staging").join(ets_domain::new_id());
        let mut file = tokio::fs::File::create(&temp_path)
            .await
            .map_err(|e| Error::internal(format!("cannot create staging file: {e}")))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let outcome: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| Error::BadRequest(format!("upload interrupted: {e}")))?;
                size += chunk.len() as u64;
                if size > max_bytes {
                    return Err(Error::PayloadTooLarge(format!(
                        "artifact is larger than {max_bytes} bytes (limit limits.max_artifact_bytes; raise it with \
                         ETS_LIMITS__MAX_ARTIFACT_BYTES)"
                    )));
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(|e| Error::internal(format!("cannot write artifact: {e}")))?;
            }
            file.flush().await.map_err(|e| Error::internal(format!("cannot write artifact: {e}")))?;
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            let _ = tokio::fs::remove_file(&temp_path).await;
            return Err(e);
        }
        Ok(Staged {
            temp_path,
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Moves a staged upload to its final place, replacing an existing file.
    pub async fn commit(&self, staged: &Staged, run_id: &str, path: &str) -> Result<()> {
        let target = self.path_of(run_id, path);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| Error::internal(format!("cannot create artifact folder: {e}")))?;
        }
        tokio::fs::rename(&staged.temp_path, &target)
            .await
            .map_err(|e| Error::internal(format!("cannot store artifact: {e}")))
    }

    /// Drops a staged upload that will not be committed.
    pub async fn discard(&self, staged: Staged) {
        let _ = tokio::fs::remove_file(&staged.temp_path).await;
    }

    /// Opens a stored artifact for streaming.
    pub async fn open_file(&self, run_id: &str, path: &str) -> Result<tokio::fs::File> {
        tokio::fs::File::open(self.path_of(run_id, path))
            .await
            .map_err(|_| Error::NotFound {
                entity: "artifact",
                id: format!("{path}' of run '{run_id}"),
            })
    }

    fn upload_dir(&self, upload_id: &str) -> Result<PathBuf> {
        // Upload ids are ours (hex); anything else cannot name a folder of ours.
        if upload_id.is_empty() || !upload_id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::not_found("multipart upload", upload_id));
        }
        Ok(self.root.join(".staging").join(format!("mpu-{upload_id}")))
    }

    /// Starts a multipart upload of `path` in a run; returns its id.
    pub async fn start_multipart(&self, run_id: &str, path: &str) -> Result<String> {
        let upload_id = ets_domain::new_id();
        let dir = self.upload_dir(&upload_id)?;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::internal(format!("cannot start upload: {e}")))?;
        tokio::fs::write(dir.join("target"), format!("{run_id}\n{path}"))
            .await
            .map_err(|e| Error::internal(format!("cannot start upload: {e}")))?;
        Ok(upload_id)
    }

    /// Stores one part; returns its ETag (hex SHA-256 of the part).
    pub async fn put_part<S, E>(
        &self,
        upload_id: &str,
        part_number: u32,
        body: S,
        max_bytes: u64,
    ) -> Result<String>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let dir = self.upload_dir(upload_id)?;
        if !tokio::fs::try_exists(dir.join("target"))
            .await
            .unwrap_or(false)
        {
            return Err(Error::not_found("multipart upload", upload_id));
        }
        let staged = self.stage(body, max_bytes).await?;
        let part_path = dir.join(format!("part-{part_number:06}"));
        tokio::fs::rename(&staged.temp_path, &part_path)
            .await
            .map_err(|e| Error::internal(format!("cannot store part: {e}")))?;
        tokio::fs::write(part_path.with_extension("sha256"), &staged.sha256)
            .await
            .map_err(|e| Error::internal(format!("cannot store part: {e}")))?;
        Ok(staged.sha256)
    }

    /// Joins the parts, in order, into one staged file, checking each part's ETag. The
    /// upload must have been started for the same run and path.
    pub async fn complete_multipart(
        &self,
        upload_id: &str,
        run_id: &str,
        path: &str,
        parts: &[(u32, String)],
        max_bytes: u64,
    ) -> Result<Staged> {
        let dir = self.upload_dir(upload_id)?;
        let target = tokio::fs::read_to_string(dir.join("target"))
            .await
            .map_err(|_| Error::not_found("multipart upload", upload_id))?;
        if target != format!("{run_id}\n{path}") {
            return Err(Error::invalid(
                "path",
                format!("upload '{upload_id}' was started for another artifact"),
            ));
        }
        if parts.is_empty() {
            return Err(Error::invalid(
                "parts",
                "a multipart upload needs at least one part",
            ));
        }
        let mut files = Vec::with_capacity(parts.len());
        for (number, etag) in parts {
            let part_path = dir.join(format!("part-{number:06}"));
            let stored_etag = tokio::fs::read_to_string(part_path.with_extension("sha256"))
                .await
                .map_err(|_| {
                    Error::invalid("parts", format!("part {number} was never uploaded"))
                })?;
            if stored_etag != etag.trim_matches('"') {
                return Err(Error::invalid(
                    "parts",
                    format!("part {number}: ETag '{etag}' does not match the uploaded part"),
                ));
            }
            let file = tokio::fs::File::open(&part_path)
                .await
                .map_err(|e| Error::internal(format!("cannot read part {number}: {e}")))?;
            files.push(tokio_util::io::ReaderStream::new(file));
        }
        let staged = self
            .stage(futures_util::stream::iter(files).flatten(), max_bytes)
            .await?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(staged)
    }

    /// Drops an upload and its parts.
    pub async fn abort_multipart(&self, upload_id: &str) -> Result<()> {
        let dir = self.upload_dir(upload_id)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::not_found("multipart upload", upload_id))
            }
            Err(e) => Err(Error::internal(format!("cannot abort upload: {e}"))),
        }
    }

    /// Removes one artifact file, or a folder of them.
    pub async fn delete_path(&self, run_id: &str, path: &str) -> Result<()> {
        let target = self.path_of(run_id, path);
        let outcome = match tokio::fs::metadata(&target).await {
            Ok(meta) if meta.is_dir() => tokio::fs::remove_dir_all(&target).await,
            Ok(_) => tokio::fs::remove_file(&target).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::internal(format!(
                "cannot delete artifact '{path}' of run '{run_id}': {e}"
            ))),
        }
    }

    /// Removes every artifact of a run.
    pub async fn delete_run(&self, run_id: &str) -> Result<()> {
        match tokio::fs::remove_dir_all(self.root.join(run_id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::internal(format!(
                "cannot delete artifacts of run '{run_id}': {e}"
            ))),
        }
    }

    /// Whether the folder accepts writes (readiness).
    pub async fn check_writable(&self) -> Result<()> {
        let probe = self.root.join(".staging").join(".ready-probe");
        tokio::fs::write(&probe, b"ok")
            .await
            .map_err(|e| Error::internal(format!("artifact folder not writable: {e}")))?;
        let _ = tokio::fs::remove_file(&probe).await;
        Ok(())
    }

    /// Artifact paths are validated (`ets_domain::validate::artifact_path`) before they get here,
    /// so joining cannot leave the run's folder.
    fn path_of(&self, run_id: &str, path: &str) -> PathBuf {
        debug_assert!(ets_domain::validate::artifact_path("path", path).is_ok());
        self.root.join(run_id).join(path)
    }
}
