//! Summary statistics over a sample of metric values (one value per run).

use serde::Serialize;
use utoipa::ToSchema;

/// Summary of a sample. NaN values are counted in `nan_count` and left out of every other
/// figure, the way `numpy.nanmean` and friends treat them; ±infinity takes part as usual.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    /// Number of values, NaN included.
    pub count: usize,
    /// Number of NaN values.
    pub nan_count: usize,
    #[serde(with = "crate::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1 in the denominator); absent for fewer than two values.
    #[serde(with = "crate::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub std: Option<f64>,
    #[serde(with = "crate::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub min: Option<f64>,
    #[serde(with = "crate::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub median: Option<f64>,
    #[serde(with = "crate::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub max: Option<f64>,
}

/// Summarises `values`.
pub fn summarize(values: &[f64]) -> Summary {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let nan_count = values.len() - n;
    if n == 0 {
        return Summary {
            count: values.len(),
            nan_count,
            mean: None,
            std: None,
            min: None,
            median: None,
            max: None,
        };
    }
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let std = (n > 1).then(|| {
        let squares: f64 = sorted.iter().map(|v| (v - mean) * (v - mean)).sum();
        (squares / (n - 1) as f64).sqrt()
    });
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Summary {
        count: values.len(),
        nan_count,
        mean: Some(mean),
        std,
        min: Some(sorted[0]),
        median: Some(median),
        max: Some(sorted[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_a_small_sample() {
        let s = summarize(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.count, 8);
        assert_eq!(s.mean, Some(5.0));
        assert_eq!(s.median, Some(4.5));
        assert_eq!(s.min, Some(2.0));
        assert_eq!(s.max, Some(9.0));
        let std = s.std.unwrap();
        assert!((std - 2.138_089_935).abs() < 1e-6, "{std}");
    }

    #[test]
    fn nan_is_counted_but_not_averaged() {
        let s = summarize(&[1.0, f64::NAN, 3.0]);
        assert_eq!((s.count, s.nan_count), (3, 1));
        assert_eq!(s.mean, Some(2.0));
        assert_eq!(s.median, Some(2.0));
        let only_nan = summarize(&[f64::NAN]);
        assert_eq!(only_nan.mean, None);
        assert_eq!(summarize(&[]).count, 0);
        assert_eq!(summarize(&[1.0]).std, None);
    }
}
