//! The Parzen estimator of one numerical parameter (univariate TPE, the default), laid
//! out for long histories: kernels sorted by centre, so a density at x visits only the
//! kernels near x, and weights kept linear, so fitting 10,000 kernels takes no logarithm.
//! The same mixture as the product form with one dimension (the tests compare them).

use super::parzen::{NEGLIGIBLE, ParzenParams, joint_sigma, mixture_weights, neighbour_sigmas};
use super::truncnorm::{log_gauss_mass, ppf};
use crate::Distribution;
use crate::rng::Rng;

const SQRT_2PI: f64 = 2.506_628_274_631_000_5;

/// Where a numerical parameter's kernels live: (log) space on [low, high], widened by
/// step/2 when discrete; `orig_*`/`step` snap samples back onto the grid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub low: f64,
    pub high: f64,
    pub log: bool,
    pub step: Option<f64>,
    orig_low: f64,
    orig_high: f64,
}

impl Bounds {
    pub(crate) fn of(d: &Distribution) -> Self {
        let (orig_low, orig_high, log, step) = d.numeric().expect("numeric only");
        let half = step.unwrap_or(0.0) / 2.0;
        let mut b = Self {
            low: orig_low - half,
            high: orig_high + half,
            log,
            step,
            orig_low,
            orig_high,
        };
        b.low = b.transform(b.low);
        b.high = b.transform(b.high);
        b
    }

    pub(crate) fn transform(&self, x: f64) -> f64 {
        if self.log { x.ln() } else { x }
    }

    /// The cell `x` stands for in kernel space: the point itself when continuous (none
    /// outside the bounds), `x ± step/2` when discrete.
    pub(crate) fn cell(&self, x: f64) -> Option<(f64, f64)> {
        match self.step {
            None => {
                let tx = self.transform(x);
                (tx >= self.low && tx <= self.high).then_some((tx, tx))
            }
            Some(st) => Some((self.transform(x - st / 2.0), self.transform(x + st / 2.0))),
        }
    }

    /// One draw from the kernel (mu, s) truncated to the bounds, in original space and
    /// snapped to the grid.
    pub(crate) fn draw(&self, mu: f64, s: f64, rng: &mut Rng) -> f64 {
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
}

/// A kernel's contribution at a cell is `coef × f`, with f the normal density at the
/// point (continuous) or the normal mass of the cell (discrete), in units of the kernel:
/// `coef` is the kernel's weight over its mass on the bounds, and over √(2π)·σ when
/// continuous.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// Normalised weights in observation order, the prior's last (`sample_one` draws a
    /// kernel by them, as the product form does).
    weights: Vec<f64>,
    /// Sorted position of each observation's kernel.
    position: Vec<usize>,
    /// The observations' kernels by centre.
    mus: Vec<f64>,
    sigmas: Vec<f64>,
    inv_sigmas: Vec<f64>,
    coefs: Vec<f64>,
    /// The prior kernel: centre, width, coefficient.
    prior: (f64, f64, f64),
    /// Largest `coef` (continuous) or `coef / σ` (discrete), and the widest σ: a kernel at
    /// distance d from a cell adds at most `peak × e^(−(d/max_sigma)²/2)` there (times
    /// width / √(2π) when discrete).
    peak: f64,
    max_sigma: f64,
    bounds: Bounds,
}

impl Line {
    /// `obs` in trial order; `order` lists them by value (ties by position) when known.
    pub(crate) fn new(
        d: &Distribution,
        obs: &[f64],
        weights: Option<Vec<f64>>,
        order: Option<Vec<usize>>,
        p: ParzenParams,
    ) -> Self {
        let bounds = Bounds::of(d);
        let (low, high) = (bounds.low, bounds.high);
        let n = obs.len();
        let weights = mixture_weights(n, weights, p.prior_weight);
        let order = order.unwrap_or_else(|| {
            // Sorting (value, index) pairs in place beats sorting indices through `obs`.
            let mut keyed: Vec<(f64, usize)> = obs.iter().copied().zip(0..).collect();
            keyed.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            keyed.into_iter().map(|(_, i)| i).collect()
        });
        let mus: Vec<f64> = order.iter().map(|i| bounds.transform(obs[*i])).collect();
        let sigmas = if p.multivariate {
            // A one-parameter group of multivariate TPE: its width rule, clipped alike.
            let mut s = vec![joint_sigma(n, 1, low, high); n];
            super::parzen::clip_sigmas(&mut s, low, high, p);
            s
        } else {
            neighbour_sigmas(&mus, low, high, p)
        };
        let mut position = vec![0; n];
        for (pos, i) in order.iter().enumerate() {
            position[*i] = pos;
        }
        let coef = |w: f64, mu: f64, s: f64| {
            let log_mass = log_gauss_mass((low - mu) / s, (high - mu) / s);
            let mass = if log_mass == 0.0 { 1.0 } else { log_mass.exp() };
            match bounds.step {
                None => w / (mass * s * SQRT_2PI),
                Some(_) => w / mass,
            }
        };
        let inv_sigmas: Vec<f64> = sigmas.iter().map(|s| 1.0 / s).collect();
        let coefs: Vec<f64> = (0..n)
            .map(|pos| coef(weights[order[pos]], mus[pos], sigmas[pos]))
            .collect();
        let peak = match bounds.step {
            None => coefs.iter().copied().fold(0.0, f64::max),
            Some(_) => coefs
                .iter()
                .zip(&inv_sigmas)
                .map(|(c, inv)| c * inv)
                .fold(0.0, f64::max),
        };
        let (pmu, ps) = (0.5 * (low + high), high - low);
        Self {
            prior: (pmu, ps, coef(weights[n], pmu, ps)),
            weights,
            position,
            max_sigma: sigmas.iter().copied().fold(0.0, f64::max),
            mus,
            sigmas,
            inv_sigmas,
            coefs,
            peak,
            bounds,
        }
    }

    pub(crate) fn sample_one(&self, rng: &mut Rng) -> f64 {
        let k = rng.choice(&self.weights);
        let (mu, s) = match self.position.get(k) {
            Some(pos) => (self.mus[*pos], self.sigmas[*pos]),
            None => (self.prior.0, self.prior.1),
        };
        self.bounds.draw(mu, s, rng)
    }

    /// `f` of a kernel at the cell [lo, hi] (see `Line`).
    fn kernel_at(&self, lo: f64, hi: f64, mu: f64, inv_sigma: f64) -> f64 {
        match self.bounds.step {
            None => {
                let z = (lo - mu) * inv_sigma;
                (-0.5 * z * z).exp()
            }
            Some(_) => log_gauss_mass((lo - mu) * inv_sigma, (hi - mu) * inv_sigma).exp(),
        }
    }

    /// Log density at `x` (log mass of x's grid cell when discrete): the prior kernel and
    /// the kernels close enough to add more than e^-40 of the largest term; the terms
    /// left out are those the product form's log-sum-exp drops.
    pub(crate) fn log_pdf(&self, x: f64) -> f64 {
        let Some((lo, hi)) = self.bounds.cell(x) else {
            return f64::NEG_INFINITY;
        };
        let (pmu, ps, pcoef) = self.prior;
        let term = |pos: usize| {
            self.coefs[pos] * self.kernel_at(lo, hi, self.mus[pos], self.inv_sigmas[pos])
        };
        let mut total = pcoef * self.kernel_at(lo, hi, pmu, 1.0 / ps);
        // Any term is a lower bound of the largest; the kernels next to the cell give a
        // good one.
        let next = self.mus.partition_point(|m| *m < lo);
        let mut largest = total;
        for pos in [next.wrapping_sub(1), next] {
            if pos < self.mus.len() {
                largest = largest.max(term(pos));
            }
        }
        let scale = match self.bounds.step {
            None => 1.0,
            Some(_) => (hi - lo) / SQRT_2PI,
        };
        let reach = self.max_sigma
            * (2.0 * ((self.peak * scale / largest).ln() + NEGLIGIBLE))
                .max(0.0)
                .sqrt();
        let (start, end) = if reach.is_finite() {
            (
                self.mus.partition_point(|m| *m < lo - reach),
                self.mus.partition_point(|m| *m <= hi + reach),
            )
        } else {
            (0, self.mus.len())
        };
        total += (start..end).map(term).sum::<f64>();
        if total > 0.0 && total.is_finite() {
            total.ln()
        } else {
            self.log_pdf_exact(lo, hi)
        }
    }

    /// Every term in log space: for a cell so far out (or a range so odd) that the linear
    /// sum under- or overflows.
    fn log_pdf_exact(&self, lo: f64, hi: f64) -> f64 {
        let log_f = |mu: f64, inv: f64| match self.bounds.step {
            None => {
                let z = (lo - mu) * inv;
                -0.5 * z * z
            }
            Some(_) => log_gauss_mass((lo - mu) * inv, (hi - mu) * inv),
        };
        let (pmu, ps, pcoef) = self.prior;
        let mut terms = vec![pcoef.ln() + log_f(pmu, 1.0 / ps)];
        terms.extend(
            (0..self.mus.len())
                .map(|pos| self.coefs[pos].ln() + log_f(self.mus[pos], self.inv_sigmas[pos])),
        );
        super::parzen::log_sum_exp(&terms)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parzen::Product;
    use super::*;

    fn params(multivariate: bool) -> ParzenParams {
        ParzenParams {
            prior_weight: 1.0,
            consider_magic_clip: true,
            consider_endpoints: false,
            multivariate,
        }
    }

    /// The sorted, windowed, linear layout gives the product form's densities (which the
    /// Optuna fixtures pin) on long histories of every numerical kind, in and out of the
    /// bounds, and draws the same samples.
    #[test]
    fn line_matches_the_product_form() {
        let dists = [
            Distribution::float(-5.0, 10.0),
            Distribution::float_log(1e-5, 1.0),
            Distribution::float_step(0.0, 1.0, 0.05),
            Distribution::int(1, 500),
            Distribution::int_log(1, 4096),
        ];
        let mut rng = Rng::new(7, 0, 0);
        for d in &dists {
            let bounds = Bounds::of(d);
            for n in [0, 1, 2, 30, 3_000] {
                // Clustered observations, with ties, as a converging study makes them.
                let obs: Vec<f64> = (0..n)
                    .map(|i| {
                        let centre = if i % 3 == 0 { 0.2 } else { 0.7 };
                        let u = (centre + 0.1 * (rng.uniform() - 0.5)).clamp(0.0, 1.0);
                        let t = bounds.low + u * (bounds.high - bounds.low);
                        let x = if bounds.log { t.exp() } else { t };
                        d.to_internal(&d.to_external(x)).unwrap()
                    })
                    .collect();
                for multivariate in [false, true] {
                    let p = params(multivariate);
                    let line = Line::new(d, &obs, None, None, p);
                    let product = Product::new(&[d], std::slice::from_ref(&obs), None, p);
                    for k in 0..60 {
                        let u = -0.1 + 1.2 * k as f64 / 59.0;
                        let t = bounds.low + u * (bounds.high - bounds.low);
                        let x = if bounds.log { t.exp() } else { t };
                        let x = match d {
                            Distribution::Float { step: None, .. } => x,
                            _ => d.to_internal(&d.to_external(x)).unwrap(),
                        };
                        let (got, want) = (line.log_pdf(x), product.log_pdf(&[x]));
                        assert!(
                            got == want || (got - want).abs() < 1e-9 * want.abs().max(1.0),
                            "{d:?} n={n} mv={multivariate} x={x}: line {got}, product {want}"
                        );
                    }
                    let (mut r1, mut r2) = (Rng::new(1, 2, 3), Rng::new(1, 2, 3));
                    for _ in 0..20 {
                        assert_eq!(line.sample_one(&mut r1), product.sample_one(&mut r2)[0]);
                    }
                }
            }
        }
    }
}
