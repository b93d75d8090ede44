//! Min/max downsampling of a metric series for charts.
//!
//! The step range is cut into `max_points / 2` equal buckets and each bucket keeps its lowest
//! and its highest point. Unlike averaging or stride sampling, this never hides a spike: every
//! local extreme a chart at that resolution could show survives. Runs in one pass over points
//! streamed in step order, with memory proportional to the number of buckets.

use crate::model::MetricPoint;

/// Streams points (in ascending step order) into at most `max_points` representatives.
pub struct MinMaxDownsampler {
    first_step: i64,
    span: i128,
    buckets: Vec<Bucket>,
}

#[derive(Clone, Copy, Default)]
struct Bucket {
    low: Option<MetricPoint>,
    high: Option<MetricPoint>,
    /// Kept only when the bucket holds nothing but NaN, so a gap in the data stays visible.
    nan: Option<MetricPoint>,
}

impl MinMaxDownsampler {
    /// `first_step..=last_step` is the step range of the points that will be pushed;
    /// `max_points` must be at least 2.
    pub fn new(first_step: i64, last_step: i64, max_points: usize) -> Self {
        debug_assert!(max_points >= 2);
        debug_assert!(first_step <= last_step);
        let span = i128::from(last_step) - i128::from(first_step) + 1;
        let bucket_count = (max_points / 2)
            .max(1)
            .min(usize::try_from(span).unwrap_or(usize::MAX));
        MinMaxDownsampler {
            first_step,
            span,
            buckets: vec![Bucket::default(); bucket_count],
        }
    }

    /// Adds one point.
    pub fn push(&mut self, point: MetricPoint) {
        let offset = (i128::from(point.step) - i128::from(self.first_step)).clamp(0, self.span - 1);
        let index = (offset * self.buckets.len() as i128 / self.span) as usize;
        let bucket = &mut self.buckets[index];
        if point.value.is_nan() {
            bucket.nan.get_or_insert(point);
            return;
        }
        if bucket.low.is_none_or(|low| point.value < low.value) {
            bucket.low = Some(point);
        }
        if bucket.high.is_none_or(|high| point.value > high.value) {
            bucket.high = Some(point);
        }
    }

    /// The kept points, in series order (`MetricPoint::series_key`).
    pub fn finish(self) -> Vec<MetricPoint> {
        let mut out = Vec::with_capacity(self.buckets.len() * 2);
        for bucket in self.buckets {
            match (bucket.low, bucket.high) {
                (Some(low), Some(high)) if low.same_point(&high) => out.push(low),
                (Some(low), Some(high)) => {
                    let (a, b) = if low.series_key() <= high.series_key() {
                        (low, high)
                    } else {
                        (high, low)
                    };
                    out.push(a);
                    out.push(b);
                }
                _ => out.extend(bucket.nan),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<MetricPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| MetricPoint {
                step: i as i64,
                timestamp: 0,
                value,
            })
            .collect()
    }

    fn downsample(points: &[MetricPoint], max_points: usize) -> Vec<MetricPoint> {
        let mut sampler =
            MinMaxDownsampler::new(points[0].step, points[points.len() - 1].step, max_points);
        points.iter().for_each(|p| sampler.push(*p));
        sampler.finish()
    }

    #[test]
    fn keeps_every_spike_within_budget() {
        let mut values: Vec<f64> = (0..10_000).map(|i| (i as f64 / 100.0).sin()).collect();
        values[1234] = 50.0;
        values[8765] = -50.0;
        let out = downsample(&series(&values), 100);
        assert!(out.len() <= 100, "{}", out.len());
        assert!(out.iter().any(|p| p.step == 1234 && p.value == 50.0));
        assert!(out.iter().any(|p| p.step == 8765 && p.value == -50.0));
        assert!(
            out.windows(2).all(|w| w[0].step <= w[1].step),
            "points stay in step order"
        );
    }

    #[test]
    fn short_series_pass_through_and_nan_gaps_survive() {
        let out = downsample(&series(&[1.0, 2.0, 3.0]), 10);
        assert_eq!(
            out.iter().map(|p| p.value).collect::<Vec<_>>(),
            vec![1.0, 2.0, 3.0]
        );
        let mut values = vec![1.0; 100];
        values[50..60].iter_mut().for_each(|v| *v = f64::NAN);
        let out = downsample(&series(&values), 20);
        assert!(out.iter().any(|p| p.value.is_nan()));
    }

    #[test]
    fn keeps_a_spike_sharing_its_step_and_timestamp() {
        let mut points = series(&vec![1.0; 1000]);
        let spike = MetricPoint {
            value: 1e9,
            ..points[500]
        };
        points.insert(501, spike);
        let out = downsample(&points, 10);
        assert!(out.len() <= 10, "{}", out.len());
        assert!(out.contains(&spike), "{out:?}");
        assert!(
            out.windows(2)
                .all(|w| w[0].series_key() < w[1].series_key())
        );
    }

    #[test]
    fn infinities_count_as_extremes() {
        let mut values = vec![0.0; 1000];
        values[10] = f64::INFINITY;
        let out = downsample(&series(&values), 4);
        assert!(out.iter().any(|p| p.value == f64::INFINITY));
    }
}
