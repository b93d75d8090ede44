//! Objectives judged on a run, and a run's overall verdict (issue 14): the experiment's
//! objectives (`[{metric, direction, target, required}]`, or the spec's map form) each yield
//! `met`, `not_met` or `unknown` from the run's latest metric values; a run passes when its
//! safety verdict passes and every required objective is met. Pure: the safety endpoints call
//! it.

use ets_domain::model::{Direction, MetricSummary, Objective};
use ets_stats::proportion::Verdict;
use serde::Serialize;
use utoipa::ToSchema;

/// Whether a run reached an objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveState {
    Met,
    NotMet,
    /// The metric was never logged (or is NaN), or the objective has no target.
    Unknown,
}

/// One objective on one run.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ObjectiveStatus {
    pub metric: String,
    pub direction: Direction,
    pub target: Option<f64>,
    pub required: bool,
    /// The run's latest value of the metric.
    pub value: Option<f64>,
    pub status: ObjectiveState,
}

/// Judges each objective on the run's latest values.
pub fn judge_objectives(
    objectives: &[Objective],
    metrics: &[MetricSummary],
) -> Vec<ObjectiveStatus> {
    objectives
        .iter()
        .map(|objective| {
            let value = metrics
                .iter()
                .find(|m| m.key == objective.metric)
                .map(|m| m.last_value)
                .filter(|v| !v.is_nan());
            let status = match (value, objective.target) {
                (Some(value), Some(target)) => {
                    let met = match objective.direction {
                        Direction::Maximize => value >= target,
                        Direction::Minimize => value <= target,
                    };
                    if met {
                        ObjectiveState::Met
                    } else {
                        ObjectiveState::NotMet
                    }
                }
                _ => ObjectiveState::Unknown,
            };
            ObjectiveStatus {
                metric: objective.metric.clone(),
                direction: objective.direction,
                target: objective.target,
                required: objective.required,
                value,
                status,
            }
        })
        .collect()
}

/// A run's verdict from its safety verdict and its required objectives: `fail` if either
/// fails, `pass` if both pass, else `insufficient_evidence`.
pub fn run_verdict(safety: Verdict, objectives: &[ObjectiveStatus]) -> Verdict {
    let required = || objectives.iter().filter(|o| o.required);
    if safety == Verdict::Fail || required().any(|o| o.status == ObjectiveState::NotMet) {
        Verdict::Fail
    } else if safety == Verdict::Pass && required().all(|o| o.status == ObjectiveState::Met) {
        Verdict::Pass
    } else {
        Verdict::InsufficientEvidence
    }
}

/// An experiment's verdict from its runs': `pass` when some run passes (a candidate meets
/// every requirement), `fail` when every run fails, else `insufficient_evidence` (also
/// without runs).
pub fn experiment_verdict(runs: impl IntoIterator<Item = Verdict>) -> Verdict {
    let (mut any, mut all_fail) = (false, true);
    for verdict in runs {
        any = true;
        if verdict == Verdict::Pass {
            return Verdict::Pass;
        }
        all_fail &= verdict == Verdict::Fail;
    }
    if any && all_fail {
        Verdict::Fail
    } else {
        Verdict::InsufficientEvidence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objective(
        metric: &str,
        direction: Direction,
        target: Option<f64>,
        required: bool,
    ) -> Objective {
        Objective {
            metric: metric.to_owned(),
            direction,
            target,
            required,
        }
    }

    fn latest(key: &str, value: f64) -> MetricSummary {
        MetricSummary {
            key: key.to_owned(),
            last_value: value,
            last_step: 0,
            last_timestamp: 0,
            min: Some(value),
            max: Some(value),
            count: 1,
        }
    }

    #[test]
    fn objectives_are_met_not_met_or_unknown() {
        let objectives = [
            objective("acc", Direction::Maximize, Some(0.9), true),
            objective("loss", Direction::Minimize, Some(0.2), false),
            objective("f1", Direction::Maximize, Some(0.5), true),
            objective("auc", Direction::Maximize, None, false),
        ];
        let metrics = [latest("acc", 0.9), latest("loss", 0.3), latest("auc", 0.7)];
        let states: Vec<ObjectiveState> = judge_objectives(&objectives, &metrics)
            .iter()
            .map(|o| o.status)
            .collect();
        assert_eq!(
            states,
            [
                ObjectiveState::Met,
                ObjectiveState::NotMet,
                ObjectiveState::Unknown,
                ObjectiveState::Unknown
            ]
        );
    }

    #[test]
    fn required_objectives_and_safety_give_the_verdicts() {
        let met = judge_objectives(
            &[objective("acc", Direction::Maximize, Some(0.9), true)],
            &[latest("acc", 0.95)],
        );
        let missed = judge_objectives(
            &[objective("acc", Direction::Maximize, Some(0.9), true)],
            &[latest("acc", 0.5)],
        );
        assert_eq!(run_verdict(Verdict::Pass, &met), Verdict::Pass);
        assert_eq!(run_verdict(Verdict::Pass, &missed), Verdict::Fail);
        assert_eq!(run_verdict(Verdict::Fail, &met), Verdict::Fail);
        assert_eq!(
            run_verdict(Verdict::InsufficientEvidence, &met),
            Verdict::InsufficientEvidence
        );
        assert_eq!(
            run_verdict(
                Verdict::Pass,
                &judge_objectives(
                    &[objective("acc", Direction::Maximize, Some(0.9), true)],
                    &[]
                )
            ),
            Verdict::InsufficientEvidence
        );
        use Verdict::*;
        assert_eq!(experiment_verdict([Fail, Pass]), Pass);
        assert_eq!(experiment_verdict([Fail, Fail]), Fail);
        assert_eq!(
            experiment_verdict([Fail, InsufficientEvidence]),
            InsufficientEvidence
        );
        assert_eq!(experiment_verdict([]), InsufficientEvidence);
    }
}
