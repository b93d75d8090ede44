//! Optuna's percentile and median pruners.

use super::Pruner;
use crate::{Direction, Trial, TrialState};
use serde::{Deserialize, Serialize};

/// Optuna's `PercentilePruner`: prune when the trial's best intermediate value so far is
/// worse than the `percentile` of the complete trials' values at the same step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PercentilePruner {
    pub percentile: f64,
    pub n_startup_trials: usize,
    pub n_warmup_steps: i64,
    pub interval_steps: i64,
    pub n_min_trials: usize,
}

/// Optuna's `MedianPruner` is the percentile pruner at 50 (the [`Default`]).
pub type MedianPruner = PercentilePruner;

impl Default for PercentilePruner {
    fn default() -> Self {
        Self {
            percentile: 50.0,
            n_startup_trials: 5,
            n_warmup_steps: 0,
            interval_steps: 1,
            n_min_trials: 1,
        }
    }
}

/// NumPy's `nanpercentile` with linear interpolation.
fn nanpercentile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Optuna's `_is_first_in_interval_step`.
fn is_first_in_interval_step(
    step: i64,
    steps: impl Iterator<Item = i64>,
    warmup: i64,
    interval: i64,
) -> bool {
    let nearest_lower = (step - warmup).div_euclid(interval) * interval + warmup;
    let second_last = steps.filter(|s| *s != step).fold(-1, i64::max);
    second_last < nearest_lower
}

impl Pruner for PercentilePruner {
    fn prune(&self, trial: &Trial, history: &[Trial], direction: Direction) -> bool {
        let complete: Vec<&Trial> = history
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.number != trial.number)
            .collect();
        if complete.is_empty() || complete.len() < self.n_startup_trials {
            return false;
        }
        let Some(step) = trial.last_step() else {
            return false;
        };
        if step < self.n_warmup_steps {
            return false;
        }
        if !is_first_in_interval_step(
            step,
            trial.intermediate.keys().copied(),
            self.n_warmup_steps,
            self.interval_steps.max(1),
        ) {
            return false;
        }
        let vals: Vec<f64> = trial
            .intermediate
            .values()
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        if vals.is_empty() {
            return true;
        }
        let best = match direction {
            Direction::Minimize => vals.iter().copied().fold(f64::INFINITY, f64::min),
            Direction::Maximize => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        };
        let at_step: Vec<f64> = complete
            .iter()
            .filter_map(|t| t.intermediate.get(&step).copied())
            .collect();
        if at_step.len() < self.n_min_trials {
            return false;
        }
        let q = match direction {
            Direction::Minimize => self.percentile,
            Direction::Maximize => 100.0 - self.percentile,
        };
        let p = nanpercentile(&at_step, q);
        if p.is_nan() {
            return false;
        }
        match direction {
            Direction::Maximize => best < p,
            Direction::Minimize => best > p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanpercentile_is_numpys() {
        assert_eq!(nanpercentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
        assert_eq!(nanpercentile(&[f64::NAN, 1.0, 3.0], 25.0), 1.5);
    }
}
