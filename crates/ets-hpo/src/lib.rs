//! Hyperparameter optimisation core for ETS, modelled on Optuna 4.9.
//!
//! Everything here is pure: a server stores studies and trials, and calls into this crate
//! with the search space and the trial history to ask for parameters
//! ([`Sampler::sample`]), to decide pruning ([`Pruner::prune`]), or to summarise
//! ([`best_trial`], [`pareto_front`], [`explained_variance_importance`]). Every sampler is
//! deterministic given its seed and the trial number, so a server can recompute (or
//! audit) a suggestion without keeping sampler state between requests; what a server may
//! keep ([`SamplerCache`]) only saves work, never changes an answer. See README.md for
//! what matches Optuna and what differs.

mod config;
mod error;
mod grid;
mod history;
mod hypervolume;
mod importance;
mod pareto;
mod pruners;
mod random;
mod rng;
mod space;
mod tpe;
mod trial;

pub use config::{PrunerConfig, SamplerConfig};
pub use error::HpoError;
pub use grid::GridSampler;
pub use history::History;
pub use importance::{ParamImportance, explained_variance_importance};
pub use pareto::{best_trial, dominates, pareto_front};
pub use pruners::{
    HyperbandPruner, MaxResource, MedianPruner, MinResource, NopPruner, PercentilePruner, Pruner,
    SuccessiveHalvingPruner, estimate_max_resource, estimate_min_resource,
};
pub use random::RandomSampler;
pub use space::{Condition, Distribution, ParamDef, SearchSpace};
pub use tpe::{SamplerCache, TpeOptions, TpeSampler};
pub use trial::{Direction, Trial, TrialState};

use serde_json::Value;
use std::collections::BTreeMap;

/// Parameters of one trial: name → value (a JSON number for float/int, the choice itself
/// for categorical). Only the parameters that are active in a conditional space appear.
pub type Params = BTreeMap<String, Value>;

/// A strategy that proposes the parameters of a new trial.
///
/// `history` is every trial the study has (any state; the trial being sampled may be in it
/// as `Running` and is ignored). The result depends only on the arguments and the
/// sampler's configuration (seed included), never on earlier calls.
pub trait Sampler {
    fn sample(
        &self,
        space: &SearchSpace,
        history: &[Trial],
        directions: &[Direction],
        trial_number: u64,
    ) -> Result<Params, HpoError>;

    /// [`Sampler::sample`] over a [`History`] a server keeps between asks: samplers that
    /// read parameter columns (TPE) take the history's instead of converting every trial.
    fn sample_history(
        &self,
        space: &SearchSpace,
        history: &History,
        directions: &[Direction],
        trial_number: u64,
    ) -> Result<Params, HpoError> {
        self.sample(space, history.trials(), directions, trial_number)
    }

    /// [`Sampler::sample_history`] with what the sampler kept about the study at earlier
    /// asks (`cache`, updated here): the same answer, for work in proportion to what
    /// changed since (TPE; the others keep nothing). Any cache may be passed, even
    /// another study's: one that does not follow `history` is rebuilt.
    fn sample_cached(
        &self,
        space: &SearchSpace,
        history: &History,
        directions: &[Direction],
        trial_number: u64,
        cache: &mut SamplerCache,
    ) -> Result<Params, HpoError> {
        let _ = cache;
        self.sample_history(space, history, directions, trial_number)
    }

    /// Whether [`Sampler::sample_cached`] with `cache` costs little (well under a
    /// millisecond at 10,000 trials), so a server may call it on its async executor.
    fn cached_ask_is_cheap(&self, directions: &[Direction], cache: &SamplerCache) -> bool {
        let _ = (directions, cache);
        true
    }
}
