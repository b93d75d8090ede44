//! What univariate TPE keeps about a study between asks, so that an ask at 10,000 trials
//! does work in proportion to what changed instead of refitting every bad ("above") trial.
//!
//! A finished trial never changes, so the good/bad split of a long single-objective study
//! moves by one trial at a time: a new complete trial either joins the 25 good ones (and
//! the worst of them goes to the bad side) or goes to the bad side itself. The state keeps:
//!
//! - the 25 good trials (`default_gamma`'s cap) with their parameter values;
//! - per parameter, the bad trials that have it, by trial number (a kernel's weight is a
//!   ramp over that order) and, for a continuous parameter, its kernels by value in bins
//!   one magic-clip width wide, each bin with the fast-Gauss-transform moments
//!   (`gauss_sum`) of its equal-width kernels. A kernel's weight `start + slope × rank` is
//!   linear in its rank, so a bin keeps two sets of moments (Σ ν·… and Σ rank·ν·…) and an
//!   ask combines them with that ask's `start` and `slope`; only the 25 newest kernels
//!   (flat weight) and the few wider kernels of sparse regions are summed one by one.
//!   A new bad trial dirties its bin and those of neighbours whose width changed; a bad
//!   trial older than others (the good side's former worst, a trial finished out of order)
//!   shifts later ranks, dirtying the bins that hold them;
//! - per categorical parameter, each choice's count and rank sum.
//!
//! Everything kept is a function of the set of finished trials (bins recomputed whole,
//! kernels in a fixed order), so a state updated ask after ask equals one built from
//! scratch from the same history, to the bit (tested): an instance that missed trials
//! another added, or a history that changed other than by finishing trials (caught by
//! `History::fingerprint`), rebuilds and samples what any other instance samples.
//!
//! The densities are the mixture `line.rs` sums (Optuna's `_ParzenEstimator`), summed by
//! bins: equal to its direct sums to ~1e-13 (tested), as its own binned sums are.

use std::collections::BTreeMap;

use super::gauss_sum::{INVERSES, REACH, TERMS};
use super::line::Bounds;
use super::parzen::{Parzen, ParzenParams};
use super::truncnorm::gauss_mass;
use super::{TpeOptions, usable};
use crate::history::{Columns, History};
use crate::{Direction, Distribution, SearchSpace, Trial, TrialState};

const SQRT_2PI: f64 = 2.506_628_274_631_000_5;

/// Finished trials from which TPE samples from the state: below, a fit from scratch costs
/// less than ~0.2 ms, and the quality benchmark's 100-trial studies stay on it unchanged.
pub(crate) const STATE_FROM: usize = 1_000;

/// Good trials once a study has 241 or more finished ones (`default_gamma`'s cap).
const GOOD: usize = 25;

/// Newest kernels of full weight (Optuna's `default_weights`).
const FLAT: usize = 25;

/// Bad kernels a continuous parameter needs before its densities are summed by bins (the
/// grid is fixed once magic clipping's width is, from 98 kernels).
const BINNED_FROM: usize = 1_000;

/// How far (in its widths) a kernel summed one by one counts: further out it adds less
/// than e^-45 of its peak (as `gauss_sum`'s reach).
const REACH_IN_WIDTHS: f64 = 9.5;

/// The settings a state was built for: another space, direction or kernel rule rebuilds it.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    space: SearchSpace,
    direction: Direction,
    prior_weight: f64,
    consider_endpoints: bool,
}

/// One of the good trials, with its parameters' internal values (NaN when absent), in the
/// space's order.
#[derive(Debug, Clone)]
struct Good {
    loss: f64,
    number: u64,
    values: Vec<f64>,
}

/// Bit for bit (an absent value, NaN, equals itself).
impl PartialEq for Good {
    fn eq(&self, other: &Self) -> bool {
        let bits = |g: &Self| {
            (
                g.loss.to_bits(),
                g.number,
                g.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            )
        };
        bits(self) == bits(other)
    }
}

/// TPE's state for one study (see the module's comment).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TpeState {
    key: Key,
    /// Trials `[0, prefix)` of the history followed are finished and taken in; their
    /// `History::fingerprint`.
    prefix: usize,
    fingerprint: u64,
    /// Finished trials after `prefix` already taken in (they finished before an earlier
    /// trial did): number → `History::trial_hash`.
    extra: BTreeMap<u64, u64>,
    /// Usable finished trials (complete with a value, or pruned), and the complete ones.
    n_finished: usize,
    n_complete: usize,
    /// The best complete trials by (loss, number), at most `GOOD`.
    good: Vec<Good>,
    params: Vec<ParamState>,
}

#[derive(Debug, Clone, PartialEq)]
struct ParamState {
    name: String,
    distribution: Distribution,
    /// The bad trials having this parameter: (number, internal value), by number.
    by_number: Vec<(u64, f64)>,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Continuous(Bins),
    Categorical(Choices),
    /// Discrete numbers: fitted from `by_number` at each ask.
    Discrete,
}

impl TpeState {
    /// Whether TPE with `options` keeps a state for `directions` (univariate, one objective,
    /// magic clipping, no constant liar: the defaults).
    pub(crate) fn applies(options: &TpeOptions, directions: &[Direction]) -> bool {
        directions.len() == 1
            && !options.multivariate
            && !options.constant_liar
            && options.consider_magic_clip
    }

    fn key(space: &SearchSpace, direction: Direction, options: &TpeOptions) -> Key {
        Key {
            space: space.clone(),
            direction,
            prior_weight: options.prior_weight,
            consider_endpoints: options.consider_endpoints,
        }
    }

    /// The state of `trials` (by number), from scratch.
    pub(crate) fn build(
        space: &SearchSpace,
        trials: &[Trial],
        columns: &Columns,
        direction: Direction,
        options: &TpeOptions,
    ) -> Self {
        let key = Self::key(space, direction, options);
        let cols: Vec<&[f64]> = space
            .iter()
            .map(|(name, def)| {
                columns
                    .get(name, &def.distribution)
                    .expect("columns cover the space")
            })
            .collect();
        let directions = [direction];
        let finished: Vec<usize> = (0..trials.len())
            .filter(|p| usable(&trials[*p], &directions))
            .collect();
        let loss = |p: usize| direction.loss(trials[p].values.as_ref().expect("complete")[0]);
        let mut complete: Vec<(f64, u64, usize)> = finished
            .iter()
            .filter(|p| trials[**p].state == TrialState::Complete)
            .map(|p| (loss(*p), trials[*p].number, *p))
            .collect();
        let n_complete = complete.len();
        let by_loss =
            |a: &(f64, u64, usize), b: &(f64, u64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        if complete.len() > GOOD {
            complete.select_nth_unstable_by(GOOD - 1, by_loss);
            complete.truncate(GOOD);
        }
        complete.sort_by(by_loss);
        let good: Vec<Good> = complete
            .iter()
            .map(|(loss, number, p)| Good {
                loss: *loss,
                number: *number,
                values: cols.iter().map(|c| c[*p]).collect(),
            })
            .collect();
        let mut is_good = vec![false; trials.len()];
        complete.iter().for_each(|(_, _, p)| is_good[*p] = true);
        let params = space
            .iter()
            .zip(&cols)
            .map(|((name, def), col)| {
                let by_number: Vec<(u64, f64)> = finished
                    .iter()
                    .filter(|p| !is_good[**p] && !col[**p].is_nan())
                    .map(|p| (trials[*p].number, col[*p]))
                    .collect();
                ParamState::new(name, &def.distribution, by_number, options)
            })
            .collect();
        let mut state = Self {
            key,
            prefix: 0,
            fingerprint: 0,
            extra: BTreeMap::new(),
            n_finished: finished.len(),
            n_complete,
            good,
            params,
        };
        state.params.iter_mut().for_each(ParamState::prepare);
        state
    }

    /// The state of `history`, from scratch, remembering which trials it took in.
    pub(crate) fn of_history(
        space: &SearchSpace,
        history: &History,
        direction: Direction,
        options: &TpeOptions,
    ) -> Self {
        let trials = history.trials();
        let mut state = Self::build(space, trials, history.columns(), direction, options);
        state.remember_taken(history, 0);
        state
    }

    /// Brings the state up to `history` when it only gained finished trials since; `false`
    /// when it changed otherwise (or is another study's, or has other settings): rebuild.
    pub(crate) fn follow(
        &mut self,
        space: &SearchSpace,
        history: &History,
        direction: Direction,
        options: &TpeOptions,
    ) -> bool {
        if self.key != Self::key(space, direction, options)
            || history.fingerprint(self.prefix) != Some(self.fingerprint)
        {
            return false;
        }
        let trials = history.trials();
        for (number, hash) in &self.extra {
            match history.position_of(*number) {
                Some(p) if history.trial_hash(p) == *hash => {}
                _ => return false,
            }
        }
        let cols: Vec<&[f64]> = space
            .iter()
            .map(|(name, def)| {
                history
                    .columns()
                    .get(name, &def.distribution)
                    .expect("columns cover the space")
            })
            .collect();
        let start = self.prefix;
        for (p, trial) in trials.iter().enumerate().skip(start) {
            if trial.state != TrialState::Running && !self.extra.contains_key(&trial.number) {
                self.take(trial, &cols, p);
            }
        }
        self.remember_taken(history, start);
        self.params.iter_mut().for_each(ParamState::prepare);
        true
    }

    /// Records which trials from position `from` on are taken in: the finished prefix
    /// (with its fingerprint) and the finished trials after it.
    fn remember_taken(&mut self, history: &History, from: usize) {
        let trials = history.trials();
        let prefix = (from..trials.len())
            .find(|p| trials[*p].state == TrialState::Running)
            .unwrap_or(trials.len());
        self.prefix = prefix;
        self.fingerprint = history.fingerprint(prefix).expect("within the history");
        self.extra = (prefix..trials.len())
            .filter(|p| trials[*p].state != TrialState::Running)
            .map(|p| (trials[p].number, history.trial_hash(p)))
            .collect();
    }

    /// Takes in one newly finished trial at position `p`.
    fn take(&mut self, trial: &Trial, cols: &[&[f64]], p: usize) {
        let directions = [self.key.direction];
        if !usable(trial, &directions) {
            return;
        }
        self.n_finished += 1;
        let values: Vec<f64> = cols.iter().map(|c| c[p]).collect();
        if trial.state != TrialState::Complete {
            return self.add_bad(trial.number, &values);
        }
        self.n_complete += 1;
        let good = Good {
            loss: self
                .key
                .direction
                .loss(trial.values.as_ref().expect("complete")[0]),
            number: trial.number,
            values,
        };
        let at = self
            .good
            .partition_point(|g| (g.loss, g.number) < (good.loss, good.number));
        // `<` on (loss, number) with a NaN-free loss is `total_cmp`'s order (usable).
        if at >= GOOD {
            return self.add_bad(good.number, &good.values);
        }
        self.good.insert(at, good);
        if self.good.len() > GOOD {
            let out = self.good.pop().expect("more than GOOD");
            self.add_bad(out.number, &out.values);
        }
    }

    fn add_bad(&mut self, number: u64, values: &[f64]) {
        for (param, x) in self.params.iter_mut().zip(values) {
            if !x.is_nan() {
                param.insert(number, *x);
            }
        }
    }

    /// Whether TPE samples from the state for a trial numbered `trial_number`: enough
    /// finished trials (past the random start-up too), a full good side, and the trial
    /// itself not among them (a sampler leaves it out).
    pub(crate) fn serves(&self, trials: &[Trial], trial_number: u64, n_startup: usize) -> bool {
        self.n_finished >= STATE_FROM.max(n_startup)
            && self.n_complete >= GOOD
            && !trials
                .binary_search_by_key(&trial_number, |t| t.number)
                .is_ok_and(|p| usable(&trials[p], &[self.key.direction]))
    }

    /// The good trials' values of parameter `name`, by trial number (absent ones left out).
    fn good_values(&self, i: usize) -> Vec<f64> {
        let mut by_number: Vec<(u64, f64)> = self
            .good
            .iter()
            .filter(|g| !g.values[i].is_nan())
            .map(|g| (g.number, g.values[i]))
            .collect();
        by_number.sort_by_key(|(number, _)| *number);
        by_number.into_iter().map(|(_, x)| x).collect()
    }

    /// TPE's choice for parameter `name` (not single-valued): `n` candidates drawn from the
    /// good trials' estimator, the one with the highest log l(x) − log g(x).
    pub(crate) fn pick(
        &self,
        name: &str,
        p: ParzenParams,
        n_candidates: usize,
        rng: &mut crate::rng::Rng,
    ) -> f64 {
        let i = self
            .params
            .iter()
            .position(|s| s.name == name)
            .expect("a parameter of the space");
        let param = &self.params[i];
        let d = &param.distribution;
        let below = Parzen::new(&[d], &[self.good_values(i)], None, None, p);
        let candidates = below.sample(rng, n_candidates.max(1));
        let xs: Vec<f64> = candidates.iter().map(|c| c[0]).collect();
        let bad = match &param.kind {
            Kind::Continuous(bins) if param.by_number.len() >= BINNED_FROM => {
                bins.log_pdfs(&xs, &param.by_number, p.prior_weight)
            }
            Kind::Categorical(choices) if param.by_number.len() > FLAT + 1 => {
                choices.log_pdfs(&xs, &param.by_number, p.prior_weight)
            }
            _ => {
                let obs: Vec<f64> = param.by_number.iter().map(|(_, x)| *x).collect();
                let above = Parzen::new(&[d], &[obs], None, None, p);
                return xs[super::best_candidate(&below, &above, &candidates)];
            }
        };
        let scores = xs.iter().zip(&bad).map(|(x, g)| below.log_pdf(&[*x]) - g);
        xs[super::first_best(scores.enumerate())]
    }
}

impl ParamState {
    fn new(
        name: &str,
        distribution: &Distribution,
        by_number: Vec<(u64, f64)>,
        options: &TpeOptions,
    ) -> Self {
        let kind = match distribution.numeric() {
            None => Kind::Categorical(Choices::new(distribution, &by_number)),
            Some((.., Some(_))) => Kind::Discrete,
            Some((.., None)) => Kind::Continuous(Bins::new(
                Bounds::of(distribution),
                options.consider_endpoints,
                &by_number,
            )),
        };
        Self {
            name: name.to_owned(),
            distribution: distribution.clone(),
            by_number,
            kind,
        }
    }

    fn insert(&mut self, number: u64, x: f64) {
        let rank = self.by_number.partition_point(|(n, _)| *n < number);
        self.by_number.insert(rank, (number, x));
        match &mut self.kind {
            Kind::Continuous(bins) => bins.insert(number, x, rank, &self.by_number),
            Kind::Categorical(choices) => choices.insert(x, rank, &self.by_number[rank + 1..]),
            Kind::Discrete => {}
        }
    }

    fn prepare(&mut self) {
        if let Kind::Continuous(bins) = &mut self.kind {
            bins.prepare(&self.by_number);
        }
    }
}

/// One bad kernel of a continuous parameter.
#[derive(Debug, Clone, PartialEq)]
struct Kernel {
    /// Internal value and kernel-space centre (its log for a log-scale parameter).
    x: f64,
    mu: f64,
    number: u64,
    /// Position among the parameter's bad trials by number.
    rank: usize,
    sigma: f64,
    /// 1 / (mass on the bounds × σ × √(2π)): the kernel's density at its centre per weight.
    nu: f64,
    /// Where the centre sits in its bin, in widths from the bin's centre, and
    /// `nu × e^(−v²/2)` (meaningful for kernels of the bins' width).
    v: f64,
    term: f64,
}

impl Kernel {
    /// A kernel placed but not yet fitted: its width and terms come when its bin is prepared.
    fn unfitted(x: f64, mu: f64, number: u64, rank: usize) -> Kernel {
        Kernel {
            x,
            mu,
            number,
            rank,
            sigma: f64::NAN,
            nu: f64::NAN,
            v: f64::NAN,
            term: f64::NAN,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Bin {
    /// By (value, number): the kernel order of `line.rs`.
    kernels: Vec<Kernel>,
    /// `Σ term·vᵏ/k!` and `Σ rank·term·vᵏ/k!` over the bin's kernels of the bins' width
    /// older than the newest `FLAT`.
    m0: [f64; TERMS],
    m1: [f64; TERMS],
    /// Kernels wider than the bins' width (summed one by one).
    wide: usize,
    dirty: bool,
}

impl Bin {
    fn empty() -> Self {
        Self {
            kernels: Vec::new(),
            m0: [0.0; TERMS],
            m1: [0.0; TERMS],
            wide: 0,
            dirty: false,
        }
    }

    /// The moments of the bin's kernels of `width` ranked below `threshold`: term by term
    /// over all of them in four lanes, so the kernels' products are independent (as
    /// `gauss_sum::bin_moments`), in the bin's fixed order.
    fn recompute(&mut self, width: f64, threshold: usize) {
        let mut terms: Vec<[f64; 2]> = Vec::with_capacity(self.kernels.len());
        let mut vs: Vec<f64> = Vec::with_capacity(self.kernels.len());
        for k in &self.kernels {
            if k.sigma == width && k.rank < threshold {
                terms.push([k.term, k.rank as f64 * k.term]);
                vs.push(k.v);
            }
        }
        self.wide = self.kernels.iter().filter(|k| k.sigma != width).count();
        for (j, inverse) in INVERSES.iter().enumerate() {
            let mut lanes = [[0.0; 2]; 4];
            let mut chunks = terms.chunks_exact_mut(4).zip(vs.chunks_exact(4));
            for (t, v) in &mut chunks {
                for l in 0..4 {
                    lanes[l][0] += t[l][0];
                    lanes[l][1] += t[l][1];
                    let step = v[l] * inverse;
                    t[l][0] *= step;
                    t[l][1] *= step;
                }
            }
            let tail = terms.len() - terms.len() % 4;
            for (t, v) in terms[tail..].iter_mut().zip(&vs[tail..]) {
                lanes[0][0] += t[0];
                lanes[0][1] += t[1];
                t[0] *= v * inverse;
                t[1] *= v * inverse;
            }
            self.m0[j] = (lanes[0][0] + lanes[1][0]) + (lanes[2][0] + lanes[3][0]);
            self.m1[j] = (lanes[0][1] + lanes[1][1]) + (lanes[2][1] + lanes[3][1]);
        }
        self.dirty = false;
    }
}

/// The bad kernels of a continuous parameter in bins of magic clipping's width.
#[derive(Debug, Clone, PartialEq)]
struct Bins {
    bounds: Bounds,
    consider_endpoints: bool,
    /// The narrowest kernel width magic clipping allows for the current number of kernels,
    /// the bins' width.
    width: f64,
    bins: Vec<Bin>,
    /// Kernels with a rank below this are in the moments (the others have full weight).
    threshold: usize,
}

/// Magic clipping's narrowest and widest kernel for `n` kernels on [low, high].
fn clip(n: usize, low: f64, high: f64) -> (f64, f64) {
    let min = (high - low) / (100.0f64).min(1.0 + (n + 1) as f64);
    (min, (high - low).max(min))
}

impl Bins {
    fn new(bounds: Bounds, consider_endpoints: bool, by_number: &[(u64, f64)]) -> Self {
        let mut bins = Self {
            bounds,
            consider_endpoints,
            width: f64::NAN,
            bins: Vec::new(),
            threshold: 0,
        };
        bins.rebuild(by_number);
        bins
    }

    fn bin_of(&self, mu: f64) -> usize {
        let b = ((mu - self.bounds.low) / self.width).floor();
        (b.max(0.0) as usize).min(self.bins.len() - 1)
    }

    fn centre(&self, b: usize) -> f64 {
        self.bounds.low + (b as f64 + 0.5) * self.width
    }

    /// Every kernel from scratch: the grid follows the width, which follows the count.
    fn rebuild(&mut self, by_number: &[(u64, f64)]) {
        let (low, high) = (self.bounds.low, self.bounds.high);
        self.width = clip(by_number.len(), low, high).0;
        let n_bins = ((high - low) / self.width).ceil() as usize + 1;
        self.bins = (0..n_bins).map(|_| Bin::empty()).collect();
        // Numbers are distinct: an unstable sort of small keys gives the one order.
        let mut order: Vec<(f64, u64, usize)> = by_number
            .iter()
            .enumerate()
            .map(|(rank, (number, x))| (*x, *number, rank))
            .collect();
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let kernels: Vec<Kernel> = order
            .into_iter()
            .map(|(x, number, rank)| Kernel::unfitted(x, self.bounds.transform(x), number, rank))
            .collect();
        let n = kernels.len();
        let sigmas: Vec<f64> = (0..n)
            .map(|i| {
                let prev = i.checked_sub(1).map(|j| kernels[j].mu);
                let next = kernels.get(i + 1).map(|k| k.mu);
                self.sigma(prev, kernels[i].mu, next, n)
            })
            .collect();
        for (mut k, sigma) in kernels.into_iter().zip(sigmas) {
            let b = self.bin_of(k.mu);
            self.set_sigma(&mut k, sigma, b);
            self.bins[b].kernels.push(k);
        }
        self.bins.iter_mut().for_each(|b| b.dirty = true);
        self.threshold = usize::MAX;
    }

    /// Optuna's univariate width for a kernel at `mu` between `prev` and `next` (see
    /// `parzen::neighbour_sigmas`), clipped.
    fn sigma(&self, prev: Option<f64>, mu: f64, next: Option<f64>, n: usize) -> f64 {
        let (low, high) = (self.bounds.low, self.bounds.high);
        let mut s = (mu - prev.unwrap_or(low)).max(next.unwrap_or(high) - mu);
        if !self.consider_endpoints && n >= 2 {
            match (prev, next) {
                (None, Some(next)) => s = next - mu,
                (Some(prev), None) => s = mu - prev,
                _ => {}
            }
        }
        let (min, max) = clip(n, low, high);
        s.clamp(min, max)
    }

    fn set_sigma(&self, k: &mut Kernel, sigma: f64, b: usize) {
        let (low, high) = (self.bounds.low, self.bounds.high);
        let mass = gauss_mass((low - k.mu) / sigma, (high - k.mu) / sigma);
        k.sigma = sigma;
        k.nu = 1.0 / (mass * sigma * SQRT_2PI);
        k.v = (k.mu - self.centre(b)) / self.width;
        k.term = k.nu * (-0.5 * k.v * k.v).exp();
    }

    /// The kernel before bin `b`'s kernel `i` (or before the bin when `i == 0`), by value.
    fn before(&self, b: usize, i: usize) -> Option<(usize, usize)> {
        if i > 0 {
            return Some((b, i - 1));
        }
        (0..b)
            .rev()
            .find(|c| !self.bins[*c].kernels.is_empty())
            .map(|c| (c, self.bins[c].kernels.len() - 1))
    }

    /// The kernel after bin `b`'s kernel `i`, by value.
    fn after(&self, b: usize, i: usize) -> Option<(usize, usize)> {
        if i + 1 < self.bins[b].kernels.len() {
            return Some((b, i + 1));
        }
        (b + 1..self.bins.len())
            .find(|c| !self.bins[*c].kernels.is_empty())
            .map(|c| (c, 0))
    }

    /// Recomputes the width of the kernel at (b, i) from its neighbours.
    fn refit(&mut self, (b, i): (usize, usize), n: usize) {
        let prev = self.before(b, i).map(|(c, j)| self.bins[c].kernels[j].mu);
        let next = self.after(b, i).map(|(c, j)| self.bins[c].kernels[j].mu);
        let mu = self.bins[b].kernels[i].mu;
        let sigma = self.sigma(prev, mu, next, n);
        if sigma != self.bins[b].kernels[i].sigma {
            let mut k = self.bins[b].kernels[i].clone();
            self.set_sigma(&mut k, sigma, b);
            self.bins[b].kernels[i] = k;
            self.bins[b].dirty = true;
        }
    }

    /// Adds the kernel of bad trial `number` at value `x` with `rank`; `later` are the bad
    /// trials numbered after it (their ranks grow by one); `by_number` already has it.
    fn insert(&mut self, number: u64, x: f64, rank: usize, by_number: &[(u64, f64)]) {
        let later = &by_number[rank + 1..];
        let n = by_number.len();
        if clip(n, self.bounds.low, self.bounds.high).0 != self.width {
            return self.rebuild(by_number);
        }
        if !later.is_empty() {
            // An older trial: every later one moves up a rank (one pass, cheaper than
            // finding each).
            for bin in &mut self.bins {
                for k in bin.kernels.iter_mut().filter(|k| k.number > number) {
                    k.rank += 1;
                    bin.dirty = true;
                }
            }
        }
        let mu = self.bounds.transform(x);
        let b = self.bin_of(mu);
        let i = self.bins[b]
            .kernels
            .partition_point(|k| (k.x, k.number) < (x, number));
        let kernel = Kernel::unfitted(x, mu, number, rank);
        self.bins[b].kernels.insert(i, kernel);
        self.bins[b].dirty = true;
        let (prev, next) = (self.before(b, i), self.after(b, i));
        self.refit((b, i), n);
        prev.into_iter()
            .chain(next)
            .for_each(|at| self.refit(at, n));
    }

    /// Brings the moments up to date: kernels that crossed into (or out of) the newest
    /// `FLAT`, then every bin that changed.
    fn prepare(&mut self, by_number: &[(u64, f64)]) {
        let threshold = by_number.len().saturating_sub(FLAT);
        if threshold != self.threshold && self.threshold != usize::MAX {
            let (from, to) = (
                threshold.min(self.threshold),
                threshold.max(self.threshold).min(by_number.len()),
            );
            for (_, x) in &by_number[from..to] {
                let b = self.bin_of(self.bounds.transform(*x));
                self.bins[b].dirty = true;
            }
        }
        self.threshold = threshold;
        let width = self.width;
        for bin in self.bins.iter_mut().filter(|b| b.dirty) {
            bin.recompute(width, threshold);
        }
    }

    /// The kernel of bad trial `number` at value `x`.
    fn kernel(&self, number: u64, x: f64) -> &Kernel {
        let bin = &self.bins[self.bin_of(self.bounds.transform(x))];
        let i = bin
            .kernels
            .partition_point(|k| (k.x, k.number) < (x, number));
        &bin.kernels[i]
    }

    /// Log densities of the bad trials' estimator at `xs` (internal values).
    fn log_pdfs(&self, xs: &[f64], by_number: &[(u64, f64)], prior_weight: f64) -> Vec<f64> {
        let n = by_number.len();
        debug_assert!(n >= FLAT + 2 && self.threshold == n - FLAT);
        let ramp = Ramp::new(n, prior_weight);
        let (low, high) = (self.bounds.low, self.bounds.high);
        let width = self.width;
        // Each bin's moments under this ask's weights; the kernels summed one by one.
        let moments: Vec<Option<[f64; TERMS]>> = self
            .bins
            .iter()
            .map(|bin| {
                (bin.m0[0] != 0.0).then(|| {
                    std::array::from_fn(|j| ramp.start * bin.m0[j] + ramp.slope * bin.m1[j])
                })
            })
            .collect();
        // The wider kernels outside the newest, then the newest (found from their values).
        let wide = self
            .bins
            .iter()
            .filter(|bin| bin.wide > 0)
            .flat_map(|bin| &bin.kernels)
            .filter(|k| k.sigma != width && k.rank < self.threshold);
        let newest = by_number[self.threshold..]
            .iter()
            .map(|(number, x)| self.kernel(*number, *x));
        let mut direct: Vec<(f64, f64, f64)> = wide
            .chain(newest)
            .map(|k| (k.mu, 1.0 / k.sigma, ramp.weight(k.rank) * k.nu))
            .collect();
        let (pmu, ps) = (0.5 * (low + high), high - low);
        let prior_mass = gauss_mass((low - pmu) / ps, (high - pmu) / ps);
        direct.push((pmu, 1.0 / ps, prior_weight / (prior_mass * ps * SQRT_2PI)));
        let reach = (REACH + 0.5) * width;
        xs.iter()
            .map(|x| {
                let Some((tx, _)) = self.bounds.cell(*x) else {
                    return f64::NEG_INFINITY;
                };
                let mut sum = 0.0;
                for (mu, inv, coef) in &direct {
                    let z = (tx - mu) * inv;
                    if z.abs() <= REACH_IN_WIDTHS {
                        sum += coef * (-0.5 * z * z).exp();
                    }
                }
                let (first, last) = (self.bin_of(tx - reach), self.bin_of(tx + reach));
                for (b, m) in moments.iter().enumerate().take(last + 1).skip(first) {
                    let Some(m) = m else { continue };
                    let u = (tx - self.centre(b)) / width;
                    if u.abs() > REACH + 0.5 {
                        continue;
                    }
                    let series = m.iter().rev().fold(0.0, |acc, mk| acc * u + mk);
                    sum += (-0.5 * u * u).exp() * series;
                }
                (sum / ramp.total).ln()
            })
            .collect()
    }
}

/// Optuna's `default_weights` for `n` observations as a line: the observation of rank r
/// weighs `start + slope × r` up to the newest `FLAT`, which weigh 1; `total` adds the
/// prior's weight (the normaliser).
struct Ramp {
    start: f64,
    slope: f64,
    flat_from: usize,
    total: f64,
}

impl Ramp {
    fn new(n: usize, prior_weight: f64) -> Self {
        debug_assert!(n >= FLAT + 2);
        let m = n - FLAT;
        let start = 1.0 / n as f64;
        Self {
            start,
            slope: (1.0 - start) / (m - 1) as f64,
            flat_from: m,
            total: m as f64 * start + (1.0 - start) * m as f64 / 2.0 + FLAT as f64 + prior_weight,
        }
    }

    fn weight(&self, rank: usize) -> f64 {
        if rank >= self.flat_from {
            1.0
        } else {
            self.start + self.slope * rank as f64
        }
    }
}

/// The bad kernels of a categorical parameter: per choice, how many and the sum of their
/// ranks (exact integers, so the same whichever order they came in).
#[derive(Debug, Clone, PartialEq)]
struct Choices {
    count: Vec<u64>,
    rank_sum: Vec<u64>,
}

impl Choices {
    fn new(d: &Distribution, by_number: &[(u64, f64)]) -> Self {
        let Distribution::Categorical { choices } = d else {
            unreachable!("categorical only")
        };
        let mut this = Self {
            count: vec![0; choices.len()],
            rank_sum: vec![0; choices.len()],
        };
        for (rank, (_, x)) in by_number.iter().enumerate() {
            this.count[*x as usize] += 1;
            this.rank_sum[*x as usize] += rank as u64;
        }
        this
    }

    fn insert(&mut self, x: f64, rank: usize, later: &[(u64, f64)]) {
        for (_, y) in later {
            self.rank_sum[*y as usize] += 1;
        }
        self.count[x as usize] += 1;
        self.rank_sum[x as usize] += rank as u64;
    }

    /// Log masses of the bad trials' estimator at choices `xs` (`parzen.rs`'s categorical
    /// kernels: each observation's row puts `1 + prior` on its choice and `prior` on the
    /// others, normalised; the prior kernel's is flat).
    fn log_pdfs(&self, xs: &[f64], by_number: &[(u64, f64)], prior_weight: f64) -> Vec<f64> {
        let n = by_number.len();
        let ramp = Ramp::new(n, prior_weight);
        let c = self.count.len();
        let (mut flat_count, mut flat_rank_sum) = (vec![0u64; c], vec![0u64; c]);
        for (rank, (_, x)) in by_number.iter().enumerate().skip(ramp.flat_from) {
            flat_count[*x as usize] += 1;
            flat_rank_sum[*x as usize] += rank as u64;
        }
        let weight: Vec<f64> = (0..c)
            .map(|r| {
                let old = (self.count[r] - flat_count[r]) as f64;
                let old_ranks = (self.rank_sum[r] - flat_rank_sum[r]) as f64;
                ramp.start * old + ramp.slope * old_ranks + flat_count[r] as f64
            })
            .collect();
        let prior = prior_weight / (n + 1) as f64;
        let row_sum = 1.0 + c as f64 * prior;
        let all: f64 = weight.iter().sum();
        xs.iter()
            .map(|x| {
                let at = x.round() as usize;
                let observed = (all * prior + weight[at]) / row_sum;
                ((observed + prior_weight / c as f64) / ramp.total).ln()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{TpeSampler, line::Line, parzen::Product};
    use super::*;
    use crate::rng::Rng;
    use crate::{Sampler, SamplerCache};
    use serde_json::json;

    fn space() -> SearchSpace {
        SearchSpace::new()
            .with("x", Distribution::float(-5.0, 10.0))
            .with("lr", Distribution::float_log(1e-5, 1.0))
            .with("depth", Distribution::int(1, 12))
            .with(
                "kind",
                Distribution::categorical([json!("a"), json!("b"), json!("c")]),
            )
            .with_conditional("frac", Distribution::float(0.0, 1.0), "kind", ["b"])
    }

    /// Trial `number` with random params; complete (loss ≈ x² + noise, lower the further
    /// on, so late trials join the good side), else pruned, failed or running.
    fn trial(number: u64, rng: &mut Rng, state: TrialState) -> Trial {
        let space = space();
        let mut t = Trial::new(number, state);
        t.params = space
            .sample_active(|_, d, _| Ok(crate::random::sample_uniform(d, rng)))
            .unwrap();
        if state == TrialState::Complete {
            let x = t.params["x"].as_f64().unwrap();
            t.values = Some(vec![x * x + rng.uniform() - number as f64 * 1e-3]);
        }
        if state == TrialState::Pruned {
            t.intermediate.insert(3, rng.uniform());
        }
        t
    }

    fn history_of(trials: &[Trial]) -> History {
        let mut h = History::new();
        h.track(&space());
        trials.iter().cloned().for_each(|t| h.push(t));
        h
    }

    fn random_state(rng: &mut Rng) -> TrialState {
        match rng.below(20) {
            0 => TrialState::Pruned,
            1 => TrialState::Failed,
            2 => TrialState::Running,
            _ => TrialState::Complete,
        }
    }

    /// A state followed ask after ask — trials appended, running ones finishing out of
    /// order, new trials joining the good side and pushing its worst to the bad side — is
    /// the state built from scratch from the same history, to the bit.
    #[test]
    fn a_followed_state_is_the_state_rebuilt_from_scratch() {
        let mut rng = Rng::new(3, 0, 0);
        let options = TpeOptions::default();
        let dir = Direction::Minimize;
        let mut trials: Vec<Trial> = (0..1_100)
            .map(|n| {
                let s = random_state(&mut rng);
                trial(n, &mut rng, s)
            })
            .collect();
        let mut state = TpeState::of_history(&space(), &history_of(&trials), dir, &options);
        let (mut good_moves, mut late_finishes, mut older_bad) = (0, 0, 0);
        for step in 0..150u64 {
            // Finish a running trial (out of order: later ones are finished already).
            if let Some(p) = trials.iter().position(|t| t.state == TrialState::Running)
                && step.is_multiple_of(3)
            {
                let number = trials[p].number;
                trials[p] = trial(number, &mut rng, TrialState::Complete);
                late_finishes += 1;
            }
            let number = trials.len() as u64;
            let s = random_state(&mut rng);
            let mut t = trial(number, &mut rng, s);
            if step.is_multiple_of(7) && t.state == TrialState::Complete {
                t.values = Some(vec![-10.0 - step as f64]);
            }
            trials.push(t);
            let before = state.good.iter().map(|g| g.number).collect::<Vec<_>>();
            let history = history_of(&trials);
            assert!(
                state.follow(&space(), &history, dir, &options),
                "step {step}"
            );
            let after = state.good.iter().map(|g| g.number).collect::<Vec<_>>();
            if before != after {
                good_moves += 1;
                older_bad += usize::from(before.iter().any(|n| !after.contains(n)));
            }
            let rebuilt = TpeState::of_history(&space(), &history, dir, &options);
            assert!(state == rebuilt, "step {step}: the followed state differs");
        }
        assert!(good_moves > 10 && older_bad > 10 && late_finishes > 10);
        assert!(state.serves(&trials, trials.len() as u64, 10));
    }

    /// A history changed other than by finishing trials (a finished trial replaced), or
    /// settings changed, is not followed.
    #[test]
    fn a_changed_history_is_not_followed() {
        let mut rng = Rng::new(4, 0, 0);
        let options = TpeOptions::default();
        let dir = Direction::Minimize;
        let mut trials: Vec<Trial> = (0..300)
            .map(|n| trial(n, &mut rng, TrialState::Complete))
            .collect();
        let state = TpeState::of_history(&space(), &history_of(&trials), dir, &options);
        trials[100] = trial(100, &mut rng, TrialState::Complete);
        assert!(
            !state
                .clone()
                .follow(&space(), &history_of(&trials), dir, &options)
        );
        trials.truncate(200);
        assert!(
            !state
                .clone()
                .follow(&space(), &history_of(&trials), dir, &options)
        );
        let other = TpeOptions {
            prior_weight: 2.0,
            ..options
        };
        let same: Vec<Trial> = history_of(&trials).trials().to_vec();
        let mut s = TpeState::of_history(&space(), &history_of(&same), dir, &options);
        assert!(s.follow(&space(), &history_of(&same), dir, &options));
        assert!(!s.follow(&space(), &history_of(&same), dir, &other));
        assert!(!s.follow(&space(), &history_of(&same), Direction::Maximize, &options));
    }

    /// The bad side's densities summed by bins are `line.rs`'s (and, categorical, the
    /// product form's), on spread and crowded histories.
    #[test]
    fn binned_densities_are_the_lines() {
        let p = ParzenParams {
            prior_weight: 1.0,
            consider_magic_clip: true,
            consider_endpoints: false,
            multivariate: false,
        };
        let mut rng = Rng::new(8, 0, 0);
        for d in [
            Distribution::float(-5.0, 10.0),
            Distribution::float_log(1e-5, 1.0),
        ] {
            let bounds = Bounds::of(&d);
            for crowd in [1.0, 0.05] {
                let obs: Vec<f64> = (0..3_000)
                    .map(|i| {
                        let spread = if i % 5 == 0 { 1.0 } else { crowd };
                        let u = (0.6 + spread * (rng.uniform() - 0.5)).clamp(0.0, 1.0);
                        let t = bounds.low + u * (bounds.high - bounds.low);
                        if bounds.log { t.exp() } else { t }
                    })
                    .collect();
                let by_number: Vec<(u64, f64)> = (0..).zip(obs.iter().copied()).collect();
                let mut bins = Bins::new(bounds, false, &by_number);
                bins.prepare(&by_number);
                let line = Line::new(&d, &obs, None, None, p);
                let xs = super::super::line::tests::probe_points(bounds);
                for (x, got) in xs.iter().zip(bins.log_pdfs(&xs, &by_number, 1.0)) {
                    let want = line.log_pdf(*x);
                    assert!(
                        got == want || (got - want).abs() < 1e-11 * want.abs().max(1.0),
                        "{d:?} crowd {crowd} x={x}: binned {got}, line {want}"
                    );
                }
            }
        }
        let d = Distribution::categorical([json!("a"), json!("b"), json!("c")]);
        let obs: Vec<f64> = (0..2_000).map(|_| rng.below(3) as f64).collect();
        let by_number: Vec<(u64, f64)> = (0..).zip(obs.iter().copied()).collect();
        let choices = Choices::new(&d, &by_number);
        let product = Product::new(&[&d], std::slice::from_ref(&obs), None, p);
        for (c, got) in choices
            .log_pdfs(&[0.0, 1.0, 2.0], &by_number, 1.0)
            .iter()
            .enumerate()
        {
            let want = product.log_pdf(&[c as f64]);
            assert!((got - want).abs() < 1e-12, "choice {c}: {got} vs {want}");
        }
    }

    /// Through the sampler: a cache followed ask after ask suggests what a fresh sampler
    /// suggests from the same history and number (which samples through a state built for
    /// the occasion), and what the fit from scratch (`sample_columns`) suggests.
    #[test]
    fn a_cached_sampler_suggests_what_a_fresh_one_does() {
        let mut rng = Rng::new(5, 0, 0);
        let tpe = TpeSampler::new(TpeOptions {
            seed: 7,
            ..TpeOptions::default()
        });
        let dirs = [Direction::Minimize];
        let mut trials: Vec<Trial> = (0..1_050)
            .map(|n| trial(n, &mut rng, TrialState::Complete))
            .collect();
        let mut cache = SamplerCache::default();
        let mut other_study = SamplerCache::default();
        let mut from_state = 0;
        for _ in 0..40 {
            let number = trials.len() as u64;
            let history = history_of(&trials);
            let cached = tpe
                .sample_cached(&space(), &history, &dirs, number, &mut cache)
                .unwrap();
            let fresh = tpe
                .sample_history(&space(), &history, &dirs, number)
                .unwrap();
            let columns = tpe
                .sample_columns(&space(), &trials, history.columns(), &dirs, number)
                .unwrap();
            assert_eq!(cached, fresh);
            assert_eq!(cached, columns);
            assert_eq!(
                cached,
                tpe.sample(&space(), &trials, &dirs, number).unwrap()
            );
            // A cache of another history is rebuilt, not trusted.
            if number.is_multiple_of(10) {
                let short = history_of(&trials[..1_020]);
                tpe.sample_cached(&space(), &short, &dirs, 1_020, &mut other_study)
                    .unwrap();
                let again = tpe
                    .sample_cached(&space(), &history, &dirs, number, &mut other_study)
                    .unwrap();
                assert_eq!(again, fresh);
            }
            from_state += usize::from(cache.tpe.as_ref().unwrap().serves(&trials, number, 10));
            let mut t = trial(number, &mut rng, TrialState::Complete);
            t.params = cached;
            let x = t.params["x"].as_f64().unwrap();
            t.values = Some(vec![x * x]);
            trials.push(t);
        }
        assert_eq!(from_state, 40);
    }

    /// A server may sample on its async executor only once a state is kept: a study's first
    /// ask (an empty cache) builds it and is not cheap; the asks after it are. Settings the
    /// state does not cover (several objectives, constant liar) never are.
    #[test]
    fn an_ask_is_cheap_only_with_a_kept_state() {
        let mut rng = Rng::new(6, 0, 0);
        let tpe = TpeSampler::new(TpeOptions::default());
        let dirs = [Direction::Minimize];
        let trials: Vec<Trial> = (0..1_050)
            .map(|n| trial(n, &mut rng, TrialState::Complete))
            .collect();
        let mut cache = SamplerCache::default();
        assert!(!tpe.cached_ask_is_cheap(&dirs, &cache));
        tpe.sample_cached(&space(), &history_of(&trials), &dirs, 1_050, &mut cache)
            .unwrap();
        assert!(tpe.cached_ask_is_cheap(&dirs, &cache));
        assert!(!tpe.cached_ask_is_cheap(&[Direction::Minimize, Direction::Maximize], &cache));
        let liar = TpeSampler::new(TpeOptions {
            constant_liar: true,
            ..TpeOptions::default()
        });
        assert!(!liar.cached_ask_is_cheap(&dirs, &cache));
    }
}
