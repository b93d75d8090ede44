//! Searching runs and experiments with the filter language, and the trash (soft deletion).
//! Both API surfaces use these; MLflow's `search` calls and the native `filter` parameter
//! share one parser.

use base64::Engine;
use ets_domain::filter::{self, Expr, OrderKey};
use ets_domain::model::{DatasetInput, Experiment, Run};

use super::Services;
use crate::actor::Actor;
use crate::error::EntityKind;
use crate::error::{Error, Result};
use crate::store::{Lifecycle, Page, RunCursor, Search, keyset_metric};

fn filter_error(parameter: &str, e: filter::FilterError) -> Error {
    Error::BadRequest(format!("invalid {parameter}: {e}"))
}

/// Parses and checks a run filter (`None` for an empty one).
pub fn parse_run_filter(text: Option<&str>) -> Result<Option<Expr>> {
    let Some(mut expr) =
        filter::parse_filter(text.unwrap_or_default()).map_err(|e| filter_error("filter", e))?
    else {
        return Ok(None);
    };
    filter::validate_run_filter(&expr).map_err(|e| filter_error("filter", e))?;
    filter::normalize_run_filter(&mut expr);
    Ok(Some(expr))
}

/// Parses and checks an experiment filter.
pub fn parse_experiment_filter(text: Option<&str>) -> Result<Option<Expr>> {
    let Some(expr) =
        filter::parse_filter(text.unwrap_or_default()).map_err(|e| filter_error("filter", e))?
    else {
        return Ok(None);
    };
    filter::validate_experiment_filter(&expr).map_err(|e| filter_error("filter", e))?;
    Ok(Some(expr))
}

/// Parses run `order_by` clauses such as `metrics.acc DESC`.
pub fn parse_run_order(clauses: &[String]) -> Result<Vec<OrderKey>> {
    clauses
        .iter()
        .map(|clause| {
            let mut key =
                filter::parse_order_by(clause).map_err(|e| filter_error("order_by", e))?;
            filter::validate_run_order_key(&key).map_err(|e| filter_error("order_by", e))?;
            filter::normalize_run_order_key(&mut key);
            Ok(key)
        })
        .collect()
}

/// Parses experiment `order_by` clauses such as `name ASC`.
pub fn parse_experiment_order(clauses: &[String]) -> Result<Vec<OrderKey>> {
    clauses
        .iter()
        .map(|clause| {
            let key = filter::parse_order_by(clause).map_err(|e| filter_error("order_by", e))?;
            filter::validate_experiment_order_key(&key).map_err(|e| filter_error("order_by", e))?;
            Ok(key)
        })
        .collect()
}

/// `active` (default), `deleted` or `all`.
pub fn parse_lifecycle(text: Option<&str>) -> Result<Lifecycle> {
    match text.map(str::to_ascii_lowercase).as_deref() {
        None | Some("active") | Some("active_only") => Ok(Lifecycle::Active),
        Some("deleted") | Some("deleted_only") => Ok(Lifecycle::Deleted),
        Some("all") => Ok(Lifecycle::All),
        Some(other) => Err(Error::BadRequest(format!(
            "lifecycle '{other}' is not one of active, deleted, all"
        ))),
    }
}

/// A search request, as both APIs express it.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub experiment_ids: Vec<String>,
    pub filter: Option<String>,
    pub lifecycle: Lifecycle,
    pub order_by: Vec<String>,
    pub max_results: usize,
    pub page_token: Option<String>,
}

/// Offset page tokens: searches order by arbitrary keys (metrics, params), where a keyset
/// cursor would need every sort value; MLflow pages searches by offset too. Runs ordered by one
/// metric are the exception (see [`decode_run_position`]).
pub(crate) fn decode_offset(token: Option<&str>) -> Result<usize> {
    let Some(token) = decode_token(token)? else {
        return Ok(0);
    };
    token["offset"]
        .as_u64()
        .map(|offset| offset as usize)
        .ok_or_else(malformed_token)
}

/// The JSON of a page token (`None`: the first page).
fn decode_token(token: Option<&str>) -> Result<Option<serde_json::Value>> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .map(Some)
        .ok_or_else(malformed_token)
}

fn malformed_token() -> Error {
    Error::BadRequest(
        "page_token is malformed; pass the next_page_token of the previous page".into(),
    )
}

fn encode_token(token: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

fn encode_offset(offset: usize) -> String {
    encode_token(&serde_json::json!({ "offset": offset }))
}

/// Where a page of a run search starts: an offset, or, for runs ordered by one metric
/// ([`keyset_metric`]), the sort values of the last run of the previous page, so a page costs
/// the same at any depth. The token names its order; another order_by refuses it. (Offset
/// tokens handed out before keyset pages still work.)
fn decode_run_position(
    token: Option<&str>,
    order_by: &[OrderKey],
) -> Result<(usize, Option<RunCursor>)> {
    let Some(token) = decode_token(token)? else {
        return Ok((0, None));
    };
    if let Some(offset) = token["offset"].as_u64() {
        return Ok((offset as usize, None));
    }
    let after = &token["after"];
    let key = keyset_metric(order_by).ok_or_else(|| {
        Error::BadRequest("page_token belongs to a search with another order_by".into())
    })?;
    if after["key"].as_str() != Some(key.key.as_str())
        || after["ascending"].as_bool() != Some(key.ascending)
    {
        return Err(Error::BadRequest(
            "page_token belongs to a search with another order_by".into(),
        ));
    }
    // The value travels as its bits: JSON has no infinities, and the walk resumes at exactly
    // this value.
    let value = match &after["value"] {
        serde_json::Value::Null => None,
        bits => Some(f64::from_bits(bits.as_u64().ok_or_else(malformed_token)?)),
    };
    let cursor = RunCursor {
        value,
        start: after["start"].as_i64().ok_or_else(malformed_token)?,
        id: after["id"].as_str().ok_or_else(malformed_token)?.to_owned(),
    };
    Ok((0, Some(cursor)))
}

/// A page of runs ordered by metric `key` (the store's `limit + 1` runs), its token the
/// position after its last run.
fn keyset_page(mut runs: Vec<Run>, key: &OrderKey, limit: usize) -> Page<Run> {
    let more = runs.len() > limit;
    runs.truncate(limit);
    let next_page_token = runs.last().filter(|_| more).map(|last| {
        let cursor = RunCursor::after(last, &key.key);
        encode_token(&serde_json::json!({ "after": {
            "key": key.key,
            "ascending": key.ascending,
            "value": cursor.value.map(f64::to_bits),
            "start": cursor.start,
            "id": cursor.id,
        }}))
    });
    Page {
        next_page_token,
        items: runs,
    }
}

pub(crate) fn page_of<T>(mut items: Vec<T>, offset: usize, limit: usize) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    Page {
        next_page_token: more.then(|| encode_offset(offset + limit)),
        items,
    }
}

impl Services {
    /// Runs of the given experiments matching a filter, ordered as asked.
    pub async fn search_runs(&self, actor: &Actor, request: SearchRequest) -> Result<Page<Run>> {
        let order_by = parse_run_order(&request.order_by)?;
        let (offset, after) = decode_run_position(request.page_token.as_deref(), &order_by)?;
        let keyset = keyset_metric(&order_by).filter(|_| offset == 0).cloned();
        let search = Search {
            visible_projects: self.visible_projects(actor).await?,
            experiment_ids: request.experiment_ids,
            filter: parse_run_filter(request.filter.as_deref())?,
            lifecycle: request.lifecycle,
            order_by,
            offset,
            after,
            limit: request.max_results,
        };
        let runs = self.store.search_runs(search).await?;
        let page = match &keyset {
            Some(key) => keyset_page(runs, key, request.max_results),
            None => page_of(runs, offset, request.max_results),
        };
        self.audit_run_list(&page.items).await?;
        Ok(page)
    }

    /// Experiments matching a filter, ordered as asked.
    pub async fn search_experiments(
        &self,
        actor: &Actor,
        request: SearchRequest,
    ) -> Result<Page<Experiment>> {
        let offset = decode_offset(request.page_token.as_deref())?;
        let search = Search {
            visible_projects: self.visible_projects(actor).await?,
            experiment_ids: Vec::new(),
            filter: parse_experiment_filter(request.filter.as_deref())?,
            lifecycle: request.lifecycle,
            order_by: parse_experiment_order(&request.order_by)?,
            offset,
            after: None,
            limit: request.max_results,
        };
        let experiments = self.store.search_experiments(search).await?;
        Ok(page_of(experiments, offset, request.max_results))
    }

    /// The experiment with this name.
    pub async fn experiment_by_name(&self, actor: &Actor, name: &str) -> Result<Experiment> {
        let experiment = self.store.find_experiment_by_name(name).await?;
        self.authorize(actor, EntityKind::Experiment, &experiment.id)
            .await
            .map_err(|_| Error::not_found(EntityKind::Experiment, name))?;
        Ok(experiment)
    }

    /// Moves an experiment and its runs to the trash (restorable).
    pub async fn trash_experiment(&self, actor: &Actor, id: &str) -> Result<Experiment> {
        self.authorize(actor, EntityKind::Experiment, id).await?;
        self.store.set_experiment_deleted(id, true).await
    }

    /// Brings an experiment back from the trash, with the runs trashed with it.
    pub async fn restore_experiment(&self, actor: &Actor, id: &str) -> Result<Experiment> {
        self.authorize(actor, EntityKind::Experiment, id).await?;
        self.store.set_experiment_deleted(id, false).await
    }

    /// Moves a run to the trash (restorable).
    pub async fn trash_run(&self, actor: &Actor, id: &str) -> Result<Run> {
        self.authorize(actor, EntityKind::Run, id).await?;
        self.set_run_deleted(id, true).await
    }

    /// Brings a run back from the trash.
    pub async fn restore_run(&self, actor: &Actor, id: &str) -> Result<Run> {
        self.authorize(actor, EntityKind::Run, id).await?;
        self.set_run_deleted(id, false).await
    }

    async fn set_run_deleted(&self, id: &str, deleted: bool) -> Result<Run> {
        self.store
            .update_run(
                id,
                Box::new(move |run| {
                    // Trashing a trashed run keeps its first deletion time: the retention of
                    // `ets gc` counts from there.
                    run.deleted_at = if deleted {
                        run.deleted_at
                            .or_else(|| Some(ets_domain::Timestamp::now()))
                    } else {
                        None
                    };
                    Ok(())
                }),
                Vec::new(),
                Default::default(),
            )
            .await
    }

    /// Records the datasets a run used.
    pub async fn log_inputs(
        &self,
        actor: &Actor,
        run_id: &str,
        inputs: Vec<DatasetInput>,
    ) -> Result<()> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        for (i, input) in inputs.iter().enumerate() {
            ets_domain::validate::name(&format!("datasets[{i}].name"), &input.dataset.name)?;
            ets_domain::validate::name(&format!("datasets[{i}].digest"), &input.dataset.digest)?;
            super::validate_tags(
                &format!("datasets[{i}].tags"),
                input.tags.iter().map(|(k, v)| (k, Some(v))),
            )?;
        }
        self.store.log_inputs(run_id, inputs).await
    }
}
