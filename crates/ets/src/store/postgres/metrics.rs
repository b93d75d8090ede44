//! PostgreSQL: metrics. (Stubs: to be implemented.)

#![allow(unused_imports, clippy::unused_async)]

use super::{PgStore, Tx};
use crate::error::{Error, Result};
use crate::store::*;
use ets_domain::Timestamp;
use ets_domain::model::*;

impl PgStore {
    pub(super) async fn log_metrics(
        &self,
        run_id: &str,
        points: Vec<SeriesPoints>,
    ) -> Result<(usize, usize)> {
        let _ = (run_id, points);
        Err(Error::internal(
            "PostgreSQL: log_metrics not implemented yet",
        ))
    }

    pub(super) async fn log_batch(
        &self,
        run_id: &str,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
        rename: Option<String>,
        points: Vec<SeriesPoints>,
        model_metrics: Vec<ModelMetric>,
    ) -> Result<(usize, usize)> {
        let _ = (run_id, params, tags, rename, points, model_metrics);
        Err(Error::internal("PostgreSQL: log_batch not implemented yet"))
    }

    pub(super) async fn metric_summaries(&self, run_id: &str) -> Result<Vec<MetricSummary>> {
        let _ = (run_id,);
        Err(Error::internal(
            "PostgreSQL: metric_summaries not implemented yet",
        ))
    }

    pub(super) async fn metric_series(
        &self,
        run_id: &str,
        key: &str,
        request: SeriesRequest,
    ) -> Result<MetricSeries> {
        let _ = (run_id, key, request);
        Err(Error::internal(
            "PostgreSQL: metric_series not implemented yet",
        ))
    }
}

/// Summaries of every metric key of the given runs, as (run id, summary), ordered by key.
pub(super) async fn summaries_of_runs(
    tx: &Tx<'_>,
    run_ids: &[String],
) -> Result<Vec<(String, MetricSummary)>> {
    let _ = (tx, run_ids);
    Err(Error::internal(
        "PostgreSQL: metrics::summaries_of_runs not implemented yet",
    ))
}

/// Removes the points of the given runs' series (chunks carry no foreign key).
pub(super) async fn delete_points_of_runs(tx: &Tx<'_>, run_ids: &[String]) -> Result<()> {
    let _ = (tx, run_ids);
    Err(Error::internal(
        "PostgreSQL: metrics::delete_points_of_runs not implemented yet",
    ))
}
