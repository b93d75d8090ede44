//! Truncated standard normal pieces, in log space where the tails need it (the role of
//! Optuna's `_truncnorm.py`, which ports SciPy's). `a`/`b` are standardised bounds.

use statrs::function::erf::{erf, erfc, erfc_inv};
use std::f64::consts::{LN_2, SQRT_2};

pub(crate) const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// log Φ(x), with the asymptotic expansion far in the left tail where Φ underflows.
pub(crate) fn log_ndtr(x: f64) -> f64 {
    if x > 6.0 {
        // Φ(x) = 1 − Φ(−x), and Φ(−x) is tiny.
        (-0.5 * erfc(x / SQRT_2)).ln_1p()
    } else if x > -20.0 {
        (0.5 * erfc(-x / SQRT_2)).ln()
    } else {
        let x2 = x * x;
        -0.5 * x2 - (-x).ln() - LN_SQRT_2PI + (-1.0 / x2 + 3.0 / (x2 * x2)).ln_1p()
    }
}

/// log(1 − e^x) for x ≤ 0.
fn log1mexp(x: f64) -> f64 {
    if x > -LN_2 {
        (-x.exp_m1()).ln()
    } else {
        (-x.exp()).ln_1p()
    }
}

/// Beyond this many standard deviations Φ is 1 (or 0) to double precision.
const WHOLE: f64 = 8.5;

/// log(Φ(b) − Φ(a)), the log mass of [a, b] under N(0, 1).
pub(crate) fn log_gauss_mass(a: f64, b: f64) -> f64 {
    if b <= 0.0 {
        let lb = log_ndtr(b);
        lb + log1mexp(log_ndtr(a) - lb)
    } else if a >= 0.0 {
        log_gauss_mass(-b, -a)
    } else if a < -WHOLE || b > WHOLE {
        // A tail beyond WHOLE holds less than 1e-17 (erf rounds to ±1 there): the mass is
        // what the other tail leaves, exactly 1 when both are that far. A kernel far from
        // the bounds is the common case, and erf is slow.
        match (a < -WHOLE, b > WHOLE) {
            (true, true) => 0.0,
            (true, false) => log_ndtr(b),
            _ => log_ndtr(-a),
        }
    } else {
        // Central: a < 0 < b, no cancellation in erf(b) − erf(a).
        (0.5 * (erf(b / SQRT_2) - erf(a / SQRT_2))).ln()
    }
}

/// Φ(b) − Φ(a) itself: a kernel well inside the bounds (mass 1) or near one bound only
/// (one tail: ½·erfc) takes no logarithm and exponential; the rest as `log_gauss_mass`.
pub(crate) fn gauss_mass(a: f64, b: f64) -> f64 {
    let one_tail = match (a < -WHOLE, b > WHOLE) {
        (true, true) => return 1.0,
        (true, false) => 0.5 * erfc(-b / SQRT_2),
        (false, true) => 0.5 * erfc(a / SQRT_2),
        (false, false) => 0.0,
    };
    if one_tail > 1e-300 {
        one_tail
    } else {
        log_gauss_mass(a, b).exp()
    }
}

/// Φ⁻¹(e^y): a first guess (erfc⁻¹, or the leading tail term where e^y underflows),
/// then Newton steps on log Φ(x) = y, which stay accurate far in the left tail.
fn ndtri_exp(y: f64) -> f64 {
    let mut x = if y < -700.0 {
        let mut x = -(-2.0 * y).sqrt();
        for _ in 0..4 {
            x = -(-2.0 * (y + (-x).ln() + LN_SQRT_2PI)).sqrt();
        }
        x
    } else {
        let p = y.exp();
        if p >= 1.0 {
            return f64::INFINITY;
        }
        -SQRT_2 * erfc_inv(2.0 * p)
    };
    if !x.is_finite() || x > 0.0 {
        return x;
    }
    for _ in 0..3 {
        let l = log_ndtr(x);
        let slope = (-0.5 * x * x - LN_SQRT_2PI - l).exp();
        if !(slope.is_finite() && slope > 0.0) {
            break;
        }
        x -= (l - y) / slope;
    }
    x
}

/// The `q`-quantile of N(0, 1) truncated to [a, b].
pub(crate) fn ppf(q: f64, a: f64, b: f64) -> f64 {
    if a > 0.0 {
        return -ppf(1.0 - q, -b, -a);
    }
    let log_mass = log_gauss_mass(a, b);
    let la = log_ndtr(a);
    let lq = q.max(f64::MIN_POSITIVE).ln() + log_mass;
    // log(Φ(a) + q·mass)
    let (hi, lo) = if la > lq { (la, lq) } else { (lq, la) };
    let log_p = hi + (lo - hi).exp().ln_1p();
    ndtri_exp(log_p).clamp(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log density at `x` of N(mu, sigma²) truncated to [low, high].
    fn logpdf(x: f64, mu: f64, sigma: f64, low: f64, high: f64) -> f64 {
        if x < low || x > high {
            return f64::NEG_INFINITY;
        }
        let z = (x - mu) / sigma;
        -0.5 * z * z
            - LN_SQRT_2PI
            - sigma.ln()
            - log_gauss_mass((low - mu) / sigma, (high - mu) / sigma)
    }

    #[test]
    fn mass_and_quantiles_agree_with_known_values() {
        // Φ(1) − Φ(−1) = 0.682689492137...
        let m = log_gauss_mass(-1.0, 1.0).exp();
        // statrs 0.19 erf is off by ~3e-11 here; ample for kernel densities.
        assert!((m - 0.682_689_492_137_086).abs() < 1e-9, "{m}");
        // Past WHOLE standard deviations a tail is left out: the same mass as the erf
        // formula, on both sides of the threshold.
        let by_erf = |a: f64, b: f64| (0.5 * (erf(b / SQRT_2) - erf(a / SQRT_2))).ln();
        for (a, b) in [
            (-8.6, 8.6),
            (-8.4, 8.6),
            (-8.6, 8.4),
            (-2.0, 9.0),
            (-9.0, 0.5),
        ] {
            let (got, want) = (log_gauss_mass(a, b), by_erf(a, b));
            assert!((got - want).abs() < 1e-12 * want.abs().max(1e-3), "{a} {b}");
        }
        assert_eq!(log_gauss_mass(-8.6, 8.6), 0.0);
        for (a, b) in [
            (-8.6, 8.6),
            (-9.0, 0.5),
            (-9.0, -3.0),
            (-2.0, 9.0),
            (1.0, 9.0),
            (-1.0, 1.0),
        ] {
            let (got, want) = (gauss_mass(a, b), by_erf(a, b).exp());
            assert!((got - want).abs() < 1e-13 * want, "{a} {b}: {got} {want}");
        }
        // Far tails stay finite.
        assert!(log_gauss_mass(30.0, 31.0).is_finite());
        assert!(log_gauss_mass(-41.0, -40.0).is_finite());
        // Untruncated median is 0; quantiles stay in bounds and are monotone.
        assert!(ppf(0.5, -1e3, 1e3).abs() < 1e-9);
        let xs: Vec<f64> = (1..10).map(|i| ppf(i as f64 / 10.0, 0.5, 3.0)).collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]) && xs[0] >= 0.5 && xs[8] <= 3.0);
        assert!((ppf(0.3, 35.0, 36.0) - 35.0).abs() < 1.0);
        // Log density integrates to ~1 over its support.
        let n = 20_000;
        let (lo, hi) = (-0.5, 2.0);
        let h = (hi - lo) / n as f64;
        let s: f64 = (0..n)
            .map(|i| logpdf(lo + (i as f64 + 0.5) * h, 0.3, 0.7, lo, hi).exp() * h)
            .sum();
        assert!((s - 1.0).abs() < 1e-6, "{s}");
    }

    /// Optuna's `_truncnorm` (tests/fixtures/gen_truncnorm_fixtures.py): log masses and
    /// quantiles, central and far in both tails.
    #[test]
    fn matches_optuna_truncnorm() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/truncnorm.json")).unwrap();
        let mut worst: f64 = 0.0;
        for c in fixture["cases"].as_array().unwrap() {
            let (a, b) = (c["a"].as_f64().unwrap(), c["b"].as_f64().unwrap());
            let want = c["log_mass"].as_f64().unwrap();
            let got = log_gauss_mass(a, b);
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "mass [{a}, {b}]: {got} vs {want}"
            );
            for (q, w) in c["q"]
                .as_array()
                .unwrap()
                .iter()
                .zip(c["ppf"].as_array().unwrap())
            {
                let (q, w) = (q.as_f64().unwrap(), w.as_f64().unwrap());
                let got = ppf(q, a, b);
                let err = (got - w).abs() / (b - a);
                worst = worst.max(err);
                assert!(err < 1e-9, "ppf({q}, {a}, {b}) = {got}, optuna {w}");
            }
        }
        eprintln!("worst ppf error relative to the interval: {worst:e}");
    }
}
