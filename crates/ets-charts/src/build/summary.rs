//! Bar, scatter, heatmap, histogram and parallel-coordinates charts, drawn from the runs'
//! params and metric summaries (one value per run and metric: `spec.aggregate`).
//!
//! Runs that lack a value a chart needs are left out and counted in a note; a chart that
//! would be empty is an error that says what is missing.

use ets_domain::model::Run;

use super::ChartInput;
use super::values::{self, summary};
use crate::figure::{Axis, Figure};
use crate::spec::{Aggregate, ChartKind};

mod bar;
mod heatmap;
mod histogram;
mod parallel;
mod scatter;

pub fn build(input: &ChartInput<'_>) -> Result<Figure, String> {
    if matches!(
        input.spec.kind,
        ChartKind::Line | ChartKind::ConfusionMatrix
    ) {
        return Err(format!(
            "a {} chart is drawn by its own builder, not from summaries",
            input.spec.kind.as_str()
        ));
    }
    input.spec.validate()?;
    let mut figure = match input.spec.kind {
        ChartKind::Bar => bar::build(input)?,
        ChartKind::Scatter => scatter::build(input)?,
        ChartKind::Heatmap => heatmap::build(input)?,
        ChartKind::Histogram => histogram::build(input)?,
        ChartKind::ParallelCoordinates => parallel::build(input)?,
        ChartKind::Line | ChartKind::ConfusionMatrix => unreachable!("refused above"),
    };
    figure.width = input.size.width;
    figure.height = input.size.height;
    figure.notes.extend(input.notes.iter().cloned());
    Ok(figure)
}

/// A figure titled after the chart.
fn figure(input: &ChartInput<'_>, x: Axis, y: Axis) -> Figure {
    Figure::new(input.title, x, y)
}

/// Why no run has a value of metric `key`, as an instruction.
fn missing_metric(input: &ChartInput<'_>, key: &str) -> String {
    let logged = input.runs.iter().any(|r| summary(r, key).is_some());
    if !logged {
        return format!("no run has metric '{key}': check the key in 'metrics'");
    }
    match input.spec.aggregate {
        Aggregate::Mean => format!(
            "no mean of metric '{key}' was given for any run (the caller fills `means` for aggregate 'mean')"
        ),
        aggregate => format!(
            "no run has a finite {} of metric '{key}'",
            values::aggregate_name(aggregate)
        ),
    }
}

/// Why no run has param `name`.
fn missing_param(runs: &[Run], name: &str) -> Option<String> {
    let logged = runs.iter().any(|r| values::param(r, name).is_some());
    (!logged).then(|| format!("no run has param '{name}': check the name"))
}

/// The note for runs left out.
fn skipped_note(skipped: usize, what: &str) -> Option<String> {
    (skipped > 0).then(|| format!("{} without {what} left out", values::runs_word(skipped)))
}

/// Metric keys without repeats, in order.
fn unique_keys(keys: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for k in keys {
        if !out.contains(&k.as_str()) {
            out.push(k);
        }
    }
    out
}

/// How a field is named on an axis: the param or metric name.
fn field_title(field: &crate::spec::Field) -> &str {
    match field {
        crate::spec::Field::Param(n)
        | crate::spec::Field::Metric(n)
        | crate::spec::Field::Tag(n) => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::testutil::{Fixture, run, with_metric};
    use crate::spec::ChartSpec;

    #[test]
    fn line_and_confusion_specs_are_refused_and_size_and_notes_carried() {
        let fixture = Fixture::new(ChartSpec::new(ChartKind::Line), vec![run("a")]);
        assert!(build(&fixture.input()).unwrap_err().contains("own builder"));

        let mut spec = ChartSpec::new(ChartKind::Bar);
        spec.metrics = vec!["acc".into()];
        let mut fixture = Fixture::new(spec, vec![with_metric(run("a"), "acc", 0.5)]);
        fixture.notes = vec!["Not medical advice.".into()];
        fixture.size.width = 640;
        let figure = build(&fixture.input()).unwrap();
        assert_eq!(figure.width, 640);
        assert_eq!(
            figure.notes.last().map(String::as_str),
            Some("Not medical advice.")
        );
    }

    #[test]
    fn missing_metrics_say_what_to_fix() {
        let mut spec = ChartSpec::new(ChartKind::Bar);
        spec.metrics = vec!["acc".into()];
        let fixture = Fixture::new(spec.clone(), vec![run("a")]);
        assert_eq!(
            build(&fixture.input()).unwrap_err(),
            "no run has metric 'acc': check the key in 'metrics'"
        );
        spec.aggregate = Aggregate::Mean;
        let fixture = Fixture::new(spec.clone(), vec![with_metric(run("a"), "acc", 1.0)]);
        assert!(build(&fixture.input()).unwrap_err().contains("means"));
        spec.aggregate = Aggregate::Last;
        let fixture = Fixture::new(spec, vec![with_metric(run("a"), "acc", f64::NAN)]);
        assert_eq!(
            build(&fixture.input()).unwrap_err(),
            "no run has a finite last of metric 'acc'"
        );
    }
}
