//! The Parzen estimator of one numerical parameter (univariate TPE, the default), laid
//! out for long histories: kernels sorted by centre, so a density at x visits only the
//! kernels near x, and weights kept linear, so fitting 10,000 kernels takes no logarithm.
//! The same mixture as the product form with one dimension (the tests compare them).

use super::gauss_sum;
use super::parzen::{NEGLIGIBLE, ParzenParams, joint_sigma, mixture_weights, neighbour_sigmas};
use super::truncnorm::{gauss_mass, log_gauss_mass, ppf};
use crate::Distribution;
use crate::rng::Rng;

const SQRT_2PI: f64 = 2.506_628_274_631_000_5;

/// Where a numerical parameter's kernels live: (log) space on [low, high], widened by
/// step/2 when discrete; `orig_*`/`step` snap samples back onto the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// Kernels needed before `Line::log_pdfs` sums by bins: below it the direct sums are as fast.
const EXPANSION_FROM: usize = 1_000;

/// Most bins `Line::log_pdfs` sums by (magic clipping makes ~100).
const MAX_BINS: f64 = 4096.0;

/// How far (in its widths) a kernel of an uncommon width is summed by `Line::log_pdfs`:
/// further out it adds less than e^-45 of its peak.
const REACH_IN_WIDTHS: f64 = 9.5;

/// The core of a density (`Line::density_core`): kernels within this many widest widths
/// of the cell, ±2σ holding ~95% of a smooth mixture's density.
const CORE: f64 = 2.0;

/// A density at one cell, summed as far as its core.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Partial {
    lo: f64,
    hi: f64,
    sum: f64,
    largest: f64,
    core: (usize, usize),
    /// The whole answer already (a point outside the bounds).
    exact: Option<f64>,
}

impl Partial {
    fn exact(value: f64) -> Self {
        Self {
            lo: 0.0,
            hi: 0.0,
            sum: 0.0,
            largest: 0.0,
            core: (0, 0),
            exact: Some(value),
        }
    }

    /// A lower bound of the log density.
    pub(crate) fn lower_bound(&self) -> f64 {
        self.exact.unwrap_or(self.sum.ln())
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
            let mass = gauss_mass((low - mu) / s, (high - mu) / s);
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
        self.finish(self.density_core(x))
    }

    /// The first step of a density at `x`: the prior and the kernels within `CORE` widest
    /// widths of x's cell, which hold nearly all of it. Every term being positive, its log
    /// is a lower bound of the log density; `finish` adds the rest of the reach.
    pub(crate) fn density_core(&self, x: f64) -> Partial {
        let Some((lo, hi)) = self.bounds.cell(x) else {
            return Partial::exact(f64::NEG_INFINITY);
        };
        let (pmu, ps, pcoef) = self.prior;
        let mut sum = pcoef * self.kernel_at(lo, hi, pmu, 1.0 / ps);
        let mut largest = sum;
        let core = self.range(lo, hi, CORE * self.max_sigma);
        for pos in core.0..core.1 {
            let t = self.term(lo, hi, pos);
            sum += t;
            largest = largest.max(t);
        }
        Partial {
            lo,
            hi,
            sum,
            largest,
            core,
            exact: None,
        }
    }

    /// The log density a `density_core` began: adds the kernels beyond the core that can
    /// add more than e^-40 of the largest term.
    pub(crate) fn finish(&self, partial: Partial) -> f64 {
        let Partial {
            lo,
            hi,
            mut sum,
            mut largest,
            core,
            exact,
        } = partial;
        if let Some(value) = exact {
            return value;
        }
        // The largest term is at least that of a kernel next to the cell (the core holds
        // them unless it is empty).
        let next = self.mus.partition_point(|m| *m < lo);
        for pos in [next.wrapping_sub(1), next] {
            if pos < self.mus.len() && !(core.0..core.1).contains(&pos) {
                let t = self.term(lo, hi, pos);
                largest = largest.max(t);
            }
        }
        let scale = match self.bounds.step {
            None => 1.0,
            Some(_) => (hi - lo) / SQRT_2PI,
        };
        // A kernel at distance d from the cell adds at most
        // peak × scale × e^(−(d/max_sigma)²/2): beyond `reach`, less than e^-40 of the
        // largest term.
        let reach = self.max_sigma
            * (2.0 * ((self.peak * scale / largest).ln() + NEGLIGIBLE))
                .max(0.0)
                .sqrt();
        let (start, end) = if reach.is_finite() {
            self.range(lo, hi, reach)
        } else {
            (0, self.mus.len())
        };
        let (start, end) = (start.min(core.0), end.max(core.1));
        sum += (start..core.0)
            .chain(core.1..end)
            .map(|pos| self.term(lo, hi, pos))
            .sum::<f64>();
        if sum > 0.0 && sum.is_finite() {
            sum.ln()
        } else {
            self.log_pdf_exact(lo, hi)
        }
    }

    /// Log densities at many continuous points at once, when most kernels share the
    /// narrowest width (magic clipping gives a long history's crowded kernels the same one):
    /// those are summed by bins (`gauss_sum`), the others and the prior directly. `None`
    /// when that does not pay (a discrete parameter, a short or uneven history).
    pub(crate) fn log_pdfs(&self, xs: &[f64]) -> Option<Vec<f64>> {
        let n = self.mus.len();
        if self.bounds.step.is_some() || n < EXPANSION_FROM {
            return None;
        }
        let width = self.sigmas.iter().copied().fold(f64::INFINITY, f64::min);
        let others: Vec<usize> = (0..n).filter(|pos| self.sigmas[*pos] != width).collect();
        // Widths far below the kernels' spread (no magic clip, and equal observations whose
        // gap is 0) would need as many bins as a long history has kernels, or more.
        let bins = (self.mus[n - 1] - self.mus[0]) / width;
        if others.len() * 2 > n || bins.is_nan() || bins > MAX_BINS {
            return None;
        }
        let (pmu, ps, pcoef) = self.prior;
        // In kernel space (the log of a log-scale parameter); a point out of bounds has
        // no cell (a zero density), summed at the prior's centre only to keep the order.
        let cells: Vec<Option<(f64, f64)>> = xs.iter().map(|x| self.bounds.cell(*x)).collect();
        let points: Vec<f64> = cells.iter().map(|c| c.map_or(pmu, |c| c.0)).collect();
        let binned =
            gauss_sum::equal_width_sums(&self.mus, &self.coefs, &self.sigmas, width, &points);
        let densities = cells.into_iter().zip(binned).map(|(cell, binned)| {
            let Some((lo, hi)) = cell else {
                return f64::NEG_INFINITY;
            };
            // The kernels of other widths within the reach of the widest.
            let reach = REACH_IN_WIDTHS * self.max_sigma;
            let from = others.partition_point(|pos| self.mus[*pos] < lo - reach);
            let to = others.partition_point(|pos| self.mus[*pos] <= hi + reach);
            let sum = pcoef * self.kernel_at(lo, hi, pmu, 1.0 / ps)
                + binned
                + others[from..to]
                    .iter()
                    .map(|pos| self.term(lo, hi, *pos))
                    .sum::<f64>();
            if sum > 0.0 && sum.is_finite() {
                sum.ln()
            } else {
                self.log_pdf_exact(lo, hi)
            }
        });
        Some(densities.collect())
    }

    /// Whether the kernels crowd where `xs` are: their cores (`density_core`) hold on
    /// average more than an eighth of all kernels, as when a converged study's bad trials
    /// surround its good ones. Then no candidate's bound rules it out and summing by bins
    /// (`log_pdfs`) is faster; with spread kernels the bounds are.
    pub(crate) fn crowded_at(&self, xs: &[f64]) -> bool {
        let in_cores: usize = xs
            .iter()
            .filter_map(|x| self.bounds.cell(*x))
            .map(|(lo, hi)| {
                let (start, end) = self.range(lo, hi, CORE * self.max_sigma);
                end - start
            })
            .sum();
        in_cores * 8 > self.mus.len() * xs.len()
    }

    /// Sorted positions of the kernels centred within `reach` of the cell [lo, hi].
    fn range(&self, lo: f64, hi: f64, reach: f64) -> (usize, usize) {
        (
            self.mus.partition_point(|m| *m < lo - reach),
            self.mus.partition_point(|m| *m <= hi + reach),
        )
    }

    /// The term of the kernel at sorted position `pos` at the cell [lo, hi].
    fn term(&self, lo: f64, hi: f64, pos: usize) -> f64 {
        self.coefs[pos] * self.kernel_at(lo, hi, self.mus[pos], self.inv_sigmas[pos])
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
pub(super) mod tests {
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

    /// 300 points across a parameter's range and 5 % beyond each end (in its internal
    /// scale), where densities are compared.
    pub(in crate::tpe) fn probe_points(bounds: Bounds) -> Vec<f64> {
        (0..300)
            .map(|k| {
                let t = bounds.low + (-0.05 + 1.1 * k as f64 / 299.0) * (bounds.high - bounds.low);
                if bounds.log { t.exp() } else { t }
            })
            .collect()
    }

    /// Densities summed by bins are the direct ones, on long continuous histories spread
    /// and crowded, with kernels of other widths among them; a discrete parameter and a
    /// short history are left to the direct sums.
    #[test]
    fn binned_densities_are_the_direct_ones() {
        let mut rng = Rng::new(11, 0, 0);
        for d in [
            Distribution::float(-5.0, 10.0),
            Distribution::float_log(1e-5, 1.0),
        ] {
            let bounds = Bounds::of(&d);
            for crowd in [1.0, 0.05, 0.002] {
                let obs: Vec<f64> = (0..3_000)
                    .map(|i| {
                        // One in fifty spread out: ~60 kernels, further apart than
                        // the narrowest width, so wider ones among the crowd's.
                        let spread = if i % 50 == 0 { 1.0 } else { crowd };
                        let u = 0.6 + spread * (rng.uniform() - 0.5);
                        let t = bounds.low + u.clamp(0.0, 1.0) * (bounds.high - bounds.low);
                        if bounds.log { t.exp() } else { t }
                    })
                    .collect();
                let line = Line::new(&d, &obs, None, None, params(false));
                let xs = probe_points(bounds);
                let binned = line.log_pdfs(&xs).expect("a long continuous history");
                for (x, got) in xs.iter().zip(binned) {
                    let want = line.log_pdf(*x);
                    assert!(
                        got == want || (got - want).abs() < 1e-12 * want.abs().max(1.0),
                        "{d:?} crowd {crowd} x={x}: binned {got}, direct {want}"
                    );
                }
                // At the crowd's centre the cores hold most kernels; spread, a few.
                let t = bounds.low + 0.6 * (bounds.high - bounds.low);
                let centre = if bounds.log { t.exp() } else { t };
                assert_eq!(
                    line.crowded_at(&[centre]),
                    crowd < 1.0,
                    "{d:?} crowd {crowd}"
                );
            }
        }
        let short = line_of(&Distribution::float(0.0, 1.0), 500);
        assert!(short.log_pdfs(&[0.5]).is_none());
        let discrete = line_of(&Distribution::int(1, 300), 3_000);
        assert!(discrete.log_pdfs(&[5.0]).is_none());
        // Without magic clipping, equal observations get widths of 1e-12: no 10^13 bins.
        let d = Distribution::float(0.0, 1.0);
        let obs: Vec<f64> = (0..3_000).map(|i| f64::from(i % 2)).collect();
        let unclipped = ParzenParams {
            consider_magic_clip: false,
            ..params(false)
        };
        let line = Line::new(&d, &obs, None, None, unclipped);
        assert!(line.log_pdfs(&[0.5]).is_none());
        assert!(line.log_pdf(0.5).is_finite());
    }

    fn line_of(d: &Distribution, n: usize) -> Line {
        let mut rng = Rng::new(5, 0, 0);
        let obs: Vec<f64> = (0..n)
            .map(|_| {
                d.to_internal(&crate::random::sample_uniform(d, &mut rng))
                    .unwrap()
            })
            .collect();
        Line::new(d, &obs, None, None, params(false))
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
