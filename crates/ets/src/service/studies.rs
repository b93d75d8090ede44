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
use super::runs::{RunBatch, run_creation_error};
use super::study_history::hpo_trial;
use super::study_storage::CLIENT_SIDE;
use crate::actor::Actor;
use crate::error::{EntityKind, Error, Result};
use crate::store::{NewTrial, StudyRecord, TrialRecord, TrialState};
use ets_domain::model::MetricInput;

/// The metric key intermediate values are logged under on the trial's run.
pub const OBJECTIVE_METRIC: &str = "objective";
/// The metric key a finished trial's value is logged under (`value_0`, `value_1`, … for
/// several objectives), as Optuna's MLflow callback names it.
pub const VALUE_METRIC: &str = "value";

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
    /// When it began running (absent while waiting).
    pub started_at: Option<Timestamp>,
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
    /// Trials by state (`waiting`, `running`, `complete`, `pruned`, `failed`).
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

/// How much each parameter explains of an objective's variation over the complete trials.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StudyImportance {
    pub study_id: String,
    /// Index of the objective (0 for a single objective).
    pub objective: usize,
    /// `explained_variance`: the share of the objective's variance explained by grouping
    /// the trials by the parameter (binned into up to 8 quantile bins), corrected for what
    /// that many groups explain by chance; 0 (nothing) to 1 (everything).
    pub method: String,
    /// Complete trials the estimate used.
    pub n_trials: usize,
    /// Parameters, most important first.
    pub importances: Vec<ParamImportanceView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParamImportanceView {
    pub name: String,
    pub importance: f64,
}

/// Query of `GET /api/v1/studies/{id}/importance`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportanceQuery {
    /// Which objective (default 0).
    #[serde(default)]
    pub objective: Option<usize>,
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

/// A study created through Optuna's storage API is sampled by its client, not by asks.
fn refuse_client_side(study: &StudyRecord) -> Result<()> {
    if study.sampler["type"] == CLIENT_SIDE {
        return Err(Error::Conflict(format!(
            "study '{}' is sampled by its Optuna client (it was created through Optuna's \
             storage API): ask for trials through Optuna",
            study.name
        )));
    }
    Ok(())
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

pub(super) fn direction_name(direction: Direction) -> String {
    match direction {
        Direction::Minimize => "minimize".to_owned(),
        Direction::Maximize => "maximize".to_owned(),
    }
}

/// How a trial's run stands for the trial's state.
pub(super) fn run_status_of(state: TrialState) -> RunStatus {
    match state {
        TrialState::Waiting => RunStatus::Scheduled,
        TrialState::Running => RunStatus::Running,
        TrialState::Complete | TrialState::Pruned => RunStatus::Finished,
        TrialState::Failed => RunStatus::Failed,
    }
}

/// A trial's params as its run's params: run params are text, so a categorical's `null`,
/// `true` and `false` are written as Optuna (and Python) print them: `None`, `True`, `False`.
pub(super) fn run_params(params: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    params
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::Null => Value::from("None"),
                Value::Bool(true) => Value::from("True"),
                Value::Bool(false) => Value::from("False"),
                other => other.clone(),
            };
            (name.clone(), text)
        })
        .collect()
}

/// A complete trial has one value per objective.
pub(super) fn check_value_count(study: &StudyRecord, values: &[f64]) -> Result<()> {
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
    Ok(())
}

/// The run tag that names the trial's number.
pub(super) fn trial_number_tag(number: i64) -> (String, Option<String>) {
    (TRIAL_NUMBER_TAG.to_owned(), Some(number.to_string()))
}

/// The run tag that carries its trial's number.
const TRIAL_NUMBER_TAG: &str = "ets.trial_number";

/// Times one ask samples again when concurrent asks took the number it sampled for, or
/// changed the trials it sampled from (each time one of them was written: progress, however
/// many ask at once).
const MAX_ASK_ATTEMPTS: usize = 64;

/// Intermediate values as the run's `objective` points.
pub(super) fn intermediate_metrics(values: &BTreeMap<i64, f64>) -> Vec<MetricInput> {
    values
        .iter()
        .map(|(step, value)| MetricInput {
            key: OBJECTIVE_METRIC.to_owned(),
            value: *value,
            step: Some(*step),
            timestamp: None,
        })
        .collect()
}

/// A finished trial's values as the run's `value` (or `value_<i>`) metrics.
pub(super) fn value_metrics(study: &StudyRecord, values: &[f64]) -> Vec<MetricInput> {
    let several = study.directions.len() > 1 || values.len() > 1;
    values
        .iter()
        .enumerate()
        .map(|(i, value)| MetricInput {
            key: if several {
                format!("{VALUE_METRIC}_{i}")
            } else {
                VALUE_METRIC.to_owned()
            },
            value: *value,
            step: None,
            timestamp: None,
        })
        .collect()
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
        started_at: trial.started_at,
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
            seq: 0,
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

    /// The experiment's studies with their progress, oldest first.
    pub async fn list_studies(&self, actor: &Actor, experiment_id: &str) -> Result<Vec<StudyView>> {
        self.authorize(actor, EntityKind::Experiment, experiment_id)
            .await?;
        Ok(self
            .store
            .experiment_trials(experiment_id)
            .await?
            .into_iter()
            .map(|(study, trials)| self.study_view(study, trials))
            .collect())
    }

    /// Parameter importance for one objective, from the complete trials.
    pub async fn study_importance(
        &self,
        actor: &Actor,
        id: &str,
        objective: usize,
    ) -> Result<StudyImportance> {
        self.authorize(actor, EntityKind::Study, id).await?;
        let study = self.store.get_study(id).await?;
        if objective >= study.directions.len() {
            return Err(Error::invalid(
                "objective",
                format!(
                    "the study has {} objective(s); name one from 0 to {}",
                    study.directions.len(),
                    study.directions.len() - 1
                ),
            ));
        }
        let space = search_space_of(&study)?;
        let history = self.history(id).await?;
        let directions = directions_of(&study);
        let importances = tokio::task::spawn_blocking(move || {
            ets_hpo::explained_variance_importance(&space, history.trials(), &directions, objective)
        })
        .await
        .map_err(|e| Error::internal(format!("importance failed: {e}")))?;
        Ok(StudyImportance {
            study_id: study.id,
            objective,
            method: "explained_variance".to_owned(),
            n_trials: importances.first().map_or(0, |p| p.n_trials),
            importances: importances
                .into_iter()
                .map(|p| ParamImportanceView {
                    name: p.name,
                    importance: p.importance,
                })
                .collect(),
        })
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
        for state in ["waiting", "running", "complete", "pruned", "failed"] {
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

    /// The study's trials as the pruners and the importance read them (`StudyHistories`).
    async fn history(&self, study_id: &str) -> Result<std::sync::Arc<ets_hpo::History>> {
        let (_, history) = self
            .study_histories
            .read(self.store.as_ref(), study_id, |_| Ok(SearchSpace::new()))
            .await?;
        Ok(history)
    }

    /// Asks for a trial: a run of the study's experiment with the suggested params. The
    /// params are sampled for the study's next trial number as last read, then the run and
    /// the trial with its params are written in one transaction, which takes that number or
    /// nothing (another ask took it first: sample again from the history that has it). While
    /// this instance knows every change to the study (its own asks and tells), the history
    /// is not read at all: the write then also checks that the study's trials are the ones
    /// sampled from (`StudyHistories`).
    pub async fn ask_trial(&self, actor: &Actor, study_id: &str) -> Result<AskedTrial> {
        self.authorize(actor, EntityKind::Study, study_id).await?;
        for _ in 0..MAX_ASK_ATTEMPTS {
            // Asks of one study read and sample in turns with the sampler's kept state: each
            // then reads a history at least as new as the state's, which the state follows
            // (an older one would rebuild it). The write below is not in the turn.
            let mut cache = self
                .study_histories
                .sampler_cache(study_id)
                .lock_owned()
                .await;
            // The study comes with its history: as this instance knows it, or read.
            let space_of = |study: &StudyRecord| {
                refuse_client_side(study)?;
                search_space_of(study)
            };
            let (study, history, seen) = match self.study_histories.view(study_id, space_of)? {
                Some((study, history, seen)) => (study, history, Some(seen)),
                None => {
                    let (study, history) = self
                        .study_histories
                        .read(self.store.as_ref(), study_id, space_of)
                        .await?;
                    (study, history, None)
                }
            };
            let space = search_space_of(&study)?;
            let directions = directions_of(&study);
            let number = history.trials().last().map_or(0, |t| t.number as i64 + 1);
            // With the study's kept state TPE's ask costs ~0.1 ms at 10,000 trials: inline,
            // as a hop to the blocking pool costs more (docs/benchmarks.md). Building that
            // state (a study's first ask) and a sampler that refits the whole history at each
            // ask (multivariate TPE, constant liar) go off the async executor.
            let sampler = sampler_of(&study)?;
            let sampled = if sampler.cached_ask_is_cheap(&directions, &cache) {
                let sampled =
                    sampler.sample_cached(&space, &history, &directions, number as u64, &mut cache);
                drop((cache, history));
                sampled
            } else {
                tokio::task::spawn_blocking(move || {
                    sampler.sample_cached(&space, &history, &directions, number as u64, &mut cache)
                })
                .await
                .map_err(|e| Error::internal(format!("sampling failed: {e}")))?
            };
            let params = match sampled {
                Ok(params) => params,
                // Nothing to suggest (a used-up grid) is the answer only on a fresh read.
                Err(_) if seen.is_some() => {
                    self.study_histories.forget_view(study_id);
                    continue;
                }
                Err(e) => return Err(Error::Conflict(format!("no trial to suggest: {e}"))),
            };
            // The run carries the study, the trial's number and the params.
            let (run, run_params) = self
                .new_run(
                    actor,
                    NewRun {
                        experiment_id: study.experiment_id.clone(),
                        tags: [
                            ("ets.study_id".to_owned(), study.id.clone()),
                            (TRIAL_NUMBER_TAG.to_owned(), number.to_string()),
                        ]
                        .into(),
                        params: run_params(&params),
                        ..Default::default()
                    },
                )
                .await?;
            let mut trial =
                NewTrial::running(ets_domain::new_id(), study_id, &run.id, Timestamp::now());
            trial.params = params.clone();
            let started = self
                .store
                .start_trial(run, run_params, trial, number, seen)
                .await;
            let (run, trial) = match started {
                Ok(started) => started,
                Err(Error::AlreadyExists {
                    entity: EntityKind::Trial,
                    ..
                }) => {
                    self.study_histories.forget_view(study_id);
                    continue;
                }
                Err(e) => return Err(run_creation_error(e)),
            };
            self.study_histories.stored(&trial);
            self.remember_project(EntityKind::Run, &run.id, &run.project_id);
            self.remember_project(EntityKind::Trial, &trial.id, &run.project_id);
            self.live.run_created(&run);
            return Ok(AskedTrial {
                trial_id: trial.id,
                run_id: run.id,
                number: trial.number,
                params,
            });
        }
        Err(Error::Conflict(format!(
            "study '{study_id}': {MAX_ASK_ATTEMPTS} asks in a row found their trial number taken \
             or the study's trials changed by concurrent asks and tells; retry"
        )))
    }

    /// Records an intermediate value and answers whether the pruner stops the trial.
    pub async fn report_trial(
        &self,
        actor: &Actor,
        trial_id: &str,
        report: TrialReport,
    ) -> Result<PruneDecision> {
        let trial = self
            .record_trial_value(actor, trial_id, report.step, report.value)
            .await?;
        let study = self.store.get_study(&trial.study_id).await?;
        let directions = directions_of(&study);
        if directions.len() != 1 || study.pruner["type"] == CLIENT_SIDE {
            // Pruning is for one objective, as in Optuna; a client that samples itself
            // prunes itself too.
            return Ok(PruneDecision { prune: false });
        }
        let history = self.history(&study.id).await?;
        let pruner = pruner_of(&study)?;
        let me = hpo_trial(&trial);
        let prune = pruner.prune(&me, history.trials(), directions[0]);
        Ok(PruneDecision { prune })
    }

    /// Records a running trial's intermediate value, also as its run's `objective` point.
    pub async fn record_trial_value(
        &self,
        actor: &Actor,
        trial_id: &str,
        step: i64,
        value: f64,
    ) -> Result<TrialRecord> {
        self.authorize(actor, EntityKind::Trial, trial_id).await?;
        self.store.report_trial_value(trial_id, step, value).await?;
        let trial = self.store.get_trial(trial_id).await?;
        if let Some(run_id) = &trial.run_id {
            self.log_batch(
                actor,
                run_id,
                RunBatch {
                    metrics: intermediate_metrics(&[(step, value)].into()),
                    ..Default::default()
                },
            )
            .await?;
        }
        Ok(trial)
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
        let (trial, study) = self.store.trial_with_study(trial_id).await?;
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
            TrialState::Waiting | TrialState::Running => {
                return Err(Error::invalid(
                    "state",
                    "a trial is completed as complete, pruned or failed",
                ));
            }
            TrialState::Complete => {
                let values = values.ok_or_else(|| {
                    Error::invalid("value", "a complete trial needs its objective value(s)")
                })?;
                check_value_count(&study, &values)?;
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
            .finish_trial_and_run(&study, &trial, state, values)
            .await?;
        Ok(trial_view(finished))
    }
}
