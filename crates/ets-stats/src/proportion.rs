//! Confidence bounds for a proportion and the safety verdicts built on them.
//!
//! # Intervals
//! For x successes in n trials and a confidence level c:
//! - [`Method::Wilson`] — the Wilson score interval, computed exactly as
//!   `statsmodels.stats.proportion.proportion_confint(x, n, alpha, method="wilson")`:
//!   z = Φ⁻¹(1 − α/2), centre (p̂ + z²/2n)/(1 + z²/n), half-width
//!   z √(p̂(1−p̂)/n + z²/4n²)/(1 + z²/n). E. B. Wilson, JASA 22 (1927) 209–212.
//! - [`Method::ClopperPearson`] — the exact interval, as `proportion_confint(.., method="beta")`:
//!   lower = Beta⁻¹(α/2; x, n−x+1), upper = Beta⁻¹(1−α/2; x+1, n−x), lower = 0 at x = 0 and
//!   upper = 1 at x = n. Clopper & Pearson, Biometrika 26 (1934) 404–413.
//!
//! [`interval`] is two-sided (α = 1 − c); [`one_sided_bounds`] gives the one-sided lower and
//! upper bounds at level c, i.e. each end of the two-sided interval at α = 2(1 − c). At x = 0 the
//! Wilson lower end and at x = n its upper end are returned as exactly 0 and 1 (statsmodels'
//! formula gives them to within 1e-16).
//!
//! # Verdicts ([`judge`])
//! With L and U the one-sided lower and upper bounds at level c:
//! - threshold is a minimum rate ([`Direction::AtLeast`], e.g. `min_crisis_detection_rate`):
//!   `pass` if L ≥ threshold, `fail` if U < threshold, otherwise `insufficient_evidence`;
//! - threshold is a maximum rate ([`Direction::AtMost`], e.g. `max_false_negative_rate`):
//!   `pass` if U ≤ threshold, `fail` if L > threshold, otherwise `insufficient_evidence`.
//!
//! So a point estimate that meets the threshold is not enough: 99 of 100 against a minimum of
//! 0.99 has L ≈ 0.956 (Wilson, c = 0.95) → `insufficient_evidence`. For an
//! `insufficient_evidence` verdict [`required_trials`] tells how many trials in total would make
//! the verdict `pass` if the observed rate held (the bound evaluated at p̂·N successes of N,
//! a real-valued count; Clopper–Pearson takes real shape parameters) — `None` when no number
//! would (the observed rate itself is on the wrong side of, or at, the threshold).

use serde::{Deserialize, Serialize};

use crate::{StatsError, dist};

/// Which interval the bounds come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Wilson score interval (the default).
    #[default]
    Wilson,
    /// Clopper–Pearson exact interval.
    ClopperPearson,
}

/// Which side of the threshold is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The rate must be at least the threshold (a detection rate, a quality score).
    AtLeast,
    /// The rate must be at most the threshold (a false-negative rate).
    AtMost,
}

/// Outcome of judging a rate against a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The confidence bound on the safe side clears the threshold.
    Pass,
    /// The opposite confidence bound is on the wrong side of the threshold.
    Fail,
    /// Neither: more cases are needed.
    InsufficientEvidence,
}

/// A confidence interval [lower, upper] for a proportion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
}

/// Everything a safety check reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Successes counted (the numerator of the rate).
    pub successes: u64,
    /// Trials (the denominator), the check's n.
    pub trials: u64,
    /// successes / trials; `None` when there are no trials.
    pub estimate: Option<f64>,
    /// One-sided lower bound at `confidence`.
    pub lower: f64,
    /// One-sided upper bound at `confidence`.
    pub upper: f64,
    /// The bound on the safe side (`lower` for `AtLeast`, `upper` for `AtMost`).
    pub bound: f64,
    /// The threshold judged against.
    pub threshold: f64,
    /// Which side of the threshold is safe.
    pub direction: Direction,
    /// Interval method.
    pub method: Method,
    /// Confidence level of each one-sided bound.
    pub confidence: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Total trials that would give `pass` at the observed rate (only for
    /// `insufficient_evidence`); `None` if none would (or more than 10⁹ would be needed).
    pub required_trials: Option<u64>,
    /// `required_trials − trials`: "N more cases at this rate".
    pub additional_trials: Option<u64>,
}

fn check(successes: u64, trials: u64, confidence: f64) -> Result<(), StatsError> {
    if successes > trials {
        return Err(StatsError::invalid(format!(
            "successes ({successes}) exceed trials ({trials}); pass a count of at most trials"
        )));
    }
    check_confidence(confidence)
}

pub(crate) fn check_confidence(confidence: f64) -> Result<(), StatsError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(StatsError::invalid(format!(
            "confidence level {confidence} is not strictly between 0 and 1 (e.g. 0.95)"
        )));
    }
    Ok(())
}

/// Interval ends for a real-valued success count x of n with tail probability `tail` (= α/2).
fn ends(x: f64, n: f64, tail: f64, method: Method) -> Interval {
    match method {
        Method::Wilson => {
            // Same operation order as statsmodels.
            let q = x / n;
            let crit = dist::normal_isf(tail);
            let crit2 = crit * crit;
            let denom = 1.0 + crit2 / n;
            let center = (q + crit2 / (2.0 * n)) / denom;
            let dist = crit * (q * (1.0 - q) / n + crit2 / (4.0 * n * n)).sqrt() / denom;
            Interval {
                lower: if x == 0.0 { 0.0 } else { center - dist },
                upper: if x == n { 1.0 } else { center + dist },
            }
        }
        Method::ClopperPearson => Interval {
            lower: if x == 0.0 {
                0.0
            } else {
                dist::beta_ppf(tail, x, n - x + 1.0)
            },
            upper: if x == n {
                1.0
            } else {
                dist::beta_isf(tail, x + 1.0, n - x)
            },
        },
    }
}

#[allow(clippy::cast_precision_loss)] // counts stay far below 2^53
fn ends_counts(successes: u64, trials: u64, tail: f64, method: Method) -> Interval {
    if trials == 0 {
        return Interval {
            lower: 0.0,
            upper: 1.0,
        };
    }
    ends(successes as f64, trials as f64, tail, method)
}

/// Two-sided interval at confidence level `confidence` (α = 1 − c). With no trials: [0, 1].
///
/// # Errors
/// `successes > trials`, or `confidence` not in (0, 1).
pub fn interval(
    successes: u64,
    trials: u64,
    confidence: f64,
    method: Method,
) -> Result<Interval, StatsError> {
    check(successes, trials, confidence)?;
    Ok(ends_counts(
        successes,
        trials,
        0.5 * (1.0 - confidence),
        method,
    ))
}

/// One-sided lower and upper bounds, each at level `confidence` (the two-sided interval at
/// α = 2(1 − c)). With no trials: [0, 1].
///
/// # Errors
/// `successes > trials`, or `confidence` not in (0, 1).
pub fn one_sided_bounds(
    successes: u64,
    trials: u64,
    confidence: f64,
    method: Method,
) -> Result<Interval, StatsError> {
    check(successes, trials, confidence)?;
    // 0.5 · (2(1 − c)) is exactly 1 − c, as statsmodels computes it from alpha = 2(1 − c).
    Ok(ends_counts(successes, trials, 1.0 - confidence, method))
}

fn verdict_of(bounds: Interval, threshold: f64, direction: Direction) -> Verdict {
    match direction {
        Direction::AtLeast if bounds.lower >= threshold => Verdict::Pass,
        Direction::AtLeast if bounds.upper < threshold => Verdict::Fail,
        Direction::AtMost if bounds.upper <= threshold => Verdict::Pass,
        Direction::AtMost if bounds.lower > threshold => Verdict::Fail,
        _ => Verdict::InsufficientEvidence,
    }
}

const MAX_REQUIRED_TRIALS: u64 = 1_000_000_000;

/// The smallest total number of trials N ≥ `min_trials` (and ≥ 1) at which a rate of exactly
/// `rate` would `pass` against `threshold` — the one-sided bound at level `confidence`
/// evaluated at rate·N successes of N. `None` when the rate itself does not clear the
/// threshold strictly (no N suffices) or more than 10⁹ trials would be needed.
///
/// # Errors
/// `rate` or `threshold` outside [0, 1], or `confidence` not in (0, 1).
pub fn required_trials(
    rate: f64,
    threshold: f64,
    direction: Direction,
    confidence: f64,
    method: Method,
    min_trials: u64,
) -> Result<Option<u64>, StatsError> {
    check_confidence(confidence)?;
    for (what, v) in [("rate", rate), ("threshold", threshold)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(StatsError::invalid(format!(
                "{what} {v} is not a proportion in [0, 1]"
            )));
        }
    }
    let clears = match direction {
        Direction::AtLeast => rate > threshold || (rate == 1.0 && threshold < 1.0),
        Direction::AtMost => rate < threshold || (rate == 0.0 && threshold > 0.0),
    };
    if !clears {
        return Ok(None);
    }
    #[allow(clippy::cast_precision_loss)]
    let passes = |n: u64| {
        let n = n as f64;
        let b = ends(rate * n, n, 1.0 - confidence, method);
        verdict_of(b, threshold, direction) == Verdict::Pass
    };
    let mut hi = min_trials.max(1);
    if passes(hi) {
        return Ok(Some(hi));
    }
    let mut lo = hi; // fails
    while !passes(hi) {
        lo = hi;
        hi = hi.saturating_mul(2);
        if hi > 2 * MAX_REQUIRED_TRIALS {
            return Ok(None);
        }
    }
    // lo fails, hi passes (bounds tighten monotonically with N at a fixed rate).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if passes(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok((hi <= MAX_REQUIRED_TRIALS).then_some(hi))
}

/// Judges `successes` of `trials` against `threshold` on the one-sided bounds at level
/// `confidence` (see the module docs for the rule).
///
/// # Errors
/// `successes > trials`, `threshold` outside [0, 1], or `confidence` not in (0, 1).
pub fn judge(
    successes: u64,
    trials: u64,
    threshold: f64,
    direction: Direction,
    confidence: f64,
    method: Method,
) -> Result<Judgement, StatsError> {
    let bounds = one_sided_bounds(successes, trials, confidence, method)?;
    if !(0.0..=1.0).contains(&threshold) {
        return Err(StatsError::invalid(format!(
            "threshold {threshold} is not a proportion in [0, 1]"
        )));
    }
    #[allow(clippy::cast_precision_loss)]
    let estimate = (trials > 0).then(|| successes as f64 / trials as f64);
    let verdict = verdict_of(bounds, threshold, direction);
    let required = match (verdict, estimate) {
        (Verdict::InsufficientEvidence, Some(rate)) => {
            required_trials(rate, threshold, direction, confidence, method, trials)?
        }
        _ => None,
    };
    Ok(Judgement {
        successes,
        trials,
        estimate,
        lower: bounds.lower,
        upper: bounds.upper,
        bound: match direction {
            Direction::AtLeast => bounds.lower,
            Direction::AtMost => bounds.upper,
        },
        threshold,
        direction,
        method,
        confidence,
        verdict,
        required_trials: required,
        additional_trials: required.map(|n| n - trials),
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn ninety_nine_of_a_hundred_is_not_enough_for_a_99_percent_minimum() {
        let j = judge(99, 100, 0.99, Direction::AtLeast, 0.95, Method::Wilson).unwrap();
        assert_eq!(j.estimate, Some(0.99));
        // statsmodels: proportion_confint(99, 100, alpha=0.1, method="wilson")[0]
        assert!(
            (j.bound - 0.956_418_226_465_943_9).abs() < 1e-12,
            "{}",
            j.bound
        );
        assert!(j.upper > 0.99);
        assert_eq!(j.verdict, Verdict::InsufficientEvidence);
        // At exactly the threshold rate no sample size ever clears it.
        assert_eq!(j.required_trials, None);
        assert_eq!(j.additional_trials, None);
    }

    #[test]
    fn false_negative_rate_of_one_in_a_hundred_against_one_percent_maximum() {
        let j = judge(1, 100, 0.01, Direction::AtMost, 0.95, Method::Wilson).unwrap();
        assert_eq!(j.bound, j.upper);
        assert_eq!(j.verdict, Verdict::InsufficientEvidence);
    }

    #[test]
    fn clear_pass_and_clear_fail() {
        let pass = judge(
            10_000,
            10_000,
            0.99,
            Direction::AtLeast,
            0.95,
            Method::Wilson,
        )
        .unwrap();
        assert_eq!(pass.verdict, Verdict::Pass);
        let fail = judge(
            80,
            100,
            0.99,
            Direction::AtLeast,
            0.95,
            Method::ClopperPearson,
        )
        .unwrap();
        assert_eq!(fail.verdict, Verdict::Fail);
        assert!(fail.upper < 0.99);
        let fail_max = judge(10, 100, 0.01, Direction::AtMost, 0.95, Method::Wilson).unwrap();
        assert_eq!(fail_max.verdict, Verdict::Fail);
    }

    #[test]
    fn more_cases_at_the_observed_rate_turn_insufficient_into_pass() {
        // 199/200 = 0.995 against 0.99: not yet; the required N really passes, N − 1 does not.
        for method in [Method::Wilson, Method::ClopperPearson] {
            let j = judge(199, 200, 0.99, Direction::AtLeast, 0.95, method).unwrap();
            assert_eq!(j.verdict, Verdict::InsufficientEvidence);
            let n = j.required_trials.expect("0.995 > 0.99 clears eventually");
            assert_eq!(j.additional_trials, Some(n - 200));
            let at = |n: u64| {
                #[allow(clippy::cast_precision_loss)]
                let nf = n as f64;
                ends(0.995 * nf, nf, 0.05, method).lower
            };
            assert!(at(n) >= 0.99 && at(n - 1) < 0.99, "{method:?} N = {n}");
        }
    }

    #[test]
    fn no_trials_is_insufficient_evidence_with_bounds_zero_and_one() {
        let j = judge(0, 0, 0.9, Direction::AtLeast, 0.95, Method::Wilson).unwrap();
        assert_eq!((j.lower, j.upper, j.estimate), (0.0, 1.0, None));
        assert_eq!(j.verdict, Verdict::InsufficientEvidence);
        assert_eq!(j.required_trials, None);
    }

    #[test]
    fn extremes_are_exact() {
        for m in [Method::Wilson, Method::ClopperPearson] {
            assert_eq!(interval(0, 50, 0.95, m).unwrap().lower, 0.0);
            assert_eq!(interval(50, 50, 0.95, m).unwrap().upper, 1.0);
        }
        // Clopper–Pearson 0/n upper bound has the closed form 1 − (α/2)^(1/n).
        let u = interval(0, 1_000_000, 0.95, Method::ClopperPearson)
            .unwrap()
            .upper;
        let expected = -(0.025_f64.ln() / 1e6).exp_m1();
        assert!(
            (u - expected).abs() <= 1e-12 * expected,
            "{u} vs {expected}"
        );
    }

    #[test]
    fn bad_inputs_are_errors_that_say_what_is_wrong() {
        let e = judge(5, 4, 0.9, Direction::AtLeast, 0.95, Method::Wilson).unwrap_err();
        assert!(e.to_string().contains("exceed trials"), "{e}");
        let e = interval(1, 4, 1.0, Method::Wilson).unwrap_err();
        assert!(e.to_string().contains("confidence level 1"), "{e}");
        assert!(judge(1, 4, 1.5, Direction::AtLeast, 0.95, Method::Wilson).is_err());
    }

    #[test]
    fn verdict_serializes_in_snake_case() {
        let v = serde_json::to_string(&Verdict::InsufficientEvidence).unwrap();
        assert_eq!(v, "\"insufficient_evidence\"");
    }
}
