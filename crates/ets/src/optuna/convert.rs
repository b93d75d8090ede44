//! Between Optuna's wire forms and ETS's records: integer ids, states, directions,
//! datetimes, params in the internal representation, and errors as gRPC statuses (the codes
//! Optuna's client turns into `KeyError`, `DuplicatedStudyError`, `UpdateFinishedTrialError`
//! and `ValueError`).

use std::collections::HashMap;

use ets_domain::Timestamp;
use ets_hpo::{Direction, Distribution};
use tonic::Status;

use super::proto;
use crate::error::Error;
use crate::service::study_storage::{TrialTemplate, trial_distribution};
use crate::store::{AttrKind, AttrRecord, StudyRecord, TrialRecord, TrialState};

/// Optuna's datetimes: naive, microseconds (ETS keeps milliseconds, in UTC).
const DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// A trial's integer id: its study's number in the high 32 bits, its own number below, so
/// ids grow with trial numbers within a study (what Optuna's client cache relies on).
pub fn trial_id(study_seq: i64, number: i64) -> i64 {
    (study_seq << 32) | number
}

/// The study number and trial number of an integer trial id.
pub fn split_trial_id(id: i64) -> Option<(i64, i64)> {
    (id >= 0).then_some((id >> 32, id & 0xFFFF_FFFF))
}

pub fn status(error: Error) -> Status {
    let message = error.to_string();
    match error {
        Error::NotFound { .. } => Status::not_found(message),
        Error::AlreadyExists { .. } => Status::already_exists(message),
        Error::Conflict(_) => Status::failed_precondition(message),
        Error::Invalid(_) | Error::InvalidPath(_) | Error::BadRequest(_) => {
            Status::invalid_argument(message)
        }
        Error::LimitExceeded { .. } | Error::PayloadTooLarge(_) | Error::StorageFull(_) => {
            Status::resource_exhausted(message)
        }
        Error::RateLimited { .. } | Error::Busy { .. } => Status::resource_exhausted(message),
        Error::Unauthenticated(_) => Status::unauthenticated(message),
        Error::Forbidden(_) => Status::permission_denied(message),
        Error::Unavailable(_) => Status::unavailable(message),
        _ => Status::internal(message),
    }
}

pub fn direction(d: i32) -> Result<Direction, Status> {
    match proto::StudyDirection::try_from(d) {
        Ok(proto::StudyDirection::Minimize) => Ok(Direction::Minimize),
        Ok(proto::StudyDirection::Maximize) => Ok(Direction::Maximize),
        Err(_) => Err(Status::invalid_argument(format!(
            "unknown study direction {d}"
        ))),
    }
}

pub fn directions_of(study: &StudyRecord) -> Vec<i32> {
    study
        .directions
        .iter()
        .map(|d| {
            if d == "maximize" {
                proto::StudyDirection::Maximize as i32
            } else {
                proto::StudyDirection::Minimize as i32
            }
        })
        .collect()
}

pub fn state(s: i32) -> Result<TrialState, Status> {
    Ok(match proto::TrialState::try_from(s) {
        Ok(proto::TrialState::Running) => TrialState::Running,
        Ok(proto::TrialState::Complete) => TrialState::Complete,
        Ok(proto::TrialState::Pruned) => TrialState::Pruned,
        Ok(proto::TrialState::Fail) => TrialState::Failed,
        Ok(proto::TrialState::Waiting) => TrialState::Waiting,
        Err(_) => return Err(Status::invalid_argument(format!("unknown trial state {s}"))),
    })
}

fn state_of(state: TrialState) -> proto::TrialState {
    match state {
        TrialState::Running => proto::TrialState::Running,
        TrialState::Complete => proto::TrialState::Complete,
        TrialState::Pruned => proto::TrialState::Pruned,
        TrialState::Failed => proto::TrialState::Fail,
        TrialState::Waiting => proto::TrialState::Waiting,
    }
}

fn datetime(at: Option<Timestamp>) -> String {
    at.and_then(|t| chrono::DateTime::from_timestamp_millis(t.millis()))
        .map(|t| t.naive_utc().format(DATETIME_FORMAT).to_string())
        .unwrap_or_default()
}

fn parse_datetime(field: &str, text: &str) -> Result<Option<Timestamp>, Status> {
    if text.is_empty() {
        return Ok(None);
    }
    chrono::NaiveDateTime::parse_from_str(text, DATETIME_FORMAT)
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .map(|t| Some(Timestamp(t.and_utc().timestamp_millis())))
        .map_err(|e| Status::invalid_argument(format!("{field} {text:?}: {e}")))
}

/// Attributes as a map of one kind.
pub fn attrs_of(attrs: &[AttrRecord], kind: AttrKind) -> HashMap<String, String> {
    attrs
        .iter()
        .filter(|a| a.kind == kind)
        .map(|a| (a.key.clone(), a.value.clone()))
        .collect()
}

pub fn study(study: &StudyRecord, attrs: &[AttrRecord]) -> proto::Study {
    proto::Study {
        study_id: study.seq,
        study_name: study.name.clone(),
        directions: directions_of(study),
        user_attributes: attrs_of(attrs, AttrKind::User),
        system_attributes: attrs_of(attrs, AttrKind::System),
    }
}

/// A trial as Optuna reads it: params in the internal representation with their
/// distributions (the trial's own, else the study's search space).
pub fn trial(study: &StudyRecord, trial: &TrialRecord) -> proto::Trial {
    let mut params = HashMap::new();
    let mut distributions = HashMap::new();
    for (name, value) in &trial.params {
        let Some(distribution) = trial_distribution(study, trial, name) else {
            continue;
        };
        let Some(internal) = distribution.to_internal(value) else {
            continue;
        };
        params.insert(name.clone(), internal);
        distributions.insert(name.clone(), distribution.to_optuna_json());
    }
    proto::Trial {
        trial_id: trial_id(study.seq, trial.number),
        number: trial.number,
        state: state_of(trial.state) as i32,
        values: trial.values.clone().unwrap_or_default(),
        datetime_start: datetime(trial.started_at),
        datetime_complete: datetime(trial.finished_at),
        params,
        distributions,
        user_attributes: trial.user_attrs.clone().into_iter().collect(),
        system_attributes: trial.system_attrs.clone().into_iter().collect(),
        intermediate_values: trial.intermediate.clone().into_iter().collect(),
    }
}

/// A trial a client hands over whole (`create_new_trial` with a template).
pub fn template(trial: proto::Trial) -> Result<TrialTemplate, Status> {
    let mut params = std::collections::BTreeMap::new();
    for (name, internal) in trial.params {
        let text = trial.distributions.get(&name).ok_or_else(|| {
            Status::invalid_argument(format!("param {name:?} comes without its distribution"))
        })?;
        let distribution = Distribution::from_optuna_json(&name, text)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        params.insert(name, (internal, distribution));
    }
    Ok(TrialTemplate {
        state: state(trial.state)?,
        values: (!trial.values.is_empty()).then_some(trial.values),
        started_at: parse_datetime("datetime_start", &trial.datetime_start)?,
        finished_at: parse_datetime("datetime_complete", &trial.datetime_complete)?,
        params,
        intermediate: trial.intermediate_values.into_iter().collect(),
        user_attrs: trial.user_attributes.into_iter().collect(),
        system_attrs: trial.system_attributes.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trial_ids_order_by_number_within_a_study_and_split_back() {
        assert!(trial_id(3, 0) < trial_id(3, 1));
        assert!(trial_id(3, u32::MAX as i64) < trial_id(4, 0));
        assert_eq!(split_trial_id(trial_id(7, 42)), Some((7, 42)));
        assert_eq!(split_trial_id(-1), None);
    }

    #[test]
    fn datetimes_round_trip_in_optunas_format() {
        let at = Timestamp(1_700_000_000_123);
        let text = datetime(Some(at));
        assert_eq!(text, "2023-11-14 22:13:20.123000");
        assert_eq!(parse_datetime("d", &text).unwrap(), Some(at));
        assert_eq!(parse_datetime("d", "").unwrap(), None);
        assert!(parse_datetime("d", "yesterday").is_err());
    }
}
