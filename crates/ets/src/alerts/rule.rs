//! What an alert rule watches and when it breaches, as pure functions: the engine
//! (`alerts::engine`) reads the run and calls [`Check::observe`].
//!
//! A rule is stored as its [`RuleSpec`] (the request's fields, JSON in `alert_rules.spec`) and
//! checked into a [`Check`] once; a stored spec always checks (it was checked when saved).

use ets_domain::model::{MetricPoint, MetricSummary};
use ets_domain::status::RunStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Largest `window_steps`: a window is read on every evaluation, so it stays small.
pub const MAX_WINDOW_STEPS: u32 = 100_000;
/// Longest `stale_minutes` (30 days).
pub const MAX_STALE_MINUTES: u32 = 43_200;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A metric of the run compared with a threshold.
    Metric,
    /// The run's safety verdict (`GET /api/v1/runs/{id}/safety`) is `fail`.
    SafetyFail,
    /// The run ended `failed`.
    RunFailed,
    /// The run is `running` but has logged nothing for `stale_minutes`.
    RunStale,
}

/// How a metric rule reduces the metric to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// The latest value (MLflow's rule: greatest step, then timestamp).
    #[default]
    Last,
    /// Over the last `window_steps` steps, or the whole series without a window.
    Min,
    Max,
    /// Over the last `window_steps` steps (required).
    Mean,
}

/// A comparison of the observed value with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Comparator {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Comparator {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Eq => "==",
            Comparator::Ne => "!=",
        }
    }

    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparator::Gt => value > threshold,
            Comparator::Ge => value >= threshold,
            Comparator::Lt => value < threshold,
            Comparator::Le => value <= threshold,
            Comparator::Eq => value == threshold,
            Comparator::Ne => value != threshold,
        }
    }
}

/// A rule's condition as given and stored; which fields apply depends on `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleSpec {
    pub kind: RuleKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<Aggregation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Comparator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_minutes: Option<u32>,
}

/// A checked rule condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Metric {
        key: String,
        aggregation: Aggregation,
        window_steps: Option<u32>,
        comparator: Comparator,
        threshold: f64,
    },
    SafetyFail,
    RunFailed,
    RunStale {
        minutes: u32,
    },
}

/// A refused field and what to do about it.
pub type Refusal = (&'static str, String);

impl RuleSpec {
    /// Checks that the fields `kind` needs are there and sensible, and that no field of
    /// another kind is given (a typo would otherwise be a rule that never fires).
    pub fn check(&self) -> Result<Check, Refusal> {
        let foreign = |fields: &[(&'static str, bool)]| -> Result<(), Refusal> {
            match fields.iter().find(|(_, given)| *given) {
                Some((field, _)) => Err((
                    *field,
                    format!(
                        "does not apply to a '{}' rule; remove it",
                        kind_name(self.kind)
                    ),
                )),
                None => Ok(()),
            }
        };
        let metric_fields = [
            ("metric", self.metric.is_some()),
            ("aggregation", self.aggregation.is_some()),
            ("window_steps", self.window_steps.is_some()),
            ("condition", self.condition.is_some()),
            ("threshold", self.threshold.is_some()),
        ];
        match self.kind {
            RuleKind::Metric => {
                foreign(&[("stale_minutes", self.stale_minutes.is_some())])?;
                let key = self.metric.clone().ok_or((
                    "metric",
                    "a metric rule names the metric key to watch, e.g. \"loss\"".to_owned(),
                ))?;
                ets_domain::validate::key("metric", &key).map_err(|e| ("metric", e.message))?;
                let comparator = self
                    .condition
                    .ok_or(("condition", "give one of >, >=, <, <=, ==, !=".to_owned()))?;
                let threshold = self
                    .threshold
                    .ok_or(("threshold", "give the number to compare with".to_owned()))?;
                if !threshold.is_finite() {
                    return Err(("threshold", "must be a finite number".to_owned()));
                }
                let aggregation = self.aggregation.unwrap_or_default();
                match (aggregation, self.window_steps) {
                    (_, Some(0)) => {
                        return Err(("window_steps", "must be at least 1".to_owned()));
                    }
                    (_, Some(w)) if w > MAX_WINDOW_STEPS => {
                        return Err((
                            "window_steps",
                            format!("must be at most {MAX_WINDOW_STEPS}"),
                        ));
                    }
                    (Aggregation::Last, Some(_)) => {
                        return Err((
                            "window_steps",
                            "does not apply to aggregation 'last'; use min, max or mean".to_owned(),
                        ));
                    }
                    (Aggregation::Mean, None) => {
                        return Err((
                            "window_steps",
                            "a mean is taken over a window: give the number of latest steps"
                                .to_owned(),
                        ));
                    }
                    _ => {}
                }
                Ok(Check::Metric {
                    key,
                    aggregation,
                    window_steps: self.window_steps,
                    comparator,
                    threshold,
                })
            }
            RuleKind::RunStale => {
                foreign(&metric_fields)?;
                let minutes = self.stale_minutes.ok_or((
                    "stale_minutes",
                    "a run_stale rule says after how many minutes without data a running run \
                     is stale"
                        .to_owned(),
                ))?;
                if minutes == 0 || minutes > MAX_STALE_MINUTES {
                    return Err((
                        "stale_minutes",
                        format!("must be between 1 and {MAX_STALE_MINUTES}"),
                    ));
                }
                Ok(Check::RunStale { minutes })
            }
            RuleKind::SafetyFail | RuleKind::RunFailed => {
                foreign(&metric_fields)?;
                foreign(&[("stale_minutes", self.stale_minutes.is_some())])?;
                Ok(if self.kind == RuleKind::SafetyFail {
                    Check::SafetyFail
                } else {
                    Check::RunFailed
                })
            }
        }
    }
}

fn kind_name(kind: RuleKind) -> &'static str {
    match kind {
        RuleKind::Metric => "metric",
        RuleKind::SafetyFail => "safety_fail",
        RuleKind::RunFailed => "run_failed",
        RuleKind::RunStale => "run_stale",
    }
}

/// What a check found on a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Nothing to judge (the metric was never logged, no evaluation counts).
    Unknown,
    /// The condition does not hold.
    Clear,
    /// The condition holds: the value seen (if any) and a sentence saying why.
    Breach { value: Option<f64>, message: String },
}

/// The state of a run a check looks at.
pub struct RunState<'a> {
    pub status: RunStatus,
    /// Last activity (epoch ms): logging data moves it.
    pub updated_at: i64,
    pub metrics: &'a [MetricSummary],
}

impl Check {
    /// The step range of the metric a windowed check must read beyond the run's summaries:
    /// `(key, first step)`; `None` when the summaries are enough (or the metric is absent).
    pub fn window<'a>(&'a self, run: &RunState<'_>) -> Option<(&'a str, i64)> {
        match self {
            Check::Metric {
                key,
                window_steps: Some(w),
                ..
            } => {
                let summary = run.metrics.iter().find(|m| &m.key == key)?;
                Some((key, summary.last_step.saturating_sub(i64::from(*w) - 1)))
            }
            _ => None,
        }
    }

    /// Judges the run. `window` holds the points [`Check::window`] asked for; `safety_failed`
    /// gives the run's safety failure, if any (a sentence), and is called only by safety rules.
    pub fn observe(
        &self,
        run: &RunState<'_>,
        window: Option<&[MetricPoint]>,
        safety_failed: impl FnOnce() -> Option<Option<String>>,
        now: i64,
    ) -> Observed {
        match self {
            Check::Metric {
                key,
                aggregation,
                window_steps,
                comparator,
                threshold,
            } => {
                let Some(summary) = run.metrics.iter().find(|m| &m.key == key) else {
                    return Observed::Unknown;
                };
                let value = match (aggregation, window_steps) {
                    (Aggregation::Last, _) => Some(summary.last_value),
                    (Aggregation::Min, None) => summary.min,
                    (Aggregation::Max, None) => summary.max,
                    (aggregation, Some(_)) => window.and_then(|p| aggregate(*aggregation, p)),
                    (Aggregation::Mean, None) => None, // refused by `check`
                };
                let Some(value) = value else {
                    return Observed::Unknown;
                };
                let described = match (aggregation, window_steps) {
                    (Aggregation::Last, _) => format!("{key} is {value}"),
                    (a, None) => format!("{key} {} is {value}", aggregation_name(*a)),
                    (a, Some(w)) => format!(
                        "{key} {} over the last {w} steps is {value}",
                        aggregation_name(*a)
                    ),
                };
                // A diverged metric must not be silent: NaN compares false with everything.
                if value.is_nan() {
                    return Observed::Breach {
                        value: None,
                        message: format!("{described} (not a number)"),
                    };
                }
                if comparator.holds(value, *threshold) {
                    Observed::Breach {
                        value: Some(value),
                        message: format!("{described}, {} {threshold}", comparator.as_str()),
                    }
                } else {
                    Observed::Clear
                }
            }
            Check::RunFailed => {
                if run.status == RunStatus::Failed {
                    Observed::Breach {
                        value: None,
                        message: "the run failed".to_owned(),
                    }
                } else {
                    Observed::Clear
                }
            }
            Check::RunStale { minutes } => {
                let idle_ms = now.saturating_sub(run.updated_at);
                if run.status == RunStatus::Running && idle_ms > i64::from(*minutes) * 60_000 {
                    Observed::Breach {
                        value: Some(idle_ms as f64 / 60_000.0),
                        message: format!(
                            "the run is running but has logged nothing for {} minutes (limit {minutes})",
                            idle_ms / 60_000
                        ),
                    }
                } else {
                    Observed::Clear
                }
            }
            Check::SafetyFail => match safety_failed() {
                None => Observed::Unknown,
                Some(None) => Observed::Clear,
                Some(Some(reason)) => Observed::Breach {
                    value: None,
                    message: format!("safety verdict fail: {reason}"),
                },
            },
        }
    }
}

fn aggregation_name(aggregation: Aggregation) -> &'static str {
    match aggregation {
        Aggregation::Last => "last",
        Aggregation::Min => "min",
        Aggregation::Max => "max",
        Aggregation::Mean => "mean",
    }
}

/// Min, max or mean of the points' values; NaN values are skipped by min and max (as the
/// summaries do) and make the mean NaN. `None` without points.
fn aggregate(aggregation: Aggregation, points: &[MetricPoint]) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let finite = || points.iter().map(|p| p.value).filter(|v| !v.is_nan());
    match aggregation {
        Aggregation::Last => points.last().map(|p| p.value),
        Aggregation::Min => finite().reduce(f64::min),
        Aggregation::Max => finite().reduce(f64::max),
        Aggregation::Mean => {
            Some(points.iter().map(|p| p.value).sum::<f64>() / points.len() as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> RuleSpec {
        serde_json::from_value(json).expect("a spec")
    }

    fn summary(key: &str, last: f64, last_step: i64, min: f64, max: f64) -> MetricSummary {
        MetricSummary {
            key: key.to_owned(),
            last_value: last,
            last_step,
            last_timestamp: 0,
            min: Some(min),
            max: Some(max),
            count: 10,
        }
    }

    fn running(metrics: &[MetricSummary]) -> RunState<'_> {
        RunState {
            status: RunStatus::Running,
            updated_at: 0,
            metrics,
        }
    }

    fn no_safety() -> Option<Option<String>> {
        None
    }

    #[test]
    fn a_metric_rule_compares_the_latest_value_by_default() {
        let check = spec(serde_json::json!({"kind": "metric", "metric": "loss", "condition": ">", "threshold": 5.0}))
            .check()
            .unwrap();
        let high = [summary("loss", 7.5, 3, 1.0, 7.5)];
        assert_eq!(
            check.observe(&running(&high), None, no_safety, 0),
            Observed::Breach {
                value: Some(7.5),
                message: "loss is 7.5, > 5".to_owned()
            }
        );
        let low = [summary("loss", 5.0, 3, 1.0, 9.0)];
        assert_eq!(
            check.observe(&running(&low), None, no_safety, 0),
            Observed::Clear
        );
        assert_eq!(
            check.observe(&running(&[]), None, no_safety, 0),
            Observed::Unknown
        );
        let nan = [summary("loss", f64::NAN, 3, 1.0, 2.0)];
        assert!(matches!(
            check.observe(&running(&nan), None, no_safety, 0),
            Observed::Breach { value: None, .. }
        ));
    }

    #[test]
    fn windowed_aggregations_read_the_last_steps() {
        let check = spec(
            serde_json::json!({"kind": "metric", "metric": "acc", "aggregation": "mean",
            "window_steps": 3, "condition": "<", "threshold": 0.5}),
        )
        .check()
        .unwrap();
        let metrics = [summary("acc", 0.2, 10, 0.1, 0.9)];
        let run = running(&metrics);
        assert_eq!(check.window(&run), Some(("acc", 8)));
        let points: Vec<MetricPoint> = [(8, 0.9), (9, 0.3), (10, 0.2)]
            .iter()
            .map(|&(step, value)| MetricPoint {
                step,
                timestamp: 0,
                value,
            })
            .collect();
        // (0.9 + 0.3 + 0.2) / 3 = 0.4667 < 0.5
        assert!(matches!(
            check.observe(&run, Some(&points), no_safety, 0),
            Observed::Breach { value: Some(v), .. } if (v - 1.4 / 3.0).abs() < 1e-12
        ));
        let whole_max = spec(
            serde_json::json!({"kind": "metric", "metric": "acc", "aggregation": "max",
            "condition": ">=", "threshold": 0.9}),
        )
        .check()
        .unwrap();
        assert_eq!(whole_max.window(&run), None);
        assert!(matches!(
            whole_max.observe(&run, None, no_safety, 0),
            Observed::Breach { value: Some(v), .. } if v == 0.9
        ));
    }

    #[test]
    fn stale_and_failed_runs() {
        let stale = spec(serde_json::json!({"kind": "run_stale", "stale_minutes": 30}))
            .check()
            .unwrap();
        let run = RunState {
            status: RunStatus::Running,
            updated_at: 0,
            metrics: &[],
        };
        assert_eq!(
            stale.observe(&run, None, no_safety, 30 * 60_000),
            Observed::Clear
        );
        assert!(matches!(
            stale.observe(&run, None, no_safety, 31 * 60_000),
            Observed::Breach { .. }
        ));
        let finished = RunState {
            status: RunStatus::Finished,
            ..run
        };
        assert_eq!(
            stale.observe(&finished, None, no_safety, 99 * 60_000),
            Observed::Clear
        );
        let failed_rule = spec(serde_json::json!({"kind": "run_failed"}))
            .check()
            .unwrap();
        let failed = RunState {
            status: RunStatus::Failed,
            updated_at: 0,
            metrics: &[],
        };
        assert!(matches!(
            failed_rule.observe(&failed, None, no_safety, 0),
            Observed::Breach { .. }
        ));
    }

    #[test]
    fn safety_rules_fire_on_a_failed_verdict_only() {
        let check = spec(serde_json::json!({"kind": "safety_fail"}))
            .check()
            .unwrap();
        let run = running(&[]);
        assert_eq!(check.observe(&run, None, || None, 0), Observed::Unknown);
        assert_eq!(check.observe(&run, None, || Some(None), 0), Observed::Clear);
        assert_eq!(
            check.observe(&run, None, || Some(Some("x".into())), 0),
            Observed::Breach {
                value: None,
                message: "safety verdict fail: x".into()
            }
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let refused = |json: serde_json::Value| spec(json).check().unwrap_err().0;
        assert_eq!(
            refused(serde_json::json!({"kind": "metric", "condition": ">", "threshold": 1})),
            "metric"
        );
        assert_eq!(
            refused(serde_json::json!({"kind": "metric", "metric": "l", "threshold": 1})),
            "condition"
        );
        assert_eq!(
            refused(serde_json::json!({"kind": "metric", "metric": "l", "condition": ">"})),
            "threshold"
        );
        assert_eq!(
            refused(
                serde_json::json!({"kind": "metric", "metric": "l", "condition": ">",
                "threshold": 1, "aggregation": "mean"})
            ),
            "window_steps"
        );
        assert_eq!(
            refused(
                serde_json::json!({"kind": "metric", "metric": "l", "condition": ">",
                "threshold": 1, "window_steps": 5})
            ),
            "window_steps"
        );
        assert_eq!(
            refused(serde_json::json!({"kind": "run_failed", "threshold": 1})),
            "threshold"
        );
        assert_eq!(
            refused(serde_json::json!({"kind": "run_stale"})),
            "stale_minutes"
        );
        assert_eq!(
            refused(
                serde_json::json!({"kind": "metric", "metric": "l", "condition": ">",
                "threshold": 1, "stale_minutes": 3})
            ),
            "stale_minutes"
        );
    }
}
