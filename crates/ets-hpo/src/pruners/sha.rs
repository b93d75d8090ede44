//! Optuna's successive-halving pruner (ASHA), stateless (see the module docs of `pruners`).

use super::Pruner;
use super::hyperband::estimate_max_resource;
use crate::{Direction, Trial, TrialState};
use serde::{Deserialize, Serialize};

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
