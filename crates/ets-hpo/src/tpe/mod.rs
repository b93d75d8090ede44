//! Tree-structured Parzen Estimator, as Optuna's `TPESampler` (4.9) with its defaults.

mod gauss_sum;
mod line;
mod parzen;
mod state;
mod truncnorm;

use crate::history::Columns;
use crate::hypervolume::{reference_point, solve_hssp, weights_below};
use crate::pareto::nondomination_ranks;
use crate::random::{RandomSampler, sample_uniform};
use crate::rng::{Rng, hash_str};
use crate::space::{Condition, condition_met};
use crate::{
    Direction, Distribution, History, HpoError, Params, Sampler, SearchSpace, Trial, TrialState,
};
use parzen::{Parzen, ParzenParams};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use state::{STATE_FROM, TpeState};

/// TPE settings; every default is Optuna's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TpeOptions {
    pub seed: u64,
    /// Complete + pruned trials needed before TPE takes over from random sampling (10).
    pub n_startup_trials: usize,
    /// Candidates drawn from the "good" estimator per suggestion (24).
    pub n_ei_candidates: usize,
    /// Weight of the prior kernel (1.0).
    pub prior_weight: f64,
    /// Lower-bound kernel widths by range / min(100, n + 2) (true).
    pub consider_magic_clip: bool,
    /// Let the outermost kernels' widths reach the bounds (false).
    pub consider_endpoints: bool,
    /// Sample the parameters of a group jointly (false = each on its own).
    pub multivariate: bool,
    /// Count other running trials as bad ("above") so parallel workers spread out (false).
    pub constant_liar: bool,
}

impl Default for TpeOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            n_startup_trials: 10,
            n_ei_candidates: 24,
            prior_weight: 1.0,
            consider_magic_clip: true,
            consider_endpoints: false,
            multivariate: false,
            constant_liar: false,
        }
    }
}

/// TPE: splits the history into the best `gamma(n) = min(ceil(0.1·n), 25)` trials and the
/// rest, fits a Parzen estimator to each, draws `n_ei_candidates` from the good one and
/// keeps the candidate with the highest log l(x) − log g(x).
///
/// Conditional spaces: univariate TPE samples each active parameter from the trials that
/// had it (as Optuna's independent sampling). Multivariate TPE samples jointly the
/// parameters that share one activation condition (the unconditional ones form one group,
/// each `Condition` another), using the trials that had all of them: the same subspaces
/// Optuna's `group=True` finds from the history, read from the declared space instead.
///
/// Multi-objective, as Optuna: the split takes whole non-domination ranks, then the
/// greedy hypervolume subset of the next rank; the good estimator weighs its trials by
/// their hypervolume contribution (EPS off its own front).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TpeSampler {
    pub options: TpeOptions,
}

impl TpeSampler {
    pub fn new(options: TpeOptions) -> Self {
        Self { options }
    }

    fn parzen_params(&self) -> ParzenParams {
        ParzenParams {
            prior_weight: self.options.prior_weight,
            consider_magic_clip: self.options.consider_magic_clip,
            consider_endpoints: self.options.consider_endpoints,
            multivariate: self.options.multivariate,
        }
    }

    /// Samples `names` jointly, from the trials that carry all of them.
    fn sample_group(
        &self,
        space: &SearchSpace,
        names: &[&str],
        columns: &Columns,
        split: &Split,
        rng: &mut Rng,
    ) -> Vec<Value> {
        let dists: Vec<&Distribution> = names
            .iter()
            .map(|n| &space.get(n).expect("name from space").distribution)
            .collect();
        let cols: Vec<&[f64]> = names
            .iter()
            .zip(&dists)
            .map(|(n, d)| columns.get(n, d).expect("columns cover the space"))
            .collect();
        // Of the trials at `at`, the positions of those with every parameter (in range),
        // and their values, parameter by parameter.
        let observations = |at: &[usize]| -> (Vec<usize>, Vec<Vec<f64>>) {
            let kept: Vec<usize> = (0..at.len())
                .filter(|p| cols.iter().all(|c| !c[at[*p]].is_nan()))
                .collect();
            let obs = cols
                .iter()
                .map(|c| kept.iter().map(|p| c[at[*p]]).collect())
                .collect();
            (kept, obs)
        };
        let p = self.parzen_params();
        let (kept, below_obs) = observations(&split.below);
        let weights = split
            .below_weights
            .as_ref()
            .map(|w| kept.iter().map(|i| w[*i]).collect());
        let below = Parzen::new(&dists, &below_obs, weights, None, p);
        let (kept, above_obs) = observations(&split.above);
        // One parameter's kernels go by value: the order the history keeps spares the
        // sort of thousands of bad trials.
        let order = match names {
            [name] => columns
                .sorted(name)
                .map(|sorted| subset_order(sorted, &split.above, &kept)),
            _ => None,
        };
        let above = Parzen::new(&dists, &above_obs, None, order, p);
        let candidates = below.sample(rng, self.options.n_ei_candidates.max(1));
        let best = best_candidate(&below, &above, &candidates);
        dists
            .iter()
            .zip(&candidates[best])
            .map(|(d, x)| d.to_external(*x))
            .collect()
    }

    /// TPE over `trials` with their parameter `columns`.
    fn sample_columns(
        &self,
        space: &SearchSpace,
        trials: &[Trial],
        columns: &Columns,
        directions: &[Direction],
        trial_number: u64,
    ) -> Result<Params, HpoError> {
        if directions.is_empty() {
            return Err(HpoError::NoDirections);
        }
        let finished: Vec<usize> = (0..trials.len())
            .filter(|i| trials[*i].number != trial_number && usable(&trials[*i], directions))
            .collect();
        if finished.len() < self.options.n_startup_trials {
            return RandomSampler::new(self.options.seed).sample(
                space,
                trials,
                directions,
                trial_number,
            );
        }
        let mut considered = finished.clone();
        if self.options.constant_liar {
            considered.extend((0..trials.len()).filter(|i| {
                trials[*i].number != trial_number && trials[*i].state == TrialState::Running
            }));
        }
        let split = split_trials(
            trials,
            &considered,
            directions,
            default_gamma(finished.len()),
        );
        let seed = self.options.seed;

        if !self.options.multivariate {
            let pick = |name: &str, d: &Distribution| {
                let mut rng = Rng::new(seed, trial_number, hash_str(name));
                if d.is_single() {
                    return sample_uniform(d, &mut rng);
                }
                self.sample_group(space, &[name], columns, &split, &mut rng)
                    .remove(0)
            };
            let mut early = presample_unconditional(space, split.above.len(), &pick);
            return space.sample_active(|name, d, _| {
                Ok(early.remove(name).unwrap_or_else(|| pick(name, d)))
            });
        }

        // Multivariate: groups of parameters sharing one activation condition, visited
        // in dependency order (a group's parent was decided by an earlier group).
        let order = space.order()?;
        let defs: Vec<(&str, &crate::ParamDef)> = space.iter().collect();
        let mut groups: Vec<(Option<&Condition>, Vec<&str>)> = Vec::new();
        for i in order {
            let (name, def) = defs[i];
            let cond = def.condition.as_ref();
            match groups.iter_mut().find(|(c, _)| *c == cond) {
                Some((_, names)) => names.push(name),
                None => groups.push((cond, vec![name])),
            }
        }
        let mut params = Params::new();
        for (cond, names) in groups {
            if !condition_met(cond, &params) {
                continue;
            }
            let key = names
                .iter()
                .fold(0u64, |h, n| h.rotate_left(7) ^ hash_str(n));
            let mut rng = Rng::new(seed, trial_number, key);
            let (single, multi): (Vec<&str>, Vec<&str>) = names
                .iter()
                .partition(|n| space.get(n).expect("in space").distribution.is_single());
            for n in single {
                let d = &space.get(n).expect("in space").distribution;
                params.insert(n.to_owned(), sample_uniform(d, &mut rng));
            }
            if !multi.is_empty() {
                let values = self.sample_group(space, &multi, columns, &split, &mut rng);
                for (n, v) in multi.iter().zip(values) {
                    params.insert((*n).to_owned(), v);
                }
            }
        }
        Ok(params)
    }
}

impl TpeSampler {
    /// Univariate TPE from a study's kept state (`state.rs`): the same choices as
    /// `sample_columns`, with the same generator per parameter.
    fn sample_state(
        &self,
        space: &SearchSpace,
        state: &TpeState,
        trial_number: u64,
    ) -> Result<Params, HpoError> {
        let (seed, p) = (self.options.seed, self.parzen_params());
        space.sample_active(|name, d, _| {
            let mut rng = Rng::new(seed, trial_number, hash_str(name));
            if d.is_single() {
                return Ok(sample_uniform(d, &mut rng));
            }
            let x = state.pick(name, p, self.options.n_ei_candidates, &mut rng);
            Ok(d.to_external(x))
        })
    }

    /// TPE over `trials` without a kept state: a long history is sampled through a state
    /// built for the occasion, so the answer is the one a kept state gives.
    fn sample_fresh(
        &self,
        space: &SearchSpace,
        trials: &[Trial],
        columns: &Columns,
        directions: &[Direction],
        trial_number: u64,
    ) -> Result<Params, HpoError> {
        let long = || {
            let finished = trials.iter().filter(|t| usable(t, directions)).count();
            finished >= STATE_FROM && trials.windows(2).all(|w| w[0].number < w[1].number)
        };
        if TpeState::applies(&self.options, directions) && long() {
            let state = TpeState::build(space, trials, columns, directions[0], &self.options);
            if state.serves(trials, trial_number, self.options.n_startup_trials) {
                return self.sample_state(space, &state, trial_number);
            }
        }
        self.sample_columns(space, trials, columns, directions, trial_number)
    }
}

/// What a sampler keeps about one study between asks (TPE: its state, `state.rs`). A
/// server keeps one per study beside the study's [`History`] and passes both to
/// [`Sampler::sample_cached`]; the cache checks that it follows the history given and
/// rebuilds when not, so any cache gives the answer a fresh one would.
#[derive(Debug, Clone, Default)]
pub struct SamplerCache {
    tpe: Option<Box<TpeState>>,
}

/// Candidates `best_candidate` finishes one by one before it sums the rest by bins.
const DIRECT_FINISHES: usize = 4;

/// Histories shorter than this are sampled on one thread: a thread costs more than the fits.
const PARALLEL_FROM_TRIALS: usize = 1_000;

/// Univariate TPE's unconditional parameters, sampled up front on up to as many threads
/// as there are cores: they are always active, and each is fitted on its own with a
/// generator of its own, so the answer is the same on any number of threads (a
/// conditional parameter waits for its parent's value in `sample_active`).
fn presample_unconditional<'s>(
    space: &'s SearchSpace,
    trials: usize,
    pick: &(impl Fn(&str, &Distribution) -> Value + Sync),
) -> std::collections::HashMap<&'s str, Value> {
    let params: Vec<(&str, &Distribution)> = space
        .iter()
        .filter(|(_, def)| def.condition.is_none() && !def.distribution.is_single())
        .map(|(name, def)| (name, &def.distribution))
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(params.len());
    if trials < PARALLEL_FROM_TRIALS || threads < 2 {
        return std::collections::HashMap::new();
    }
    let share = |k: usize| {
        params
            .iter()
            .skip(k)
            .step_by(threads)
            .map(|(name, d)| (*name, pick(name, d)))
            .collect::<Vec<_>>()
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads)
            .map(|k| scope.spawn(move || share(k)))
            .collect();
        let mut values = share(0);
        for other in others {
            values.extend(other.join().expect("a TPE fit panicked"));
        }
        values.into_iter().collect()
    })
}

/// The candidate with the highest log l(x) − log g(x), the first of equals.
///
/// When g is one numerical parameter's (`Line`), each candidate's g is first summed over
/// the kernels near it only: a lower bound of g, so an upper bound of its score. Candidates
/// are then finished best bound first, until the next bound cannot beat the best score:
/// the same answer for a fraction of the kernel evaluations (the good trials' candidates
/// crowd where the bad trials are sparse, and scores differ by more than the ~5% the
/// core leaves out).
fn best_candidate(below: &Parzen, above: &Parzen, candidates: &[Vec<f64>]) -> usize {
    let good: Vec<f64> = candidates.iter().map(|c| below.log_pdf(c)).collect();
    let Parzen::Line(line) = above else {
        let scores = candidates
            .iter()
            .zip(&good)
            .map(|(c, l)| l - above.log_pdf(c));
        return first_best(scores.enumerate());
    };
    let xs: Vec<f64> = candidates.iter().map(|c| c[0]).collect();
    if line.crowded_at(&xs)
        && let Some(bad) = line.log_pdfs(&xs)
    {
        return first_best(good.iter().zip(bad).map(|(l, g)| l - g).enumerate());
    }
    let partial: Vec<_> = candidates.iter().map(|c| line.density_core(c[0])).collect();
    let bound: Vec<f64> = good
        .iter()
        .zip(&partial)
        .map(|(l, p)| l - p.lower_bound())
        .collect();
    let mut by_bound: Vec<usize> = (0..candidates.len()).collect();
    by_bound.sort_by(|a, b| bound[*b].total_cmp(&bound[*a]).then(a.cmp(b)));
    let mut finished: Vec<(usize, f64)> = Vec::new();
    let mut best = f64::NEG_INFINITY;
    // Bounds that do not separate the candidates (a study converging): after a few, the
    // rest are summed by bins when the line allows it.
    let mut binned: Option<Option<Vec<f64>>> = None;
    for (k, i) in by_bound.into_iter().enumerate() {
        // Rounding aside, a bound is never below its score; the margin keeps equals.
        if bound[i] < best - 1e-9 {
            break;
        }
        let by_bins = if k < DIRECT_FINISHES {
            None
        } else {
            let sums = binned.get_or_insert_with(|| line.log_pdfs(&xs));
            #[cfg(test)]
            if sums.is_some() {
                tests::FINISHED_BY_BINS.with(|n| n.set(n.get() + 1));
            }
            sums.as_ref().map(|sums| sums[i])
        };
        let score = good[i] - by_bins.unwrap_or_else(|| line.finish(partial[i]));
        best = best.max(score);
        finished.push((i, score));
    }
    finished.sort_by_key(|(i, _)| *i);
    first_best(finished.into_iter())
}

/// The index of the highest score, the first of equals (0 when none is above −∞).
fn first_best(scores: impl Iterator<Item = (usize, f64)>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, score) in scores {
        if score > best.1 {
            best = (i, score);
        }
    }
    best.0
}

/// The observations `kept` (indices into `at`, trial positions) ordered by value, read
/// off `sorted` (every trial position with a value, by value): a stable sort's order,
/// since observation order is position order.
fn subset_order(sorted: &[u32], at: &[usize], kept: &[usize]) -> Vec<usize> {
    let mut observation = vec![u32::MAX; sorted.iter().max().map_or(0, |m| *m as usize + 1)];
    for (i, k) in kept.iter().enumerate() {
        if let Some(slot) = observation.get_mut(at[*k]) {
            *slot = i as u32;
        }
    }
    sorted
        .iter()
        .map(|q| observation[*q as usize])
        .filter(|i| *i != u32::MAX)
        .map(|i| i as usize)
        .collect()
}

/// The good/bad split as positions in the trial list, each side ordered by trial number
/// (the weights ramp follows it).
struct Split {
    below: Vec<usize>,
    above: Vec<usize>,
    /// Multi-objective only: Optuna's hypervolume-contribution weight of each `below` trial.
    below_weights: Option<Vec<f64>>,
}

/// Optuna's `default_gamma`.
pub(crate) fn default_gamma(n: usize) -> usize {
    (n.div_ceil(10)).min(25)
}

/// Optuna's `_get_pruned_trial_score`: deeper first, then better last value.
fn pruned_score(t: &Trial, dir: Direction) -> (f64, f64) {
    match t.intermediate.iter().next_back() {
        Some((step, v)) if v.is_nan() => (-(*step as f64), f64::INFINITY),
        Some((step, v)) => (-(*step as f64), dir.loss(*v)),
        None => (1.0, 0.0),
    }
}

/// Optuna's `_split_trials` over the `considered` positions of `trials`.
fn split_trials(
    trials: &[Trial],
    considered: &[usize],
    directions: &[Direction],
    n_below: usize,
) -> Split {
    let mut complete: Vec<usize> = Vec::new();
    let mut pruned: Vec<usize> = Vec::new();
    let mut running: Vec<usize> = Vec::new();
    for &i in considered {
        match trials[i].state {
            TrialState::Running => running.push(i),
            TrialState::Complete => complete.push(i),
            TrialState::Pruned => pruned.push(i),
            TrialState::Failed => {}
        }
    }
    let loss = |i: usize, d: usize| directions[d].loss(trials[i].values.as_ref().unwrap()[d]);
    let mut n_below = n_below;
    let k = n_below.min(complete.len());
    let (mut below, mut above): (Vec<usize>, Vec<usize>);
    if directions.len() <= 1 {
        // The k best, ties to the earlier in `complete`, as a stable sort by value would
        // put first; selecting them is linear where sorting 10,000 trials is not.
        let mut ranked: Vec<(f64, usize)> = complete.iter().map(|i| (loss(*i, 0), *i)).collect();
        let by_loss = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        let mut take = vec![false; trials.len()];
        if k > 0 {
            if k < ranked.len() {
                ranked.select_nth_unstable_by(k - 1, by_loss);
            }
            ranked[..k].iter().for_each(|(_, i)| take[*i] = true);
        }
        (below, above) = complete.into_iter().partition(|i| take[*i]);
    } else {
        let losses: Vec<Vec<f64>> = complete
            .iter()
            .map(|i| (0..directions.len()).map(|d| loss(*i, d)).collect())
            .collect();
        let ranks = nondomination_ranks(&losses);
        // Whole ranks while they fit, then the hypervolume subset of the next rank.
        let mut take = vec![false; complete.len()];
        let mut r = 0;
        let mut n_taken = 0;
        loop {
            let members: Vec<usize> = (0..complete.len()).filter(|i| ranks[*i] == r).collect();
            if members.is_empty() || n_taken + members.len() > k {
                if n_taken < k && !members.is_empty() {
                    let lv: Vec<Vec<f64>> = members.iter().map(|i| losses[*i].clone()).collect();
                    let reference = reference_point(&lv);
                    for p in solve_hssp(&lv, k - n_taken, &reference) {
                        take[members[p]] = true;
                    }
                }
                break;
            }
            members.iter().for_each(|i| take[*i] = true);
            n_taken += members.len();
            r += 1;
        }
        (below, above) = (Vec::new(), Vec::new());
        for (i, taken) in complete.into_iter().zip(take) {
            if taken { below.push(i) } else { above.push(i) }
        }
    }
    n_below = n_below.saturating_sub(below.len());
    let dir = directions[0];
    pruned.sort_by(|a, b| {
        let (x, y) = (
            pruned_score(&trials[*a], dir),
            pruned_score(&trials[*b], dir),
        );
        x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1))
    });
    let k = n_below.min(pruned.len());
    above.extend(pruned.split_off(k));
    below.extend(pruned);
    above.extend(running);
    below.sort_by_key(|i| trials[*i].number);
    above.sort_by_key(|i| trials[*i].number);
    let below_weights = (directions.len() > 1)
        .then(|| {
            let losses: Option<Vec<Vec<f64>>> = below
                .iter()
                .map(|i| {
                    let v = trials[*i]
                        .values
                        .as_ref()
                        .filter(|v| v.len() == directions.len())?;
                    Some(directions.iter().zip(v).map(|(d, x)| d.loss(*x)).collect())
                })
                .collect();
            losses.map(|l| weights_below(&l))
        })
        .flatten();
    Split {
        below,
        above,
        below_weights,
    }
}

/// Finished trials TPE learns from: pruned ones, and complete ones with one non-NaN value
/// per direction.
fn usable(t: &Trial, directions: &[Direction]) -> bool {
    match t.state {
        TrialState::Complete => t
            .values
            .as_ref()
            .is_some_and(|v| v.len() == directions.len() && v.iter().all(|x| !x.is_nan())),
        TrialState::Pruned => true,
        TrialState::Running | TrialState::Failed => false,
    }
}

impl Sampler for TpeSampler {
    fn sample(
        &self,
        space: &SearchSpace,
        history: &[Trial],
        directions: &[Direction],
        trial_number: u64,
    ) -> Result<Params, HpoError> {
        let columns = Columns::of(space, history);
        self.sample_fresh(space, history, &columns, directions, trial_number)
    }

    fn sample_history(
        &self,
        space: &SearchSpace,
        history: &History,
        directions: &[Direction],
        trial_number: u64,
    ) -> Result<Params, HpoError> {
        let trials = history.trials();
        if history.columns().covers(space) {
            return self.sample_fresh(space, trials, history.columns(), directions, trial_number);
        }
        self.sample(space, trials, directions, trial_number)
    }

    /// Only with a state kept from an earlier ask: building one at 10,000 trials (a study's
    /// first ask after a start) takes milliseconds.
    fn cached_ask_is_cheap(&self, directions: &[Direction], cache: &SamplerCache) -> bool {
        TpeState::applies(&self.options, directions) && cache.tpe.is_some()
    }

    fn sample_cached(
        &self,
        space: &SearchSpace,
        history: &History,
        directions: &[Direction],
        trial_number: u64,
        cache: &mut SamplerCache,
    ) -> Result<Params, HpoError> {
        if !TpeState::applies(&self.options, directions)
            || !history.in_number_order()
            || !history.columns().covers(space)
        {
            cache.tpe = None;
            return self.sample_history(space, history, directions, trial_number);
        }
        let direction = directions[0];
        let kept = cache.tpe.take().and_then(|mut state| {
            state
                .follow(space, history, direction, &self.options)
                .then_some(state)
        });
        let state = kept.unwrap_or_else(|| {
            Box::new(TpeState::of_history(
                space,
                history,
                direction,
                &self.options,
            ))
        });
        let trials = history.trials();
        let sampled = if state.serves(trials, trial_number, self.options.n_startup_trials) {
            self.sample_state(space, &state, trial_number)
        } else {
            self.sample_columns(space, trials, history.columns(), directions, trial_number)
        };
        cache.tpe = Some(state);
        sampled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    thread_local! {
        /// Candidates `best_candidate` finished by bins after its bounds, on this test's
        /// thread (so other tests running alongside do not count).
        pub(super) static FINISHED_BY_BINS: std::cell::Cell<usize> =
            const { std::cell::Cell::new(0) };
    }

    fn trial(v: &Value) -> Trial {
        let state = match v["state"].as_str().unwrap() {
            "complete" => TrialState::Complete,
            "pruned" => TrialState::Pruned,
            _ => TrialState::Running,
        };
        let mut t = Trial::new(v["number"].as_u64().unwrap(), state);
        t.values = serde_json::from_value(v["values"].clone()).unwrap();
        for (k, x) in v["intermediate"].as_object().unwrap() {
            t.intermediate
                .insert(k.parse().unwrap(), x.as_f64().unwrap_or(f64::NAN));
        }
        t
    }

    /// Unconditional parameters fitted up front on several threads get the values they
    /// get one after the other: the same parameters made conditional (on a parent that is
    /// always on) are sampled in order, and agree.
    #[test]
    fn parallel_presampling_changes_no_value() {
        let on = || Distribution::categorical([serde_json::json!("on")]);
        let names = ["x", "y", "lr"];
        let dists = [
            Distribution::float(-5.0, 10.0),
            Distribution::float(0.0, 15.0),
            Distribution::float_log(1e-5, 1e-1),
        ];
        let (mut free, mut nested) = (SearchSpace::new(), SearchSpace::new().with("p", on()));
        for (name, d) in names.iter().zip(&dists) {
            free = free.with(name, d.clone());
            nested = nested.with_conditional(name, d.clone(), "p", ["on"]);
        }
        let mut rng = Rng::new(9, 0, 0);
        let history: Vec<Trial> = (0..PARALLEL_FROM_TRIALS as u64 + 200)
            .map(|i| {
                let mut t = Trial::new(i, TrialState::Complete);
                for (name, d) in names.iter().zip(&dists) {
                    t.params.insert((*name).into(), sample_uniform(d, &mut rng));
                }
                t.params.insert("p".into(), serde_json::json!("on"));
                t.values = Some(vec![rng.uniform()]);
                t
            })
            .collect();
        let tpe = TpeSampler::new(TpeOptions::default());
        let n = history.len() as u64;
        for number in [n, n + 1, n + 2] {
            let a = tpe
                .sample(&free, &history, &[Direction::Minimize], number)
                .unwrap();
            let b = tpe
                .sample(&nested, &history, &[Direction::Minimize], number)
                .unwrap();
            for name in names {
                assert_eq!(a[name], b[name], "{name} at trial {number}");
            }
        }
    }

    /// Optuna's `_split_trials` on the same histories (tests/fixtures/gen_split_fixtures.py):
    /// complete by value, then pruned by depth and last value, running always above;
    /// several objectives by non-domination rank then greedy hypervolume subset, with
    /// Optuna's hypervolume-contribution weights for the good trials.
    #[test]
    fn split_matches_optuna() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/split.json")).unwrap();
        let (mut checked, mut weights_checked) = (0, 0);
        for case in fixture["cases"].as_array().unwrap() {
            let directions: Vec<Direction> =
                serde_json::from_value(case["directions"].clone()).unwrap();
            let trials: Vec<Trial> = case["trials"]
                .as_array()
                .unwrap()
                .iter()
                .map(trial)
                .collect();
            let all: Vec<usize> = (0..trials.len()).collect();
            for s in case["splits"].as_array().unwrap() {
                let n_below = s["n_below"].as_u64().unwrap() as usize;
                let want: Vec<u64> = serde_json::from_value(s["below"].clone()).unwrap();
                let split = split_trials(&trials, &all, &directions, n_below);
                let got: Vec<u64> = split.below.iter().map(|i| trials[*i].number).collect();
                assert_eq!(got, want, "{directions:?} n_below={n_below}");
                if let Some(w) = s.get("weights_below") {
                    let want: Vec<f64> = serde_json::from_value(w.clone()).unwrap();
                    let got = split.below_weights.clone().unwrap();
                    assert_eq!(got.len(), want.len());
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-9 * w.abs().max(1e-3),
                            "{got:?} {want:?}"
                        );
                    }
                    weights_checked += 1;
                }
                // Every trial is on exactly one side.
                assert_eq!(split.below.len() + split.above.len(), trials.len());
                checked += 1;
            }
        }
        assert!(
            checked > 200 && weights_checked > 100,
            "{checked} {weights_checked}"
        );
    }

    /// The candidate chosen by bounding the scores first (short histories) or by summing the
    /// bad trials' kernels by bins (long ones) is the one scoring every candidate in full
    /// picks, against the product form (the Optuna-pinned reference), on histories of
    /// continuous, log and discrete parameters, spread or crowded as a converged study's.
    #[test]
    fn bounded_candidate_choice_is_the_full_argmax() {
        use parzen::Product;
        let p = ParzenParams {
            prior_weight: 1.0,
            consider_magic_clip: true,
            consider_endpoints: false,
            multivariate: false,
        };
        let dists = [
            Distribution::float(-5.0, 10.0),
            Distribution::float_log(1e-5, 1.0),
            Distribution::int(1, 300),
        ];
        let mut checked = 0;
        for d in &dists {
            for seed in 0..40 {
                let mut rng = Rng::new(seed, 1, 2);
                let random = |rng: &mut Rng| {
                    let v = crate::random::sample_uniform(d, rng);
                    d.to_internal(&v).unwrap()
                };
                let good: Vec<f64> = (0..25).map(|_| random(&mut rng)).collect();
                // Short (the bounds) and long histories (sums by bins when continuous),
                // spread or, as a converged study's, crowded around one good trial.
                let n = if seed % 2 == 0 { 600 } else { 2_000 };
                let crowd = good[0];
                let bad: Vec<f64> = (0..n)
                    .map(|i| {
                        let v = random(&mut rng);
                        if seed % 4 < 2 || i % 5 == 0 {
                            return v;
                        }
                        // 4 in 5 within a twentieth of the range of the crowd's centre.
                        let near = d.to_internal(&d.to_external(crowd + 0.05 * (v - crowd)));
                        near.unwrap()
                    })
                    .collect();
                let below = Parzen::new(&[d], &[good], None, None, p);
                let above = Parzen::new(&[d], std::slice::from_ref(&bad), None, None, p);
                let reference = Product::new(&[d], &[bad], None, p);
                let candidates = below.sample(&mut rng, 24);
                let full = candidates
                    .iter()
                    .map(|c| below.log_pdf(c) - reference.log_pdf(c));
                assert!(matches!(above, Parzen::Line(_)));
                assert_eq!(
                    best_candidate(&below, &above, &candidates),
                    first_best(full.enumerate()),
                    "{d:?} seed {seed}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 120);
        // Some candidates went each way: bounds, bins after bounds (all three kinds of
        // history are in the 120).
        assert!(FINISHED_BY_BINS.with(|n| n.get()) > 0);
    }

    #[test]
    fn gamma_is_optunas() {
        let g: Vec<usize> = [0, 1, 10, 11, 100, 249, 250, 251, 1000]
            .iter()
            .map(|n| default_gamma(*n))
            .collect();
        assert_eq!(g, [0, 1, 1, 2, 10, 25, 25, 25, 25]);
    }
}
