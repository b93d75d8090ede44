//! Optuna's `_ParzenEstimator`: a mixture of product kernels, one kernel per observation
//! plus one prior kernel, over the parameters sampled together.

use super::truncnorm::{LN_SQRT_2PI, log_gauss_mass, ppf};
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

/// Kernels live in (log) space on [low, high], already widened by step/2 when discrete;
/// `orig_*`/`step` snap samples back onto the grid.
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
    low: f64,
    high: f64,
    log: bool,
    step: Option<f64>,
    orig_low: f64,
    orig_high: f64,
}

impl Numerical {
    /// One draw from kernel `k`, in original space and snapped to the grid.
    fn sample(&self, k: usize, rng: &mut Rng) -> f64 {
        let (mu, s) = (self.mus[k], self.sigmas[k]);
        let z = ppf(rng.uniform(), (self.low - mu) / s, (self.high - mu) / s);
        let mut x = mu + s * z;
        if self.log {
            x = x.exp();
        }
        if let Some(st) = self.step {
            x = (self.orig_low + ((x - self.orig_low) / st).round() * st)
                .clamp(self.orig_low, self.orig_high);
        }
        x
    }

    /// Adds the log density of every kernel at `x` (log mass of x's grid cell when
    /// discrete) to `acc`, one entry per kernel.
    fn add_log_pdfs(&self, x: f64, acc: &mut [f64]) {
        let t = |v: f64| if self.log { v.ln() } else { v };
        match self.step {
            None => {
                let tx = t(x);
                if tx < self.low || tx > self.high {
                    acc.iter_mut().for_each(|a| *a = f64::NEG_INFINITY);
                    return;
                }
                for (k, a) in acc.iter_mut().enumerate() {
                    let z = (tx - self.mus[k]) * self.inv_sigmas[k];
                    *a += -0.5 * z * z - self.log_norms[k];
                }
            }
            Some(st) => {
                let (lo, hi) = (t(x - st / 2.0), t(x + st / 2.0));
                for (k, a) in acc.iter_mut().enumerate() {
                    let (mu, inv) = (self.mus[k], self.inv_sigmas[k]);
                    *a += log_gauss_mass((lo - mu) * inv, (hi - mu) * inv) - self.log_masses[k];
                }
            }
        }
    }
}

/// The mixture. Samples and densities use the internal representation (values for
/// numbers, choice indices for categoricals), in original (not log) space.
#[derive(Debug, Clone)]
pub(crate) struct Parzen {
    weights: Vec<f64>,
    log_weights: Vec<f64>,
    dims: Vec<Dim>,
}

impl Parzen {
    /// `rows[i][j]` is observation i of parameter j, rows ordered by trial number;
    /// `weights` replaces `default_weights` (multi-objective good trials).
    pub(crate) fn new(
        dists: &[&Distribution],
        rows: &[Vec<f64>],
        weights: Option<Vec<f64>>,
        p: ParzenParams,
    ) -> Self {
        let n = rows.len();
        let mut weights = weights.unwrap_or_else(|| default_weights(n));
        if n == 0 {
            weights = vec![1.0];
        } else {
            weights.push(p.prior_weight);
        }
        let sum: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= sum);
        let dims = dists
            .iter()
            .enumerate()
            .map(|(j, d)| {
                let obs: Vec<f64> = rows.iter().map(|r| r[j]).collect();
                match d {
                    Distribution::Categorical { choices } => {
                        Self::categorical(&obs, choices.len(), p)
                    }
                    _ => Self::numerical(&obs, d, dists.len(), p),
                }
            })
            .collect();
        let log_weights = weights.iter().map(|w| w.ln()).collect();
        Self {
            weights,
            log_weights,
            dims,
        }
    }

    fn categorical(obs: &[f64], n_choices: usize, p: ParzenParams) -> Dim {
        if obs.is_empty() {
            return Self::categorical_dim(vec![vec![1.0 / n_choices as f64; n_choices]], vec![0]);
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
        Self::categorical_dim(rows, kernel_row)
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

    fn numerical(obs: &[f64], d: &Distribution, n_params: usize, p: ParzenParams) -> Dim {
        let (orig_low, orig_high, log, step) = d.numeric().expect("numeric only");
        let half = step.unwrap_or(0.0) / 2.0;
        let (mut low, mut high) = (orig_low - half, orig_high + half);
        let mut mus: Vec<f64> = obs.to_vec();
        if log {
            low = low.ln();
            high = high.ln();
            mus.iter_mut().for_each(|m| *m = m.ln());
        }
        let n = mus.len();
        let mut sigmas = if p.multivariate {
            let s = 0.2 * (n.max(1) as f64).powf(-1.0 / (n_params as f64 + 4.0)) * (high - low);
            vec![s; n]
        } else {
            // Distance to the farther neighbour among the sorted observations and the
            // bounds; the outermost ones ignore the bound unless consider_endpoints.
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(|a, b| mus[*a].total_cmp(&mus[*b]));
            let mut e = Vec::with_capacity(n + 2);
            e.push(low);
            e.extend(idx.iter().map(|i| mus[*i]));
            e.push(high);
            let mut sorted: Vec<f64> = (1..=n)
                .map(|i| (e[i] - e[i - 1]).max(e[i + 1] - e[i]))
                .collect();
            if !p.consider_endpoints && e.len() >= 4 {
                sorted[0] = e[2] - e[1];
                sorted[n - 1] = e[n] - e[n - 1];
            }
            let mut s = vec![0.0; n];
            for (rank, i) in idx.iter().enumerate() {
                s[*i] = sorted[rank];
            }
            s
        };
        let maxsigma = high - low;
        let minsigma = if p.consider_magic_clip {
            (high - low) / (100.0f64).min(1.0 + (n + 1) as f64)
        } else {
            1e-12
        };
        sigmas
            .iter_mut()
            .for_each(|s| *s = s.clamp(minsigma, maxsigma.max(minsigma)));
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
        Dim::Numerical(Numerical {
            mus,
            sigmas,
            inv_sigmas,
            log_masses,
            log_norms,
            low,
            high,
            log,
            step,
            orig_low,
            orig_high,
        })
    }

    /// Draws `size` points from the mixture.
    pub(crate) fn sample(&self, rng: &mut Rng, size: usize) -> Vec<Vec<f64>> {
        (0..size)
            .map(|_| {
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
                        Dim::Numerical(n) => n.sample(k, rng),
                    })
                    .collect()
            })
            .collect()
    }

    /// Log density (or log mass, for discrete parameters) of the mixture at `x`.
    ///
    /// Kernels are summed dimension by dimension (per-kernel constants computed once, in
    /// `new`), and the log-sum-exp leaves out the kernels more than `NEGLIGIBLE` below the
    /// largest: each weighs less than e^-40 of it, so together they change nothing a double
    /// can hold, and with thousands of trials most kernels are that far from a candidate.
    pub(crate) fn log_pdf(&self, x: &[f64]) -> f64 {
        const NEGLIGIBLE: f64 = 40.0;
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
        let max = per_kernel.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            return max;
        }
        let floor = max - NEGLIGIBLE;
        max + per_kernel
            .iter()
            .filter(|v| **v > floor)
            .map(|v| (v - max).exp())
            .sum::<f64>()
            .ln()
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
            let pe = Parzen::new(&dists, rows, None, p);
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
