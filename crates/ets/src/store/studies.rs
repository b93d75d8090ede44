//! Rows of `studies`, `trials`, `trial_intermediate_values` and the attribute tables
//! (migrations 15, 16) and their SQL, written once for both backends. The trial state machine
//! is enforced here, in the statements that change a trial (`WHERE state IN (...)`), so two
//! workers telling the same trial cannot both succeed and a waiting trial is claimed once.

use std::collections::BTreeMap;

use ets_domain::Timestamp;
use serde_json::Value;

use super::rows::RowRead;
use crate::error::{EntityKind, Error};

/// A study as stored. The search space, sampler and pruner are JSON documents, checked by
/// the service before they are written.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyRecord {
    pub id: String,
    pub experiment_id: String,
    pub name: String,
    /// `minimize` / `maximize`, one per objective.
    pub directions: Vec<String>,
    pub search_space: Value,
    pub sampler: Value,
    pub pruner: Value,
    pub seed: Option<i64>,
    pub created_at: Timestamp,
    /// The study's number (1, 2, …; 0 before it is stored): Optuna's integer study id.
    pub seq: i64,
}

/// Where a trial is in its life: `waiting` (enqueued through Optuna) until a worker claims
/// it, `running` until told, then one of the others, for good.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    Waiting,
    Running,
    Complete,
    Pruned,
    Failed,
}

impl TrialState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Waiting => "waiting",
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<TrialState> {
        Some(match text {
            "waiting" => TrialState::Waiting,
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "pruned" => TrialState::Pruned,
            "failed" => TrialState::Failed,
            _ => return None,
        })
    }

    /// Complete, pruned or failed: no more changes.
    pub fn is_finished(self) -> bool {
        !matches!(self, TrialState::Waiting | TrialState::Running)
    }
}

/// Optuna's two sets of attributes on studies and trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    User,
    System,
}

impl AttrKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrKind::User => "user",
            AttrKind::System => "system",
        }
    }
}

/// One attribute of a study or trial (`owner` is its id); the value is a JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrRecord {
    pub owner: String,
    pub kind: AttrKind,
    pub key: String,
    pub value: String,
}

/// A trial as stored, with its intermediate values when read with them.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRecord {
    pub id: String,
    pub study_id: String,
    /// 0, 1, 2, … in the order trials were asked for.
    pub number: i64,
    /// The run that carries the trial (`None` once the run was deleted).
    pub run_id: Option<String>,
    pub state: TrialState,
    pub params: BTreeMap<String, Value>,
    /// Param → its distribution (`ets_hpo::Distribution` JSON) where the trial chose it
    /// (Optuna's define-by-run); otherwise the study's search space applies.
    pub distributions: BTreeMap<String, Value>,
    /// One per objective (complete trials; pruned ones may carry their last value).
    pub values: Option<Vec<f64>>,
    /// Step → reported value (NaN kept).
    pub intermediate: BTreeMap<i64, f64>,
    pub created_at: Timestamp,
    /// When it began running (`None` while waiting).
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Optuna's attributes (JSON texts) when read with them.
    pub user_attrs: BTreeMap<String, String>,
    pub system_attrs: BTreeMap<String, String>,
}

/// How a trial's run ends with the trial ([`crate::store::Store::tell_trial`]): the points
/// logged on it (the trial's values, as `log_batch`), then the change of its state (as
/// `update_run`).
pub struct TrialRunEnd {
    pub run_id: String,
    pub points: Vec<ets_domain::model::SeriesPoints>,
    pub mutation: super::Mutation<ets_domain::model::Run>,
}

/// A trial to record, numbered after the study's last one by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTrial {
    pub id: String,
    pub study_id: String,
    pub run_id: Option<String>,
    pub state: TrialState,
    pub params: BTreeMap<String, Value>,
    pub distributions: BTreeMap<String, Value>,
    pub values: Option<Vec<f64>>,
    pub intermediate: BTreeMap<i64, f64>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub user_attrs: BTreeMap<String, String>,
    pub system_attrs: BTreeMap<String, String>,
}

impl NewTrial {
    /// A running trial without params yet (a native ask).
    pub fn running(id: String, study_id: &str, run_id: &str, at: Timestamp) -> NewTrial {
        NewTrial {
            id,
            study_id: study_id.to_owned(),
            run_id: Some(run_id.to_owned()),
            state: TrialState::Running,
            params: BTreeMap::new(),
            distributions: BTreeMap::new(),
            values: None,
            intermediate: BTreeMap::new(),
            created_at: at,
            started_at: Some(at),
            finished_at: None,
            user_attrs: BTreeMap::new(),
            system_attrs: BTreeMap::new(),
        }
    }
}

/// Objective values as stored: JSON numbers, with the non-finite ones (which Optuna keeps,
/// and JSON has no numbers for) as the strings `inf`, `-inf` and `nan`.
pub fn values_to_json(values: &[f64]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|v| match serde_json::Number::from_f64(*v) {
                Some(n) => Value::Number(n),
                None if v.is_nan() => Value::from("nan"),
                None if *v > 0.0 => Value::from("inf"),
                None => Value::from("-inf"),
            })
            .collect(),
    )
}

fn values_from_json(doc: Value) -> Vec<f64> {
    let Value::Array(items) = doc else {
        return Vec::new();
    };
    items
        .iter()
        .map(|v| match v {
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            Value::String(s) if s == "inf" => f64::INFINITY,
            Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
            _ => f64::NAN,
        })
        .collect()
}

/// What refuses a change to a trial that is no longer running (HTTP 409).
pub fn trial_not_running(id: &str, state: TrialState, doing: &str) -> Error {
    Error::Conflict(format!(
        "trial '{id}' is {}: a trial can {doing} only while it is running",
        state.as_str()
    ))
}

/// What refuses a native ask's trial when its study has the number it was sampled for
/// already (another ask took it first): nothing was written, and the ask samples again.
pub fn trial_number_taken(study_id: &str, number: i64) -> Error {
    Error::AlreadyExists {
        entity: EntityKind::Trial,
        name: format!("#{number}"),
        scope: format!(" in study '{study_id}'"),
    }
}

/// What an ask sampled from without reading the study first: this instance's view of the
/// trials that were not final when last read (from number `from` on), with their states as
/// stored. Numbers only grow and states only move forward, so the view is current exactly
/// when the study's trials from `from` up to the new one have these numbers and states;
/// `Store::start_trial` checks that in the transaction that writes the ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTrials {
    pub from: i64,
    pub trials: Vec<(i64, TrialState)>,
}

impl OpenTrials {
    /// The view as [`open_trials_stamp`] writes the stored trials: `number:state`, by
    /// number, comma-separated.
    pub fn stamp(&self) -> String {
        let mut stamp = String::new();
        for (i, (number, state)) in self.trials.iter().enumerate() {
            if i > 0 {
                stamp.push(',');
            }
            stamp.push_str(&format!("{number}:{}", state.as_str()));
        }
        stamp
    }
}

/// The stamp of study `study`'s trials numbered from `from` up to (not including) `below`,
/// as [`OpenTrials::stamp`] writes a view (SQL expressions or placeholders; the same SQL on
/// both backends: SQLite ≥ 3.44 orders within `string_agg` as PostgreSQL does).
pub(crate) fn open_trials_stamp(study: &str, from: &str, below: &str) -> String {
    format!(
        "(SELECT coalesce(string_agg(o.number || ':' || o.state, ',' ORDER BY o.number), '') \
         FROM trials o WHERE o.study_id = {study} AND o.number >= {from} AND o.number < {below})"
    )
}

/// What refuses an ask sampled from a view of the study that is no longer current (another
/// instance asked or told since): nothing was written, and the ask reads and samples again.
pub fn trials_changed(study_id: &str, number: i64) -> Error {
    Error::AlreadyExists {
        entity: EntityKind::Trial,
        name: format!("#{number}"),
        scope: format!(" in study '{study_id}' (its trials changed since they were read)"),
    }
}

/// An ask's view of the study is the stored one (`stored`: [`open_trials_stamp`]'s answer).
pub(crate) fn check_open_trials(
    seen: &OpenTrials,
    stored: &str,
    study_id: &str,
    number: i64,
) -> Result<(), Error> {
    if seen.stamp() == stored {
        Ok(())
    } else {
        Err(trials_changed(study_id, number))
    }
}

/// The number a started trial took is the one it was sampled for (see `Store::start_trial`).
pub(crate) fn check_trial_number(trial: &TrialRecord, sampled_for: i64) -> Result<(), Error> {
    if trial.number == sampled_for {
        Ok(())
    } else {
        Err(trial_number_taken(&trial.study_id, sampled_for))
    }
}

pub fn study_name_taken(study: &StudyRecord) -> Error {
    Error::AlreadyExists {
        entity: EntityKind::Study,
        name: study.name.clone(),
        scope: format!(" in experiment '{}'", study.experiment_id),
    }
}

const STUDY_COLUMNS: &str =
    "id, experiment_id, name, directions, search_space, sampler, pruner, seed, created_at, seq";
const TRIAL_COLUMNS: &str = "id, study_id, number, run_id, state, params, objective_values, \
     created_at, finished_at, distributions, started_at";

pub(crate) const INSERT_STUDY: &str = "INSERT INTO studies (id, experiment_id, name, directions, \
     search_space, sampler, pruner, seed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) fn get_study() -> String {
    format!("SELECT {STUDY_COLUMNS} FROM studies WHERE id = $1")
}

/// The study of trial `$1`.
pub(crate) fn study_of_trial() -> String {
    format!(
        "SELECT {STUDY_COLUMNS} FROM studies WHERE id = (SELECT study_id FROM trials WHERE id = $1)"
    )
}

pub(crate) fn studies_of_experiment() -> String {
    format!("SELECT {STUDY_COLUMNS} FROM studies WHERE experiment_id = $1 ORDER BY created_at, id")
}

pub(crate) fn study_by_seq() -> String {
    format!("SELECT {STUDY_COLUMNS} FROM studies WHERE seq = $1")
}

/// The studies of a project's experiments (in the trash or not), by number.
pub(crate) fn studies_of_project() -> String {
    format!(
        "SELECT {} FROM studies s JOIN experiments e ON e.id = s.experiment_id \
         WHERE e.project_id = $1 ORDER BY s.seq",
        STUDY_COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub(crate) const DELETE_STUDY: &str = "DELETE FROM studies WHERE id = $1";

/// A new trial numbered after the study's last one: `$1` id, `$2` study, `$3` run, `$4` state,
/// `$5` params, `$6` distributions, `$7` values, `$8` created, `$9` started, `$10` finished;
/// returns the number. (Concurrent inserts are serialized by the caller: SQLite has one
/// writer, PostgreSQL locks the study row first.)
pub(crate) const INSERT_TRIAL: &str = "INSERT INTO trials (id, study_id, number, run_id, state, params, \
     distributions, objective_values, created_at, started_at, finished_at) VALUES ($1, $2, \
     (SELECT COALESCE(MAX(number), -1) + 1 FROM trials WHERE study_id = $2), $3, $4, $5, $6, $7, $8, \
     $9, $10) RETURNING number";

pub(crate) const INSERT_INTERMEDIATE: &str =
    "INSERT INTO trial_intermediate_values (trial_id, step, value) VALUES ($1, $2, $3)";

pub(crate) fn get_trial() -> String {
    format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE id = $1")
}

pub(crate) const TRIAL_BY_NUMBER: &str =
    "SELECT id FROM trials WHERE study_id = $1 AND number = $2";

/// The study's trials numbered above `$2`, by number.
pub(crate) fn trials_of_study() -> String {
    format!(
        "SELECT {TRIAL_COLUMNS} FROM trials WHERE study_id = $1 AND number > $2 ORDER BY number"
    )
}

/// The trials of an experiment's studies numbered above `$2`, by study and number.
pub(crate) fn trials_of_experiment() -> String {
    format!(
        "SELECT {TRIAL_COLUMNS} FROM trials WHERE study_id IN \
         (SELECT id FROM studies WHERE experiment_id = $1) AND number > $2 ORDER BY study_id, number"
    )
}

/// Moves a trial on as Optuna's storages do: `$1` id, `$2` state, `$3` values (kept when
/// NULL), `$4` now. Running is reached from waiting only (a worker claims an enqueued trial
/// once); nothing changes a finished trial.
pub(crate) const SET_TRIAL_STATE: &str = "UPDATE trials SET state = $2, \
     objective_values = COALESCE($3, objective_values), \
     started_at = CASE WHEN $2 = 'running' THEN $4 ELSE started_at END, \
     finished_at = CASE WHEN $2 IN ('complete', 'pruned', 'failed') THEN $4 ELSE NULL END \
     WHERE id = $1 AND state IN ('waiting', 'running') AND ($2 <> 'running' OR state = 'waiting')";

/// Sets an attribute: `$1` owner, `$2` kind, `$3` key, `$4` JSON text.
pub(crate) const UPSERT_STUDY_ATTR: &str = "INSERT INTO study_attrs (study_id, kind, key, value) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (study_id, kind, key) DO UPDATE SET value = excluded.value";
/// The same on a trial that is not finished (inserts nothing on a finished one).
pub(crate) const UPSERT_TRIAL_ATTR: &str = "INSERT INTO trial_attrs (trial_id, kind, key, value) \
     SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT) \
     WHERE EXISTS (SELECT 1 FROM trials WHERE id = $1 AND state IN ('waiting', 'running')) \
     ON CONFLICT (trial_id, kind, key) DO UPDATE SET value = excluded.value";
/// Attributes of a trial being created (no state check).
pub(crate) const INSERT_TRIAL_ATTR: &str =
    "INSERT INTO trial_attrs (trial_id, kind, key, value) VALUES ($1, $2, $3, $4)";
pub(crate) const STUDY_ATTRS: &str =
    "SELECT study_id, kind, key, value FROM study_attrs WHERE study_id = $1";
/// The attributes of every study of a project's experiments.
pub(crate) const PROJECT_STUDY_ATTRS: &str = "SELECT a.study_id, a.kind, a.key, a.value \
     FROM study_attrs a JOIN studies s ON s.id = a.study_id \
     JOIN experiments e ON e.id = s.experiment_id WHERE e.project_id = $1";
/// Attributes of a study's trials numbered above `$2`.
pub(crate) const TRIAL_ATTRS_OF_STUDY: &str = "SELECT a.trial_id, a.kind, a.key, a.value \
     FROM trial_attrs a JOIN trials t ON t.id = a.trial_id WHERE t.study_id = $1 AND t.number > $2";

/// Attributes of the trials of an experiment's studies numbered above `$2`.
pub(crate) const TRIAL_ATTRS_OF_EXPERIMENT: &str = "SELECT a.trial_id, a.kind, a.key, a.value \
     FROM trial_attrs a JOIN trials t ON t.id = a.trial_id WHERE t.study_id IN \
     (SELECT id FROM studies WHERE experiment_id = $1) AND t.number > $2";

pub(crate) const TRIAL_ATTRS: &str =
    "SELECT trial_id, kind, key, value FROM trial_attrs WHERE trial_id = $1";

/// The intermediate values of a study's trials numbered above `$2`, by trial and step.
pub(crate) const INTERMEDIATE_OF_STUDY: &str = "SELECT v.trial_id, v.step, v.value FROM \
     trial_intermediate_values v JOIN trials t ON t.id = v.trial_id WHERE t.study_id = $1 \
     AND t.number > $2 ORDER BY v.trial_id, v.step";
/// The intermediate values of the trials of an experiment's studies numbered above `$2`, by
/// trial and step.
pub(crate) const INTERMEDIATE_OF_EXPERIMENT: &str = "SELECT v.trial_id, v.step, v.value FROM \
     trial_intermediate_values v JOIN trials t ON t.id = v.trial_id WHERE t.study_id IN \
     (SELECT id FROM studies WHERE experiment_id = $1) AND t.number > $2 ORDER BY v.trial_id, v.step";
pub(crate) const INTERMEDIATE_OF_TRIAL: &str =
    "SELECT trial_id, step, value FROM trial_intermediate_values WHERE trial_id = $1 ORDER BY step";

/// Records (or replaces) an intermediate value of a running trial: `$1` trial, `$2` step,
/// `$3` value. Inserts nothing when the trial is not running.
pub(crate) fn report_value(upsert_value: &str) -> String {
    format!(
        "INSERT INTO trial_intermediate_values (trial_id, step, value) SELECT CAST($1 AS TEXT), \
         CAST($2 AS BIGINT), CAST($3 AS DOUBLE PRECISION) \
         WHERE EXISTS (SELECT 1 FROM trials WHERE id = $1 AND state = 'running') \
         ON CONFLICT (trial_id, step) DO UPDATE SET value = {upsert_value}"
    )
}

pub(crate) fn study_row<R: RowRead>(row: &R) -> Result<StudyRecord, R::Error> {
    Ok(StudyRecord {
        id: row.text(0)?,
        experiment_id: row.text(1)?,
        name: row.text(2)?,
        directions: row.json(3)?,
        search_space: row.json(4)?,
        sampler: row.json(5)?,
        pruner: row.json(6)?,
        seed: row.opt_int(7)?,
        created_at: row.timestamp(8)?,
        seq: row.int(9)?,
    })
}

pub(crate) fn trial_row<R: RowRead>(row: &R) -> Result<TrialRecord, R::Error> {
    Ok(TrialRecord {
        id: row.text(0)?,
        study_id: row.text(1)?,
        number: row.int(2)?,
        run_id: row.opt_text(3)?,
        // The column's CHECK admits only the five states.
        state: TrialState::parse(&row.text(4)?).unwrap_or(TrialState::Failed),
        params: row.json(5)?,
        values: row.opt_json::<Value>(6)?.map(values_from_json),
        intermediate: BTreeMap::new(),
        created_at: row.timestamp(7)?,
        finished_at: row.opt_timestamp(8)?,
        distributions: row.json(9)?,
        started_at: row.opt_timestamp(10)?,
        user_attrs: BTreeMap::new(),
        system_attrs: BTreeMap::new(),
    })
}

/// Puts intermediate values `(trial id, step, value)` (ordered by trial) into their trials.
pub(crate) fn attach_intermediate(
    trials: &mut [TrialRecord],
    values: impl IntoIterator<Item = (String, i64, Option<f64>)>,
) {
    let index: std::collections::HashMap<String, usize> = trials
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.clone(), i))
        .collect();
    for (trial_id, step, value) in values {
        if let Some(&i) = index.get(&trial_id) {
            trials[i]
                .intermediate
                .insert(step, value.unwrap_or(f64::NAN));
        }
    }
}

/// Reads an attribute row `(owner, kind, key, value)`.
pub(crate) fn attr_row<R: RowRead>(row: &R) -> Result<AttrRecord, R::Error> {
    Ok(AttrRecord {
        owner: row.text(0)?,
        kind: if row.text(1)? == "system" {
            AttrKind::System
        } else {
            AttrKind::User
        },
        key: row.text(2)?,
        value: row.text(3)?,
    })
}

/// Puts trial attributes into their trials.
pub(crate) fn attach_attrs(trials: &mut [TrialRecord], attrs: Vec<AttrRecord>) {
    let index: std::collections::HashMap<String, usize> = trials
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.clone(), i))
        .collect();
    for attr in attrs {
        if let Some(&i) = index.get(&attr.owner) {
            let map = match attr.kind {
                AttrKind::User => &mut trials[i].user_attrs,
                AttrKind::System => &mut trials[i].system_attrs,
            };
            map.insert(attr.key, attr.value);
        }
    }
}

/// Each study with its own trials (`trials` of several studies, each study's by number), the
/// studies in their order.
pub(crate) fn by_study(
    studies: Vec<StudyRecord>,
    trials: Vec<TrialRecord>,
) -> Vec<(StudyRecord, Vec<TrialRecord>)> {
    let mut of_study: std::collections::HashMap<String, Vec<TrialRecord>> =
        std::collections::HashMap::with_capacity(studies.len());
    for trial in trials {
        of_study
            .entry(trial.study_id.clone())
            .or_default()
            .push(trial);
    }
    studies
        .into_iter()
        .map(|study| {
            let trials = of_study.remove(&study.id).unwrap_or_default();
            (study, trials)
        })
        .collect()
}

/// The record a freshly inserted trial reads back as (numbered by the store).
pub(crate) fn inserted(trial: NewTrial, number: i64) -> TrialRecord {
    TrialRecord {
        id: trial.id,
        study_id: trial.study_id,
        number,
        run_id: trial.run_id,
        state: trial.state,
        params: trial.params,
        distributions: trial.distributions,
        values: trial.values,
        intermediate: trial.intermediate,
        created_at: trial.created_at,
        started_at: trial.started_at,
        finished_at: trial.finished_at,
        user_attrs: trial.user_attrs,
        system_attrs: trial.system_attrs,
    }
}

/// The run a trial start returns: as it was inserted (a new run has nothing else yet), in
/// the project of its experiment.
pub(crate) fn created_run(
    mut run: ets_domain::model::Run,
    params: &[(String, ets_domain::model::ParamValue)],
    project_id: &str,
) -> ets_domain::model::Run {
    run.project_id = project_id.to_owned();
    run.params = params
        .iter()
        .map(|(key, value)| (key.clone(), value.json.clone()))
        .collect();
    run
}

/// A final state is reached or refused (`Conflict`), never skipped as a claim can be.
pub(crate) fn final_state_skipped() -> Error {
    Error::internal("a final state is reached or refused, never skipped")
}

/// Why a trial could not move to `state` (`SET_TRIAL_STATE` changed nothing): finished
/// (`Conflict`), or `None` when a running trial was asked to run (not claimed: `false`).
pub(crate) fn state_refusal(current: &TrialRecord, state: TrialState) -> Option<Error> {
    if current.state.is_finished() {
        Some(trial_not_running(&current.id, current.state, "change"))
    } else {
        debug_assert_eq!(state, TrialState::Running);
        None
    }
}
