//! PostgreSQL: the audit trail. Instances append concurrently, so each append takes a
//! transaction-scoped advisory lock before reading the chain's last record; the lock is held
//! until the write commits, which makes commit order the chain's order. It is taken at the
//! very end of the write (after the change's own row locks), so it is held for the insert and
//! the commit only, and a transaction holding it never waits for another lock.
//!
//! Writes that send everything before any answer (`PgStore::write_pipelined`, the metric
//! appends of `appends.rs`) let the server place their records: the insert reads the last
//! record itself and hashes the new one with `sha256()` exactly as `crate::audit::chain` does
//! (`prev_hash`, then `[seq,`, then the rest of the canonical record, which the writer sends),
//! so the lock, the records and the `COMMIT` go out together.

use deadpool_postgres::GenericClient;
use futures_util::TryStreamExt;
use tokio_postgres::types::ToSql;

use super::Tx;
use super::sql::Sql;
use crate::audit::{
    AuditRecord, Entry, GENESIS_HASH, UnplacedRecord, Verifier, VerifyReport, seal_all,
};
use crate::error::Result;
use crate::store::Page;
use crate::store::audit::{self, AuditQuery, DataOf};

/// Serialises appends to one schema's chain (the migration lock's first key, plus one).
const CHAIN_LOCK: &str = "SELECT pg_advisory_xact_lock(7406072, hashtext(current_schema()))";

/// Appends a record placed by the server after the chain's last record (`$1`–`$9` the
/// fields from `at` to `details`, `$10` `AuditRecord::canonical_after_seq`, `$11` the hash
/// before the first record). Run it after [`CHAIN_LOCK`] in its own statement: at READ
/// COMMITTED it then reads the last record committed before the lock was granted.
const INSERT_PLACED: &str = "WITH newest AS (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1), \
       last AS (SELECT coalesce((SELECT seq FROM newest), 0) AS seq, \
                       coalesce((SELECT hash FROM newest), $11) AS hash) \
     INSERT INTO audit_log (seq, at, actor, action, entity_kind, entity_id, request_id, \
       client_ip, digest, details, prev_hash, hash) \
     SELECT last.seq + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9, last.hash, \
       encode(sha256(convert_to(last.hash || '[' || (last.seq + 1) || ',', 'UTF8') || $10::bytea), 'hex') \
     FROM last";

/// The statements of [`append_placed`], to prepare before sending them with others.
pub(super) const PLACED_STATEMENTS: [&str; 2] = [CHAIN_LOCK, INSERT_PLACED];

/// Takes the chain's lock and appends `records` (one write's, in order), placed by the
/// server. Every statement goes out when first polled (once [`PLACED_STATEMENTS`] are
/// prepared), so this can be sent with the write's other statements and its `COMMIT`; call
/// it after the write's own row locks.
pub(super) async fn append_placed(
    c: &impl GenericClient,
    records: &[UnplacedRecord],
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let (lock, insert) = tokio::try_join!(
        c.prepare_cached(CHAIN_LOCK),
        c.prepare_cached(INSERT_PLACED)
    )?;
    let rests: Vec<Vec<u8>> = records
        .iter()
        .map(|r| r.fields().canonical_after_seq())
        .collect();
    let (insert, genesis) = (&insert, GENESIS_HASH);
    let inserts = records.iter().zip(&rests).map(|(record, rest)| async move {
        let at = record.fields().at.millis();
        let mut params = content_params(record.fields(), &at);
        params.extend([rest as &(dyn ToSql + Sync), &genesis]);
        c.execute(insert, &params).await
    });
    let (locked, inserted) = tokio::join!(
        c.execute(&lock, &[]),
        futures_util::future::try_join_all(inserts)
    );
    super::pipelined([
        locked.map(drop).map_err(Into::into),
        inserted.map(drop).map_err(Into::into),
    ])
}

/// Appends `entries` (the records of one write, in order) after the chain's last record.
pub(super) async fn append(tx: &Tx<'_>, entries: Vec<Entry>) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let last = lock_chain(tx).await?;
    insert(tx, &seal_all(entries, last)).await
}

/// Takes the chain's lock and reads its last record `(seq, hash)`. Sent together (one round
/// trip): the server runs the read once the lock is held, and at READ COMMITTED that
/// statement's snapshot includes the previous holder's commit. Call it after the write's own
/// row locks (their statements sent first), so a transaction holding it never waits.
pub(super) async fn lock_chain(tx: &impl GenericClient) -> Result<Option<(i64, String)>> {
    let (lock, last) = tokio::try_join!(
        tx.prepare_cached(CHAIN_LOCK),
        tx.prepare_cached(audit::LAST_RECORD),
    )?;
    let (_, last) = tokio::try_join!(tx.execute(&lock, &[]), tx.query_opt(&last, &[]))?;
    Ok(match last {
        Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
        None => None,
    })
}

/// Inserts sealed records, pipelined (one round trip), executed in order.
pub(super) async fn insert(tx: &impl GenericClient, records: &[AuditRecord]) -> Result<()> {
    let insert = tx.prepare_cached(audit::INSERT_RECORD).await?;
    let insert = &insert;
    futures_util::future::try_join_all(records.iter().map(|r| async move {
        let at = r.at.millis();
        let mut params = vec![&r.seq as &(dyn ToSql + Sync)];
        params.extend(content_params(r, &at));
        params.extend([&r.prev_hash as &(dyn ToSql + Sync), &r.hash]);
        tx.execute(insert, &params).await
    }))
    .await?;
    Ok(())
}

/// A record's columns from `at` to `details` (`at` in epoch milliseconds), as parameters.
fn content_params<'a>(r: &'a AuditRecord, at: &'a i64) -> Vec<&'a (dyn ToSql + Sync)> {
    vec![
        at,
        &r.actor,
        &r.action,
        &r.entity_kind,
        &r.entity_id,
        &r.request_id,
        &r.client_ip,
        &r.digest,
        &r.details,
    ]
}

/// Checks the whole chain, streaming it in `seq` order (call inside a read transaction).
pub(super) async fn verify(tx: &Tx<'_>) -> Result<VerifyReport> {
    let mut verifier = Verifier::new();
    let statement = tx.prepare(&audit::all_records()).await?;
    let rows = tx
        .query_raw(&statement, std::iter::empty::<&(dyn ToSql + Sync)>())
        .await?;
    futures_util::pin_mut!(rows);
    while let Some(row) = rows.try_next().await? {
        if !verifier.check(&audit::record(&row)?) {
            break;
        }
    }
    Ok(verifier.report())
}

/// One page of records.
pub(super) async fn list(tx: &Tx<'_>, query: &AuditQuery) -> Result<Page<AuditRecord>> {
    let mut sql = Sql::default();
    audit::list(&mut sql, query);
    let records = sql.query(tx, audit::record).await?;
    Ok(audit::finish_list(records, query))
}

/// [`crate::store::Store::is_healthcare`], on a pooled connection (one round trip).
pub(super) async fn is_healthcare(client: &deadpool_postgres::Client, of: &DataOf) -> Result<bool> {
    let statement = client.prepare_cached(audit::healthcare_sql(of)).await?;
    Ok(client.query_opt(&statement, &[&of.id()]).await?.is_some())
}
