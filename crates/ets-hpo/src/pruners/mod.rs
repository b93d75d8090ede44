//! Pruners: decide from a running trial's intermediate values whether to stop it early.
//!
//! Optuna's successive-halving pruners keep state in trial system attributes (the value
//! a trial had when it reached each rung). These pruners are stateless instead: a rung
//! value is the trial's intermediate value at its first reported step at or past the
//! rung's step, which is exactly what Optuna records when `should_prune` is asked after
//! every report (the usual loop). A server therefore needs to store nothing but the
//! intermediate values.

mod hyperband;
mod percentile;
mod sha;

pub use hyperband::{HyperbandPruner, MaxResource, estimate_max_resource};
pub use percentile::{MedianPruner, PercentilePruner};
pub use sha::{MinResource, SuccessiveHalvingPruner, estimate_min_resource};

use crate::{Direction, Trial};

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
