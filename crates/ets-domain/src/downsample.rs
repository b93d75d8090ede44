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
    /// The step offsets (`from..to`) of the bucket the last point fell in, and its index:
    /// points come in step order, so most fall in the same bucket and need no division.
    last_bucket: (i128, i128, usize),
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
            last_bucket: (0, 0, 0),
        }
    }

    /// Adds one point.
    pub fn push(&mut self, point: MetricPoint) {
        let offset = self.offset_of(point.step);
        let (from, to, index) = self.last_bucket;
        let index = if from <= offset && offset < to {
            index
        } else {
            let index = self.bucket_at(offset);
            // Bucket i holds the offsets o with i·span ≤ o·n < (i+1)·span.
            let n = self.buckets.len() as i128;
            let first_of = |i: i128| (i * self.span + n - 1) / n;
            self.last_bucket = (first_of(index as i128), first_of(index as i128 + 1), index);
            index
        };
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

    /// Whether every step of `first_step..=last_step` falls in one bucket: then a run of points
    /// in that range is represented exactly by its [`Extremes`] ([`push_extremes`]).
    ///
    /// [`push_extremes`]: MinMaxDownsampler::push_extremes
    pub fn one_bucket(&self, first_step: i64, last_step: i64) -> bool {
        self.bucket_of(first_step) == self.bucket_of(last_step)
    }

    /// Adds a run of points, in series order, that [`one_bucket`](Self::one_bucket) holds, by
    /// its extremes: the bucket ends as if every point had been pushed.
    pub fn push_extremes(&mut self, extremes: &Extremes) {
        let mut points = [extremes.low, extremes.high, extremes.nan];
        points.sort_by_key(|p| p.map(|p| p.series_key()));
        points.into_iter().flatten().for_each(|p| self.push(p));
    }

    fn bucket_of(&self, step: i64) -> usize {
        self.bucket_at(self.offset_of(step))
    }

    fn offset_of(&self, step: i64) -> i128 {
        (i128::from(step) - i128::from(self.first_step)).clamp(0, self.span - 1)
    }

    fn bucket_at(&self, offset: i128) -> usize {
        (offset * self.buckets.len() as i128 / self.span) as usize
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

/// What a bucket keeps of a run of points (in series order): its first lowest and first
/// highest non-NaN point, and its first NaN. Pushing these alone, in series order, leaves a
/// bucket as pushing every point would: a point only replaces a bucket's low (high) when
/// strictly lower (higher), so of equal values the first stays, and a NaN only counts first.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Extremes {
    pub low: Option<MetricPoint>,
    pub high: Option<MetricPoint>,
    pub nan: Option<MetricPoint>,
}

impl Extremes {
    /// The extremes of `points`, in series order.
    pub fn of(points: &[MetricPoint]) -> Extremes {
        let mut extremes = Extremes::default();
        points.iter().for_each(|p| extremes.push(*p));
        extremes
    }

    /// Adds the next point of the run (in series order after those added before).
    #[inline]
    pub fn push(&mut self, point: MetricPoint) {
        if point.value.is_nan() {
            self.nan.get_or_insert(point);
            return;
        }
        if self.low.is_none_or(|low| point.value < low.value) {
            self.low = Some(point);
        }
        if self.high.is_none_or(|high| point.value > high.value) {
            self.high = Some(point);
        }
    }

    /// The extremes of this run followed by `later` (a run after it in series order): what
    /// [`Extremes::of`] gives for the two runs' points together.
    pub fn then(&self, later: &Extremes) -> Extremes {
        let mut merged = *self;
        let mut points = [later.low, later.high, later.nan];
        points.sort_by_key(|p| p.map(|p| p.series_key()));
        points.into_iter().flatten().for_each(|p| merged.push(p));
        merged
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

    /// The extremes of two runs, one after the other, are those of their points together:
    /// ties keep the earlier point, a NaN only counts first.
    #[test]
    fn extremes_of_consecutive_runs_merge() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let values = [
            0.0,
            -0.0,
            1.0,
            2.0,
            f64::NAN,
            -1.0,
            f64::INFINITY,
            -f64::INFINITY,
        ];
        let keys = |e: Extremes| [e.low, e.high, e.nan].map(|p| p.map(|p| p.series_key()));
        for _ in 0..500 {
            let len = 1 + next(40) as usize;
            let points: Vec<MetricPoint> = (0..len)
                .map(|i| MetricPoint::new(i as i64 / 2, i as i64, values[next(8) as usize]))
                .collect();
            let cut = next(len as u64 + 1) as usize;
            let (a, b) = points.split_at(cut);
            assert_eq!(
                keys(Extremes::of(a).then(&Extremes::of(b))),
                keys(Extremes::of(&points))
            );
        }
    }

    /// Runs of points pushed by their extremes (where they fit one bucket) give exactly what
    /// pushing every point gives: ties (few distinct values), NaNs, ±0, repeated steps.
    #[test]
    fn extremes_of_runs_match_pushing_every_point() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let values = [0.0, -0.0, 1.0, 2.0, f64::NAN, -1.0, f64::INFINITY];
        let mut summarised = 0;
        for round in 0..200 {
            let len = 1 + next(3000) as usize;
            let mut step = next(5) as i64 - 2;
            let points: Vec<MetricPoint> = (0..len)
                .map(|i| {
                    step += next(3) as i64; // repeats a step now and then
                    MetricPoint::new(
                        step,
                        i as i64 / 3,
                        values[next(values.len() as u64) as usize],
                    )
                })
                .collect();
            let max_points = 2 + next(200) as usize;
            let (first, last) = (points[0].step, points[len - 1].step);
            let mut every = MinMaxDownsampler::new(first, last, max_points);
            points.iter().for_each(|p| every.push(*p));
            let mut by_runs = MinMaxDownsampler::new(first, last, max_points);
            let mut rest = &points[..];
            while !rest.is_empty() {
                let (run, after) = rest.split_at((1 + next(64) as usize).min(rest.len()));
                if by_runs.one_bucket(run[0].step, run[run.len() - 1].step) {
                    by_runs.push_extremes(&Extremes::of(run));
                    summarised += 1;
                } else {
                    run.iter().for_each(|p| by_runs.push(*p));
                }
                rest = after;
            }
            let bits = |points: Vec<MetricPoint>| -> Vec<(i64, i64, u64)> {
                points
                    .iter()
                    .map(|p| (p.step, p.timestamp, p.value.to_bits()))
                    .collect()
            };
            assert_eq!(
                bits(every.finish()),
                bits(by_runs.finish()),
                "round {round}"
            );
        }
        assert!(
            summarised > 1000,
            "{summarised} runs pushed by their extremes"
        );
    }

    /// The bucket a point falls in, remembered between points, is the one the division gives:
    /// steps in and out of order, spans that do not divide evenly, the i64 extremes.
    #[test]
    fn remembered_buckets_match_the_division() {
        for (first, last, max_points) in [
            (0, 999, 10),
            (-7, 1_000_003, 998),
            (5, 5, 2),
            (i64::MIN, i64::MAX, 1000),
            (3, 20, 1000),
        ] {
            let mut sampler = MinMaxDownsampler::new(first, last, max_points);
            let span = i128::from(last) - i128::from(first);
            let steps: Vec<i64> = (0..=400)
                .map(|i| (i128::from(first) + span * i / 400) as i64)
                .chain([last, first, last / 2, first / 2 + 1, last])
                .collect();
            for step in steps {
                let want = sampler.bucket_of(step);
                sampler.push(MetricPoint::new(step, 0, 1.0));
                assert_eq!(
                    sampler.last_bucket.2, want,
                    "step {step} of {first}..={last}"
                );
                let (from, to, _) = sampler.last_bucket;
                assert_eq!(sampler.bucket_at(from), want);
                assert_eq!(sampler.bucket_at(to - 1), want);
                if to < sampler.span {
                    assert_eq!(sampler.bucket_at(to), want + 1);
                }
            }
        }
    }
}
