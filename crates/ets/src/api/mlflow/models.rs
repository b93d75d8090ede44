//! MLflow 3 `logged-models` calls, used by `mlflow.<flavor>.log_model` and autologging.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::experiments::page_size;
use super::types::{KeyValue, MlflowLoggedModel, lenient_i64, parse_model_status};
use super::{MlflowError, MlflowJson, MlflowResult};
use crate::actor::Actor;
use crate::api::AppState;
use crate::error::EntityKind;
use crate::service::models::{DatasetFilter, ModelOrderBy, ModelSearch, NewLoggedModel};

fn to_map(pairs: Vec<KeyValue>) -> ets_domain::model::Tags {
    pairs.into_iter().map(|kv| (kv.key, kv.value)).collect()
}

#[derive(Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    experiment_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    source_run_id: Option<String>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn create(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<CreateBody>,
) -> MlflowResult<Json<Value>> {
    let input = NewLoggedModel {
        experiment_id: body.experiment_id,
        name: body.name.filter(|n| !n.is_empty()),
        model_type: body.model_type.filter(|t| !t.is_empty()),
        source_run_id: body.source_run_id.filter(|r| !r.is_empty()),
        params: to_map(body.params),
        tags: to_map(body.tags),
    };
    let model = s.create_logged_model(&actor, input).await?;
    Ok(Json(json!({ "model": MlflowLoggedModel::from(model) })))
}

pub async fn get(
    State(s): State<AppState>,
    actor: Actor,
    Path(model_id): Path<String>,
) -> MlflowResult<Json<Value>> {
    let model = s.get_logged_model(&actor, &model_id).await?;
    Ok(Json(json!({ "model": MlflowLoggedModel::from(model) })))
}

#[derive(Deserialize)]
pub struct FinalizeBody {
    #[serde(default)]
    status: String,
}

/// `PATCH logged-models/{id}`: finalize as ready or failed.
pub async fn finalize(
    State(s): State<AppState>,
    actor: Actor,
    Path(model_id): Path<String>,
    MlflowJson(body): MlflowJson<FinalizeBody>,
) -> MlflowResult<Json<Value>> {
    let status = parse_model_status(&body.status).ok_or_else(|| {
        MlflowError::invalid(format!(
            "Invalid model status '{}': use LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED",
            body.status
        ))
    })?;
    let model = s
        .finalize_logged_model(&actor, &model_id, status, None)
        .await?;
    Ok(Json(json!({ "model": MlflowLoggedModel::from(model) })))
}

pub async fn delete(
    State(s): State<AppState>,
    actor: Actor,
    Path(model_id): Path<String>,
) -> MlflowResult<Json<Value>> {
    s.delete_logged_model(&actor, &model_id).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct TagsBody {
    #[serde(default)]
    tags: Vec<KeyValue>,
}

pub async fn set_tags(
    State(s): State<AppState>,
    actor: Actor,
    Path(model_id): Path<String>,
    MlflowJson(body): MlflowJson<TagsBody>,
) -> MlflowResult<Json<Value>> {
    let tags = body
        .tags
        .into_iter()
        .map(|kv| (kv.key, Some(kv.value)))
        .collect();
    s.set_logged_model_tags(&actor, &model_id, tags).await?;
    Ok(Json(json!({})))
}

pub async fn delete_tag(
    State(s): State<AppState>,
    actor: Actor,
    Path((model_id, key)): Path<(String, String)>,
) -> MlflowResult<Json<Value>> {
    let model = s.get_logged_model(&actor, &model_id).await?;
    if !model.tags.contains_key(&key) {
        return Err(crate::error::Error::NotFound {
            entity: EntityKind::Tag,
            id: format!("{key}' of model '{model_id}"),
        }
        .into());
    }
    s.set_logged_model_tags(&actor, &model_id, [(key, None)].into_iter().collect())
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct ParamsBody {
    #[serde(default)]
    params: Vec<KeyValue>,
}

pub async fn log_params(
    State(s): State<AppState>,
    actor: Actor,
    Path(model_id): Path<String>,
    MlflowJson(body): MlflowJson<ParamsBody>,
) -> MlflowResult<Json<Value>> {
    s.log_logged_model_params(&actor, &model_id, to_map(body.params))
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
pub struct SearchBody {
    /// Required, as in MLflow (an empty list finds nothing).
    #[serde(default)]
    experiment_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_i64")]
    max_results: Option<i64>,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    datasets: Vec<DatasetBody>,
    #[serde(default)]
    order_by: Vec<OrderByBody>,
}

#[derive(Deserialize)]
pub struct DatasetBody {
    #[serde(default)]
    dataset_name: String,
    #[serde(default)]
    dataset_digest: Option<String>,
}

/// An `order_by` entry; `ascending` defaults to true, as in MLflow.
#[derive(Deserialize)]
pub struct OrderByBody {
    #[serde(default)]
    field_name: String,
    #[serde(default)]
    ascending: Option<bool>,
    #[serde(default)]
    dataset_name: Option<String>,
    #[serde(default)]
    dataset_digest: Option<String>,
}

pub async fn search(
    State(s): State<AppState>,
    actor: Actor,
    MlflowJson(body): MlflowJson<SearchBody>,
) -> MlflowResult<Json<Value>> {
    let Some(experiment_ids) = body.experiment_ids else {
        return Err(MlflowError::missing("experiment_ids"));
    };
    let search = ModelSearch {
        experiment_ids,
        filter: body.filter,
        datasets: body
            .datasets
            .into_iter()
            .map(|d| DatasetFilter {
                dataset_name: d.dataset_name,
                dataset_digest: d.dataset_digest.filter(|x| !x.is_empty()),
            })
            .collect(),
        order_by: body
            .order_by
            .into_iter()
            .map(|o| ModelOrderBy {
                field_name: o.field_name,
                ascending: o.ascending.unwrap_or(true),
                dataset_name: o.dataset_name,
                dataset_digest: o.dataset_digest,
            })
            .collect(),
        max_results: page_size(body.max_results, 100, 1000)?,
        page_token: body.page_token,
    };
    let page = s.search_logged_models(&actor, search).await?;
    let models: Vec<MlflowLoggedModel> = page
        .items
        .into_iter()
        .map(MlflowLoggedModel::from)
        .collect();
    let mut response = json!({ "models": models });
    if let Some(token) = page.next_page_token {
        response["next_page_token"] = json!(token);
    }
    Ok(Json(response))
}
