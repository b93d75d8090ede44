//! Saved charts and dashboards: create, read, change, delete. A chart is a saved, typed query
//! plus presentation; drawing it (`service::charts`) reads the runs' current data, unless the
//! chart was saved as a snapshot.

use ets_charts::Figure;
use ets_charts::spec::ChartSpec;
use ets_domain::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Services;
use crate::actor::Actor;
use crate::error::{EntityKind, Error, Result};
use crate::store::{ViewKind, ViewQuery, ViewRecord};

/// Longest chart or dashboard name.
const MAX_NAME_CHARS: usize = 256;
/// Most run ids a chart may name.
pub const MAX_CHART_RUN_IDS: usize = 1000;
/// Most charts on a dashboard.
const MAX_DASHBOARD_CHARTS: usize = 100;
/// Most views a list returns per page.
const MAX_LIST: u32 = 1000;

/// Body of `POST /api/v1/visualizations/charts`: what to show and how.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct ChartDefinition {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The experiment whose runs the chart shows (all of them unless `run_ids` or `filter`
    /// narrow them). Optional when `run_ids` is given.
    #[serde(default)]
    pub experiment_id: Option<String>,
    /// Exactly these runs (they must belong to one project).
    #[serde(default)]
    pub run_ids: Option<Vec<String>>,
    /// Runs matching this filter, in the search language (`metrics.acc > 0.9 and params.opt = 'adam'`).
    #[serde(default)]
    pub filter: Option<String>,
    /// Freeze the data as it is now: later reads show this snapshot, not the runs' current data.
    #[serde(default)]
    pub snapshot: bool,
    #[serde(flatten)]
    pub spec: ChartSpec,
}

/// serde's `flatten` lets unknown fields through; this reads the chart's own fields, then the
/// rest as a [`ChartSpec`], which refuses any field it does not know (a misspelt option must
/// not be silently ignored).
impl TryFrom<serde_json::Map<String, serde_json::Value>> for ChartDefinition {
    type Error = String;

    fn try_from(
        mut fields: serde_json::Map<String, serde_json::Value>,
    ) -> std::result::Result<Self, String> {
        fn take<T: serde::de::DeserializeOwned>(
            fields: &mut serde_json::Map<String, serde_json::Value>,
            name: &str,
        ) -> std::result::Result<Option<T>, String> {
            match fields.remove(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(value) => serde_json::from_value(value)
                    .map(Some)
                    .map_err(|e| format!("{name}: {e}")),
            }
        }
        let name = take(&mut fields, "name")?.ok_or("missing field `name`")?;
        let description = take(&mut fields, "description")?;
        let experiment_id = take(&mut fields, "experiment_id")?;
        let run_ids = take(&mut fields, "run_ids")?;
        let filter = take(&mut fields, "filter")?;
        let snapshot = take(&mut fields, "snapshot")?.unwrap_or(false);
        let spec = serde_json::from_value(fields.into()).map_err(|e| e.to_string())?;
        Ok(ChartDefinition {
            name,
            description,
            experiment_id,
            run_ids,
            filter,
            snapshot,
            spec,
        })
    }
}

/// A saved chart.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Chart {
    pub id: String,
    pub project_id: String,
    #[serde(flatten)]
    pub definition: ChartDefinition,
    /// When the snapshot was taken (charts saved with `snapshot`).
    pub snapshot_at: Option<Timestamp>,
    pub created_by: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a chart record keeps in its `body`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChartBody {
    pub spec: ChartSpec,
    pub run_ids: Option<Vec<String>>,
    pub filter: Option<String>,
    /// The experiments the chart's runs come from.
    pub experiment_ids: Vec<String>,
    pub snapshot: Option<Snapshot>,
}

/// A frozen figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub at: i64,
    pub figure: Figure,
}

/// A chart as the service works with it.
#[derive(Debug, Clone)]
pub(crate) struct SavedChart {
    pub record: ViewRecord,
    pub body: ChartBody,
}

impl SavedChart {
    pub(crate) fn parse(record: ViewRecord) -> Result<Self> {
        let body = serde_json::from_value(record.body.clone()).map_err(|e| {
            Error::internal(format!("chart '{}' is stored unreadably: {e}", record.id))
        })?;
        Ok(SavedChart { record, body })
    }

    pub(crate) fn view(&self) -> Chart {
        let r = &self.record;
        Chart {
            id: r.id.clone(),
            project_id: r.project_id.clone(),
            definition: ChartDefinition {
                name: r.name.clone(),
                description: r.description.clone(),
                experiment_id: r.experiment_id.clone(),
                run_ids: self.body.run_ids.clone(),
                filter: self.body.filter.clone(),
                snapshot: self.body.snapshot.is_some(),
                spec: self.body.spec.clone(),
            },
            snapshot_at: self.body.snapshot.as_ref().map(|s| Timestamp(s.at)),
            created_by: r.created_by.clone(),
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

/// Body of `POST /api/v1/visualizations/dashboards`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DashboardDefinition {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Chart ids, in display order; all in one project.
    #[serde(default)]
    pub charts: Vec<String>,
    /// Makes it the experiment's dashboard (its report shows these charts).
    #[serde(default)]
    pub experiment_id: Option<String>,
    /// Charts per row in the UI and the HTML report (1–4, default 2).
    #[serde(default = "default_columns")]
    pub columns: u8,
}

fn default_columns() -> u8 {
    2
}

/// Body of `PATCH /api/v1/visualizations/dashboards/{id}`: fields to change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DashboardPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub charts: Option<Vec<String>>,
    #[serde(default)]
    pub columns: Option<u8>,
}

/// A saved dashboard with its charts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Dashboard {
    pub id: String,
    pub project_id: String,
    pub experiment_id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub columns: u8,
    /// The charts, in display order.
    pub charts: Vec<Chart>,
    pub created_by: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ViewList<T> {
    pub items: Vec<T>,
    /// Pass as `page_token` for the next page; absent on the last page.
    pub next_page_token: Option<String>,
}

/// Filters of the chart and dashboard lists.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct ViewListParams {
    pub project_id: Option<String>,
    pub experiment_id: Option<String>,
    /// 1–1000, default 100.
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

fn check_name(name: &str, what: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::BadRequest(format!("{what} name must not be empty")));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::BadRequest(format!(
            "{what} name is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

impl Services {
    /// Checks a chart definition and finds its project and experiments (the caller must be
    /// an editor there).
    async fn place_chart(
        &self,
        actor: &Actor,
        definition: &ChartDefinition,
    ) -> Result<(String, Vec<String>)> {
        check_name(&definition.name, "chart")?;
        definition.spec.validate().map_err(Error::BadRequest)?;
        super::search::parse_run_filter(definition.filter.as_deref())?;
        let mut experiment_ids = Vec::new();
        let mut project = None;
        if let Some(experiment_id) = &definition.experiment_id {
            self.authorize(actor, EntityKind::Experiment, experiment_id)
                .await?;
            project = Some(
                self.project_of(EntityKind::Experiment, experiment_id)
                    .await?,
            );
            experiment_ids.push(experiment_id.clone());
        }
        match &definition.run_ids {
            Some(ids) if ids.is_empty() => {
                return Err(Error::BadRequest(
                    "run_ids must not be empty; leave it out to show every run".into(),
                ));
            }
            Some(ids) if ids.len() > MAX_CHART_RUN_IDS => {
                return Err(Error::BadRequest(format!(
                    "a chart names at most {MAX_CHART_RUN_IDS} run ids; use a filter for more"
                )));
            }
            Some(ids) => {
                for id in ids {
                    self.authorize(actor, EntityKind::Run, id).await?;
                    let run_project = self.project_of(EntityKind::Run, id).await?;
                    if project.get_or_insert_with(|| run_project.clone()) != &run_project {
                        return Err(Error::BadRequest(format!(
                            "run '{id}' is in another project than the chart's other runs; a chart shows runs of one project"
                        )));
                    }
                    let run = self.store.get_run(id).await?;
                    if definition
                        .experiment_id
                        .as_ref()
                        .is_some_and(|e| e != &run.experiment_id)
                    {
                        return Err(Error::BadRequest(format!(
                            "run '{id}' is not in experiment '{}'",
                            definition.experiment_id.as_deref().unwrap_or_default()
                        )));
                    }
                    if !experiment_ids.contains(&run.experiment_id) {
                        experiment_ids.push(run.experiment_id);
                    }
                }
            }
            None => {}
        }
        let project = project
            .ok_or_else(|| Error::BadRequest("a chart needs an experiment_id or run_ids".into()))?;
        Ok((project, experiment_ids))
    }

    pub async fn create_chart(&self, actor: &Actor, definition: ChartDefinition) -> Result<Chart> {
        let snapshot = definition.snapshot;
        let mut chart = self.chart_draft(actor, definition).await?;
        if snapshot {
            let figure = self
                .chart_figure(actor, &chart, super::charts::default_size())
                .await?;
            chart.body.snapshot = Some(Snapshot {
                at: chart.record.created_at,
                figure,
            });
        }
        chart.record.body = serde_json::to_value(&chart.body)
            .map_err(|e| Error::internal(format!("chart body: {e}")))?;
        let record = self.store.create_view(chart.record).await?;
        Ok(SavedChart::parse(record)?.view())
    }

    /// The figure of a chart definition, drawn now and not saved (the web UI's scatter and
    /// parallel-coordinates views, or trying a chart out before saving it).
    pub async fn preview_chart(
        &self,
        actor: &Actor,
        definition: ChartDefinition,
        size: ets_charts::build::Size,
    ) -> Result<ets_charts::Figure> {
        let draft = self.chart_draft(actor, definition).await?;
        self.chart_figure(actor, &draft, size).await
    }

    /// A chart as it would be saved (placed and authorized; no snapshot taken, nothing stored).
    async fn chart_draft(&self, actor: &Actor, definition: ChartDefinition) -> Result<SavedChart> {
        let (project_id, experiment_ids) = self.place_chart(actor, &definition).await?;
        let now = Timestamp::now().millis();
        Ok(SavedChart {
            record: ViewRecord {
                id: ets_domain::ids::new_id(),
                kind: ViewKind::Chart,
                project_id,
                experiment_id: definition.experiment_id.clone(),
                name: definition.name.clone(),
                description: definition.description.clone(),
                body: serde_json::Value::Null,
                chart_ids: Vec::new(),
                created_by: actor.user_name().map(str::to_owned),
                created_at: now,
                updated_at: now,
            },
            body: ChartBody {
                spec: definition.spec,
                run_ids: definition.run_ids,
                filter: definition.filter,
                experiment_ids,
                snapshot: None,
            },
        })
    }

    pub(crate) async fn saved_chart(&self, actor: &Actor, id: &str) -> Result<SavedChart> {
        self.authorize(actor, EntityKind::Chart, id).await?;
        SavedChart::parse(self.store.get_view(ViewKind::Chart, id).await?)
    }

    pub async fn get_chart(&self, actor: &Actor, id: &str) -> Result<Chart> {
        Ok(self.saved_chart(actor, id).await?.view())
    }

    /// Changes a chart: `patch` holds the fields of [`ChartDefinition`] to replace; the result
    /// is checked as a new chart would be. `snapshot: true` takes a new snapshot, `false`
    /// makes the chart live again.
    pub async fn update_chart(
        &self,
        actor: &Actor,
        id: &str,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Chart> {
        let current = self.saved_chart(actor, id).await?;
        let mut merged = match serde_json::to_value(current.view().definition) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(Error::internal("chart definition is not an object")),
        };
        if patch
            .get("experiment_id")
            .is_some_and(|e| e.as_str() != current.record.experiment_id.as_deref())
        {
            return Err(Error::BadRequest(
                "experiment_id of a chart cannot change; create a new chart".into(),
            ));
        }
        let retake = patch.get("snapshot") == Some(&serde_json::Value::Bool(true));
        merged.extend(patch);
        let definition: ChartDefinition = serde_json::from_value(merged.into())
            .map_err(|e| Error::BadRequest(format!("chart: {e}")))?;
        let (project_id, experiment_ids) = self.place_chart(actor, &definition).await?;
        if project_id != current.record.project_id {
            return Err(Error::BadRequest(
                "a chart cannot move to another project's runs".into(),
            ));
        }
        let mut body = ChartBody {
            spec: definition.spec.clone(),
            run_ids: definition.run_ids.clone(),
            filter: definition.filter.clone(),
            experiment_ids,
            snapshot: if definition.snapshot {
                current.body.snapshot.clone()
            } else {
                None
            },
        };
        if definition.snapshot && (retake || body.snapshot.is_none()) {
            let draft = SavedChart {
                record: current.record.clone(),
                body: ChartBody {
                    snapshot: None,
                    ..body.clone()
                },
            };
            let figure = self
                .chart_figure(actor, &draft, super::charts::default_size())
                .await?;
            body.snapshot = Some(Snapshot {
                at: Timestamp::now().millis(),
                figure,
            });
        }
        let body =
            serde_json::to_value(&body).map_err(|e| Error::internal(format!("chart body: {e}")))?;
        let now = Timestamp::now().millis();
        let record = self
            .store
            .update_view(
                ViewKind::Chart,
                id,
                Box::new(move |view| {
                    view.name = definition.name;
                    view.description = definition.description;
                    view.body = body;
                    view.updated_at = now;
                    Ok(())
                }),
            )
            .await?;
        Ok(SavedChart::parse(record)?.view())
    }

    pub async fn delete_chart(&self, actor: &Actor, id: &str) -> Result<()> {
        self.authorize(actor, EntityKind::Chart, id).await?;
        self.store.delete_view(ViewKind::Chart, id).await
    }

    /// A page of the views of one kind the caller may see.
    async fn list_view_records(
        &self,
        actor: &Actor,
        kind: ViewKind,
        params: &ViewListParams,
    ) -> Result<(Vec<ViewRecord>, Option<String>)> {
        let limit = params.page_size.unwrap_or(100);
        if !(1..=MAX_LIST).contains(&limit) {
            return Err(Error::BadRequest(format!(
                "page_size must be between 1 and {MAX_LIST}"
            )));
        }
        let mut project_ids = self.visible_projects(actor).await?;
        if let Some(project) = &params.project_id {
            self.authorize_project(actor, project).await?;
            project_ids = Some(vec![project.clone()]);
        }
        if let Some(experiment) = &params.experiment_id {
            self.authorize(actor, EntityKind::Experiment, experiment)
                .await?;
        }
        let after = params
            .page_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(decode_view_token)
            .transpose()?;
        let mut records = self
            .store
            .list_views(ViewQuery {
                kind,
                project_ids,
                experiment_id: params.experiment_id.clone(),
                ids: None,
                after,
                limit: limit + 1,
            })
            .await?;
        let next = (records.len() > limit as usize).then(|| {
            records.truncate(limit as usize);
            let last = &records[records.len() - 1];
            format!("{}:{}", last.created_at, last.id)
        });
        Ok((records, next))
    }

    pub async fn list_charts(
        &self,
        actor: &Actor,
        params: &ViewListParams,
    ) -> Result<ViewList<Chart>> {
        let (records, next_page_token) = self
            .list_view_records(actor, ViewKind::Chart, params)
            .await?;
        let items = records
            .into_iter()
            .map(|r| SavedChart::parse(r).map(|c| c.view()))
            .collect::<Result<_>>()?;
        Ok(ViewList {
            items,
            next_page_token,
        })
    }

    // ---- dashboards

    /// Checks that every chart exists, is visible to the caller and is in `project_id`.
    async fn check_dashboard_charts(
        &self,
        actor: &Actor,
        project_id: &str,
        charts: &[String],
    ) -> Result<()> {
        if charts.len() > MAX_DASHBOARD_CHARTS {
            return Err(Error::BadRequest(format!(
                "a dashboard holds at most {MAX_DASHBOARD_CHARTS} charts"
            )));
        }
        for id in charts {
            self.authorize(actor, EntityKind::Chart, id).await?;
            if self.project_of(EntityKind::Chart, id).await? != project_id {
                return Err(Error::BadRequest(format!(
                    "chart '{id}' is in another project; a dashboard shows charts of one project"
                )));
            }
        }
        Ok(())
    }

    pub async fn create_dashboard(
        &self,
        actor: &Actor,
        definition: DashboardDefinition,
    ) -> Result<Dashboard> {
        check_name(&definition.name, "dashboard")?;
        check_columns(definition.columns)?;
        let project_id = match (&definition.experiment_id, definition.charts.first()) {
            (Some(experiment), _) => {
                self.authorize(actor, EntityKind::Experiment, experiment)
                    .await?;
                self.project_of(EntityKind::Experiment, experiment).await?
            }
            (None, Some(chart)) => {
                self.authorize(actor, EntityKind::Chart, chart).await?;
                self.project_of(EntityKind::Chart, chart).await?
            }
            (None, None) => {
                return Err(Error::BadRequest(
                    "a dashboard needs charts or an experiment_id".into(),
                ));
            }
        };
        self.check_dashboard_charts(actor, &project_id, &definition.charts)
            .await?;
        let now = Timestamp::now().millis();
        let record = self
            .store
            .create_view(ViewRecord {
                id: ets_domain::ids::new_id(),
                kind: ViewKind::Dashboard,
                project_id,
                experiment_id: definition.experiment_id,
                name: definition.name,
                description: definition.description,
                body: serde_json::json!({ "columns": definition.columns }),
                chart_ids: definition.charts,
                created_by: actor.user_name().map(str::to_owned),
                created_at: now,
                updated_at: now,
            })
            .await?;
        self.dashboard_view(record).await
    }

    /// The dashboards with their charts, which are read in one query per 1,000 charts (not
    /// one per chart). The caller has checked the dashboards; their charts are in their
    /// project (checked when they were added), so the same check covers them.
    async fn dashboard_views(&self, records: Vec<ViewRecord>) -> Result<Vec<Dashboard>> {
        let mut ids: Vec<String> = records.iter().flat_map(|r| r.chart_ids.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut charts = std::collections::HashMap::with_capacity(ids.len());
        for batch in ids.chunks(1000) {
            let query = ViewQuery {
                kind: ViewKind::Chart,
                project_ids: None,
                experiment_id: None,
                ids: Some(batch.to_vec()),
                after: None,
                limit: batch.len() as u32,
            };
            for record in self.store.list_views(query).await? {
                charts.insert(record.id.clone(), SavedChart::parse(record)?.view());
            }
        }
        Ok(records
            .into_iter()
            .map(|record| Dashboard {
                columns: record.body["columns"].as_u64().unwrap_or(2) as u8,
                // A chart deleted since the read is gone from the dashboard too.
                charts: record
                    .chart_ids
                    .iter()
                    .filter_map(|id| charts.get(id).cloned())
                    .collect(),
                id: record.id,
                project_id: record.project_id,
                experiment_id: record.experiment_id,
                name: record.name,
                description: record.description,
                created_by: record.created_by,
                created_at: Timestamp(record.created_at),
                updated_at: Timestamp(record.updated_at),
            })
            .collect())
    }

    /// One dashboard with its charts.
    async fn dashboard_view(&self, record: ViewRecord) -> Result<Dashboard> {
        let mut views = self.dashboard_views(vec![record]).await?;
        views
            .pop()
            .ok_or_else(|| Error::internal("a dashboard read came back empty"))
    }

    pub(crate) async fn dashboard_record(&self, actor: &Actor, id: &str) -> Result<ViewRecord> {
        self.authorize(actor, EntityKind::Dashboard, id).await?;
        self.store.get_view(ViewKind::Dashboard, id).await
    }

    pub async fn get_dashboard(&self, actor: &Actor, id: &str) -> Result<Dashboard> {
        let record = self.dashboard_record(actor, id).await?;
        self.dashboard_view(record).await
    }

    pub async fn list_dashboards(
        &self,
        actor: &Actor,
        params: &ViewListParams,
    ) -> Result<ViewList<Dashboard>> {
        let (records, next_page_token) = self
            .list_view_records(actor, ViewKind::Dashboard, params)
            .await?;
        let mut items = Vec::with_capacity(records.len());
        for record in records {
            items.push(self.dashboard_view(record).await?);
        }
        Ok(ViewList {
            items,
            next_page_token,
        })
    }

    pub async fn update_dashboard(
        &self,
        actor: &Actor,
        id: &str,
        patch: DashboardPatch,
    ) -> Result<Dashboard> {
        let current = self.dashboard_record(actor, id).await?;
        if let Some(name) = &patch.name {
            check_name(name, "dashboard")?;
        }
        if let Some(columns) = patch.columns {
            check_columns(columns)?;
        }
        if let Some(charts) = &patch.charts {
            self.check_dashboard_charts(actor, &current.project_id, charts)
                .await?;
        }
        let now = Timestamp::now().millis();
        let record = self
            .store
            .update_view(
                ViewKind::Dashboard,
                id,
                Box::new(move |view| {
                    if let Some(name) = patch.name {
                        view.name = name;
                    }
                    if patch.description.is_some() {
                        view.description = patch.description;
                    }
                    if let Some(charts) = patch.charts {
                        view.chart_ids = charts;
                    }
                    if let Some(columns) = patch.columns {
                        view.body["columns"] = columns.into();
                    }
                    view.updated_at = now;
                    Ok(())
                }),
            )
            .await?;
        self.dashboard_view(record).await
    }

    pub async fn delete_dashboard(&self, actor: &Actor, id: &str) -> Result<()> {
        self.authorize(actor, EntityKind::Dashboard, id).await?;
        self.store.delete_view(ViewKind::Dashboard, id).await
    }
}

fn check_columns(columns: u8) -> Result<()> {
    if (1..=4).contains(&columns) {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "columns must be between 1 and 4, got {columns}"
        )))
    }
}

/// `created_at:id` of the last item of the previous page.
fn decode_view_token(token: &str) -> Result<(i64, String)> {
    token
        .split_once(':')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_owned())))
        .ok_or_else(|| {
            Error::BadRequest(
                "page_token is malformed; pass the next_page_token of the previous page".into(),
            )
        })
}
