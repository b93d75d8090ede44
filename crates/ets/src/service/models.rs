//! Logged models (MLflow 3's `LoggedModel`): a model logged from a training run. Its files
//! are stored as artifacts of the source run under `models/<model id>/`, so a model logged
//! with `mlflow.<flavor>.log_model` shows up with its run in both APIs.

use ets_domain::model::{LoggedModel, LoggedModelStatus, Tags};
use ets_domain::{Timestamp, validate};

use super::Services;
use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::store::Page;

/// What creating a logged model needs.
#[derive(Debug, Clone, Default)]
pub struct NewLoggedModel {
    pub experiment_id: String,
    pub name: Option<String>,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub params: Tags,
    pub tags: Tags,
}

/// Artifact folder (inside the source run) that holds a model's files.
pub fn model_artifact_dir(model_id: &str) -> String {
    format!("models/{model_id}")
}

impl Services {
    pub async fn create_logged_model(
        &self,
        actor: &Actor,
        input: NewLoggedModel,
    ) -> Result<LoggedModel> {
        let id = format!("m-{}", ets_domain::new_id());
        let name = match &input.name {
            Some(name) => validate::name("name", name)?,
            None => ets_domain::run_name(&id),
        };
        super::validate_tags("tags", input.tags.iter().map(|(k, v)| (k, Some(v))))?;
        super::validate_tags("params", input.params.iter().map(|(k, v)| (k, Some(v))))?;
        if let Some(run_id) = &input.source_run_id {
            let run = self.get_run(actor, run_id).await?;
            if run.experiment_id != input.experiment_id {
                return Err(Error::invalid(
                    "source_run_id",
                    format!(
                        "run '{run_id}' belongs to experiment '{}', not '{}'",
                        run.experiment_id, input.experiment_id
                    ),
                ));
            }
        }
        let now = Timestamp::now();
        let model = LoggedModel {
            id,
            experiment_id: input.experiment_id,
            name,
            model_type: input.model_type,
            source_run_id: input.source_run_id,
            status: LoggedModelStatus::Pending,
            status_message: None,
            tags: input.tags,
            params: input.params,
            created_at: now,
            updated_at: now,
        };
        self.store.create_logged_model(model).await
    }

    pub async fn get_logged_model(&self, _actor: &Actor, id: &str) -> Result<LoggedModel> {
        self.store.get_logged_model(id).await
    }

    /// Marks a model `ready` (its files are complete) or `failed`.
    pub async fn finalize_logged_model(
        &self,
        _actor: &Actor,
        id: &str,
        status: LoggedModelStatus,
        message: Option<String>,
    ) -> Result<LoggedModel> {
        self.store
            .update_logged_model(
                id,
                Box::new(move |model| {
                    model.status = status;
                    model.status_message = message;
                    Ok(())
                }),
            )
            .await
    }

    /// Sets (value) or removes (`None`) tags of a model.
    pub async fn set_logged_model_tags(
        &self,
        _actor: &Actor,
        id: &str,
        tags: ets_domain::model::TagPatch,
    ) -> Result<LoggedModel> {
        super::validate_tags("tags", tags.iter().map(|(k, v)| (k, v.as_ref())))?;
        self.store
            .update_logged_model(
                id,
                Box::new(move |model| {
                    super::apply_tag_patch(&mut model.tags, &tags);
                    Ok(())
                }),
            )
            .await
    }

    /// Adds params to a model (write-once, like run params).
    pub async fn log_logged_model_params(
        &self,
        _actor: &Actor,
        id: &str,
        params: Tags,
    ) -> Result<LoggedModel> {
        super::validate_tags("params", params.iter().map(|(k, v)| (k, Some(v))))?;
        self.store
            .update_logged_model(
                id,
                Box::new(move |model| {
                    for (key, value) in params {
                        match model.params.get(&key) {
                            Some(old) if *old != value => {
                                return Err(Error::Conflict(format!(
                                    "param '{key}' of model '{}' is already '{old}'; params are write-once",
                                    model.id
                                )));
                            }
                            _ => {
                                model.params.insert(key, value);
                            }
                        }
                    }
                    Ok(())
                }),
            )
            .await
    }

    pub async fn delete_logged_model(&self, _actor: &Actor, id: &str) -> Result<()> {
        self.store.delete_logged_model(id).await
    }

    /// Models of the experiments, newest first, offset-paged like other searches.
    pub async fn search_logged_models(
        &self,
        _actor: &Actor,
        experiment_ids: Vec<String>,
        max_results: usize,
        page_token: Option<String>,
    ) -> Result<Page<LoggedModel>> {
        let offset = super::search::decode_offset(page_token.as_deref())?;
        let models = self
            .store
            .search_logged_models(&experiment_ids, offset, max_results)
            .await?;
        Ok(super::search::page_of(models, offset, max_results))
    }
}
