//! Distribution functions, accurate to ~1e-13 relative or better (checked against SciPy in
//! `tests/scipy_fixtures.rs`):
//!
//! - normal: [`normal_cdf`], [`normal_sf`], [`normal_quantile`], [`normal_isf`] — via the Boost
//!   `erfc`/`erfc_inv` ports in statrs, the quantile polished by one Newton step;
//! - Student t: [`t_cdf`], [`t_sf`], [`t_quantile`] — through the incomplete beta
//!   I_{ν/(ν+t²)}(ν/2, ½) (Abramowitz & Stegun 26.7.1);
//! - beta: [`beta_cdf`], [`beta_sf`], [`beta_ppf`], [`beta_isf`] — the regularized incomplete
//!   beta function and its inverse (see `special`), as `scipy.stats.beta`;
//! - hypergeometric: [`hypergeom_pmf`] (as `scipy.stats.hypergeom.pmf(k, M, n, N)`).

use std::f64::consts::{PI, SQRT_2};

use statrs::function::erf::{erfc, erfc_inv};

use crate::special;

/// P(Z ≤ z) for a standard normal Z.
#[must_use]
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / SQRT_2)
}

/// P(Z > z) for a standard normal Z, accurate far into the upper tail.
#[must_use]
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / SQRT_2)
}

fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * PI).sqrt()
}

/// z with P(Z ≤ z) = p (`scipy.stats.norm.ppf`); −∞ at 0, +∞ at 1, NaN outside [0, 1].
#[must_use]
pub fn normal_quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) || p.is_nan() {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        return normal_isf(1.0 - p);
    }
    let z = -SQRT_2 * erfc_inv(2.0 * p);
    // One Newton step on the lower tail, relative to p.
    let pdf = normal_pdf(z);
    if pdf > 0.0 {
        z - (normal_cdf(z) - p) / pdf
    } else {
        z
    }
}

/// z with P(Z > z) = q (`scipy.stats.norm.isf`).
#[must_use]
pub fn normal_isf(q: f64) -> f64 {
    if !(0.0..=1.0).contains(&q) || q.is_nan() {
        return f64::NAN;
    }
    if q > 0.5 {
        return -normal_isf(1.0 - q);
    }
    if q == 0.0 {
        return f64::INFINITY;
    }
    let z = SQRT_2 * erfc_inv(2.0 * q);
    let pdf = normal_pdf(z);
    if pdf > 0.0 {
        z + (normal_sf(z) - q) / pdf
    } else {
        z
    }
}

/// Tail probability P(T > |t|) for Student t with `df` degrees of freedom, plus its
/// complement, each accurate.
fn t_tail(t: f64, df: f64) -> (f64, f64) {
    let t2 = t * t;
    // x = ν/(ν+t²), y = t²/(ν+t²), both without cancellation.
    let (x, y) = if t2 < df {
        (1.0 / (1.0 + t2 / df), (t2 / df) / (1.0 + t2 / df))
    } else {
        ((df / t2) / (1.0 + df / t2), 1.0 / (1.0 + df / t2))
    };
    let i = special::beta_inc(0.5 * df, 0.5, x, y).0;
    (0.5 * i, 1.0 - 0.5 * i)
}

/// P(T ≤ t), T ~ Student t(df) (`scipy.stats.t.cdf`). NaN for df ≤ 0 or NaN inputs.
#[must_use]
pub fn t_cdf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return if t > 0.0 { 1.0 } else { 0.0 };
    }
    let (tail, body) = t_tail(t, df);
    if t < 0.0 { tail } else { body }
}

/// P(T > t), T ~ Student t(df) (`scipy.stats.t.sf`).
#[must_use]
pub fn t_sf(t: f64, df: f64) -> f64 {
    t_cdf(-t, df)
}

/// Two-sided p-value 2 P(T > |t|) = I_{ν/(ν+t²)}(ν/2, ½), computed without doubling a rounded
/// half. For t = ±∞ it is 0, for NaN inputs NaN.
#[must_use]
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    (2.0 * t_tail(t, df).0).min(1.0)
}

fn t_pdf(t: f64, df: f64) -> f64 {
    let ln_norm = -0.5 * df.ln() - special::ln_beta(0.5 * df, 0.5);
    (ln_norm - 0.5 * (df + 1.0) * (t * t / df).ln_1p()).exp()
}

/// t with P(T ≤ t) = p, T ~ Student t(df) (`scipy.stats.t.ppf`).
#[must_use]
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p.is_nan() || df.is_nan() || df <= 0.0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p == 0.5 {
        return 0.0;
    }
    if p > 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    // Lower tail: solve I_x(ν/2, ½) = 2p for x = ν/(ν+t²), then polish t by Newton on the cdf.
    let (x, y) = special::beta_inc_inv(0.5 * df, 0.5, 2.0 * p, false);
    let mut t = -(df * (y / x)).sqrt();
    for _ in 0..3 {
        let pdf = t_pdf(t, df);
        if pdf.is_nan() || pdf <= 0.0 {
            break;
        }
        let step = (t_cdf(t, df) - p) / pdf;
        t -= step;
        if step.abs() <= 4.0 * f64::EPSILON * t.abs() {
            break;
        }
    }
    t
}

/// P(X ≤ x), X ~ Beta(a, b) (`scipy.stats.beta.cdf`).
#[must_use]
pub fn beta_cdf(x: f64, a: f64, b: f64) -> f64 {
    special::beta_inc(a, b, x, 1.0 - x).0
}

/// P(X > x), X ~ Beta(a, b) (`scipy.stats.beta.sf`).
#[must_use]
pub fn beta_sf(x: f64, a: f64, b: f64) -> f64 {
    special::beta_inc(a, b, x, 1.0 - x).1
}

/// x with P(X ≤ x) = p, X ~ Beta(a, b) (`scipy.stats.beta.ppf`).
#[must_use]
pub fn beta_ppf(p: f64, a: f64, b: f64) -> f64 {
    special::beta_inc_inv(a, b, p, false).0
}

/// x with P(X > x) = q, X ~ Beta(a, b) (`scipy.stats.beta.isf`).
#[must_use]
pub fn beta_isf(q: f64, a: f64, b: f64) -> f64 {
    special::beta_inc_inv(a, b, q, true).0
}

/// P(X = k) for X hypergeometric: `draws` items drawn without replacement from `total`, of
/// which `successes` are marked (`scipy.stats.hypergeom.pmf(k, total, successes, draws)`).
/// Zero outside the support; requires successes ≤ total and draws ≤ total.
#[must_use]
pub fn hypergeom_pmf(k: u64, total: u64, successes: u64, draws: u64) -> f64 {
    if successes > total || draws > total {
        return f64::NAN;
    }
    special::hypergeom_pmf(k, total, successes, draws)
}
