//! The few statistics charts draw: mean, spread, Student t quantiles, TensorBoard's smoothing.

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::spec::Band;

pub(crate) fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample standard deviation (n − 1); `None` below two values.
pub(crate) fn sample_std(values: &[f64]) -> Option<f64> {
    let n = values.len();
    let m = mean(values)?;
    (n > 1).then(|| (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64).sqrt())
}

/// Median; sorts `values` in place.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom: the half-width factor of
/// a two-sided 95 % confidence interval.
pub(crate) fn t_975(df: usize) -> Option<f64> {
    let t = StudentsT::new(0.0, 1.0, df as f64).ok()?;
    Some(t.inverse_cdf(0.975))
}

/// The low and high edge of `band` around a sample of finite values; `None` when the band is
/// undefined for it (spread of a single value) or is `Band::None`.
pub(crate) fn band(values: &[f64], kind: Band) -> Option<(f64, f64)> {
    let m = mean(values)?;
    let n = values.len() as f64;
    let half = match kind {
        Band::None => return None,
        Band::MinMax => {
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            return Some((lo, hi));
        }
        Band::Std => sample_std(values)?,
        Band::Stderr => sample_std(values)? / n.sqrt(),
        Band::Ci95 => t_975(values.len() - 1)? * sample_std(values)? / n.sqrt(),
    };
    Some((m - half, m + half))
}

/// TensorBoard's smoothing: an exponential moving average with weight `weight`, debiased so
/// the first points are not pulled towards zero (`smoothed_i = ema_i / (1 − weight^k)` with
/// `k` the finite points so far). Non-finite values pass through and do not feed the average;
/// a constant series stays as it is (TensorBoard skips it to avoid rounding noise).
pub(crate) fn smooth(values: &[f64], weight: f64) -> Vec<f64> {
    let mut finite = values.iter().filter(|v| v.is_finite());
    let first = finite.next();
    if first.is_none_or(|f| finite.all(|v| v == f)) {
        return values.to_vec();
    }
    let mut last = 0.0;
    let mut count = 0;
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                return v;
            }
            last = last * weight + (1.0 - weight) * v;
            count += 1;
            let debias = 1.0 - weight.powi(count);
            last / debias
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn t_quantiles_match_scipy() {
        // scipy.stats.t.ppf(0.975, df)
        for (df, want) in [
            (1, 12.706204736174694),
            (2, 4.302652729749462),
            (3, 3.1824463052837078),
            (9, 2.262157162798205),
            (29, 2.045229642132703),
        ] {
            let got = t_975(df).unwrap();
            assert!(close(got, want, 1e-9), "df {df}: {got} vs {want}");
        }
        assert_eq!(t_975(0), None);
    }

    #[test]
    fn ci95_of_three_values() {
        // mean 2, s = 1, t(0.975, 2) = 4.302652729749464, half = t / sqrt(3).
        // scipy.stats.t.interval(0.95, 2, loc=2, scale=1/sqrt(3))
        let (lo, hi) = band(&[1.0, 2.0, 3.0], Band::Ci95).unwrap();
        assert!(close(lo, -0.48413771175033027, 1e-9), "{lo}");
        assert!(close(hi, 4.48413771175033, 1e-9), "{hi}");
        let (lo, hi) = band(&[1.0, 2.0, 3.0], Band::Stderr).unwrap();
        assert!(close(hi - 2.0, 1.0 / 3f64.sqrt(), 1e-12) && close(lo, 2.0 - (hi - 2.0), 1e-12));
        assert_eq!(band(&[1.0, 2.0, 3.0], Band::Std), Some((1.0, 3.0)));
        assert_eq!(band(&[4.0, 1.0, 3.0], Band::MinMax), Some((1.0, 4.0)));
        assert_eq!(band(&[1.0], Band::Ci95), None, "no spread from one run");
        assert_eq!(band(&[1.0], Band::MinMax), Some((1.0, 1.0)));
    }

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn smoothing_is_tensorboards_debiased_ema() {
        // TensorBoard, weight 0.6, on [1, 2, 4]:
        // last = 0.4, 0.4·0.6 + 0.8 = 1.04, 1.04·0.6 + 1.6 = 2.224
        // debias 0.4, 0.64, 0.784 → 1, 1.625, 2.836734…
        let s = smooth(&[1.0, 2.0, f64::NAN, 4.0], 0.6);
        assert!(close(s[0], 1.0, 1e-12));
        assert!(close(s[1], 1.625, 1e-12));
        assert!(s[2].is_nan());
        assert!(close(s[3], 2.224 / 0.784, 1e-12), "{}", s[3]);
        assert_eq!(smooth(&[0.3, 0.3, 0.3], 0.9), vec![0.3, 0.3, 0.3]);
        assert_eq!(smooth(&[5.0, 7.0], 0.0), vec![5.0, 7.0]);
    }
}
