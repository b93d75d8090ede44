//! Comparisons of two sides — two experiments, or two groups of one experiment's runs — beyond
//! the per-metric summaries of `model`: the bootstrap interval, rates from evaluation counts,
//! and the run-group comparison of `POST /api/v1/experiments/{id}/compare-groups`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{Direction, RankTest, TTest};
use crate::stats::Summary;

/// A percentile bootstrap confidence interval of a mean difference (candidate − baseline).
/// Seeded, so the same values always give the same interval.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BootstrapInterval {
    /// The difference on the observed values.
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
    pub resamples: usize,
    /// Seed of the xoshiro256** generator the resamples are drawn with.
    pub seed: u64,
}

/// One side's counts of a rate, summed over its runs.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RateSide {
    pub successes: u64,
    pub trials: u64,
    /// successes / trials; `null` without trials.
    pub rate: Option<f64>,
    /// Runs that recorded this evaluation and slice.
    pub runs: usize,
}

/// The pooled two-proportion z-test of candidate against baseline (statsmodels'
/// `proportions_ztest`); `null`s when undefined (no trials, or both rates 0 or 1).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ZTest {
    pub statistic: Option<f64>,
    pub p_value: Option<f64>,
}

/// Fisher's exact test of [[candidate successes, failures], [baseline successes, failures]],
/// two-sided (SciPy's `fisher_exact`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FisherTest {
    /// Odds of the candidate over odds of the baseline; `null` when infinite or undefined.
    pub odds_ratio: Option<f64>,
    pub p_value: f64,
}

/// One rate of one evaluation on one slice, candidate against baseline. The rate is the one
/// the safety verdicts use: tp / (tp + fn) for `crisis_detection_rate`, fn / (tp + fn) for
/// `false_negative_rate`, successes / trials for `response_quality`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RateComparison {
    pub evaluation: String,
    pub slice: String,
    pub rate: String,
    /// `maximize` when a higher rate is safer, else `minimize`.
    pub direction: Direction,
    pub baseline: RateSide,
    pub candidate: RateSide,
    /// Candidate rate − baseline rate.
    pub difference: Option<f64>,
    pub z_test: ZTest,
    pub fisher_exact: FisherTest,
    /// One line in plain language, read from Fisher's exact p-value.
    pub verdict: String,
}

/// Body of `POST /api/v1/experiments/{id}/compare-groups`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupCompareRequest {
    /// What splits the runs: `params.<key>` or `tags.<key>`, e.g. `params.optimizer`.
    pub group_by: String,
    /// The two values to compare, baseline first, e.g. `["adam", "sgd"]` (a param's value as
    /// text: `0.1`, `true`). Default: the two values the runs take; required when they take more.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Metric keys; default: every key the two groups' runs logged, except `eval/` counts.
    #[serde(default)]
    pub metrics: Option<Vec<String>>,
    /// `params.<key>` or `tags.<key>` that pairs a run of one group with the run of the other
    /// that has the same value (e.g. the same seed), or `none` for unpaired tests. Default:
    /// paired by `params.seed` when every run of both groups has its own seed and the other
    /// group has a run with that seed, else unpaired.
    #[serde(default)]
    pub pair_by: Option<String>,
    /// Evaluation names (e.g. `crisis_detection`) whose rates to compare, each group's counts
    /// summed over its runs, per slice.
    #[serde(default)]
    pub evaluations: Option<Vec<String>>,
}

/// One group of runs.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ComparedGroup {
    /// The `group_by` value of its runs.
    pub value: String,
    pub run_ids: Vec<String>,
}

/// How the runs of the two groups were matched.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Pairing {
    /// The key runs were paired by; `null` for unpaired tests.
    pub paired_by: Option<String>,
    /// Whether the pairing was chosen by default rather than asked for.
    pub automatic: bool,
    /// Pairs of runs (a run of each group with the same `paired_by` value).
    pub pairs: usize,
    /// Runs without a partner, left out of the paired tests (still in the summaries).
    pub unpaired_run_ids: Vec<String>,
    /// Why this pairing, in plain language.
    pub note: String,
}

/// Statistics of one metric within one group (each run's latest value).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupMetricStats {
    pub group: String,
    pub summary: Summary,
}

/// Tests of one metric, candidate group − baseline group. Paired runs get the paired t-test,
/// Wilcoxon signed-rank and Cohen's d_z; unpaired ones Welch, Mann–Whitney U, Cohen's d and
/// Cliff's delta; the fields of the other kind are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupMetricTests {
    pub baseline_group: String,
    pub candidate_group: String,
    pub paired: bool,
    /// Pairs with a value of this metric on both runs (paired tests only).
    pub pairs: Option<usize>,
    /// Student's paired t-test of the differences (SciPy's `ttest_rel`), with their 95 % CI.
    pub paired_t: Option<TTest>,
    /// Wilcoxon signed-rank test of the differences (SciPy's `wilcoxon`).
    pub wilcoxon_signed_rank: Option<RankTest>,
    /// Mean difference / sd of the differences.
    pub cohens_dz: Option<f64>,
    pub welch_t: Option<TTest>,
    pub mann_whitney_u: Option<RankTest>,
    pub cohens_d: Option<f64>,
    pub cliffs_delta: Option<f64>,
    /// Percentile bootstrap 95 % CI of the mean difference (of the paired differences when
    /// paired), 10,000 resamples with the fixed seed 14.
    pub bootstrap: Option<BootstrapInterval>,
    /// The t-test's p-value adjusted with Holm–Bonferroni across the metrics.
    pub p_value_holm: Option<f64>,
    /// One line in plain language.
    pub verdict: String,
}

/// One metric compared between the groups.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupMetricComparison {
    pub key: String,
    /// From the experiment's objective on this metric, if any.
    pub direction: Option<Direction>,
    /// Baseline group first.
    pub by_group: Vec<GroupMetricStats>,
    pub tests: GroupMetricTests,
}

/// Response of `POST /api/v1/experiments/{id}/compare-groups`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupComparison {
    pub experiment_id: String,
    pub group_by: String,
    /// Baseline group first.
    pub groups: Vec<ComparedGroup>,
    pub pairing: Pairing,
    pub metrics: Vec<GroupMetricComparison>,
    pub evaluations: Vec<RateComparison>,
}
