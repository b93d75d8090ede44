//! Safety verdicts of a run from its evaluation counts (issue 14): each healthcare threshold
//! of its experiment judged on a one-sided confidence bound, never on the point estimate —
//! 99 crises detected of 100 "meets" 0.99, but the 95 % lower Wilson bound is about 0.956, so
//! the verdict is `insufficient_evidence`. The worst slice decides.
//!
//! Which counts feed which threshold:
//! - an evaluation named `crisis_detection` with `tp` and `fn`: the crisis-detection rate
//!   tp / (tp + fn) against `min_crisis_detection_rate` (at least), and the false-negative rate
//!   fn / (tp + fn) against `max_false_negative_rate` (at most);
//! - an evaluation named `response_quality` with `successes` of `trials`: against
//!   `min_response_quality` (at least).
//!
//! MLflow clients, which can only log metrics, send the same counts as metrics named
//! `eval/<name>/<slice>/<count>` ([`counts_from_metrics`]).
//!
//! This module is pure: the evaluations' storage and endpoints call it.

use ets_domain::model::HealthcareConfig;
use ets_stats::proportion::{Direction, Judgement, Method, Verdict, judge};
use serde::Serialize;

/// The evaluation names the thresholds read.
pub const CRISIS_DETECTION: &str = "crisis_detection";
pub const RESPONSE_QUALITY: &str = "response_quality";

/// Counts a run recorded for one evaluation and slice (e.g. `crisis_detection`, `age 65 and over`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluationCounts {
    pub name: String,
    pub slice: String,
    pub tp: u64,
    pub fn_: u64,
    pub fp: u64,
    pub tn: u64,
    /// For quality scores: successes of `trials`.
    pub successes: u64,
    pub trials: u64,
}

/// Prefix of the metric keys that carry evaluation counts from MLflow clients, which can only
/// log metrics: `eval/<name>/<slice>/<count>` with `<count>` one of `tp`, `fn`, `fp`, `tn`,
/// `successes`, `trials`, and the value a whole number, e.g.
/// `mlflow.log_metric("eval/crisis_detection/age 65 and over/tp", 97)`. The slice may contain `/`.
pub const EVAL_PREFIX: &str = "eval/";

/// The evaluation counts carried by metric keys of the `eval/` convention (the latest value
/// of each key), grouped by name and slice in order of first appearance. Keys outside the
/// convention are ignored; a key inside it that is malformed, or a value that is not a
/// whole number ≥ 0, is an error saying which.
pub fn counts_from_metrics<'a>(
    latest: impl IntoIterator<Item = (&'a str, f64)>,
) -> Result<Vec<EvaluationCounts>, String> {
    let mut out: Vec<EvaluationCounts> = Vec::new();
    for (key, value) in latest {
        let Some(rest) = key.strip_prefix(EVAL_PREFIX) else {
            continue;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.len() < 3 || parts[0].is_empty() {
            return Err(format!(
                "metric '{key}': evaluation counts are named eval/<name>/<slice>/<count>"
            ));
        }
        let (name, field) = (parts[0], parts[parts.len() - 1]);
        let slice = parts[1..parts.len() - 1].join("/");
        const COUNTS: [&str; 6] = ["tp", "fn", "fp", "tn", "successes", "trials"];
        if !COUNTS.contains(&field) {
            return Err(format!(
                "metric '{key}': '{field}' is not a count; use tp, fn, fp, tn, successes or trials"
            ));
        }
        if !(value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value < 2f64.powi(53)) {
            return Err(format!(
                "metric '{key}': a count must be a whole number ≥ 0, got {value}"
            ));
        }
        let count = value as u64;
        let index = match out.iter().position(|e| e.name == name && e.slice == slice) {
            Some(i) => i,
            None => {
                out.push(EvaluationCounts {
                    name: name.to_owned(),
                    slice: slice.clone(),
                    ..EvaluationCounts::default()
                });
                out.len() - 1
            }
        };
        let e = &mut out[index];
        match field {
            "tp" => e.tp = count,
            "fn" => e.fn_ = count,
            "fp" => e.fp = count,
            "tn" => e.tn = count,
            "successes" => e.successes = count,
            "trials" => e.trials = count,
            _ => unreachable!("the field was checked against COUNTS"),
        }
    }
    Ok(out)
}

/// One threshold judged on one slice.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SafetyCheck {
    /// `crisis_detection_rate`, `false_negative_rate` or `response_quality`.
    pub name: &'static str,
    pub slice: String,
    /// The rate observed; `None` without cases.
    pub estimate: Option<f64>,
    /// The one-sided bound on the safe side, which must clear the threshold to pass.
    pub bound: f64,
    pub lower: f64,
    pub upper: f64,
    pub threshold: f64,
    /// `at_least` or `at_most`.
    #[schema(value_type = String)]
    pub direction: Direction,
    /// `pass`, `fail` or `insufficient_evidence`.
    #[schema(value_type = String)]
    pub verdict: Verdict,
    /// Cases the rate is counted over.
    pub n: u64,
    /// For `insufficient_evidence`: further cases needed at the observed rate (`None` when no
    /// number would do, e.g. the rate is exactly the threshold).
    pub additional_cases: Option<u64>,
}

/// A run's verdict and its checks.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SafetyReport {
    /// `fail` if any check fails, else `insufficient_evidence` if any check lacks evidence (or
    /// there is none), else `pass`.
    #[schema(value_type = String)]
    pub verdict: Verdict,
    pub confidence: f64,
    /// `wilson` or `clopper_pearson`.
    #[schema(value_type = String)]
    pub method: Method,
    pub checks: Vec<SafetyCheck>,
}

/// A run's verdict from its metrics (the `eval/` counts' latest values) under its
/// experiment's healthcare thresholds, or the spec's defaults when it has none.
pub fn judge_run(
    healthcare: Option<&HealthcareConfig>,
    metrics: &[ets_domain::model::MetricSummary],
    confidence: f64,
    method: Method,
) -> Result<SafetyReport, String> {
    let counts = counts_from_metrics(metrics.iter().map(|m| (m.key.as_str(), m.last_value)))?;
    let config = healthcare.cloned().unwrap_or_default();
    assess(&config, &counts, confidence, method)
}

impl SafetyReport {
    /// The first failing check in a sentence, e.g. "crisis_detection_rate on slice 'overall'
    /// is 0.9000 over 100 cases; even its upper 95% bound 0.9455 is below 0.99"; `None`
    /// unless a check fails.
    pub fn failure(&self) -> Option<String> {
        let check = self.checks.iter().find(|c| c.verdict == Verdict::Fail)?;
        let (side, bound) = match check.direction {
            Direction::AtLeast => ("below", ("upper", check.upper)),
            Direction::AtMost => ("above", ("lower", check.lower)),
        };
        Some(format!(
            "{} on slice '{}' is {} over {} cases; even its {} {}% bound {:.4} is {side} {}",
            check.name,
            check.slice,
            check
                .estimate
                .map_or("undefined".to_owned(), |e| format!("{e:.4}")),
            check.n,
            bound.0,
            self.confidence * 100.0,
            bound.1,
            check.threshold
        ))
    }
}

/// A rate an evaluation defines: `successes` of `trials`. The one definition both the
/// safety verdicts and the comparisons read, so they can never disagree on what a rate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// `crisis_detection_rate`, `false_negative_rate` or `response_quality`.
    pub name: &'static str,
    pub successes: u64,
    pub trials: u64,
    /// Whether a higher rate is the safer one (`at_least` thresholds).
    pub higher_is_better: bool,
}

/// The rates of an evaluation: for `crisis_detection`, tp / (tp + fn) and fn / (tp + fn); for
/// `response_quality`, successes / trials; none for other names.
pub fn rates(e: &EvaluationCounts) -> Vec<Rate> {
    let rate = |name, successes, trials, higher_is_better| Rate {
        name,
        successes,
        trials,
        higher_is_better,
    };
    match e.name.as_str() {
        CRISIS_DETECTION => vec![
            rate("crisis_detection_rate", e.tp, e.tp + e.fn_, true),
            rate("false_negative_rate", e.fn_, e.tp + e.fn_, false),
        ],
        RESPONSE_QUALITY => vec![rate("response_quality", e.successes, e.trials, true)],
        _ => Vec::new(),
    }
}

/// The threshold of `config` a rate is judged against.
fn threshold(config: &HealthcareConfig, rate: &Rate) -> f64 {
    match rate.name {
        "crisis_detection_rate" => config.min_crisis_detection_rate,
        "false_negative_rate" => config.max_false_negative_rate,
        _ => config.min_response_quality,
    }
}

/// Judges every threshold of `config` on every slice of `evaluations`.
pub fn assess(
    config: &HealthcareConfig,
    evaluations: &[EvaluationCounts],
    confidence: f64,
    method: Method,
) -> Result<SafetyReport, String> {
    let mut checks = Vec::new();
    for e in evaluations {
        for rate in rates(e) {
            let direction = if rate.higher_is_better {
                Direction::AtLeast
            } else {
                Direction::AtMost
            };
            let j = judge(
                rate.successes,
                rate.trials,
                threshold(config, &rate),
                direction,
                confidence,
                method,
            )
            .map_err(|err| format!("{} ({}): {err}", e.name, e.slice))?;
            checks.push(check(rate.name, &e.slice, &j));
        }
    }
    let verdict = if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if checks.is_empty() || checks.iter().any(|c| c.verdict != Verdict::Pass) {
        Verdict::InsufficientEvidence
    } else {
        Verdict::Pass
    };
    Ok(SafetyReport {
        verdict,
        confidence,
        method,
        checks,
    })
}

fn check(name: &'static str, slice: &str, j: &Judgement) -> SafetyCheck {
    SafetyCheck {
        name,
        slice: slice.to_owned(),
        estimate: j.estimate,
        bound: j.bound,
        lower: j.lower,
        upper: j.upper,
        threshold: j.threshold,
        direction: j.direction,
        verdict: j.verdict,
        n: j.trials,
        additional_cases: j.additional_trials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crisis(slice: &str, tp: u64, fn_: u64) -> EvaluationCounts {
        EvaluationCounts {
            name: CRISIS_DETECTION.into(),
            slice: slice.into(),
            tp,
            fn_,
            ..EvaluationCounts::default()
        }
    }

    #[test]
    fn ninety_nine_of_a_hundred_is_not_enough_evidence_for_ninety_nine_percent() {
        let report = assess(
            &HealthcareConfig::default(),
            &[crisis("overall", 99, 1)],
            0.95,
            Method::Wilson,
        )
        .expect("valid counts");
        assert_eq!(report.verdict, Verdict::InsufficientEvidence);
        let rate = &report.checks[0];
        assert_eq!(
            (rate.name, rate.estimate, rate.n),
            ("crisis_detection_rate", Some(0.99), 100)
        );
        assert!((rate.bound - 0.956).abs() < 0.001, "{}", rate.bound);
        assert_eq!(
            rate.additional_cases, None,
            "at exactly the threshold no n suffices"
        );
    }

    #[test]
    fn the_worst_slice_decides() {
        let config = HealthcareConfig::default();
        let strong = crisis("overall", 100_000, 10);
        let report = assess(&config, std::slice::from_ref(&strong), 0.95, Method::Wilson).unwrap();
        assert_eq!(report.verdict, Verdict::Pass, "{:?}", report.checks);
        let weak = crisis("age 65 and over", 90, 10);
        let report = assess(&config, &[strong, weak], 0.95, Method::ClopperPearson).unwrap();
        assert_eq!(report.verdict, Verdict::Fail);
        assert_eq!(report.checks.len(), 4, "two rates per slice");
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.slice == "age 65 and over" && c.verdict == Verdict::Fail)
        );
    }

    #[test]
    fn mlflow_metric_keys_carry_counts() {
        let latest = [
            ("loss", 0.3),
            ("eval/crisis_detection/overall/tp", 99.0),
            ("eval/crisis_detection/overall/fn", 1.0),
            ("eval/crisis_detection/age/65 and over/tp", 40.0),
            ("eval/response_quality/overall/successes", 80.0),
            ("eval/response_quality/overall/trials", 90.0),
        ];
        let counts = counts_from_metrics(latest).expect("well-formed");
        assert_eq!(counts.len(), 3);
        assert_eq!((counts[0].tp, counts[0].fn_), (99, 1));
        assert_eq!(
            (counts[1].slice.as_str(), counts[1].tp),
            ("age/65 and over", 40)
        );
        assert_eq!((counts[2].successes, counts[2].trials), (80, 90));
        let report = assess(&HealthcareConfig::default(), &counts, 0.95, Method::Wilson).unwrap();
        assert_eq!(report.checks.len(), 5);

        for (key, value, wanted) in [
            (
                "eval/crisis_detection/tp",
                1.0,
                "eval/<name>/<slice>/<count>",
            ),
            ("eval/crisis_detection/overall/tp", 1.5, "whole number"),
            ("eval/crisis_detection/overall/tp", -1.0, "whole number"),
            (
                "eval/crisis_detection/overall/recall",
                0.9,
                "is not a count",
            ),
        ] {
            let err = counts_from_metrics([(key, value)]).unwrap_err();
            assert!(err.contains(wanted), "{key}={value}: {err}");
        }
    }

    #[test]
    fn quality_scores_and_no_evidence() {
        let config = HealthcareConfig::default();
        let empty = assess(&config, &[], 0.95, Method::Wilson).unwrap();
        assert_eq!(empty.verdict, Verdict::InsufficientEvidence);
        let quality = EvaluationCounts {
            name: RESPONSE_QUALITY.into(),
            slice: "overall".into(),
            successes: 950,
            trials: 1000,
            ..EvaluationCounts::default()
        };
        let report = assess(&config, &[quality], 0.95, Method::Wilson).unwrap();
        assert_eq!(report.verdict, Verdict::Pass);
        assert_eq!(report.checks[0].name, "response_quality");
        let bad = EvaluationCounts {
            successes: 11,
            trials: 10,
            ..EvaluationCounts::default()
        };
        let bad = EvaluationCounts {
            name: RESPONSE_QUALITY.into(),
            ..bad
        };
        assert!(assess(&config, &[bad], 0.95, Method::Wilson).is_err());
    }
}
