//! Confusion matrices: how a run logs one, and the chart.
//!
//! A run logs a confusion matrix in either of two ways:
//!
//! 1. **A JSON artifact**, by default `confusion_matrix.json` at the top of the run's
//!    artifacts (a chart can name another path with `artifact`):
//!
//!    ```json
//!    {"labels": ["neg", "pos"], "matrix": [[50, 2], [3, 45]]}
//!    ```
//!
//!    Rows are the actual classes and columns the predicted ones, in `labels` order, as
//!    `sklearn.metrics.confusion_matrix(y_true, y_pred, labels=labels)` returns them. Counts
//!    are non-negative numbers (fractions are accepted too). From MLflow:
//!
//!    ```python
//!    cm = sklearn.metrics.confusion_matrix(y_true, y_pred, labels=labels)
//!    mlflow.log_dict({"labels": labels, "matrix": cm.tolist()}, "confusion_matrix.json")
//!    ```
//!
//! 2. **Metrics** named `confusion_matrix/<actual>/<predicted>` whose value is the count, e.g.
//!    `confusion_matrix/pos/neg = 3`. The latest value of each is used; pairs never logged
//!    count 0. Labels must not contain `/` (the first `/` after the prefix splits them) and
//!    are ordered naturally (`2` before `10`).
//!
//! The artifact wins when a run has both. Several runs draw the **sum** of their matrices
//! (e.g. the folds of a cross-validation), aligned by label, and a note says how many runs
//! were added up.

use std::collections::BTreeMap;

use ets_domain::model::Run;

use super::ChartInput;
use super::values::{run_name, runs_word, sort_natural};
use crate::figure::{Axis, ColorScale, Figure, HeatmapTrace, Trace};
use crate::spec::CONFUSION_METRIC_PREFIX;

/// Most classes a confusion matrix may have.
pub const MAX_LABELS: usize = 200;
/// Cells print their value up to this many classes.
pub const ANNOTATE_MAX_LABELS: usize = 20;

/// Counts of predicted (columns) against actual (rows) classes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfusionMatrix {
    pub labels: Vec<String>,
    /// `counts[actual][predicted]`.
    pub counts: Vec<Vec<f64>>,
}

/// Parses and checks the artifact form; the error says what is wrong and where.
pub fn parse_artifact(bytes: &[u8]) -> Result<ConfusionMatrix, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("confusion matrix artifact is not JSON: {e}"))?;
    let object = value.as_object().ok_or(
        "confusion matrix artifact must be an object {\"labels\": [...], \"matrix\": [[...], ...]}",
    )?;
    let labels = object
        .get("labels")
        .and_then(|l| l.as_array())
        .ok_or("confusion matrix artifact needs 'labels', a list of class names")?;
    let labels: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| match l {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => Ok(l.to_string()),
            _ => Err(format!(
                "confusion matrix label {i} must be a string or a number, got {l}"
            )),
        })
        .collect::<Result<_, _>>()?;
    let n = labels.len();
    if n == 0 {
        return Err("confusion matrix 'labels' is empty".into());
    }
    if n > MAX_LABELS {
        return Err(format!(
            "confusion matrix has {n} labels; at most {MAX_LABELS} can be drawn"
        ));
    }
    for (i, l) in labels.iter().enumerate() {
        if labels[..i].contains(l) {
            return Err(format!("confusion matrix label '{l}' appears twice"));
        }
    }
    let rows = object
        .get("matrix")
        .and_then(|m| m.as_array())
        .ok_or("confusion matrix artifact needs 'matrix', a list of rows (one per actual class)")?;
    if rows.len() != n {
        return Err(format!(
            "confusion matrix has {} rows but {n} labels: it must be square, one row per label",
            rows.len()
        ));
    }
    let counts = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let row = row
                .as_array()
                .ok_or_else(|| format!("confusion matrix row {i} is not a list"))?;
            if row.len() != n {
                return Err(format!(
                    "confusion matrix row {i} has {} values but there are {n} labels: it must be square",
                    row.len()
                ));
            }
            row.iter()
                .enumerate()
                .map(|(j, v)| match v.as_f64() {
                    Some(c) if c.is_finite() && c >= 0.0 => Ok(c),
                    _ => Err(format!(
                        "confusion matrix cell [{i}][{j}] must be a non-negative number, got {v}"
                    )),
                })
                .collect()
        })
        .collect::<Result<_, String>>()?;
    Ok(ConfusionMatrix { labels, counts })
}

/// The metric form: `confusion_matrix/<actual>/<predicted>` metrics of `run`, if any.
pub fn from_metrics(run: &Run) -> Option<ConfusionMatrix> {
    let mut cells: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for m in &run.metrics {
        let Some((actual, predicted)) = m
            .key
            .strip_prefix(CONFUSION_METRIC_PREFIX)
            .and_then(|rest| rest.split_once('/'))
        else {
            continue;
        };
        if actual.is_empty()
            || predicted.is_empty()
            || m.last_value < 0.0
            || !m.last_value.is_finite()
        {
            continue;
        }
        cells.insert((actual, predicted), m.last_value);
    }
    if cells.is_empty() {
        return None;
    }
    let mut labels: Vec<String> = cells
        .keys()
        .flat_map(|(a, p)| [a.to_string(), p.to_string()])
        .collect();
    sort_natural(&mut labels);
    labels.dedup();
    let index = |l: &str| labels.iter().position(|x| x == l).unwrap_or(0);
    let mut counts = vec![vec![0.0; labels.len()]; labels.len()];
    for ((a, p), v) in &cells {
        counts[index(a)][index(p)] = *v;
    }
    Some(ConfusionMatrix { labels, counts })
}

/// The confusion-matrix chart of the runs' matrices (`(index into input.runs, matrix)`): one
/// run's matrix, or the sum of several aligned by label. With `spec.normalize`, each row is
/// shown as fractions of its actual class.
pub fn build(
    input: &ChartInput<'_>,
    run_matrices: &[(usize, ConfusionMatrix)],
) -> Result<Figure, String> {
    if run_matrices.is_empty() {
        return Err(format!(
            "no run has a confusion matrix: log '{}' ({{\"labels\": [...], \"matrix\": [[...]]}}) or metrics '{}<actual>/<predicted>'",
            input
                .spec
                .artifact
                .as_deref()
                .unwrap_or(crate::spec::CONFUSION_ARTIFACT),
            CONFUSION_METRIC_PREFIX
        ));
    }
    let mut labels: Vec<String> = run_matrices
        .iter()
        .flat_map(|(_, m)| m.labels.iter().cloned())
        .collect();
    if run_matrices.len() > 1 {
        sort_natural(&mut labels);
        labels.dedup();
    }
    if labels.len() > MAX_LABELS {
        return Err(format!(
            "the runs' confusion matrices have {} labels together; at most {MAX_LABELS} can be drawn",
            labels.len()
        ));
    }
    let n = labels.len();
    let mut counts = vec![vec![0.0; n]; n];
    for (_, m) in run_matrices {
        let at: Vec<usize> = m
            .labels
            .iter()
            .map(|l| labels.iter().position(|x| x == l).unwrap_or(0))
            .collect();
        for (i, row) in m.counts.iter().enumerate() {
            for (j, c) in row.iter().enumerate() {
                counts[at[i]][at[j]] += c;
            }
        }
    }
    let cells: Vec<Vec<Option<f64>>> = counts
        .iter()
        .map(|row| {
            let total: f64 = row.iter().sum();
            row.iter()
                .map(|&c| match (input.spec.normalize, total > 0.0) {
                    (false, _) => Some(c),
                    (true, true) => Some(c / total),
                    (true, false) => None,
                })
                .collect()
        })
        .collect();
    // The first class at the top, as confusion matrices are read: a category axis puts its
    // first category at the bottom, so rows go in reverse.
    let mut rows = labels.clone();
    rows.reverse();
    let z = cells.into_iter().rev().collect();
    let mut figure = Figure::new(
        input.title,
        Axis::category("predicted", labels),
        Axis::category("actual", rows),
    );
    figure.width = input.size.width;
    figure.height = input.size.height;
    figure.traces.push(Trace::Heatmap(HeatmapTrace {
        z,
        colorscale: ColorScale::Blues,
        annotate: n <= ANNOTATE_MAX_LABELS,
        value_title: if input.spec.normalize {
            "fraction of actual class"
        } else {
            "count"
        }
        .into(),
    }));
    if run_matrices.len() > 1 {
        figure
            .notes
            .push(format!("sum over {}", runs_word(run_matrices.len())));
    } else if let Some(run) = input.runs.get(run_matrices[0].0) {
        figure.notes.push(format!("run {}", run_name(run)));
    }
    figure.notes.extend(input.notes.iter().cloned());
    Ok(figure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::testutil::{Fixture, run, with_metric};
    use crate::spec::{ChartKind, ChartSpec};

    #[test]
    fn parses_the_artifact_form() {
        let m =
            parse_artifact(br#"{"labels": ["neg", "pos"], "matrix": [[50, 2], [3, 45]]}"#).unwrap();
        assert_eq!(m.labels, ["neg", "pos"]);
        assert_eq!(m.counts, [[50.0, 2.0], [3.0, 45.0]]);
        let m = parse_artifact(br#"{"labels": [0, 1], "matrix": [[0.5, 0.5], [0, 1]]}"#).unwrap();
        assert_eq!(m.labels, ["0", "1"]);
    }

    #[test]
    fn artifact_errors_say_what_is_wrong() {
        let cases: [(&[u8], &str); 9] = [
            (b"nope", "not JSON"),
            (b"[1]", "must be an object"),
            (br#"{"matrix": [[1]]}"#, "needs 'labels'"),
            (br#"{"labels": [], "matrix": []}"#, "'labels' is empty"),
            (
                br#"{"labels": ["a", "a"], "matrix": [[1, 2], [3, 4]]}"#,
                "'a' appears twice",
            ),
            (br#"{"labels": ["a", "b"]}"#, "needs 'matrix'"),
            (
                br#"{"labels": ["a", "b"], "matrix": [[1, 2]]}"#,
                "1 rows but 2 labels",
            ),
            (
                br#"{"labels": ["a", "b"], "matrix": [[1, 2], [3]]}"#,
                "row 1 has 1 values",
            ),
            (
                br#"{"labels": ["a", "b"], "matrix": [[1, 2], [3, -4]]}"#,
                "cell [1][1] must be a non-negative number, got -4",
            ),
        ];
        for (bytes, want) in cases {
            let err = parse_artifact(bytes).unwrap_err();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
        }
        let labels: Vec<String> = (0..=MAX_LABELS).map(|i| format!("\"c{i}\"")).collect();
        let json = format!("{{\"labels\": [{}], \"matrix\": []}}", labels.join(","));
        assert!(
            parse_artifact(json.as_bytes())
                .unwrap_err()
                .contains("at most")
        );
    }

    #[test]
    fn reads_the_metric_form() {
        let r = [
            ("pos/pos", 45.0),
            ("pos/neg", 3.0),
            ("neg/neg", 50.0),
            ("10/2", 1.0),
        ]
        .iter()
        .fold(with_metric(run("a"), "acc", 0.9), |r, (k, v)| {
            with_metric(r, &format!("confusion_matrix/{k}"), *v)
        });
        let m = from_metrics(&r).unwrap();
        assert_eq!(m.labels, ["2", "10", "neg", "pos"]);
        assert_eq!(m.counts[2], [0.0, 0.0, 50.0, 0.0]);
        assert_eq!(m.counts[3], [0.0, 0.0, 3.0, 45.0]);
        assert_eq!(m.counts[1][0], 1.0);
        assert_eq!(from_metrics(&run("b")), None);
    }

    fn matrix(labels: &[&str], counts: &[&[f64]]) -> ConfusionMatrix {
        ConfusionMatrix {
            labels: labels.iter().map(|l| l.to_string()).collect(),
            counts: counts.iter().map(|r| r.to_vec()).collect(),
        }
    }

    #[test]
    fn one_run_draws_its_counts_with_the_first_class_on_top() {
        let mut fixture = Fixture::new(ChartSpec::new(ChartKind::ConfusionMatrix), vec![run("a")]);
        let m = matrix(&["neg", "pos"], &[&[50.0, 2.0], &[3.0, 45.0]]);
        let figure = build(&fixture.input(), &[(0, m.clone())]).unwrap();
        assert_eq!(figure.x.categories, ["neg", "pos"]);
        assert_eq!(figure.y.categories, ["pos", "neg"]);
        let Trace::Heatmap(h) = &figure.traces[0] else {
            panic!()
        };
        assert_eq!(h.z, [[Some(3.0), Some(45.0)], [Some(50.0), Some(2.0)]]);
        assert_eq!((h.colorscale, h.annotate), (ColorScale::Blues, true));
        assert_eq!(figure.notes, ["run a"]);

        fixture.spec.normalize = true;
        let zero = matrix(&["neg", "pos"], &[&[0.0, 0.0], &[1.0, 3.0]]);
        let figure = build(&fixture.input(), &[(0, zero)]).unwrap();
        let Trace::Heatmap(h) = &figure.traces[0] else {
            panic!()
        };
        assert_eq!(h.z, [[Some(0.25), Some(0.75)], [None, None]]);
        assert_eq!(h.value_title, "fraction of actual class");
    }

    #[test]
    fn several_runs_are_summed_by_label() {
        let fixture = Fixture::new(
            ChartSpec::new(ChartKind::ConfusionMatrix),
            vec![run("a"), run("b")],
        );
        let a = matrix(&["neg", "pos"], &[&[5.0, 1.0], &[2.0, 7.0]]);
        let b = matrix(
            &["pos", "neg", "maybe"],
            &[&[1.0, 0.0, 2.0], &[0.0, 4.0, 0.0], &[1.0, 1.0, 1.0]],
        );
        let figure = build(&fixture.input(), &[(0, a), (1, b)]).unwrap();
        assert_eq!(figure.x.categories, ["maybe", "neg", "pos"]);
        let Trace::Heatmap(h) = &figure.traces[0] else {
            panic!()
        };
        // Top row (last in z) is actual "maybe", then "neg", then "pos".
        assert_eq!(h.z[2], [Some(1.0), Some(1.0), Some(1.0)]);
        assert_eq!(h.z[1], [Some(0.0), Some(9.0), Some(1.0)]);
        assert_eq!(h.z[0], [Some(2.0), Some(2.0), Some(8.0)]);
        assert_eq!(figure.notes, ["sum over 2 runs"]);
        assert!(
            build(&fixture.input(), &[])
                .unwrap_err()
                .contains("confusion_matrix.json")
        );
    }
}
