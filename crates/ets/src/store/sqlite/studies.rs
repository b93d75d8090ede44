//! Studies and trials in SQLite (SQL, rows and the trial state rule: `store::studies`).

use std::collections::BTreeMap;

use ets_domain::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::sql::{is_unique_violation, numbered, to_json};
use crate::error::{EntityKind, Error, Result};
use crate::store::studies::{self as q, StudyRecord, TrialRecord, TrialState};

pub(super) fn insert_study(conn: &Connection, study: &StudyRecord) -> Result<()> {
    conn.prepare_cached(&numbered(q::INSERT_STUDY))?
        .execute(params![
            study.id,
            study.experiment_id,
            study.name,
            to_json(&study.directions),
            to_json(&study.search_space),
            to_json(&study.sampler),
            to_json(&study.pruner),
            study.seed,
            study.created_at.millis(),
        ])
        .map_err(|e| {
            if is_unique_violation(&e) {
                q::study_name_taken(study)
            } else {
                e.into()
            }
        })?;
    Ok(())
}

pub(super) fn get_study(conn: &Connection, id: &str) -> Result<StudyRecord> {
    conn.prepare_cached(&numbered(&q::get_study()))?
        .query_row([id], |r| q::study_row(r))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Study, id))
}

pub(super) fn studies(conn: &Connection, experiment_id: &str) -> Result<Vec<StudyRecord>> {
    Ok(conn
        .prepare_cached(&numbered(&q::studies_of_experiment()))?
        .query_map([experiment_id], |r| q::study_row(r))?
        .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn add_trial(
    conn: &Connection,
    id: &str,
    study_id: &str,
    run_id: &str,
    params: &BTreeMap<String, Value>,
    at: Timestamp,
) -> Result<TrialRecord> {
    get_study(conn, study_id)?;
    conn.prepare_cached(&numbered(q::INSERT_TRIAL))?
        .execute(params![id, study_id, run_id, to_json(params), at.millis()])?;
    get_trial(conn, id)
}

pub(super) fn set_params(
    conn: &Connection,
    id: &str,
    params: &BTreeMap<String, Value>,
) -> Result<()> {
    let changed = conn
        .prepare_cached(&numbered(q::SET_TRIAL_PARAMS))?
        .execute(params![id, to_json(params)])?;
    if changed == 0 {
        let trial = get_trial(conn, id)?;
        return Err(q::trial_not_running(id, trial.state, "take params"));
    }
    Ok(())
}

pub(super) fn get_trial(conn: &Connection, id: &str) -> Result<TrialRecord> {
    let mut trial = conn
        .prepare_cached(&numbered(&q::get_trial()))?
        .query_row([id], |r| q::trial_row(r))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Trial, id))?;
    let values = conn
        .prepare_cached(&numbered(q::INTERMEDIATE_OF_TRIAL))?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    q::attach_intermediate(std::slice::from_mut(&mut trial), values);
    Ok(trial)
}

pub(super) fn trials(conn: &Connection, study_id: &str) -> Result<Vec<TrialRecord>> {
    get_study(conn, study_id)?;
    let mut trials = conn
        .prepare_cached(&numbered(&q::trials_of_study()))?
        .query_map([study_id], |r| q::trial_row(r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let values = conn
        .prepare_cached(&numbered(q::INTERMEDIATE_OF_STUDY))?
        .query_map([study_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    q::attach_intermediate(&mut trials, values);
    Ok(trials)
}

pub(super) fn finish_trial(
    conn: &Connection,
    id: &str,
    state: TrialState,
    values: Option<&[f64]>,
    at: Timestamp,
) -> Result<TrialRecord> {
    let changed = conn
        .prepare_cached(&numbered(q::FINISH_TRIAL))?
        .execute(params![
            id,
            state.as_str(),
            values.map(|v| to_json(&v)),
            at.millis()
        ])?;
    let trial = get_trial(conn, id)?;
    if changed == 0 {
        return Err(q::trial_not_running(id, trial.state, "be finished"));
    }
    Ok(trial)
}

pub(super) fn report_value(conn: &Connection, id: &str, step: i64, value: f64) -> Result<()> {
    let stored = (!value.is_nan()).then_some(value);
    let changed = conn
        .prepare_cached(&numbered(&q::report_value("excluded.value")))?
        .execute(params![id, step, stored])?;
    if changed == 0 {
        let trial = get_trial(conn, id)?;
        return Err(q::trial_not_running(id, trial.state, "report values"));
    }
    Ok(())
}
