//! Effect sizes, multiple-testing adjustment and the bootstrap.
//!
//! - Cohen's d: (x̄₁ − x̄₂)/s_p with s_p² = (Σ(x₁−x̄₁)² + Σ(x₂−x̄₂)²)/(n₁ + n₂ − 2)
//!   (J. Cohen, *Statistical Power Analysis*, 2nd ed. 1988, §2.2); d_z = mean(d)/sd(d) for pairs.
//! - Cliff's delta: (#{x > y} − #{x < y})/(n₁ n₂) over all pairs (N. Cliff, Psychol. Bull. 114
//!   (1993) 494–509); equals 2U₁/(n₁n₂) − 1 with SciPy's U₁.
//! - Holm–Bonferroni: step-down adjusted p-values, as
//!   `statsmodels.stats.multitest.multipletests(p, method="holm")[1]` (S. Holm, Scand. J.
//!   Statist. 6 (1979) 65–70).
//! - Percentile bootstrap CI of a mean difference (B. Efron & R. Tibshirani, *An Introduction to
//!   the Bootstrap*, 1993, §13.3): each group resampled with replacement `resamples` times from a
//!   seeded xoshiro256** stream, the CI read off the sorted differences with NumPy's default
//!   (linear) percentile interpolation.

use serde::{Deserialize, Serialize};

use crate::describe::mean_var;
use crate::proportion::check_confidence;
use crate::rng::Xoshiro256;
use crate::{StatsError, check_sample, finite};

/// Cohen's d of a against b with the pooled sd; `None` when there is no spread (or n₁+n₂ < 3).
///
/// # Errors
/// An empty sample or a non-finite value.
#[allow(clippy::cast_precision_loss)]
pub fn cohens_d(a: &[f64], b: &[f64]) -> Result<Option<f64>, StatsError> {
    check_sample("a", a)?;
    check_sample("b", b)?;
    let (m1, v1) = mean_var(a);
    let (m2, v2) = mean_var(b);
    // Σ(x − x̄)² = (n − 1)·var, taken as 0 for a single value.
    let ss = |n: usize, v: f64| if n > 1 { (n - 1) as f64 * v } else { 0.0 };
    let dof = (a.len() + b.len()) as f64 - 2.0;
    let sp = ((ss(a.len(), v1) + ss(b.len(), v2)) / dof).sqrt();
    Ok(finite((m1 - m2) / sp))
}

/// Cohen's d_z of paired samples: mean(a − b)/sd(a − b); `None` without spread.
///
/// # Errors
/// Samples of different lengths, an empty sample, or a non-finite value.
pub fn cohens_dz(a: &[f64], b: &[f64]) -> Result<Option<f64>, StatsError> {
    let d = crate::tests::rank::differences(a, b)?;
    let (m, v) = mean_var(&d);
    Ok(finite(m / v.sqrt()))
}

/// Cliff's delta of a against b, in [−1, 1].
///
/// # Errors
/// An empty sample or a non-finite value.
#[allow(clippy::cast_precision_loss)]
pub fn cliffs_delta(a: &[f64], b: &[f64]) -> Result<f64, StatsError> {
    check_sample("a", a)?;
    check_sample("b", b)?;
    let mut sorted = b.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut dominance: i64 = 0;
    for &x in a {
        let below = sorted.partition_point(|&y| y < x);
        let not_above = sorted.partition_point(|&y| y <= x);
        let above = sorted.len() - not_above;
        dominance += below as i64 - above as i64;
    }
    Ok(dominance as f64 / (a.len() as f64 * b.len() as f64))
}

/// Holm–Bonferroni adjusted p-values, in the input order.
///
/// # Errors
/// A p-value outside [0, 1] or NaN.
#[allow(clippy::cast_precision_loss)]
pub fn holm_bonferroni(p_values: &[f64]) -> Result<Vec<f64>, StatsError> {
    if let Some((i, p)) = p_values
        .iter()
        .enumerate()
        .find(|(_, p)| !(0.0..=1.0).contains(*p))
    {
        return Err(StatsError::invalid(format!(
            "p-value {p} at index {i} is not in [0, 1]; leave undefined tests out of the family"
        )));
    }
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    // Stable, as numpy's argsort(kind="mergesort") in statsmodels.
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(p_values[i] * (m - rank) as f64);
        adjusted[i] = running.min(1.0);
    }
    Ok(adjusted)
}

/// A bootstrap confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapCi {
    /// The statistic on the observed data.
    pub estimate: f64,
    /// Lower percentile end.
    pub lower: f64,
    /// Upper percentile end.
    pub upper: f64,
    /// Confidence level.
    pub confidence: f64,
    /// Number of resamples.
    pub resamples: usize,
    /// PRNG seed (same seed, same interval).
    pub seed: u64,
}

#[allow(clippy::cast_precision_loss)]
fn resampled_mean(xs: &[f64], rng: &mut Xoshiro256) -> f64 {
    let n = xs.len() as u64;
    #[allow(clippy::cast_possible_truncation)]
    let sum: f64 = (0..n).map(|_| xs[rng.below(n) as usize]).sum();
    sum / n as f64
}

/// NumPy's default percentile (linear interpolation) of sorted values at q ∈ [0, 1].
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn check_resamples(resamples: usize) -> Result<(), StatsError> {
    if resamples < 2 {
        return Err(StatsError::invalid(format!(
            "{resamples} bootstrap resamples; use at least 2 (10,000 is typical)"
        )));
    }
    Ok(())
}

fn interval(estimate: f64, mut stats: Vec<f64>, confidence: f64, seed: u64) -> BootstrapCi {
    stats.sort_by(f64::total_cmp);
    BootstrapCi {
        estimate,
        lower: percentile(&stats, 0.5 * (1.0 - confidence)),
        upper: percentile(&stats, 0.5 * (1.0 + confidence)),
        confidence,
        resamples: stats.len(),
        seed,
    }
}

/// Percentile bootstrap CI of mean(a) − mean(b), the groups resampled independently.
///
/// # Errors
/// An empty sample, a non-finite value, `confidence` not in (0, 1), or fewer than 2 resamples.
pub fn bootstrap_mean_diff_ci(
    a: &[f64],
    b: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Result<BootstrapCi, StatsError> {
    check_sample("a", a)?;
    check_sample("b", b)?;
    check_confidence(confidence)?;
    check_resamples(resamples)?;
    let mut rng = Xoshiro256::new(seed);
    let stats = (0..resamples)
        .map(|_| resampled_mean(a, &mut rng) - resampled_mean(b, &mut rng))
        .collect();
    let estimate = mean_var(a).0 - mean_var(b).0;
    Ok(interval(estimate, stats, confidence, seed))
}

/// Percentile bootstrap CI of the mean of `d` (paired differences a − b).
///
/// # Errors
/// An empty sample, a non-finite value, `confidence` not in (0, 1), or fewer than 2 resamples.
pub fn bootstrap_mean_ci(
    d: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Result<BootstrapCi, StatsError> {
    check_sample("differences", d)?;
    check_confidence(confidence)?;
    check_resamples(resamples)?;
    let mut rng = Xoshiro256::new(seed);
    let stats = (0..resamples)
        .map(|_| resampled_mean(d, &mut rng))
        .collect();
    Ok(interval(mean_var(d).0, stats, confidence, seed))
}
