//! Descriptive statistics of one sample: n, mean, standard deviation (ddof = 1, as
//! `numpy.std(x, ddof=1)`), median (as `numpy.median`), min and max.

use serde::{Deserialize, Serialize};

/// Summary of a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean; `None` for an empty sample.
    pub mean: Option<f64>,
    /// Sample standard deviation (divisor n − 1); `None` for fewer than two values.
    pub sd: Option<f64>,
    /// Median (mean of the two middle values for even n); `None` for an empty sample.
    pub median: Option<f64>,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
}

/// Mean and unbiased variance. A constant sample has variance exactly 0 (a naive
/// Σ(x − x̄)² of 0.1, 0.1, 0.1 is 1e-33, which would turn "no spread" into a huge t).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    if xs.iter().all(|&v| v == xs[0]) {
        return (xs[0], if xs.len() > 1 { 0.0 } else { f64::NAN });
    }
    let mean = xs.iter().sum::<f64>() / n;
    let ss: f64 = xs.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, ss / (n - 1.0))
}

/// Median of finite values (NaN for an empty slice).
pub(crate) fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        // numpy.median: mean of the two middle values.
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Summarises `xs` (NaN values are the caller's to drop; they propagate here).
#[must_use]
pub fn summarize(xs: &[f64]) -> Summary {
    if xs.is_empty() {
        return Summary {
            n: 0,
            mean: None,
            sd: None,
            median: None,
            min: None,
            max: None,
        };
    }
    let (mean, var) = mean_var(xs);
    Summary {
        n: xs.len(),
        mean: Some(mean),
        sd: crate::finite(var.sqrt()),
        median: Some(median(xs)),
        min: xs.iter().copied().reduce(f64::min),
        max: xs.iter().copied().reduce(f64::max),
    }
}
