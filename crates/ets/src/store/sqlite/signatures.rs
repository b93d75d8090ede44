//! Run signatures in SQLite (SQL and rows: `store::signatures`).

use rusqlite::{Connection, params};

use super::sql::numbered;
use crate::error::Result;
use crate::store::signatures::{self as q, SignatureRecord};

pub(super) fn insert(conn: &Connection, signature: &SignatureRecord) -> Result<()> {
    super::runs::get_bare(conn, &signature.run_id)?;
    conn.prepare_cached(&numbered(q::INSERT_SIGNATURE))?
        .execute(params![
            signature.id,
            signature.run_id,
            signature.signer_id,
            signature.signer_name,
            signature.meaning,
            signature.comment,
            signature.content_hash,
            signature.signed_at.millis(),
        ])?;
    Ok(())
}

pub(super) fn of_runs(conn: &Connection, run_ids: &[String]) -> Result<Vec<SignatureRecord>> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare_cached(&numbered(&q::signatures_of_runs(run_ids.len())))?;
    let rows = statement.query_map(rusqlite::params_from_iter(run_ids), |r| q::signature_row(r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
