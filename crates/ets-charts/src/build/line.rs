//! Line charts, streamed: the caller reads the series [`series_reads`] lists, one at a time,
//! in that order, and pushes each into a [`LinePlan`]; [`LinePlan::finish`] gives the figure.
//!
//! Each series is reduced with M4 to the plot's pixel columns as it is pushed, so memory
//! holds one full series at a time plus the reduced ones. The plan needs the x range of the
//! data up front (the M4 grid): compute it with [`extend_x_extent`] over the points (step,
//! time and relative-time axes) or [`x_extent_from_summaries`] (metric axis).
//!
//! With `group_by`, each run's series is averaged per pixel column instead, and the runs of a
//! group are aggregated per column into one line with a band (see the `group` module). Smoothing then
//! applies to each run's series before it is averaged.

use ets_domain::model::{MetricPoint, Run};

use super::values::{is_breach, run_name, summary, thousands};
use super::{ChartInput, Size, stats};
use crate::figure::{Axis, Figure, LineTrace, MarkerTrace, RefLine, Scale, Trace, palette};
use crate::layout;
use crate::m4::{self, Reduction, XGrid};
use crate::spec::{ChartSpec, Threshold, XAxis, parse_group};

mod group;

/// Colour of threshold lines and breach rings.
pub const THRESHOLD_COLOR: &str = "#d62728";
/// Opacity of the raw curve behind a smoothed one.
pub const RAW_OPACITY: f64 = 0.25;

/// One series the caller reads and pushes: metric `key` of `input.runs[run]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRead {
    pub run: usize,
    pub key: String,
}

/// What a pushed series is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The x values (metric axis) of the run's following y series.
    X,
    /// The `i`-th drawn series.
    Y(usize),
}

/// The series to read, in push order: for each run, each chart metric the run has; with
/// `x_axis = metric`, the run's `x_metric` series first (runs without it are skipped).
pub fn series_reads(spec: &ChartSpec, runs: &[Run]) -> Vec<SeriesRead> {
    plan_reads(spec, runs).into_iter().map(|(r, _)| r).collect()
}

fn plan_reads(spec: &ChartSpec, runs: &[Run]) -> Vec<(SeriesRead, Role)> {
    let mut keys: Vec<&String> = Vec::new();
    for k in &spec.metrics {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let x_metric = match spec.x_axis {
        XAxis::Metric => spec.x_metric.as_deref(),
        _ => None,
    };
    let mut reads = Vec::new();
    let mut y = 0;
    for (i, run) in runs.iter().enumerate() {
        let have: Vec<&String> = keys
            .iter()
            .copied()
            .filter(|k| summary(run, k).is_some())
            .collect();
        if have.is_empty() {
            continue;
        }
        if let Some(xk) = x_metric {
            if summary(run, xk).is_none() {
                continue;
            }
            reads.push((read(i, xk), Role::X));
        }
        for key in have {
            reads.push((read(i, key), Role::Y(y)));
            y += 1;
        }
    }
    reads
}

fn read(run: usize, key: &str) -> SeriesRead {
    SeriesRead {
        run,
        key: key.to_owned(),
    }
}

/// Milliseconds at which a run started (`started_at`, else `created_at`).
pub fn run_start_ms(run: &Run) -> i64 {
    run.started_at.unwrap_or(run.created_at).millis()
}

/// The x value of `point` of `run` on `axis`: its step, its timestamp (ms), or seconds since the
/// run started. `None` on the metric axis, whose x comes from another series.
pub fn x_of(axis: XAxis, run: &Run, point: &MetricPoint) -> Option<f64> {
    x_at(axis, run_start_ms(run), point)
}

fn x_at(axis: XAxis, start_ms: i64, point: &MetricPoint) -> Option<f64> {
    match axis {
        XAxis::Step => Some(point.step as f64),
        XAxis::Time => Some(point.timestamp as f64),
        XAxis::RelativeTime => Some((point.timestamp - start_ms) as f64 / 1000.0),
        XAxis::Metric => None,
    }
}

/// Widens `extent` by the x values of `points` (step, time and relative-time axes; a no-op on
/// the metric axis). On a log x axis only positive x count: the others are not drawn.
pub fn extend_x_extent(
    extent: &mut Option<(f64, f64)>,
    spec: &ChartSpec,
    run: &Run,
    points: &[MetricPoint],
) {
    for p in points {
        let Some(x) = x_of(spec.x_axis, run, p) else {
            return;
        };
        if spec.log_x && spec.x_axis != XAxis::Time && x <= 0.0 {
            continue;
        }
        *extent = Some(match *extent {
            Some((lo, hi)) => (lo.min(x), hi.max(x)),
            None => (x, x),
        });
    }
}

/// The x range on the metric axis: the smallest and largest value of `x_metric` over the runs
/// that have it and a chart metric. On a log axis with values `<= 0`, the range starts six
/// decades below the largest value (summaries do not hold the smallest positive value).
pub fn x_extent_from_summaries(spec: &ChartSpec, runs: &[Run]) -> Option<(f64, f64)> {
    let key = spec.x_metric.as_deref()?;
    let mut extent: Option<(f64, f64)> = None;
    for (read, role) in plan_reads(spec, runs) {
        if role != Role::X {
            continue;
        }
        let Some(s) = summary(&runs[read.run], key) else {
            continue;
        };
        for v in [s.min, s.max]
            .into_iter()
            .flatten()
            .filter(|v| v.is_finite())
        {
            extent = Some(extent.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
        }
    }
    match extent {
        Some((lo, hi)) if spec.log_x && lo <= 0.0 => (hi > 0.0).then_some((hi * 1e-6, hi)),
        other => other,
    }
}

/// A drawn series (one run, one key).
struct Series {
    run: usize,
    key: String,
    name: String,
    color: String,
    /// Thresholds (indices into `thresholds`) whose breach side the run's latest value is on.
    breached: Vec<usize>,
    /// Index of its group line, with `group_by`.
    group: Option<usize>,
    raw: Option<LineTrace>,
    smooth: Option<LineTrace>,
    /// The latest drawable point, where a breach ring goes.
    last: Option<(f64, f64)>,
}

/// A line chart being built; see the module docs.
pub struct LinePlan {
    title: String,
    spec: ChartSpec,
    x_scale: Scale,
    y_scale: Scale,
    size: Size,
    extent: Option<(f64, f64)>,
    grid: Option<XGrid>,
    run_names: Vec<String>,
    run_starts: Vec<i64>,
    reads: Vec<(SeriesRead, Role)>,
    series: Vec<Series>,
    groups: Option<group::Groups>,
    /// The run and `(step, x)` pairs of the last x series pushed (metric axis).
    current_x: Option<(usize, Vec<(i64, f64)>)>,
    /// Points of y series that had no x value at their step (metric axis).
    points_without_x: u64,
    side_panel: bool,
    notes: Vec<String>,
}

impl LinePlan {
    /// Plans the chart of `input` (whose spec is a line spec). `x_extent` is the x range of all
    /// the data in axis units (see the module docs); `None` when there are no points.
    pub fn new(input: &ChartInput<'_>, x_extent: Option<(f64, f64)>) -> LinePlan {
        let spec = input.spec;
        let reads = plan_reads(spec, input.runs);
        let mut keys: Vec<&str> = Vec::new();
        for (r, role) in &reads {
            if matches!(role, Role::Y(_)) && !keys.contains(&r.key.as_str()) {
                keys.push(&r.key);
            }
        }
        let several_keys = keys.len() > 1;
        let thresholds = &spec.thresholds;
        let mut series: Vec<Series> = reads
            .iter()
            .filter(|(_, role)| matches!(role, Role::Y(_)))
            .enumerate()
            .map(|(i, (r, _))| {
                let run = &input.runs[r.run];
                let name = if several_keys {
                    format!("{} · {}", run_name(run), r.key)
                } else {
                    run_name(run).to_owned()
                };
                let last_value = summary(run, &r.key).map_or(f64::NAN, |s| s.last_value);
                let breached = thresholds
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.breach.is_some_and(|b| is_breach(b, t.value, last_value)))
                    .map(|(j, _)| j)
                    .collect();
                Series {
                    run: r.run,
                    key: r.key.clone(),
                    name,
                    color: palette(i),
                    breached,
                    group: None,
                    raw: None,
                    smooth: None,
                    last: None,
                }
            })
            .collect();
        for s in &mut series {
            if !s.breached.is_empty() {
                s.name.push_str(" ⚠");
            }
        }

        let group_by = spec.group_by.as_deref().and_then(|g| parse_group(g).ok());
        let groups = group_by.map(|g| group::Groups::new(input, &g, &mut series, several_keys));
        let legend_entries = groups.as_ref().map_or(series.len(), group::Groups::len);
        let side_panel = legend_entries > 1;

        let x_scale = match (spec.x_axis, spec.log_x) {
            (XAxis::Time, _) => Scale::Time,
            (_, true) => Scale::Log,
            (_, false) => Scale::Linear,
        };
        let y_scale = if spec.log_y {
            Scale::Log
        } else {
            Scale::Linear
        };
        let area = layout::plot_area(
            input.size.width,
            input.size.height,
            side_panel,
            input.notes.len(),
        );
        let columns = layout::pixel_columns(&area, input.size.scale);
        let extent = x_extent.filter(|(lo, hi)| lo.is_finite() && hi.is_finite() && lo <= hi);
        LinePlan {
            title: input.title.to_owned(),
            spec: spec.clone(),
            x_scale,
            y_scale,
            size: input.size,
            extent,
            grid: extent.map(|(lo, hi)| {
                XGrid::new(lo, hi, columns, x_scale).with_reduction(input.size.reduction)
            }),
            run_names: input.runs.iter().map(|r| run_name(r).to_owned()).collect(),
            run_starts: input.runs.iter().map(run_start_ms).collect(),
            reads,
            series,
            groups,
            current_x: None,
            points_without_x: 0,
            side_panel,
            notes: input.notes.to_vec(),
        }
    }

    /// The series to push, in order (the same list as [`series_reads`]).
    pub fn reads(&self) -> impl Iterator<Item = &SeriesRead> {
        self.reads.iter().map(|(r, _)| r)
    }

    /// Whether the figure will have a legend (the plot area the M4 grid was sized for).
    pub fn side_panel(&self) -> bool {
        self.side_panel
    }

    /// Takes the full series of read `read` (an index into [`series_reads`]), points in step
    /// order. On the metric axis push a run's x series before its y series. Push each read
    /// once: a per-run line pushed again is replaced, but a group line would count it twice.
    pub fn push(&mut self, read: usize, points: &[MetricPoint]) {
        let Some((r, role)) = self.reads.get(read) else {
            return;
        };
        let run = r.run;
        let slot = match *role {
            Role::X => {
                let xs = points
                    .iter()
                    .filter(|p| p.value.is_finite())
                    .map(|p| (p.step, p.value))
                    .collect();
                self.current_x = Some((run, xs));
                return;
            }
            Role::Y(slot) => slot,
        };
        let (x, y) = self.coordinates(run, points);
        let drawable = |i: usize| {
            x[i].is_finite()
                && y[i].is_finite()
                && (self.x_scale != Scale::Log || x[i] > 0.0)
                && (self.y_scale != Scale::Log || y[i] > 0.0)
        };
        let last = (0..x.len())
            .rev()
            .find(|&i| drawable(i))
            .map(|i| (x[i], y[i]));
        let smooth = (self.spec.smoothing > 0.0).then(|| stats::smooth(&y, self.spec.smoothing));
        self.series[slot].last = last;

        if let Some(groups) = &mut self.groups {
            let Some(grid) = &self.grid else {
                return;
            };
            let g = self.series[slot].group.unwrap_or(0);
            groups.add(g, grid, self.x_scale, &x, smooth.as_deref().unwrap_or(&y));
            return;
        }

        let grid = self.grid.unwrap_or_else(|| own_grid(&x, self.x_scale));
        let s = &mut self.series[slot];
        let mut raw = reduced(&s.name, &x, &y, &grid, self.x_scale, self.y_scale, &s.color);
        if let Some(sy) = smooth {
            let group = format!("{}\u{1f}{}", s.run, read);
            let mut smooth = reduced(
                &s.name,
                &x,
                &sy,
                &grid,
                self.x_scale,
                self.y_scale,
                &s.color,
            );
            smooth.group = Some(group.clone());
            raw.group = Some(group);
            raw.opacity = RAW_OPACITY;
            raw.show_legend = false;
            s.smooth = Some(smooth);
        }
        s.raw = Some(raw);
    }

    /// The x and y values of a run's points on this chart's x axis.
    fn coordinates(&mut self, run: usize, points: &[MetricPoint]) -> (Vec<f64>, Vec<f64>) {
        let start = self.run_starts[run];
        match self.spec.x_axis {
            XAxis::Metric => {
                let xs: &[(i64, f64)] = match &self.current_x {
                    Some((r, xs)) if *r == run => xs,
                    _ => &[],
                };
                let mut x = Vec::with_capacity(points.len());
                let mut y = Vec::with_capacity(points.len());
                for p in points {
                    // The latest x value logged at the same step.
                    let after = xs.partition_point(|&(s, _)| s <= p.step);
                    match after.checked_sub(1).map(|i| xs[i]) {
                        Some((s, v)) if s == p.step => {
                            x.push(v);
                            y.push(p.value);
                        }
                        _ => self.points_without_x += 1,
                    }
                }
                (x, y)
            }
            axis => {
                let x = points
                    .iter()
                    .map(|p| x_at(axis, start, p).unwrap_or(f64::NAN))
                    .collect();
                (x, points.iter().map(|p| p.value).collect())
            }
        }
    }

    /// The finished figure.
    pub fn finish(self) -> Figure {
        let spec = &self.spec;
        let x_title = match spec.x_axis {
            XAxis::Step => "step".to_owned(),
            XAxis::Time => "time (UTC)".to_owned(),
            XAxis::RelativeTime => "relative time (s)".to_owned(),
            XAxis::Metric => spec.x_metric.clone().unwrap_or_default(),
        };
        let mut keys: Vec<&str> = spec.metrics.iter().map(String::as_str).collect();
        keys.dedup();
        let y_title = if keys.len() == 1 { keys[0] } else { "value" };
        let axis = |title: &str, scale: Scale| Axis {
            scale,
            ..Axis::linear(title)
        };
        let mut figure = Figure::new(
            &self.title,
            axis(&x_title, self.x_scale),
            axis(y_title, self.y_scale),
        );
        figure.width = self.size.width;
        figure.height = self.size.height;
        // The renderers draw exactly the range M4 reduced to; a log axis fits its data.
        if self.x_scale != Scale::Log {
            figure.x.range = self.extent.filter(|(lo, hi)| lo < hi);
        }

        if let Some(groups) = self.groups {
            groups.finish(&mut figure, spec, self.grid.as_ref(), self.x_scale);
        } else {
            let (mut total, mut drawn) = (0u64, 0u64);
            let width = line_width(self.series.len());
            for s in &self.series {
                let mut raw = s.raw.clone().unwrap_or_else(|| {
                    LineTrace::new(&s.name, Vec::new(), Vec::new(), s.color.clone())
                });
                raw.width = width;
                total += raw.total_points;
                drawn += raw.x.len() as u64;
                let lone_point = lone_point(&raw);
                figure.traces.push(Trace::Line(raw));
                if let Some(marker) = lone_point {
                    figure.traces.push(Trace::Markers(marker));
                }
                if let Some(smooth) = &s.smooth {
                    let mut smooth = smooth.clone();
                    smooth.width = width;
                    figure.traces.push(Trace::Line(smooth));
                }
            }
            if drawn < total {
                let kept = match self.grid.map(|g| g.reduction()) {
                    Some(Reduction::MinMax) => "the lowest and highest point of each pixel column",
                    _ => "M4: first, last, lowest and highest point of each pixel column",
                };
                figure.notes.push(format!(
                    "{} of {} points drawn ({kept})",
                    thousands(drawn),
                    thousands(total)
                ));
            }
        }
        if self.points_without_x > 0 {
            figure.notes.push(format!(
                "{} point(s) without a {} value at their step left out",
                thousands(self.points_without_x),
                spec.x_metric.as_deref().unwrap_or("x")
            ));
        }
        threshold_marks(&mut figure, &spec.thresholds, &self.series, &self.run_names);
        figure.notes.extend(self.notes);
        debug_assert_eq!(
            figure.has_legend(),
            self.side_panel,
            "M4 grid sized for another plot"
        );
        figure
    }
}

/// A grid over the series' own x range, when the caller gave none.
fn own_grid(x: &[f64], scale: Scale) -> XGrid {
    let ok = |v: &&f64| v.is_finite() && (scale != Scale::Log || **v > 0.0);
    let lo = x.iter().filter(ok).copied().fold(f64::INFINITY, f64::min);
    let hi = x
        .iter()
        .filter(ok)
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let area = layout::plot_area(
        crate::figure::DEFAULT_WIDTH,
        crate::figure::DEFAULT_HEIGHT,
        true,
        0,
    );
    XGrid::new(lo, hi, layout::pixel_columns(&area, 1.0), scale)
}

/// The reduction of a series to the grid's columns as a line trace that remembers how many points it had.
fn reduced(
    name: &str,
    x: &[f64],
    y: &[f64],
    grid: &XGrid,
    x_scale: Scale,
    y_scale: Scale,
    color: &str,
) -> LineTrace {
    let keep = m4::reduce(x, y, grid, x_scale, y_scale);
    let mut trace = LineTrace::new(
        name,
        keep.iter().map(|&i| x[i]).collect(),
        keep.iter().map(|&i| y[i]).collect(),
        color.to_owned(),
    );
    trace.total_points = x.len() as u64;
    trace
}

/// Above this many runs' lines on one chart, they are drawn 1 px wide instead of 1.5.
pub const THIN_LINES_ABOVE: usize = 20;

/// The width of each run's line: thinner when many overlap, so the chart stays readable
/// (W&B and TensorBoard draw thin lines for the same reason). At one device pixel per CSS
/// pixel a 1 px line also takes the rasteriser's hairline path: a PNG of 100 long runs draws
/// in about half the time (docs/benchmarks.md, issue 12).
fn line_width(lines: usize) -> f64 {
    if lines > THIN_LINES_ABOVE { 1.0 } else { 1.5 }
}

/// A dot for a line with a single drawable point, which a line alone would not show.
fn lone_point(t: &LineTrace) -> Option<MarkerTrace> {
    let mut drawable =
        t.x.iter()
            .zip(&t.y)
            .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (&x, &y) = drawable.next()?;
    if drawable.next().is_some() {
        return None;
    }
    Some(MarkerTrace {
        name: t.name.clone(),
        x: vec![x],
        y: vec![y],
        labels: Vec::new(),
        color: t.color.clone(),
        size: 2.0 * t.width + 4.0,
        ring: false,
        show_legend: false,
    })
}

/// A threshold's label, or `threshold <value>` when it has none.
pub(crate) fn threshold_label(t: &Threshold) -> String {
    if t.label.trim().is_empty() {
        format!("threshold {}", t.value)
    } else {
        t.label.clone()
    }
}

/// Reference lines, breach rings at the latest point of each breaching series, and a note per
/// breached threshold.
fn threshold_marks(
    figure: &mut Figure,
    thresholds: &[Threshold],
    series: &[Series],
    run_names: &[String],
) {
    for (j, t) in thresholds.iter().enumerate() {
        let label = threshold_label(t);
        figure.lines.push(RefLine {
            y: t.value,
            label: label.clone(),
            color: THRESHOLD_COLOR.to_owned(),
            dash: true,
        });
        let breaching: Vec<&Series> = series.iter().filter(|s| s.breached.contains(&j)).collect();
        if breaching.is_empty() {
            continue;
        }
        let mut runs: Vec<usize> = breaching.iter().map(|s| s.run).collect();
        runs.dedup();
        let rings: Vec<(f64, f64, &str)> = breaching
            .iter()
            .filter_map(|s| s.last.map(|(x, y)| (x, y, run_names[s.run].as_str())))
            .collect();
        if !rings.is_empty() {
            figure.traces.push(Trace::Markers(MarkerTrace {
                name: label.clone(),
                x: rings.iter().map(|r| r.0).collect(),
                y: rings.iter().map(|r| r.1).collect(),
                labels: rings.iter().map(|r| r.2.to_owned()).collect(),
                color: THRESHOLD_COLOR.to_owned(),
                size: 12.0,
                ring: true,
                show_legend: false,
            }));
        }
        figure
            .notes
            .push(format!("{} run(s) breach {label}", runs.len()));
    }
}

#[cfg(test)]
mod tests;
