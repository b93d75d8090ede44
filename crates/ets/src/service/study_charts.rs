//! Charts of a study (issue 16): Optuna's study plots as chart templates of the visualization
//! API, drawn from the study's runs (tagged `ets.study_id`). Each is a saved chart that
//! follows the study as it grows: the optimization history (objective per trial number),
//! parallel coordinates (params and objective), and a contour (the two most important params
//! against the objective). Parameter importance itself is `GET /api/v1/studies/{id}/importance`.

use ets_charts::spec::{ChartKind, ChartSpec};
use serde::Deserialize;
use utoipa::ToSchema;

use super::Services;
use super::reports::ChartTemplate;
use super::studies::VALUE_METRIC;
use super::visualizations::{Chart, ChartDefinition};
use crate::actor::Actor;
use crate::error::{EntityKind, Error, Result};

/// Most params a parallel-coordinates chart of a study shows.
const MAX_AXES: usize = 8;

/// The chart templates of studies.
pub fn study_chart_templates() -> Vec<ChartTemplate> {
    vec![
        ChartTemplate {
            name: "optimization_history",
            title: "Optimization history",
            r#type: ChartKind::Scatter,
            description: "The objective of every trial against its number.",
        },
        ChartTemplate {
            name: "parallel_coordinates",
            title: "Parallel coordinates",
            r#type: ChartKind::ParallelCoordinates,
            description: "The search-space params and the objective, one line per trial.",
        },
        ChartTemplate {
            name: "contour",
            title: "Contour",
            r#type: ChartKind::Heatmap,
            description: "The two most important params against the objective (mean per cell).",
        },
    ]
}

/// Body of `POST /api/v1/studies/{id}/charts`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyChartRequest {
    /// `optimization_history`, `parallel_coordinates` or `contour`.
    pub template: String,
    /// Defaults to the template's title and the study's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Which objective (default 0).
    #[serde(default)]
    pub objective: Option<usize>,
}

impl Services {
    /// Saves a chart of the study from one of `study_chart_templates`.
    pub async fn create_study_chart(
        &self,
        actor: &Actor,
        study_id: &str,
        request: StudyChartRequest,
    ) -> Result<Chart> {
        let template = study_chart_templates()
            .into_iter()
            .find(|t| t.name == request.template)
            .ok_or_else(|| Error::not_found(EntityKind::ChartTemplate, &request.template))?;
        let objective = request.objective.unwrap_or(0);
        let importance = self.study_importance(actor, study_id, objective).await?;
        let study = self.store.get_study(study_id).await?;
        let metric = if study.directions.len() > 1 {
            format!("{VALUE_METRIC}_{objective}")
        } else {
            VALUE_METRIC.to_owned()
        };
        // Most important first; params no complete trial has yet keep the space's order.
        let mut params: Vec<String> = importance
            .importances
            .iter()
            .map(|p| p.name.clone())
            .collect();
        if let Some(space) = study.search_space.as_object() {
            params.extend(
                space
                    .keys()
                    .filter(|k| !params.contains(k))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
        let spec = match template.name {
            "optimization_history" => ChartSpec {
                x: Some("tags.ets.trial_number".to_owned()),
                metrics: vec![metric],
                ..ChartSpec::new(ChartKind::Scatter)
            },
            "parallel_coordinates" => ChartSpec {
                params: params.into_iter().take(MAX_AXES).collect(),
                metrics: vec![metric],
                ..ChartSpec::new(ChartKind::ParallelCoordinates)
            },
            _ => {
                if params.len() < 2 {
                    return Err(Error::invalid(
                        "template",
                        "a contour needs a study with at least two params",
                    ));
                }
                ChartSpec {
                    params: params.into_iter().take(2).collect(),
                    metrics: vec![metric],
                    ..ChartSpec::new(ChartKind::Heatmap)
                }
            }
        };
        let escaped = study.id.replace('\'', "''");
        self.create_chart(
            actor,
            ChartDefinition {
                name: request
                    .name
                    .unwrap_or_else(|| format!("{}: {}", study.name, template.title)),
                description: Some(template.description.to_owned()),
                experiment_id: Some(study.experiment_id.clone()),
                run_ids: None,
                filter: Some(format!("tags.`ets.study_id` = '{escaped}'")),
                snapshot: false,
                spec,
            },
        )
        .await
    }
}
