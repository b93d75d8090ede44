//! The service layer: one function per use case, shared by every API surface.
//!
//! Service functions validate input, apply defaults and limits, and call the store. HTTP
//! adapters stay thin: parse, call one function here, shape the response.

pub mod access;
pub mod alerts;
pub mod archive;
pub mod artifacts;
pub mod audit;
pub mod charts;
pub mod evaluations;
pub mod experiments;
pub mod files;
pub mod group_compare;
pub mod health;
pub mod identity;
pub mod logs;
pub mod models;
pub mod objectives;
pub mod projects;
pub mod rates;
pub mod render;
pub mod reports;
pub mod runs;
pub mod safety;
pub mod search;
pub mod signatures;
pub mod significance;
pub mod studies;
pub mod study_charts;
pub mod study_history;
pub mod study_storage;
pub mod visualizations;

use std::sync::Arc;

use ets_domain::model::Tags;
use ets_domain::validate;

use crate::artifacts::ArtifactStore;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{Cursor, PageRequest, SortField, Store, StoreLimits, TagFilter};

/// Everything a request needs: configuration, the store, artifact storage, health probes.
pub struct Services {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub artifacts: ArtifactStore,
    pub health: health::HealthChecker,
    pub started: std::time::Instant,
    /// Live updates (SSE); started by the server.
    pub live: Arc<crate::live::Bus>,
    /// Authenticated principals (cached) and rate limiters.
    pub auth: identity::Authenticator,
    /// The project of each run, experiment and logged model, for authorization.
    pub project_index: access::ProjectIndex,
    /// Alert rules' evaluation and webhook delivery on this instance; started by the server.
    pub alerts: crate::alerts::AlertEngine,
    /// Each experiment's artifact root below the MLflow artifact proxy.
    pub artifact_roots: files::ArtifactRoots,
    /// Studies' trial histories for the samplers and pruners.
    pub study_histories: study_history::StudyHistories,
}

impl Services {
    /// Opens storage as configured (creating the data directory and migrating the database).
    pub async fn open(config: Config) -> Result<Arc<Services>> {
        crate::private_files::create_dir_all(&config.data_dir, "data directory").map_err(|e| {
            Error::internal(format!(
                "cannot create data directory '{}': {e}",
                config.data_dir.display()
            ))
        })?;
        let store = open_store(&config).await?;
        let artifacts = ArtifactStore::open(&config)?;
        let health = health::HealthChecker::new(&config.services);
        let live = Arc::new(crate::live::Bus::new(config.live.clone()));
        Ok(Arc::new(Services {
            auth: identity::Authenticator::new(&config.auth)?,
            project_index: access::ProjectIndex::default(),
            alerts: crate::alerts::AlertEngine::default(),
            artifact_roots: files::ArtifactRoots::default(),
            study_histories: study_history::StudyHistories::default(),
            live,
            config,
            store,
            artifacts,
            health,
            started: std::time::Instant::now(),
        }))
    }
}

/// Opens the configured database (migrating it as `migrate_on_start` says; SQLite always).
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let limits = StoreLimits {
        max_concurrent_experiments: config.limits.max_concurrent_experiments,
        max_runs_per_experiment: config.limits.max_runs_per_experiment,
        max_metric_keys_per_run: config.limits.max_metric_keys_per_run,
    };
    crate::store::open(
        &config.effective_database_url(),
        config.limits.db_pool_size,
        limits,
        config.migrate_on_start,
    )
    .await
}

/// Sort, page size and cursor as they arrive in a list request's query string.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `created_at` (default), `updated_at` or `name`; prefix `-` for descending.
    /// Default `-created_at` (newest first).
    pub sort: Option<String>,
    /// Items per page: default 50, at most `limits.max_page_size` (1000).
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// Default items per page.
const DEFAULT_PAGE_SIZE: u32 = 50;

impl Services {
    /// Validates list parameters into a store page request.
    pub fn page_request(&self, params: &ListParams) -> Result<PageRequest> {
        let sort_text = params.sort.as_deref().unwrap_or("-created_at");
        let (descending, field) = match sort_text.strip_prefix('-') {
            Some(field) => (true, field),
            None => (false, sort_text),
        };
        let sort = match field {
            "created_at" => SortField::CreatedAt,
            "updated_at" => SortField::UpdatedAt,
            "name" => SortField::Name,
            other => {
                return Err(Error::BadRequest(format!(
                    "sort '{other}' is not supported; use created_at, updated_at or name, with '-' for descending"
                )));
            }
        };
        let page_size = self.page_size(params.page_size)?;
        let after = match params.page_token.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => Some(Cursor::decode(token, sort, descending).ok_or_else(|| {
                Error::BadRequest(
                    "page_token is malformed or was issued for a different sort; pass the next_page_token of the \
                     previous page with the same sort"
                        .into(),
                )
            })?),
        };
        Ok(PageRequest {
            sort,
            descending,
            page_size,
            after,
        })
    }
}

impl Services {
    /// A list request's page size: the default when absent, else within the limit.
    pub(crate) fn page_size(&self, requested: Option<u32>) -> Result<u32> {
        let max = self.config.limits.max_page_size;
        let page_size = requested.unwrap_or(DEFAULT_PAGE_SIZE.min(max));
        if page_size == 0 || page_size > max {
            return Err(Error::BadRequest(format!(
                "page_size must be between 1 and {max} (limits.max_page_size)"
            )));
        }
        Ok(page_size)
    }
}

/// Parses a `status` list filter.
pub(crate) fn status_filter<T: ets_domain::status::NamedStatus>(
    status: Option<&str>,
) -> Result<Option<T>> {
    status
        .map(|s| {
            T::parse_name(s).ok_or_else(|| {
                Error::BadRequest(format!("status '{s}' is not one of {}", T::all_names()))
            })
        })
        .transpose()
}

/// Parses a `tag` list filter: `key` (has the tag) or `key:value`.
pub fn parse_tag_filter(tag: Option<&str>) -> Option<TagFilter> {
    let tag = tag?;
    Some(match tag.split_once(':') {
        Some((key, value)) => TagFilter {
            key: key.to_owned(),
            value: Some(value.to_owned()),
        },
        None => TagFilter {
            key: tag.to_owned(),
            value: None,
        },
    })
}

/// Validates a tag map's keys and values.
pub(crate) fn validate_tags<'a>(
    field: &str,
    tags: impl IntoIterator<Item = (&'a String, Option<&'a String>)>,
) -> Result<()> {
    for (key, value) in tags {
        validate::key(&format!("{field}.{key}"), key)?;
        if let Some(value) = value {
            validate::tag_value(&format!("{field}.{key}"), value)?;
        }
    }
    Ok(())
}

/// Applies a tag patch: a value sets, `None` removes.
pub(crate) fn apply_tag_patch(tags: &mut Tags, patch: &ets_domain::model::TagPatch) {
    for (key, value) in patch {
        match value {
            Some(value) => tags.insert(key.clone(), value.clone()),
            None => tags.remove(key),
        };
    }
}

/// Validates an optional free-text field.
pub(crate) fn validate_description(field: &str, value: Option<&String>) -> Result<()> {
    if let Some(value) = value {
        validate::description(field, value)?;
    }
    Ok(())
}
