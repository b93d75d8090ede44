//! Run logs in PostgreSQL: chunks appended under the run's row lock (so lines of one run are
//! numbered in one order across instances, and a batch key is checked and taken atomically),
//! read on one snapshot (the format and rules are `store::logs`'s).

use ets_domain::Timestamp;

use super::PgStore;
use crate::error::{EntityKind, Error, Result};
use crate::store::logs::{self, LogAppend, LogChunkQuery, NewLogChunk, StoredLogChunk};

impl PgStore {
    pub(super) async fn append_logs(&self, run_id: &str, chunk: NewLogChunk) -> Result<LogAppend> {
        let run_id = run_id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                super::runs::ensure_active(tx, &run_id).await?;
                if let Some(batch_id) = &chunk.batch_id {
                    let statement = tx.prepare_cached(logs::BATCH).await?;
                    if let Some(row) = tx.query_opt(&statement, &[&run_id, batch_id]).await? {
                        let stored = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                        return logs::check_retry(&run_id, &chunk, stored);
                    }
                }
                let statement = tx.prepare_cached(logs::NEXT_LINE).await?;
                let first_line: i64 = tx.query_one(&statement, &[&run_id]).await?.try_get(0)?;
                let insert = tx.prepare_cached(logs::INSERT).await?;
                tx.execute(
                    &insert,
                    &[
                        &run_id,
                        &(first_line + chunk.line_count - 1),
                        &first_line,
                        &chunk.line_count,
                        &chunk.min_ts,
                        &chunk.max_ts,
                        &chunk.streams,
                        &chunk.batch_id,
                        &chunk.digest,
                        &chunk.data,
                        &Timestamp::now().millis(),
                    ],
                )
                .await?;
                Ok(LogAppend {
                    first_line,
                    written: chunk.line_count,
                    duplicate: false,
                })
            })
        })
        .await
    }

    pub(super) async fn log_chunks(&self, query: LogChunkQuery) -> Result<Vec<StoredLogChunk>> {
        self.read(move |tx| {
            Box::pin(async move {
                let (sql, scope) = query.statement();
                let statement = tx.prepare_cached(sql).await?;
                let mut values: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = scope
                    .iter()
                    .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                values.extend([
                    &query.line as &(dyn tokio_postgres::types::ToSql + Sync),
                    &query.since,
                    &query.until,
                    &query.streams,
                    &query.limit,
                ]);
                tx.query(&statement, &values)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(StoredLogChunk {
                            run_id: r.try_get(0)?,
                            first_line: r.try_get(1)?,
                            data: r.try_get(2)?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    pub(super) async fn log_line_count(&self, run_id: &str) -> Result<i64> {
        let run_id = run_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(logs::NEXT_LINE).await?;
                match tx.query_opt(&statement, &[&run_id]).await? {
                    Some(row) => Ok(row.try_get(0)?),
                    None => Err(Error::not_found(EntityKind::Run, run_id)),
                }
            })
        })
        .await
    }
}
