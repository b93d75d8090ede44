//! The artifact proxy's files outside runs in PostgreSQL (SQL and rows: `store::files`).

use ets_domain::model::Artifact;
use tokio_postgres::types::ToSql;

use super::PgStore;
use crate::error::{EntityKind, Error, Result};
use crate::store::StoredArtifact;
use crate::store::files as q;

fn rows_to_files(rows: &[tokio_postgres::Row]) -> Result<Vec<StoredArtifact>> {
    Ok(rows
        .iter()
        .map(q::file_row)
        .collect::<std::result::Result<_, _>>()?)
}

impl PgStore {
    pub(super) async fn put_file(
        &self,
        experiment_id: Option<String>,
        file: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>> {
        self.write(move |tx| {
            Box::pin(async move {
                let insert = tx.prepare_cached(q::INSERT_FILE_IF_NEW).await?;
                let select = tx
                    .prepare_cached(&format!("{} FOR UPDATE", q::get_file()))
                    .await?;
                let update = tx.prepare_cached(q::UPDATE_FILE).await?;
                let values: [&(dyn ToSql + Sync); 7] = [
                    &file.path,
                    &experiment_id,
                    &file.size,
                    &file.sha256,
                    &file.content_type,
                    &file.created_at.millis(),
                    &object_key,
                ];
                // Insert, or lock and replace the record there, returning it: a concurrent
                // upload of the same path waits for this one, so each replaced object is
                // handed back exactly once. (A record deleted in between: insert again.)
                loop {
                    if tx.execute(&insert, &values).await? == 1 {
                        return Ok(None);
                    }
                    if let Some(row) = tx.query_opt(&select, &values[..1]).await? {
                        let previous = q::file_row(&row)?;
                        tx.execute(&update, &values).await?;
                        return Ok(Some(previous));
                    }
                }
            })
        })
        .await
    }

    pub(super) async fn list_files(&self, prefix: Option<&str>) -> Result<Vec<StoredArtifact>> {
        let prefix = prefix.map(q::prefix_bounds);
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&q::list_files(prefix.is_some())).await?;
                let rows = match &prefix {
                    Some([low, high]) => tx.query(&statement, &[low, high]).await?,
                    None => tx.query(&statement, &[]).await?,
                };
                rows_to_files(&rows)
            })
        })
        .await
    }

    pub(super) async fn get_file(&self, path: &str) -> Result<StoredArtifact> {
        let path = path.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&q::get_file()).await?;
                match tx.query_opt(&statement, &[&path]).await? {
                    Some(row) => Ok(q::file_row(&row)?),
                    None => Err(Error::not_found(EntityKind::Artifact, path)),
                }
            })
        })
        .await
    }

    pub(super) async fn delete_files(&self, path: &str) -> Result<Vec<StoredArtifact>> {
        let bounds = q::at_or_below_bounds(path);
        self.write(move |tx| {
            Box::pin(async move {
                let params: Vec<&(dyn ToSql + Sync)> =
                    bounds.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
                let select = tx
                    .prepare_cached(&format!("{} FOR UPDATE", q::files_at_or_below()))
                    .await?;
                let removed = rows_to_files(&tx.query(&select, &params).await?)?;
                let delete = tx.prepare_cached(&q::delete_files_at_or_below()).await?;
                tx.execute(&delete, &params).await?;
                Ok(removed)
            })
        })
        .await
    }

    pub(super) async fn file_object_keys(&self) -> Result<Vec<String>> {
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::FILE_OBJECT_KEYS).await?;
                Ok(tx
                    .query(&statement, &[])
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect())
            })
        })
        .await
    }
}
