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
