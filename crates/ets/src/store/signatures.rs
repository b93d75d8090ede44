//! Rows of `run_signatures` (migration 11) and their SQL, written once for both backends.

use ets_domain::Timestamp;

use super::rows::RowRead;

/// A signature as stored: never updated, never deleted (but with its run).
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureRecord {
    pub id: String,
    pub run_id: String,
    pub signer_id: String,
    pub signer_name: String,
    /// `reviewed`, `approved` or `rejected`.
    pub meaning: String,
    pub comment: Option<String>,
    /// Hex SHA-256 of the run's content when it was signed.
    pub content_hash: String,
    pub signed_at: Timestamp,
}

pub(crate) const INSERT_SIGNATURE: &str = "INSERT INTO run_signatures (id, run_id, signer_id, \
     signer_name, meaning, comment, content_hash, signed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// The signatures of the runs bound as `$1..$n`, oldest first.
pub(crate) fn signatures_of_runs(n: usize) -> String {
    format!(
        "SELECT id, run_id, signer_id, signer_name, meaning, comment, content_hash, signed_at \
         FROM run_signatures WHERE run_id IN ({}) ORDER BY signed_at, id",
        super::statements::placeholders(1, n)
    )
}

pub(crate) fn signature_row<R: RowRead>(row: &R) -> Result<SignatureRecord, R::Error> {
    Ok(SignatureRecord {
        id: row.text(0)?,
        run_id: row.text(1)?,
        signer_id: row.text(2)?,
        signer_name: row.text(3)?,
        meaning: row.text(4)?,
        comment: row.opt_text(5)?,
        content_hash: row.text(6)?,
        signed_at: row.timestamp(7)?,
    })
}
