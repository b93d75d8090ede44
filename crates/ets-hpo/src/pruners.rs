//! Pruners: decide from a running trial's intermediate values whether to stop it early.
//!
//! Optuna's successive-halving pruners keep state in trial system attributes (the value
//! a trial had when it reached each rung). These pruners are stateless instead: a rung
//! value is the trial's intermediate value at its first reported step at or past the
//! rung's step, which is exactly what Optuna records when `should_prune` is asked after
//! every report (the usual loop). A server therefore needs to store nothing but the
//! intermediate values.

use crate::{Direction, Trial, TrialState};
use serde::{Deserialize, Serialize};

/// Decides whether `trial` (running, with its intermediate values so far) should stop.
/// `history` is the study's trials (the trial itself may be in it and is ignored).
pub trait Pruner {
    fn prune(&self, trial: &Trial, history: &[Trial], direction: Direction) -> bool;
}

/// Never prunes (Optuna's `NopPruner`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NopPruner;

impl Pruner for NopPruner {
    fn prune(&self, _: &Trial, _: &[Trial], _: Direction) -> bool {
        false
    }
}

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

/// Smallest resource (step) of the first rung: fixed, or Optuna's "auto" estimate
/// `max(last step of the longest complete trial / 100, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum MinResource {
    #[default]
    #[serde(with = "auto")]
    Auto,
    Fixed(i64),
}

mod auto {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("auto")
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        let s = String::deserialize(d)?;
        if s == "auto" {
            Ok(())
        } else {
            Err(serde::de::Error::custom("expected \"auto\" or an integer"))
        }
    }
}

/// Optuna's `SuccessiveHalvingPruner` (asynchronous successive halving, ASHA): at rung
/// `r` (step `min_resource · rf^(min_early_stopping_rate + r)`) a trial continues only if
/// it is in the top `1/rf` of all trials' values at that rung.
///
/// Differences from Optuna: rung values are derived from intermediate values (see the
/// module docs), and `MinResource::Auto` is re-estimated on every call where Optuna fixes
/// it at the first estimate (the same as long as the longest complete trial is unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuccessiveHalvingPruner {
    pub min_resource: MinResource,
    pub reduction_factor: i64,
    pub min_early_stopping_rate: u32,
    pub bootstrap_count: usize,
}

impl Default for SuccessiveHalvingPruner {
    fn default() -> Self {
        Self {
            min_resource: MinResource::Auto,
            reduction_factor: 4,
            min_early_stopping_rate: 0,
            bootstrap_count: 0,
        }
    }
}

impl SuccessiveHalvingPruner {
    fn promotion_step(&self, min_resource: i64, rung: u32) -> i64 {
        min_resource.saturating_mul(
            self.reduction_factor
                .saturating_pow(self.min_early_stopping_rate + rung),
        )
    }

    /// The values `t` recorded at rungs 0, 1, ...: at each rung, its intermediate value at
    /// the first reported step at or past the rung's promotion step. A pruned trial whose
    /// last report reached several rungs at once recorded only up to the rung it failed
    /// at, which is found by re-checking it against the other trials' rung values.
    fn recorded_rungs(
        &self,
        t: &Trial,
        history: &[Trial],
        min_resource: i64,
        direction: Direction,
    ) -> Vec<f64> {
        let Some(last) = t.last_step() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        loop {
            let promo = self.promotion_step(min_resource, out.len() as u32);
            let Some((step, v)) = t.intermediate.range(promo..).next() else {
                break;
            };
            let (step, v) = (*step, *v);
            if step == last && t.state == TrialState::Pruned && !out.is_empty() {
                // Recorded this rung only if it passed the previous one at this same step.
                let prev_promo = self.promotion_step(min_resource, out.len() as u32 - 1);
                let reached_prev_here =
                    t.intermediate.range(prev_promo..).next().map(|(s, _)| *s) == Some(last);
                if reached_prev_here {
                    let rung = out.len() as u32 - 1;
                    let mut competing =
                        self.simple_rung_values(history, t.number, min_resource, rung);
                    competing.push(v);
                    if !self.promotable(v, competing, direction) {
                        break;
                    }
                }
            }
            out.push(v);
        }
        out
    }

    /// Other trials' values at `rung`, without the pruned-trial correction.
    fn simple_rung_values(
        &self,
        history: &[Trial],
        skip: u64,
        min_resource: i64,
        rung: u32,
    ) -> Vec<f64> {
        let promo = self.promotion_step(min_resource, rung);
        history
            .iter()
            .filter(|t| t.number != skip)
            .filter_map(|t| t.intermediate.range(promo..).next().map(|(_, v)| *v))
            .collect()
    }

    /// Optuna's `_is_trial_promotable_to_next_rung`.
    fn promotable(&self, value: f64, mut competing: Vec<f64>, direction: Direction) -> bool {
        let rf = self.reduction_factor.max(1) as usize;
        let idx = (competing.len() / rf).saturating_sub(1);
        competing.sort_by(f64::total_cmp);
        match direction {
            Direction::Maximize => value >= competing[competing.len() - 1 - idx],
            Direction::Minimize => value <= competing[idx],
        }
    }
}

/// Optuna's "auto" `min_resource`: `max(last step of the longest complete trial / 100, 1)`,
/// `None` before any trial completes. Optuna fixes the first estimate for the rest of the
/// study; a server that wants the same stores `MinResource::Fixed(estimate)` in the
/// pruner's config once this returns a value.
pub fn estimate_min_resource(history: &[Trial]) -> Option<i64> {
    estimate_max_resource(history).map(|m| (m - 1).div_euclid(100).max(1))
}

impl Pruner for SuccessiveHalvingPruner {
    fn prune(&self, trial: &Trial, history: &[Trial], direction: Direction) -> bool {
        let Some(step) = trial.last_step() else {
            return false;
        };
        let min_resource = match self.min_resource {
            MinResource::Fixed(r) => r,
            MinResource::Auto => match estimate_min_resource(history) {
                Some(r) => r,
                None => return false,
            },
        };
        let value = trial.intermediate[&step];
        // Rungs this trial completed at earlier reports (it is still running, so it was
        // promoted past each of them).
        let prev_step = trial
            .intermediate
            .range(..step)
            .next_back()
            .map(|(s, _)| *s);
        let others: Vec<Vec<f64>> = history
            .iter()
            .filter(|t| t.number != trial.number)
            .map(|t| self.recorded_rungs(t, history, min_resource, direction))
            .collect();
        let mut rung = 0u32;
        while prev_step.is_some_and(|p| p >= self.promotion_step(min_resource, rung)) {
            rung += 1;
        }
        loop {
            if step < self.promotion_step(min_resource, rung) {
                return false;
            }
            if value.is_nan() {
                return true;
            }
            let mut competing: Vec<f64> = others
                .iter()
                .filter_map(|r| r.get(rung as usize).copied())
                .collect();
            competing.push(value);
            if competing.len() <= self.bootstrap_count {
                return true;
            }
            if !self.promotable(value, competing, direction) {
                return true;
            }
            rung += 1;
        }
    }
}

/// Largest resource of a Hyperband study: fixed, or "auto" = longest complete trial's
/// last step + 1 (Optuna's estimate).
pub type MaxResource = MinResource;

/// Optuna's `HyperbandPruner`: several successive-halving brackets with different
/// `min_early_stopping_rate`s; a trial's bracket is `crc32("{study_name}_{number}")`
/// modulo the total budget, exactly as Optuna computes it, so with the same study name
/// trials land in the same brackets as under Optuna. Each bracket's pruner only sees the
/// trials of its own bracket.
///
/// Optuna's samplers only see the trial's bracket under Hyperband: pass
/// [`HyperbandPruner::bracket_history`] to the sampler to do the same.
///
/// Difference from Optuna: "auto" `max_resource` is re-estimated per call (Optuna fixes
/// it at the first estimate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HyperbandPruner {
    pub min_resource: i64,
    pub max_resource: MaxResource,
    pub reduction_factor: i64,
    pub bootstrap_count: usize,
    /// Feeds the bracket hash; use the study's name to match Optuna's assignment.
    pub study_name: String,
}

impl Default for HyperbandPruner {
    fn default() -> Self {
        Self {
            min_resource: 1,
            max_resource: MinResource::Auto,
            reduction_factor: 3,
            bootstrap_count: 0,
            study_name: String::new(),
        }
    }
}

/// Optuna's "auto" `max_resource` for Hyperband: the longest complete trial's last step
/// plus one, `None` before any trial completes. As with [`estimate_min_resource`], store it as
/// `Fixed` once known to freeze it as Optuna does.
pub fn estimate_max_resource(history: &[Trial]) -> Option<i64> {
    history
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(Trial::last_step)
        .max()
        .map(|s| s + 1)
}

/// CRC-32 (IEEE, as Python's `binascii.crc32`).
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

impl HyperbandPruner {
    /// Per-bracket trial budgets, or `None` while "auto" has no complete trial to go on.
    pub fn budgets(&self, history: &[Trial]) -> Option<Vec<u64>> {
        let max_resource = match self.max_resource {
            MinResource::Fixed(r) => r,
            MinResource::Auto => estimate_max_resource(history)?,
        };
        let rf = self.reduction_factor as f64;
        let ratio = max_resource as f64 / self.min_resource as f64;
        let n_brackets = ((ratio.ln() / rf.ln()).floor() as i64 + 1).max(1);
        Some(
            (0..n_brackets)
                .map(|b| {
                    let s = n_brackets - 1 - b;
                    (n_brackets as f64 * rf.powi(s as i32) / (s + 1) as f64).ceil() as u64
                })
                .collect(),
        )
    }

    /// The trials a sampler should see for trial `number`, as Optuna's `_filter_study`
    /// does under Hyperband: only those of the same bracket (all of them while "auto"
    /// has nothing to estimate from, when every trial is in bracket 0).
    pub fn bracket_history(&self, history: &[Trial], number: u64) -> Vec<Trial> {
        let Some(budgets) = self.budgets(history) else {
            return history.to_vec();
        };
        let bracket = self.bracket(&budgets, number);
        history
            .iter()
            .filter(|t| self.bracket(&budgets, t.number) == bracket)
            .cloned()
            .collect()
    }

    /// The bracket of trial `number` under `budgets`.
    pub fn bracket(&self, budgets: &[u64], number: u64) -> usize {
        let total: u64 = budgets.iter().sum();
        let mut n = i64::from(crc32(format!("{}_{}", self.study_name, number).as_bytes()))
            .rem_euclid(total as i64);
        for (b, budget) in budgets.iter().enumerate() {
            n -= *budget as i64;
            if n < 0 {
                return b;
            }
        }
        budgets.len() - 1
    }
}

impl Pruner for HyperbandPruner {
    fn prune(&self, trial: &Trial, history: &[Trial], direction: Direction) -> bool {
        let Some(budgets) = self.budgets(history) else {
            return false;
        };
        let bracket = self.bracket(&budgets, trial.number);
        let in_bracket = self.bracket_history(history, trial.number);
        let sha = SuccessiveHalvingPruner {
            min_resource: MinResource::Fixed(self.min_resource),
            reduction_factor: self.reduction_factor,
            min_early_stopping_rate: bracket as u32,
            bootstrap_count: self.bootstrap_count,
        };
        sha.prune(trial, &in_bracket, direction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_binascii() {
        // binascii.crc32(b"123456789") == 0xCBF43926
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(nanpercentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
        assert_eq!(nanpercentile(&[f64::NAN, 1.0, 3.0], 25.0), 1.5);
    }

    #[test]
    fn bracket_history_keeps_the_trials_own_bracket() {
        let hb = HyperbandPruner {
            max_resource: MinResource::Fixed(27),
            study_name: "s".into(),
            ..HyperbandPruner::default()
        };
        let h: Vec<Trial> = (0..60)
            .map(|n| Trial::new(n, TrialState::Complete))
            .collect();
        let budgets = hb.budgets(&h).unwrap();
        // Optuna 4.9, study "s", max_resource=27: budgets [27, 12, 6, 4], and trials 0, 7,
        // 33 in brackets 2, 1, 0.
        assert_eq!(budgets, [27, 12, 6, 4]);
        for (n, want) in [(0, 2), (7, 1), (33, 0)] {
            let b = hb.bracket(&budgets, n);
            assert_eq!(b, want, "trial {n}");
            let kept = hb.bracket_history(&h, n);
            assert!(!kept.is_empty() && kept.len() < h.len());
            assert!(kept.iter().all(|t| hb.bracket(&budgets, t.number) == b));
        }
        // "auto" with no complete trial: one bracket, everything visible.
        let auto = HyperbandPruner::default();
        let running: Vec<Trial> = (0..5).map(|n| Trial::new(n, TrialState::Running)).collect();
        assert_eq!(auto.bracket_history(&running, 3).len(), 5);
    }
}
