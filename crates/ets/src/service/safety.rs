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
//! This module is pure: the evaluations' storage and endpoints call it.

use ets_domain::model::HealthcareConfig;
use ets_stats::proportion::{Direction, Judgement, Method, Verdict, judge};
use serde::Serialize;

/// The evaluation names the thresholds read.
pub const CRISIS_DETECTION: &str = "crisis_detection";
pub const RESPONSE_QUALITY: &str = "response_quality";

/// Counts a run recorded for one evaluation and slice (e.g. `crisis_detection`, `age 65+`).
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

/// One threshold judged on one slice.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub direction: Direction,
    pub verdict: Verdict,
    /// Cases the rate is counted over.
    pub n: u64,
    /// For `insufficient_evidence`: further cases needed at the observed rate (`None` when no
    /// number would do, e.g. the rate is exactly the threshold).
    pub additional_cases: Option<u64>,
}

/// A run's verdict and its checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SafetyReport {
    /// `fail` if any check fails, else `insufficient_evidence` if any check lacks evidence (or
    /// there is none), else `pass`.
    pub verdict: Verdict,
    pub confidence: f64,
    pub method: Method,
    pub checks: Vec<SafetyCheck>,
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
        let rates: Vec<(&'static str, u64, u64, f64, Direction)> = match e.name.as_str() {
            CRISIS_DETECTION => vec![
                (
                    "crisis_detection_rate",
                    e.tp,
                    e.tp + e.fn_,
                    config.min_crisis_detection_rate,
                    Direction::AtLeast,
                ),
                (
                    "false_negative_rate",
                    e.fn_,
                    e.tp + e.fn_,
                    config.max_false_negative_rate,
                    Direction::AtMost,
                ),
            ],
            RESPONSE_QUALITY => vec![(
                "response_quality",
                e.successes,
                e.trials,
                config.min_response_quality,
                Direction::AtLeast,
            )],
            _ => Vec::new(),
        };
        for (name, successes, trials, threshold, direction) in rates {
            let j = judge(successes, trials, threshold, direction, confidence, method)
                .map_err(|err| format!("{} ({}): {err}", e.name, e.slice))?;
            checks.push(check(name, &e.slice, &j));
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
        let weak = crisis("age 65+", 90, 10);
        let report = assess(&config, &[strong, weak], 0.95, Method::ClopperPearson).unwrap();
        assert_eq!(report.verdict, Verdict::Fail);
        assert_eq!(report.checks.len(), 4, "two rates per slice");
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.slice == "age 65+" && c.verdict == Verdict::Fail)
        );
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
