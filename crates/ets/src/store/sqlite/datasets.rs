//! Datasets used by runs (MLflow's `log-inputs`).

use ets_domain::model::DatasetInput;
use rusqlite::{Connection, OptionalExtension, params};

use super::sql::{json_column, to_json};
use crate::error::{EntityKind, Error, Result};

/// Records that `run_id` used each dataset (creating the dataset in the run's experiment on
/// first use); logging the same dataset again replaces its input tags.
pub(super) fn log_inputs(conn: &Connection, run_id: &str, inputs: &[DatasetInput]) -> Result<()> {
    let experiment_id: String = conn
        .prepare_cached("SELECT experiment_id FROM runs WHERE id = ?1")?
        .query_row([run_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Run, run_id))?;
    let mut find = conn.prepare_cached(
        "SELECT id FROM datasets WHERE experiment_id = ?1 AND name = ?2 AND digest = ?3",
    )?;
    let mut create = conn.prepare_cached(
        "INSERT INTO datasets (experiment_id, name, digest, source_type, source, schema, profile) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut link = conn.prepare_cached(
        "INSERT INTO run_inputs (run_id, dataset_id, tags) VALUES (?1, ?2, ?3) \
         ON CONFLICT (run_id, dataset_id) DO UPDATE SET tags = excluded.tags",
    )?;
    for input in inputs {
        let d = &input.dataset;
        let dataset_id = match find
            .query_row(params![experiment_id, d.name, d.digest], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
        {
            Some(id) => id,
            None => {
                create.execute(params![
                    experiment_id,
                    d.name,
                    d.digest,
                    d.source_type,
                    d.source,
                    d.schema,
                    d.profile
                ])?;
                conn.last_insert_rowid()
            }
        };
        link.execute(params![run_id, dataset_id, to_json(&input.tags)])?;
    }
    Ok(())
}

/// Dataset uses of the experiments, reduced to summaries (`store::datasets`).
pub(super) fn summaries(
    conn: &Connection,
    experiment_ids: &[String],
) -> Result<Vec<crate::store::datasets::DatasetSummary>> {
    use crate::store::datasets as q;
    if experiment_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare_cached(&super::sql::numbered(&q::dataset_uses(
        experiment_ids.len(),
    )))?;
    let uses = statement
        .query_map(rusqlite::params_from_iter(experiment_ids), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, json_column(r, 3)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(q::summaries(uses))
}
