//! The trial history a server passes in.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Lifecycle state, as Optuna's `TrialState` (without `WAITING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialState {
    Running,
    Complete,
    Pruned,
    Failed,
}

/// Optimisation direction of one objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Minimize,
    Maximize,
}

impl Direction {
    /// Maps a value so that smaller is always better.
    pub fn loss(self, v: f64) -> f64 {
        match self {
            Self::Minimize => v,
            Self::Maximize => -v,
        }
    }
}

/// One trial of a study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub number: u64,
    pub state: TrialState,
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Objective values of a `Complete` trial, one per direction.
    #[serde(default)]
    pub values: Option<Vec<f64>>,
    /// Reported intermediate values by step.
    #[serde(default)]
    pub intermediate: BTreeMap<i64, f64>,
}

impl Trial {
    pub fn new(number: u64, state: TrialState) -> Self {
        Self {
            number,
            state,
            params: BTreeMap::new(),
            values: None,
            intermediate: BTreeMap::new(),
        }
    }

    /// The largest reported step (Optuna's `last_step`).
    pub fn last_step(&self) -> Option<i64> {
        self.intermediate.keys().next_back().copied()
    }

    /// The single objective value of a complete trial.
    pub fn value(&self) -> Option<f64> {
        match (&self.state, &self.values) {
            (TrialState::Complete, Some(v)) if v.len() == 1 && !v[0].is_nan() => Some(v[0]),
            _ => None,
        }
    }
}
