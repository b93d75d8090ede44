//! MLflow's JSON shapes (protobuf JSON with MLflow's conventions: snake_case fields, int64 as
//! numbers, enums in capitals, tags as `[{key, value}]`) and their conversion from ours.

use ets_domain::model::{
    DatasetInput, Experiment, LoggedModel, LoggedModelStatus, ModelDirection, Run, Tags,
};
use ets_domain::status::RunStatus;
use serde::{Deserialize, Deserializer, Serialize};

use crate::service::runs::{PARENT_RUN_TAG, RUN_NAME_TAG};

/// `{key, value}`, MLflow's tag and param shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

pub fn key_values(tags: &Tags) -> Vec<KeyValue> {
    tags.iter()
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

/// int64 fields arrive as numbers or, from some clients (and query strings), as strings.
/// A visitor, not an untagged enum: this runs for every point of a `log-batch`.
pub fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("{v} is too large")))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            if v.fract() == 0.0 && v.abs() < 9.2e18 {
                Ok(Some(v as i64))
            } else {
                Err(E::custom(format!("{v} is not an integer")))
            }
        }
        fn visit_str<E: serde::de::Error>(self, t: &str) -> Result<Self::Value, E> {
            t.trim()
                .parse()
                .map(Some)
                .map_err(|_| E::custom(format!("'{t}' is not an integer")))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// Metric values: numbers, or `"NaN"`, `"Infinity"`, `"-Infinity"` (protobuf JSON).
pub fn lenient_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    ets_domain::value::metric_f64_opt::deserialize(deserializer)
}

#[derive(Debug, Serialize)]
pub struct MlflowExperiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: &'static str,
    pub last_update_time: i64,
    pub creation_time: i64,
    pub tags: Vec<KeyValue>,
}

/// Where an experiment's artifacts live, as MLflow clients address them.
pub fn experiment_artifact_location(experiment_id: &str) -> String {
    format!("mlflow-artifacts:/{experiment_id}")
}

/// Where a run's artifacts live, below its experiment's artifact root (a proxy path).
pub fn run_artifact_uri(root: &str, run_id: &str) -> String {
    if root.is_empty() {
        format!("mlflow-artifacts:/{run_id}/artifacts")
    } else {
        format!("mlflow-artifacts:/{root}/{run_id}/artifacts")
    }
}

fn lifecycle_stage(deleted: bool) -> &'static str {
    if deleted { "deleted" } else { "active" }
}

impl From<Experiment> for MlflowExperiment {
    fn from(e: Experiment) -> Self {
        let mut tags = e.tags;
        if let Some(description) = e.description {
            tags.entry("mlflow.note.content".into())
                .or_insert(description);
        }
        MlflowExperiment {
            artifact_location: e
                .artifact_location
                .unwrap_or_else(|| experiment_artifact_location(&e.id)),
            experiment_id: e.id,
            name: e.name,
            lifecycle_stage: lifecycle_stage(e.deleted_at.is_some()),
            last_update_time: e.updated_at.millis(),
            creation_time: e.created_at.millis(),
            tags: key_values(&tags),
        }
    }
}

pub fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Scheduled => "SCHEDULED",
        RunStatus::Running => "RUNNING",
        RunStatus::Finished => "FINISHED",
        RunStatus::Failed => "FAILED",
        RunStatus::Killed => "KILLED",
    }
}

#[derive(Debug, Serialize)]
pub struct MlflowRunInfo {
    pub run_id: String,
    pub run_uuid: String,
    pub run_name: String,
    pub experiment_id: String,
    pub user_id: String,
    pub status: &'static str,
    pub start_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub lifecycle_stage: &'static str,
}

#[derive(Debug, Serialize)]
pub struct MlflowMetric {
    pub key: String,
    #[serde(with = "ets_domain::value::metric_f64")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

impl MlflowMetric {
    /// A run metric's point, without context.
    pub fn point(key: String, value: f64, timestamp: i64, step: i64) -> Self {
        MlflowMetric {
            key,
            value,
            timestamp,
            step,
            run_id: None,
            dataset_name: None,
            dataset_digest: None,
            model_id: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct MlflowRunData {
    pub metrics: Vec<MlflowMetric>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MlflowDataset {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MlflowDatasetInput {
    #[serde(default)]
    pub tags: Vec<KeyValue>,
    pub dataset: MlflowDataset,
}

#[derive(Debug, Serialize)]
pub struct MlflowRunInputs {
    pub dataset_inputs: Vec<MlflowDatasetInput>,
    /// Logged models the run used (MLflow's `LoggedModelInput`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_inputs: Vec<MlflowModelInput>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MlflowModelInput {
    #[serde(default)]
    pub model_id: String,
}

/// A logged model the run produced, at a step (MLflow's `LoggedModelOutput`).
#[derive(Debug, Serialize, Deserialize)]
pub struct MlflowModelOutput {
    #[serde(default)]
    pub model_id: String,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub step: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct MlflowRunOutputs {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_outputs: Vec<MlflowModelOutput>,
}

#[derive(Debug, Serialize)]
pub struct MlflowRun {
    pub info: MlflowRunInfo,
    pub data: MlflowRunData,
    pub inputs: MlflowRunInputs,
    pub outputs: MlflowRunOutputs,
}

impl MlflowRunInfo {
    /// The run's info; its artifacts are below `root`, its experiment's artifact root.
    pub fn new(run: &Run, root: &str) -> Self {
        MlflowRunInfo {
            run_id: run.id.clone(),
            run_uuid: run.id.clone(),
            run_name: run.name.clone(),
            experiment_id: run.experiment_id.clone(),
            user_id: run.owner.clone().unwrap_or_default(),
            status: status_name(run.status),
            start_time: run.started_at.unwrap_or(run.created_at).millis(),
            end_time: run.ended_at.map(|t| t.millis()),
            artifact_uri: run_artifact_uri(root, &run.id),
            lifecycle_stage: lifecycle_stage(run.deleted_at.is_some()),
        }
    }
}

impl MlflowRun {
    /// The run as MLflow shows it; its artifacts are below `root` (see [`MlflowRunInfo::new`]).
    pub fn new(run: Run, root: &str) -> Self {
        let info = MlflowRunInfo::new(&run, root);
        let mut tags = run.tags;
        tags.insert(RUN_NAME_TAG.into(), run.name);
        if let Some(parent) = run.parent_run_id {
            tags.entry(PARENT_RUN_TAG.into()).or_insert(parent);
        }
        let metrics = run
            .metrics
            .into_iter()
            .map(|m| MlflowMetric::point(m.key, m.last_value, m.last_timestamp, m.last_step))
            .collect();
        let (mut model_inputs, mut model_outputs) = (Vec::new(), Vec::new());
        for link in run.models {
            match link.direction {
                ModelDirection::Input => model_inputs.push(MlflowModelInput {
                    model_id: link.model_id,
                }),
                ModelDirection::Output => model_outputs.push(MlflowModelOutput {
                    model_id: link.model_id,
                    step: Some(link.step.unwrap_or(0)),
                }),
            }
        }
        let params = run
            .params
            .into_iter()
            .map(|(key, value)| KeyValue {
                key,
                value: ets_domain::model::ParamValue::from_json(value).text,
            })
            .collect();
        MlflowRun {
            info,
            data: MlflowRunData {
                metrics,
                params,
                tags: key_values(&tags),
            },
            inputs: MlflowRunInputs {
                dataset_inputs: run
                    .inputs
                    .into_iter()
                    .map(MlflowDatasetInput::from)
                    .collect(),
                model_inputs,
            },
            outputs: MlflowRunOutputs { model_outputs },
        }
    }
}

impl From<DatasetInput> for MlflowDatasetInput {
    fn from(input: DatasetInput) -> Self {
        let d = input.dataset;
        MlflowDatasetInput {
            tags: key_values(&input.tags),
            dataset: MlflowDataset {
                name: d.name,
                digest: d.digest,
                source_type: d.source_type,
                source: d.source,
                schema: d.schema,
                profile: d.profile,
            },
        }
    }
}

impl From<MlflowDatasetInput> for DatasetInput {
    fn from(input: MlflowDatasetInput) -> Self {
        let d = input.dataset;
        DatasetInput {
            tags: input
                .tags
                .into_iter()
                .map(|kv| (kv.key, kv.value))
                .collect(),
            dataset: ets_domain::model::Dataset {
                name: d.name,
                digest: d.digest,
                source_type: d.source_type,
                source: d.source,
                schema: d.schema,
                profile: d.profile,
            },
        }
    }
}

pub fn model_status_name(status: LoggedModelStatus) -> &'static str {
    match status {
        LoggedModelStatus::Pending => "LOGGED_MODEL_PENDING",
        LoggedModelStatus::Ready => "LOGGED_MODEL_READY",
        LoggedModelStatus::Failed => "LOGGED_MODEL_UPLOAD_FAILED",
    }
}

pub fn parse_model_status(text: &str) -> Option<LoggedModelStatus> {
    match text {
        "LOGGED_MODEL_PENDING" => Some(LoggedModelStatus::Pending),
        "LOGGED_MODEL_READY" => Some(LoggedModelStatus::Ready),
        "LOGGED_MODEL_UPLOAD_FAILED" => Some(LoggedModelStatus::Failed),
        _ => None,
    }
}

#[derive(Debug, Serialize)]
pub struct MlflowLoggedModelInfo {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub artifact_uri: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Serialize)]
pub struct MlflowLoggedModelData {
    pub params: Vec<KeyValue>,
    pub metrics: Vec<MlflowMetric>,
}

#[derive(Debug, Serialize)]
pub struct MlflowLoggedModel {
    pub info: MlflowLoggedModelInfo,
    pub data: MlflowLoggedModelData,
}

/// Where a logged model's files live, where MLflow puts them:
/// `<experiment>/models/<id>/artifacts` (the proxy finds them with the model's source run).
pub fn model_artifact_uri(model: &LoggedModel) -> String {
    format!(
        "mlflow-artifacts:/{}/models/{}/artifacts",
        model.experiment_id, model.id
    )
}

impl From<LoggedModel> for MlflowLoggedModel {
    fn from(model: LoggedModel) -> Self {
        MlflowLoggedModel {
            info: MlflowLoggedModelInfo {
                artifact_uri: model_artifact_uri(&model),
                model_id: model.id,
                experiment_id: model.experiment_id,
                name: model.name,
                creation_timestamp_ms: model.created_at.millis(),
                last_updated_timestamp_ms: model.updated_at.millis(),
                status: model_status_name(model.status),
                status_message: model.status_message,
                model_type: model.model_type,
                source_run_id: model.source_run_id,
                tags: key_values(&model.tags),
            },
            data: MlflowLoggedModelData {
                params: key_values(&model.params),
                metrics: model
                    .metrics
                    .into_iter()
                    .map(|m| MlflowMetric {
                        key: m.key,
                        value: m.value,
                        timestamp: m.timestamp,
                        step: m.step,
                        run_id: Some(m.run_id),
                        dataset_name: m.dataset_name,
                        dataset_digest: m.dataset_digest,
                        model_id: Some(m.model_id),
                    })
                    .collect(),
            },
        }
    }
}
