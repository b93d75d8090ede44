//! Runs and chart inputs for the builders' tests.

use std::collections::HashMap;

use ets_domain::Timestamp;
use ets_domain::model::{Experiment, MetricPoint, MetricSummary, Run};
use ets_domain::status::RunStatus;

use super::{ChartInput, Size};
use crate::spec::ChartSpec;

/// A run named `name` (id `id-<name>`) in experiment `e1`, started at 1 000 000 ms.
pub(crate) fn run(name: &str) -> Run {
    Run {
        id: format!("id-{name}"),
        experiment_id: "e1".into(),
        project_id: "p1".into(),
        name: name.into(),
        description: None,
        owner: None,
        status: RunStatus::Finished,
        parent_run_id: None,
        params: Default::default(),
        tags: Default::default(),
        metrics: Vec::new(),
        created_at: Timestamp(999_000),
        updated_at: Timestamp(999_000),
        started_at: Some(Timestamp(1_000_000)),
        ended_at: None,
        deleted_at: None,
        inputs: Vec::new(),
        models: Vec::new(),
    }
}

/// Adds the summary of `points` (in step order) under `key`.
pub(crate) fn with_series(mut run: Run, key: &str, points: &[MetricPoint]) -> Run {
    let finite = points.iter().map(|p| p.value).filter(|v| !v.is_nan());
    let last = points
        .last()
        .copied()
        .unwrap_or(MetricPoint::new(0, 0, f64::NAN));
    run.metrics.push(MetricSummary {
        key: key.into(),
        last_value: last.value,
        last_step: last.step,
        last_timestamp: last.timestamp,
        min: finite.clone().reduce(f64::min),
        max: finite.reduce(f64::max),
        count: points.len() as i64,
    });
    run
}

/// Adds a metric with a single point of value `value`.
pub(crate) fn with_metric(run: Run, key: &str, value: f64) -> Run {
    with_series(run, key, &[MetricPoint::new(0, 1_000_000, value)])
}

pub(crate) fn with_param(mut run: Run, name: &str, value: serde_json::Value) -> Run {
    run.params.insert(name.into(), value);
    run
}

/// Points `(step, value)` one second apart from 1 000 000 ms.
pub(crate) fn points(values: &[(i64, f64)]) -> Vec<MetricPoint> {
    values
        .iter()
        .map(|&(s, v)| MetricPoint::new(s, 1_000_000 + s * 1000, v))
        .collect()
}

/// Everything a `ChartInput` borrows.
pub(crate) struct Fixture {
    pub spec: ChartSpec,
    pub runs: Vec<Run>,
    pub experiments: HashMap<String, Experiment>,
    pub means: HashMap<(String, String), f64>,
    pub notes: Vec<String>,
    pub size: Size,
}

impl Fixture {
    pub fn new(spec: ChartSpec, runs: Vec<Run>) -> Self {
        Fixture {
            spec,
            runs,
            experiments: HashMap::new(),
            means: HashMap::new(),
            notes: Vec::new(),
            size: Size {
                width: 900,
                height: 500,
                scale: 1.0,
                reduction: crate::m4::Reduction::M4,
            },
        }
    }

    pub fn input(&self) -> ChartInput<'_> {
        ChartInput {
            title: "chart",
            spec: &self.spec,
            runs: &self.runs,
            experiments: &self.experiments,
            means: &self.means,
            size: self.size,
            notes: &self.notes,
        }
    }
}
