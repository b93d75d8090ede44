//! PostgreSQL: datasets used by runs (MLflow's `log-inputs`).

use std::collections::HashMap;

use ets_domain::model::{Dataset, DatasetInput, Tags};
use tokio_postgres::types::Json;

use super::Tx;
use crate::error::{EntityKind, Error, Result};

/// Records that `run_id` used each dataset (creating the dataset in the run's experiment on
/// first use); logging the same dataset again replaces its input tags. Three statements
/// whatever the number of inputs.
pub(super) async fn log_inputs(tx: &Tx<'_>, run_id: &str, inputs: &[DatasetInput]) -> Result<()> {
    let statement = tx
        .prepare_cached("SELECT experiment_id FROM runs WHERE id = $1")
        .await?;
    let experiment_id: String = tx
        .query_opt(&statement, &[&run_id])
        .await?
        .ok_or_else(|| Error::not_found(EntityKind::Run, run_id))?
        .try_get(0)?;
    if inputs.is_empty() {
        return Ok(());
    }
    // As SQLite's loop: a dataset's first occurrence creates it, the last one's tags win.
    let mut datasets: Vec<&Dataset> = Vec::new();
    let mut tags: HashMap<(&str, &str), &Tags> = HashMap::new();
    for input in inputs {
        let d = &input.dataset;
        if tags.insert((&d.name, &d.digest), &input.tags).is_none() {
            datasets.push(d);
        }
    }
    let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
    let digests: Vec<&str> = datasets.iter().map(|d| d.digest.as_str()).collect();
    let source_types: Vec<&str> = datasets.iter().map(|d| d.source_type.as_str()).collect();
    let sources: Vec<&str> = datasets.iter().map(|d| d.source.as_str()).collect();
    let schemas: Vec<Option<&str>> = datasets.iter().map(|d| d.schema.as_deref()).collect();
    let profiles: Vec<Option<&str>> = datasets.iter().map(|d| d.profile.as_deref()).collect();
    let create = tx
        .prepare_cached(
            "INSERT INTO datasets (experiment_id, name, digest, source_type, source, schema, profile) \
             SELECT $1, u.name, u.digest, u.source_type, u.source, u.schema, u.profile \
             FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) \
             AS u(name, digest, source_type, source, schema, profile) \
             ON CONFLICT (experiment_id, name, digest) DO NOTHING",
        )
        .await?;
    tx.execute(
        &create,
        &[
            &experiment_id,
            &names,
            &digests,
            &source_types,
            &sources,
            &schemas,
            &profiles,
        ],
    )
    .await?;
    // A new statement: sees the datasets just created and any a concurrent request created.
    let find = tx
        .prepare_cached(
            "SELECT d.id, d.name, d.digest FROM datasets d \
             JOIN unnest($2::text[], $3::text[]) AS u(name, digest) ON u.name = d.name AND u.digest = d.digest \
             WHERE d.experiment_id = $1",
        )
        .await?;
    let mut ids = Vec::with_capacity(datasets.len());
    let mut link_tags = Vec::with_capacity(datasets.len());
    for row in tx.query(&find, &[&experiment_id, &names, &digests]).await? {
        let (id, name, digest): (i64, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if let Some(t) = tags.get(&(name.as_str(), digest.as_str())) {
            ids.push(id);
            link_tags.push(Json(*t));
        }
    }
    let link = tx
        .prepare_cached(
            "INSERT INTO run_inputs (run_id, dataset_id, tags) \
             SELECT $1, u.dataset_id, u.tags FROM unnest($2::bigint[], $3::jsonb[]) AS u(dataset_id, tags) \
             ON CONFLICT (run_id, dataset_id) DO UPDATE SET tags = excluded.tags",
        )
        .await?;
    tx.execute(&link, &[&run_id, &ids, &link_tags]).await?;
    Ok(())
}

/// Dataset uses of the experiments, reduced to summaries (`store::datasets`).
pub(super) async fn summaries(
    tx: &Tx<'_>,
    experiment_ids: &[String],
) -> Result<Vec<crate::store::datasets::DatasetSummary>> {
    use crate::store::datasets as q;
    if experiment_ids.is_empty() {
        return Ok(Vec::new());
    }
    let statement = tx
        .prepare_cached(&q::dataset_uses(experiment_ids.len()))
        .await?;
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = experiment_ids
        .iter()
        .map(|id| id as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    let rows = tx.query(&statement, &params).await?;
    let uses = rows
        .iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get::<_, tokio_postgres::types::Json<ets_domain::model::Tags>>(3)?
                    .0,
            ))
        })
        .collect::<std::result::Result<Vec<_>, tokio_postgres::Error>>()?;
    Ok(q::summaries(uses))
}
