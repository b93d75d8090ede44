//! Logged models (MLflow 3's `LoggedModel`): a model logged from a training run. Its files
//! are stored as artifacts of the source run under `models/<model id>/`, so a model logged
//! with `mlflow.<flavor>.log_model` shows up with its run in both APIs.

use ets_domain::filter::{self, Comparison, Entity, Expr, Op, Value};
use ets_domain::model::{LoggedModel, LoggedModelStatus, Tags};
use ets_domain::{Timestamp, validate};

use super::Services;
use crate::actor::Actor;
use crate::error::EntityKind;
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

/// Most models a filtered model search looks at (they are filtered in memory).
const MAX_MODELS_FILTERED: usize = 100_000;

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
        self.authorize(actor, EntityKind::Experiment, &input.experiment_id)
            .await?;
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
            metrics: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        self.store.create_logged_model(model).await
    }

    pub async fn get_logged_model(&self, actor: &Actor, id: &str) -> Result<LoggedModel> {
        self.authorize(actor, EntityKind::LoggedModel, id).await?;
        self.store.get_logged_model(id).await
    }

    /// Marks a model `ready` (its files are complete) or `failed`.
    pub async fn finalize_logged_model(
        &self,
        actor: &Actor,
        id: &str,
        status: LoggedModelStatus,
        message: Option<String>,
    ) -> Result<LoggedModel> {
        self.authorize(actor, EntityKind::LoggedModel, id).await?;
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
        actor: &Actor,
        id: &str,
        tags: ets_domain::model::TagPatch,
    ) -> Result<LoggedModel> {
        self.authorize(actor, EntityKind::LoggedModel, id).await?;
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
        actor: &Actor,
        id: &str,
        params: Tags,
    ) -> Result<LoggedModel> {
        self.authorize(actor, EntityKind::LoggedModel, id).await?;
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

    pub async fn delete_logged_model(&self, actor: &Actor, id: &str) -> Result<()> {
        self.authorize(actor, EntityKind::LoggedModel, id).await?;
        self.store.delete_logged_model(id).await
    }

    /// Models of the experiments, newest first, offset-paged like other searches.
    pub async fn search_logged_models(
        &self,
        actor: &Actor,
        experiment_ids: Vec<String>,
        filter: Option<&str>,
        max_results: usize,
        page_token: Option<String>,
    ) -> Result<Page<LoggedModel>> {
        // Experiments the caller may not read are left out, as if they had no models.
        let mut readable = Vec::with_capacity(experiment_ids.len());
        for id in experiment_ids {
            match self.authorize(actor, EntityKind::Experiment, &id).await {
                Ok(()) => readable.push(id),
                Err(Error::NotFound { .. } | Error::Forbidden(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let experiment_ids = readable;
        let offset = super::search::decode_offset(page_token.as_deref())?;
        let expr = filter::parse_filter(filter.unwrap_or_default())
            .map_err(|e| Error::BadRequest(format!("invalid filter: {e}")))?;
        let models = match expr {
            None => {
                self.store
                    .search_logged_models(&experiment_ids, offset, max_results)
                    .await?
            }
            Some(expr) => {
                // Filtered in memory (see `model_matches`), then paged.
                let mut matching = Vec::new();
                for model in self
                    .store
                    .search_logged_models(&experiment_ids, 0, MAX_MODELS_FILTERED)
                    .await?
                {
                    let model = self.store.get_logged_model(&model.id).await?;
                    if model_matches(&model, &expr)? {
                        matching.push(model);
                    }
                }
                matching
                    .into_iter()
                    .skip(offset)
                    .take(max_results + 1)
                    .collect()
            }
        };
        Ok(super::search::page_of(models, offset, max_results))
    }
}

/// Evaluates a filter against a logged model: attributes `name`, `model_id`, `model_type`,
/// `status`, `source_run_id`, `creation_time`, `last_updated_time`; `params.*`, `tags.*`, and
/// `metrics.*` (the latest value logged for the model). Model searches cover one experiment's
/// models, a small set, so they are filtered in memory.
fn model_matches(model: &LoggedModel, expr: &Expr) -> Result<bool> {
    match expr {
        Expr::And(parts) => {
            for part in parts {
                if !model_matches(model, part)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Or(parts) => {
            for part in parts {
                if model_matches(model, part)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Expr::Compare(c) => comparison_holds(model, c),
    }
}

fn comparison_holds(model: &LoggedModel, c: &Comparison) -> Result<bool> {
    let text = |value: Option<&str>| -> Result<bool> {
        let Some(actual) = value else {
            return Ok(false);
        };
        Ok(match (&c.op, &c.value) {
            (Op::Eq, Value::Str(v)) => actual == v,
            (Op::Ne, Value::Str(v)) => actual != v,
            (Op::Like, Value::Str(v)) => like(actual, v, false),
            (Op::ILike, Value::Str(v)) => like(actual, v, true),
            (Op::In | Op::NotIn, Value::List(items)) => {
                let found = items
                    .iter()
                    .any(|i| matches!(i, Value::Str(s) if s == actual));
                found == (c.op == Op::In)
            }
            _ => {
                return Err(Error::BadRequest(format!(
                    "invalid filter: cannot compare '{}' that way",
                    c.key
                )));
            }
        })
    };
    let number = |value: Option<f64>| -> Result<bool> {
        let (Some(actual), Value::Number(v)) = (value, &c.value) else {
            return Err(Error::BadRequest(format!(
                "invalid filter: '{}' compares numbers",
                c.key
            )));
        };
        Ok(match c.op {
            Op::Eq => actual == *v,
            Op::Ne => actual != *v,
            Op::Lt => actual < *v,
            Op::Gt => actual > *v,
            Op::Le => actual <= *v,
            Op::Ge => actual >= *v,
            _ => {
                return Err(Error::BadRequest(format!(
                    "invalid filter: '{}' compares numbers",
                    c.key
                )));
            }
        })
    };
    match c.entity {
        Entity::Param => text(model.params.get(&c.key).map(String::as_str)),
        Entity::Tag => text(model.tags.get(&c.key).map(String::as_str)),
        Entity::Metric => {
            let latest = model
                .metrics
                .iter()
                .filter(|m| m.key == c.key)
                .max_by_key(|m| (m.step, m.timestamp));
            match latest {
                Some(m) => number(Some(m.value)),
                None => Ok(false),
            }
        }
        Entity::Attribute => match c.key.as_str() {
            "name" => text(Some(&model.name)),
            "model_id" => text(Some(&model.id)),
            "model_type" => text(model.model_type.as_deref()),
            "source_run_id" => text(model.source_run_id.as_deref()),
            "status" => text(Some(match model.status {
                LoggedModelStatus::Pending => "PENDING",
                LoggedModelStatus::Ready => "READY",
                LoggedModelStatus::Failed => "FAILED",
            })),
            "creation_time" | "creation_timestamp" => {
                number(Some(model.created_at.millis() as f64))
            }
            "last_updated_time" | "last_updated_timestamp" => {
                number(Some(model.updated_at.millis() as f64))
            }
            other => Err(Error::BadRequest(format!(
                "invalid filter: logged models have no attribute '{other}'"
            ))),
        },
        Entity::Dataset => Err(Error::BadRequest(
            "invalid filter: logged models cannot be filtered by dataset".into(),
        )),
    }
}

/// SQL LIKE: `%` any run of characters, `_` one character.
fn like(text: &str, pattern: &str, ignore_case: bool) -> bool {
    fn go(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some(('_', rest)) => !t.is_empty() && go(&t[1..], rest),
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    let fold = |s: &str| -> Vec<char> {
        if ignore_case {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    go(&fold(text), &fold(pattern))
}
