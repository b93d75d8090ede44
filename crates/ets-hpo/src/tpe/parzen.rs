//! Optuna's `_ParzenEstimator`: a mixture of product kernels, one kernel per observation
//! plus one prior kernel, over the parameters sampled together.

use super::truncnorm::{log_gauss_mass, logpdf, ppf};
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
    Categorical {
        weights: Vec<Vec<f64>>,
    },
    Numerical(Numerical),
}

/// Kernels live in (log) space on [low, high], already widened by step/2 when discrete;
/// `orig_*`/`step` snap samples back onto the grid.
#[derive(Debug, Clone)]
struct Numerical {
    mus: Vec<f64>,
    sigmas: Vec<f64>,
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

    /// Log density of kernel `k` at `x` (log mass of x's grid cell when discrete).
    fn log_pdf(&self, k: usize, x: f64) -> f64 {
        let (mu, s) = (self.mus[k], self.sigmas[k]);
        let t = |v: f64| if self.log { v.ln() } else { v };
        match self.step {
            None => logpdf(t(x), mu, s, self.low, self.high),
            Some(st) => {
                log_gauss_mass((t(x - st / 2.0) - mu) / s, (t(x + st / 2.0) - mu) / s)
                    - log_gauss_mass((self.low - mu) / s, (self.high - mu) / s)
            }
        }
    }
}

/// The mixture. Samples and densities use the internal representation (values for
/// numbers, choice indices for categoricals), in original (not log) space.
#[derive(Debug, Clone)]
pub(crate) struct Parzen {
    weights: Vec<f64>,
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
        Self { weights, dims }
    }

    fn categorical(obs: &[f64], n_choices: usize, p: ParzenParams) -> Dim {
        if obs.is_empty() {
            return Dim::Categorical {
                weights: vec![vec![1.0 / n_choices as f64; n_choices]],
            };
        }
        let n_kernels = obs.len() + 1;
        let mut weights = vec![vec![p.prior_weight / n_kernels as f64; n_choices]; n_kernels];
        for (k, o) in obs.iter().enumerate() {
            weights[k][*o as usize] += 1.0;
        }
        for row in &mut weights {
            let s: f64 = row.iter().sum();
            if s > 0.0 {
                row.iter_mut().for_each(|w| *w /= s);
            }
        }
        Dim::Categorical { weights }
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
        Dim::Numerical(Numerical {
            mus,
            sigmas,
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
                        Dim::Categorical { weights } => {
                            let row = &weights[k.min(weights.len() - 1)];
                            rng.choice(row) as f64
                        }
                        Dim::Numerical(n) => n.sample(k, rng),
                    })
                    .collect()
            })
            .collect()
    }

    /// Log density (or log mass, for discrete parameters) of the mixture at `x`.
    pub(crate) fn log_pdf(&self, x: &[f64]) -> f64 {
        let per_kernel: Vec<f64> = (0..self.weights.len())
            .map(|k| {
                let mut lp = self.weights[k].ln();
                for (d, xi) in self.dims.iter().zip(x) {
                    lp += match d {
                        Dim::Categorical { weights } => {
                            weights[k.min(weights.len() - 1)][*xi as usize].ln()
                        }
                        Dim::Numerical(n) => n.log_pdf(k, *xi),
                    };
                }
                lp
            })
            .collect();
        let max = per_kernel.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY {
            return max;
        }
        max + per_kernel.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
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
