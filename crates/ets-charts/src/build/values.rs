//! Reading runs for charts: a param as a number or a category, the value of a metric that
//! stands for a run, the group a run belongs to, and the natural order of category names.

use std::cmp::Ordering;

use ets_domain::model::{MetricSummary, Run};

use super::ChartInput;
use crate::spec::{Aggregate, Breach, Field, GroupBy};

/// Label of runs that lack the param or tag they are grouped or placed by.
pub(crate) const NONE_LABEL: &str = "(none)";

/// A param as a chart reads it: its text (what a category axis shows) and its number when it
/// is one. MLflow logs every param as a string, so numeric strings count as numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParamRead {
    pub text: String,
    pub number: Option<f64>,
}

/// The param `name` of `run`; `None` when absent or JSON `null`.
pub(crate) fn param(run: &Run, name: &str) -> Option<ParamRead> {
    let value = run.params.get(name)?;
    let (text, number) = match value {
        serde_json::Value::Null => return None,
        serde_json::Value::Number(n) => (n.to_string(), n.as_f64()),
        serde_json::Value::String(s) => (s.clone(), s.trim().parse::<f64>().ok()),
        other => (other.to_string(), None),
    };
    let number = number.filter(|v| v.is_finite());
    Some(ParamRead { text, number })
}

/// Values of one field over the runs: numbers when every present value is one, else
/// categories (indices into `categories`, sorted naturally).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Column {
    Numeric(Vec<Option<f64>>),
    Categorical {
        categories: Vec<String>,
        index: Vec<Option<usize>>,
    },
}

impl Column {
    /// The coordinate of run `i`: its number, or its category index.
    pub fn coordinate(&self, i: usize) -> Option<f64> {
        match self {
            Column::Numeric(values) => values[i],
            Column::Categorical { index, .. } => index[i].map(|c| c as f64),
        }
    }

    /// How many runs have a value.
    pub fn present(&self) -> usize {
        match self {
            Column::Numeric(values) => values.iter().flatten().count(),
            Column::Categorical { index, .. } => index.iter().flatten().count(),
        }
    }
}

/// The param `name` over `runs`.
pub(crate) fn param_column(runs: &[Run], name: &str) -> Column {
    let reads: Vec<Option<ParamRead>> = runs.iter().map(|r| param(r, name)).collect();
    if reads.iter().flatten().all(|p| p.number.is_some()) {
        return Column::Numeric(reads.iter().map(|p| p.as_ref()?.number).collect());
    }
    categorical(reads.into_iter().map(|p| p.map(|p| p.text)).collect())
}

/// Categories from texts, sorted naturally.
pub(crate) fn categorical(texts: Vec<Option<String>>) -> Column {
    let mut categories: Vec<String> = texts.iter().flatten().cloned().collect();
    sort_natural(&mut categories);
    categories.dedup();
    let index = texts
        .iter()
        .map(|t| {
            let t = t.as_ref()?;
            categories.iter().position(|c| c == t)
        })
        .collect();
    Column::Categorical { categories, index }
}

/// A tag over runs: numeric when every present value is a number, else categories.
pub(crate) fn tag_column(runs: &[Run], name: &str) -> Column {
    let texts: Vec<Option<String>> = runs.iter().map(|r| r.tags.get(name).cloned()).collect();
    let numbers: Vec<Option<f64>> = texts
        .iter()
        .map(|t| t.as_deref().and_then(|t| t.parse::<f64>().ok()))
        .collect();
    if texts
        .iter()
        .zip(&numbers)
        .all(|(t, n)| t.is_none() || n.is_some())
    {
        return Column::Numeric(numbers);
    }
    categorical(texts)
}

/// A field (`params.NAME`, `metrics.NAME` or `tags.NAME`) over the chart's runs.
pub(crate) fn field_column(input: &ChartInput<'_>, field: &Field) -> Column {
    match field {
        Field::Param(name) => param_column(input.runs, name),
        Field::Tag(name) => tag_column(input.runs, name),
        Field::Metric(key) => Column::Numeric(
            input
                .runs
                .iter()
                .map(|r| metric_value(input, r, key))
                .collect(),
        ),
    }
}

/// The summary of `key` in `run`.
pub(crate) fn summary<'r>(run: &'r Run, key: &str) -> Option<&'r MetricSummary> {
    run.metrics.iter().find(|m| m.key == key)
}

/// The value of metric `key` that stands for `run` under the spec's aggregate; `None` when the
/// run lacks it or it cannot be drawn (NaN, ±infinity).
pub(crate) fn metric_value(input: &ChartInput<'_>, run: &Run, key: &str) -> Option<f64> {
    let summary = summary(run, key)?;
    let value = match input.spec.aggregate {
        Aggregate::Last => Some(summary.last_value),
        Aggregate::Min => summary.min,
        Aggregate::Max => summary.max,
        Aggregate::Mean => input.means.get(&(run.id.clone(), key.to_owned())).copied(),
    }?;
    value.is_finite().then_some(value)
}

/// The aggregate's name: `last`, `min`, `max`, `mean`.
pub(crate) fn aggregate_name(aggregate: Aggregate) -> &'static str {
    match aggregate {
        Aggregate::Last => "last",
        Aggregate::Min => "min",
        Aggregate::Max => "max",
        Aggregate::Mean => "mean",
    }
}

/// How a metric's aggregate is named on an axis: `acc (last)`.
pub(crate) fn aggregate_title(key: &str, aggregate: Aggregate) -> String {
    format!("{key} ({})", aggregate_name(aggregate))
}

/// The group `run` belongs to, as shown in legends.
pub(crate) fn group_label(input: &ChartInput<'_>, group: &GroupBy, run: &Run) -> String {
    match group {
        GroupBy::Param(name) => param(run, name).map(|p| p.text),
        GroupBy::Tag(name) => run.tags.get(name).cloned(),
        GroupBy::Status => Some(run.status.as_str().to_owned()),
        GroupBy::Experiment => Some(
            input
                .experiments
                .get(&run.experiment_id)
                .map_or_else(|| run.experiment_id.clone(), |e| e.name.clone()),
        ),
    }
    .unwrap_or_else(|| NONE_LABEL.to_owned())
}

/// The groups of the chart's runs in natural order, and each run's group index.
pub(crate) fn groups(input: &ChartInput<'_>, group: &GroupBy) -> (Vec<String>, Vec<usize>) {
    let labels: Vec<String> = input
        .runs
        .iter()
        .map(|r| group_label(input, group, r))
        .collect();
    let mut names = labels.clone();
    sort_natural(&mut names);
    names.dedup();
    // Runs without the param or tag come last.
    if let Some(i) = names.iter().position(|n| n == NONE_LABEL) {
        let none = names.remove(i);
        names.push(none);
    }
    let of_run = labels
        .iter()
        .map(|l| names.iter().position(|n| n == l).unwrap_or(0))
        .collect();
    (names, of_run)
}

/// Sorts in numeric order when every name is a number, else naturally (`run2` < `run10`).
pub(crate) fn sort_natural(names: &mut [String]) {
    let numbers: Option<Vec<f64>> = names.iter().map(|n| n.trim().parse().ok()).collect();
    if numbers.is_some() {
        names.sort_by(|a, b| {
            let (x, y): (f64, f64) = (
                a.trim().parse().unwrap_or(f64::NAN),
                b.trim().parse().unwrap_or(f64::NAN),
            );
            x.total_cmp(&y).then_with(|| a.cmp(b))
        });
    } else {
        names.sort_by(|a, b| natural_cmp(a, b));
    }
}

/// Compares digit runs by their number and everything else by character.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let (na, nb) = (
                    a[..da].trim_start_matches('0'),
                    b[..db].trim_start_matches('0'),
                );
                let order = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (&a[da..], &b[db..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
            }
        }
    }
}

/// Whether `value` is on the wrong side of a threshold. A value on neither side (NaN) counts
/// as a breach: a safety metric that cannot be read is not met.
pub(crate) fn is_breach(breach: Breach, threshold: f64, value: f64) -> bool {
    match breach {
        Breach::Below => value.is_nan() || value < threshold,
        Breach::Above => value.is_nan() || value > threshold,
    }
}

/// `12345678` → `12,345,678`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 run` / `3 runs`.
pub(crate) fn runs_word(n: usize) -> String {
    if n == 1 {
        "1 run".to_owned()
    } else {
        format!("{n} runs")
    }
}

/// A run's name, or its id when the name is empty (legends skip empty names).
pub(crate) fn run_name(run: &Run) -> &str {
    if run.name.trim().is_empty() {
        &run.id
    } else {
        &run.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::testutil::run;

    #[test]
    fn params_read_as_numbers_or_categories() {
        let mut r = run("a");
        r.params.insert("lr".into(), serde_json::json!("0.001"));
        r.params.insert("layers".into(), serde_json::json!(3));
        r.params.insert("opt".into(), serde_json::json!("adam"));
        r.params.insert("flag".into(), serde_json::json!(true));
        r.params.insert("gone".into(), serde_json::Value::Null);
        assert_eq!(param(&r, "lr").unwrap().number, Some(0.001));
        assert_eq!(param(&r, "layers").unwrap().text, "3");
        assert_eq!(param(&r, "opt").unwrap().number, None);
        assert_eq!(param(&r, "flag").unwrap().text, "true");
        assert_eq!(param(&r, "gone"), None);
        assert_eq!(param(&r, "missing"), None);
    }

    #[test]
    fn a_column_is_categorical_when_any_value_is_not_a_number() {
        let mut runs = vec![run("a"), run("b"), run("c")];
        runs[0].params.insert("p".into(), serde_json::json!("10"));
        runs[1].params.insert("p".into(), serde_json::json!(2));
        assert_eq!(
            param_column(&runs, "p"),
            Column::Numeric(vec![Some(10.0), Some(2.0), None])
        );
        runs[2].params.insert("p".into(), serde_json::json!("x"));
        let column = param_column(&runs, "p");
        let Column::Categorical { categories, .. } = &column else {
            panic!("{column:?}")
        };
        assert_eq!(categories, &["2", "10", "x"]);
        assert_eq!(column.coordinate(0), Some(1.0));
        assert_eq!(column.present(), 3);
    }

    #[test]
    fn natural_order() {
        let mut names: Vec<String> = ["run10", "run2", "b", "a1", "run02x"]
            .map(String::from)
            .to_vec();
        sort_natural(&mut names);
        assert_eq!(names, ["a1", "b", "run2", "run02x", "run10"]);
        let mut numbers: Vec<String> = ["1e-3", "0.01", "-1", "10"].map(String::from).to_vec();
        sort_natural(&mut numbers);
        assert_eq!(numbers, ["-1", "1e-3", "0.01", "10"]);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }
}
