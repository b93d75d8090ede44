//! Optuna's Hyperband pruner: successive-halving brackets chosen by a hash of the trial.

use super::Pruner;
use super::sha::{MinResource, SuccessiveHalvingPruner};
use crate::{Direction, Trial, TrialState};
use serde::{Deserialize, Serialize};

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
