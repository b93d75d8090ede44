//! Dataset summaries of experiments (MLflow's `experiments/search-datasets`), written once for
//! both backends: the SQL, and the reduction of its rows to distinct summaries.

use serde::Serialize;

use super::statements::placeholders;

/// A dataset used in an experiment, with the context it was used in (`training`, `eval`, …:
/// the input tag `mlflow.data.context`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DatasetSummary {
    pub experiment_id: String,
    pub name: String,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// Most summaries one search returns (MLflow's limit).
pub const MAX_DATASET_SUMMARIES: usize = 1000;
/// The input tag naming the context a dataset was used in.
const CONTEXT_TAG: &str = "mlflow.data.context";

/// Every use of a dataset of the experiments bound as `$1..$n`: (experiment id, name, digest,
/// input tags as JSON).
pub(crate) fn dataset_uses(experiments: usize) -> String {
    format!(
        "SELECT d.experiment_id, d.name, d.digest, ri.tags FROM datasets d \
         JOIN run_inputs ri ON ri.dataset_id = d.id WHERE d.experiment_id IN ({}) \
         ORDER BY d.experiment_id, d.name, d.digest",
        placeholders(1, experiments)
    )
}

/// The distinct summaries of dataset uses, sorted, at most [`MAX_DATASET_SUMMARIES`].
pub(crate) fn summaries(
    uses: impl IntoIterator<Item = (String, String, String, ets_domain::model::Tags)>,
) -> Vec<DatasetSummary> {
    let mut summaries: Vec<DatasetSummary> = uses
        .into_iter()
        .map(|(experiment_id, name, digest, tags)| DatasetSummary {
            experiment_id,
            name,
            digest,
            context: tags.get(CONTEXT_TAG).cloned(),
        })
        .collect();
    summaries.sort_unstable();
    summaries.dedup();
    summaries.truncate(MAX_DATASET_SUMMARIES);
    summaries
}
