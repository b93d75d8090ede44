//! Tests on two rates from counts: the pooled two-proportion z-test
//! (`statsmodels.stats.proportion.proportions_ztest([x1, x2], [n1, n2])`) and Fisher's exact test
//! of a 2×2 table (`scipy.stats.fisher_exact(table)`, two-sided: the probabilities of all tables
//! with the same margins that are no more likely than the observed one, up to a relative
//! 1e-14; R. A. Fisher, J. R. Stat. Soc. 85 (1922) 87–94).

use serde::{Deserialize, Serialize};

use crate::{StatsError, dist, finite};

/// The two-proportion z-test's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZTestResult {
    /// z = (p̂₁ − p̂₂)/√(p̄(1−p̄)(1/n₁ + 1/n₂)); `None` when p̄ is 0 or 1 (no variance).
    pub statistic: Option<f64>,
    /// Two-sided p-value; `None` with the statistic.
    pub p_value: Option<f64>,
    /// p̂₁ − p̂₂.
    pub difference: f64,
}

/// Pooled two-proportion z-test of x1/n1 against x2/n2, two-sided.
///
/// # Errors
/// A count above its total or an empty group.
#[allow(clippy::cast_precision_loss)]
pub fn two_proportion_z_test(
    x1: u64,
    n1: u64,
    x2: u64,
    n2: u64,
) -> Result<ZTestResult, StatsError> {
    for (x, n, g) in [(x1, n1, 1), (x2, n2, 2)] {
        if n == 0 || x > n {
            return Err(StatsError::invalid(format!(
                "group {g}: {x} successes of {n} trials; need trials ≥ 1 and successes ≤ trials"
            )));
        }
    }
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let diff = p1 - p2;
    let pooled = (x1 + x2) as f64 / (n1 + n2) as f64;
    let var = pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / n2 as f64);
    let z = diff / var.sqrt();
    Ok(ZTestResult {
        statistic: finite(z),
        p_value: finite(dist::normal_sf(z.abs()) * 2.0),
        difference: diff,
    })
}

/// Fisher's exact test's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FisherResult {
    /// Sample odds ratio a·d/(b·c); `None` when SciPy gives ∞ (b or c is 0) or NaN (an empty
    /// row or column).
    pub odds_ratio: Option<f64>,
    /// Two-sided p-value (1 with an empty row or column).
    pub p_value: f64,
}

/// Fisher's exact test of the table [[a, b], [c, d]], two-sided.
#[must_use]
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64) -> FisherResult {
    if a + b == 0 || c + d == 0 || a + c == 0 || b + d == 0 {
        return FisherResult {
            odds_ratio: None,
            p_value: 1.0,
        };
    }
    let odds_ratio = if c > 0 && b > 0 {
        finite((a * d) as f64 / (c * b) as f64)
    } else {
        None
    };
    let (n1, n2, n) = (a + b, c + d, a + c);
    let total = n1 + n2;
    let pmf = |k: u64| dist::hypergeom_pmf(k, total, n1, n);
    let support_hi = n.min(n1);
    let support_lo = n.saturating_sub(n2);
    let mode = ((n + 1) as f64 * (n1 + 1) as f64 / (total + 2) as f64) as u64;
    let pexact = pmf(a);
    let pmode = pmf(mode);
    let result = |p: f64| FisherResult {
        odds_ratio,
        p_value: p.min(1.0),
    };
    if (pexact - pmode).abs() / pexact.max(pmode) <= 1e-14 {
        return result(1.0);
    }
    let bound = pexact * (1.0 + 1e-14);
    // Tail sums walk outward from their inner end with the pmf ratio, stopping once terms
    // no longer change the sum.
    let sum_down = |from: u64| -> f64 {
        let mut k = from;
        let mut term = pmf(k);
        let mut sum = term;
        while k > support_lo && term > sum * 1e-20 {
            // pmf(k−1)/pmf(k) = k (n2 − n + k) / ((n1 − k + 1)(n − k + 1))
            let kf = k as f64;
            term *=
                kf * (n2 as f64 - n as f64 + kf) / ((n1 as f64 - kf + 1.0) * (n as f64 - kf + 1.0));
            sum += term;
            k -= 1;
        }
        sum
    };
    let sum_up = |from: u64| -> f64 {
        let mut k = from;
        let mut term = pmf(k);
        let mut sum = term;
        while k < support_hi && term > sum * 1e-20 {
            let kf = k as f64;
            term *= (n1 as f64 - kf) * (n as f64 - kf)
                / ((kf + 1.0) * (n2 as f64 - n as f64 + kf + 1.0));
            sum += term;
            k += 1;
        }
        sum
    };
    if a < mode {
        let plower = sum_down(a);
        if pmf(n) > bound {
            return result(plower);
        }
        // SciPy's binary search on −pmf over [mode, n]: the last k with pmf(k) ≥ bound.
        let guess = binary_search(|k| -pmf(k), -bound, mode, n);
        let upper = if guess + 1 > support_hi {
            0.0
        } else {
            sum_up(guess + 1)
        };
        result(plower + upper)
    } else {
        let pupper = sum_up(a);
        if pmf(0) > bound {
            return result(pupper);
        }
        let guess = binary_search(pmf, bound, 0, mode);
        // cdf(guess); guess may fall below the support (then the sum is 0).
        let lower = if guess < support_lo || guess == u64::MAX {
            0.0
        } else {
            sum_down(guess)
        };
        result(pupper + lower)
    }
}

/// SciPy's `_binary_search_for_binom_tst`: the index i in [lo, hi] with f(i) ≤ d < f(i+1) for
/// an f ascending on the range; `u64::MAX` stands for lo − 1 = −1.
fn binary_search(f: impl Fn(u64) -> f64, d: f64, lo: u64, hi: u64) -> u64 {
    let (mut lo, mut hi) = (lo as i64, hi as i64);
    let at = |k: i64| {
        if k < 0 {
            f64::NEG_INFINITY
        } else {
            f(k as u64)
        }
    };
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let v = at(mid);
        if v < d {
            lo = mid + 1;
        } else if v > d {
            hi = mid - 1;
        } else {
            return mid as u64;
        }
    }
    let r = if at(lo) <= d { lo } else { lo - 1 };
    if r < 0 { u64::MAX } else { r as u64 }
}
