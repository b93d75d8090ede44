//! Serialisable choices of sampler and pruner, so a server can store a study's strategy
//! as JSON next to its search space and rebuild it on every request.

use crate::{
    GridSampler, HyperbandPruner, NopPruner, PercentilePruner, Pruner, RandomSampler, Sampler,
    SuccessiveHalvingPruner, TpeOptions, TpeSampler,
};
use serde::{Deserialize, Serialize};

/// `{"type": "tpe", "seed": 1, "multivariate": true}`, `{"type": "random", "seed": 1}`,
/// `{"type": "grid"}`. Missing fields take Optuna's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SamplerConfig {
    Random {
        #[serde(default)]
        seed: u64,
    },
    Grid,
    Tpe(TpeOptions),
}

impl Default for SamplerConfig {
    /// TPE, as Optuna's default sampler for one objective.
    fn default() -> Self {
        Self::Tpe(TpeOptions::default())
    }
}

impl SamplerConfig {
    pub fn build(&self) -> Box<dyn Sampler + Send + Sync> {
        match self {
            Self::Random { seed } => Box::new(RandomSampler::new(*seed)),
            Self::Grid => Box::new(GridSampler),
            Self::Tpe(o) => Box::new(TpeSampler::new(*o)),
        }
    }
}

/// `{"type": "median"}`, `{"type": "percentile", "percentile": 25.0}`,
/// `{"type": "successive_halving", "min_resource": "auto"}`,
/// `{"type": "hyperband", "max_resource": 81, "study_name": "s"}`, `{"type": "none"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrunerConfig {
    None,
    /// The percentile pruner with its percentile fixed at 50.
    Median {
        #[serde(default = "five")]
        n_startup_trials: usize,
        #[serde(default)]
        n_warmup_steps: i64,
        #[serde(default = "one")]
        interval_steps: i64,
        #[serde(default = "one_usize")]
        n_min_trials: usize,
    },
    Percentile(PercentilePruner),
    SuccessiveHalving(SuccessiveHalvingPruner),
    Hyperband(HyperbandPruner),
}

fn five() -> usize {
    5
}
fn one() -> i64 {
    1
}
fn one_usize() -> usize {
    1
}

impl Default for PrunerConfig {
    /// Optuna's default pruner is the median pruner.
    fn default() -> Self {
        Self::Median {
            n_startup_trials: 5,
            n_warmup_steps: 0,
            interval_steps: 1,
            n_min_trials: 1,
        }
    }
}

impl PrunerConfig {
    pub fn build(&self) -> Box<dyn Pruner + Send + Sync> {
        match self {
            Self::None => Box::new(NopPruner),
            Self::Median {
                n_startup_trials,
                n_warmup_steps,
                interval_steps,
                n_min_trials,
            } => Box::new(PercentilePruner {
                percentile: 50.0,
                n_startup_trials: *n_startup_trials,
                n_warmup_steps: *n_warmup_steps,
                interval_steps: *interval_steps,
                n_min_trials: *n_min_trials,
            }),
            Self::Percentile(p) => Box::new(*p),
            Self::SuccessiveHalving(p) => Box::new(*p),
            Self::Hyperband(p) => Box::new(p.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configs_read_from_json_with_defaults() {
        let s: SamplerConfig =
            serde_json::from_value(json!({"type": "tpe", "seed": 3, "constant_liar": true}))
                .unwrap();
        let SamplerConfig::Tpe(o) = s else { panic!() };
        assert_eq!(
            (
                o.seed,
                o.constant_liar,
                o.n_startup_trials,
                o.n_ei_candidates
            ),
            (3, true, 10, 24)
        );
        assert_eq!(
            serde_json::from_value::<SamplerConfig>(json!({"type": "grid"})).unwrap(),
            SamplerConfig::Grid
        );
        assert!(serde_json::from_value::<SamplerConfig>(json!({"type": "tpe", "sed": 3})).is_err());
        let p: PrunerConfig = serde_json::from_value(json!({"type": "median"})).unwrap();
        assert_eq!(p, PrunerConfig::default());
        let p: PrunerConfig =
            serde_json::from_value(json!({"type": "hyperband", "max_resource": 27})).unwrap();
        let PrunerConfig::Hyperband(h) = &p else {
            panic!()
        };
        assert_eq!((h.min_resource, h.reduction_factor), (1, 3));
        let p: PrunerConfig =
            serde_json::from_value(json!({"type": "successive_halving"})).unwrap();
        assert_eq!(
            p,
            PrunerConfig::SuccessiveHalving(SuccessiveHalvingPruner::default())
        );
        assert_eq!(
            serde_json::to_value(PrunerConfig::None).unwrap(),
            json!({"type": "none"})
        );
    }
}
