//! PostgreSQL: artifact records (the bytes live in the artifact store) and the garbage
//! collector's queries. Paths use the "C" collation, so a prefix is a bytewise range scan of
//! the primary key, as on SQLite.

use ets_domain::Timestamp;
use ets_domain::model::Artifact;
use tokio_postgres::Row;

use super::{PgStore, Tx};
use crate::error::{EntityKind, Error, Result};
use crate::store::StoredArtifact;

const ARTIFACT_COLUMNS: &str = "path, size, sha256, content_type, created_at, object_key";

/// The largest code point: `prefix || MAX_CHAR` bounds every path that starts with `prefix`.
const MAX_CHAR: char = '\u{10FFFF}';

fn artifact_from_row(row: &Row) -> Artifact {
    Artifact {
        path: row.get(0),
        size: row.get(1),
        sha256: row.get(2),
        content_type: row.get(3),
        created_at: Timestamp(row.get(4)),
    }
}

fn stored_artifact_from_row(row: &Row) -> StoredArtifact {
    StoredArtifact {
        artifact: artifact_from_row(row),
        object_key: row.get(5),
    }
}

async fn run_exists(tx: &Tx<'_>, run_id: &str) -> Result<bool> {
    let statement = tx
        .prepare_cached("SELECT 1 FROM runs WHERE id = $1")
        .await?;
    Ok(tx.query_opt(&statement, &[&run_id]).await?.is_some())
}

impl PgStore {
    pub(super) async fn put_artifact(
        &self,
        run_id: &str,
        artifact: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>> {
        let run_id = run_id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                super::runs::ensure_active(tx, &run_id).await?;
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO artifacts (run_id, path, size, sha256, content_type, created_at, object_key) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, path) DO NOTHING",
                    )
                    .await?;
                let select = tx
                    .prepare_cached(&format!(
                        "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = $1 AND path = $2 FOR UPDATE"
                    ))
                    .await?;
                let update = tx
                    .prepare_cached(
                        "UPDATE artifacts SET size = $3, sha256 = $4, content_type = $5, created_at = $6, \
                         object_key = $7 WHERE run_id = $1 AND path = $2",
                    )
                    .await?;
                let values: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
                    &run_id,
                    &artifact.path,
                    &artifact.size,
                    &artifact.sha256,
                    &artifact.content_type,
                    &artifact.created_at.millis(),
                    &object_key,
                ];
                // Insert, or lock and replace the record there, returning it: a concurrent
                // upload of the same path waits for this one, so each replaced object is
                // handed back exactly once. (A record deleted in between: insert again.)
                loop {
                    if tx.execute(&insert, &values).await? == 1 {
                        return Ok(None);
                    }
                    if let Some(row) = tx.query_opt(&select, &values[..2]).await? {
                        let previous = stored_artifact_from_row(&row);
                        tx.execute(&update, &values).await?;
                        return Ok(Some(previous));
                    }
                }
            })
        })
        .await
    }

    pub(super) async fn list_artifacts(
        &self,
        run_id: &str,
        prefix: Option<&str>,
    ) -> Result<Vec<Artifact>> {
        let (run_id, prefix) = (run_id.to_owned(), prefix.map(str::to_owned));
        self.read(move |tx| {
            Box::pin(async move {
                if !run_exists(tx, &run_id).await? {
                    return Err(Error::not_found(EntityKind::Run, run_id));
                }
                let rows = match prefix {
                    // Range scan on the primary key instead of LIKE (no wildcard escaping).
                    Some(prefix) => {
                        let statement = tx
                            .prepare_cached(&format!(
                                "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = $1 \
                                 AND path >= $2 AND path < $3 ORDER BY path"
                            ))
                            .await?;
                        let end = format!("{prefix}{MAX_CHAR}");
                        tx.query(&statement, &[&run_id, &prefix, &end]).await?
                    }
                    None => {
                        let statement = tx
                            .prepare_cached(&format!(
                                "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = $1 ORDER BY path"
                            ))
                            .await?;
                        tx.query(&statement, &[&run_id]).await?
                    }
                };
                Ok(rows.iter().map(artifact_from_row).collect())
            })
        })
        .await
    }

    pub(super) async fn get_artifact(&self, run_id: &str, path: &str) -> Result<StoredArtifact> {
        let (run_id, path) = (run_id.to_owned(), path.to_owned());
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(&format!(
                        "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = $1 AND path = $2"
                    ))
                    .await?;
                tx.query_opt(&statement, &[&run_id, &path])
                    .await?
                    .map(|r| stored_artifact_from_row(&r))
                    .ok_or_else(|| Error::NotFound {
                        entity: EntityKind::Artifact,
                        id: format!("{path}' of run '{run_id}"),
                    })
            })
        })
        .await
    }

    /// Forgets the artifact at `path` and every one below it (`path/…`); returns them in path
    /// order.
    pub(super) async fn delete_artifacts(
        &self,
        run_id: &str,
        path: &str,
    ) -> Result<Vec<StoredArtifact>> {
        let (run_id, path) = (run_id.to_owned(), path.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let below = format!("{path}/");
                let end = format!("{below}{MAX_CHAR}");
                let statement = tx
                    .prepare_cached(&format!(
                        "WITH removed AS (DELETE FROM artifacts WHERE run_id = $1 \
                           AND (path = $2 OR (path >= $3 AND path < $4)) RETURNING {ARTIFACT_COLUMNS}) \
                         SELECT {ARTIFACT_COLUMNS} FROM removed ORDER BY path"
                    ))
                    .await?;
                Ok(tx
                    .query(&statement, &[&run_id, &path, &below, &end])
                    .await?
                    .iter()
                    .map(stored_artifact_from_row)
                    .collect())
            })
        })
        .await
    }

    pub(super) async fn artifact_object_keys(&self, run_id: &str) -> Result<Option<Vec<String>>> {
        let run_id = run_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                if !run_exists(tx, &run_id).await? {
                    return Ok(None);
                }
                let statement = tx
                    .prepare_cached(
                        "SELECT object_key FROM artifacts WHERE run_id = $1 AND object_key IS NOT NULL",
                    )
                    .await?;
                Ok(Some(
                    tx.query(&statement, &[&run_id])
                        .await?
                        .iter()
                        .map(|r| r.get(0))
                        .collect(),
                ))
            })
        })
        .await
    }

    pub(super) async fn deleted_before(
        &self,
        kind: crate::store::Trashable,
        before: Timestamp,
    ) -> Result<Vec<String>> {
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&kind.deleted_before_sql()).await?;
                Ok(tx
                    .query(&statement, &[&before.millis()])
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect())
            })
        })
        .await
    }
}
