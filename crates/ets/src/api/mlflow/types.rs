//! MLflow's JSON shapes (protobuf JSON with MLflow's conventions: snake_case fields, int64 as
//! numbers, enums in capitals, tags as `[{key, value}]`) and their conversion from ours.

use ets_domain::model::{
    DatasetInput, Experiment, LoggedModel, LoggedModelStatus, ModelDirection, Run, Tags,
};
use ets_domain::status::RunStatus;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    RunArtifactUri { root, run_id }.to_string()
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

/// A run as MLflow shows it (`Run` in MLflow's protobuf), written straight from our [`Run`]:
/// a borrowed view, so a search page of 1,000 runs serialises without copying a string.
/// Its artifacts are below `root`, its experiment's artifact root.
#[derive(Serialize)]
pub struct MlflowRun<'a> {
    info: MlflowRunInfo<'a>,
    data: RunData<'a>,
    inputs: RunInputs<'a>,
    outputs: RunOutputs<'a>,
}

impl<'a> MlflowRun<'a> {
    pub fn new(run: &'a Run, root: &'a str) -> Self {
        MlflowRun {
            info: MlflowRunInfo::new(run, root),
            data: RunData(run),
            inputs: RunInputs(run),
            outputs: RunOutputs(run),
        }
    }
}

/// MLflow's `RunInfo` of a run, borrowed (see [`MlflowRun`]).
#[derive(Serialize)]
pub struct MlflowRunInfo<'a> {
    run_id: &'a str,
    run_uuid: &'a str,
    run_name: &'a str,
    experiment_id: &'a str,
    user_id: &'a str,
    status: &'static str,
    start_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<i64>,
    artifact_uri: RunArtifactUri<'a>,
    lifecycle_stage: &'static str,
}

impl<'a> MlflowRunInfo<'a> {
    /// The run's info; its artifacts are below `root`, its experiment's artifact root.
    pub fn new(run: &'a Run, root: &'a str) -> Self {
        MlflowRunInfo {
            run_id: &run.id,
            run_uuid: &run.id,
            run_name: &run.name,
            experiment_id: &run.experiment_id,
            user_id: run.owner.as_deref().unwrap_or_default(),
            status: status_name(run.status),
            start_time: run.started_at.unwrap_or(run.created_at).millis(),
            end_time: run.ended_at.map(|t| t.millis()),
            artifact_uri: RunArtifactUri {
                root,
                run_id: &run.id,
            },
            lifecycle_stage: lifecycle_stage(run.deleted_at.is_some()),
        }
    }
}

/// [`run_artifact_uri`] written into the response rather than into a `String` first.
struct RunArtifactUri<'a> {
    root: &'a str,
    run_id: &'a str,
}

impl Serialize for RunArtifactUri<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::fmt::Display for RunArtifactUri<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.root.is_empty() {
            write!(f, "mlflow-artifacts:/{}/artifacts", self.run_id)
        } else {
            write!(
                f,
                "mlflow-artifacts:/{}/{}/artifacts",
                self.root, self.run_id
            )
        }
    }
}

/// A JSON array written from an iterator made on demand (no `Vec` in between).
struct SeqOf<F>(F);

impl<F, I> Serialize for SeqOf<F>
where
    F: Fn() -> I,
    I: Iterator<Item: Serialize>,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

/// `{key, value}` borrowed.
#[derive(Serialize)]
struct KeyValueRef<'a, V: Serialize> {
    key: &'a str,
    value: V,
}

/// MLflow's `RunData`: latest metric values, params as text, tags with the run's name and
/// parent.
struct RunData<'a>(&'a Run);

impl Serialize for RunData<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let run = self.0;
        let mut data = serializer.serialize_struct("RunData", 3)?;
        data.serialize_field("metrics", &SeqOf(|| run.metrics.iter().map(LatestMetric)))?;
        data.serialize_field(
            "params",
            &SeqOf(|| {
                run.params.iter().map(|(key, value)| KeyValueRef {
                    key,
                    value: ParamText(value),
                })
            }),
        )?;
        data.serialize_field(
            "tags",
            &SeqOf(|| mlflow_tags(run).map(|(key, value)| KeyValueRef { key, value })),
        )?;
        data.end()
    }
}

/// A metric's latest point as MLflow's `Metric` (no run id or context).
struct LatestMetric<'a>(&'a ets_domain::model::MetricSummary);

impl Serialize for LatestMetric<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let m = self.0;
        let mut metric = serializer.serialize_struct("Metric", 4)?;
        metric.serialize_field("key", &m.key)?;
        metric.serialize_field("value", &ets_domain::value::MetricValue(m.last_value))?;
        metric.serialize_field("timestamp", &m.last_timestamp)?;
        metric.serialize_field("step", &m.last_step)?;
        metric.end()
    }
}

/// A param's value as MLflow's text: strings as they are, other JSON values as compact JSON
/// ([`ets_domain::model::ParamValue::from_json`]).
struct ParamText<'a>(&'a serde_json::Value);

impl Serialize for ParamText<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            serde_json::Value::String(text) => serializer.serialize_str(text),
            other => serializer.collect_str(other),
        }
    }
}

/// The run's tags as MLflow shows them, by key: the run's name as `mlflow.runName` (over a
/// tag of that key), its parent as `mlflow.parentRunId` unless a tag of that key says
/// otherwise.
fn mlflow_tags(run: &Run) -> impl Iterator<Item = (&str, &str)> {
    // The added keys in order, as the tags are: the merge below keeps the order.
    debug_assert!(PARENT_RUN_TAG < RUN_NAME_TAG);
    let mut extra = [
        run.parent_run_id
            .as_deref()
            .filter(|_| !run.tags.contains_key(PARENT_RUN_TAG))
            .map(|parent| (PARENT_RUN_TAG, parent)),
        Some((RUN_NAME_TAG, run.name.as_str())),
    ]
    .into_iter()
    .flatten()
    .peekable();
    let mut tags = run
        .tags
        .iter()
        .filter(|(key, _)| key.as_str() != RUN_NAME_TAG)
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .peekable();
    std::iter::from_fn(move || match (tags.peek(), extra.peek()) {
        (Some(tag), Some(added)) if added.0 < tag.0 => extra.next(),
        (Some(_), _) => tags.next(),
        (None, _) => extra.next(),
    })
}

/// MLflow's `RunInputs`: the datasets used, and the logged models used (when any).
struct RunInputs<'a>(&'a Run);

impl Serialize for RunInputs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let run = self.0;
        let used = || {
            run.models
                .iter()
                .filter(|m| m.direction == ModelDirection::Input)
        };
        let mut inputs = serializer.serialize_struct("RunInputs", 2)?;
        inputs.serialize_field(
            "dataset_inputs",
            &SeqOf(|| run.inputs.iter().map(DatasetInputRef)),
        )?;
        if used().next().is_some() {
            inputs.serialize_field(
                "model_inputs",
                &SeqOf(|| {
                    used().map(|m| ModelInputRef {
                        model_id: &m.model_id,
                    })
                }),
            )?;
        }
        inputs.end()
    }
}

#[derive(Serialize)]
struct ModelInputRef<'a> {
    model_id: &'a str,
}

/// MLflow's `RunOutputs`: the logged models the run produced (when any), with their step.
struct RunOutputs<'a>(&'a Run);

impl Serialize for RunOutputs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let run = self.0;
        let produced = || {
            run.models
                .iter()
                .filter(|m| m.direction == ModelDirection::Output)
        };
        let mut outputs = serializer.serialize_struct("RunOutputs", 1)?;
        if produced().next().is_some() {
            outputs.serialize_field(
                "model_outputs",
                &SeqOf(|| {
                    produced().map(|m| ModelOutputRef {
                        model_id: &m.model_id,
                        step: m.step.unwrap_or(0),
                    })
                }),
            )?;
        }
        outputs.end()
    }
}

#[derive(Serialize)]
struct ModelOutputRef<'a> {
    model_id: &'a str,
    step: i64,
}

/// A dataset input as MLflow's `DatasetInput` ([`MlflowDatasetInput`]'s shape), borrowed.
struct DatasetInputRef<'a>(&'a DatasetInput);

impl Serialize for DatasetInputRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        #[derive(Serialize)]
        struct DatasetRef<'a> {
            name: &'a str,
            digest: &'a str,
            source_type: &'a str,
            source: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            schema: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            profile: Option<&'a str>,
        }
        let input = self.0;
        let d = &input.dataset;
        let mut out = serializer.serialize_struct("DatasetInput", 2)?;
        out.serialize_field(
            "tags",
            &SeqOf(|| {
                input
                    .tags
                    .iter()
                    .map(|(key, value)| KeyValueRef { key, value })
            }),
        )?;
        out.serialize_field(
            "dataset",
            &DatasetRef {
                name: &d.name,
                digest: &d.digest,
                source_type: &d.source_type,
                source: &d.source,
                schema: d.schema.as_deref(),
                profile: d.profile.as_deref(),
            },
        )?;
        out.end()
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
