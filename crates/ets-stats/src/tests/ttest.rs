//! Welch's unequal-variance t-test and Student's paired t-test, with the confidence interval of
//! the mean difference: `scipy.stats.ttest_ind(a, b, equal_var=False)` and
//! `scipy.stats.ttest_rel(a, b)` with `.confidence_interval(confidence_level)`.
//! B. L. Welch, Biometrika 34 (1947) 28–35.

use serde::{Deserialize, Serialize};

use crate::describe::mean_var;
use crate::proportion::check_confidence;
use crate::{StatsError, check_sample, dist, finite};

/// A t-test's result. `statistic` is `None` when SciPy's is NaN or ±∞ (constant samples);
/// `p_value` is `None` only when SciPy's is NaN (0 for constant samples that differ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TTestResult {
    /// t statistic of a − b.
    pub statistic: Option<f64>,
    /// Two-sided p-value.
    pub p_value: Option<f64>,
    /// Degrees of freedom (Welch–Satterthwaite for Welch, n − 1 paired); `None` if undefined.
    pub df: Option<f64>,
    /// mean(a) − mean(b) (Welch) or mean(a − b) (paired).
    pub mean_difference: f64,
    /// Lower end of the two-sided CI of the mean difference.
    pub ci_lower: Option<f64>,
    /// Upper end of that CI.
    pub ci_upper: Option<f64>,
    /// Confidence level of the CI.
    pub confidence: f64,
}

fn finish(diff: f64, se: f64, df: f64, confidence: f64) -> TTestResult {
    let t = diff / se;
    // ±∞ (constant samples that differ) is beyond any df: p = 0, as SciPy.
    let p = if t.is_infinite() {
        0.0
    } else {
        dist::t_two_sided_p(t, df)
    };
    // With se = 0 the interval collapses onto the difference whatever df is.
    let half = if se == 0.0 {
        0.0
    } else {
        dist::t_quantile(0.5 + 0.5 * confidence, df) * se
    };
    TTestResult {
        statistic: finite(t),
        p_value: finite(p),
        df: finite(df),
        mean_difference: diff,
        ci_lower: finite(diff - half),
        ci_upper: finite(diff + half),
        confidence,
    }
}

/// Welch's t-test of mean(a) = mean(b), two-sided. Needs at least two values in each sample
/// for a defined result (fewer gives `None`s, as SciPy's NaN).
///
/// # Errors
/// An empty sample, a non-finite value, or `confidence` not in (0, 1).
#[allow(clippy::cast_precision_loss)]
pub fn welch_t_test(a: &[f64], b: &[f64], confidence: f64) -> Result<TTestResult, StatsError> {
    check_sample("a", a)?;
    check_sample("b", b)?;
    check_confidence(confidence)?;
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (m1, v1) = mean_var(a);
    let (m2, v2) = mean_var(b);
    let (vn1, vn2) = (v1 / n1, v2 / n2);
    let df = (vn1 + vn2) * (vn1 + vn2) / (vn1 * vn1 / (n1 - 1.0) + vn2 * vn2 / (n2 - 1.0));
    Ok(finish(m1 - m2, (vn1 + vn2).sqrt(), df, confidence))
}

/// Student's paired t-test of mean(a − b) = 0, two-sided.
///
/// # Errors
/// Samples of different lengths, an empty sample, a non-finite value, or `confidence` not in
/// (0, 1).
#[allow(clippy::cast_precision_loss)]
pub fn paired_t_test(a: &[f64], b: &[f64], confidence: f64) -> Result<TTestResult, StatsError> {
    let d = crate::tests::rank::differences(a, b)?;
    check_confidence(confidence)?;
    let n = d.len() as f64;
    let (m, v) = mean_var(&d);
    Ok(finish(m, (v / n).sqrt(), n - 1.0, confidence))
}
