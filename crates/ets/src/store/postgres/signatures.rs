//! Run signatures in PostgreSQL (SQL and rows: `store::signatures`).

use super::PgStore;
use crate::error::Result;
use crate::store::signatures::{self as q, SignatureRecord};

impl PgStore {
    pub(super) async fn add_signature(
        &self,
        signature: SignatureRecord,
    ) -> Result<SignatureRecord> {
        self.write(move |tx| {
            Box::pin(async move {
                // The run is locked so no change slips in between its hash and the signature.
                super::runs::get_bare(tx, &signature.run_id, "FOR SHARE").await?;
                let statement = tx.prepare_cached(q::INSERT_SIGNATURE).await?;
                tx.execute(
                    &statement,
                    &[
                        &signature.id,
                        &signature.run_id,
                        &signature.signer_id,
                        &signature.signer_name,
                        &signature.meaning,
                        &signature.comment,
                        &signature.content_hash,
                        &signature.signed_at.millis(),
                    ],
                )
                .await?;
                Ok(signature)
            })
        })
        .await
    }

    pub(super) async fn signatures(&self, run_ids: Vec<String>) -> Result<Vec<SignatureRecord>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(&q::signatures_of_runs(run_ids.len()))
                    .await?;
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = run_ids
                    .iter()
                    .map(|id| id as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                let rows = tx.query(&statement, &params).await?;
                Ok(rows
                    .iter()
                    .map(q::signature_row)
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }
}
