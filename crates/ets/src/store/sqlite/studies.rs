//! Studies and trials in SQLite (SQL, rows and the trial state rule: `store::studies`).

use ets_domain::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::sql::{is_unique_violation, numbered, to_json};
use crate::error::{EntityKind, Error, Result};
use crate::store::studies::{
    self as q, AttrKind, AttrRecord, NewTrial, StudyRecord, TrialRecord, TrialState,
};

pub(super) fn insert_study(conn: &Connection, study: &StudyRecord) -> Result<StudyRecord> {
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
    get_study(conn, &study.id)
}

pub(super) fn get_study(conn: &Connection, id: &str) -> Result<StudyRecord> {
    conn.prepare_cached(&numbered(&q::get_study()))?
        .query_row([id], |r| q::study_row(r))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Study, id))
}

pub(super) fn study_by_seq(conn: &Connection, seq: i64) -> Result<StudyRecord> {
    conn.prepare_cached(&numbered(&q::study_by_seq()))?
        .query_row([seq], |r| q::study_row(r))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Study, seq.to_string()))
}

pub(super) fn studies(conn: &Connection, experiment_id: &str) -> Result<Vec<StudyRecord>> {
    Ok(conn
        .prepare_cached(&numbered(&q::studies_of_experiment()))?
        .query_map([experiment_id], |r| q::study_row(r))?
        .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn project_studies(conn: &Connection, project_id: &str) -> Result<Vec<StudyRecord>> {
    Ok(conn
        .prepare_cached(&numbered(&q::studies_of_project()))?
        .query_map([project_id], |r| q::study_row(r))?
        .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn delete_study(conn: &Connection, id: &str) -> Result<()> {
    let changed = conn
        .prepare_cached(&numbered(q::DELETE_STUDY))?
        .execute([id])?;
    if changed == 0 {
        return Err(Error::not_found(EntityKind::Study, id));
    }
    Ok(())
}

pub(super) fn set_study_attr(
    conn: &Connection,
    study_id: &str,
    kind: AttrKind,
    key: &str,
    value: &str,
) -> Result<()> {
    get_study(conn, study_id)?;
    conn.prepare_cached(&numbered(q::UPSERT_STUDY_ATTR))?
        .execute(params![study_id, kind.as_str(), key, value])?;
    Ok(())
}

/// Study attributes by `sql` (`STUDY_ATTRS` or `PROJECT_STUDY_ATTRS`) for `key`.
pub(super) fn study_attrs(conn: &Connection, sql: &str, key: &str) -> Result<Vec<AttrRecord>> {
    Ok(conn
        .prepare_cached(&numbered(sql))?
        .query_map([key], |r| q::attr_row(r))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Adds the parameter to the study's search space unless it has one of that name.
pub(super) fn grow_search_space(
    conn: &Connection,
    study_id: &str,
    name: &str,
    distribution: &Value,
) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE studies SET search_space = \
             json_insert(search_space, '$.' || json_quote(?2), json(?3)) WHERE id = ?1",
        )?
        .execute(params![study_id, name, to_json(distribution)])?;
    if changed == 0 {
        return Err(Error::not_found(EntityKind::Study, study_id));
    }
    Ok(())
}

pub(super) fn add_trial(conn: &Connection, trial: NewTrial) -> Result<TrialRecord> {
    // The writer runs this in one transaction.
    get_study(conn, &trial.study_id)?;
    let number: i64 = conn.prepare_cached(&numbered(q::INSERT_TRIAL))?.query_row(
        params![
            trial.id,
            trial.study_id,
            trial.run_id,
            trial.state.as_str(),
            to_json(&trial.params),
            to_json(&trial.distributions),
            trial
                .values
                .as_deref()
                .map(|v| to_json(&q::values_to_json(v))),
            trial.created_at.millis(),
            trial.started_at.map(Timestamp::millis),
            trial.finished_at.map(Timestamp::millis),
        ],
        |r| r.get(0),
    )?;
    let mut insert_value = conn.prepare_cached(&numbered(q::INSERT_INTERMEDIATE))?;
    for (step, value) in &trial.intermediate {
        insert_value.execute(params![trial.id, step, (!value.is_nan()).then_some(*value)])?;
    }
    let mut insert_attr = conn.prepare_cached(&numbered(q::INSERT_TRIAL_ATTR))?;
    for (kind, attrs) in [
        (AttrKind::User, &trial.user_attrs),
        (AttrKind::System, &trial.system_attrs),
    ] {
        for (key, value) in attrs {
            insert_attr.execute(params![trial.id, kind.as_str(), key, value])?;
        }
    }
    drop((insert_value, insert_attr));
    Ok(q::inserted(trial, number))
}

/// Refuses (`studies::trials_changed`) when the study's trials from `seen.from` up to
/// `number` are not the ones of `seen` (the writer runs this in the ask's transaction).
pub(super) fn check_open_trials(
    conn: &Connection,
    seen: &q::OpenTrials,
    study_id: &str,
    number: i64,
) -> Result<()> {
    let stored: String = conn
        .prepare_cached(&format!(
            "SELECT {}",
            q::open_trials_stamp("?1", "?2", "?3")
        ))?
        .query_row(params![study_id, seen.from, number], |r| r.get(0))?;
    q::check_open_trials(seen, &stored, study_id, number)
}

/// Sets one param (and its distribution) of a trial that is not finished.
pub(super) fn set_param(
    conn: &Connection,
    id: &str,
    name: &str,
    value: &Value,
    distribution: &Value,
) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE trials SET \
             params = json_set(params, '$.' || json_quote(?2), json(?3)), \
             distributions = json_set(distributions, '$.' || json_quote(?2), json(?4)) \
             WHERE id = ?1 AND state IN ('waiting', 'running')",
        )?
        .execute(params![id, name, to_json(value), to_json(distribution)])?;
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
    let attrs = conn
        .prepare_cached(&numbered(q::TRIAL_ATTRS))?
        .query_map([id], |r| q::attr_row(r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    q::attach_attrs(std::slice::from_mut(&mut trial), attrs);
    Ok(trial)
}

pub(super) fn trial_by_number(
    conn: &Connection,
    study_id: &str,
    number: i64,
) -> Result<TrialRecord> {
    let id: String = conn
        .prepare_cached(&numbered(q::TRIAL_BY_NUMBER))?
        .query_row(params![study_id, number], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Trial, format!("{study_id}#{number}")))?;
    get_trial(conn, &id)
}

/// The study's trials numbered above `after`, with their values and attributes.
pub(super) fn trials(
    conn: &Connection,
    study_id: &str,
    after: i64,
) -> Result<(StudyRecord, Vec<TrialRecord>)> {
    let study = get_study(conn, study_id)?;
    let sqls = [
        &q::trials_of_study(),
        q::INTERMEDIATE_OF_STUDY,
        q::TRIAL_ATTRS_OF_STUDY,
    ];
    Ok((study, trials_with_details(conn, sqls, study_id, after)?))
}

/// [`crate::store::Store::experiment_trials`] (call inside a read transaction).
pub(super) fn experiment_trials(
    conn: &Connection,
    experiment_id: &str,
) -> Result<Vec<(StudyRecord, Vec<TrialRecord>)>> {
    let sqls = [
        &q::trials_of_experiment(),
        q::INTERMEDIATE_OF_EXPERIMENT,
        q::TRIAL_ATTRS_OF_EXPERIMENT,
    ];
    let trials = trials_with_details(conn, sqls, experiment_id, -1)?;
    Ok(q::by_study(studies(conn, experiment_id)?, trials))
}

/// Trials with their intermediate values and attributes: `sqls` reads the trials, their values
/// and their attributes, each with `$1` the owner (a study or an experiment) and `$2` the
/// number the trials come after.
fn trials_with_details(
    conn: &Connection,
    [trials_sql, values_sql, attrs_sql]: [&str; 3],
    owner: &str,
    after: i64,
) -> Result<Vec<TrialRecord>> {
    let mut trials = conn
        .prepare_cached(&numbered(trials_sql))?
        .query_map(params![owner, after], |r| q::trial_row(r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let values = conn
        .prepare_cached(&numbered(values_sql))?
        .query_map(params![owner, after], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    q::attach_intermediate(&mut trials, values);
    let attrs = conn
        .prepare_cached(&numbered(attrs_sql))?
        .query_map(params![owner, after], |r| q::attr_row(r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    q::attach_attrs(&mut trials, attrs);
    Ok(trials)
}

/// Optuna's state change; `Ok(None)` when a running trial was asked to run (not claimed).
pub(super) fn set_trial_state(
    conn: &Connection,
    id: &str,
    state: TrialState,
    values: Option<&[f64]>,
    at: Timestamp,
) -> Result<Option<TrialRecord>> {
    let changed = conn
        .prepare_cached(&numbered(q::SET_TRIAL_STATE))?
        .execute(params![
            id,
            state.as_str(),
            values.map(|v| to_json(&q::values_to_json(v))),
            at.millis()
        ])?;
    let trial = get_trial(conn, id)?;
    if changed == 0 {
        return match q::state_refusal(&trial, state) {
            Some(e) => Err(e),
            None => Ok(None),
        };
    }
    Ok(Some(trial))
}

pub(super) fn set_trial_attr(
    conn: &Connection,
    id: &str,
    kind: AttrKind,
    key: &str,
    value: &str,
) -> Result<()> {
    let changed = conn
        .prepare_cached(&numbered(q::UPSERT_TRIAL_ATTR))?
        .execute(params![id, kind.as_str(), key, value])?;
    if changed == 0 {
        let trial = get_trial(conn, id)?;
        return Err(q::trial_not_running(id, trial.state, "change"));
    }
    Ok(())
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
