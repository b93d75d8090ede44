//! Studies as a storage for clients that sample themselves (Optuna through its gRPC storage
//! proxy, `crate::optuna`): create a study by name, create trials (also from a template:
//! enqueued or finished ones), set params one at a time with their distributions, move
//! trials through Optuna's states, record intermediate values and attributes.
//!
//! The same rules as the ask/tell API apply (`service::studies`): a trial is a run of the
//! study's experiment, params are the run's params, intermediate values its `objective`
//! points, final values its `value` metrics, and a finished trial changes no more. A
//! parameter name keeps one kind of distribution within a study (Optuna's rule); the first
//! one seen joins the study's search space, so such studies read like ETS's own.

use std::collections::BTreeMap;

use ets_domain::Timestamp;
use ets_domain::model::{NewExperiment, NewRun};
use ets_domain::status::RunStatus;
use ets_hpo::{Direction, Distribution, ParamDef};
use serde_json::{Value, json};

use super::Services;
use super::runs::{RunBatch, RunStateChange};
use super::studies::{direction_name, run_status_of, trial_number_tag};
use crate::actor::Actor;
use crate::error::{EntityKind, Error, Result};
use crate::store::{
    AttrKind, AttrRecord, NewTrial, StudyRecord, TrialRecord, TrialRunEnd, TrialState,
};

/// The sampler (and pruner) `type` of a study whose client samples and prunes itself.
pub const CLIENT_SIDE: &str = "optuna";

/// A trial as a client hands it over whole (Optuna's `create_new_trial` template):
/// enqueued (`waiting`, usually with fixed params in its system attributes) or recorded
/// after the fact (`add_trial`).
#[derive(Debug, Clone)]
pub struct TrialTemplate {
    pub state: TrialState,
    pub values: Option<Vec<f64>>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Param → (internal representation, distribution).
    pub params: BTreeMap<String, (f64, Distribution)>,
    pub intermediate: BTreeMap<i64, f64>,
    pub user_attrs: BTreeMap<String, String>,
    pub system_attrs: BTreeMap<String, String>,
}

/// A distribution as stored with a trial or in a search space.
fn distribution_json(distribution: &Distribution) -> Value {
    serde_json::to_value(distribution).unwrap_or(Value::Null)
}

/// The distribution of `name` in the study's search space, if it has one.
pub fn space_distribution(study: &StudyRecord, name: &str) -> Option<Distribution> {
    serde_json::from_value::<ParamDef>(study.search_space.get(name)?.clone())
        .ok()
        .map(|def| def.distribution)
}

/// A trial's distribution of `name`: its own, else the study's.
pub fn trial_distribution(
    study: &StudyRecord,
    trial: &TrialRecord,
    name: &str,
) -> Option<Distribution> {
    trial
        .distributions
        .get(name)
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .or_else(|| space_distribution(study, name))
}

/// Attribute values are JSON texts (Optuna sends `json.dumps(value)`).
fn check_attr(key: &str, value: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("key", "an attribute needs a key"));
    }
    serde_json::from_str::<Value>(value)
        .map(|_| ())
        .map_err(|e| Error::invalid(key, format!("an attribute's value must be JSON text: {e}")))
}

fn check_values(study: &StudyRecord, state: TrialState, values: &Option<Vec<f64>>) -> Result<()> {
    match values {
        Some(values) if state == TrialState::Complete => {
            super::studies::check_value_count(study, values)
        }
        _ => Ok(()),
    }
}

impl Services {
    /// Creates a study a client samples itself, in the experiment named like it in the
    /// project (created if missing; the experiment of an existing name is reused).
    /// `AlreadyExists` when the project has a study of that name.
    pub async fn create_client_study(
        &self,
        actor: &Actor,
        project_id: &str,
        name: &str,
        directions: &[Direction],
    ) -> Result<StudyRecord> {
        self.authorize_project(actor, project_id).await?;
        let name = ets_domain::validate::name("study_name", name)?;
        if directions.is_empty() {
            return Err(Error::invalid("directions", "name at least one direction"));
        }
        if let Some(existing) = self.project_study_named(project_id, &name).await? {
            return Err(Error::AlreadyExists {
                entity: EntityKind::Study,
                name: existing.name,
                scope: " in the project".to_owned(),
            });
        }
        let experiment = self.experiment_for_study(actor, project_id, &name).await?;
        self.store
            .create_study(StudyRecord {
                id: ets_domain::new_id(),
                experiment_id: experiment,
                name,
                directions: directions.iter().copied().map(direction_name).collect(),
                search_space: json!({}),
                sampler: json!({ "type": CLIENT_SIDE }),
                pruner: json!({ "type": CLIENT_SIDE }),
                seed: None,
                created_at: Timestamp::now(),
                seq: 0,
            })
            .await
    }

    /// The project's experiment of that name, created if missing.
    async fn experiment_for_study(
        &self,
        actor: &Actor,
        project_id: &str,
        name: &str,
    ) -> Result<String> {
        let created = self
            .create_experiment(
                actor,
                NewExperiment {
                    project_id: project_id.to_owned(),
                    name: name.to_owned(),
                    ..Default::default()
                },
            )
            .await;
        match created {
            Ok(experiment) => Ok(experiment.id),
            Err(Error::AlreadyExists { .. }) => {
                let experiment = self.store.find_experiment_by_name(name).await?;
                if experiment.project_id != project_id {
                    return Err(Error::Conflict(format!(
                        "experiment '{name}' belongs to another project; name the study differently"
                    )));
                }
                Ok(experiment.id)
            }
            Err(e) => Err(e),
        }
    }

    async fn project_study_named(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<Option<StudyRecord>> {
        Ok(self
            .store
            .project_studies(project_id)
            .await?
            .into_iter()
            .find(|s| s.name == name))
    }

    /// The project's study of that name (the oldest, should experiments share one).
    pub async fn study_named(
        &self,
        actor: &Actor,
        project_id: &str,
        name: &str,
    ) -> Result<StudyRecord> {
        self.authorize_project(actor, project_id).await?;
        self.project_study_named(project_id, name)
            .await?
            .ok_or_else(|| Error::not_found(EntityKind::Study, name))
    }

    /// The project's study of that number (Optuna's study id); studies of other projects
    /// are not found.
    pub async fn study_numbered(
        &self,
        actor: &Actor,
        project_id: &str,
        seq: i64,
    ) -> Result<StudyRecord> {
        let study = self.store.study_by_seq(seq).await?;
        if self.project_of(EntityKind::Study, &study.id).await? != project_id {
            return Err(Error::not_found(EntityKind::Study, seq.to_string()));
        }
        self.authorize(actor, EntityKind::Study, &study.id).await?;
        Ok(study)
    }

    /// Every study of the project with its attributes.
    pub async fn project_studies(
        &self,
        actor: &Actor,
        project_id: &str,
    ) -> Result<Vec<(StudyRecord, Vec<AttrRecord>)>> {
        self.authorize_project(actor, project_id).await?;
        let mut attrs: std::collections::HashMap<String, Vec<AttrRecord>> =
            std::collections::HashMap::new();
        for attr in self.store.project_study_attrs(project_id).await? {
            attrs.entry(attr.owner.clone()).or_default().push(attr);
        }
        Ok(self
            .store
            .project_studies(project_id)
            .await?
            .into_iter()
            .map(|study| {
                let of_study = attrs.remove(&study.id).unwrap_or_default();
                (study, of_study)
            })
            .collect())
    }

    /// Removes a study and its trials; their runs stay in the experiment.
    pub async fn delete_study(&self, actor: &Actor, id: &str) -> Result<()> {
        self.authorize(actor, EntityKind::Study, id).await?;
        self.store.delete_study(id).await
    }

    pub async fn set_study_attr(
        &self,
        actor: &Actor,
        id: &str,
        kind: AttrKind,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.authorize(actor, EntityKind::Study, id).await?;
        check_attr(key, value)?;
        self.store.set_study_attr(id, kind, key, value).await
    }

    pub async fn study_attrs(&self, actor: &Actor, id: &str) -> Result<Vec<AttrRecord>> {
        self.authorize(actor, EntityKind::Study, id).await?;
        self.store.study_attrs(id).await
    }

    /// The study's trials numbered above `after`, with values and attributes.
    pub async fn trials_after(
        &self,
        actor: &Actor,
        study_id: &str,
        after: i64,
    ) -> Result<Vec<TrialRecord>> {
        self.authorize(actor, EntityKind::Study, study_id).await?;
        Ok(self.store.trials_after(study_id, after).await?.1)
    }

    pub async fn trial_numbered(
        &self,
        actor: &Actor,
        study_id: &str,
        number: i64,
    ) -> Result<TrialRecord> {
        self.authorize(actor, EntityKind::Study, study_id).await?;
        self.store.trial_by_number(study_id, number).await
    }

    /// Checks `name`'s distribution against the one the study has for it (adding it to the
    /// search space when new); returns the value of `internal`.
    async fn admit_param(
        &self,
        study: &StudyRecord,
        name: &str,
        internal: f64,
        distribution: &Distribution,
    ) -> Result<Value> {
        distribution
            .validate(name)
            .map_err(|e| Error::invalid(name, e.to_string()))?;
        let value = distribution.external_of_internal(internal).ok_or_else(|| {
            Error::invalid(
                name,
                format!("{internal} is no value of the parameter's distribution"),
            )
        })?;
        match space_distribution(study, name) {
            Some(known) => known
                .check_compatible(distribution)
                .map_err(|reason| Error::invalid(name, reason))?,
            None => {
                self.store
                    .grow_search_space(&study.id, name, distribution_json(distribution))
                    .await?;
                // The study asks sample from changed: they read it again.
                self.study_histories.forget_view(&study.id);
            }
        }
        Ok(value)
    }

    /// Creates a trial of the study (and its run): running, or as the template says.
    pub async fn create_trial(
        &self,
        actor: &Actor,
        study: &StudyRecord,
        template: Option<TrialTemplate>,
    ) -> Result<TrialRecord> {
        self.authorize(actor, EntityKind::Study, &study.id).await?;
        let now = Timestamp::now();
        let template = template.unwrap_or(TrialTemplate {
            state: TrialState::Running,
            values: None,
            started_at: Some(now),
            finished_at: None,
            params: BTreeMap::new(),
            intermediate: BTreeMap::new(),
            user_attrs: BTreeMap::new(),
            system_attrs: BTreeMap::new(),
        });
        check_values(study, template.state, &template.values)?;
        for (key, value) in template.user_attrs.iter().chain(&template.system_attrs) {
            check_attr(key, value)?;
        }
        let mut params = BTreeMap::new();
        let mut distributions = BTreeMap::new();
        for (name, (internal, distribution)) in &template.params {
            let value = self
                .admit_param(study, name, *internal, distribution)
                .await?;
            params.insert(name.clone(), value);
            distributions.insert(name.clone(), distribution_json(distribution));
        }
        let run = self
            .create_run(
                actor,
                NewRun {
                    experiment_id: study.experiment_id.clone(),
                    status: Some(if template.state == TrialState::Waiting {
                        RunStatus::Scheduled
                    } else {
                        RunStatus::Running
                    }),
                    started_at: template.started_at,
                    tags: [("ets.study_id".to_owned(), study.id.clone())].into(),
                    ..Default::default()
                },
            )
            .await?;
        let trial = self
            .store
            .add_trial(NewTrial {
                id: ets_domain::new_id(),
                study_id: study.id.clone(),
                run_id: Some(run.id.clone()),
                state: template.state,
                params: params.clone(),
                distributions,
                values: template.values.clone(),
                intermediate: template.intermediate.clone(),
                created_at: now,
                started_at: template.started_at,
                finished_at: template
                    .state
                    .is_finished()
                    .then(|| template.finished_at.unwrap_or(now)),
                user_attrs: template.user_attrs,
                system_attrs: template.system_attrs,
            })
            .await?;
        let mut batch = RunBatch {
            params: super::studies::run_params(&params),
            tags: [trial_number_tag(trial.number)].into(),
            ..Default::default()
        };
        batch.metrics = super::studies::intermediate_metrics(&trial.intermediate);
        self.log_batch(actor, &run.id, batch).await?;
        if trial.state.is_finished() {
            self.end_trial_run(actor, study, &trial).await?;
        }
        Ok(trial)
    }

    /// Sets one param of a trial that is not finished (also its run's param).
    pub async fn set_trial_param(
        &self,
        actor: &Actor,
        trial_id: &str,
        name: &str,
        internal: f64,
        distribution: Distribution,
    ) -> Result<()> {
        self.authorize(actor, EntityKind::Trial, trial_id).await?;
        let trial = self.store.get_trial(trial_id).await?;
        if trial.state.is_finished() {
            return Err(crate::store::studies::trial_not_running(
                trial_id,
                trial.state,
                "take params",
            ));
        }
        let study = self.store.get_study(&trial.study_id).await?;
        let value = self
            .admit_param(&study, name, internal, &distribution)
            .await?;
        self.store
            .set_trial_param(
                trial_id,
                name,
                value.clone(),
                distribution_json(&distribution),
            )
            .await?;
        if let Some(run_id) = &trial.run_id {
            self.log_batch(
                actor,
                run_id,
                RunBatch {
                    params: super::studies::run_params(&[(name.to_owned(), value)].into()),
                    ..Default::default()
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Moves a trial as Optuna's storages do; `false` when asked to run a trial another
    /// worker claimed. A finished trial ends its run (with its values as `value` metrics).
    pub async fn set_trial_state(
        &self,
        actor: &Actor,
        trial_id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
    ) -> Result<bool> {
        self.authorize(actor, EntityKind::Trial, trial_id).await?;
        let trial = self.store.get_trial(trial_id).await?;
        let study = self.store.get_study(&trial.study_id).await?;
        check_values(&study, state, &values)?;
        if state.is_finished() {
            self.finish_trial_and_run(&study, &trial, state, values)
                .await?;
            return Ok(true);
        }
        let Some(moved) = self
            .store
            .set_trial_state(trial_id, state, values, Timestamp::now())
            .await?
        else {
            return Ok(false);
        };
        // Claimed (waiting → running): its run starts.
        if let Some(run_id) = &moved.run_id
            && trial.state == TrialState::Waiting
        {
            self.update_run_state(
                actor,
                run_id,
                RunStateChange {
                    status: Some(RunStatus::Running),
                    ..Default::default()
                },
            )
            .await?;
        }
        Ok(true)
    }

    /// Moves a trial (`trial`, as read before) to its final `state` and ends its run — the
    /// trial's values as `value` metrics, the run's status — in one transaction: what
    /// [`Services::end_trial_run`] does after the trial's own change, without the round trips
    /// of three writes. The trial authorizes the run (they are in one project).
    pub(super) async fn finish_trial_and_run(
        &self,
        study: &StudyRecord,
        trial: &TrialRecord,
        state: TrialState,
        values: Option<Vec<f64>>,
    ) -> Result<TrialRecord> {
        debug_assert!(state.is_finished());
        let now = Timestamp::now();
        let run = match &trial.run_id {
            None => None,
            Some(run_id) => {
                // The values the trial keeps: the ones told, or (a final state without
                // values) those it had, which nothing changes while it is running.
                let kept = values.as_ref().or(trial.values.as_ref());
                let metrics = kept
                    .map(|v| super::studies::value_metrics(study, v))
                    .unwrap_or_default();
                Some(TrialRunEnd {
                    run_id: run_id.clone(),
                    points: self.group_points(metrics, now.millis())?,
                    mutation: super::runs::state_change(Some(run_status_of(state)), None, None),
                })
            }
        };
        let live = run
            .as_ref()
            .and_then(|end| self.live.prepare_metrics(&end.points));
        let (finished, ended) = self
            .store
            .tell_trial(&trial.id, state, values, now, run)
            .await?;
        // The samplers' history of this instance follows its own tells without a read.
        self.study_histories.stored(&finished);
        if let Some((run, written)) = ended {
            metrics::counter!("ets_metric_points_ingested_total").increment(written as u64);
            if written > 0 {
                self.metrics_stored(&run.id, live);
            }
            self.run_status_changed(&run);
        }
        Ok(finished)
    }

    /// Logs a finished trial's values on its run and ends the run.
    pub(super) async fn end_trial_run(
        &self,
        actor: &Actor,
        study: &StudyRecord,
        trial: &TrialRecord,
    ) -> Result<()> {
        let Some(run_id) = &trial.run_id else {
            return Ok(());
        };
        if let Some(values) = &trial.values {
            let metrics = super::studies::value_metrics(study, values);
            if !metrics.is_empty() {
                self.log_batch(
                    actor,
                    run_id,
                    RunBatch {
                        metrics,
                        ..Default::default()
                    },
                )
                .await?;
            }
        }
        self.update_run_state(
            actor,
            run_id,
            RunStateChange {
                status: Some(run_status_of(trial.state)),
                ..Default::default()
            },
        )
        .await?;
        Ok(())
    }

    pub async fn set_trial_attr(
        &self,
        actor: &Actor,
        trial_id: &str,
        kind: AttrKind,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.authorize(actor, EntityKind::Trial, trial_id).await?;
        check_attr(key, value)?;
        self.store.set_trial_attr(trial_id, kind, key, value).await
    }
}
