//! Parallel coordinates: params then metrics as axes, one polyline per run, coloured by the
//! last metric (or the last axis when there is no metric).

use super::{figure, skipped_note, unique_keys};
use crate::build::ChartInput;
use crate::build::values::{Column, aggregate_title, categorical, metric_value, param_column};
use crate::figure::{Axis, ColorScale, Dimension, Figure, ParallelTrace, Trace};

pub(super) fn build(input: &ChartInput<'_>) -> Result<Figure, String> {
    let spec = input.spec;
    let n = input.runs.len();
    let mut axes: Vec<(String, Column)> = spec
        .params
        .iter()
        .map(|p| (p.clone(), param_column(input.runs, p)))
        .collect();
    for key in unique_keys(&spec.metrics) {
        let values = input
            .runs
            .iter()
            .map(|r| metric_value(input, r, key))
            .collect();
        axes.push((
            aggregate_title(key, spec.aggregate),
            Column::Numeric(values),
        ));
    }
    let kept: Vec<usize> = (0..n)
        .filter(|&r| axes.iter().all(|(_, c)| c.coordinate(r).is_some()))
        .collect();
    if kept.is_empty() {
        let (label, column) = axes
            .iter()
            .min_by_key(|(_, c)| c.present())
            .expect("validated: at least two axes");
        return Err(format!(
            "no run has a value on every axis: '{label}' has values in {} of {n} runs",
            column.present()
        ));
    }
    let dimensions: Vec<Dimension> = axes
        .into_iter()
        .map(|(label, column)| match column {
            Column::Numeric(values) => Dimension {
                label,
                values: kept
                    .iter()
                    .map(|&r| values[r].unwrap_or(f64::NAN))
                    .collect(),
                categories: Vec::new(),
            },
            Column::Categorical { categories, index } => {
                // Only the categories the drawn runs use.
                let texts = kept
                    .iter()
                    .map(|&r| index[r].map(|i| categories[i].clone()))
                    .collect();
                let Column::Categorical { categories, index } = categorical(texts) else {
                    unreachable!("categorical() gives categories");
                };
                Dimension {
                    label,
                    values: index
                        .iter()
                        .map(|i| i.map_or(f64::NAN, |i| i as f64))
                        .collect(),
                    categories,
                }
            }
        })
        .collect();
    let colour_by = dimensions.last().expect("validated: at least two axes");
    let trace = ParallelTrace {
        color_values: colour_by.values.clone(),
        color_title: colour_by.label.clone(),
        dimensions,
        colorscale: ColorScale::Viridis,
    };
    let mut figure = figure(input, Axis::linear(""), Axis::linear(""));
    figure.traces.push(Trace::Parallel(trace));
    figure
        .notes
        .extend(skipped_note(n - kept.len(), "a value on every axis"));
    Ok(figure)
}

#[cfg(test)]
mod tests {
    use crate::build::summary::build;
    use crate::build::testutil::{Fixture, run, with_metric, with_param};
    use crate::figure::Trace;
    use crate::spec::{ChartKind, ChartSpec};

    #[test]
    fn params_then_metrics_coloured_by_the_last_metric() {
        let runs = vec![
            with_param(
                with_param(
                    with_metric(with_metric(run("a"), "acc", 0.9), "loss", 0.2),
                    "lr",
                    "0.1".into(),
                ),
                "opt",
                "sgd".into(),
            ),
            with_param(
                with_param(
                    with_metric(with_metric(run("b"), "acc", 0.8), "loss", 0.4),
                    "lr",
                    "0.01".into(),
                ),
                "opt",
                "adam".into(),
            ),
            with_param(
                with_param(with_metric(run("c"), "acc", 0.7), "lr", "0.5".into()),
                "opt",
                "rmsprop".into(),
            ),
        ];
        let mut spec = ChartSpec::new(ChartKind::ParallelCoordinates);
        spec.params = vec!["lr".into(), "opt".into()];
        spec.metrics = vec!["acc".into(), "loss".into()];
        let fixture = Fixture::new(spec.clone(), runs.clone());
        let figure = build(&fixture.input()).unwrap();
        let Trace::Parallel(p) = &figure.traces[0] else {
            panic!()
        };
        let labels: Vec<&str> = p.dimensions.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(labels, ["lr", "opt", "acc (last)", "loss (last)"]);
        assert_eq!(p.dimensions[0].values, [0.1, 0.01]);
        assert_eq!(
            p.dimensions[1].categories,
            ["adam", "sgd"],
            "rmsprop's run is not drawn"
        );
        assert_eq!(p.dimensions[1].values, [1.0, 0.0]);
        assert_eq!(
            (p.color_values.clone(), p.color_title.as_str()),
            (vec![0.2, 0.4], "loss (last)")
        );
        assert_eq!(
            figure.notes,
            ["1 run without a value on every axis left out"]
        );

        spec.params = vec!["momentum".into()];
        let fixture = Fixture::new(spec, runs);
        assert_eq!(
            build(&fixture.input()).unwrap_err(),
            "no run has a value on every axis: 'momentum' has values in 0 of 3 runs"
        );
    }
}
