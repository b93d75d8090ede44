//! Logged models' rules and shapes shared by both backends: the metrics of a page of models
//! and the models runs use and produce (`run_models`).

use std::collections::HashMap;

use ets_domain::model::{LoggedModel, ModelDirection, ModelMetric, RunModel};

use crate::error::{EntityKind, Error, Result};

/// Gives each model its metrics (read for the whole page at once), keeping their order.
pub(crate) fn attach_metrics(models: &mut [LoggedModel], metrics: Vec<ModelMetric>) {
    let index: HashMap<String, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.clone(), i))
        .collect();
    for metric in metrics {
        if let Some(&i) = index.get(&metric.model_id) {
            models[i].metrics.push(metric);
        }
    }
}

/// How `run_models.direction` spells a direction.
pub(crate) fn direction_name(direction: ModelDirection) -> &'static str {
    match direction {
        ModelDirection::Input => "input",
        ModelDirection::Output => "output",
    }
}

/// A `run_models` row: `model_id, direction, step`.
pub(crate) fn run_model(model_id: String, direction: &str, step: Option<i64>) -> RunModel {
    RunModel {
        model_id,
        direction: if direction == "output" {
            ModelDirection::Output
        } else {
            ModelDirection::Input
        },
        step,
    }
}

/// The answer to a link to a model that does not exist (`count` is the models found).
pub(crate) fn check_model_exists(model_id: &str, count: i64) -> Result<()> {
    if count == 0 {
        return Err(Error::not_found(EntityKind::LoggedModel, model_id));
    }
    Ok(())
}
