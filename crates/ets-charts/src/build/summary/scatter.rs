//! Scatter charts: a param or metric (x) against each metric (y), one marker per run, one
//! trace per metric (and per group with `group_by`).

use super::{field_title, figure, missing_metric, missing_param, skipped_note, unique_keys};
use crate::build::ChartInput;
use crate::build::values::{self, Column, aggregate_title, field_column, metric_value, run_name};
use crate::figure::{Axis, Figure, MarkerTrace, Trace, palette};
use crate::spec::{Field, parse_field, parse_group};

pub(super) fn build(input: &ChartInput<'_>) -> Result<Figure, String> {
    let spec = input.spec;
    let field = parse_field(spec.x.as_deref().unwrap_or_default())?;
    let x = field_column(input, &field);
    if x.present() == 0 {
        return Err(match &field {
            Field::Param(name) => missing_param(input.runs, name)
                .unwrap_or_else(|| format!("no run has param '{name}'")),
            Field::Metric(key) => missing_metric(input, key),
            Field::Tag(name) => format!("no run has tag '{name}'"),
        });
    }
    let keys = unique_keys(&spec.metrics);
    let (labels, of_run) = match &spec.group_by {
        Some(g) => values::groups(input, &parse_group(g)?),
        None => (vec![String::new()], vec![0; input.runs.len()]),
    };
    let mut traces = Vec::new();
    let mut complete = vec![true; input.runs.len()];
    for key in &keys {
        let y: Vec<Option<f64>> = input
            .runs
            .iter()
            .map(|r| metric_value(input, r, key))
            .collect();
        if y.iter().all(Option::is_none) && keys.len() == 1 {
            return Err(missing_metric(input, key));
        }
        for (g, label) in labels.iter().enumerate() {
            let name = match (label.is_empty(), keys.len() > 1) {
                (true, _) => key.to_string(),
                (false, false) => label.clone(),
                (false, true) => format!("{label} · {key}"),
            };
            let mut trace = MarkerTrace {
                name,
                x: Vec::new(),
                y: Vec::new(),
                labels: Vec::new(),
                color: palette(traces.len()),
                size: 8.0,
                ring: false,
                show_legend: true,
            };
            for (r, run) in input.runs.iter().enumerate() {
                if of_run[r] != g {
                    continue;
                }
                match (x.coordinate(r), y[r]) {
                    (Some(xv), Some(yv)) => {
                        trace.x.push(xv);
                        trace.y.push(yv);
                        trace.labels.push(run_name(run).to_owned());
                    }
                    _ => complete[r] = false,
                }
            }
            if !trace.x.is_empty() {
                traces.push(Trace::Markers(trace));
            }
        }
    }
    if traces.is_empty() {
        return Err(format!(
            "no run has both {} and any of the metrics {keys:?}",
            spec.x.as_deref().unwrap_or_default()
        ));
    }
    let x_title = field_title(&field).to_owned();
    let x_axis = match (&x, spec.log_x) {
        (Column::Categorical { categories, .. }, _) => Axis::category(x_title, categories.clone()),
        (Column::Numeric(_), true) => Axis::log(x_title),
        (Column::Numeric(_), false) => Axis::linear(x_title),
    };
    let y_title = if keys.len() == 1 {
        aggregate_title(keys[0], spec.aggregate)
    } else {
        format!("value ({})", values::aggregate_name(spec.aggregate))
    };
    let y_axis = if spec.log_y {
        Axis::log(y_title)
    } else {
        Axis::linear(y_title)
    };
    let mut figure = figure(input, x_axis, y_axis);
    figure.traces = traces;
    let skipped = complete.iter().filter(|c| !**c).count();
    figure.notes.extend(skipped_note(
        skipped,
        &format!(
            "{} or a metric value",
            spec.x.as_deref().unwrap_or_default()
        ),
    ));
    Ok(figure)
}

#[cfg(test)]
mod tests {
    use crate::build::summary::build;
    use crate::build::testutil::{Fixture, run, with_metric, with_param};
    use crate::figure::{MarkerTrace, Scale, Trace};
    use crate::spec::{ChartKind, ChartSpec};

    fn markers(figure: &crate::Figure) -> Vec<&MarkerTrace> {
        figure
            .traces
            .iter()
            .filter_map(|t| match t {
                Trace::Markers(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn spec(x: &str, metrics: &[&str]) -> ChartSpec {
        let mut spec = ChartSpec::new(ChartKind::Scatter);
        spec.x = Some(x.into());
        spec.metrics = metrics.iter().map(|m| m.to_string()).collect();
        spec
    }

    #[test]
    fn numeric_params_on_x_and_missing_runs_counted() {
        let runs = vec![
            with_param(with_metric(run("a"), "acc", 0.9), "lr", "0.01".into()),
            with_param(
                with_metric(run("b"), "acc", 0.7),
                "lr",
                serde_json::json!(0.1),
            ),
            with_metric(run("c"), "acc", 0.5),
        ];
        let mut s = spec("params.lr", &["acc"]);
        s.log_x = true;
        let fixture = Fixture::new(s, runs);
        let figure = build(&fixture.input()).unwrap();
        let m = markers(&figure);
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].x.clone(), m[0].y.clone()),
            (vec![0.01, 0.1], vec![0.9, 0.7])
        );
        assert_eq!(m[0].labels, ["a", "b"]);
        assert_eq!(
            (figure.x.scale, figure.x.title.as_str()),
            (Scale::Log, "lr")
        );
        assert_eq!(
            figure.notes,
            ["1 run without params.lr or a metric value left out"]
        );
    }

    #[test]
    fn numeric_tags_on_x_such_as_a_trial_number() {
        let tagged = |name: &str, number: &str, value: f64| {
            let mut r = with_metric(run(name), "value", value);
            r.tags.insert("ets.trial_number".into(), number.into());
            r
        };
        let runs = vec![tagged("a", "1", 0.5), tagged("b", "0", 0.9), run("c")];
        let fixture = Fixture::new(spec("tags.ets.trial_number", &["value"]), runs);
        let figure = build(&fixture.input()).unwrap();
        let m = markers(&figure);
        assert_eq!(
            (m[0].x.clone(), m[0].y.clone()),
            (vec![1.0, 0.0], vec![0.5, 0.9])
        );
        assert_eq!(figure.x.title, "ets.trial_number");
        let missing = Fixture::new(spec("tags.nope", &["value"]), vec![run("a")]);
        assert_eq!(
            build(&missing.input()).unwrap_err(),
            "no run has tag 'nope'"
        );
    }

    #[test]
    fn categorical_params_and_groups_make_category_axes_and_traces() {
        let runs = vec![
            with_param(
                with_param(with_metric(run("a"), "acc", 0.9), "opt", "sgd".into()),
                "bs",
                "32".into(),
            ),
            with_param(
                with_param(with_metric(run("b"), "acc", 0.7), "opt", "adam".into()),
                "bs",
                "64".into(),
            ),
            with_param(
                with_param(with_metric(run("c"), "acc", 0.8), "opt", "adam".into()),
                "bs",
                "32".into(),
            ),
        ];
        let mut s = spec("params.opt", &["acc"]);
        s.group_by = Some("params.bs".into());
        let fixture = Fixture::new(s, runs);
        let figure = build(&fixture.input()).unwrap();
        assert_eq!(figure.x.categories, ["adam", "sgd"]);
        let m = markers(&figure);
        assert_eq!(
            m.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["32", "64"]
        );
        assert_eq!(
            (m[0].x.clone(), m[0].labels.clone()),
            (vec![1.0, 0.0], vec!["a".to_owned(), "c".into()])
        );
        assert!(figure.notes.is_empty());
    }

    #[test]
    fn metric_on_x_and_errors() {
        let runs = vec![with_metric(with_metric(run("a"), "acc", 0.9), "loss", 0.3)];
        let fixture = Fixture::new(spec("metrics.loss", &["acc"]), runs.clone());
        let figure = build(&fixture.input()).unwrap();
        assert_eq!(markers(&figure)[0].x, [0.3]);
        let fixture = Fixture::new(spec("params.lr", &["acc"]), runs.clone());
        assert_eq!(
            build(&fixture.input()).unwrap_err(),
            "no run has param 'lr': check the name"
        );
        let fixture = Fixture::new(spec("metrics.loss", &["f1"]), runs);
        assert!(build(&fixture.input()).unwrap_err().contains("metric 'f1'"));
    }
}
