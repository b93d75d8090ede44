//! Run logs in SQLite: chunks appended on the writer thread, read on a reader (the format and
//! rules are `store::logs`'s).

use ets_domain::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::sql::numbered;
use crate::error::{EntityKind, Error, Result};
use crate::store::logs::{self, LogAppend, LogChunkQuery, NewLogChunk, StoredLogChunk};

/// Appends a batch to a run outside the trash, or recognises its retry.
pub(super) fn append(conn: &Connection, run_id: &str, chunk: &NewLogChunk) -> Result<LogAppend> {
    super::runs::ensure_active(conn, run_id)?;
    if let Some(batch_id) = &chunk.batch_id {
        let stored = conn
            .prepare_cached(&numbered(logs::BATCH))?
            .query_row(params![run_id, batch_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        if let Some(stored) = stored {
            return logs::check_retry(run_id, chunk, stored);
        }
    }
    let first_line = next_line(conn, run_id)?;
    conn.prepare_cached(&numbered(logs::INSERT))?
        .execute(params![
            run_id,
            first_line + chunk.line_count - 1,
            first_line,
            chunk.line_count,
            chunk.min_ts,
            chunk.max_ts,
            chunk.streams,
            chunk.batch_id,
            chunk.digest,
            chunk.data,
            Timestamp::now().millis(),
        ])?;
    Ok(LogAppend {
        first_line,
        written: chunk.line_count,
        duplicate: false,
    })
}

/// The number of the run's next line; `NotFound` when there is no such run.
pub(super) fn next_line(conn: &Connection, run_id: &str) -> Result<i64> {
    conn.prepare_cached(&numbered(logs::NEXT_LINE))?
        .query_row([run_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Run, run_id))
}

pub(super) fn chunks(conn: &Connection, query: &LogChunkQuery) -> Result<Vec<StoredLogChunk>> {
    let (sql, scope) = query.statement();
    let mut values: Vec<&dyn rusqlite::ToSql> =
        scope.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
    values.extend([
        &query.line as &dyn rusqlite::ToSql,
        &query.since,
        &query.until,
        &query.streams,
        &query.limit,
    ]);
    let rows = conn
        .prepare_cached(&numbered(sql))?
        .query_map(values.as_slice(), |r| {
            Ok(StoredLogChunk {
                run_id: r.get(0)?,
                first_line: r.get(1)?,
                data: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
