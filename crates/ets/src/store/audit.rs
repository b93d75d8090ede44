//! The audit trail's SQL, written once for both backends (`$n` placeholders; SQLite runs them
//! as `?n`), and its rows read into [`AuditRecord`]s. The record itself (canonical form, hash)
//! is `crate::audit`'s; a backend only reads the chain's last record and inserts the next one
//! in the write's transaction.

use ets_domain::Timestamp;

use super::filter_sql::FilterSql;
use super::rows::RowRead;
use crate::audit::AuditRecord;

/// Columns of `audit_log` in [`record`]'s order.
const COLUMNS: &str = "seq, at, actor, action, entity_kind, entity_id, request_id, client_ip, \
                       digest, details, prev_hash, hash";

/// The chain's last record: `(seq, hash)`.
pub(crate) const LAST_RECORD: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";

/// Appends a record: the twelve columns in [`COLUMNS`] order.
pub(crate) const INSERT_RECORD: &str = "INSERT INTO audit_log (seq, at, actor, action, entity_kind, \
     entity_id, request_id, client_ip, digest, details, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Whether a read of this data is a read of a healthcare experiment's data (`$1`: the id).
pub(crate) fn healthcare_sql(of: &DataOf) -> &'static str {
    match of {
        DataOf::Experiment(_) => {
            "SELECT 1 FROM experiments WHERE id = $1 AND healthcare IS NOT NULL"
        }
        DataOf::Run(_) => {
            "SELECT 1 FROM runs r JOIN experiments e ON e.id = r.experiment_id \
             WHERE r.id = $1 AND e.healthcare IS NOT NULL"
        }
    }
}

/// Whose data a read returns, for `[audit] reads = "healthcare"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataOf {
    Experiment(String),
    Run(String),
}

impl DataOf {
    pub(crate) fn id(&self) -> &str {
        match self {
            DataOf::Experiment(id) | DataOf::Run(id) => id,
        }
    }
}

/// Every record in chain order, for verification.
pub(crate) fn all_records() -> String {
    format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq")
}

/// Reads a row of [`COLUMNS`].
pub(crate) fn record<R: RowRead>(row: &R) -> Result<AuditRecord, R::Error> {
    Ok(AuditRecord {
        seq: row.int(0)?,
        at: row.timestamp(1)?,
        actor: row.text(2)?,
        action: row.text(3)?,
        entity_kind: row.text(4)?,
        entity_id: row.text(5)?,
        request_id: row.opt_text(6)?,
        client_ip: row.opt_text(7)?,
        digest: row.text(8)?,
        details: row.text(9)?,
        prev_hash: row.text(10)?,
        hash: row.text(11)?,
    })
}

/// Filter and page of `GET /api/v1/audit`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Records at or after this time.
    pub since: Option<Timestamp>,
    /// Records before this time.
    pub until: Option<Timestamp>,
    /// Newest first (the default) or oldest first.
    pub descending: bool,
    /// The `seq` of the previous page's last record.
    pub after_seq: Option<i64>,
    pub page_size: u32,
}

/// Builds the list query into a backend's builder (one row more than the page, to tell
/// whether another follows).
pub(crate) fn list<S: FilterSql>(sql: &mut S, query: &AuditQuery) {
    sql.push_sql(&format!("SELECT {COLUMNS} FROM audit_log WHERE TRUE"));
    let texts = [
        ("entity_kind", &query.entity_kind),
        ("entity_id", &query.entity_id),
        ("actor", &query.actor),
        ("action", &query.action),
    ];
    for (column, value) in texts {
        if let Some(value) = value {
            sql.push_sql(&format!(" AND {column} = "));
            sql.bind_text(value.clone());
        }
    }
    if let Some(since) = query.since {
        sql.push_sql(" AND at >= ");
        sql.bind_i64(since.millis());
    }
    if let Some(until) = query.until {
        sql.push_sql(" AND at < ");
        sql.bind_i64(until.millis());
    }
    let (op, direction) = if query.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(after) = query.after_seq {
        sql.push_sql(&format!(" AND seq {op} "));
        sql.bind_i64(after);
    }
    sql.push_sql(&format!(
        " ORDER BY seq {direction} LIMIT {}",
        u64::from(query.page_size) + 1
    ));
}

/// Cuts a list query's extra row off and makes the next page's token.
pub(crate) fn finish_list(
    mut records: Vec<AuditRecord>,
    query: &AuditQuery,
) -> super::Page<AuditRecord> {
    let more = records.len() > query.page_size as usize;
    records.truncate(query.page_size as usize);
    let next_page_token = match (more, records.last()) {
        (true, Some(last)) => Some(page_token(query.descending, last.seq)),
        _ => None,
    };
    super::Page {
        items: records,
        next_page_token,
    }
}

/// The sort as a token spells it: `seq` or `-seq`.
fn sort_name(descending: bool) -> &'static str {
    if descending { "-seq" } else { "seq" }
}

/// An opaque page token (base64 of `[sort, seq]`, as the other lists' tokens), bound to its
/// direction.
pub fn page_token(descending: bool, seq: i64) -> String {
    use base64::Engine;
    let json = serde_json::json!([sort_name(descending), seq]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// The `seq` a token issued for this direction continues after; `None` when malformed.
pub fn decode_page_token(token: &str, descending: bool) -> Option<i64> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let (sort, seq): (String, i64) = serde_json::from_slice(&bytes).ok()?;
    (sort == sort_name(descending)).then_some(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_direction() {
        let token = page_token(true, 42);
        assert_eq!(decode_page_token(&token, true), Some(42));
        assert_eq!(decode_page_token(&token, false), None);
        assert_eq!(decode_page_token("garbage", true), None);
    }
}
