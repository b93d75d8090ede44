//! Exhaustive grid search, as Optuna's `GridSampler` but designed for concurrent workers.

use crate::space::{is_active, value_eq};
use crate::{Direction, Distribution, HpoError, Params, Sampler, SearchSpace, Trial, TrialState};
use serde_json::Value;

/// Cartesian product of every parameter's grid: categorical choices, all integers by
/// `step`, floats by `step` (a float without a step has no grid and is an error).
///
/// Concurrency: a point is *taken* when any trial in the history other than the one being
/// sampled (running, complete, pruned or failed) carries it, so the server reserves a
/// point simply by storing the running trial with its params before the next ask. Each ask
/// returns the lowest-index free point (Optuna shuffles the free points; a fixed order
/// makes the sweep predictable and needs no seed). When all are taken the sampler answers
/// [`HpoError::GridExhausted`] and the study should stop, where Optuna would re-run a
/// random point.
///
/// Conditional spaces: a point fixes a value for every parameter; the suggestion keeps
/// only the active ones, and points that differ only in inactive parameters are the same
/// suggestion, so they are collapsed and enumerated once.
#[derive(Debug, Clone, Default)]
pub struct GridSampler;

/// Every value of one parameter's grid.
fn axis(name: &str, d: &Distribution) -> Result<Vec<Value>, HpoError> {
    Ok(match d {
        Distribution::Categorical { choices } => choices.clone(),
        Distribution::Int {
            low, high, step, ..
        } => (0..=(high - low) / step)
            .map(|k| Value::from(low + k * step))
            .collect(),
        Distribution::Float {
            low,
            high,
            step: Some(s),
            ..
        } => {
            let n = ((high - low) / s).round() as i64;
            (0..=n).map(|k| d.to_external(low + k as f64 * s)).collect()
        }
        Distribution::Float { step: None, .. } => {
            return Err(HpoError::GridNeedsStep(name.to_owned()));
        }
    })
}

impl GridSampler {
    /// All distinct suggestions of `space`, in a fixed order (the last parameter varies
    /// fastest), each holding only its active parameters.
    pub fn points(&self, space: &SearchSpace) -> Result<Vec<Params>, HpoError> {
        space.validate()?;
        let order = space.order()?;
        let defs: Vec<(&str, &crate::ParamDef)> = space.iter().collect();
        let mut points: Vec<Params> = vec![Params::new()];
        for i in order {
            let (name, def) = defs[i];
            let values = axis(name, &def.distribution)?;
            let mut next = Vec::with_capacity(points.len() * values.len());
            for p in points {
                if is_active(def, &p) {
                    for v in &values {
                        let mut q = p.clone();
                        q.insert(name.to_owned(), v.clone());
                        next.push(q);
                    }
                } else {
                    next.push(p);
                }
            }
            points = next;
        }
        Ok(points)
    }

    /// Index of the point trial `trial_number` gets: the first point no other trial in
    /// `history` has taken, after those reserved by lower-numbered trials that are running
    /// without params yet (numbered, not yet sampled: a server numbers a trial before it
    /// samples). Every concurrent ask therefore gets its own point, whichever samples first:
    /// a pending lower-numbered trial takes the earlier free point, and once it has sampled,
    /// its point is taken instead of reserved.
    pub fn next_free(
        &self,
        points: &[Params],
        history: &[Trial],
        trial_number: u64,
    ) -> Option<usize> {
        let others = || history.iter().filter(|t| t.number != trial_number);
        let taken: Vec<&Params> = others().map(|t| &t.params).collect();
        let reserved = others()
            .filter(|t| {
                t.number < trial_number && t.state == TrialState::Running && t.params.is_empty()
            })
            .count();
        points
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                !taken.iter().any(|t| {
                    t.len() == p.len()
                        && p.iter()
                            .all(|(k, v)| t.get(k).is_some_and(|w| value_eq(v, w)))
                })
            })
            .nth(reserved)
            .map(|(i, _)| i)
    }
}

impl Sampler for GridSampler {
    fn sample(
        &self,
        space: &SearchSpace,
        history: &[Trial],
        _directions: &[Direction],
        trial_number: u64,
    ) -> Result<Params, HpoError> {
        let points = self.points(space)?;
        let i = self
            .next_free(&points, history, trial_number)
            .ok_or(HpoError::GridExhausted(points.len()))?;
        Ok(points[i].clone())
    }
}
