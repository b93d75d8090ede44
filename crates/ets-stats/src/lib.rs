//! ETS statistics: the numbers behind safety verdicts and experiment comparisons.
//!
//! - [`proportion`]: Wilson and Clopper–Pearson bounds, minimum sample sizes and the
//!   `pass` / `fail` / `insufficient_evidence` verdict;
//! - [`dist`]: normal, Student t, beta and hypergeometric distribution functions;
//! - [`tests`]: Welch and paired t-tests, Mann–Whitney U, Wilcoxon signed-rank, the
//!   two-proportion z-test, Fisher's exact test, effect sizes, Holm–Bonferroni and a seeded
//!   bootstrap;
//! - [`describe`]: n, mean, sd, median.
//!
//! Pure functions, no I/O. Every statistic, p-value and bound is checked against SciPy and
//! statsmodels (pinned in `tests/stats/requirements.txt`) by `tests/scipy_fixtures.rs`.
//! Where SciPy returns NaN (an undefined statistic: zero variance, too few values), ETS returns
//! `None`; where SciPy returns ±∞ (a t statistic of constant groups that differ), ETS returns
//! `None` for the statistic and SciPy's p-value (0).

pub mod describe;
pub mod dist;
pub mod proportion;
pub mod rng;
mod special;
pub mod tests;

use std::fmt;

/// An input the statistics cannot be computed from; the message says which value and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsError {
    /// Invalid input (a NaN, an empty sample, a count above its total, ...).
    InvalidInput(String),
}

impl StatsError {
    pub(crate) fn invalid(message: String) -> Self {
        Self::InvalidInput(message)
    }
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidInput(m) => write!(f, "invalid statistics input: {m}"),
        }
    }
}

impl std::error::Error for StatsError {}

/// `Some(v)` for a finite v, `None` for NaN or ±∞ (SciPy's undefined results).
pub(crate) fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Rejects empty samples and NaN/∞ values, naming the sample.
pub(crate) fn check_sample(name: &str, xs: &[f64]) -> Result<(), StatsError> {
    if xs.is_empty() {
        return Err(StatsError::invalid(format!(
            "sample {name} is empty; a test needs at least one value per group"
        )));
    }
    if let Some((i, v)) = xs.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(StatsError::invalid(format!(
            "sample {name} holds a non-finite value {v} at index {i}; drop it before testing"
        )));
    }
    Ok(())
}
