//! Artifact bytes in an object store: a local folder (default, `<data_dir>/artifacts`) or any
//! S3-compatible store, behind one `Arc<dyn ObjectStore>` chosen at start-up.
//!
//! Keys (below the folder, or below `s3_prefix` in the bucket):
//!
//! ```text
//! runs/<run id>/<object id>          the bytes of one upload (the artifacts row maps path → key)
//! files/<object id>                  a file of the MLflow proxy outside runs (`stored_files` row)
//! uploads/<upload id>/upload.json    a resumable upload: its run, path and expectations
//! uploads/<upload id>/part-NNNNN.<sha256>   its parts, one object each
//! <run id>/<path>                    artifacts stored before keys were per upload (read only)
//! ```
//!
//! Every upload streams into a fresh key of its own while its size is counted and its SHA-256
//! computed, and becomes visible only when complete (object_store multipart uploads are atomic
//! on every backend); an upload that fails, is too large, or whose client goes away is aborted,
//! so nothing partial is ever kept. Memory stays flat: an upload holds at most
//! [`PARTS_IN_FLIGHT`] parts being written plus the one being filled, each one buffer of the
//! backend's part size ([`LOCAL_PART_SIZE`], [`S3_PART_SIZE`]); downloads stream.
//!
//! Artifact paths never become keys, so no path can leave its run. The local backend also
//! refuses to follow a symbolic link planted inside the folder, so a link cannot make ETS read,
//! write or delete anything outside it.

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    ClientOptions, GetOptions, GetRange, GetResultPayload, MultipartUpload, ObjectStore,
    ObjectStoreExt, PutPayload, RetryConfig,
};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use crate::config::{ArtifactBackend, Config};
use crate::error::{EntityKind, Error, Result};

/// Bytes per part of a streamed upload to a local folder.
pub const LOCAL_PART_SIZE: usize = 2 << 20;
/// Bytes per part of a streamed upload to S3, which wants at least 5 MiB for all parts but the
/// last.
pub const S3_PART_SIZE: usize = 6 << 20;
/// Parts of one upload being written at once; with the part being filled this bounds an
/// upload's buffers to 3 × the part size.
pub const PARTS_IN_FLIGHT: usize = 2;
/// Read buffer of local downloads.
const LOCAL_READ_BUFFER: usize = 256 << 10;

/// A stream of artifact bytes.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// An object as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Last write, milliseconds since the epoch.
    pub modified_ms: i64,
}

/// Artifact storage: the configured object store and its housekeeping.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn ObjectStore>,
    backend: ArtifactBackend,
    /// Canonical folder of the local backend.
    local_root: Option<PathBuf>,
    /// Where the artifacts are, for people (no secrets).
    location: String,
    /// The store's root as a URI (`file:///…`, `s3://bucket/prefix`), to tell whether an
    /// experiment's artifact location is inside it.
    root_uri: String,
    /// Bytes per part of a streamed upload.
    part_size: usize,
}

/// The key of a new object for an upload to a run.
pub fn new_object_key(run_id: &str) -> String {
    format!("runs/{run_id}/{}", ets_domain::new_id())
}

/// Where the objects of the artifact proxy's files outside runs are (`service::files`).
pub const FILES_PREFIX: &str = "files";

/// [`ArtifactStore::proxy_path_of`] for a store whose root is `root_uri`.
fn proxy_path_below(root_uri: &str, location: &str) -> Option<String> {
    let below = |uri: &str| -> Option<String> {
        let rest = uri.strip_prefix(root_uri.trim_end_matches('/'))?;
        (rest.is_empty() || rest.starts_with('/')).then(|| rest.to_owned())
    };
    let path = if let Some(rest) = location.strip_prefix("mlflow-artifacts:") {
        // `mlflow-artifacts://host:port/path` names the server too; the path is what counts.
        match rest.strip_prefix("//") {
            Some(authority_and_path) => authority_and_path
                .find('/')
                .map(|i| authority_and_path[i..].to_owned())
                .unwrap_or_default(),
            None => rest.to_owned(),
        }
    } else if location.starts_with("s3://") || location.starts_with("file://") {
        below(location)?
    } else if location.starts_with('/') {
        below(&format!("file://{location}"))?
    } else {
        return None;
    };
    Some(path.trim_matches('/').to_owned())
}

/// The key of a new object for a file outside runs.
pub fn new_file_key() -> String {
    format!("{FILES_PREFIX}/{}", ets_domain::new_id())
}

/// The key prefix of a run's objects.
pub fn run_prefix(run_id: &str) -> String {
    format!("runs/{run_id}")
}

/// Where an artifact recorded before keys were per upload is stored.
pub fn legacy_key(run_id: &str, path: &str) -> String {
    format!("{run_id}/{path}")
}

impl ArtifactStore {
    /// Opens the backend named by the configuration (creating the local folder).
    pub fn open(config: &Config) -> Result<ArtifactStore> {
        let settings = &config.artifacts;
        let inner = match settings.backend {
            ArtifactBackend::Local => {
                let dir = config.artifacts_dir();
                crate::private_files::create_dir_all(&dir, "artifact folder").map_err(|e| {
                    Error::internal(format!(
                        "cannot create artifact folder '{}': {e}",
                        dir.display()
                    ))
                })?;
                let root = std::fs::canonicalize(&dir).map_err(|e| {
                    Error::internal(format!(
                        "cannot open artifact folder '{}': {e}",
                        dir.display()
                    ))
                })?;
                let store = LocalFileSystem::new_with_prefix(&root)
                    .map_err(|e| Error::internal(format!("cannot open artifact folder: {e}")))?;
                Inner {
                    store: Arc::new(store),
                    backend: ArtifactBackend::Local,
                    location: format!("local folder '{}'", root.display()),
                    root_uri: format!("file://{}", root.display()),
                    local_root: Some(root),
                    part_size: LOCAL_PART_SIZE,
                }
            }
            ArtifactBackend::S3 => {
                let bucket = settings.s3_bucket.clone().unwrap_or_default();
                crate::install_crypto_provider();
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&bucket)
                    .with_client_options(
                        // No overall deadline (a 1 GB download takes longer than any fixed
                        // one); a connection that stalls for a minute fails instead. (The
                        // client options carry `allow_http` too: set it here, not before.)
                        ClientOptions::new()
                            .with_allow_http(settings.s3_allow_http)
                            .with_timeout_disabled()
                            .with_connect_timeout(Duration::from_secs(5))
                            .with_read_timeout(Duration::from_secs(60)),
                    )
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(30),
                        ..Default::default()
                    });
                if let Some(endpoint) = &settings.s3_endpoint {
                    builder = builder.with_endpoint(endpoint.expose());
                }
                if let Some(region) = &settings.s3_region {
                    builder = builder.with_region(region);
                }
                if let Some(file) = &settings.s3_credentials_file {
                    let credentials = read_credentials_file(file, &settings.s3_profile)?;
                    builder = builder
                        .with_access_key_id(credentials.access_key_id)
                        .with_secret_access_key(credentials.secret_access_key);
                    if let Some(token) = credentials.session_token {
                        builder = builder.with_token(token);
                    }
                }
                let s3 = builder.build().map_err(|e| {
                    Error::internal(format!("cannot configure the S3 artifact store: {e}"))
                })?;
                let prefix = settings.s3_prefix.trim_matches('/');
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, Path::from(prefix)))
                };
                let endpoint = settings
                    .s3_endpoint
                    .as_ref()
                    .map(|e| format!(" at {}", strip_userinfo(e.expose())))
                    .unwrap_or_default();
                Inner {
                    store,
                    backend: ArtifactBackend::S3,
                    local_root: None,
                    location: format!("s3://{bucket}/{prefix}{endpoint}"),
                    root_uri: format!("s3://{bucket}/{prefix}"),
                    part_size: S3_PART_SIZE,
                }
            }
        };
        Ok(ArtifactStore {
            inner: Arc::new(inner),
        })
    }

    pub fn backend(&self) -> ArtifactBackend {
        self.inner.backend
    }

    /// Where the artifacts are, for logs and `/info` (no secrets).
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// The path below the proxy root (`mlflow-artifacts:/<path>`) that an artifact location
    /// names: an `mlflow-artifacts:` URI, or an `s3://`, `file://` or absolute path inside this
    /// store. `None` when it points anywhere else.
    pub fn proxy_path_of(&self, location: &str) -> Option<String> {
        proxy_path_below(&self.inner.root_uri, location)
    }

    /// Streams `body` into a new object at `key`, counting and hashing it, refusing more than
    /// `limit` bytes. The object is not visible until [`PendingObject::commit`]; on any error,
    /// or if the returned value or this future is dropped, the partial upload is aborted.
    pub async fn write<S, E>(&self, key: &str, mut body: S, limit: u64) -> Result<PendingObject>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.checked_path(key)?;
        let mut writer = ObjectWriter::new(self.inner.store.clone(), path, self.inner.part_size);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let outcome: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk =
                    chunk.map_err(|e| Error::BadRequest(format!("upload interrupted: {e}")))?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(too_large(limit));
                }
                hasher.update(&chunk);
                writer.write(&chunk).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            writer.abort().await;
            return Err(e);
        }
        Ok(PendingObject {
            writer,
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Streams the object at `key`, or the byte range of it.
    pub async fn read(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream> {
        let path = self.checked_path(key)?;
        let options = GetOptions::new().with_range(range.map(GetRange::Bounded));
        let result = self
            .inner
            .store
            .get_opts(&path, options)
            .await
            .map_err(|e| storage_error(key, e))?;
        let range = result.range.clone();
        match result.payload {
            GetResultPayload::File(file, _) => {
                // object_store reads local files 8 KiB per blocking task; a tokio file with a
                // large buffer streams much faster.
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let mut file = tokio::fs::File::from_std(file);
                file.seek(std::io::SeekFrom::Start(range.start))
                    .await
                    .map_err(|e| Error::internal(format!("cannot read artifact: {e}")))?;
                let reader = file.take(range.end - range.start);
                Ok(tokio_util::io::ReaderStream::with_capacity(reader, LOCAL_READ_BUFFER).boxed())
            }
            GetResultPayload::Stream(stream) => Ok(stream.map_err(std::io::Error::other).boxed()),
        }
    }

    /// Writes a small object in one request.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = self.checked_path(key)?;
        self.inner
            .store
            .put(&path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| storage_error(key, e))
    }

    /// Reads a small object; `None` when it does not exist.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>> {
        let path = self.checked_path(key)?;
        match self.inner.store.get(&path).await {
            Ok(result) => Ok(Some(
                result.bytes().await.map_err(|e| storage_error(key, e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_error(key, e)),
        }
    }

    /// Removes one object (nothing to do if it is gone already).
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = self.checked_path(key)?;
        match self.inner.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(key, e)),
        }
    }

    /// Removes every object below `prefix` (a key prefix of whole segments, e.g.
    /// `runs/<run id>`); returns how many objects were removed (local: `1` for a folder).
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        if let Some(root) = &self.inner.local_root {
            // One recursive removal; std's remove_dir_all never follows symbolic links, and
            // the parents are checked so none of them is one.
            let target = local_path(root, prefix)?;
            ensure_no_symlinks(root, prefix, false)?;
            return match tokio::fs::remove_dir_all(&target).await {
                Ok(()) => Ok(1),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
                Err(e) => Err(Error::internal(format!(
                    "cannot remove artifact folder '{prefix}': {e}"
                ))),
            };
        }
        let path = Path::parse(prefix).map_err(|e| Error::internal(e.to_string()))?;
        let locations = self
            .inner
            .store
            .list(Some(&path))
            .map_ok(|meta| meta.location)
            .boxed();
        let removed = self
            .inner
            .store
            .delete_stream(locations)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| storage_error(prefix, e))?;
        Ok(removed.len())
    }

    /// Every object below `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let path = Path::parse(prefix).map_err(|e| Error::internal(e.to_string()))?;
        self.inner
            .store
            .list(Some(&path))
            .map_ok(|meta| ObjectInfo {
                key: meta.location.to_string(),
                size: meta.size,
                modified_ms: meta.last_modified.timestamp_millis(),
            })
            .try_collect()
            .await
            .map_err(|e| storage_error(prefix, e))
    }

    /// The names of the "folders" directly below `prefix`.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        let path = Path::parse(prefix).map_err(|e| Error::internal(e.to_string()))?;
        let listing = self
            .inner
            .store
            .list_with_delimiter(Some(&path))
            .await
            .map_err(|e| storage_error(prefix, e))?;
        Ok(listing
            .common_prefixes
            .into_iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect())
    }

    /// Whether the store accepts writes (readiness): writes and removes a small object.
    pub async fn check_writable(&self) -> Result<()> {
        let key = ".ready-probe";
        let check = async {
            self.put_bytes(key, Bytes::from_static(b"ok")).await?;
            self.delete(key).await
        };
        match tokio::time::timeout(Duration::from_secs(5), check).await {
            Ok(outcome) => outcome.map_err(|e| {
                let cause = match e {
                    Error::Internal(cause) => cause,
                    Error::NotFound { .. } => "the bucket or folder does not exist".to_owned(),
                    other => other.to_string(),
                };
                Error::Internal(format!(
                    "artifact store {} is not writable: {cause}",
                    self.location()
                ))
            }),
            Err(_) => Err(Error::internal(format!(
                "artifact store {} did not answer within 5 s",
                self.location()
            ))),
        }
    }

    /// Local backend: removes the staging files of multipart writes that were interrupted
    /// by a crash (object_store names them `<key>#<n>`) and are older than `older_than_ms`.
    /// S3 keeps such parts out of sight; a bucket lifecycle rule
    /// (`AbortIncompleteMultipartUpload`) removes them there.
    pub async fn remove_stale_staging_files(&self, older_than_ms: i64) -> Result<usize> {
        let Some(root) = self.inner.local_root.clone() else {
            return Ok(0);
        };
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            let mut stack = vec![root];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let Ok(kind) = entry.file_type() else {
                        continue;
                    };
                    if kind.is_dir() {
                        stack.push(entry.path());
                        continue;
                    }
                    if !kind.is_file() || !is_staging_name(&entry.file_name().to_string_lossy()) {
                        continue;
                    }
                    let old = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .is_some_and(|d| (d.as_millis() as i64) < older_than_ms);
                    if old && std::fs::remove_file(entry.path()).is_ok() {
                        removed += 1;
                    }
                }
            }
            removed
        })
        .await
        .map_err(|e| Error::internal(format!("staging cleanup failed: {e}")))
    }

    /// The object store path of `key`, refusing symbolic links inside the local folder.
    fn checked_path(&self, key: &str) -> Result<Path> {
        let path = Path::parse(key).map_err(|e| {
            Error::InvalidPath(ets_domain::ValidationError::new(
                "path",
                format!("cannot be stored: {e}"),
            ))
        })?;
        if let Some(root) = &self.inner.local_root {
            ensure_no_symlinks(root, key, true)?;
        }
        Ok(path)
    }
}

/// Whether a file name is an object_store staging file: `<name>#<digits>`.
fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, suffix)| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()))
}

fn local_path(root: &FsPath, key: &str) -> Result<PathBuf> {
    let mut path = root.to_owned();
    for segment in key.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(Error::internal(format!("malformed artifact key '{key}'")));
        }
        path.push(segment);
    }
    Ok(path)
}

/// Refuses a key when a component of its local path (all of them, or all but the last when
/// `including_last` is false) is a symbolic link: following it could lead out of the folder.
fn ensure_no_symlinks(root: &FsPath, key: &str, including_last: bool) -> Result<()> {
    let segments: Vec<&str> = key.split('/').collect();
    let checked = if including_last {
        segments.len()
    } else {
        segments.len().saturating_sub(1)
    };
    let mut path = root.to_owned();
    for segment in &segments[..checked] {
        path.push(segment);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                tracing::warn!(path = %path.display(), "refused a symbolic link inside the artifact folder");
                return Err(Error::InvalidPath(ets_domain::ValidationError::new(
                    "path",
                    "the artifact's storage location is a symbolic link; ETS does not follow links out of its artifact folder",
                )));
            }
            Ok(_) => {}
            // Below a missing component nothing can be a link.
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

fn too_large(limit: u64) -> Error {
    Error::PayloadTooLarge(format!(
        "artifact is larger than the limit of {limit} bytes ({}); the limit is limits.max_artifact_bytes \
         (ETS_LIMITS__MAX_ARTIFACT_BYTES)",
        human_bytes(limit)
    ))
}

/// `1073741824` → `1 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn storage_error(key: &str, error: object_store::Error) -> Error {
    match error {
        object_store::Error::NotFound { .. } => Error::NotFound {
            entity: EntityKind::StoredObject,
            id: key.to_owned(),
        },
        other if disk_full(&other) => {
            tracing::error!(key, error = %other, "the disk under the artifact folder is full");
            Error::storage_full()
        }
        other => Error::internal(format!("artifact storage, object '{key}': {other}")),
    }
}

/// Whether an I/O error saying the disk is full (ENOSPC) is in `error`'s chain of causes.
fn disk_full(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// `https://user:secret@host/x` → `https://host/x`.
fn strip_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{tail}"),
        None => url.to_owned(),
    }
}

/// An object whose bytes are all written but which is not visible yet.
#[derive(Debug)]
pub struct PendingObject {
    writer: ObjectWriter,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

impl PendingObject {
    /// Makes the object visible at its key.
    pub async fn commit(self) -> Result<()> {
        self.writer.commit().await
    }

    /// Drops the bytes.
    pub async fn discard(self) {
        self.writer.abort().await;
    }
}

/// Writes one object in parts while the data arrives. Small objects (under one part) are
/// written with a single request when committed; larger ones with a multipart upload, at most
/// [`PARTS_IN_FLIGHT`] parts at a time. Incoming chunks are copied into one buffer of the part
/// size (rather than kept as slices of the HTTP layer's read buffers, which would pin those
/// larger allocations), so an upload's memory is exactly its part buffers.
struct ObjectWriter {
    store: Arc<dyn ObjectStore>,
    path: Path,
    part_size: usize,
    buffer: BytesMut,
    upload: Option<Box<dyn MultipartUpload>>,
    parts: JoinSet<object_store::Result<()>>,
    finished: bool,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("path", &self.path)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl ObjectWriter {
    fn new(store: Arc<dyn ObjectStore>, path: Path, part_size: usize) -> Self {
        ObjectWriter {
            store,
            path,
            part_size,
            buffer: BytesMut::new(),
            upload: None,
            parts: JoinSet::new(),
            finished: false,
        }
    }

    async fn write(&mut self, mut chunk: &[u8]) -> Result<()> {
        while !chunk.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer = BytesMut::with_capacity(self.part_size);
            }
            let take = chunk.len().min(self.part_size - self.buffer.len());
            self.buffer.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.buffer.len() == self.part_size {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// The filled buffer as a payload; the next write starts a new buffer.
    fn take_buffer(&mut self) -> PutPayload {
        PutPayload::from(std::mem::take(&mut self.buffer).freeze())
    }

    async fn send_part(&mut self) -> Result<()> {
        if self.upload.is_none() {
            let upload = self
                .store
                .put_multipart(&self.path)
                .await
                .map_err(|e| storage_error(self.path.as_ref(), e))?;
            self.upload = Some(upload);
        }
        while self.parts.len() >= PARTS_IN_FLIGHT {
            self.join_one().await?;
        }
        let payload = self.take_buffer();
        let part = self
            .upload
            .as_mut()
            .expect("multipart upload started above")
            .put_part(payload);
        self.parts.spawn(part);
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        match self.parts.join_next().await {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(e))) => Err(storage_error(self.path.as_ref(), e)),
            Some(Err(e)) => Err(Error::internal(format!("artifact part task failed: {e}"))),
        }
    }

    async fn commit(mut self) -> Result<()> {
        let outcome = self.try_commit().await;
        if outcome.is_err() {
            self.abort_now().await;
        }
        self.finished = true;
        outcome
    }

    async fn try_commit(&mut self) -> Result<()> {
        if self.upload.is_none() {
            let payload = self.take_buffer();
            return self
                .store
                .put(&self.path, payload)
                .await
                .map(|_| ())
                .map_err(|e| storage_error(self.path.as_ref(), e));
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        while !self.parts.is_empty() {
            self.join_one().await?;
        }
        let upload = self.upload.as_mut().expect("multipart upload started");
        upload
            .complete()
            .await
            .map(|_| ())
            .map_err(|e| storage_error(self.path.as_ref(), e))?;
        self.upload = None;
        Ok(())
    }

    async fn abort(mut self) {
        self.abort_now().await;
        self.finished = true;
    }

    async fn abort_now(&mut self) {
        self.parts.abort_all();
        while self.parts.join_next().await.is_some() {}
        if let Some(mut upload) = self.upload.take()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(path = %self.path, error = %e, "could not abort a partial upload; `ets gc` removes it");
        }
        self.buffer = BytesMut::new();
    }
}

impl Drop for ObjectWriter {
    /// A writer dropped unfinished (the request was cancelled: the client went away) aborts
    /// its multipart upload in the background.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.parts.abort_all();
        if let Some(mut upload) = self.upload.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let path = self.path.clone();
            runtime.spawn(async move {
                if let Err(e) = upload.abort().await {
                    tracing::warn!(%path, error = %e, "could not abort an abandoned upload; `ets gc` removes it");
                }
            });
        }
    }
}

/// Credentials read from an AWS shared credentials file.
struct FileCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

/// Reads `profile` from an AWS shared credentials file (INI: `[profile]`, then
/// `aws_access_key_id = …`, `aws_secret_access_key = …`, optionally `aws_session_token = …`).
/// Errors name the file and profile, never a value.
fn read_credentials_file(file: &FsPath, profile: &str) -> Result<FileCredentials> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Error::internal(format!(
            "cannot read artifacts.s3_credentials_file '{}': {e}",
            file.display()
        ))
    })?;
    let mut section = String::new();
    let (mut key_id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().trim_start_matches("profile ").trim().to_owned();
            continue;
        }
        if section != profile {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim().to_owned();
            match key.trim().to_ascii_lowercase().as_str() {
                "aws_access_key_id" => key_id = Some(value),
                "aws_secret_access_key" => secret = Some(value),
                "aws_session_token" => token = Some(value),
                _ => {}
            }
        }
    }
    match (key_id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(FileCredentials {
            access_key_id,
            secret_access_key,
            session_token: token,
        }),
        _ => Err(Error::internal(format!(
            "artifacts.s3_credentials_file '{}' has no aws_access_key_id and aws_secret_access_key in profile [{profile}]",
            file.display()
        ))),
    }
}

#[cfg(test)]
mod tests {

    /// A local write failing with ENOSPC (wrapped by object_store) is a full disk, a 507.
    #[test]
    fn a_full_disk_is_storage_full() {
        let full = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::StorageFull)),
        };
        assert!(matches!(storage_error("k", full), Error::StorageFull(_)));
        let other = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        };
        assert!(matches!(storage_error("k", other), Error::Internal(_)));
    }

    use super::*;

    #[test]
    fn artifact_locations_map_to_proxy_paths_only_inside_the_store() {
        let s3 = "s3://bucket/prefix";
        for (location, expected) in [
            ("mlflow-artifacts:/team/vision", Some("team/vision")),
            ("mlflow-artifacts:team", Some("team")),
            ("mlflow-artifacts://host:5000/team/", Some("team")),
            ("mlflow-artifacts:/", Some("")),
            ("s3://bucket/prefix/team/a", Some("team/a")),
            ("s3://bucket/prefix", Some("")),
            ("s3://bucket/prefixed/team", None),
            ("s3://other/prefix/team", None),
            ("file:///data/artifacts/x", None),
            ("gs://bucket/prefix/x", None),
            ("relative/path", None),
        ] {
            assert_eq!(
                proxy_path_below(s3, location).as_deref(),
                expected,
                "{location}"
            );
        }
        let local = "file:///data/artifacts";
        for (location, expected) in [
            ("file:///data/artifacts/team", Some("team")),
            ("/data/artifacts/team/", Some("team")),
            ("/data/artifacts-other/team", None),
            ("/elsewhere", None),
            ("s3://bucket/prefix/team", None),
        ] {
            assert_eq!(
                proxy_path_below(local, location).as_deref(),
                expected,
                "{location}"
            );
        }
    }

    #[test]
    fn staging_names_are_recognised() {
        assert!(is_staging_name("0192abc#1"));
        assert!(is_staging_name("part-00001.ab#12"));
        assert!(!is_staging_name("0192abc"));
        assert!(!is_staging_name("a#b"));
        assert!(!is_staging_name("a#"));
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(1024), "1 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
        assert_eq!(human_bytes(1536 << 20), "1.5 GiB");
    }

    #[test]
    fn credentials_file_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "# comment\n[default]\naws_access_key_id = AKID\naws_secret_access_key=SECRET\n\n\
             [profile other]\naws_access_key_id = K2\naws_secret_access_key = S2\naws_session_token = T2\n",
        )
        .unwrap();
        let default = read_credentials_file(&file, "default").unwrap();
        assert_eq!(default.access_key_id, "AKID");
        assert_eq!(default.secret_access_key, "SECRET");
        assert!(default.session_token.is_none());
        let other = read_credentials_file(&file, "other").unwrap();
        assert_eq!(other.session_token.as_deref(), Some("T2"));
        let err = match read_credentials_file(&file, "missing") {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a missing profile is an error"),
        };
        assert!(
            err.contains("[missing]") && !err.contains("SECRET"),
            "{err}"
        );
    }

    #[test]
    fn endpoints_lose_their_userinfo() {
        assert_eq!(
            strip_userinfo("http://a:b@host:9000/x"),
            "http://host:9000/x"
        );
        assert_eq!(strip_userinfo("http://host:9000"), "http://host:9000");
    }
}
