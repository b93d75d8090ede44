//! Hyperparameter optimization (issue 16): studies of an experiment whose trials are runs.
//!
//! Asking first takes the trial's number (and creates its run), then samples with the
//! `ets-hpo` sampler from the study's whole history, the new trial included as running: the
//! samplers are deterministic in (history, number), so concurrent asks — on any instance —
//! sample with distinct numbers and see each other's trials. Telling finishes the trial and
//! its run; reporting records an intermediate value (also a metric point of the run) and
//! answers whether the pruner stops the trial.

use std::collections::BTreeMap;

use ets_domain::Timestamp;
use ets_domain::model::NewRun;
use ets_domain::status::RunStatus;
use ets_hpo::{Direction, Pruner, PrunerConfig, Sampler, SamplerConfig, SearchSpace, Trial};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::Services;
use super::runs::{RunBatch, RunStateChange};
use crate::actor::Actor;
use crate::error::{EntityKind, Error, Result};
use crate::store::{StudyRecord, TrialRecord, TrialState};
use ets_domain::model::MetricInput;

/// The metric key intermediate values are logged under on the trial's run.
pub const OBJECTIVE_METRIC: &str = "objective";

/// Body of `POST /api/v1/experiments/{id}/studies`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStudy {
    pub name: String,
    /// `minimize` (default) or `maximize`, for a single objective.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub direction: Option<Direction>,
    /// One direction per objective, for several.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub directions: Option<Vec<Direction>>,
    /// Parameter → distribution, e.g. `{"x": {"type": "float", "low": -5, "high": 10}}`
    /// (`int` and `categorical` too; `log`, `step`, and a `condition` on a categorical
    /// parent). Default: the experiment's `search_space`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub search_space: Option<Value>,
    /// `tpe` (default), `random` or `grid`; or an object with `type` and the sampler's
    /// options (TPE: `n_startup_trials`, `n_ei_candidates`, `multivariate`,
    /// `constant_liar`, …, Optuna's defaults).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub sampler: Option<Value>,
    /// `median` (default), `none`, `percentile`, `successive_halving` or `hyperband`; or an
    /// object with `type` and the pruner's options (Optuna's defaults).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub pruner: Option<Value>,
    /// Seeds the sampler; the same seed and history give the same suggestions.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// A trial as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrialView {
    pub trial_id: String,
    pub study_id: String,
    pub number: i64,
    /// The run that carries the trial (absent once the run was deleted).
    pub run_id: Option<String>,
    pub state: TrialState,
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, Value>,
    /// One per objective, for complete trials.
    pub values: Option<Vec<f64>>,
    /// Reported intermediate values, by step.
    #[schema(value_type = Object)]
    pub intermediate_values: BTreeMap<i64, f64>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// A study with its progress: counts by state, and its best trial (one objective) or its
/// Pareto front (several).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StudyView {
    pub id: String,
    pub experiment_id: String,
    pub name: String,
    pub directions: Vec<String>,
    #[schema(value_type = Object)]
    pub search_space: Value,
    #[schema(value_type = Object)]
    pub sampler: Value,
    #[schema(value_type = Object)]
    pub pruner: Value,
    pub seed: Option<i64>,
    pub created_at: Timestamp,
    /// Trials by state (`running`, `complete`, `pruned`, `failed`).
    pub counts: BTreeMap<String, usize>,
    pub best_value: Option<f64>,
    #[schema(value_type = Option<Object>)]
    pub best_params: Option<BTreeMap<String, Value>>,
    pub best_trial: Option<TrialView>,
    /// The non-dominated complete trials (for several objectives; the best trial for one).
    pub best_trials: Vec<TrialView>,
}

/// What an ask returns: the new trial, its run and the parameters to try.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AskedTrial {
    pub trial_id: String,
    pub run_id: String,
    pub number: i64,
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, Value>,
}

/// Body of `POST /api/v1/trials/{id}/report`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrialReport {
    pub step: i64,
    pub value: f64,
}

/// The pruner's answer to a report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PruneDecision {
    /// `true`: stop the trial and complete it with `state: pruned`.
    pub prune: bool,
}

/// Body of `POST /api/v1/trials/{id}/complete`: the objective value(s), or a final state.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrialCompletion {
    /// The objective, for a single-objective study.
    #[serde(default)]
    pub value: Option<f64>,
    /// One per objective.
    #[serde(default)]
    pub values: Option<Vec<f64>>,
    /// `complete` (default when values are given), `pruned` or `failed`.
    #[serde(default)]
    pub state: Option<TrialState>,
}

/// A sampler or pruner setting as given (a name, or an object with `type` and options) as
/// the object `ets-hpo` reads.
fn typed_setting(field: &str, setting: Option<Value>, default: &str) -> Result<Value> {
    match setting {
        None => Ok(json!({ "type": default })),
        Some(Value::String(name)) => Ok(json!({ "type": name })),
        Some(Value::Object(options)) if options.get("type").is_some_and(Value::is_string) => {
            Ok(Value::Object(options))
        }
        Some(_) => Err(Error::invalid(
            field,
            format!("give a name or an object with `type`, e.g. {{\"type\": \"{default}\"}}"),
        )),
    }
}

/// The study's sampler, seeded with the study's seed.
fn sampler_of(study: &StudyRecord) -> Result<Box<dyn Sampler + Send + Sync>> {
    let mut setting = study.sampler.clone();
    if matches!(setting["type"].as_str(), Some("tpe" | "random")) {
        setting["seed"] = json!(study.seed.unwrap_or_default() as u64);
    }
    let config: SamplerConfig = serde_json::from_value(setting).map_err(|e| {
        Error::invalid(
            "sampler",
            format!("{e}: use tpe, random or grid, with their options"),
        )
    })?;
    Ok(config.build())
}

/// The study's pruner (Hyperband's brackets are keyed by the study's name, as Optuna's).
fn pruner_of(study: &StudyRecord) -> Result<Box<dyn Pruner + Send + Sync>> {
    let mut setting = study.pruner.clone();
    if setting["type"] == "hyperband" && setting.get("study_name").is_none() {
        setting["study_name"] = json!(study.name);
    }
    let config: PrunerConfig = serde_json::from_value(setting).map_err(|e| {
        Error::invalid(
            "pruner",
            format!("{e}: use median, none, percentile, successive_halving or hyperband"),
        )
    })?;
    Ok(config.build())
}

fn search_space_of(study: &StudyRecord) -> Result<SearchSpace> {
    serde_json::from_value(study.search_space.clone())
        .map_err(|e| Error::invalid("search_space", e.to_string()))
}

fn directions_of(study: &StudyRecord) -> Vec<Direction> {
    study
        .directions
        .iter()
        .map(|d| {
            if d == "maximize" {
                Direction::Maximize
            } else {
                Direction::Minimize
            }
        })
        .collect()
}

fn direction_name(direction: Direction) -> String {
    match direction {
        Direction::Minimize => "minimize".to_owned(),
        Direction::Maximize => "maximize".to_owned(),
    }
}

/// A stored trial as the samplers and pruners read it.
fn hpo_trial(trial: &TrialRecord) -> Trial {
    Trial {
        number: trial.number as u64,
        state: match trial.state {
            TrialState::Running => ets_hpo::TrialState::Running,
            TrialState::Complete => ets_hpo::TrialState::Complete,
            TrialState::Pruned => ets_hpo::TrialState::Pruned,
            TrialState::Failed => ets_hpo::TrialState::Failed,
        },
        params: trial.params.clone(),
        values: trial.values.clone(),
        intermediate: trial.intermediate.clone(),
    }
}

fn trial_view(trial: TrialRecord) -> TrialView {
    TrialView {
        trial_id: trial.id,
        study_id: trial.study_id,
        number: trial.number,
        run_id: trial.run_id,
        state: trial.state,
        params: trial.params,
        values: trial.values,
        intermediate_values: trial.intermediate,
        created_at: trial.created_at,
        finished_at: trial.finished_at,
    }
}

impl Services {
    pub async fn create_study(
        &self,
        actor: &Actor,
        experiment_id: &str,
        input: NewStudy,
    ) -> Result<StudyView> {
        self.authorize(actor, EntityKind::Experiment, experiment_id)
            .await?;
        let experiment = self.store.get_experiment(experiment_id).await?;
        let name = ets_domain::validate::name("name", &input.name)?;
        let directions = match (input.direction, input.directions) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "directions",
                    "give `direction` (one objective) or `directions` (several), not both",
                ));
            }
            (Some(d), None) => vec![d],
            (None, Some(ds)) if !ds.is_empty() => ds,
            (None, Some(_)) => {
                return Err(Error::invalid("directions", "name at least one direction"));
            }
            (None, None) => vec![Direction::Minimize],
        };
        let search_space = match input.search_space {
            Some(space) => space,
            None => serde_json::to_value(&experiment.search_space)
                .map_err(|e| Error::internal(format!("search space: {e}")))?,
        };
        let study = StudyRecord {
            id: ets_domain::new_id(),
            experiment_id: experiment.id,
            name,
            directions: directions.iter().copied().map(direction_name).collect(),
            search_space,
            sampler: typed_setting("sampler", input.sampler, "tpe")?,
            pruner: typed_setting("pruner", input.pruner, "median")?,
            seed: input.seed.map(|s| s as i64),
            created_at: Timestamp::now(),
        };
        // Everything is checked before the study is stored.
        let space = search_space_of(&study)?;
        if space.is_empty() {
            return Err(Error::invalid(
                "search_space",
                "name at least one parameter (or give the experiment a search_space)",
            ));
        }
        space
            .validate()
            .map_err(|e| Error::invalid("search_space", e.to_string()))?;
        sampler_of(&study)?;
        pruner_of(&study)?;
        let study = self.store.create_study(study).await?;
        Ok(self.study_view(study, Vec::new()))
    }

    pub async fn get_study(&self, actor: &Actor, id: &str) -> Result<StudyView> {
        self.authorize(actor, EntityKind::Study, id).await?;
        let study = self.store.get_study(id).await?;
        let trials = self.store.trials(id).await?;
        Ok(self.study_view(study, trials))
    }

    pub async fn study_trials(&self, actor: &Actor, id: &str) -> Result<Vec<TrialView>> {
        self.authorize(actor, EntityKind::Study, id).await?;
        Ok(self
            .store
            .trials(id)
            .await?
            .into_iter()
            .map(trial_view)
            .collect())
    }

    fn study_view(&self, study: StudyRecord, trials: Vec<TrialRecord>) -> StudyView {
        let directions = directions_of(&study);
        let history: Vec<Trial> = trials.iter().map(hpo_trial).collect();
        let mut counts = BTreeMap::new();
        for state in ["running", "complete", "pruned", "failed"] {
            counts.insert(state.to_owned(), 0);
        }
        for trial in &trials {
            *counts.entry(trial.state.as_str().to_owned()).or_default() += 1;
        }
        let by_number = |number: u64| {
            trials
                .iter()
                .find(|t| t.number as u64 == number)
                .cloned()
                .map(trial_view)
        };
        let best_trials: Vec<TrialView> = if directions.len() == 1 {
            ets_hpo::best_trial(&history, directions[0])
                .and_then(|t| by_number(t.number))
                .into_iter()
                .collect()
        } else {
            ets_hpo::pareto_front(&history, &directions)
                .into_iter()
                .filter_map(|t| by_number(t.number))
                .collect()
        };
        let best_trial = (directions.len() == 1)
            .then(|| best_trials.first().cloned())
            .flatten();
        StudyView {
            id: study.id,
            experiment_id: study.experiment_id,
            name: study.name,
            directions: study.directions,
            search_space: study.search_space,
            sampler: study.sampler,
            pruner: study.pruner,
            seed: study.seed,
            created_at: study.created_at,
            counts,
            best_value: best_trial
                .as_ref()
                .and_then(|t| t.values.as_ref()?.first().copied()),
            best_params: best_trial.as_ref().map(|t| t.params.clone()),
            best_trial,
            best_trials,
        }
    }

    /// The study's trials as the samplers and pruners read them.
    async fn history(&self, study_id: &str) -> Result<Vec<Trial>> {
        Ok(self
            .store
            .trials(study_id)
            .await?
            .iter()
            .map(hpo_trial)
            .collect())
    }

    /// Asks for a trial: a run of the study's experiment with the suggested params.
    pub async fn ask_trial(&self, actor: &Actor, study_id: &str) -> Result<AskedTrial> {
        self.authorize(actor, EntityKind::Study, study_id).await?;
        let study = self.store.get_study(study_id).await?;
        let run = self
            .create_run(
                actor,
                NewRun {
                    experiment_id: study.experiment_id.clone(),
                    tags: [("ets.study_id".to_owned(), study.id.clone())].into(),
                    ..Default::default()
                },
            )
            .await?;
        let trial = self
            .store
            .add_trial(
                ets_domain::new_id(),
                study_id,
                &run.id,
                BTreeMap::new(),
                Timestamp::now(),
            )
            .await?;
        match self.suggest(actor, &study, &trial).await {
            Ok(params) => Ok(AskedTrial {
                trial_id: trial.id,
                run_id: run.id,
                number: trial.number,
                params,
            }),
            Err(e) => {
                // Nothing half-made is left running.
                let _ = self
                    .store
                    .finish_trial(&trial.id, TrialState::Failed, None, Timestamp::now())
                    .await;
                let _ = self
                    .update_run_state(
                        actor,
                        &run.id,
                        RunStateChange {
                            status: Some(RunStatus::Failed),
                            ..Default::default()
                        },
                    )
                    .await;
                Err(e)
            }
        }
    }

    /// Samples the numbered trial's params from the study's history and records them on the
    /// trial and as its run's params.
    async fn suggest(
        &self,
        actor: &Actor,
        study: &StudyRecord,
        trial: &TrialRecord,
    ) -> Result<BTreeMap<String, Value>> {
        let history = self.history(&study.id).await?;
        let sampler = sampler_of(study)?;
        let space = search_space_of(study)?;
        let directions = directions_of(study);
        let number = trial.number as u64;
        // TPE fits estimators over the whole history: off the async executor.
        let params = tokio::task::spawn_blocking(move || {
            sampler.sample(&space, &history, &directions, number)
        })
        .await
        .map_err(|e| Error::internal(format!("sampling failed: {e}")))?
        .map_err(|e| Error::Conflict(format!("no trial to suggest: {e}")))?;
        self.store
            .set_trial_params(&trial.id, params.clone())
            .await?;
        if let Some(run_id) = &trial.run_id {
            let mut tags = BTreeMap::new();
            tags.insert(
                "ets.trial_number".to_owned(),
                Some(trial.number.to_string()),
            );
            self.log_batch(
                actor,
                run_id,
                RunBatch {
                    params: params.clone(),
                    tags,
                    ..Default::default()
                },
            )
            .await?;
        }
        Ok(params)
    }

    /// Records an intermediate value and answers whether the pruner stops the trial.
    pub async fn report_trial(
        &self,
        actor: &Actor,
        trial_id: &str,
        report: TrialReport,
    ) -> Result<PruneDecision> {
        self.authorize(actor, EntityKind::Trial, trial_id).await?;
        self.store
            .report_trial_value(trial_id, report.step, report.value)
            .await?;
        let trial = self.store.get_trial(trial_id).await?;
        if let Some(run_id) = &trial.run_id {
            self.log_batch(
                actor,
                run_id,
                RunBatch {
                    metrics: vec![MetricInput {
                        key: OBJECTIVE_METRIC.to_owned(),
                        value: report.value,
                        step: Some(report.step),
                        timestamp: None,
                    }],
                    ..Default::default()
                },
            )
            .await?;
        }
        let study = self.store.get_study(&trial.study_id).await?;
        let directions = directions_of(&study);
        if directions.len() != 1 {
            // Pruning is for one objective, as in Optuna.
            return Ok(PruneDecision { prune: false });
        }
        let history = self.history(&study.id).await?;
        let pruner = pruner_of(&study)?;
        let me = hpo_trial(&trial);
        let prune = pruner.prune(&me, &history, directions[0]);
        Ok(PruneDecision { prune })
    }

    /// Tells a trial's outcome: its values (complete), or `pruned` / `failed`; its run ends
    /// as finished (complete, pruned) or failed.
    pub async fn complete_trial(
        &self,
        actor: &Actor,
        trial_id: &str,
        completion: TrialCompletion,
    ) -> Result<TrialView> {
        self.authorize(actor, EntityKind::Trial, trial_id).await?;
        let trial = self.store.get_trial(trial_id).await?;
        let study = self.store.get_study(&trial.study_id).await?;
        let values = match (completion.value, completion.values) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "values",
                    "give `value` or `values`, not both",
                ));
            }
            (Some(v), None) => Some(vec![v]),
            (None, values) => values,
        };
        let state = completion.state.unwrap_or(if values.is_some() {
            TrialState::Complete
        } else {
            TrialState::Failed
        });
        let values = match state {
            TrialState::Running => {
                return Err(Error::invalid(
                    "state",
                    "a trial is completed as complete, pruned or failed",
                ));
            }
            TrialState::Complete => {
                let values = values.ok_or_else(|| {
                    Error::invalid("value", "a complete trial needs its objective value(s)")
                })?;
                if values.len() != study.directions.len() {
                    return Err(Error::invalid(
                        "values",
                        format!(
                            "the study has {} objective(s); got {} value(s)",
                            study.directions.len(),
                            values.len()
                        ),
                    ));
                }
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(Error::invalid(
                        "values",
                        "objective values must be finite numbers (a NaN result is a failed trial)",
                    ));
                }
                Some(values)
            }
            TrialState::Pruned | TrialState::Failed => None,
        };
        let finished = self
            .store
            .finish_trial(trial_id, state, values, Timestamp::now())
            .await?;
        if let Some(run_id) = &finished.run_id {
            let status = if state == TrialState::Failed {
                RunStatus::Failed
            } else {
                RunStatus::Finished
            };
            self.update_run_state(
                actor,
                run_id,
                RunStateChange {
                    status: Some(status),
                    ..Default::default()
                },
            )
            .await?;
        }
        Ok(trial_view(finished))
    }
}
