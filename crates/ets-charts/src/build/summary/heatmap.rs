//! Heatmaps: two params (x, y) against a metric; each cell is the mean of the metric over the
//! runs with that pair of values.

use super::{figure, missing_metric, missing_param, skipped_note};
use crate::build::ChartInput;
use crate::build::values::{aggregate_title, metric_value, param, sort_natural};
use crate::figure::{Axis, ColorScale, Figure, HeatmapTrace, Trace};

/// Cells printed with their value up to this many (a 20 × 20 grid).
pub const ANNOTATE_MAX_CELLS: usize = 400;
/// More cells than this cannot be read (nor drawn quickly).
pub const MAX_CELLS: usize = 100_000;

pub(super) fn build(input: &ChartInput<'_>) -> Result<Figure, String> {
    let spec = input.spec;
    let (px, py, key) = (&spec.params[0], &spec.params[1], &spec.metrics[0]);
    let records: Vec<(String, String, f64)> = input
        .runs
        .iter()
        .filter_map(|r| {
            Some((
                param(r, px)?.text,
                param(r, py)?.text,
                metric_value(input, r, key)?,
            ))
        })
        .collect();
    if records.is_empty() {
        let why = missing_param(input.runs, px)
            .or_else(|| missing_param(input.runs, py))
            .or_else(|| {
                let any = input
                    .runs
                    .iter()
                    .any(|r| metric_value(input, r, key).is_some());
                (!any).then(|| missing_metric(input, key))
            })
            .unwrap_or_else(|| {
                format!("no run has params '{px}', '{py}' and metric '{key}' together")
            });
        return Err(why);
    }
    let categories = |pick: fn(&(String, String, f64)) -> &String| {
        let mut c: Vec<String> = records.iter().map(|r| pick(r).clone()).collect();
        sort_natural(&mut c);
        c.dedup();
        c
    };
    let xs = categories(|r| &r.0);
    let ys = categories(|r| &r.1);
    let cells = xs.len() * ys.len();
    if cells > MAX_CELLS {
        return Err(format!(
            "a heatmap of '{px}' × '{py}' would have {cells} cells (at most {MAX_CELLS}): pick params with fewer distinct values"
        ));
    }
    let mut sums = vec![vec![(0.0, 0u32); xs.len()]; ys.len()];
    for (x, y, v) in &records {
        let (Some(i), Some(j)) = (
            xs.iter().position(|c| c == x),
            ys.iter().position(|c| c == y),
        ) else {
            continue;
        };
        sums[j][i].0 += v;
        sums[j][i].1 += 1;
    }
    let several = sums.iter().flatten().any(|&(_, n)| n > 1);
    let z = sums
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|(sum, n)| (n > 0).then(|| sum / f64::from(n)))
                .collect()
        })
        .collect();
    let mut figure = figure(input, Axis::category(px, xs), Axis::category(py, ys));
    figure.traces.push(Trace::Heatmap(HeatmapTrace {
        z,
        colorscale: ColorScale::Viridis,
        annotate: cells <= ANNOTATE_MAX_CELLS,
        value_title: aggregate_title(key, spec.aggregate),
    }));
    if several {
        figure
            .notes
            .push("cells with several runs show their mean".into());
    }
    let skipped = input.runs.len() - records.len();
    figure
        .notes
        .extend(skipped_note(skipped, &format!("{px}, {py} or {key}")));
    Ok(figure)
}

#[cfg(test)]
mod tests {
    use crate::build::summary::build;
    use crate::build::testutil::{Fixture, run, with_metric, with_param};
    use crate::figure::{ColorScale, HeatmapTrace, Trace};
    use crate::spec::{ChartKind, ChartSpec};

    fn cell_run(name: &str, lr: serde_json::Value, bs: &str, acc: f64) -> ets_domain::model::Run {
        with_param(
            with_param(with_metric(run(name), "acc", acc), "lr", lr),
            "bs",
            bs.into(),
        )
    }

    fn spec() -> ChartSpec {
        let mut spec = ChartSpec::new(ChartKind::Heatmap);
        spec.params = vec!["lr".into(), "bs".into()];
        spec.metrics = vec!["acc".into()];
        spec
    }

    #[test]
    fn cells_are_means_over_runs_with_the_pair() {
        let runs = vec![
            cell_run("a", serde_json::json!(0.1), "64", 0.5),
            cell_run("b", serde_json::json!(0.1), "64", 0.7),
            cell_run("c", serde_json::json!(0.01), "64", 0.9),
            cell_run("d", serde_json::json!(0.1), "128", 0.4),
            with_metric(run("e"), "acc", 1.0),
        ];
        let fixture = Fixture::new(spec(), runs);
        let figure = build(&fixture.input()).unwrap();
        assert_eq!(figure.x.categories, ["0.01", "0.1"], "numeric order");
        assert_eq!(
            figure.y.categories,
            ["64", "128"],
            "numeric order, not text order"
        );
        let Trace::Heatmap(HeatmapTrace {
            z,
            colorscale,
            annotate,
            ..
        }) = &figure.traces[0]
        else {
            panic!("{:?}", figure.traces)
        };
        let mean = z[0][1].unwrap();
        assert!((mean - 0.6).abs() < 1e-12, "{mean}");
        assert_eq!(z[0][0], Some(0.9));
        assert_eq!(z[1], [None, Some(0.4)]);
        assert_eq!((*colorscale, *annotate), (ColorScale::Viridis, true));
        assert_eq!(
            figure.notes,
            [
                "cells with several runs show their mean",
                "1 run without lr, bs or acc left out"
            ]
        );
    }

    #[test]
    fn large_grids_are_not_annotated_and_missing_params_are_named() {
        let runs: Vec<_> = (0..21)
            .flat_map(|i| (0..20).map(move |j| (i, j)))
            .map(|(i, j)| {
                cell_run(
                    &format!("r{i}-{j}"),
                    serde_json::json!(i),
                    &j.to_string(),
                    1.0,
                )
            })
            .collect();
        let fixture = Fixture::new(spec(), runs);
        let figure = build(&fixture.input()).unwrap();
        assert!(matches!(&figure.traces[0], Trace::Heatmap(h) if !h.annotate && h.z.len() == 20));

        let fixture = Fixture::new(
            spec(),
            vec![with_param(
                with_metric(run("a"), "acc", 1.0),
                "lr",
                1.into(),
            )],
        );
        assert_eq!(
            build(&fixture.input()).unwrap_err(),
            "no run has param 'bs': check the name"
        );
    }
}
