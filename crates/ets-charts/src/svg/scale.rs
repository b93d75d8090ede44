//! Data ranges of the axes and the mapping from data values to pixels.
//!
//! The range rule (what [`x_range`] and [`y_range`] compute) is part of the contract with the
//! chart service, which reduces line series with M4 to the plot's pixel columns before the
//! figure is drawn: the grid it reduces to must cover the same x range the renderer maps onto
//! `area.left..area.right`.

use crate::figure::{Axis, Figure, Scale, Trace};

/// Padding added to each end of an automatic range that is not a line chart's x, as a
/// fraction of the span (in axis space, i.e. log10 on log axes).
pub const PADDING: f64 = 0.05;

/// The x range `(lo, hi)` of a figure in data units (not log10), mapped onto
/// `area.left..=area.right`.
///
/// - `figure.x.range` when set (and usable: finite, distinct, positive on a log axis);
/// - on a category axis, `-0.5 .. n - 0.5` for `n` categories (or heatmap columns);
/// - else the extent of the drawn data. When the figure has a `Line` or `Band` trace the
///   extent is **exactly** the min..max x of the points that are drawn (finite x and y, and
///   positive where the axis is log) with no padding, so an M4 grid over the same extent has
///   its columns on the plot's pixel columns. For sorted x, M4 keeps the first and last
///   drawable point of every column, so the reduced series has the same extent as the full
///   one. If the series are unsorted, or the service reduces to some other range, it should
///   set `figure.x.range` to the grid's `(lo, hi)`;
/// - otherwise (markers, bars) the extent padded by [`PADDING`]; bars add half a bar slot.
pub fn x_range(figure: &Figure) -> (f64, f64) {
    let axis = &figure.x;
    if let Some(range) = fixed(axis) {
        return range;
    }
    if axis.scale == Scale::Category {
        return category_range(axis.categories.len().max(heatmap_columns(figure)));
    }
    let mut extent = Extent::new(axis.scale);
    let mut lines = false;
    let mut pad = false;
    for trace in &figure.traces {
        match trace {
            Trace::Line(t) => {
                lines = true;
                for (&x, &y) in t.x.iter().zip(&t.y) {
                    if drawable(y, figure.y.scale) {
                        extent.add(x);
                    }
                }
            }
            Trace::Band(t) => {
                lines = true;
                for ((&x, &lo), &hi) in t.x.iter().zip(&t.low).zip(&t.high) {
                    if drawable(lo, figure.y.scale) && drawable(hi, figure.y.scale) {
                        extent.add(x);
                    }
                }
            }
            Trace::Markers(t) => {
                pad = true;
                for (&x, &y) in t.x.iter().zip(&t.y) {
                    if drawable(y, figure.y.scale) {
                        extent.add(x);
                    }
                }
            }
            Trace::Bars(t) => {
                let half = bar_slot(figure, t.width) / 2.0;
                for &x in &t.x {
                    if x.is_finite() {
                        extent.add(x - half);
                        extent.add(x + half);
                    }
                }
            }
            Trace::Heatmap(h) => {
                extent.add(-0.5);
                extent.add(h.z.iter().map(Vec::len).max().unwrap_or(0) as f64 - 0.5);
            }
            Trace::Parallel(_) => {}
        }
    }
    extent.finish(if pad && !lines { PADDING } else { 0.0 })
}

/// The y range `(lo, hi)` of a figure in data units, mapped onto `area.bottom..=area.top`
/// (so a fixed range with `lo > hi` draws the axis upside down).
///
/// `figure.y.range` when set; on a category axis `-0.5 .. n - 0.5` (heatmap rows); else the
/// extent of every drawn value (lines, bands, markers, bars with their error bars and the bar
/// baseline 0, reference lines) padded by [`PADDING`] on each end, except that bars standing
/// on 0 keep 0 as the bottom. M4 keeps each pixel column's minimum and maximum, so the
/// extent of a reduced series equals the full one's.
pub fn y_range(figure: &Figure) -> (f64, f64) {
    let axis = &figure.y;
    if let Some(range) = fixed(axis) {
        return range;
    }
    if axis.scale == Scale::Category {
        let rows = figure
            .traces
            .iter()
            .map(|t| match t {
                Trace::Heatmap(h) => h.z.len(),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        return category_range(axis.categories.len().max(rows));
    }
    let mut extent = Extent::new(axis.scale);
    let mut bars_from_zero = false;
    for trace in &figure.traces {
        match trace {
            Trace::Line(t) => t.y.iter().for_each(|&y| extent.add(y)),
            Trace::Band(t) => t.low.iter().chain(&t.high).for_each(|&y| extent.add(y)),
            Trace::Markers(t) => t.y.iter().for_each(|&y| extent.add(y)),
            Trace::Bars(t) => {
                for (i, &y) in t.y.iter().enumerate() {
                    let e = t
                        .error
                        .get(i)
                        .copied()
                        .filter(|e| e.is_finite())
                        .unwrap_or(0.0);
                    extent.add(y - e.abs());
                    extent.add(y + e.abs());
                }
                if axis.scale != Scale::Log {
                    extent.add(0.0);
                    bars_from_zero = true;
                }
            }
            Trace::Heatmap(h) => {
                extent.add(-0.5);
                extent.add(h.z.len() as f64 - 0.5);
            }
            Trace::Parallel(_) => {}
        }
    }
    for line in &figure.lines {
        extent.add(line.y);
    }
    let data_lo = extent.lo;
    let (lo, hi) = extent.finish(PADDING);
    if bars_from_zero && data_lo >= 0.0 && lo < 0.0 {
        (0.0, hi)
    } else {
        (lo, hi)
    }
}

/// Whether a y value is drawn on an axis of this scale.
pub fn drawable(v: f64, scale: Scale) -> bool {
    v.is_finite() && (scale != Scale::Log || v > 0.0)
}

fn fixed(axis: &Axis) -> Option<(f64, f64)> {
    let (lo, hi) = axis.range?;
    let usable = lo.is_finite()
        && hi.is_finite()
        && lo != hi
        && (axis.scale != Scale::Log || (lo > 0.0 && hi > 0.0));
    usable.then_some((lo, hi))
}

fn category_range(n: usize) -> (f64, f64) {
    (-0.5, n.max(1) as f64 - 0.5)
}

fn heatmap_columns(figure: &Figure) -> usize {
    figure
        .traces
        .iter()
        .map(|t| match t {
            Trace::Heatmap(h) => h.z.iter().map(Vec::len).max().unwrap_or(0),
            Trace::Bars(b) => b.x.iter().fold(0.0f64, |m, &x| m.max(x + 1.0)) as usize,
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// The width, in x data units, of the slot one group of bars shares: the given bar width
/// (histogram bins), 1 on a category axis, else the smallest distance between bar positions.
pub fn bar_slot(figure: &Figure, width: Option<f64>) -> f64 {
    if let Some(w) = width.filter(|w| w.is_finite() && *w > 0.0) {
        return w;
    }
    if figure.x.scale == Scale::Category {
        return 1.0;
    }
    let mut xs: Vec<f64> = figure
        .traces
        .iter()
        .filter_map(|t| match t {
            Trace::Bars(b) => Some(b.x.iter().copied().filter(|x| x.is_finite())),
            _ => None,
        })
        .flatten()
        .collect();
    xs.sort_by(f64::total_cmp);
    let closest = xs
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    if closest.is_finite() { closest } else { 1.0 }
}

/// Min and max of drawable values, in data units.
struct Extent {
    scale: Scale,
    lo: f64,
    hi: f64,
}

impl Extent {
    fn new(scale: Scale) -> Self {
        Extent {
            scale,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }

    fn add(&mut self, v: f64) {
        if drawable(v, self.scale) {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        }
    }

    /// The range padded by `pad` of its span on each end (in axis space), widened around a
    /// single value and defaulted when empty.
    fn finish(self, pad: f64) -> (f64, f64) {
        let log = self.scale == Scale::Log;
        if self.lo > self.hi {
            return if log { (1.0, 10.0) } else { (0.0, 1.0) };
        }
        let (lo, hi) = if log {
            (self.lo.log10(), self.hi.log10())
        } else {
            (self.lo, self.hi)
        };
        let (lo, hi) = if lo == hi {
            let half = match self.scale {
                Scale::Log => 0.5,
                Scale::Time => 30_000.0,
                _ if lo == 0.0 => 0.5,
                _ => lo.abs() * 0.05,
            };
            (lo - half, hi + half)
        } else {
            let margin = (hi - lo) * pad;
            (lo - margin, hi + margin)
        };
        if log {
            (10f64.powf(lo), 10f64.powf(hi))
        } else {
            (lo, hi)
        }
    }
}

/// Maps data values of one axis onto pixels: `lo` onto `p0`, `hi` onto `p1`, linearly in
/// axis space (log10 on a log axis).
#[derive(Debug, Clone, Copy)]
pub struct AxisMap {
    pub scale: Scale,
    /// The range in axis space.
    pub a0: f64,
    pub a1: f64,
    pub p0: f64,
    k: f64,
}

impl AxisMap {
    pub fn new(scale: Scale, (lo, hi): (f64, f64), p0: f64, p1: f64) -> Self {
        let (a0, a1) = match scale {
            Scale::Log => (lo.log10(), hi.log10()),
            _ => (lo, hi),
        };
        let span = a1 - a0;
        let k = if span != 0.0 && span.is_finite() {
            (p1 - p0) / span
        } else {
            0.0
        };
        AxisMap {
            scale,
            a0,
            a1,
            p0,
            k,
        }
    }

    /// The pixel of a data value, or `None` if it cannot be drawn (non-finite, or `<= 0` on a
    /// log axis). Far-off values are clamped a long way outside the plot, where clipping hides
    /// them, to keep coordinates small for the rasteriser.
    #[inline]
    pub fn px(&self, v: f64) -> Option<f64> {
        let a = match self.scale {
            Scale::Log if v > 0.0 => v.log10(),
            Scale::Log => return None,
            _ => v,
        };
        a.is_finite()
            .then(|| (self.p0 + (a - self.a0) * self.k).clamp(-1e5, 1e5))
    }

    /// Pixels per data unit (per decade on a log axis).
    pub fn per_unit(&self) -> f64 {
        self.k
    }

    /// The data range `(lo, hi)` as `(min, max)` in axis space.
    pub fn axis_bounds(&self) -> (f64, f64) {
        (self.a0.min(self.a1), self.a0.max(self.a1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::{BarTrace, LineTrace, MarkerTrace, RefLine};

    fn figure(traces: Vec<Trace>) -> Figure {
        let mut f = Figure::new("t", Axis::linear("x"), Axis::linear("y"));
        f.traces = traces;
        f
    }

    #[test]
    fn line_x_range_is_the_exact_extent_of_drawn_points() {
        let line = LineTrace::new(
            "a",
            vec![-5.0, 2.0, 3.0, 10.0, 20.0],
            vec![f64::NAN, 1.0, 4.0, 2.0, f64::INFINITY],
            "#000000".into(),
        );
        let f = figure(vec![Trace::Line(line)]);
        assert_eq!(x_range(&f), (2.0, 10.0));
        let (lo, hi) = y_range(&f);
        assert!(
            (lo - 0.85).abs() < 1e-12 && (hi - 4.15).abs() < 1e-12,
            "{lo} {hi}"
        );
    }

    #[test]
    fn fixed_ranges_win_and_log_ranges_pad_in_decades() {
        let mut f = figure(vec![Trace::Markers(MarkerTrace {
            name: "m".into(),
            x: vec![1.0, 1000.0],
            y: vec![0.0, 5.0],
            labels: vec![],
            color: "#000000".into(),
            size: 6.0,
            ring: false,
            show_legend: true,
        })]);
        f.x.scale = Scale::Log;
        let (lo, hi) = x_range(&f);
        assert!((lo.log10() + 0.15).abs() < 1e-9 && (hi.log10() - 3.15).abs() < 1e-9);
        f.x.range = Some((2.0, 20.0));
        assert_eq!(x_range(&f), (2.0, 20.0));
        f.x.range = Some((-1.0, 20.0));
        assert_ne!(x_range(&f), (-1.0, 20.0), "unusable on a log axis");
    }

    #[test]
    fn bars_stand_on_zero_and_reference_lines_are_in_range() {
        let mut f = figure(vec![Trace::Bars(BarTrace {
            name: "b".into(),
            x: vec![0.0, 1.0, 2.0],
            y: vec![3.0, 5.0, 4.0],
            error: vec![0.5, 0.5, 1.0],
            color: "#000000".into(),
            width: None,
            show_legend: true,
        })]);
        f.lines.push(RefLine {
            y: 8.0,
            label: "limit".into(),
            color: "#ff0000".into(),
            dash: true,
        });
        let (lo, hi) = y_range(&f);
        assert_eq!(lo, 0.0);
        assert!(hi > 8.0);
        assert_eq!(x_range(&f), (-0.5, 2.5));
        f.x = Axis::category("c", vec!["a".into(), "b".into(), "c".into(), "d".into()]);
        assert_eq!(x_range(&f), (-0.5, 3.5));
    }

    #[test]
    fn empty_and_single_value_ranges_are_widened() {
        let f = figure(vec![]);
        assert_eq!(x_range(&f), (0.0, 1.0));
        let line = LineTrace::new("a", vec![5.0], vec![2.0], "#000000".into());
        let f = figure(vec![Trace::Line(line)]);
        let (lo, hi) = x_range(&f);
        assert!(lo < 5.0 && hi > 5.0);
    }

    #[test]
    fn axis_map_is_linear_in_axis_space() {
        let m = AxisMap::new(Scale::Log, (1.0, 1000.0), 100.0, 400.0);
        assert_eq!(m.px(10.0), Some(200.0));
        assert_eq!(m.px(0.0), None);
        let m = AxisMap::new(Scale::Linear, (0.0, 10.0), 300.0, 100.0);
        assert_eq!(m.px(5.0), Some(200.0));
        assert_eq!(m.px(f64::NAN), None);
        assert_eq!(m.px(1e300), Some(-1e5));
    }
}
