//! Histograms of one value per run: `metrics[0]`'s aggregate, or the field in `spec.x`
//! (a numeric param). Bins are `spec.bins` or Freedman–Diaconis (at most
//! [`MAX_AUTO_BINS`]); with `group_by`, each group is a bar trace over the same bins.

use super::{field_title, figure, missing_metric, missing_param, skipped_note};
use crate::build::ChartInput;
use crate::build::values::{self, Column, aggregate_title, field_column, metric_value};
use crate::figure::{Axis, BarTrace, Figure, Trace, palette};
use crate::spec::{Field, parse_field, parse_group};

/// Most bins the automatic rule picks.
pub const MAX_AUTO_BINS: usize = 100;

pub(super) fn build(input: &ChartInput<'_>) -> Result<Figure, String> {
    let spec = input.spec;
    let (title, column) = match spec.x.as_deref() {
        Some(x) => {
            let field = parse_field(x)?;
            let column = field_column(input, &field);
            if column.present() == 0 {
                return Err(match &field {
                    Field::Param(n) => missing_param(input.runs, n)
                        .unwrap_or_else(|| format!("no run has param '{n}'")),
                    Field::Metric(k) => missing_metric(input, k),
                    Field::Tag(name) => format!("no run has tag '{name}'"),
                });
            }
            (field_title(&field).to_owned(), column)
        }
        None => {
            let key = &spec.metrics[0];
            let values = input
                .runs
                .iter()
                .map(|r| metric_value(input, r, key))
                .collect();
            (
                aggregate_title(key, spec.aggregate),
                Column::Numeric(values),
            )
        }
    };
    let values = match column {
        Column::Numeric(values) => values,
        Column::Categorical { categories, .. } => {
            return Err(format!(
                "'{title}' is not numeric (e.g. '{}'): a histogram bins numbers; use a bar chart for categories",
                categories[0]
            ));
        }
    };
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    if present.is_empty() {
        return Err(missing_metric(input, &spec.metrics[0]));
    }
    let bins = Bins::new(&present, spec.bins.map(|b| b as usize));

    let (labels, of_run) = match &spec.group_by {
        Some(g) => values::groups(input, &parse_group(g)?),
        None => (vec![title.clone()], vec![0; input.runs.len()]),
    };
    let mut figure = figure(input, Axis::linear(&title), Axis::linear("runs"));
    for (g, label) in labels.iter().enumerate() {
        let mut counts = vec![0.0; bins.count];
        let mut any = false;
        for (r, v) in values.iter().enumerate() {
            if let (true, Some(v)) = (of_run[r] == g, v) {
                counts[bins.index(*v)] += 1.0;
                any = true;
            }
        }
        if any {
            figure.traces.push(Trace::Bars(BarTrace {
                name: label.clone(),
                x: (0..bins.count).map(|i| bins.center(i)).collect(),
                y: counts,
                error: Vec::new(),
                color: palette(figure.traces.len()),
                width: Some(bins.width),
                show_legend: true,
            }));
        }
    }
    let skipped = values.len() - present.len();
    figure
        .notes
        .extend(skipped_note(skipped, &format!("a value of {title}")));
    Ok(figure)
}

/// Equal-width bins from the smallest to the largest value; the last bin holds its right edge.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bins {
    pub lo: f64,
    pub width: f64,
    pub count: usize,
}

impl Bins {
    /// `count` bins, or Freedman–Diaconis (Sturges when the quartiles coincide).
    pub fn new(values: &[f64], count: Option<usize>) -> Bins {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if hi <= lo {
            // One distinct value: one bin of width 1 around it.
            return Bins {
                lo: lo - 0.5,
                width: 1.0,
                count: 1,
            };
        }
        let count = count.unwrap_or_else(|| auto_bins(values, hi - lo)).max(1);
        Bins {
            lo,
            width: (hi - lo) / count as f64,
            count,
        }
    }

    pub fn index(&self, v: f64) -> usize {
        let i = ((v - self.lo) / self.width).floor();
        (i.max(0.0) as usize).min(self.count - 1)
    }

    pub fn center(&self, i: usize) -> f64 {
        self.lo + (i as f64 + 0.5) * self.width
    }
}

/// Freedman–Diaconis: width `2 · IQR / n^(1/3)` (as numpy's `bins="fd"`), at most
/// [`MAX_AUTO_BINS`] bins; Sturges (`log2 n + 1`) when the IQR is zero.
fn auto_bins(values: &[f64], range: f64) -> usize {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let iqr = quantile(&sorted, 0.75) - quantile(&sorted, 0.25);
    let n = sorted.len() as f64;
    let width = 2.0 * iqr / n.cbrt();
    let bins = if width > 0.0 {
        (range / width).ceil()
    } else {
        n.log2().ceil() + 1.0
    };
    (bins as usize).clamp(1, MAX_AUTO_BINS)
}

/// Linear-interpolation quantile of sorted values (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + (next - sorted[i]) * frac,
        None => sorted[i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::summary::build;
    use crate::build::testutil::{Fixture, run, with_metric, with_param};
    use crate::spec::{ChartKind, ChartSpec};

    #[test]
    fn freedman_diaconis_matches_numpy() {
        // numpy.histogram_bin_edges(numpy.arange(1, 101), "fd") has 5 bins.
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            Bins::new(&values, None),
            Bins {
                lo: 1.0,
                width: 19.8,
                count: 5
            }
        );
        // A wide range with a narrow middle hits the cap.
        let mut spread = vec![0.0; 50];
        spread.extend(vec![1.0; 50]);
        spread.extend([1e6, -1e6]);
        assert_eq!(Bins::new(&spread, None).count, MAX_AUTO_BINS);
        assert_eq!(
            Bins::new(&[3.0, 3.0], None),
            Bins {
                lo: 2.5,
                width: 1.0,
                count: 1
            }
        );
    }

    fn spec() -> ChartSpec {
        let mut spec = ChartSpec::new(ChartKind::Histogram);
        spec.metrics = vec!["acc".into()];
        spec
    }

    #[test]
    fn counts_sum_to_the_runs_with_a_value() {
        // numpy: fd bins of these values are 3, counts [3, 4, 3].
        let accs = [0.61, 0.72, 0.70, 0.81, 0.93, 0.55, 0.64, 0.77, 0.71, 0.9];
        let mut runs: Vec<_> = accs
            .iter()
            .enumerate()
            .map(|(i, &a)| with_metric(run(&format!("r{i}")), "acc", a))
            .collect();
        runs.push(run("none"));
        let fixture = Fixture::new(spec(), runs);
        let figure = build(&fixture.input()).unwrap();
        let Trace::Bars(b) = &figure.traces[0] else {
            panic!()
        };
        assert_eq!(b.y, [3.0, 4.0, 3.0]);
        assert_eq!(b.y.iter().sum::<f64>(), accs.len() as f64);
        assert!((b.width.unwrap() - (0.93 - 0.55) / 3.0).abs() < 1e-12);
        assert_eq!(
            figure.notes,
            ["1 run without a value of acc (last) left out"]
        );
    }

    #[test]
    fn groups_share_bins_and_params_can_be_binned() {
        let runs: Vec<_> = (0..6)
            .map(|i| {
                let r = with_param(run(&format!("r{i}")), "lr", serde_json::json!(f64::from(i)));
                with_param(r, "opt", if i < 2 { "sgd" } else { "adam" }.into())
            })
            .collect();
        let mut s = spec();
        s.x = Some("params.lr".into());
        s.bins = Some(3);
        s.group_by = Some("params.opt".into());
        let fixture = Fixture::new(s, runs);
        let figure = build(&fixture.input()).unwrap();
        let bars: Vec<&BarTrace> = figure
            .traces
            .iter()
            .filter_map(|t| match t {
                Trace::Bars(b) => Some(b),
                _ => None,
            })
            .collect();
        assert_eq!(
            bars.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
            ["adam", "sgd"]
        );
        assert_eq!(bars[0].y, [0.0, 2.0, 2.0]);
        assert_eq!(bars[1].y, [2.0, 0.0, 0.0]);
        assert_eq!(bars[0].x, bars[1].x);
        assert_eq!(figure.x.title, "lr");

        let mut s = spec();
        s.x = Some("params.opt".into());
        let fixture = Fixture::new(s, fixture.runs.clone());
        assert!(build(&fixture.input()).unwrap_err().contains("not numeric"));
    }
}
