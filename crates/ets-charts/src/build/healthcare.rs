//! The healthcare crisis-detection dashboard's figures for an experiment with a healthcare
//! configuration: a line chart per safety metric with its threshold (drawn through the same
//! [`LinePlan`](super::line::LinePlan) as any line chart, so breaching runs are ringed), and a
//! table row per run saying which thresholds its latest values breach.
//!
//! Runs log the safety metrics under these keys (by convention):
//! [`CRISIS_DETECTION_RATE`], [`FALSE_NEGATIVE_RATE`], [`RESPONSE_QUALITY`].

use ets_domain::model::{HealthcareConfig, Run};
use ets_domain::status::RunStatus;
use serde::Serialize;

use super::values::{is_breach, run_name, summary};
use crate::spec::{Breach, ChartKind, ChartSpec, Threshold, XAxis};

/// Share of crises the model detects (sensitivity); at least `min_crisis_detection_rate`.
pub const CRISIS_DETECTION_RATE: &str = "crisis_detection_rate";
/// Share of crises the model misses; at most `max_false_negative_rate`.
pub const FALSE_NEGATIVE_RATE: &str = "false_negative_rate";
/// Quality score of the responses; at least `min_response_quality`.
pub const RESPONSE_QUALITY: &str = "response_quality";

/// The three safety rules of a configuration: metric, threshold, breach side, title.
fn rules(config: &HealthcareConfig) -> [(&'static str, f64, Breach, &'static str); 3] {
    [
        (
            CRISIS_DETECTION_RATE,
            config.min_crisis_detection_rate,
            Breach::Below,
            "Crisis detection rate",
        ),
        (
            FALSE_NEGATIVE_RATE,
            config.max_false_negative_rate,
            Breach::Above,
            "False negative rate",
        ),
        (
            RESPONSE_QUALITY,
            config.min_response_quality,
            Breach::Below,
            "Response quality",
        ),
    ]
}

fn rule_name(breach: Breach) -> &'static str {
    match breach {
        Breach::Below => "min",
        Breach::Above => "max",
    }
}

/// The dashboard's line charts (against step), one per safety metric, each with its threshold.
pub fn specs(config: &HealthcareConfig) -> Vec<(String, ChartSpec)> {
    rules(config)
        .into_iter()
        .map(|(key, value, breach, title)| {
            let mut spec = ChartSpec::new(ChartKind::Line);
            spec.metrics = vec![key.to_owned()];
            spec.x_axis = XAxis::Step;
            spec.thresholds = vec![Threshold {
                value,
                label: format!("{} {value}", rule_name(breach)),
                breach: Some(breach),
            }];
            (title.to_owned(), spec)
        })
        .collect()
}

/// A run's safety status: its latest safety metrics and the thresholds they breach.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSafetyRow {
    pub run_id: String,
    pub name: String,
    pub status: RunStatus,
    /// Latest values; `None` when the run has not logged the metric.
    #[serde(with = "ets_domain::value::metric_f64_opt")]
    pub crisis_detection_rate: Option<f64>,
    #[serde(with = "ets_domain::value::metric_f64_opt")]
    pub false_negative_rate: Option<f64>,
    #[serde(with = "ets_domain::value::metric_f64_opt")]
    pub response_quality: Option<f64>,
    pub breaches: Vec<ThresholdBreach>,
}

/// A latest value on the wrong side of a threshold (NaN counts: it cannot be shown safe).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdBreach {
    pub metric: String,
    #[serde(with = "ets_domain::value::metric_f64")]
    pub value: f64,
    pub threshold: f64,
    /// `min` (the value must be at least the threshold) or `max` (at most).
    pub rule: &'static str,
}

/// One row per run, in the runs' order.
pub fn run_rows(config: &HealthcareConfig, runs: &[Run]) -> Vec<RunSafetyRow> {
    runs.iter()
        .map(|run| {
            let latest = |key: &str| summary(run, key).map(|s| s.last_value);
            let breaches = rules(config)
                .into_iter()
                .filter_map(|(key, threshold, breach, _)| {
                    let value = latest(key)?;
                    is_breach(breach, threshold, value).then(|| ThresholdBreach {
                        metric: key.to_owned(),
                        value,
                        threshold,
                        rule: rule_name(breach),
                    })
                })
                .collect();
            RunSafetyRow {
                run_id: run.id.clone(),
                name: run_name(run).to_owned(),
                status: run.status,
                crisis_detection_rate: latest(CRISIS_DETECTION_RATE),
                false_negative_rate: latest(FALSE_NEGATIVE_RATE),
                response_quality: latest(RESPONSE_QUALITY),
                breaches,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::line::{LinePlan, series_reads};
    use crate::build::testutil::{Fixture, points, run, with_metric, with_series};
    use crate::figure::Trace;

    #[test]
    fn three_line_specs_with_the_configured_thresholds() {
        let specs = specs(&HealthcareConfig::default());
        let summary: Vec<(&str, &str, f64, Option<Breach>)> = specs
            .iter()
            .map(|(title, s)| {
                assert!(s.validate().is_ok());
                let t = &s.thresholds[0];
                (title.as_str(), s.metrics[0].as_str(), t.value, t.breach)
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "Crisis detection rate",
                    "crisis_detection_rate",
                    0.99,
                    Some(Breach::Below)
                ),
                (
                    "False negative rate",
                    "false_negative_rate",
                    0.01,
                    Some(Breach::Above)
                ),
                (
                    "Response quality",
                    "response_quality",
                    0.8,
                    Some(Breach::Below)
                ),
            ]
        );
        assert_eq!(specs[0].1.thresholds[0].label, "min 0.99");
    }

    #[test]
    fn rows_list_breached_thresholds() {
        let config = HealthcareConfig::default();
        let safe = [
            (CRISIS_DETECTION_RATE, 0.995),
            (FALSE_NEGATIVE_RATE, 0.01),
            (RESPONSE_QUALITY, 0.8),
        ]
        .iter()
        .fold(run("safe"), |r, (k, v)| with_metric(r, k, *v));
        let unsafe_ = [
            (CRISIS_DETECTION_RATE, 0.95),
            (FALSE_NEGATIVE_RATE, 0.05),
            (RESPONSE_QUALITY, f64::NAN),
        ]
        .iter()
        .fold(run("unsafe"), |r, (k, v)| with_metric(r, k, *v));
        let partial = with_metric(run("partial"), FALSE_NEGATIVE_RATE, 0.0);
        let rows = run_rows(&config, &[safe, unsafe_, partial]);
        assert!(
            rows[0].breaches.is_empty(),
            "thresholds themselves are met: {:?}",
            rows[0].breaches
        );
        let b: Vec<(&str, &str, f64)> = rows[1]
            .breaches
            .iter()
            .map(|b| (b.metric.as_str(), b.rule, b.threshold))
            .collect();
        assert_eq!(
            b,
            [
                (CRISIS_DETECTION_RATE, "min", 0.99),
                (FALSE_NEGATIVE_RATE, "max", 0.01),
                (RESPONSE_QUALITY, "min", 0.8),
            ]
        );
        assert_eq!(
            (rows[2].crisis_detection_rate, rows[2].false_negative_rate),
            (None, Some(0.0))
        );
        assert!(rows[2].breaches.is_empty());
        let json = serde_json::to_value(&rows[1]).unwrap();
        assert_eq!(json["response_quality"], "NaN");
        assert_eq!(json["breaches"][0]["value"], 0.95);
        assert_eq!(json["status"], "finished");
    }

    #[test]
    fn the_dashboard_spec_rings_breaching_runs_through_the_line_plan() {
        let (_, spec) = specs(&HealthcareConfig::default()).remove(1);
        let good = points(&[(0, 0.02), (1, 0.005)]);
        let bad = points(&[(0, 0.0), (1, 0.03)]);
        let runs = vec![
            with_series(run("good"), FALSE_NEGATIVE_RATE, &good),
            with_series(run("bad"), FALSE_NEGATIVE_RATE, &bad),
        ];
        let fixture = Fixture::new(spec, runs);
        let input = fixture.input();
        let mut plan = LinePlan::new(&input, Some((0.0, 1.0)));
        for (i, r) in series_reads(input.spec, input.runs).iter().enumerate() {
            plan.push(i, if r.run == 0 { &good } else { &bad });
        }
        let figure = plan.finish();
        let ringed: Vec<&str> = figure
            .traces
            .iter()
            .filter_map(|t| match t {
                Trace::Markers(m) if m.ring => Some(m.labels.iter().map(String::as_str)),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(ringed, ["bad"]);
        assert_eq!(figure.notes, ["1 run(s) breach max 0.01"]);
    }
}
