//! Parameter importance by explained variance (the correlation ratio η²).
//!
//! This is **not** Optuna's default fANOVA nor its random-forest `MeanDecreaseImpurity`:
//! for each parameter, the complete trials that have it are grouped (categoricals by
//! choice, numbers into up to 8 equal-count bins by rank, in log space when `log`), and
//! the share of the objective's variance explained by the groups is that parameter's raw
//! score. Scores are then normalised to sum to 1, as Optuna's are. It sees main effects
//! only (no interactions), which is what a dashboard's "which knob mattered" needs, and it
//! is cheap and deterministic.

use crate::{Direction, Distribution, SearchSpace, Trial, TrialState};
use serde::{Deserialize, Serialize};

/// One parameter's share of the explained variance, in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamImportance {
    pub name: String,
    pub importance: f64,
    /// Complete trials the estimate used.
    pub n_trials: usize,
}

const MAX_BINS: usize = 8;

fn eta_squared(xs: &[(f64, f64)], categorical: bool) -> f64 {
    let n = xs.len();
    if n < 2 {
        return 0.0;
    }
    let mean = xs.iter().map(|p| p.1).sum::<f64>() / n as f64;
    let total: f64 = xs.iter().map(|p| (p.1 - mean).powi(2)).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Group keys: the choice for categoricals, an equal-count bin for numbers (ties of
    // the parameter value always share a bin).
    let bins = MAX_BINS.min(n);
    let mut groups: Vec<Vec<f64>> = Vec::new();
    let mut last_key: Option<f64> = None;
    let mut last_bin = usize::MAX;
    for (i, (x, y)) in sorted.iter().enumerate() {
        let bin = if categorical { 0 } else { i * bins / n };
        let new_group = match last_key {
            None => true,
            Some(k) if categorical => k != *x,
            Some(k) => k != *x && bin != last_bin,
        };
        if new_group {
            groups.push(Vec::new());
            last_bin = bin;
        }
        last_key = Some(*x);
        groups.last_mut().expect("pushed").push(*y);
    }
    let between: f64 = groups
        .iter()
        .map(|g| {
            let m = g.iter().sum::<f64>() / g.len() as f64;
            g.len() as f64 * (m - mean).powi(2)
        })
        .sum();
    // Correct for the variance any grouping explains by chance: with k groups, pure
    // noise explains (k-1)/(n-1) on average (this is the ω²-like adjustment).
    let k = groups.len() as f64;
    let raw = between / total;
    let chance = (k - 1.0) / (n as f64 - 1.0);
    ((raw - chance) / (1.0 - chance).max(1e-12)).max(0.0)
}

/// Importance of every parameter of `space` for objective `objective` (0 for the only
/// objective), from complete trials; sorted by importance, highest first. All zeros when
/// nothing explains the variance.
pub fn explained_variance_importance(
    space: &SearchSpace,
    history: &[Trial],
    directions: &[Direction],
    objective: usize,
) -> Vec<ParamImportance> {
    let complete: Vec<(&Trial, f64)> = history
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| {
            let v = *t.values.as_ref()?.get(objective)?;
            directions.get(objective)?;
            v.is_finite().then_some((t, v))
        })
        .collect();
    let mut out: Vec<ParamImportance> = space
        .iter()
        .map(|(name, def)| {
            let d = &def.distribution;
            let xs: Vec<(f64, f64)> = complete
                .iter()
                .filter_map(|(t, y)| {
                    let x = d.to_internal(t.params.get(name)?)?;
                    let log = matches!(
                        d,
                        Distribution::Float { log: true, .. } | Distribution::Int { log: true, .. }
                    );
                    Some((if log { x.ln() } else { x }, *y))
                })
                .collect();
            let categorical = matches!(d, Distribution::Categorical { .. });
            ParamImportance {
                name: name.to_owned(),
                importance: eta_squared(&xs, categorical),
                n_trials: xs.len(),
            }
        })
        .collect();
    let sum: f64 = out.iter().map(|p| p.importance).sum();
    if sum > 0.0 {
        out.iter_mut().for_each(|p| p.importance /= sum);
    }
    out.sort_by(|a, b| {
        b.importance
            .total_cmp(&a.importance)
            .then(a.name.cmp(&b.name))
    });
    out
}
