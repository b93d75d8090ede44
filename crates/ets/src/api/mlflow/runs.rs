//! MLflow `runs/*` and `metrics/*` calls.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use ets_domain::Timestamp;
use ets_domain::model::{MetricInput, ModelDirection, NewRun, RunModel, TagPatch};
use ets_domain::status::RunStatus;
use ets_domain::validate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::experiments::{page_size, parse_view_type};
use super::types::{
    KeyValue, MlflowDatasetInput, MlflowMetric, MlflowModelInput, MlflowModelOutput, MlflowRun,
    MlflowRunInfo, lenient_f64, lenient_i64,
};
use super::{MlflowError, MlflowJson, MlflowQuery, MlflowResult};
use crate::actor::Actor;
use crate::api::AppState;
use crate::error::{EntityKind, Error};
use crate::service::runs::{MetricContext, PointContexts, RunBatch, RunStateChange, SeriesQuery};
use crate::service::search::SearchRequest;

/// MLflow's limits on one `log-batch` request.
const MAX_BATCH_METRICS: usize = 1000;
const MAX_BATCH_PARAMS: usize = 100;
const MAX_BATCH_TAGS: usize = 100;
const MAX_BATCH_ENTITIES: usize = 1000;
/// MLflow's page limits for run searches.
const DEFAULT_RUNS_PER_PAGE: i64 = 1000;
const MAX_RUNS_PER_PAGE: i64 = 50_000;

/// `run_id`, or its older name `run_uuid`.
#[derive(Deserialize, Default)]
pub struct RunRef {
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    run_uuid: Option<String>,
}

impl RunRef {
    fn id(&self) -> Result<String, MlflowError> {
        self.run_id
            .clone()
            .or_else(|| self.run_uuid.clone())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| MlflowError::missing("run_id"))
    }
}

fn parse_status(text: &str) -> Result<RunStatus, MlflowError> {
    RunStatus::parse(text).ok_or_else(|| {
        MlflowError::invalid(format!(
            "Invalid run status '{text}': use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"
        ))
    })
}

#[derive(Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    experiment_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    run_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    start_time: Option<i64>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn create(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<CreateBody>,
) -> MlflowResult<Json<Value>> {
    // MLflow refuses a run without an experiment (`BAD_REQUEST`) rather than putting it in
    // the Default experiment.
    let Some(experiment_id) = body.experiment_id.filter(|id| !id.is_empty()) else {
        return Err(MlflowError::bad_request(Error::BadRequest(
            "Missing value for required parameter 'experiment_id': a run is created in an experiment."
                .into(),
        )));
    };
    let input = NewRun {
        experiment_id,
        name: body.run_name.filter(|n| !n.is_empty()),
        owner: body.user_id.filter(|u| !u.is_empty()),
        started_at: body.start_time.map(Timestamp),
        tags: body.tags.into_iter().map(|kv| (kv.key, kv.value)).collect(),
        ..Default::default()
    };
    let run = s.create_run(&actor, input).await.map_err(|e| match e {
        // MLflow reports an unknown experiment as a missing resource.
        Error::Invalid(v) if v.field == "experiment_id" => Error::NotFound {
            entity: EntityKind::Experiment,
            id: v.message,
        },
        other => other,
    })?;
    let root = s.artifact_root(&run.experiment_id).await?;
    Ok(Json(json!({ "run": MlflowRun::new(&run, &root) })))
}

pub async fn get(
    State(s): State<AppState>,
    actor: Actor,
    MlflowQuery(q): MlflowQuery<RunRef>,
) -> MlflowResult<Json<Value>> {
    let run = s.get_run(&actor, &q.id()?).await?;
    let root = s.artifact_root(&run.experiment_id).await?;
    Ok(Json(json!({ "run": MlflowRun::new(&run, &root) })))
}

#[derive(Deserialize)]
pub struct UpdateBody {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    end_time: Option<i64>,
    #[serde(default)]
    run_name: Option<String>,
}

pub async fn update(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<UpdateBody>,
) -> MlflowResult<Json<Value>> {
    let change = RunStateChange {
        status: body.status.as_deref().map(parse_status).transpose()?,
        end_time: body.end_time.map(Timestamp),
        name: body.run_name.filter(|n| !n.is_empty()),
    };
    let run = s.update_run_state(&actor, &body.run.id()?, change).await?;
    let root = s.artifact_root(&run.experiment_id).await?;
    Ok(Json(json!({ "run_info": MlflowRunInfo::new(&run, &root) })))
}

pub async fn delete(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<RunRef>,
) -> MlflowResult<Json<Value>> {
    s.trash_run(&actor, &body.id()?).await?;
    Ok(Json(json!({})))
}

pub async fn restore(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<RunRef>,
) -> MlflowResult<Json<Value>> {
    s.restore_run(&actor, &body.id()?).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct SearchBody {
    #[serde(default)]
    experiment_ids: Vec<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    run_view_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    max_results: Option<i64>,
    #[serde(default)]
    order_by: Vec<String>,
    #[serde(default)]
    page_token: Option<String>,
}

pub async fn search(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<SearchBody>,
) -> MlflowResult<axum::response::Response> {
    let request = SearchRequest {
        experiment_ids: body.experiment_ids,
        filter: body.filter,
        lifecycle: parse_view_type(body.run_view_type.as_deref())?,
        order_by: body.order_by,
        max_results: page_size(body.max_results, DEFAULT_RUNS_PER_PAGE, MAX_RUNS_PER_PAGE)?,
        page_token: body.page_token,
    };
    let page = s.search_runs(&actor, request).await?;
    let roots = s.artifact_roots_of(&page.items).await?;
    let response = RunsPage {
        runs: page
            .items
            .iter()
            .map(|run| MlflowRun::new(run, &roots[&run.experiment_id]))
            .collect(),
        next_page_token: page.next_page_token.as_deref(),
    };
    Ok(super::json_bytes(&response))
}

#[derive(serde::Serialize)]
struct RunsPage<'a> {
    runs: Vec<MlflowRun<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct MetricBody {
    #[serde(default)]
    key: String,
    #[serde(default, deserialize_with = "lenient_f64")]
    value: Option<f64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    step: Option<i64>,
    /// MLflow 3: the logged model this value also belongs to.
    #[serde(default)]
    model_id: Option<String>,
    /// MLflow 3: the dataset the value was computed on.
    #[serde(default)]
    dataset_name: Option<String>,
    #[serde(default)]
    dataset_digest: Option<String>,
}

/// A context when any of its fields is given (empty strings count as absent, as in protobuf).
fn metric_context(
    model_id: &Option<String>,
    dataset_name: &Option<String>,
    dataset_digest: &Option<String>,
) -> Option<MetricContext> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let context = MetricContext {
        model_id: given(model_id),
        dataset_name: given(dataset_name),
        dataset_digest: given(dataset_digest),
    };
    (context.model_id.is_some()
        || context.dataset_name.is_some()
        || context.dataset_digest.is_some())
    .then_some(context)
}

/// MLflow's SQL store answers a metric naming a logged model that does not exist with the
/// foreign key's failure: `BAD_REQUEST`.
/// A refused metric, param or tag write in MLflow's terms: an unknown model is its 400
/// `BAD_REQUEST`, a key refused for its form is worded as MLflow words it (see
/// [`MlflowError::keyed`]; `parameter` names the field as MLflow does on the call).
fn refused_write(error: Error, parameter: impl FnOnce(&str, &str) -> String) -> MlflowError {
    match error {
        e @ Error::NotFound {
            entity: EntityKind::LoggedModel,
            ..
        } => MlflowError::bad_request(e),
        other => MlflowError::keyed(other, parameter),
    }
}

impl MetricBody {
    fn into_input(self, index: Option<usize>) -> Result<MetricInput, MlflowError> {
        let field = |name: &str| match index {
            Some(i) => format!("metrics[{i}].{name}"),
            None => name.to_owned(),
        };
        let value = self
            .value
            .ok_or_else(|| MlflowError::missing(&field("value")))?;
        let timestamp = self
            .timestamp
            .ok_or_else(|| MlflowError::missing(&field("timestamp")))?;
        Ok(MetricInput {
            key: self.key,
            value,
            step: Some(self.step.unwrap_or(0)),
            timestamp: Some(timestamp),
        })
    }
}

/// `runs/log-metric`. Fields are spelled out rather than flattened: serde buffers flattened
/// structs, and this is the busiest call of the API.
#[derive(Deserialize)]
pub struct LogMetricBody {
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    run_uuid: Option<String>,
    #[serde(default)]
    key: String,
    #[serde(default, deserialize_with = "lenient_f64")]
    value: Option<f64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    step: Option<i64>,
    #[serde(default)]
    model_id: Option<String>,
    #[serde(default)]
    dataset_name: Option<String>,
    #[serde(default)]
    dataset_digest: Option<String>,
}

pub async fn log_metric(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<LogMetricBody>,
) -> MlflowResult<Json<Value>> {
    let run_id = RunRef {
        run_id: body.run_id,
        run_uuid: body.run_uuid,
    }
    .id()?;
    let contexts = metric_context(&body.model_id, &body.dataset_name, &body.dataset_digest)
        .map(|c| (0, c))
        .into_iter()
        .collect();
    let metric = MetricBody {
        key: body.key,
        value: body.value,
        timestamp: body.timestamp,
        step: body.step,
        model_id: None,
        dataset_name: None,
        dataset_digest: None,
    };
    let batch = RunBatch {
        metrics: vec![metric.into_input(None)?],
        contexts,
        ..Default::default()
    };
    s.log_batch(&actor, &run_id, batch)
        .await
        .map_err(|e| refused_write(e, |_, _| "name".to_owned()))?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct LogParamBody {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: Option<String>,
}

pub async fn log_param(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<LogParamBody>,
) -> MlflowResult<Json<Value>> {
    let value = body.value.unwrap_or_default();
    let batch = RunBatch {
        params: BTreeMap::from([(body.key, Value::String(value))]),
        ..Default::default()
    };
    s.log_batch(&actor, &body.run.id()?, batch)
        .await
        .map_err(|e| MlflowError::keyed(e, |_, _| "key".to_owned()))?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct LogBatchBody {
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    run_uuid: Option<String>,
    #[serde(default)]
    metrics: Vec<MetricBody>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn log_batch(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(mut body): MlflowJson<LogBatchBody>,
) -> MlflowResult<Json<Value>> {
    let run_id = RunRef {
        run_id: body.run_id.take(),
        run_uuid: body.run_uuid.take(),
    }
    .id()?;
    let (metrics, params, tags) = (body.metrics.len(), body.params.len(), body.tags.len());
    for (count, limit, what) in [
        (metrics, MAX_BATCH_METRICS, "metrics"),
        (params, MAX_BATCH_PARAMS, "params"),
        (tags, MAX_BATCH_TAGS, "tags"),
    ] {
        if count > limit {
            return Err(MlflowError::invalid(format!(
                "A batch logging request can contain at most {limit} {what}. Got {count} {what}. \
                 Please split up {what} across multiple requests and try again."
            )));
        }
    }
    if metrics + params + tags > MAX_BATCH_ENTITIES {
        return Err(MlflowError::invalid(format!(
            "A batch logging request can contain at most {MAX_BATCH_ENTITIES} metrics, params, and tags in total. \
             Got {} entities. Please split up across multiple requests and try again.",
            metrics + params + tags
        )));
    }
    validate::unique_param_keys(body.params.iter().map(|p| p.key.as_str())).map_err(Error::from)?;
    // The params' and tags' keys in request order, to name a refused one as MLflow does
    // (`params[3].key`).
    let param_keys: Vec<String> = body.params.iter().map(|kv| kv.key.clone()).collect();
    let tag_keys: Vec<String> = body.tags.iter().map(|kv| kv.key.clone()).collect();
    let contexts = body
        .metrics
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            metric_context(&m.model_id, &m.dataset_name, &m.dataset_digest).map(|c| (i, c))
        })
        .collect();
    let batch = RunBatch {
        contexts,
        metrics: body
            .metrics
            .into_iter()
            .enumerate()
            .map(|(i, m)| m.into_input(Some(i)))
            .collect::<Result<_, _>>()?,
        params: body
            .params
            .into_iter()
            .map(|kv| (kv.key, Value::String(kv.value)))
            .collect(),
        tags: body
            .tags
            .into_iter()
            .map(|kv| (kv.key, Some(kv.value)))
            .collect(),
    };
    s.log_batch(&actor, &run_id, batch).await.map_err(|e| {
        refused_write(e, |field, key| {
            let (list, keys) = if field.starts_with("params") {
                ("params", &param_keys)
            } else if field.starts_with("tags") {
                ("tags", &tag_keys)
            } else {
                // `metrics[i].key`: a metric's key is its `name` to MLflow's validation.
                return field.replace(".key", ".name");
            };
            match keys.iter().position(|k| k == key) {
                Some(i) => format!("{list}[{i}].key"),
                None => field.to_owned(),
            }
        })
    })?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct SetTagBody {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: Option<String>,
}

pub async fn set_tag(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<SetTagBody>,
) -> MlflowResult<Json<Value>> {
    let tags: TagPatch = BTreeMap::from([(body.key, Some(body.value.unwrap_or_default()))]);
    s.log_batch(
        &actor,
        &body.run.id()?,
        RunBatch {
            tags,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| MlflowError::keyed(e, |_, _| "key".to_owned()))?;
    Ok(Json(json!({})))
}

pub async fn delete_tag(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<SetTagBody>,
) -> MlflowResult<Json<Value>> {
    let run_id = body.run.id()?;
    let run = s.get_run(&actor, &run_id).await?;
    if !run.tags.contains_key(&body.key) {
        let message = format!("No tag with name: {} in run with id {run_id}", body.key);
        return Err(MlflowError::worded(
            Error::NotFound {
                entity: EntityKind::Tag,
                id: format!("{}' of run '{run_id}", body.key),
            },
            message,
        ));
    }
    let tags: TagPatch = BTreeMap::from([(body.key, None)]);
    s.log_batch(
        &actor,
        &run_id,
        RunBatch {
            tags,
            ..Default::default()
        },
    )
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct LogInputsBody {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    datasets: Vec<MlflowDatasetInput>,
    /// MLflow 3: logged models the run used.
    #[serde(default)]
    models: Vec<MlflowModelInput>,
}

/// `runs/log-inputs`: datasets and (MLflow 3) logged models a run used. Unlike MLflow, a model
/// that does not exist is refused rather than recorded as a dangling id.
pub async fn log_inputs(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<LogInputsBody>,
) -> MlflowResult<Json<Value>> {
    let run_id = body.run.id()?;
    let inputs: Vec<_> = body.datasets.into_iter().map(Into::into).collect();
    if !inputs.is_empty() || body.models.is_empty() {
        s.log_inputs(&actor, &run_id, inputs).await?;
    }
    if !body.models.is_empty() {
        let models = body
            .models
            .into_iter()
            .map(|m| RunModel {
                model_id: m.model_id,
                direction: ModelDirection::Input,
                step: None,
            })
            .collect();
        s.log_run_models(&actor, &run_id, models).await?;
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct LogOutputsBody {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    models: Option<Vec<MlflowModelOutput>>,
}

/// `runs/outputs`: logged models the run produced, each at a step (0 when not given, as in
/// MLflow). A model that does not exist is refused, and logging a model again keeps its first
/// step (MLflow records dangling ids and refuses a repeat with a database error).
pub async fn log_outputs(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<LogOutputsBody>,
) -> MlflowResult<Json<Value>> {
    let run_id = body.run.id()?;
    let Some(models) = body.models else {
        return Err(MlflowError::missing("models"));
    };
    let models = models
        .into_iter()
        .map(|m| RunModel {
            model_id: m.model_id,
            direction: ModelDirection::Output,
            step: Some(m.step.unwrap_or(0)),
        })
        .collect();
    s.log_run_models(&actor, &run_id, models).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    metric_key: String,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    max_results: Option<i64>,
}

/// A run's metric history in MLflow's order: time, then step, then value (ETS stores it by
/// step). MLflow answers an unknown key, and an unknown run, with an empty history (its store
/// reads the metrics table without looking the run up).
async fn history(
    s: &AppState,
    actor: &Actor,
    run_id: &str,
    key: &str,
) -> MlflowResult<Vec<ets_domain::model::MetricPoint>> {
    let mut points = match s
        .metric_series(actor, run_id, key, SeriesQuery::default())
        .await
    {
        Ok(series) => series.points,
        Err(Error::NotFound {
            entity: EntityKind::Metric | EntityKind::Run,
            ..
        }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    points.sort_by_key(ets_domain::model::MetricPoint::history_key);
    Ok(points)
}

/// Every point of one metric of one run, in step order (then timestamp).
pub async fn get_history(
    State(s): State<AppState>,
    actor: Actor,
    MlflowQuery(q): MlflowQuery<HistoryQuery>,
) -> MlflowResult<axum::response::Response> {
    let run_id = q.run.id()?;
    let points = history(&s, &actor, &run_id, &q.metric_key).await?;
    let offset = crate::service::search::decode_offset(q.page_token.as_deref())?;
    let limit = match q.max_results {
        Some(n) if n > 0 => n as usize,
        Some(n) => {
            return Err(MlflowError::invalid(format!(
                "max_results must be positive, got {n}"
            )));
        }
        None => usize::MAX,
    };
    let page =
        crate::service::search::page_of(points.into_iter().skip(offset).collect(), offset, limit);
    let contexts = contexts_of(&s, &actor, std::slice::from_ref(&run_id), &q.metric_key).await?;
    // Serialised straight from the points (no JSON tree, no string per point): a history can
    // hold hundreds of thousands of points.
    let response = HistoryPage {
        metrics: page
            .items
            .iter()
            .map(|p| HistoryPoint::new(&q.metric_key, p, contexts.get(&run_id, p)))
            .collect(),
        next_page_token: page.next_page_token,
    };
    Ok(super::json_bytes(&response))
}

/// The contexts (model, dataset) of the points of `key` of the runs, read once per request.
async fn contexts_of(
    s: &AppState,
    actor: &Actor,
    run_ids: &[String],
    key: &str,
) -> MlflowResult<PointContexts> {
    Ok(PointContexts::new(
        s.metric_contexts(actor, run_ids, key).await?,
    ))
}

/// A point of a history with the model and dataset it was logged with, if any. MLflow 3.17
/// leaves these out of its histories; ETS keeps them (the run's summary in `runs/get` carries
/// none, as in MLflow).
#[derive(serde::Serialize)]
struct HistoryPoint<'a> {
    key: &'a str,
    #[serde(with = "ets_domain::value::metric_f64")]
    value: f64,
    timestamp: i64,
    step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset_digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<&'a str>,
}

impl<'a> HistoryPoint<'a> {
    fn new(
        key: &'a str,
        p: &ets_domain::model::MetricPoint,
        context: Option<&'a crate::store::PointContext>,
    ) -> Self {
        HistoryPoint {
            key,
            value: p.value,
            timestamp: p.timestamp,
            step: p.step,
            dataset_name: context.and_then(|c| c.dataset_name.as_deref()),
            dataset_digest: context.and_then(|c| c.dataset_digest.as_deref()),
            model_id: context.and_then(|c| c.model_id.as_deref()),
            run_id: None,
        }
    }
}

#[derive(serde::Serialize)]
struct HistoryPage<'a> {
    metrics: Vec<HistoryPoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// MLflow's limits of `metrics/get-history-bulk`.
const BULK_HISTORY_MAX_RUNS: usize = 100;
const BULK_HISTORY_MAX_RESULTS: i64 = 25_000;

#[derive(Deserialize)]
pub struct BulkHistoryQuery {
    #[serde(default)]
    run_id: Vec<String>,
    metric_key: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    max_results: Option<i64>,
}

#[derive(serde::Serialize)]
struct BulkHistoryPage<'a> {
    metrics: Vec<HistoryPoint<'a>>,
}

/// One metric's history of several runs (MLflow's `metrics/get-history-bulk`, which its UI
/// calls): runs in id order, each history by time, then step, then value; at most
/// `max_results` points in all (25,000). Unknown runs have an empty history, as in MLflow.
pub async fn get_history_bulk(
    State(s): State<AppState>,
    actor: Actor,
    MlflowQuery(q): MlflowQuery<BulkHistoryQuery>,
) -> MlflowResult<axum::response::Response> {
    if q.run_id.is_empty() {
        return Err(MlflowError::invalid(
            "GetMetricHistoryBulk request must specify at least one run_id.",
        ));
    }
    if q.run_id.len() > BULK_HISTORY_MAX_RUNS {
        return Err(MlflowError::invalid(format!(
            "GetMetricHistoryBulk request cannot specify more than {BULK_HISTORY_MAX_RUNS} \
             run_ids. Received {} run_ids.",
            q.run_id.len()
        )));
    }
    let Some(key) = q.metric_key else {
        return Err(MlflowError::invalid(
            "GetMetricHistoryBulk request must specify a metric_key.",
        ));
    };
    let limit = q
        .max_results
        .unwrap_or(BULK_HISTORY_MAX_RESULTS)
        .clamp(0, BULK_HISTORY_MAX_RESULTS) as usize;
    let mut run_ids = q.run_id;
    run_ids.sort_unstable();
    let mut histories: Vec<(String, Vec<ets_domain::model::MetricPoint>)> = Vec::new();
    let mut total = 0;
    for run_id in run_ids {
        if total >= limit {
            break;
        }
        let mut points = history(&s, &actor, &run_id, &key).await?;
        points.truncate(limit - total);
        total += points.len();
        histories.push((run_id, points));
    }
    let read: Vec<String> = histories.iter().map(|(run_id, _)| run_id.clone()).collect();
    let contexts = contexts_of(&s, &actor, &read, &key).await?;
    let response = BulkHistoryPage {
        metrics: histories
            .iter()
            .flat_map(|(run_id, points)| {
                let (key, contexts) = (&key, &contexts);
                points.iter().map(move |p| HistoryPoint {
                    run_id: Some(run_id),
                    ..HistoryPoint::new(key, p, contexts.get(run_id, p))
                })
            })
            .collect(),
    };
    Ok(super::json_bytes(&response))
}

#[derive(Deserialize)]
pub struct BulkIntervalQuery {
    #[serde(default)]
    run_ids: Vec<String>,
    #[serde(default)]
    metric_key: String,
    #[serde(default, deserialize_with = "lenient_i64")]
    start_step: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    end_step: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    max_results: Option<i64>,
}

/// MLflow's limits for `get-history-bulk-interval`.
const MAX_BULK_RUNS: usize = 100;
const DEFAULT_BULK_POINTS: i64 = 320;
const MAX_BULK_POINTS: i64 = 2500;

/// A chart-sized sample of one metric over several runs. Where MLflow picks evenly spaced
/// steps, ETS keeps each bucket's minimum and maximum, so spikes survive.
pub async fn get_history_bulk_interval(
    State(s): State<AppState>,
    actor: Actor,
    MlflowQuery(q): MlflowQuery<BulkIntervalQuery>,
) -> MlflowResult<Json<Value>> {
    if q.run_ids.is_empty() || q.run_ids.len() > MAX_BULK_RUNS {
        return Err(MlflowError::invalid(format!(
            "run_ids must name between 1 and {MAX_BULK_RUNS} runs"
        )));
    }
    let max_points = page_size(q.max_results, DEFAULT_BULK_POINTS, MAX_BULK_POINTS)?.max(2);
    let query = SeriesQuery {
        start_step: q.start_step,
        end_step: q.end_step,
        max_points: Some(max_points),
    };
    let mut metrics = Vec::new();
    for run_id in &q.run_ids {
        let points = match s.metric_series(&actor, run_id, &q.metric_key, query).await {
            Ok(series) => series.points,
            Err(Error::NotFound {
                entity: EntityKind::Metric,
                ..
            }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        metrics.extend(points.into_iter().map(|p| MlflowMetric {
            run_id: Some(run_id.clone()),
            ..MlflowMetric::point(q.metric_key.clone(), p.value, p.timestamp, p.step)
        }));
    }
    Ok(Json(json!({ "metrics": metrics })))
}
