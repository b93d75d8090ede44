//! SQLite: the audit trail. Appends run on the writer thread inside the write's savepoint;
//! the writer holds SQLite's write lock (`BEGIN IMMEDIATE`), so reading the last record and
//! inserting the next cannot interleave with another writer, even one in another process
//! (`ets gc`).

use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, params};

use super::sql::{Sql, numbered};
use crate::audit::{AuditRecord, Entry, Verifier, VerifyReport, seal_all};
use crate::error::Result;
use crate::store::Page;
use crate::store::audit::{self, AuditQuery, DataOf};

/// [`audit::INSERT_RECORD`] in SQLite's placeholders (a write appends at least one record).
static INSERT_RECORD: LazyLock<String> = LazyLock::new(|| numbered(audit::INSERT_RECORD));

/// Appends `entries` (the records of one write, in order) after the chain's last record.
pub(super) fn append(conn: &Connection, entries: Vec<Entry>) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let last = conn
        .prepare_cached(audit::LAST_RECORD)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let mut insert = conn.prepare_cached(&INSERT_RECORD)?;
    for r in seal_all(entries, last) {
        insert.execute(params![
            r.seq,
            r.at.millis(),
            r.actor,
            r.action,
            r.entity_kind,
            r.entity_id,
            r.request_id,
            r.client_ip,
            r.digest,
            r.details,
            r.prev_hash,
            r.hash,
        ])?;
    }
    Ok(())
}

/// Checks the whole chain, streaming it in `seq` order (call inside a read transaction).
pub(super) fn verify(conn: &Connection) -> Result<VerifyReport> {
    let mut verifier = Verifier::new();
    let mut statement = conn.prepare(&audit::all_records())?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        if !verifier.check(&audit::record(row)?) {
            break;
        }
    }
    Ok(verifier.report())
}

/// One page of records.
pub(super) fn list(conn: &Connection, query: &AuditQuery) -> Result<Page<AuditRecord>> {
    let mut sql = Sql::default();
    audit::list(&mut sql, query);
    let records = sql.query(conn, |row| audit::record(row))?;
    Ok(audit::finish_list(records, query))
}

/// [`crate::store::Store::is_healthcare`].
pub(super) fn is_healthcare(conn: &Connection, of: &DataOf) -> Result<bool> {
    Ok(conn
        .prepare_cached(&numbered(audit::healthcare_sql(of)))?
        .query_row([of.id()], |_| Ok(()))
        .optional()?
        .is_some())
}
