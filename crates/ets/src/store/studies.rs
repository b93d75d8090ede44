//! Rows of `studies`, `trials` and `trial_intermediate_values` (migration 15) and their SQL,
//! written once for both backends. The trial state machine is enforced here, in the one
//! statement that finishes a trial (`WHERE state = 'running'`), so two workers telling the
//! same trial cannot both succeed.

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
}

/// Where a trial is in its life: `running` until told, then one of the others, for good.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    Running,
    Complete,
    Pruned,
    Failed,
}

impl TrialState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<TrialState> {
        Some(match text {
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "pruned" => TrialState::Pruned,
            "failed" => TrialState::Failed,
            _ => return None,
        })
    }
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
    /// One per objective, for complete trials.
    pub values: Option<Vec<f64>>,
    /// Step → reported value (NaN kept).
    pub intermediate: BTreeMap<i64, f64>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// What refuses a change to a trial that is no longer running (HTTP 409).
pub fn trial_not_running(id: &str, state: TrialState, doing: &str) -> Error {
    Error::Conflict(format!(
        "trial '{id}' is {}: a trial can {doing} only while it is running",
        state.as_str()
    ))
}

pub fn study_name_taken(study: &StudyRecord) -> Error {
    Error::AlreadyExists {
        entity: EntityKind::Study,
        name: study.name.clone(),
        scope: format!(" in experiment '{}'", study.experiment_id),
    }
}

const STUDY_COLUMNS: &str =
    "id, experiment_id, name, directions, search_space, sampler, pruner, seed, created_at";
const TRIAL_COLUMNS: &str =
    "id, study_id, number, run_id, state, params, objective_values, created_at, finished_at";

pub(crate) const INSERT_STUDY: &str = "INSERT INTO studies (id, experiment_id, name, directions, \
     search_space, sampler, pruner, seed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) fn get_study() -> String {
    format!("SELECT {STUDY_COLUMNS} FROM studies WHERE id = $1")
}

pub(crate) fn studies_of_experiment() -> String {
    format!("SELECT {STUDY_COLUMNS} FROM studies WHERE experiment_id = $1 ORDER BY created_at, id")
}

/// A new running trial numbered after the study's last one: `$1` id, `$2` study, `$3` run,
/// `$4` params, `$5` created at. (Concurrent asks are serialized by the caller: SQLite has one
/// writer, PostgreSQL locks the study row first.)
pub(crate) const INSERT_TRIAL: &str = "INSERT INTO trials (id, study_id, number, run_id, state, params, \
     created_at) VALUES ($1, $2, (SELECT COALESCE(MAX(number), -1) + 1 FROM trials WHERE study_id = $2), \
     $3, 'running', $4, $5)";

pub(crate) fn get_trial() -> String {
    format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE id = $1")
}

pub(crate) fn trials_of_study() -> String {
    format!("SELECT {TRIAL_COLUMNS} FROM trials WHERE study_id = $1 ORDER BY number")
}

/// Sets the params of a running trial once it is numbered: `$1` id, `$2` params.
pub(crate) const SET_TRIAL_PARAMS: &str =
    "UPDATE trials SET params = $2 WHERE id = $1 AND state = 'running'";

/// Every intermediate value of a study's trials, by trial and step.
pub(crate) const INTERMEDIATE_OF_STUDY: &str = "SELECT v.trial_id, v.step, v.value FROM \
     trial_intermediate_values v JOIN trials t ON t.id = v.trial_id WHERE t.study_id = $1 \
     ORDER BY v.trial_id, v.step";
pub(crate) const INTERMEDIATE_OF_TRIAL: &str =
    "SELECT trial_id, step, value FROM trial_intermediate_values WHERE trial_id = $1 ORDER BY step";

/// Finishes a running trial: `$1` id, `$2` state, `$3` values, `$4` finished at. Changes
/// nothing (0 rows) when the trial is not running.
pub(crate) const FINISH_TRIAL: &str = "UPDATE trials SET state = $2, objective_values = $3, \
     finished_at = $4 WHERE id = $1 AND state = 'running'";

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
    })
}

pub(crate) fn trial_row<R: RowRead>(row: &R) -> Result<TrialRecord, R::Error> {
    Ok(TrialRecord {
        id: row.text(0)?,
        study_id: row.text(1)?,
        number: row.int(2)?,
        run_id: row.opt_text(3)?,
        // The column's CHECK admits only the four states.
        state: TrialState::parse(&row.text(4)?).unwrap_or(TrialState::Failed),
        params: row.json(5)?,
        values: row.opt_json(6)?,
        intermediate: BTreeMap::new(),
        created_at: row.timestamp(7)?,
        finished_at: row.opt_timestamp(8)?,
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
