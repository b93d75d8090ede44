//! Sums of many Gaussian kernels of one width at a few points, without an exponential per
//! kernel and point: a one-dimensional fast Gauss transform in its Taylor form (Greengard
//! and Strain 1991; Yang, Duraiswami and Gumerov 2003). TPE needs it once a study has
//! converged: thousands of bad trials crowd where the good ones are, every candidate lies
//! within reach of nearly all of them, and magic clipping gives them all the same width.
//!
//! Kernels are grouped in bins one width wide. For a kernel at `c + v·h` in the bin centred
//! at `c`, and a point at `c + u·h`,
//! `e^(−(u−v)²/2) = e^(−u²/2) · e^(−v²/2) · Σₖ (u·v)ᵏ/k!`,
//! so a bin's kernels are summed at any point from `TERMS` moments
//! `Mₖ = Σ coef · e^(−v²/2) · vᵏ/k!` as `e^(−u²/2) · Σₖ Mₖ uᵏ`.
//! With |v| ≤ ½ the series left out is at most (|u|/2)^24/24! · e^|u| of a bin's sum (with
//! the cancellation of its alternating terms); as a bin u widths away weighs e^(−u²/2) of
//! one at the point, no bin within `REACH` is off by more than ~1e-17 of that, and a bin
//! that is alone within reach by ~1e-12 of itself, where the prior kernel dwarfs it. The
//! tests hold the sums to 1e-13 of the direct ones.

/// Terms of each bin's series.
pub(crate) const TERMS: usize = 24;

/// 1 / (k + 1), for the series' factorials.
pub(crate) const INVERSES: [f64; TERMS] = {
    let mut t = [0.0; TERMS];
    let mut k = 0;
    while k < TERMS {
        t[k] = 1.0 / (k + 1) as f64;
        k += 1;
    }
    t
};

/// Bins whose centre is further from the point than this many widths are left out: their
/// kernels add less than e^-45 of their own peak, as in the direct sum's e^-40 window.
pub(crate) const REACH: f64 = 9.5;

/// `Σᵢ coefs[i] · e^(−((x − mus[i]) / width)² / 2)` at each of `xs`, over the kernels whose
/// `widths[i] == width` (the others are the caller's), `mus` sorted ascending.
pub(crate) fn equal_width_sums(
    mus: &[f64],
    coefs: &[f64],
    widths: &[f64],
    width: f64,
    xs: &[f64],
) -> Vec<f64> {
    let Some(&origin) = mus.first() else {
        return vec![0.0; xs.len()];
    };
    let inv = 1.0 / width;
    // Bin b holds the kernels in [origin + b·width, origin + (b + 1)·width).
    let bin_of = |x: f64| ((x - origin) * inv).floor();
    let last_bin = bin_of(mus[mus.len() - 1]) as i64;
    let centre = |b: i64| origin + (b as f64 + 0.5) * width;
    let boundary = |b: i64| origin + b as f64 * width;
    let below = |x: f64| mus.partition_point(|m| *m < x);
    let mut moments: Vec<Option<[f64; TERMS]>> = vec![None; (last_bin + 1) as usize];
    xs.iter()
        .map(|&x| {
            let first = (bin_of(x - REACH * width).max(0.0) as i64).min(last_bin + 1);
            let last = (bin_of(x + REACH * width) as i64).min(last_bin);
            let mut sum = 0.0;
            for b in first..=last {
                let c = centre(b);
                let u = (x - c) * inv;
                if u.abs() > REACH + 0.5 {
                    continue;
                }
                let m = moments[b as usize].get_or_insert_with(|| {
                    // Neighbouring bins split at the same computed boundary: no kernel is
                    // counted twice or missed.
                    let start = if b == 0 { 0 } else { below(boundary(b)) };
                    let end = if b == last_bin {
                        mus.len()
                    } else {
                        below(boundary(b + 1))
                    };
                    bin_moments(
                        &mus[start..end],
                        &coefs[start..end],
                        &widths[start..end],
                        c,
                        width,
                    )
                });
                let series = m.iter().rev().fold(0.0, |acc, mk| acc * u + mk);
                sum += (-0.5 * u * u).exp() * series;
            }
            sum
        })
        .collect()
}

/// The moments `Mₖ` of one bin centred at `c` (see the module's comment). Term by term
/// over all the bin's kernels, so the kernels' products are independent (vectorised)
/// rather than one chain of multiplications per kernel.
fn bin_moments(mus: &[f64], coefs: &[f64], widths: &[f64], c: f64, width: f64) -> [f64; TERMS] {
    let inv = 1.0 / width;
    let (mut terms, mut vs) = (Vec::with_capacity(mus.len()), Vec::with_capacity(mus.len()));
    for ((mu, coef), w) in mus.iter().zip(coefs).zip(widths) {
        if *w == width {
            let v = (mu - c) * inv;
            terms.push(coef * (-0.5 * v * v).exp());
            vs.push(v);
        }
    }
    let mut m = [0.0; TERMS];
    for (mk, inverse) in m.iter_mut().zip(INVERSES) {
        // Four running sums, so the additions do not wait on each other either.
        let mut lanes = [0.0; 4];
        let mut chunks = terms.chunks_exact_mut(4).zip(vs.chunks_exact(4));
        for (t, v) in &mut chunks {
            for j in 0..4 {
                lanes[j] += t[j];
                t[j] *= v[j] * inverse;
            }
        }
        let tail = terms.len() - terms.len() % 4;
        for (t, v) in terms[tail..].iter_mut().zip(&vs[tail..]) {
            lanes[0] += *t;
            *t *= v * inverse;
        }
        *mk = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn direct(mus: &[f64], coefs: &[f64], widths: &[f64], width: f64, x: f64) -> f64 {
        mus.iter()
            .zip(coefs)
            .zip(widths)
            .filter(|(_, w)| **w == width)
            .map(|((mu, c), _)| c * (-0.5 * ((x - mu) / width).powi(2)).exp())
            .sum()
    }

    /// Against the direct sum, on crowded and spread kernels with some of another width,
    /// at points inside, between and far outside them.
    #[test]
    fn sums_match_the_direct_ones() {
        let mut rng = Rng::new(3, 1, 4);
        for (n, spread) in [(1, 1.0), (40, 0.05), (5_000, 0.05), (5_000, 1.0)] {
            let mut mus: Vec<f64> = (0..n).map(|_| 0.3 + spread * rng.uniform()).collect();
            mus.sort_by(f64::total_cmp);
            let width = 0.01;
            let widths: Vec<f64> = (0..n)
                .map(|i| if i % 7 == 3 { 0.02 } else { width })
                .collect();
            let coefs: Vec<f64> = (0..n).map(|_| 0.5 + rng.uniform()).collect();
            let xs: Vec<f64> = (0..200).map(|k| -0.2 + 1.6 * k as f64 / 199.0).collect();
            let got = equal_width_sums(&mus, &coefs, &widths, width, &xs);
            for (x, g) in xs.iter().zip(&got) {
                let want = direct(&mus, &coefs, &widths, width, *x);
                // 1e-13 relative, plus the kernels beyond the reach (each < 1.5·e^-45).
                let left_out = n as f64 * 1.5 * (-0.5 * REACH * REACH).exp();
                assert!(
                    (g - want).abs() <= 1e-13 * want + left_out,
                    "n={n} spread={spread} x={x}: {g} vs {want}"
                );
            }
        }
    }
}
