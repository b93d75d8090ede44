use thiserror::Error;

/// Errors from validating a search space or from a sampler that cannot answer.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum HpoError {
    #[error("parameter {param:?}: {reason}")]
    InvalidDistribution { param: String, reason: String },
    #[error("parameter {param:?}: condition {reason}")]
    InvalidCondition { param: String, reason: String },
    #[error("search space has a condition cycle through {0:?}")]
    ConditionCycle(String),
    #[error("search space is empty")]
    EmptySpace,
    #[error("every grid point is taken ({0} points)")]
    GridExhausted(usize),
    #[error("grid sampler needs a step for float parameter {0:?}")]
    GridNeedsStep(String),
    #[error("directions must not be empty")]
    NoDirections,
}
