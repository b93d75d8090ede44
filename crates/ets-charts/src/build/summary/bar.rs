//! Bar charts: a bar per run (or per group: the mean of its runs, ± one standard deviation)
//! for each metric; several metrics are side-by-side bar traces.

use super::{figure, missing_metric, unique_keys};
use crate::build::line::{THRESHOLD_COLOR, threshold_label};
use crate::build::values::{self, aggregate_title, metric_value, run_name};
use crate::build::{ChartInput, stats};
use crate::figure::{Axis, BarTrace, Figure, RefLine, Trace, palette};
use crate::spec::parse_group;

pub(super) fn build(input: &ChartInput<'_>) -> Result<Figure, String> {
    let spec = input.spec;
    let keys = unique_keys(&spec.metrics);
    // values[k][r]: metric k of run r.
    let values: Vec<Vec<Option<f64>>> = keys
        .iter()
        .map(|k| {
            input
                .runs
                .iter()
                .map(|r| metric_value(input, r, k))
                .collect()
        })
        .collect();
    let mut notes = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        if values[k].iter().all(Option::is_none) {
            if values.iter().all(|v| v.iter().all(Option::is_none)) {
                return Err(missing_metric(input, key));
            }
            notes.push(format!("no run has metric '{key}'"));
        }
    }
    let has_any = |r: usize| values.iter().any(|v| v[r].is_some());

    let (x_title, categories, traces) = match &spec.group_by {
        Some(group) => {
            let (labels, of_run) = values::groups(input, &parse_group(group)?);
            // Groups with at least one value, in order; `slot[g]` is the category of group g.
            let mut slot = vec![None; labels.len()];
            let mut categories = Vec::new();
            for (g, label) in labels.iter().enumerate() {
                if (0..input.runs.len()).any(|r| of_run[r] == g && has_any(r)) {
                    slot[g] = Some(categories.len());
                    categories.push(label.clone());
                }
            }
            let traces: Vec<BarTrace> = keys
                .iter()
                .enumerate()
                .map(|(k, key)| {
                    let mut trace = bar_trace(key, k);
                    for (g, c) in slot.iter().enumerate() {
                        let Some(c) = c else { continue };
                        let runs: Vec<f64> = (0..input.runs.len())
                            .filter(|&r| of_run[r] == g)
                            .filter_map(|r| values[k][r])
                            .collect();
                        if let Some(mean) = stats::mean(&runs) {
                            trace.x.push(*c as f64);
                            trace.y.push(mean);
                            trace.error.push(stats::sample_std(&runs).unwrap_or(0.0));
                        }
                    }
                    trace
                })
                .collect();
            notes.push(
                "bars: mean of the runs in each group; error bars: ± 1 standard deviation".into(),
            );
            (group.clone(), categories, traces)
        }
        None => {
            let shown: Vec<usize> = (0..input.runs.len()).filter(|&r| has_any(r)).collect();
            let categories = shown
                .iter()
                .map(|&r| run_name(&input.runs[r]).to_owned())
                .collect();
            let traces = keys
                .iter()
                .enumerate()
                .map(|(k, key)| {
                    let mut trace = bar_trace(key, k);
                    for (c, &r) in shown.iter().enumerate() {
                        if let Some(v) = values[k][r] {
                            trace.x.push(c as f64);
                            trace.y.push(v);
                        }
                    }
                    trace
                })
                .collect();
            ("run".to_owned(), categories, traces)
        }
    };
    let y_title = if keys.len() == 1 {
        aggregate_title(keys[0], spec.aggregate)
    } else {
        format!("value ({})", values::aggregate_name(spec.aggregate))
    };
    let y = if spec.log_y {
        Axis::log(y_title)
    } else {
        Axis::linear(y_title)
    };
    let mut figure = figure(input, Axis::category(x_title, categories), y);
    figure.traces = traces.into_iter().map(Trace::Bars).collect();
    figure.lines = spec
        .thresholds
        .iter()
        .map(|t| RefLine {
            y: t.value,
            label: threshold_label(t),
            color: THRESHOLD_COLOR.to_owned(),
            dash: true,
        })
        .collect();
    figure.notes = notes;
    Ok(figure)
}

fn bar_trace(key: &str, k: usize) -> BarTrace {
    BarTrace {
        name: key.to_owned(),
        x: Vec::new(),
        y: Vec::new(),
        error: Vec::new(),
        color: palette(k),
        width: None,
        show_legend: true,
    }
}

#[cfg(test)]
mod tests {
    use crate::build::summary::build;
    use crate::build::testutil::{Fixture, run, with_metric, with_param};
    use crate::figure::{BarTrace, Scale, Trace};
    use crate::spec::{ChartKind, ChartSpec};

    fn bars(figure: &crate::Figure) -> Vec<&BarTrace> {
        figure
            .traces
            .iter()
            .filter_map(|t| match t {
                Trace::Bars(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    fn spec(metrics: &[&str]) -> ChartSpec {
        let mut spec = ChartSpec::new(ChartKind::Bar);
        spec.metrics = metrics.iter().map(|m| m.to_string()).collect();
        spec
    }

    #[test]
    fn a_bar_per_run_and_metric() {
        let runs = vec![
            with_metric(with_metric(run("a"), "acc", 0.9), "f1", 0.8),
            with_metric(run("b"), "acc", 0.7),
            run("c"),
        ];
        let fixture = Fixture::new(spec(&["acc", "f1"]), runs);
        let figure = build(&fixture.input()).unwrap();
        assert_eq!(figure.x.scale, Scale::Category);
        assert_eq!(figure.x.categories, ["a", "b"], "run c has neither metric");
        let b = bars(&figure);
        assert_eq!(
            (b[0].name.as_str(), b[0].x.clone(), b[0].y.clone()),
            ("acc", vec![0.0, 1.0], vec![0.9, 0.7])
        );
        assert_eq!((b[1].x.clone(), b[1].y.clone()), (vec![0.0], vec![0.8]));
        assert_eq!(figure.y.title, "value (last)");
        assert!(figure.has_legend());
    }

    #[test]
    fn grouped_bars_are_means_with_a_standard_deviation() {
        let runs = vec![
            with_param(with_metric(run("a"), "acc", 0.6), "opt", "sgd".into()),
            with_param(with_metric(run("b"), "acc", 0.8), "opt", "adam".into()),
            with_param(with_metric(run("c"), "acc", 1.0), "opt", "adam".into()),
            with_metric(run("d"), "acc", 0.1),
        ];
        let mut spec = spec(&["acc"]);
        spec.group_by = Some("params.opt".into());
        let fixture = Fixture::new(spec, runs);
        let figure = build(&fixture.input()).unwrap();
        assert_eq!(figure.x.categories, ["adam", "sgd", "(none)"]);
        let b = bars(&figure)[0];
        assert_eq!(b.x, [0.0, 1.0, 2.0]);
        assert!((b.y[0] - 0.9).abs() < 1e-12);
        assert!(
            (b.error[0] - 0.02f64.sqrt()).abs() < 1e-12,
            "{}",
            b.error[0]
        );
        assert_eq!((b.y[1], b.error[1]), (0.6, 0.0));
        assert_eq!(figure.y.title, "acc (last)");
        assert_eq!(figure.x.title, "params.opt");
    }
}
