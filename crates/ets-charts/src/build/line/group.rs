//! Group lines: with `group_by`, one line per group (and metric) aggregating its runs.
//!
//! Runs rarely log at the same steps, so they are aligned on the plot's pixel columns: each
//! run contributes the mean of its points in a column, and a group's line at that column is
//! the mean (or median) of the runs that have a point there, with a band for their spread.
//! A run with no point in a column is left out there, so `n` can vary along the line.

use super::Series;
use crate::build::values::{self, runs_word};
use crate::build::{ChartInput, stats};
use crate::figure::{BandTrace, Figure, LineTrace, Scale, Trace, palette};
use crate::m4::XGrid;
use crate::spec::{Band, ChartSpec, GroupAggregate, GroupBy};

/// Opacity of a group's band.
const BAND_OPACITY: f64 = 0.2;

struct GroupLine {
    name: String,
    color: String,
    /// Per pixel column, the mean of each run's points there.
    columns: Vec<Vec<f64>>,
}

pub(super) struct Groups {
    lines: Vec<GroupLine>,
}

impl Groups {
    /// One line per group and metric that has series; assigns each series its line.
    pub fn new(
        input: &ChartInput<'_>,
        group: &GroupBy,
        series: &mut [Series],
        several_keys: bool,
    ) -> Groups {
        let (labels, of_run) = values::groups(input, group);
        let mut keys: Vec<&str> = Vec::new();
        for s in series.iter() {
            if !keys.contains(&s.key.as_str()) {
                keys.push(&s.key);
            }
        }
        let keys: Vec<String> = keys.into_iter().map(str::to_owned).collect();
        let mut lines = Vec::new();
        for (g, label) in labels.iter().enumerate() {
            for key in &keys {
                let members: Vec<usize> = (0..series.len())
                    .filter(|&i| of_run[series[i].run] == g && series[i].key == *key)
                    .collect();
                if members.is_empty() {
                    continue;
                }
                let breach = members.iter().any(|&i| !series[i].breached.is_empty());
                let mut name = if several_keys {
                    format!("{label} · {key} ({})", runs_word(members.len()))
                } else {
                    format!("{label} ({})", runs_word(members.len()))
                };
                if breach {
                    name.push_str(" ⚠");
                }
                for &i in &members {
                    series[i].group = Some(lines.len());
                }
                lines.push(GroupLine {
                    name,
                    color: palette(lines.len()),
                    columns: Vec::new(),
                });
            }
        }
        Groups { lines }
    }

    /// Number of lines (legend entries).
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Adds one run's full series to line `line`: the mean of its points per column.
    pub fn add(&mut self, line: usize, grid: &XGrid, x_scale: Scale, x: &[f64], y: &[f64]) {
        let Some(line) = self.lines.get_mut(line) else {
            return;
        };
        let columns = grid.columns() as usize;
        let mut sums = vec![(0.0, 0u32); columns];
        for (&x, &y) in x.iter().zip(y) {
            if !x.is_finite() || !y.is_finite() || (x_scale == Scale::Log && x <= 0.0) {
                continue;
            }
            let axis_x = if x_scale == Scale::Log { x.log10() } else { x };
            if let Ok(c) = usize::try_from(grid.column(axis_x))
                && c < columns
            {
                sums[c].0 += y;
                sums[c].1 += 1;
            }
        }
        if line.columns.len() != columns {
            line.columns = vec![Vec::new(); columns];
        }
        for (c, (sum, n)) in sums.into_iter().enumerate() {
            if n > 0 {
                line.columns[c].push(sum / f64::from(n));
            }
        }
    }

    /// Draws each line (and its band, behind it) and says how they were made.
    pub fn finish(
        self,
        figure: &mut Figure,
        spec: &ChartSpec,
        grid: Option<&XGrid>,
        x_scale: Scale,
    ) {
        for line in self.lines {
            let mut x = Vec::new();
            let mut center = Vec::new();
            let (mut band_x, mut low, mut high) = (Vec::new(), Vec::new(), Vec::new());
            for (c, mut runs) in line.columns.into_iter().enumerate() {
                let (Some(grid), false) = (grid, runs.is_empty()) else {
                    continue;
                };
                let axis_x = grid.column_center(c as u32);
                let cx = if x_scale == Scale::Log {
                    10f64.powf(axis_x)
                } else {
                    axis_x
                };
                if let Some((lo, hi)) = stats::band(&runs, spec.band) {
                    band_x.push(cx);
                    low.push(lo);
                    high.push(hi);
                }
                let value = match spec.group_aggregate {
                    GroupAggregate::Mean => stats::mean(&runs),
                    GroupAggregate::Median => stats::median(&mut runs),
                };
                if let Some(v) = value {
                    x.push(cx);
                    center.push(v);
                }
            }
            if !band_x.is_empty() {
                figure.traces.push(Trace::Band(BandTrace {
                    name: line.name.clone(),
                    x: band_x,
                    low,
                    high,
                    color: line.color.clone(),
                    opacity: BAND_OPACITY,
                    show_legend: false,
                    group: Some(line.name.clone()),
                }));
            }
            let mut trace = LineTrace::new(&line.name, x, center, line.color);
            trace.group = Some(line.name);
            figure.traces.push(Trace::Line(trace));
        }
        let aggregate = match spec.group_aggregate {
            GroupAggregate::Mean => "mean",
            GroupAggregate::Median => "median",
        };
        let band = match spec.band {
            Band::None => String::new(),
            Band::MinMax => "; band: min–max of the runs".into(),
            Band::Std => "; band: mean ± 1 standard deviation".into(),
            Band::Stderr => "; band: mean ± 1 standard error".into(),
            Band::Ci95 => "; band: 95 % confidence interval of the mean (Student t)".into(),
        };
        figure.notes.push(format!(
            "Group lines: {aggregate} over runs of each run's mean per pixel column{band}"
        ));
    }
}
