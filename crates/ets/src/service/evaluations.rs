//! Evaluation counts of a run and its safety verdict (issue 14). An evaluation is stored as
//! metrics of the `eval/<name>/<slice>/<count>` convention ([`safety::EVAL_PREFIX`]), logged
//! through the same path as every metric (limits, lifecycle and audit in one place), so what
//! the native endpoint records and what an MLflow script logs are the same data, with history.

use ets_domain::model::MetricInput;
use ets_domain::validate;
use ets_stats::proportion::Method;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Services;
use super::objectives::{self, ObjectiveStatus};
use super::safety::{self, EVAL_PREFIX, SafetyReport};
use crate::actor::Actor;
use crate::audit::Event;
use crate::error::{EntityKind, Error, Result};
use ets_stats::proportion::Verdict;

/// Body of `POST /api/v1/runs/{id}/evaluations`: counts of one evaluation on one slice.
/// A classifier gives `tp`, `fn` (and `fp`, `tn`); a score gives `successes` of `trials`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    /// E.g. `crisis_detection` (read by the crisis-detection and false-negative thresholds) or
    /// `response_quality`.
    pub name: String,
    /// The population the counts are of, e.g. `overall`, `age 65 and over`. Default `overall`.
    #[serde(default = "overall")]
    pub slice: String,
    pub tp: Option<u64>,
    #[serde(rename = "fn")]
    pub fn_: Option<u64>,
    pub fp: Option<u64>,
    pub tn: Option<u64>,
    pub successes: Option<u64>,
    pub trials: Option<u64>,
}

fn overall() -> String {
    "overall".to_owned()
}

/// Query of the safety verdict.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SafetyParams {
    /// Confidence level of each one-sided bound, 0.5–0.9999 (default 0.95).
    pub confidence: Option<f64>,
    /// `wilson` (default) or `clopper_pearson`.
    pub method: Option<String>,
}

/// Counts are logged as metric values: keep them where a double is exact.
const MAX_COUNT: u64 = 1 << 53;

impl Services {
    /// Records `evaluation` on the run as `eval/…` metrics (step 0, now): the newest
    /// evaluation of a name and slice is the one verdicts read.
    pub async fn add_evaluation(
        &self,
        actor: &Actor,
        run_id: &str,
        evaluation: Evaluation,
    ) -> Result<Evaluation> {
        let e = &evaluation;
        for (field, part) in [("name", &e.name), ("slice", &e.slice)] {
            if part.is_empty() || (field == "name" && part.contains('/')) {
                return Err(Error::invalid(
                    field,
                    "must not be empty, and a name must not contain '/'",
                ));
            }
        }
        let counts = [
            ("tp", e.tp),
            ("fn", e.fn_),
            ("fp", e.fp),
            ("tn", e.tn),
            ("successes", e.successes),
            ("trials", e.trials),
        ];
        if counts.iter().all(|(_, c)| c.is_none()) {
            return Err(Error::invalid(
                "tp",
                "give counts: tp and fn (and fp, tn) of a classifier, or successes and trials",
            ));
        }
        if let Some((field, count)) = counts
            .iter()
            .find_map(|(f, c)| c.filter(|c| *c > MAX_COUNT).map(|c| (*f, c)))
        {
            return Err(Error::invalid(
                field,
                format!("{count} is too large a count"),
            ));
        }
        match (e.successes, e.trials) {
            (Some(s), Some(t)) if s > t => {
                return Err(Error::invalid(
                    "successes",
                    format!("{s} successes exceed {t} trials"),
                ));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::invalid("trials", "successes and trials go together"));
            }
            _ => {}
        }
        // Each part is checked as a key on its own, so an error names the field at fault.
        validate::key("name", &e.name)?;
        validate::key("slice", &e.slice)?;
        let mut points = Vec::new();
        for (count, value) in counts {
            let Some(value) = value else { continue };
            let key = format!("{EVAL_PREFIX}{}/{}/{count}", e.name, e.slice);
            // The parts are valid keys; this checks the whole key's length.
            validate::key("slice", &key)?;
            points.push(MetricInput {
                key,
                value: value as f64,
                step: Some(0),
                timestamp: None,
            });
        }
        self.log_metrics(actor, run_id, points).await?;
        Ok(evaluation)
    }

    /// The run's safety verdict: its latest evaluation counts judged against its experiment's
    /// healthcare thresholds (the spec's defaults when it has none), and its objectives.
    pub async fn run_safety(
        &self,
        actor: &Actor,
        run_id: &str,
        params: &SafetyParams,
    ) -> Result<RunSafety> {
        let (confidence, method) = params.parse()?;
        // One authorization and one audited read for the whole verdict.
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let run = self.store.get_run(run_id).await?;
        let experiment = self.store.get_experiment(&run.experiment_id).await?;
        let event = Event::new("run.read_safety", "run", run_id);
        self.audit_read_of(event, experiment.healthcare.is_some())
            .await?;
        RunSafety::judge(&experiment, &run, confidence, method)
    }

    /// Every run's verdict in the experiment, and the experiment's: `pass` when some run
    /// passes its safety checks and meets every required objective.
    pub async fn experiment_safety(
        &self,
        actor: &Actor,
        experiment_id: &str,
        params: &SafetyParams,
    ) -> Result<ExperimentSafety> {
        let (confidence, method) = params.parse()?;
        self.authorize(actor, EntityKind::Experiment, experiment_id)
            .await?;
        let experiment = self.store.get_experiment(experiment_id).await?;
        let runs = self.all_runs_of(experiment_id).await?;
        let event = Event::new("experiment.read_safety", "experiment", experiment_id)
            .detail("runs", runs.len());
        self.audit_read_of(event, experiment.healthcare.is_some())
            .await?;
        let runs = runs
            .iter()
            .map(|run| RunSafety::judge(&experiment, run, confidence, method))
            .collect::<Result<Vec<_>>>()?;
        let verdict = objectives::experiment_verdict(runs.iter().map(|r| r.overall));
        Ok(ExperimentSafety {
            experiment_id: experiment.id,
            verdict,
            passing_run_ids: runs
                .iter()
                .filter(|r| r.overall == Verdict::Pass)
                .map(|r| r.run_id.clone())
                .collect(),
            confidence,
            method,
            runs,
        })
    }
}

impl SafetyParams {
    /// The confidence level and interval method asked for.
    fn parse(&self) -> Result<(f64, Method)> {
        let confidence = self.confidence.unwrap_or(0.95);
        if !(0.5..=0.9999).contains(&confidence) {
            return Err(Error::invalid(
                "confidence",
                format!("must be between 0.5 and 0.9999, got {confidence}"),
            ));
        }
        let method = match self.method.as_deref() {
            None | Some("wilson") => Method::Wilson,
            Some("clopper_pearson") => Method::ClopperPearson,
            Some(other) => {
                return Err(Error::invalid(
                    "method",
                    format!("'{other}' is not a method; use wilson or clopper_pearson"),
                ));
            }
        };
        Ok((confidence, method))
    }
}

/// A run's safety verdict with its objectives (`GET /api/v1/runs/{id}/safety`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RunSafety {
    pub run_id: String,
    pub run_name: String,
    /// The safety checks' verdict (`verdict`) and the checks.
    #[serde(flatten)]
    pub safety: SafetyReport,
    /// Each objective of the experiment on this run.
    pub objectives: Vec<ObjectiveStatus>,
    /// `fail` if the safety verdict fails or a required objective is not met, `pass` if the
    /// safety verdict passes and every required objective is met, else
    /// `insufficient_evidence`.
    #[schema(value_type = String)]
    pub overall: Verdict,
}

impl RunSafety {
    fn judge(
        experiment: &ets_domain::model::Experiment,
        run: &ets_domain::model::Run,
        confidence: f64,
        method: Method,
    ) -> Result<RunSafety> {
        let safety = safety::judge_run(
            experiment.healthcare.as_ref(),
            &run.metrics,
            confidence,
            method,
        )
        .map_err(|e| Error::BadRequest(format!("run '{}': {e}", run.id)))?;
        let objectives = objectives::judge_objectives(&experiment.objectives, &run.metrics);
        Ok(RunSafety {
            run_id: run.id.clone(),
            run_name: run.name.clone(),
            overall: objectives::run_verdict(safety.verdict, &objectives),
            safety,
            objectives,
        })
    }
}

/// Every run's verdict and the experiment's (`GET /api/v1/experiments/{id}/safety`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExperimentSafety {
    pub experiment_id: String,
    /// `pass` when some run's `overall` passes, `fail` when every run's fails, else
    /// `insufficient_evidence` (also without runs).
    #[schema(value_type = String)]
    pub verdict: Verdict,
    pub passing_run_ids: Vec<String>,
    pub confidence: f64,
    /// `wilson` or `clopper_pearson`.
    #[schema(value_type = String)]
    pub method: Method,
    /// Oldest run first.
    pub runs: Vec<RunSafety>,
}
