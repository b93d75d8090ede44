//! Logged models (MLflow 3's `LoggedModel`): a model logged from a training run. Its files
//! are stored as artifacts of the source run under `models/<model id>/`, so a model logged
//! with `mlflow.<flavor>.log_model` shows up with its run in both APIs.

use ets_domain::filter::{self, Comparison, Entity, Expr, Op, Value};
use ets_domain::model::{LoggedModel, LoggedModelStatus, ModelMetric, Tags};
use ets_domain::{Timestamp, validate};
use serde::{Deserialize, Serialize};

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

/// Most models a filtered or ordered model search looks at (it works in memory).
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

    /// Models of the experiments as MLflow's `search_logged_models` finds them: `filter`
    /// (comparisons joined by `AND`), `datasets` (which model metrics count), `order_by`, and
    /// offset paging. Without a filter, datasets or order the store pages; otherwise the
    /// experiments' models are read with their metrics in one go and sorted in memory.
    pub async fn search_logged_models(
        &self,
        actor: &Actor,
        search: ModelSearch,
    ) -> Result<Page<LoggedModel>> {
        // Experiments the caller may not read are left out, as if they had no models.
        let mut experiment_ids = Vec::with_capacity(search.experiment_ids.len());
        for id in search.experiment_ids.clone() {
            match self.authorize(actor, EntityKind::Experiment, &id).await {
                Ok(()) => experiment_ids.push(id),
                Err(Error::NotFound { .. } | Error::Forbidden(_)) => {}
                Err(other) => return Err(other),
            }
        }
        if search.datasets.iter().any(|d| d.dataset_name.is_empty()) {
            return Err(Error::BadRequest(
                "`dataset_name` in the `datasets` clause must be specified.".into(),
            ));
        }
        let comparisons = model_filter(search.filter.as_deref().unwrap_or_default())?;
        let order = search
            .order_by
            .iter()
            .map(ModelOrder::parse)
            .collect::<Result<Vec<_>>>()?;
        let mut token = ModelPageToken {
            experiment_ids: search.experiment_ids,
            filter_string: search.filter.clone().filter(|f| !f.is_empty()),
            order_by: (!search.order_by.is_empty()).then(|| search.order_by.clone()),
            offset: 0,
        };
        let offset = token.offset_of(search.page_token.as_deref())?;
        let limit = search.max_results;
        let models = if comparisons.is_empty() && search.datasets.is_empty() && order.is_empty() {
            self.store
                .search_logged_models(&experiment_ids, offset, limit)
                .await?
        } else {
            let mut matching = Vec::new();
            for model in self
                .store
                .search_logged_models(&experiment_ids, 0, MAX_MODELS_FILTERED)
                .await?
            {
                if model_matches(&model, &comparisons, &search.datasets) {
                    matching.push(model);
                }
            }
            sort_models(&mut matching, &order);
            matching.into_iter().skip(offset).take(limit + 1).collect()
        };
        let mut page = super::search::page_of(models, offset, limit);
        if page.next_page_token.is_some() {
            token.offset = offset + limit;
            page.next_page_token = Some(token.encode());
        }
        Ok(page)
    }
}

/// What `search_logged_models` asks for (MLflow's `SearchLoggedModels` request).
#[derive(Debug, Clone, Default)]
pub struct ModelSearch {
    pub experiment_ids: Vec<String>,
    pub filter: Option<String>,
    pub datasets: Vec<DatasetFilter>,
    pub order_by: Vec<ModelOrderBy>,
    pub max_results: usize,
    pub page_token: Option<String>,
}

/// A dataset whose metrics count (`digest` empty: any digest of that name).
#[derive(Debug, Clone, Default)]
pub struct DatasetFilter {
    pub dataset_name: String,
    pub dataset_digest: Option<String>,
}

impl DatasetFilter {
    fn holds(&self, m: &ModelMetric) -> bool {
        m.dataset_name.as_deref() == Some(self.dataset_name.as_str())
            && self
                .dataset_digest
                .as_ref()
                .is_none_or(|d| m.dataset_digest.as_ref() == Some(d))
    }
}

/// MLflow's page token of a model search: base64 of JSON naming the query it pages through
/// and the offset of the next page. A token is refused for another query, with MLflow's words.
#[derive(Debug, Serialize, Deserialize)]
struct ModelPageToken {
    experiment_ids: Vec<String>,
    #[serde(default)]
    filter_string: Option<String>,
    #[serde(default)]
    order_by: Option<Vec<ModelOrderBy>>,
    #[serde(default)]
    offset: usize,
}

impl ModelPageToken {
    fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::to_string(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// The offset `token` (of a previous page of this query) starts at; 0 without one.
    fn offset_of(&self, token: Option<&str>) -> Result<usize> {
        use base64::Engine;
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(0);
        };
        let stored: ModelPageToken = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            .map_err(|e| Error::BadRequest(format!("Invalid page token: {token}. {e}")))?;
        let py_list = |ids: &[String]| {
            let quoted: Vec<String> = ids.iter().map(|i| py_repr(i)).collect();
            format!("[{}]", quoted.join(", "))
        };
        let py_opt = |f: &Option<String>| f.clone().unwrap_or_else(|| "None".into());
        if stored.experiment_ids != self.experiment_ids {
            return Err(Error::BadRequest(format!(
                "Experiment IDs in the page token do not match the requested experiment IDs. \
                 Expected: {}. Found: {}",
                py_list(&self.experiment_ids),
                py_list(&stored.experiment_ids)
            )));
        }
        if stored.filter_string != self.filter_string {
            return Err(Error::BadRequest(format!(
                "Filter string in the page token does not match the requested filter string. \
                 Expected: {}. Found: {}",
                py_opt(&self.filter_string),
                py_opt(&stored.filter_string)
            )));
        }
        if stored.order_by != self.order_by {
            return Err(Error::BadRequest(
                "Order by in the page token does not match the requested order by.".into(),
            ));
        }
        Ok(stored.offset)
    }
}

/// One key of a model search's order: an attribute, or `metrics.<key>` (its latest value, on
/// a dataset if one is named).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelOrderBy {
    pub field_name: String,
    pub ascending: bool,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// What a model search may compare, with MLflow's names: attributes (bare or `attributes.`),
/// `metrics.`, `params.`, `tags.`.
#[derive(Debug, Clone, PartialEq)]
enum ModelField {
    Attribute(&'static str),
    Metric(String),
    Param(String),
    Tag(String),
}

impl ModelField {
    /// An attribute by MLflow's name or alias (`creation_time` is `creation_timestamp_ms`).
    fn attribute(name: &str) -> Option<Self> {
        let canonical = match name {
            "creation_time" | "creation_timestamp" | "creation_timestamp_ms" => {
                "creation_timestamp_ms"
            }
            "last_updated_timestamp" | "last_updated_timestamp_ms" => "last_updated_timestamp_ms",
            "model_id" => "model_id",
            "name" => "name",
            "experiment_id" => "experiment_id",
            "model_type" => "model_type",
            "source_run_id" => "source_run_id",
            "status" => "status",
            "status_message" => "status_message",
            _ => return None,
        };
        Some(ModelField::Attribute(canonical))
    }

    fn is_numeric(&self) -> bool {
        matches!(
            self,
            ModelField::Metric(_)
                | ModelField::Attribute("creation_timestamp_ms" | "last_updated_timestamp_ms")
        )
    }

    /// The attribute's value: text, or a number for the timestamps.
    fn attribute_value(model: &LoggedModel, name: &str) -> Option<FieldValue> {
        let text = |s: &str| Some(FieldValue::Text(s.to_owned()));
        match name {
            "creation_timestamp_ms" => Some(FieldValue::Number(model.created_at.millis() as f64)),
            "last_updated_timestamp_ms" => {
                Some(FieldValue::Number(model.updated_at.millis() as f64))
            }
            "model_id" => text(&model.id),
            "name" => text(&model.name),
            "experiment_id" => text(&model.experiment_id),
            "model_type" => model.model_type.as_deref().and_then(text),
            "source_run_id" => model.source_run_id.as_deref().and_then(text),
            "status" => text(match model.status {
                LoggedModelStatus::Pending => "PENDING",
                LoggedModelStatus::Ready => "READY",
                LoggedModelStatus::Failed => "FAILED",
            }),
            "status_message" => model.status_message.as_deref().and_then(text),
            _ => None,
        }
    }
}

impl std::fmt::Display for ModelField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelField::Attribute(name) => write!(f, "attributes.{name}"),
            ModelField::Metric(key) => write!(f, "metrics.{key}"),
            ModelField::Param(key) => write!(f, "params.{key}"),
            ModelField::Tag(key) => write!(f, "tags.{key}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum FieldValue {
    Number(f64),
    Text(String),
}

/// MLflow's operators for numbers and for text, as its messages list them.
const NUMERIC_OPS: &str = "('<', '<=', '>', '>=', '=', '!=')";
const STRING_OPS: &str = "('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')";

/// A filter's comparisons with the field each compares: MLflow's model-search grammar, which
/// joins comparisons with `AND` only.
fn model_filter(text: &str) -> Result<Vec<(ModelField, Comparison)>> {
    let Some(expr) = filter::parse_filter(text)
        .map_err(|e| Error::BadRequest(format!("Invalid filter string: {}. {e}", py_repr(text))))?
    else {
        return Ok(Vec::new());
    };
    let parts = match expr {
        Expr::And(parts) => parts,
        other => vec![other],
    };
    let mut comparisons = Vec::with_capacity(parts.len());
    for part in parts {
        let Expr::Compare(c) = part else {
            return Err(Error::BadRequest(format!(
                "Invalid filter string: {}. Expected a list of comparisons separated by 'AND' \
                 (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').",
                py_repr(text)
            )));
        };
        let field = match c.entity {
            Entity::Metric => ModelField::Metric(c.key.clone()),
            Entity::Param => ModelField::Param(c.key.clone()),
            Entity::Tag => ModelField::Tag(c.key.clone()),
            Entity::Attribute => ModelField::attribute(&c.key).ok_or_else(|| {
                Error::BadRequest(format!(
                    "Invalid filter string: logged models have no attribute '{}'",
                    c.key
                ))
            })?,
            Entity::Dataset => {
                return Err(Error::BadRequest(
                    "Invalid entity type: 'datasets'. Expected one of ['attributes', 'metrics', 'params', 'tags']."
                        .into(),
                ));
            }
        };
        let (numeric_op, string_op) = (
            matches!(c.op, Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Eq | Op::Ne),
            matches!(
                c.op,
                Op::Eq | Op::Ne | Op::Like | Op::ILike | Op::In | Op::NotIn
            ),
        );
        let numeric = field.is_numeric();
        if (numeric && !numeric_op) || (!numeric && !string_op) {
            return Err(Error::BadRequest(format!(
                "Invalid comparison operator for {field}: '{}'. Expected one of {}.",
                c.op.as_str(),
                if numeric { NUMERIC_OPS } else { STRING_OPS }
            )));
        }
        if numeric != matches!(c.value, Value::Number(_)) {
            return Err(Error::BadRequest(format!(
                "Invalid filter string: {field} compares {}",
                if numeric { "numbers" } else { "strings" }
            )));
        }
        comparisons.push((field, c));
    }
    Ok(comparisons)
}

/// Python's `repr` of a string, as MLflow's messages quote the filter.
fn py_repr(text: &str) -> String {
    if text.contains('\'') && !text.contains('"') {
        format!("\"{text}\"")
    } else {
        format!("'{}'", text.replace('\'', "\\'"))
    }
}

/// Whether a model passes every comparison, and has metrics on one of `datasets` when the
/// filter compares no metric (MLflow's rules). A metric comparison holds when any value of
/// the metric (on one of `datasets`, when given) satisfies it.
fn model_matches(
    model: &LoggedModel,
    comparisons: &[(ModelField, Comparison)],
    datasets: &[DatasetFilter],
) -> bool {
    let counts = |m: &ModelMetric| datasets.is_empty() || datasets.iter().any(|d| d.holds(m));
    let compares_metrics = comparisons
        .iter()
        .any(|(f, _)| matches!(f, ModelField::Metric(_)));
    if !datasets.is_empty() && !compares_metrics && !model.metrics.iter().any(counts) {
        return false;
    }
    comparisons.iter().all(|(field, c)| match field {
        ModelField::Metric(key) => model
            .metrics
            .iter()
            .filter(|m| &m.key == key && counts(m))
            .any(|m| compare(&FieldValue::Number(m.value), c)),
        ModelField::Param(key) => model
            .params
            .get(key)
            .is_some_and(|v| compare(&FieldValue::Text(v.clone()), c)),
        ModelField::Tag(key) => model
            .tags
            .get(key)
            .is_some_and(|v| compare(&FieldValue::Text(v.clone()), c)),
        ModelField::Attribute(name) => {
            ModelField::attribute_value(model, name).is_some_and(|v| compare(&v, c))
        }
    })
}

fn compare(actual: &FieldValue, c: &Comparison) -> bool {
    match (actual, &c.op, &c.value) {
        (FieldValue::Number(a), op, Value::Number(v)) => match op {
            Op::Eq => a == v,
            Op::Ne => a != v,
            Op::Lt => a < v,
            Op::Gt => a > v,
            Op::Le => a <= v,
            Op::Ge => a >= v,
            _ => false,
        },
        (FieldValue::Text(a), op, Value::Str(v)) => match op {
            Op::Eq => a == v,
            Op::Ne => a != v,
            Op::Like => like(a, v, false),
            Op::ILike => like(a, v, true),
            _ => false,
        },
        (FieldValue::Text(a), op @ (Op::In | Op::NotIn), Value::List(items)) => {
            let found = items.iter().any(|i| matches!(i, Value::Str(s) if s == a));
            found == (*op == Op::In)
        }
        _ => false,
    }
}

/// A parsed order key of a model search.
#[derive(Debug, Clone)]
struct ModelOrder {
    field: ModelField,
    ascending: bool,
    dataset: Option<DatasetFilter>,
}

impl ModelOrder {
    /// MLflow's rules and messages: an attribute, or `metrics.<key>`; nothing else.
    fn parse(o: &ModelOrderBy) -> Result<Self> {
        let field = match o.field_name.split_once('.') {
            None => ModelField::attribute(&o.field_name).ok_or_else(|| {
                Error::BadRequest(format!("Invalid order by field name: {}", o.field_name))
            })?,
            Some(("metrics", key)) => ModelField::Metric(key.to_owned()),
            Some(_) => {
                return Err(Error::BadRequest(format!(
                    "Invalid order by field name: {}. Only metrics are supported.",
                    o.field_name
                )));
            }
        };
        let dataset = o.dataset_name.clone().filter(|n| !n.is_empty());
        let digest = o.dataset_digest.clone().filter(|d| !d.is_empty());
        Ok(ModelOrder {
            field,
            ascending: o.ascending,
            dataset: match (dataset, digest) {
                (None, None) => None,
                (name, digest) => Some(DatasetFilter {
                    dataset_name: name.unwrap_or_default(),
                    dataset_digest: digest,
                }),
            },
        })
    }

    /// The model's value for this key: a metric's latest value (by time, then step, then
    /// run id: MLflow's rule) among those on the dataset, if one is named.
    fn value(&self, model: &LoggedModel) -> Option<FieldValue> {
        match &self.field {
            ModelField::Metric(key) => model
                .metrics
                .iter()
                .filter(|m| &m.key == key)
                .filter(|m| match &self.dataset {
                    None => true,
                    Some(d) => {
                        (d.dataset_name.is_empty()
                            || m.dataset_name.as_deref() == Some(d.dataset_name.as_str()))
                            && d.dataset_digest
                                .as_ref()
                                .is_none_or(|x| m.dataset_digest.as_ref() == Some(x))
                    }
                })
                .min_by(|a, b| {
                    (b.timestamp, b.step)
                        .cmp(&(a.timestamp, a.step))
                        .then_with(|| a.run_id.cmp(&b.run_id))
                })
                .map(|m| FieldValue::Number(m.value)),
            ModelField::Attribute(name) => ModelField::attribute_value(model, name),
            ModelField::Param(_) | ModelField::Tag(_) => None,
        }
    }
}

/// MLflow's order: the keys asked for (missing values last whatever the direction), then
/// newest first unless the creation time was asked for, then by id unless that was.
fn sort_models(models: &mut [LoggedModel], order: &[ModelOrder]) {
    let asked = |name: &'static str| order.iter().any(|o| o.field == ModelField::Attribute(name));
    let (by_created, by_id) = (!asked("creation_timestamp_ms"), !asked("model_id"));
    models.sort_by(|a, b| {
        for o in order {
            let ordering = match (o.value(a), o.value(b)) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) => {
                    let natural = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
                    if o.ascending {
                        natural
                    } else {
                        natural.reverse()
                    }
                }
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        let created = if by_created {
            b.created_at.cmp(&a.created_at)
        } else {
            std::cmp::Ordering::Equal
        };
        created.then_with(|| {
            if by_id {
                a.id.cmp(&b.id)
            } else {
                std::cmp::Ordering::Equal
            }
        })
    });
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
