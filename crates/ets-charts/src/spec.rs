//! What a saved chart asks for: its type, the runs' data it shows and how. The one place
//! that decides which options each chart type takes and what they mean.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Chart types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// Metric curves of runs against step, time, relative time or another metric.
    Line,
    /// One bar per run (or per group) of a metric's aggregate.
    Bar,
    /// A param or metric (x) against metrics (y), one marker per run.
    Scatter,
    /// Two params (x, y) against a metric's aggregate (cell colour, mean over runs).
    Heatmap,
    /// Counts of predicted against actual classes a run logged (see `confusion` docs).
    ConfusionMatrix,
    /// Distribution over runs of a metric's aggregate (or a numeric param).
    Histogram,
    /// Params and metrics of every run as one polyline across parallel axes (HPO).
    ParallelCoordinates,
}

impl ChartKind {
    pub const ALL: [ChartKind; 7] = [
        ChartKind::Line,
        ChartKind::Bar,
        ChartKind::Scatter,
        ChartKind::Heatmap,
        ChartKind::ConfusionMatrix,
        ChartKind::Histogram,
        ChartKind::ParallelCoordinates,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChartKind::Line => "line",
            ChartKind::Bar => "bar",
            ChartKind::Scatter => "scatter",
            ChartKind::Heatmap => "heatmap",
            ChartKind::ConfusionMatrix => "confusion_matrix",
            ChartKind::Histogram => "histogram",
            ChartKind::ParallelCoordinates => "parallel_coordinates",
        }
    }
}

/// The x axis of a line chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum XAxis {
    #[default]
    Step,
    /// Wall-clock time of each point (UTC).
    Time,
    /// Seconds since the run started.
    RelativeTime,
    /// The value of `x_metric` logged at the same step.
    Metric,
}

/// Which single value of a metric series stands for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// The latest point (MLflow's rule: greatest step, then timestamp, then value).
    #[default]
    Last,
    Min,
    Max,
    /// Mean of every finite point of the series.
    Mean,
}

/// The line drawn for a group of runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupAggregate {
    #[default]
    Mean,
    Median,
}

/// The band drawn around a group's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    None,
    /// Lowest to highest run.
    #[default]
    MinMax,
    /// Mean ± one sample standard deviation.
    Std,
    /// Mean ± one standard error of the mean.
    Stderr,
    /// Two-sided 95 % confidence interval of the mean (Student t, n − 1 degrees of freedom).
    Ci95,
}

/// A labelled reference line (a threshold) across a line or bar chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub value: f64,
    #[serde(default)]
    pub label: String,
    /// Which side is a breach: runs whose latest value is there are marked.
    #[serde(default)]
    pub breach: Option<Breach>,
}

/// The wrong side of a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Breach {
    /// A value below the threshold breaches it (a minimum, e.g. crisis detection rate).
    Below,
    /// A value above the threshold breaches it (a maximum, e.g. false negative rate).
    Above,
}

/// The data and presentation of a chart, as saved. Which runs it shows is chosen outside
/// (experiment, run ids, filter); this says what to draw of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    #[serde(rename = "type")]
    pub kind: ChartKind,
    /// Metric keys. line: one curve per run and key; bar, histogram: the values shown;
    /// scatter: the y values; heatmap: the first is the cell value; parallel coordinates: axes
    /// after the params (the last one colours the lines).
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Param names. heatmap: exactly two (x, y); parallel coordinates: the first axes.
    #[serde(default)]
    pub params: Vec<String>,
    /// scatter: the x value, `params.NAME` or `metrics.NAME`; histogram: `params.NAME` to bin a
    /// numeric param instead of `metrics[0]`.
    #[serde(default)]
    pub x: Option<String>,
    /// line: the x axis.
    #[serde(default)]
    pub x_axis: XAxis,
    /// line with `x_axis = metric`: the metric on x.
    #[serde(default)]
    pub x_metric: Option<String>,
    /// Which value of a series stands for a run (every type but line and confusion matrix).
    #[serde(default)]
    pub aggregate: Aggregate,
    /// Group runs by `params.NAME`, `tags.NAME`, `status` or `experiment`. line: one aggregate
    /// line and band per group; bar: grouped bars; scatter, histogram: one colour per group.
    #[serde(default)]
    pub group_by: Option<String>,
    #[serde(default)]
    pub group_aggregate: GroupAggregate,
    #[serde(default)]
    pub band: Band,
    /// line: exponential moving average weight in `[0, 1)` (TensorBoard's slider), 0 = off.
    /// The raw curve stays, faded, behind the smoothed one.
    #[serde(default)]
    pub smoothing: f64,
    #[serde(default)]
    pub log_x: bool,
    #[serde(default)]
    pub log_y: bool,
    /// histogram: number of bins (default: Freedman–Diaconis, at most 100).
    #[serde(default)]
    pub bins: Option<u32>,
    /// confusion matrix: the JSON artifact to read (default `confusion_matrix.json`).
    #[serde(default)]
    pub artifact: Option<String>,
    /// confusion matrix: show each row as fractions of its actual class.
    #[serde(default)]
    pub normalize: bool,
    /// Reference lines (line and bar charts).
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
}

/// The confusion matrix artifact a run logs by default.
pub const CONFUSION_ARTIFACT: &str = "confusion_matrix.json";
/// Prefix of the metric-name convention for confusion counts:
/// `confusion_matrix/<actual>/<predicted>`.
pub const CONFUSION_METRIC_PREFIX: &str = "confusion_matrix/";

impl ChartSpec {
    /// A spec of the given type with every option at its default.
    pub fn new(kind: ChartKind) -> Self {
        ChartSpec {
            kind,
            metrics: Vec::new(),
            params: Vec::new(),
            x: None,
            x_axis: XAxis::Step,
            x_metric: None,
            aggregate: Aggregate::Last,
            group_by: None,
            group_aggregate: GroupAggregate::Mean,
            band: Band::MinMax,
            smoothing: 0.0,
            log_x: false,
            log_y: false,
            bins: None,
            artifact: None,
            normalize: false,
            thresholds: Vec::new(),
        }
    }

    /// Checks the options against the chart type; the message says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        let kind = self.kind.as_str();
        let need_metrics = |n: usize| {
            if self.metrics.len() < n {
                Err(format!(
                    "a {kind} chart needs at least {n} metric(s) in 'metrics'"
                ))
            } else {
                Ok(())
            }
        };
        if self.metrics.len() > MAX_METRICS {
            return Err(format!("'metrics' takes at most {MAX_METRICS} keys"));
        }
        if self.params.len() > MAX_PARAMS {
            return Err(format!("'params' takes at most {MAX_PARAMS} names"));
        }
        if self
            .metrics
            .iter()
            .chain(&self.params)
            .any(|k| k.trim().is_empty())
        {
            return Err("metric keys and param names must not be empty".into());
        }
        if !(0.0..1.0).contains(&self.smoothing) {
            return Err(format!(
                "smoothing must be in [0, 1) (0 = off), got {}",
                self.smoothing
            ));
        }
        if let Some(bins) = self.bins
            && !(1..=MAX_BINS).contains(&bins)
        {
            return Err(format!("bins must be between 1 and {MAX_BINS}"));
        }
        if let Some(group) = &self.group_by {
            parse_group(group)?;
        }
        if self.thresholds.iter().any(|t| !t.value.is_finite()) {
            return Err("threshold values must be finite numbers".into());
        }
        match self.kind {
            ChartKind::Line => {
                need_metrics(1)?;
                if self.x_axis == XAxis::Metric && self.x_metric.is_none() {
                    return Err("x_axis 'metric' needs 'x_metric', the metric on x".into());
                }
            }
            ChartKind::Bar | ChartKind::Histogram => {
                if self.kind == ChartKind::Histogram && self.x.is_some() {
                    parse_field(self.x.as_deref().unwrap_or_default())?;
                } else {
                    need_metrics(1)?;
                }
            }
            ChartKind::Scatter => {
                need_metrics(1)?;
                let x = self.x.as_deref().ok_or(
                    "a scatter chart needs 'x': 'params.NAME' or 'metrics.NAME' (e.g. 'params.lr')",
                )?;
                parse_field(x)?;
            }
            ChartKind::Heatmap => {
                need_metrics(1)?;
                if self.params.len() != 2 {
                    return Err(
                        "a heatmap needs exactly two 'params' (x and y) and a metric".into(),
                    );
                }
            }
            ChartKind::ConfusionMatrix => {
                if let Some(path) = &self.artifact
                    && (path.is_empty() || path.starts_with('/') || path.contains(".."))
                {
                    return Err("artifact must be a relative path inside the run".into());
                }
            }
            ChartKind::ParallelCoordinates => {
                if self.params.len() + self.metrics.len() < 2 {
                    return Err(
                        "parallel coordinates need at least two axes in 'params' and 'metrics'"
                            .into(),
                    );
                }
            }
        }
        Ok(())
    }
}

pub const MAX_METRICS: usize = 50;
pub const MAX_PARAMS: usize = 50;
pub const MAX_BINS: u32 = 1000;

/// A value of a run a chart can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Param(String),
    Metric(String),
    /// A tag, numeric when every run's value is a number (e.g. `tags.ets.trial_number`).
    Tag(String),
}

/// Parses `params.NAME`, `metrics.NAME` or `tags.NAME`.
pub fn parse_field(text: &str) -> Result<Field, String> {
    if let Some(name) = text.strip_prefix("params.").filter(|n| !n.is_empty()) {
        Ok(Field::Param(name.to_owned()))
    } else if let Some(name) = text.strip_prefix("metrics.").filter(|n| !n.is_empty()) {
        Ok(Field::Metric(name.to_owned()))
    } else if let Some(name) = text.strip_prefix("tags.").filter(|n| !n.is_empty()) {
        Ok(Field::Tag(name.to_owned()))
    } else {
        Err(format!(
            "'{text}' is not a field: use 'params.NAME', 'metrics.NAME' or 'tags.NAME'"
        ))
    }
}

/// What runs are grouped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Param(String),
    Tag(String),
    Status,
    Experiment,
}

/// Parses `params.NAME`, `tags.NAME`, `status` or `experiment`.
pub fn parse_group(text: &str) -> Result<GroupBy, String> {
    if let Some(name) = text.strip_prefix("params.").filter(|n| !n.is_empty()) {
        Ok(GroupBy::Param(name.to_owned()))
    } else if let Some(name) = text.strip_prefix("tags.").filter(|n| !n.is_empty()) {
        Ok(GroupBy::Tag(name.to_owned()))
    } else if text == "status" {
        Ok(GroupBy::Status)
    } else if text == "experiment" {
        Ok(GroupBy::Experiment)
    } else {
        Err(format!(
            "group_by '{text}' is not understood: use 'params.NAME', 'tags.NAME', 'status' or 'experiment'"
        ))
    }
}
