//! M4 reduction of a line series to the pixel columns it is drawn on (Jugel et al., "M4: A
//! Visualization-Oriented Time Series Data Aggregation", VLDB 2014).
//!
//! For each run of consecutive points that fall in one pixel column, keep the first, the last,
//! the lowest and the highest. Every segment of the full polyline either joins two points of
//! one column (then it lies inside the vertical span min..max of that column, which the kept
//! points draw) or crosses between columns (then it joins the last point of one run to the
//! first of the next, both kept). So the reduced line covers the same pixels as the full one,
//! at no more than four points per column. Points whose `y` cannot be drawn (non-finite, or
//! `<= 0` on a log axis) break the line and are kept once per gap, so gaps stay visible.
//!
//! Because runs are found in input order, the reduction is exact for any x order; it only
//! reduces well when x is sorted (steps, timestamps).
//!
//! [`Reduction::MinMax`] keeps only the lowest and the highest point of each column (plus the
//! ends of every drawn stretch): half the points, for pictures a browser draws from Plotly JSON
//! at its own resolution anyway. Every extreme is still there with its exact value, so no spike
//! is lost; only the short segment joining two neighbouring columns may differ from the full
//! line's (it joins their extremes instead of their last and first points).

/// Which points of a pixel column are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// First, lowest, highest and last: the line covers exactly the pixels of the full one.
    #[default]
    M4,
    /// Lowest and highest (and the first and last point of each unbroken stretch).
    MinMax,
}

use crate::figure::Scale;

/// The pixel columns of a plot's x axis: `columns` equal columns over `lo..=hi` in axis space
/// (log10 for a log axis).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct XGrid {
    lo: f64,
    hi: f64,
    columns: u32,
    /// `columns / (hi - lo)`, or 0 for an empty or invalid range (then every x is column 0).
    per_unit: f64,
    reduction: Reduction,
}

impl XGrid {
    /// A grid over the data range `lo..=hi` of an axis of the given scale.
    pub fn new(lo: f64, hi: f64, columns: u32, scale: Scale) -> Self {
        let (lo, hi) = match scale {
            Scale::Log => (
                lo.max(f64::MIN_POSITIVE).log10(),
                hi.max(f64::MIN_POSITIVE).log10(),
            ),
            Scale::Linear | Scale::Category | Scale::Time => (lo, hi),
        };
        let columns = columns.max(1);
        let span = hi - lo;
        let per_unit = if span > 0.0 && span.is_finite() {
            f64::from(columns) / span
        } else {
            0.0
        };
        XGrid {
            lo,
            hi,
            columns,
            per_unit,
            reduction: Reduction::M4,
        }
    }

    /// The same grid keeping the points `reduction` keeps.
    pub fn with_reduction(self, reduction: Reduction) -> Self {
        XGrid { reduction, ..self }
    }

    /// What the grid keeps of each column.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// Number of columns.
    pub fn columns(&self) -> u32 {
        self.columns
    }

    /// The centre of column `column`, in axis space (log10 for a log axis).
    pub fn column_center(&self, column: u32) -> f64 {
        self.lo + (f64::from(column) + 0.5) * (self.hi - self.lo) / f64::from(self.columns)
    }

    /// The column of `x` (already in axis space); points left or right of the range get the
    /// sentinel columns `-1` and `columns`, so a line leaving the plot keeps its crossing.
    /// (A multiplication by the precomputed `columns / span`, not a division: this runs once
    /// per point of every series drawn.)
    #[inline]
    pub fn column(&self, x: f64) -> i64 {
        let position = (x - self.lo) * self.per_unit;
        if position < 0.0 {
            -1
        } else if position >= f64::from(self.columns) {
            // The right edge itself belongs to the last column.
            if x <= self.hi {
                i64::from(self.columns) - 1
            } else {
                i64::from(self.columns)
            }
        } else {
            position as i64
        }
    }
}

/// The indices of the points to keep, ascending. `x` is in data space; `x_scale` and
/// `y_scale` say how the axes transform it.
pub fn reduce(x: &[f64], y: &[f64], grid: &XGrid, x_scale: Scale, y_scale: Scale) -> Vec<usize> {
    debug_assert_eq!(x.len(), y.len());
    let drawable = |i: usize| {
        y[i].is_finite()
            && x[i].is_finite()
            && (y_scale != Scale::Log || y[i] > 0.0)
            && (x_scale != Scale::Log || x[i] > 0.0)
    };
    let axis_x = |v: f64| match x_scale {
        Scale::Log => v.log10(),
        Scale::Linear | Scale::Category | Scale::Time => v,
    };
    let mut keep = Vec::with_capacity(x.len().min(grid.columns as usize * 4 + 16));
    let all = grid.reduction == Reduction::M4;
    let mut run: Option<Run> = None;
    // Whether the run in progress opens a stretch (after the start or a gap): its first
    // point is where the line starts, so MinMax keeps it too.
    let mut opens = true;
    let mut in_gap = false;
    for i in 0..x.len() {
        if !drawable(i) {
            if let Some(r) = run.take() {
                r.emit(&mut keep, all || opens, true);
            }
            opens = true;
            if !in_gap {
                keep.push(i);
                in_gap = true;
            }
            continue;
        }
        in_gap = false;
        let column = grid.column(axis_x(x[i]));
        match &mut run {
            Some(r) if r.column == column => r.add(i, y[i]),
            _ => {
                if let Some(r) = run.replace(Run::start(column, i, y[i])) {
                    r.emit(&mut keep, all || opens, all);
                    opens = false;
                }
            }
        }
    }
    if let Some(r) = run {
        r.emit(&mut keep, all || opens, true);
    }
    keep
}

/// Consecutive points in one column.
struct Run {
    column: i64,
    first: usize,
    last: usize,
    low: (usize, f64),
    high: (usize, f64),
}

impl Run {
    fn start(column: i64, i: usize, y: f64) -> Self {
        Run {
            column,
            first: i,
            last: i,
            low: (i, y),
            high: (i, y),
        }
    }

    fn add(&mut self, i: usize, y: f64) {
        self.last = i;
        if y < self.low.1 {
            self.low = (i, y);
        }
        if y > self.high.1 {
            self.high = (i, y);
        }
    }

    /// Keeps the lowest and highest point, and the first and the last when asked.
    fn emit(self, keep: &mut Vec<usize>, first: bool, last: bool) {
        let first = if first { self.first } else { self.low.0 };
        let last = if last { self.last } else { self.high.0 };
        let mut picked = [first, self.low.0, self.high.0, last];
        picked.sort_unstable();
        let mut previous = None;
        for i in picked {
            if previous != Some(i) {
                keep.push(i);
                previous = Some(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_four_points_per_column_and_every_spike() {
        let n = 100_000;
        let x: Vec<f64> = (0..n).map(f64::from).collect();
        let mut y: Vec<f64> = (0..n).map(|i| (f64::from(i) / 500.0).sin()).collect();
        y[31_337] = 40.0;
        y[77_777] = -40.0;
        let grid = XGrid::new(0.0, f64::from(n - 1), 500, Scale::Linear);
        let keep = reduce(&x, &y, &grid, Scale::Linear, Scale::Linear);
        assert!(keep.len() <= 2000, "{}", keep.len());
        assert!(keep.contains(&31_337) && keep.contains(&77_777));
        assert!(keep.contains(&0) && keep.contains(&(n as usize - 1)));
        assert!(keep.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn min_max_keeps_two_points_per_column_every_extreme_and_the_ends() {
        let n = 100_000;
        let x: Vec<f64> = (0..n).map(f64::from).collect();
        // A noisy curve: a column's first and last points are rarely its extremes.
        let mut y: Vec<f64> = (0..n)
            .map(|i| (f64::from(i) / 500.0).sin() + f64::from(i * 7919 % 13) * 0.01)
            .collect();
        y[31_337] = 40.0;
        y[77_777] = -40.0;
        y[50_000] = f64::NAN;
        let grid =
            XGrid::new(0.0, f64::from(n - 1), 500, Scale::Linear).with_reduction(Reduction::MinMax);
        let keep = reduce(&x, &y, &grid, Scale::Linear, Scale::Linear);
        // Two per column, plus the ends of the two stretches around the gap and the gap itself.
        assert!(keep.len() <= 2 * 500 + 5, "{}", keep.len());
        for i in [0, 31_337, 49_999, 50_000, 50_001, 77_777, n as usize - 1] {
            assert!(keep.contains(&i), "point {i} is kept");
        }
        assert!(keep.windows(2).all(|w| w[0] < w[1]));
        // Each column's extremes are among the kept points.
        let m4 = reduce(
            &x,
            &y,
            &grid.with_reduction(Reduction::M4),
            Scale::Linear,
            Scale::Linear,
        );
        assert!(
            m4.len() > keep.len() + 500,
            "M4 keeps first and last too: {} vs {}",
            m4.len(),
            keep.len()
        );
        for column in 0..500 {
            let in_column = |k: &&usize| y[**k].is_finite() && grid.column(x[**k]) == column;
            let extremes = |set: &[usize]| {
                let values: Vec<f64> = set.iter().filter(in_column).map(|&k| y[k]).collect();
                (
                    values.iter().copied().fold(f64::INFINITY, f64::min),
                    values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                )
            };
            assert_eq!(extremes(&keep), extremes(&m4), "column {column}");
        }
    }

    #[test]
    fn gaps_are_kept_once_and_split_columns() {
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let y = vec![1.0, 2.0, f64::NAN, f64::NAN, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let grid = XGrid::new(0.0, 9.0, 1, Scale::Linear);
        let keep = reduce(&x, &y, &grid, Scale::Linear, Scale::Linear);
        assert_eq!(keep, vec![0, 1, 2, 4, 9]);
    }

    #[test]
    fn log_axes_break_on_non_positive_values() {
        let x = vec![1.0, 10.0, 100.0, 1000.0];
        let y = vec![1.0, 0.0, 2.0, 3.0];
        let grid = XGrid::new(1.0, 1000.0, 3, Scale::Log);
        let keep = reduce(&x, &y, &grid, Scale::Log, Scale::Log);
        assert_eq!(keep, vec![0, 1, 2, 3]);
        assert_eq!(
            grid.column(3.0),
            2,
            "the right edge (log10 1000) is the last column"
        );
    }

    #[test]
    fn points_outside_the_range_keep_their_crossings() {
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let y: Vec<f64> = (0..100).map(f64::from).collect();
        let grid = XGrid::new(40.0, 59.0, 20, Scale::Linear);
        let keep = reduce(&x, &y, &grid, Scale::Linear, Scale::Linear);
        assert_eq!(keep.first(), Some(&0));
        assert!(keep.contains(&39) && keep.contains(&60));
        assert!(keep.len() <= 20 + 4);
    }
}
