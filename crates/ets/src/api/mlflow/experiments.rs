//! MLflow `experiments/*` calls.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::types::{KeyValue, MlflowExperiment, lenient_i64};
use super::{MlflowError, MlflowJson, MlflowQuery, MlflowResult};
use crate::actor::Actor;
use crate::api::AppState;
use crate::error::EntityKind;
use crate::service::search::SearchRequest;
use crate::store::Lifecycle;

/// MLflow's largest page of experiments.
const MAX_EXPERIMENTS_PER_PAGE: i64 = 50_000;
const DEFAULT_EXPERIMENTS_PER_PAGE: i64 = 1000;

#[derive(Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    tags: Vec<KeyValue>,
    #[serde(default)]
    artifact_location: Option<String>,
}

/// The project an MLflow experiment lives in: named by the `ets.project` tag, else `default`.
pub const PROJECT_TAG: &str = "ets.project";

pub async fn create(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<CreateBody>,
) -> MlflowResult<Json<Value>> {
    if body.name.trim().is_empty() {
        return Err(super::MlflowError::missing("name"));
    }
    let tags: ets_domain::model::Tags =
        body.tags.into_iter().map(|kv| (kv.key, kv.value)).collect();
    let project = tags.get(PROJECT_TAG).cloned();
    let input = ets_domain::model::NewExperiment {
        name: body.name,
        tags,
        artifact_location: body.artifact_location,
        ..Default::default()
    };
    let experiment = s
        .create_experiment_in_named_project(&actor, input, project.as_deref())
        .await?;
    Ok(Json(json!({ "experiment_id": experiment.id })))
}

#[derive(Deserialize)]
pub struct IdQuery {
    #[serde(default)]
    experiment_id: String,
}

pub async fn get(
    State(s): State<AppState>,
    actor: Actor,
    MlflowQuery(q): MlflowQuery<IdQuery>,
) -> MlflowResult<Json<Value>> {
    let experiment = s.get_experiment(&actor, &q.experiment_id).await?;
    Ok(Json(
        json!({ "experiment": MlflowExperiment::from(experiment) }),
    ))
}

#[derive(Deserialize)]
pub struct NameQuery {
    #[serde(default)]
    experiment_name: String,
}

pub async fn get_by_name(
    State(s): State<AppState>,
    actor: Actor,
    MlflowQuery(q): MlflowQuery<NameQuery>,
) -> MlflowResult<Json<Value>> {
    let experiment = s
        .experiment_by_name(&actor, &q.experiment_name)
        .await
        .map_err(|e| match e {
            crate::error::Error::NotFound { .. } => crate::error::Error::NotFound {
                entity: EntityKind::Experiment,
                id: q.experiment_name.clone(),
            },
            other => other,
        })?;
    Ok(Json(
        json!({ "experiment": MlflowExperiment::from(experiment) }),
    ))
}

#[derive(Deserialize, Default)]
pub struct SearchBody {
    #[serde(default, deserialize_with = "lenient_i64")]
    max_results: Option<i64>,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    order_by: Vec<String>,
    #[serde(default)]
    view_type: Option<String>,
}

/// MLflow's `ViewType` (numbers 1–3 or names).
pub fn parse_view_type(view: Option<&str>) -> Result<Lifecycle, super::MlflowError> {
    match view.map(|v| v.trim().to_ascii_uppercase()).as_deref() {
        None | Some("") | Some("ACTIVE_ONLY") | Some("1") => Ok(Lifecycle::Active),
        Some("DELETED_ONLY") | Some("2") => Ok(Lifecycle::Deleted),
        Some("ALL") | Some("3") => Ok(Lifecycle::All),
        Some(other) => Err(super::MlflowError::invalid(format!(
            "Invalid view type '{other}': use ACTIVE_ONLY, DELETED_ONLY or ALL"
        ))),
    }
}

pub fn page_size(
    max_results: Option<i64>,
    default: i64,
    max: i64,
) -> Result<usize, super::MlflowError> {
    let size = max_results.unwrap_or(default);
    if size <= 0 || size > max {
        return Err(super::MlflowError::invalid(format!(
            "Invalid value {size} for parameter 'max_results' supplied. It must be at most {max} and positive."
        )));
    }
    Ok(size as usize)
}

pub async fn search(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<SearchBody>,
) -> MlflowResult<Json<Value>> {
    let request = SearchRequest {
        experiment_ids: Vec::new(),
        filter: body.filter,
        lifecycle: parse_view_type(body.view_type.as_deref())?,
        order_by: body.order_by,
        max_results: page_size(
            body.max_results,
            DEFAULT_EXPERIMENTS_PER_PAGE,
            MAX_EXPERIMENTS_PER_PAGE,
        )?,
        page_token: body.page_token,
    };
    let page = s.search_experiments(&actor, request).await?;
    let experiments: Vec<MlflowExperiment> =
        page.items.into_iter().map(MlflowExperiment::from).collect();
    let mut response = json!({ "experiments": experiments });
    if let Some(token) = page.next_page_token {
        response["next_page_token"] = json!(token);
    }
    Ok(Json(response))
}

/// `GET experiments/search` takes the same fields as query parameters.
pub async fn search_get(
    state: State<AppState>,
    actor: Actor,
    MlflowQuery(query): MlflowQuery<SearchBody>,
) -> MlflowResult<Json<Value>> {
    search(state, actor, MlflowJson(query)).await
}

#[derive(Deserialize)]
pub struct UpdateBody {
    #[serde(default)]
    experiment_id: String,
    #[serde(default)]
    new_name: Option<String>,
}

pub async fn update(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<UpdateBody>,
) -> MlflowResult<Json<Value>> {
    let patch = ets_domain::model::ExperimentPatch {
        name: body.new_name,
        ..Default::default()
    };
    // MLflow's SQL store answers a taken name with the database's unique-constraint error,
    // BAD_REQUEST.
    s.update_experiment(&actor, &body.experiment_id, patch)
        .await
        .map_err(|e| match e {
            e @ crate::error::Error::AlreadyExists { .. } => MlflowError::bad_request(e),
            e => e.into(),
        })?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct IdBody {
    #[serde(default)]
    experiment_id: String,
}

pub async fn delete(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<IdBody>,
) -> MlflowResult<Json<Value>> {
    // MLflow looks for the experiment among the active ones: one in the trash does not exist.
    let experiment = s.get_experiment(&actor, &body.experiment_id).await?;
    if experiment.deleted_at.is_some() {
        return Err(
            crate::error::Error::not_found(EntityKind::Experiment, body.experiment_id).into(),
        );
    }
    s.delete_experiment(&actor, &body.experiment_id, false)
        .await?;
    Ok(Json(json!({})))
}

pub async fn restore(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<IdBody>,
) -> MlflowResult<Json<Value>> {
    s.restore_experiment(&actor, &body.experiment_id).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct TagBody {
    #[serde(default)]
    experiment_id: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: Option<String>,
}

pub async fn set_tag(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<TagBody>,
) -> MlflowResult<Json<Value>> {
    let mut patch = ets_domain::model::ExperimentPatch::default();
    patch
        .tags
        .insert(body.key, Some(body.value.unwrap_or_default()));
    s.update_experiment(&actor, &body.experiment_id, patch)
        .await?;
    Ok(Json(json!({})))
}

pub async fn delete_tag(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<TagBody>,
) -> MlflowResult<Json<Value>> {
    let experiment = s.get_experiment(&actor, &body.experiment_id).await?;
    if !experiment.tags.contains_key(&body.key) {
        return Err(crate::error::Error::NotFound {
            entity: EntityKind::ExperimentTag,
            id: body.key,
        }
        .into());
    }
    let mut patch = ets_domain::model::ExperimentPatch::default();
    patch.tags.insert(body.key, None);
    s.update_experiment(&actor, &body.experiment_id, patch)
        .await?;
    Ok(Json(json!({})))
}

/// MLflow's limit of experiments per `experiments/search-datasets`.
const SEARCH_DATASETS_MAX_EXPERIMENTS: usize = 20;

#[derive(Deserialize)]
pub struct SearchDatasetsBody {
    #[serde(default)]
    experiment_ids: Vec<String>,
}

/// The distinct datasets the experiments' runs used, with their contexts (the MLflow UI's
/// dataset filter). Experiments that do not exist or are hidden are left out, as MLflow leaves
/// out unknown ones.
pub async fn search_datasets(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<SearchDatasetsBody>,
) -> MlflowResult<Json<Value>> {
    let ids = body.experiment_ids;
    if ids.is_empty() {
        return Err(MlflowError::invalid(
            "SearchDatasets request must specify at least one experiment_id.",
        ));
    }
    if ids.len() > SEARCH_DATASETS_MAX_EXPERIMENTS {
        return Err(MlflowError::invalid(format!(
            "SearchDatasets request cannot specify more than {SEARCH_DATASETS_MAX_EXPERIMENTS} \
             experiment_ids. Received {} experiment_ids.",
            ids.len()
        )));
    }
    let summaries = s.dataset_summaries(&actor, ids).await?;
    Ok(Json(json!({ "dataset_summaries": summaries })))
}
