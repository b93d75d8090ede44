//! The artifact proxy's files outside runs in SQLite (SQL and rows: `store::files`).

use ets_domain::model::Artifact;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::sql::numbered;
use crate::error::{EntityKind, Error, Result};
use crate::store::StoredArtifact;
use crate::store::files as q;

/// Records or replaces the file; returns the record it replaced. (SQLite has one writer, so
/// the read and the write cannot interleave with another upload's.)
pub(super) fn put(
    conn: &Connection,
    experiment_id: Option<&str>,
    file: &Artifact,
    object_key: &str,
) -> Result<Option<StoredArtifact>> {
    let values = params![
        file.path,
        experiment_id,
        file.size,
        file.sha256,
        file.content_type,
        file.created_at.millis(),
        object_key,
    ];
    if conn
        .prepare_cached(&numbered(q::INSERT_FILE_IF_NEW))?
        .execute(values)?
        == 1
    {
        return Ok(None);
    }
    let previous = get(conn, &file.path)?;
    conn.prepare_cached(&numbered(q::UPDATE_FILE))?
        .execute(values)?;
    Ok(Some(previous))
}

pub(super) fn list(conn: &Connection, prefix: Option<&str>) -> Result<Vec<StoredArtifact>> {
    let mut statement = conn.prepare_cached(&numbered(&q::list_files(prefix.is_some())))?;
    let bounds = prefix.map(q::prefix_bounds).unwrap_or_default();
    let take = if prefix.is_some() { 2 } else { 0 };
    let rows = statement.query_map(params_from_iter(&bounds[..take]), |r| q::file_row(r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn get(conn: &Connection, path: &str) -> Result<StoredArtifact> {
    conn.prepare_cached(&numbered(&q::get_file()))?
        .query_row([path], |r| q::file_row(r))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Artifact, path))
}

pub(super) fn delete(conn: &Connection, path: &str) -> Result<Vec<StoredArtifact>> {
    let bounds = q::at_or_below_bounds(path);
    let removed = conn
        .prepare_cached(&numbered(&q::files_at_or_below()))?
        .query_map(params_from_iter(&bounds), |r| q::file_row(r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    conn.prepare_cached(&numbered(&q::delete_files_at_or_below()))?
        .execute(params_from_iter(&bounds))?;
    Ok(removed)
}

pub(super) fn object_keys(conn: &Connection) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached(q::FILE_OBJECT_KEYS)?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}
