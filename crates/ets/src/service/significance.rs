//! Significance of a difference between two experiments' runs (issue 14): the tests of
//! `ets-stats` (checked against SciPy and statsmodels to 1e-9 by its fixtures) over each
//! run's latest value of a metric, and a one-line reading of them.

use ets_domain::model::{Direction, MetricComparison, MetricTests, RankTest, WelchT};
use ets_stats::tests::{
    PValueMethod, cliffs_delta, cohens_d, holm_bonferroni, mann_whitney_u, welch_t_test,
};

/// Below this p-value (after Holm across the metrics) a difference is called significant.
pub const ALPHA: f64 = 0.05;

/// The candidate's values tested against the baseline's.
pub fn metric_tests(
    (baseline_id, baseline): (&str, &[f64]),
    (candidate_id, candidate): (&str, &[f64]),
) -> MetricTests {
    let welch = welch_t_test(candidate, baseline, 0.95).ok();
    let rank = mann_whitney_u(candidate, baseline).ok();
    MetricTests {
        baseline_experiment_id: baseline_id.to_owned(),
        candidate_experiment_id: candidate_id.to_owned(),
        welch_t: WelchT {
            statistic: welch.as_ref().and_then(|w| w.statistic),
            p_value: welch.as_ref().and_then(|w| w.p_value),
            df: welch.as_ref().and_then(|w| w.df),
            mean_difference: welch.as_ref().map(|w| w.mean_difference),
            ci_lower: welch.as_ref().and_then(|w| w.ci_lower),
            ci_upper: welch.as_ref().and_then(|w| w.ci_upper),
        },
        mann_whitney_u: RankTest {
            statistic: rank.as_ref().map(|r| r.statistic),
            p_value: rank.as_ref().and_then(|r| r.p_value),
            method: rank.as_ref().map(|r| method_name(r.method).to_owned()),
        },
        cohens_d: cohens_d(candidate, baseline).ok().flatten(),
        cliffs_delta: cliffs_delta(candidate, baseline).ok(),
        p_value_holm: None,
        verdict: String::new(),
    }
}

fn method_name(method: PValueMethod) -> &'static str {
    match method {
        PValueMethod::Exact => "exact",
        PValueMethod::Permutation => "permutation",
        PValueMethod::Asymptotic => "asymptotic",
    }
}

/// Adjusts the Welch p-values of all metrics together (Holm–Bonferroni) and writes each
/// metric's verdict. `sizes` gives (baseline n, candidate n) per metric.
pub fn conclude(metrics: &mut [MetricComparison], sizes: &[(usize, usize)]) {
    let tested: Vec<usize> = (0..metrics.len())
        .filter(|&i| metrics[i].tests.welch_t.p_value.is_some())
        .collect();
    let p_values: Vec<f64> = tested
        .iter()
        .filter_map(|&i| metrics[i].tests.welch_t.p_value)
        .collect();
    if let Ok(adjusted) = holm_bonferroni(&p_values) {
        for (&i, p) in tested.iter().zip(adjusted) {
            metrics[i].tests.p_value_holm = Some(p);
        }
    }
    for (metric, &(n_baseline, n_candidate)) in metrics.iter_mut().zip(sizes) {
        metric.tests.verdict = verdict(metric, n_baseline, n_candidate);
    }
}

/// E.g. "higher by 0.031 (95 % CI 0.012 to 0.050; Welch p = 0.004, Holm 0.008): significant".
fn verdict(metric: &MetricComparison, n_baseline: usize, n_candidate: usize) -> String {
    let t = &metric.tests;
    if n_baseline < 2 || n_candidate < 2 {
        return format!(
            "not enough runs to test: {n_candidate} against {n_baseline} (each side needs at least 2)"
        );
    }
    let (Some(diff), Some(p)) = (t.welch_t.mean_difference, t.welch_t.p_value) else {
        return "no test possible: the values do not vary".to_owned();
    };
    let holm = t.p_value_holm.unwrap_or(p);
    let side = if diff > 0.0 {
        "higher"
    } else if diff < 0.0 {
        "lower"
    } else {
        "equal"
    };
    let ci = match (t.welch_t.ci_lower, t.welch_t.ci_upper) {
        (Some(lo), Some(hi)) => format!("95 % CI {} to {}; ", short(lo), short(hi)),
        _ => String::new(),
    };
    let better = match metric.direction {
        Some(Direction::Maximize) if diff > 0.0 => ", better",
        Some(Direction::Minimize) if diff < 0.0 => ", better",
        Some(_) if diff != 0.0 => ", worse",
        _ => "",
    };
    let reading = if holm < ALPHA {
        format!("a significant difference{better}")
    } else {
        "no significant difference".to_owned()
    };
    format!(
        "{side} by {} ({ci}Welch p = {}, Holm {}): {reading}",
        short(diff.abs()),
        short(p),
        short(holm)
    )
}

/// Four significant digits.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let digits = 3 - v.abs().log10().floor() as i32;
    if (0..=12).contains(&digits) {
        format!("{v:.*}", digits as usize)
    } else {
        format!("{v:.3e}")
    }
}
