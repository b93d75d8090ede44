//! Rank tests: Mann–Whitney U for two independent samples and the Wilcoxon signed-rank test for
//! paired samples, two-sided, reproducing SciPy 1.16's `method="auto"` choices.
//!
//! `scipy.stats.mannwhitneyu(x, y)` (H. B. Mann & D. R. Whitney, Ann. Math. Stat. 18 (1947)):
//! U₁ = R₁ − n₁(n₁+1)/2 from mid-ranks; *exact* when min(n₁, n₂) ≤ 8 and there are no ties —
//! p = 2 P(U ≥ max(U₁, U₂)) from the null distribution (the Gaussian binomial coefficient,
//! counted exactly), capped at 1; otherwise *asymptotic*: z = (max(U₁,U₂) − n₁n₂/2 − ½)/σ with
//! σ² = n₁n₂/12 · ((n+1) − Σ(t³−t)/(n(n−1))), p = 2 P(Z > z), capped at 1.
//!
//! `scipy.stats.wilcoxon(x, y)` (F. Wilcoxon, Biometrics Bulletin 1 (1945)): d = x − y, zero
//! differences dropped (`zero_method="wilcox"`), T⁺ = Σ ranks of |d| over d > 0, statistic
//! min(T⁺, T⁻). Method: more than 50 pairs → asymptotic; else no ties and no zeros → exact;
//! else up to 13 pairs → the exact permutation distribution over all 2ⁿ sign flips (what SciPy's
//! `PermutationMethod` enumerates); else asymptotic. Asymptotic: z = (T⁺ − n(n+1)/4)/σ,
//! σ² = (n(n+1)(2n+1) − Σ(t³−t)/2)/24 over the non-zero differences, no continuity correction.

use serde::{Deserialize, Serialize};

use crate::{StatsError, check_sample, dist, finite};

/// How the p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PValueMethod {
    /// The exact null distribution (no ties).
    Exact,
    /// The exact permutation distribution over all sign flips (Wilcoxon with ties or zeros).
    Permutation,
    /// Normal approximation with tie correction.
    Asymptotic,
}

/// A rank test's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankTestResult {
    /// U₁ of the first sample (Mann–Whitney) or min(T⁺, T⁻) (Wilcoxon).
    pub statistic: f64,
    /// Two-sided p-value; `None` where SciPy gives NaN (Wilcoxon: over 13 pairs, all zero).
    pub p_value: Option<f64>,
    /// How the p-value was computed.
    pub method: PValueMethod,
}

/// Mid-ranks (1-based) of `xs` and the sizes of its tie groups.
pub(crate) fn rank_average(xs: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut ranks = vec![0.0; xs.len()];
    let mut ties = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && xs[order[end]] == xs[order[start]] {
            end += 1;
        }
        #[allow(clippy::cast_precision_loss)]
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        ties.push(end - start);
        start = end;
    }
    (ranks, ties)
}

#[allow(clippy::cast_precision_loss)]
fn tie_term(ties: &[usize]) -> f64 {
    ties.iter()
        .map(|&t| {
            let t = t as f64;
            t * t * t - t
        })
        .sum()
}

/// x − y pairwise, checked.
pub(crate) fn differences(x: &[f64], y: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_sample("a", x)?;
    check_sample("b", y)?;
    if x.len() != y.len() {
        return Err(StatsError::invalid(format!(
            "paired samples differ in length ({} vs {}); pair every run with one partner",
            x.len(),
            y.len()
        )));
    }
    Ok(x.iter().zip(y).map(|(a, b)| a - b).collect())
}

/// Coefficient arithmetic for the exact U distribution: exact integers while they fit.
trait Coeff: Copy + std::ops::AddAssign + std::ops::SubAssign {
    const ZERO: Self;
    const ONE: Self;
    fn to_f64(self) -> f64;
}
impl Coeff for i128 {
    const ZERO: Self = 0;
    const ONE: Self = 1;
    #[allow(clippy::cast_precision_loss)]
    fn to_f64(self) -> f64 {
        self as f64
    }
}
impl Coeff for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn to_f64(self) -> f64 {
        self
    }
}

/// (Σ_{u ≤ k} #arrangements with U = u, C(m+n, m)) for sample sizes m ≤ n: the coefficients of
/// the Gaussian binomial ∏_{i=1..m} (1 − q^{n+i})/(1 − q^i), truncated at degree k.
fn mwu_cdf_counts<C: Coeff>(m: usize, n: usize, k: usize) -> (f64, f64) {
    let mut c = vec![C::ZERO; k + 1];
    c[0] = C::ONE;
    for i in 1..=m {
        for d in (n + i..=k).rev() {
            let v = c[d - n - i];
            c[d] -= v;
        }
        for d in i..=k {
            let v = c[d - i];
            c[d] += v;
        }
    }
    let mut total = C::ZERO;
    for v in &c {
        total += *v;
    }
    (total.to_f64(), binomial(m + n, m))
}

#[allow(clippy::cast_precision_loss)]
fn binomial(n: usize, k: usize) -> f64 {
    // Exact in i128 while it fits, else the product in f64.
    let mut r: i128 = 1;
    for i in 0..k {
        match r.checked_mul((n - i) as i128) {
            Some(v) => r = v / (i as i128 + 1),
            None => {
                return (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64);
            }
        }
    }
    r as f64
}

/// Mann–Whitney U test of x against y, two-sided, as `scipy.stats.mannwhitneyu(x, y)`.
///
/// # Errors
/// An empty sample or a non-finite value.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Result<RankTestResult, StatsError> {
    check_sample("a", x)?;
    check_sample("b", y)?;
    let (n1, n2) = (x.len(), y.len());
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (ranks, ties) = rank_average(&all);
    let (f1, f2) = (n1 as f64, n2 as f64);
    let r1: f64 = ranks[..n1].iter().sum();
    let u1 = r1 - f1 * (f1 + 1.0) / 2.0;
    let u2 = f1 * f2 - u1;
    let u = u1.max(u2);
    let has_ties = ties.iter().any(|&t| t > 1);
    if (n1 <= 8 || n2 <= 8) && !has_ties {
        // p = 2 P(U ≥ u) = 2 P(U ≤ n1 n2 − u) by symmetry.
        let k = (f1 * f2 - u) as usize;
        let (m, n) = (n1.min(n2), n1.max(n2));
        let total = binomial(m + n, m);
        let (count, total) = if total < 1e37 {
            mwu_cdf_counts::<i128>(m, n, k)
        } else {
            (mwu_cdf_counts::<f64>(m, n, k).0, total)
        };
        return Ok(RankTestResult {
            statistic: u1,
            p_value: Some((2.0 * (count / total)).clamp(0.0, 1.0)),
            method: PValueMethod::Exact,
        });
    }
    let n = f1 + f2;
    let mu = f1 * f2 / 2.0;
    let s = (f1 * f2 / 12.0 * ((n + 1.0) - tie_term(&ties) / (n * (n - 1.0)))).sqrt();
    let z = (u - mu - 0.5) / s;
    Ok(RankTestResult {
        statistic: u1,
        p_value: finite((2.0 * dist::normal_sf(z)).clamp(0.0, 1.0)),
        method: PValueMethod::Asymptotic,
    })
}

/// Counts of T⁺ = s over all 2ⁿ sign patterns of ranks 1..n (n ≤ 50 keeps them below 2⁵³).
fn signed_rank_counts(n: usize) -> Vec<u64> {
    let max = n * (n + 1) / 2;
    let mut c = vec![0_u64; max + 1];
    c[0] = 1;
    for k in 1..=n {
        for s in (k..=max).rev() {
            c[s] += c[s - k];
        }
    }
    c
}

/// Wilcoxon signed-rank test of x − y, two-sided, as `scipy.stats.wilcoxon(x, y)`.
///
/// # Errors
/// Samples of different lengths, an empty sample or a non-finite value.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn wilcoxon_signed_rank(x: &[f64], y: &[f64]) -> Result<RankTestResult, StatsError> {
    let d = differences(x, y)?;
    let nonzero: Vec<f64> = d.iter().copied().filter(|&v| v != 0.0).collect();
    let n_zero = d.len() - nonzero.len();
    let abs: Vec<f64> = nonzero.iter().map(|v| v.abs()).collect();
    let (ranks, ties) = rank_average(&abs);
    let r_plus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let r_minus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v < 0.0)
        .map(|(_, r)| r)
        .sum();
    let statistic = r_plus.min(r_minus);
    let has_ties = ties.iter().any(|&t| t > 1);
    let method = if d.len() > 50 {
        PValueMethod::Asymptotic
    } else if !has_ties && n_zero == 0 {
        PValueMethod::Exact
    } else if d.len() <= 13 {
        PValueMethod::Permutation
    } else {
        PValueMethod::Asymptotic
    };
    let p = match method {
        PValueMethod::Exact => {
            let n = nonzero.len();
            let counts = signed_rank_counts(n);
            let total = 2_f64.powi(n as i32);
            let mean = (n * (n + 1)) as f64 / 4.0;
            let cdf = |k: f64| -> f64 {
                let k = k as usize;
                if k as f64 <= mean {
                    counts[..=k.min(counts.len() - 1)].iter().sum::<u64>() as f64 / total
                } else {
                    1.0 - counts[k + 1..].iter().sum::<u64>() as f64 / total
                }
            };
            let sf = |k: f64| -> f64 {
                let k = k as usize;
                if k as f64 <= mean {
                    counts[k..].iter().sum::<u64>() as f64 / total
                } else {
                    1.0 - counts[..k].iter().sum::<u64>() as f64 / total
                }
            };
            (2.0 * sf(r_plus.floor()).min(cdf(r_plus.ceil()))).clamp(0.0, 1.0)
        }
        PValueMethod::Permutation => {
            // Every sign pattern of the non-zero differences, each counted 2^zeros times.
            let n = nonzero.len();
            let gamma = (f64::EPSILON * 100.0 * r_plus).abs();
            let (mut le, mut ge) = (0_u64, 0_u64);
            for mask in 0_u64..(1_u64 << n) {
                let s: f64 = (0..n)
                    .filter(|i| mask >> i & 1 == 1)
                    .map(|i| ranks[i])
                    .sum();
                le += u64::from(s <= r_plus + gamma);
                ge += u64::from(s >= r_plus - gamma);
            }
            let total = (1_u64 << n) as f64;
            (2.0 * (le as f64 / total).min(ge as f64 / total)).clamp(0.0, 1.0)
        }
        PValueMethod::Asymptotic => {
            let n = nonzero.len() as f64;
            let mn = n * (n + 1.0) * 0.25;
            let se = ((n * (n + 1.0) * (2.0 * n + 1.0) - tie_term(&ties) / 2.0) / 24.0).sqrt();
            if se > 0.0 {
                (2.0 * dist::normal_sf(((r_plus - mn) / se).abs())).min(1.0)
            } else {
                // Every difference is zero: no test (SciPy: NaN).
                f64::NAN
            }
        }
    };
    Ok(RankTestResult {
        statistic,
        p_value: finite(p),
        method,
    })
}
