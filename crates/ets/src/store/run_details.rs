//! The details of a page of runs — params, tags, latest metric values, dataset inputs, logged
//! model links — read once for both backends: one statement per table over the whole page,
//! each detail row attached to its run as it is read.
//!
//! The page's ids go in as one parameter (a JSON array on SQLite, a `text[]` on PostgreSQL)
//! that the statements join as a row source `page (n, id)`, `n` the run's position in the
//! page, from 1. A row therefore names its run by position: no run id is read back, copied or
//! hashed per detail row, and the statement text is the same for every page size (prepared
//! once, where a list of 1,000 `?` was a new statement to plan for each size). A search page
//! of 1,000 runs is five statements, one pass each.

use ets_domain::model::{Dataset, DatasetInput, MetricSummary, Run};

use super::rows::RowRead;
use crate::error::{Error, Result};

/// One detail table of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    Params,
    Tags,
    Metrics,
    Inputs,
    Models,
}

/// The rows of the runs of `page` (a row source `page (n, id)`, as [`Detail::statement`]'s)
/// that exist, in the page's order; ids without a run give no row.
pub(crate) fn runs_statement(page: &str) -> String {
    use super::statements::{RUN_COLUMNS, RUN_FROM};
    let joined = RUN_FROM.replacen(
        "FROM runs r",
        &format!("FROM {page} JOIN runs r ON r.id = page.id"),
        1,
    );
    format!("SELECT {RUN_COLUMNS} {joined} ORDER BY page.n")
}

impl Detail {
    /// Every detail of a run, in the order the backends read them.
    pub(crate) const ALL: [Detail; 5] = [
        Detail::Params,
        Detail::Tags,
        Detail::Metrics,
        Detail::Inputs,
        Detail::Models,
    ];

    /// The statement reading this detail of the runs of `page`, a row source with columns
    /// `n` (the run's position, from 1) and `id` (the backend's: see the module doc). Rows come
    /// in the order the run keeps them: metrics by key, inputs by dataset name and digest,
    /// models by direction then id (params and tags go into maps).
    pub(crate) fn statement(self, page: &str) -> String {
        match self {
            Detail::Params => {
                format!(
                    "SELECT page.n, p.key, p.json FROM {page} JOIN run_params p ON p.run_id = page.id"
                )
            }
            Detail::Tags => {
                format!(
                    "SELECT page.n, t.key, t.value FROM {page} JOIN run_tags t ON t.run_id = page.id"
                )
            }
            Detail::Metrics => format!(
                "SELECT page.n, {SUMMARY_COLUMNS} FROM {page} \
                 JOIN metric_series s ON s.run_id = page.id \
                 WHERE s.point_count > 0 ORDER BY page.n, s.key"
            ),
            Detail::Inputs => format!(
                "SELECT page.n, d.name, d.digest, d.source_type, d.source, d.schema, d.profile, \
                 ri.tags FROM {page} JOIN run_inputs ri ON ri.run_id = page.id \
                 JOIN datasets d ON d.id = ri.dataset_id ORDER BY page.n, d.name, d.digest"
            ),
            Detail::Models => format!(
                "SELECT page.n, m.model_id, m.direction, m.step FROM {page} \
                 JOIN run_models m ON m.run_id = page.id ORDER BY page.n, m.direction, m.model_id"
            ),
        }
    }

    /// Gives a row of [`Detail::statement`] to its run of `runs` (the page, in the order its
    /// ids were bound).
    pub(crate) fn attach<R>(self, runs: &mut [Run], row: &R) -> Result<()>
    where
        R: RowRead,
        Error: From<R::Error>,
    {
        let position = row.int(0)?;
        let page_size = runs.len();
        let run = usize::try_from(position - 1)
            .ok()
            .and_then(|i| runs.get_mut(i))
            .ok_or_else(|| {
                Error::internal(format!(
                    "a run detail names position {position} of a page of {page_size}"
                ))
            })?;
        match self {
            Detail::Params => {
                run.params.insert(row.text(1)?, row.json(2)?);
            }
            Detail::Tags => {
                run.tags.insert(row.text(1)?, row.text(2)?);
            }
            Detail::Metrics => run.metrics.push(metric_summary(row, 1)?),
            Detail::Inputs => run.inputs.push(DatasetInput {
                dataset: Dataset {
                    name: row.text(1)?,
                    digest: row.text(2)?,
                    source_type: row.text(3)?,
                    source: row.text(4)?,
                    schema: row.opt_text(5)?,
                    profile: row.opt_text(6)?,
                },
                tags: row.json(7)?,
            }),
            Detail::Models => run.models.push(super::models::run_model(
                row.text(1)?,
                &row.text(2)?,
                row.opt_int(3)?,
            )),
        }
        Ok(())
    }
}

/// The columns of a metric's latest values (`metric_series s`), as [`metric_summary`] reads
/// them: a macro, so [`RUN_SUMMARIES`] can be one constant built from it.
macro_rules! summary_columns {
    () => {
        "s.key, s.last_value, s.last_step, s.last_timestamp, s.min_value, s.max_value, s.point_count"
    };
}
const SUMMARY_COLUMNS: &str = summary_columns!();

/// The latest values of the metrics of run `$1`, by key ([`metric_summary`] reads a row).
pub(crate) const RUN_SUMMARIES: &str = concat!(
    "SELECT ",
    summary_columns!(),
    " FROM metric_series s WHERE s.run_id = $1 AND s.point_count > 0 ORDER BY s.key"
);

/// A metric's latest values from [`SUMMARY_COLUMNS`], starting at column `first`.
pub(crate) fn metric_summary<R: RowRead>(
    row: &R,
    first: usize,
) -> std::result::Result<MetricSummary, R::Error> {
    Ok(MetricSummary {
        key: row.text(first)?,
        last_value: super::value_from_sql(row.opt_float(first + 1)?),
        last_step: row.int(first + 2)?,
        last_timestamp: row.int(first + 3)?,
        min: row.opt_float(first + 4)?,
        max: row.opt_float(first + 5)?,
        count: row.int(first + 6)?,
    })
}
