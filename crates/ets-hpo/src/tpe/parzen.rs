//! Optuna's `_ParzenEstimator`: a mixture of product kernels, one kernel per observation
//! plus one prior kernel, over the parameters sampled together. One numerical parameter
//! alone (univariate TPE, the default) takes the layout of `line.rs`, built for long
//! histories; the product form here serves the rest.

use super::line::{Bounds, Line};
use super::truncnorm::{LN_SQRT_2PI, log_gauss_mass};
use crate::Distribution;
use crate::rng::Rng;

/// Settings shared by both estimators (Optuna's `_ParzenEstimatorParameters`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParzenParams {
    pub prior_weight: f64,
    pub consider_magic_clip: bool,
    pub consider_endpoints: bool,
    pub multivariate: bool,
}

/// Optuna's `default_weights`: flat for the 25 newest observations, a linear ramp from 1/n
/// for older ones, so stale history matters less.
pub(crate) fn default_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let m = n - 25;
    let start = 1.0 / n as f64;
    let mut w: Vec<f64> = (0..m)
        .map(|i| {
            if m == 1 {
                start
            } else {
                start + (1.0 - start) * i as f64 / (m - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// Normalised mixture weights: `weights` (or `default_weights`) for the observations,
/// then the prior's.
pub(crate) fn mixture_weights(n: usize, weights: Option<Vec<f64>>, prior_weight: f64) -> Vec<f64> {
    let mut weights = weights.unwrap_or_else(|| default_weights(n));
    if n == 0 {
        weights = vec![1.0];
    } else {
        weights.push(prior_weight);
    }
    let sum: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= sum);
    weights
}

/// Univariate kernel widths (Optuna's rule), for centres in ascending order: the distance
/// to the farther neighbour among the centres and the bounds, the outermost ignoring the
/// bound unless `consider_endpoints`; then clipped (`clip_sigmas`).
pub(crate) fn neighbour_sigmas(sorted: &[f64], low: f64, high: f64, p: ParzenParams) -> Vec<f64> {
    let n = sorted.len();
    let gap = |i: usize| {
        let below = if i == 0 { low } else { sorted[i - 1] };
        let above = if i + 1 == n { high } else { sorted[i + 1] };
        (sorted[i] - below).max(above - sorted[i])
    };
    let mut s: Vec<f64> = (0..n).map(gap).collect();
    if !p.consider_endpoints && n >= 2 {
        s[0] = sorted[1] - sorted[0];
        s[n - 1] = sorted[n - 1] - sorted[n - 2];
    }
    clip_sigmas(&mut s, low, high, p);
    s
}

/// Multivariate kernel width (Optuna's Scott-like rule): one for all kernels.
pub(crate) fn joint_sigma(n: usize, n_params: usize, low: f64, high: f64) -> f64 {
    0.2 * (n.max(1) as f64).powf(-1.0 / (n_params as f64 + 4.0)) * (high - low)
}

/// Clips observation kernel widths to [range / min(100, n + 2), range] (magic clip), or
/// at least 1e-12.
pub(crate) fn clip_sigmas(sigmas: &mut [f64], low: f64, high: f64, p: ParzenParams) {
    let n = sigmas.len();
    let maxsigma = high - low;
    let minsigma = if p.consider_magic_clip {
        (high - low) / (100.0f64).min(1.0 + (n + 1) as f64)
    } else {
        1e-12
    };
    let maxsigma = maxsigma.max(minsigma);
    sigmas
        .iter_mut()
        .for_each(|s| *s = s.clamp(minsigma, maxsigma));
}

/// Terms further than this below the largest are left out of a log-sum-exp: each weighs
/// less than e^-40 of it, so together they change nothing a double can hold, and with
/// thousands of trials most kernels are that far from a candidate.
pub(crate) const NEGLIGIBLE: f64 = 40.0;

/// log Σ e^t over `terms`, without the negligible ones.
pub(crate) fn log_sum_exp(terms: &[f64]) -> f64 {
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    let floor = max - NEGLIGIBLE;
    max + terms
        .iter()
        .filter(|v| **v > floor)
        .map(|v| (v - max).exp())
        .sum::<f64>()
        .ln()
}

/// The estimator TPE fits to each side of its split. Samples and densities use the
/// internal representation (values for numbers, choice indices for categoricals), in
/// original (not log) space.
#[derive(Debug, Clone)]
pub(crate) enum Parzen {
    Product(Product),
    Line(Line),
}

impl Parzen {
    /// `obs[j][i]` is observation i of parameter j, observations ordered by trial number;
    /// `weights` replaces `default_weights` (multi-objective good trials). `order`, when
    /// known, lists the observations by value (ties by position), for `Line`.
    pub(crate) fn new(
        dists: &[&Distribution],
        obs: &[Vec<f64>],
        weights: Option<Vec<f64>>,
        order: Option<Vec<usize>>,
        p: ParzenParams,
    ) -> Self {
        match (dists, obs) {
            ([d], [values]) if !matches!(d, Distribution::Categorical { .. }) => {
                Self::Line(Line::new(d, values, weights, order, p))
            }
            _ => Self::Product(Product::new(dists, obs, weights, p)),
        }
    }

    /// Draws `size` points from the mixture.
    pub(crate) fn sample(&self, rng: &mut Rng, size: usize) -> Vec<Vec<f64>> {
        match self {
            Self::Product(m) => (0..size).map(|_| m.sample_one(rng)).collect(),
            Self::Line(m) => (0..size).map(|_| vec![m.sample_one(rng)]).collect(),
        }
    }

    /// Log density (or log mass, for discrete parameters) of the mixture at `x`.
    pub(crate) fn log_pdf(&self, x: &[f64]) -> f64 {
        match self {
            Self::Product(m) => m.log_pdf(x),
            Self::Line(m) => m.log_pdf(x[0]),
        }
    }
}

#[derive(Debug, Clone)]
enum Dim {
    /// Per-kernel choice probabilities.
    /// Kernel `k` uses `rows[kernel_row[k]]`: kernels of the same choice share a row (one
    /// per choice, and the prior's), so 10,000 trials make 10,000 indices, not rows.
    Categorical {
        rows: Vec<Vec<f64>>,
        /// `ln` of `rows`, computed once.
        log_rows: Vec<Vec<f64>>,
        kernel_row: Vec<usize>,
    },
    Numerical(Numerical),
}

/// Kernels in (log) space on the bounds, widened by step/2 when discrete.
#[derive(Debug, Clone)]
struct Numerical {
    mus: Vec<f64>,
    sigmas: Vec<f64>,
    /// Per kernel, computed once (densities are evaluated for every candidate × kernel):
    /// `1 / sigma`, and the log of the kernel's mass on [low, high].
    inv_sigmas: Vec<f64>,
    log_masses: Vec<f64>,
    /// `ln(sqrt(2π) σ) + log_mass`: what a continuous density subtracts.
    log_norms: Vec<f64>,
    bounds: Bounds,
}

impl Numerical {
    fn new(obs: &[f64], d: &Distribution, n_params: usize, p: ParzenParams) -> Self {
        let bounds = Bounds::of(d);
        let (low, high) = (bounds.low, bounds.high);
        let mut mus: Vec<f64> = obs.iter().map(|x| bounds.transform(*x)).collect();
        let n = mus.len();
        let mut sigmas = if p.multivariate {
            vec![joint_sigma(n, n_params, low, high); n]
        } else {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(|a, b| mus[*a].total_cmp(&mus[*b]));
            let sorted: Vec<f64> = idx.iter().map(|i| mus[*i]).collect();
            let by_rank = neighbour_sigmas(&sorted, low, high, p);
            let mut s = vec![0.0; n];
            for (rank, i) in idx.iter().enumerate() {
                s[*i] = by_rank[rank];
            }
            s
        };
        if p.multivariate {
            clip_sigmas(&mut sigmas, low, high, p);
        }
        mus.push(0.5 * (low + high));
        sigmas.push(high - low);
        let inv_sigmas = sigmas.iter().map(|s| 1.0 / s).collect();
        let log_masses: Vec<f64> = mus
            .iter()
            .zip(&sigmas)
            .map(|(mu, s)| log_gauss_mass((low - mu) / s, (high - mu) / s))
            .collect();
        let log_norms = sigmas
            .iter()
            .zip(&log_masses)
            .map(|(s, m)| LN_SQRT_2PI + s.ln() + m)
            .collect();
        Self {
            mus,
            sigmas,
            inv_sigmas,
            log_masses,
            log_norms,
            bounds,
        }
    }

    /// Adds the log density of every kernel at `x` (log mass of x's grid cell when
    /// discrete) to `acc`, one entry per kernel.
    fn add_log_pdfs(&self, x: f64, acc: &mut [f64]) {
        let Some((lo, hi)) = self.bounds.cell(x) else {
            acc.iter_mut().for_each(|a| *a = f64::NEG_INFINITY);
            return;
        };
        if self.bounds.step.is_none() {
            for (k, a) in acc.iter_mut().enumerate() {
                let z = (lo - self.mus[k]) * self.inv_sigmas[k];
                *a += -0.5 * z * z - self.log_norms[k];
            }
        } else {
            for (k, a) in acc.iter_mut().enumerate() {
                let (mu, inv) = (self.mus[k], self.inv_sigmas[k]);
                *a += log_gauss_mass((lo - mu) * inv, (hi - mu) * inv) - self.log_masses[k];
            }
        }
    }
}

/// The product-kernel mixture over several parameters, or one categorical.
#[derive(Debug, Clone)]
pub(crate) struct Product {
    weights: Vec<f64>,
    log_weights: Vec<f64>,
    dims: Vec<Dim>,
    /// One categorical parameter: the summed weight of the kernels sharing each row, so a
    /// mass is a sum over choices, not over kernels.
    row_weights: Option<Vec<f64>>,
}

impl Product {
    pub(crate) fn new(
        dists: &[&Distribution],
        obs: &[Vec<f64>],
        weights: Option<Vec<f64>>,
        p: ParzenParams,
    ) -> Self {
        let n = obs.first().map_or(0, Vec::len);
        let weights = mixture_weights(n, weights, p.prior_weight);
        let dims: Vec<Dim> = dists
            .iter()
            .zip(obs)
            .map(|(d, obs)| match d {
                Distribution::Categorical { choices } => categorical(obs, choices.len(), p),
                _ => Dim::Numerical(Numerical::new(obs, d, dists.len(), p)),
            })
            .collect();
        let row_weights = match dims.as_slice() {
            [
                Dim::Categorical {
                    rows, kernel_row, ..
                },
            ] => {
                let mut sums = vec![0.0; rows.len()];
                for (r, w) in kernel_row.iter().zip(&weights) {
                    sums[*r] += w;
                }
                Some(sums)
            }
            _ => None,
        };
        Self {
            // Not needed where the row sums serve (10,000 logarithms at 10,000 trials).
            log_weights: match row_weights {
                Some(_) => Vec::new(),
                None => weights.iter().map(|w| w.ln()).collect(),
            },
            weights,
            dims,
            row_weights,
        }
    }

    pub(crate) fn sample_one(&self, rng: &mut Rng) -> Vec<f64> {
        let k = rng.choice(&self.weights);
        self.dims
            .iter()
            .map(|d| match d {
                Dim::Categorical {
                    rows, kernel_row, ..
                } => {
                    let row = &rows[kernel_row[k.min(kernel_row.len() - 1)]];
                    rng.choice(row) as f64
                }
                Dim::Numerical(n) => n.bounds.draw(n.mus[k], n.sigmas[k], rng),
            })
            .collect()
    }

    /// Kernels are summed dimension by dimension (per-kernel constants computed once, in
    /// `new`), and the log-sum-exp leaves out the negligible ones.
    pub(crate) fn log_pdf(&self, x: &[f64]) -> f64 {
        if let (Some(sums), [Dim::Categorical { rows, .. }]) = (&self.row_weights, &*self.dims) {
            let c = x[0] as usize;
            return sums
                .iter()
                .zip(rows)
                .map(|(w, row)| w * row[c])
                .sum::<f64>()
                .ln();
        }
        let mut per_kernel = self.log_weights.clone();
        for (d, xi) in self.dims.iter().zip(x) {
            match d {
                Dim::Categorical {
                    log_rows,
                    kernel_row,
                    ..
                } => {
                    let last = kernel_row.len() - 1;
                    for (k, lp) in per_kernel.iter_mut().enumerate() {
                        *lp += log_rows[kernel_row[k.min(last)]][*xi as usize];
                    }
                }
                Dim::Numerical(n) => n.add_log_pdfs(*xi, &mut per_kernel),
            }
        }
        log_sum_exp(&per_kernel)
    }
}

fn categorical(obs: &[f64], n_choices: usize, p: ParzenParams) -> Dim {
    if obs.is_empty() {
        return categorical_dim(vec![vec![1.0 / n_choices as f64; n_choices]], vec![0]);
    }
    let n_kernels = obs.len() + 1;
    let prior = p.prior_weight / n_kernels as f64;
    // One row per choice (the prior share everywhere, plus 1 at the choice), then the
    // prior kernel's row; each normalised.
    let mut rows: Vec<Vec<f64>> = (0..=n_choices)
        .map(|c| {
            let mut row = vec![prior; n_choices];
            if c < n_choices {
                row[c] += 1.0;
            }
            row
        })
        .collect();
    for row in &mut rows {
        let s: f64 = row.iter().sum();
        if s > 0.0 {
            row.iter_mut().for_each(|w| *w /= s);
        }
    }
    let mut kernel_row: Vec<usize> = obs.iter().map(|o| *o as usize).collect();
    kernel_row.push(n_choices);
    categorical_dim(rows, kernel_row)
}

fn categorical_dim(rows: Vec<Vec<f64>>, kernel_row: Vec<usize>) -> Dim {
    let log_rows = rows
        .iter()
        .map(|row| row.iter().map(|w| w.ln()).collect())
        .collect();
    Dim::Categorical {
        rows,
        log_rows,
        kernel_row,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_match_optuna_default_weights() {
        assert_eq!(default_weights(3), vec![1.0; 3]);
        let w = default_weights(30);
        // np.linspace(1/30, 1, 5) then 25 ones
        let expect = [
            1.0 / 30.0,
            0.275,
            0.516_666_666_666_666_7,
            0.758_333_333_333_333_4,
            1.0,
        ];
        for (a, b) in w.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }
        assert_eq!(w.len(), 30);
        assert!(w[5..].iter().all(|x| *x == 1.0));
    }

    /// Optuna's own `_ParzenEstimator.log_pdf` on the same observations and points
    /// (tests/fixtures/gen_parzen_fixtures.py): kernel centres, widths, magic clip, prior,
    /// weights ramp and the discrete/log handling all have to agree for these to match.
    #[test]
    fn log_pdf_matches_optuna() {
        // Typed, so the space keeps the fixture's parameter order (a `Value` sorts keys).
        #[derive(serde::Deserialize)]
        struct Case {
            space: crate::SearchSpace,
            multivariate: bool,
            observations: Vec<Vec<f64>>,
            points: Vec<Vec<f64>>,
            log_pdf: Vec<f64>,
        }
        #[derive(serde::Deserialize)]
        struct Fixture {
            cases: Vec<Case>,
        }
        let fixture: Fixture =
            serde_json::from_str(include_str!("../../tests/fixtures/parzen.json")).unwrap();
        let mut checked = 0;
        for case in &fixture.cases {
            let dists: Vec<&Distribution> =
                case.space.iter().map(|(_, d)| &d.distribution).collect();
            let (rows, points, want) = (&case.observations, &case.points, &case.log_pdf);
            let p = ParzenParams {
                prior_weight: 1.0,
                consider_magic_clip: true,
                consider_endpoints: false,
                multivariate: case.multivariate,
            };
            let obs: Vec<Vec<f64>> = (0..dists.len())
                .map(|j| rows.iter().map(|r| r[j]).collect())
                .collect();
            let pe = Parzen::new(&dists, &obs, None, None, p);
            for (x, w) in points.iter().zip(want) {
                let got = pe.log_pdf(x);
                assert!(
                    (got - w).abs() < 1e-8 * w.abs().max(1.0),
                    "{:?} n={}: at {x:?} got {got}, optuna {w}",
                    case.space,
                    rows.len()
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 9 * 4 * 12);
    }
}
