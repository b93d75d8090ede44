//! Significance of a difference between two sides — two experiments, or two groups of an
//! experiment's runs (issue 14): the tests of `ets-stats` (checked against SciPy and
//! statsmodels to 1e-9 by its fixtures) over each run's latest value of a metric, and the one
//! function that reads them as a line of plain language ([`verdict`]).

use ets_domain::comparison::{GroupMetricComparison, GroupMetricTests};
use ets_domain::model::{
    BootstrapInterval, Direction, MetricComparison, MetricTests, RankTest, TTest,
};
use ets_stats::tests::{
    BootstrapCi, PValueMethod, RankTestResult, TTestResult, bootstrap_mean_ci,
    bootstrap_mean_diff_ci, cliffs_delta, cohens_d, cohens_dz, holm_bonferroni, mann_whitney_u,
    paired_t_test, welch_t_test, wilcoxon_signed_rank,
};

/// Below this p-value (after Holm across the metrics) a difference is called significant.
pub const ALPHA: f64 = 0.05;
/// Confidence level of every interval of a comparison.
pub const CONFIDENCE: f64 = 0.95;
/// Bootstrap resamples: enough that the interval's ends move by well under 1 % of its width
/// between seeds.
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;
/// A fixed seed, so the same runs always give the same interval (issue 14: reproducible answers).
pub const BOOTSTRAP_SEED: u64 = 14;

/// The candidate's values tested against the baseline's (two experiments).
pub fn metric_tests(
    (baseline_id, baseline): (&str, &[f64]),
    (candidate_id, candidate): (&str, &[f64]),
) -> MetricTests {
    MetricTests {
        baseline_experiment_id: baseline_id.to_owned(),
        candidate_experiment_id: candidate_id.to_owned(),
        welch_t: t_test(welch_t_test(candidate, baseline, CONFIDENCE).ok().as_ref()),
        mann_whitney_u: rank_test(mann_whitney_u(candidate, baseline).ok().as_ref()),
        cohens_d: cohens_d(candidate, baseline).ok().flatten(),
        cliffs_delta: cliffs_delta(candidate, baseline).ok(),
        bootstrap: bootstrap(bootstrap_mean_diff_ci(
            candidate,
            baseline,
            CONFIDENCE,
            BOOTSTRAP_RESAMPLES,
            BOOTSTRAP_SEED,
        )),
        p_value_holm: None,
        verdict: String::new(),
    }
}

/// Tests of two groups' values: `paired` when `baseline[i]` and `candidate[i]` are runs of
/// the same pair (same length), else independent samples.
pub fn group_tests(
    (baseline_group, baseline): (&str, &[f64]),
    (candidate_group, candidate): (&str, &[f64]),
    paired: bool,
) -> GroupMetricTests {
    let mut tests = GroupMetricTests {
        baseline_group: baseline_group.to_owned(),
        candidate_group: candidate_group.to_owned(),
        paired,
        pairs: None,
        paired_t: None,
        wilcoxon_signed_rank: None,
        cohens_dz: None,
        welch_t: None,
        mann_whitney_u: None,
        cohens_d: None,
        cliffs_delta: None,
        bootstrap: None,
        p_value_holm: None,
        verdict: String::new(),
    };
    if paired {
        let differences: Vec<f64> = candidate.iter().zip(baseline).map(|(c, b)| c - b).collect();
        tests.pairs = Some(differences.len());
        tests.paired_t = Some(t_test(
            paired_t_test(candidate, baseline, CONFIDENCE).ok().as_ref(),
        ));
        tests.wilcoxon_signed_rank = Some(rank_test(
            wilcoxon_signed_rank(candidate, baseline).ok().as_ref(),
        ));
        tests.cohens_dz = cohens_dz(candidate, baseline).ok().flatten();
        tests.bootstrap = bootstrap(bootstrap_mean_ci(
            &differences,
            CONFIDENCE,
            BOOTSTRAP_RESAMPLES,
            BOOTSTRAP_SEED,
        ));
    } else {
        tests.welch_t = Some(t_test(
            welch_t_test(candidate, baseline, CONFIDENCE).ok().as_ref(),
        ));
        tests.mann_whitney_u = Some(rank_test(mann_whitney_u(candidate, baseline).ok().as_ref()));
        tests.cohens_d = cohens_d(candidate, baseline).ok().flatten();
        tests.cliffs_delta = cliffs_delta(candidate, baseline).ok();
        tests.bootstrap = bootstrap(bootstrap_mean_diff_ci(
            candidate,
            baseline,
            CONFIDENCE,
            BOOTSTRAP_RESAMPLES,
            BOOTSTRAP_SEED,
        ));
    }
    tests
}

fn t_test(r: Option<&TTestResult>) -> TTest {
    TTest {
        statistic: r.and_then(|r| r.statistic),
        p_value: r.and_then(|r| r.p_value),
        df: r.and_then(|r| r.df),
        mean_difference: r.map(|r| r.mean_difference),
        ci_lower: r.and_then(|r| r.ci_lower),
        ci_upper: r.and_then(|r| r.ci_upper),
    }
}

fn rank_test(r: Option<&RankTestResult>) -> RankTest {
    RankTest {
        statistic: r.map(|r| r.statistic),
        p_value: r.and_then(|r| r.p_value),
        method: r.map(|r| method_name(r.method).to_owned()),
    }
}

fn bootstrap<E>(ci: Result<BootstrapCi, E>) -> Option<BootstrapInterval> {
    ci.ok().map(|ci| BootstrapInterval {
        estimate: ci.estimate,
        lower: ci.lower,
        upper: ci.upper,
        confidence: ci.confidence,
        resamples: ci.resamples,
        seed: ci.seed,
    })
}

fn method_name(method: PValueMethod) -> &'static str {
    match method {
        PValueMethod::Exact => "exact",
        PValueMethod::Permutation => "permutation",
        PValueMethod::Asymptotic => "asymptotic",
    }
}

/// Holm–Bonferroni over the p-values that exist; `None` stays `None`.
pub fn holm(p_values: &[Option<f64>]) -> Vec<Option<f64>> {
    let present: Vec<f64> = p_values.iter().flatten().copied().collect();
    let mut adjusted = holm_bonferroni(&present).unwrap_or_default().into_iter();
    p_values
        .iter()
        .map(|p| p.and_then(|_| adjusted.next()))
        .collect()
}

/// Adjusts the Welch p-values of all metrics together (Holm–Bonferroni) and writes each
/// metric's verdict. `sizes` gives (baseline n, candidate n) per metric.
pub fn conclude(metrics: &mut [MetricComparison], sizes: &[(usize, usize)]) {
    let p_values: Vec<Option<f64>> = metrics.iter().map(|m| m.tests.welch_t.p_value).collect();
    for ((metric, p_holm), &(n_baseline, n_candidate)) in
        metrics.iter_mut().zip(holm(&p_values)).zip(sizes)
    {
        let t = &mut metric.tests;
        t.p_value_holm = p_holm;
        t.verdict = if n_baseline < 2 || n_candidate < 2 {
            too_few_runs(n_baseline, n_candidate)
        } else {
            verdict(&Evidence::of_t_test(
                "Welch",
                &t.welch_t,
                p_holm,
                metric.direction,
            ))
        };
    }
}

/// As [`conclude`] for two groups of runs: Holm over the paired or Welch t-test p-values.
/// `sizes` gives the values tested per side (equal when paired).
pub fn conclude_groups(metrics: &mut [GroupMetricComparison], sizes: &[(usize, usize)]) {
    let p_values: Vec<Option<f64>> = metrics
        .iter()
        .map(|m| {
            let t = &m.tests;
            t.paired_t
                .as_ref()
                .or(t.welch_t.as_ref())
                .and_then(|t| t.p_value)
        })
        .collect();
    for ((metric, p_holm), &(n_baseline, n_candidate)) in
        metrics.iter_mut().zip(holm(&p_values)).zip(sizes)
    {
        let t = &mut metric.tests;
        t.p_value_holm = p_holm;
        t.verdict = match (&t.paired_t, &t.welch_t) {
            (Some(_), _) if n_baseline < 2 => too_few_pairs(n_baseline),
            (Some(paired), _) => verdict(&Evidence::of_t_test(
                "paired t",
                paired,
                p_holm,
                metric.direction,
            )),
            _ if n_baseline < 2 || n_candidate < 2 => too_few_runs(n_baseline, n_candidate),
            (None, Some(welch)) => verdict(&Evidence::of_t_test(
                "Welch",
                welch,
                p_holm,
                metric.direction,
            )),
            (None, None) => "no test possible: the values do not vary".to_owned(),
        };
    }
}

/// The verdict line when a side has fewer than two values.
pub fn too_few_runs(n_baseline: usize, n_candidate: usize) -> String {
    format!(
        "not enough runs to test: {n_candidate} against {n_baseline} (each side needs at least 2)"
    )
}

/// The verdict line when fewer than two pairs have values.
pub fn too_few_pairs(pairs: usize) -> String {
    format!("not enough pairs to test: {pairs} (at least 2 are needed)")
}

/// What a verdict is read from: the candidate − baseline difference and the test that decides.
#[derive(Debug, Clone)]
pub struct Evidence<'a> {
    pub difference: Option<f64>,
    /// The 95 % CI of the difference, when the test gives one.
    pub ci: Option<(f64, f64)>,
    /// The deciding test, e.g. `Welch`, `paired t`, `Fisher`.
    pub test: &'a str,
    pub p_value: Option<f64>,
    /// The p-value adjusted across the comparison's metrics (Holm), when there are several.
    pub p_adjusted: Option<f64>,
    pub direction: Option<Direction>,
}

impl<'a> Evidence<'a> {
    pub fn of_t_test(
        test: &'a str,
        t: &TTest,
        p_adjusted: Option<f64>,
        direction: Option<Direction>,
    ) -> Self {
        Self {
            difference: t.mean_difference,
            ci: t.ci_lower.zip(t.ci_upper),
            test,
            p_value: t.p_value,
            p_adjusted,
            direction,
        }
    }
}

/// The one reading of a test result in plain language, e.g. "higher by 0.031 (95 % CI 0.012
/// to 0.050; Welch p = 0.004, Holm 0.008): a significant difference, better".
pub fn verdict(e: &Evidence) -> String {
    let (Some(diff), Some(p)) = (e.difference, e.p_value) else {
        return "no test possible: the values do not vary".to_owned();
    };
    let decisive = e.p_adjusted.unwrap_or(p);
    let side = if diff > 0.0 {
        "higher"
    } else if diff < 0.0 {
        "lower"
    } else {
        "equal"
    };
    let ci = match e.ci {
        Some((lo, hi)) => format!("95 % CI {} to {}; ", short(lo), short(hi)),
        None => String::new(),
    };
    let holm = match e.p_adjusted {
        Some(adjusted) => format!(", Holm {}", short(adjusted)),
        None => String::new(),
    };
    let better = match e.direction {
        Some(Direction::Maximize) if diff > 0.0 => ", better",
        Some(Direction::Minimize) if diff < 0.0 => ", better",
        Some(_) if diff != 0.0 => ", worse",
        _ => "",
    };
    let reading = if decisive < ALPHA {
        format!("a significant difference{better}")
    } else {
        "no significant difference".to_owned()
    };
    format!(
        "{side} by {} ({ci}{} p = {}{holm}): {reading}",
        short(diff.abs()),
        e.test,
        short(p),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_skips_missing_p_values() {
        let adjusted = holm(&[Some(0.01), None, Some(0.04)]);
        assert_eq!(adjusted, vec![Some(0.02), None, Some(0.04)]);
    }

    #[test]
    fn verdict_names_the_test_and_the_better_side() {
        let e = Evidence {
            difference: Some(-0.5),
            ci: None,
            test: "Fisher",
            p_value: Some(0.001),
            p_adjusted: None,
            direction: Some(Direction::Minimize),
        };
        assert_eq!(
            verdict(&e),
            "lower by 0.5000 (Fisher p = 0.001000): a significant difference, better"
        );
    }
}
