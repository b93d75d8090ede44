//! Independent uniform sampling, as Optuna's `RandomSampler`.

use crate::rng::{Rng, hash_str};
use crate::{Direction, Distribution, HpoError, Params, Sampler, SearchSpace, Trial};
use serde_json::Value;

/// Samples every active parameter uniformly: in log space for `log`, over
/// `[low - step/2, high + step/2]` then rounded for stepped and int parameters (so the end
/// points are as likely as the inner points, as Optuna's `_SearchSpaceTransform` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RandomSampler {
    pub seed: u64,
}

impl RandomSampler {
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }
}

/// Bounds of the continuous space a distribution is sampled in, before snapping.
fn transformed_bounds(d: &Distribution) -> (f64, f64) {
    let Some((low, high, log, step)) = d.numeric() else {
        return (0.0, 1.0);
    };
    let half = step.unwrap_or(0.0) / 2.0;
    let (l, h) = (low - half, high + half);
    if log { (l.ln(), h.ln()) } else { (l, h) }
}

/// One uniform draw from `d`.
pub(crate) fn sample_uniform(d: &Distribution, rng: &mut Rng) -> Value {
    if let Distribution::Categorical { choices } = d {
        return choices[rng.below(choices.len())].clone();
    }
    let (lo, hi) = transformed_bounds(d);
    let mut x = lo + rng.uniform() * (hi - lo);
    if matches!(
        d,
        Distribution::Float { log: true, .. } | Distribution::Int { log: true, .. }
    ) {
        x = x.exp();
    }
    d.to_external(x)
}

impl Sampler for RandomSampler {
    fn sample(
        &self,
        space: &SearchSpace,
        _history: &[Trial],
        _directions: &[Direction],
        trial_number: u64,
    ) -> Result<Params, HpoError> {
        space.sample_active(|name, d, _| {
            let mut rng = Rng::new(self.seed, trial_number, hash_str(name));
            Ok(sample_uniform(d, &mut rng))
        })
    }
}
