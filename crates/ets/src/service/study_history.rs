//! The trial histories that samplers and pruners read, kept per study between requests. A
//! finished trial never changes and trials are numbered in order, so a read fetches only the
//! trials numbered after the first unfinished one it holds (or after its last): an ask at
//! 10,000 trials reads a handful of rows, not 10,000 (the trick of Optuna's gRPC client
//! cache). Correct across instances: whatever another instance changed is unfinished or new.
//! The history also keeps the search space's parameters as columns (`ets_hpo::History`),
//! so a trial's JSON params are converted for the samplers once, not on every ask.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ets_hpo::{History, SamplerCache, SearchSpace, Trial};

use crate::error::Result;
use crate::store::{Store, StudyRecord, TrialRecord, TrialState};

/// Studies whose histories are kept; past it the cache starts over.
const MAX_STUDIES: usize = 256;

/// A study's trials as the samplers read them, by number, shared with the requests that
/// sample from them (updated in place when no request holds them any more).
#[derive(Debug, Default)]
struct Cached {
    history: Arc<History>,
    /// Number of the first trial that was unfinished when read (or one past the last): the
    /// trials before it are final.
    first_open: i64,
    /// What the study's sampler kept from its last ask (TPE's state). Asks of one study
    /// take turns with it (a kept ask samples in ~0.1 ms; rebuilding it for a concurrent
    /// ask would take milliseconds); it checks itself against the history it is given, so
    /// an ask with an older history still samples right (and rebuilds it).
    sampler: Arc<tokio::sync::Mutex<SamplerCache>>,
}

#[derive(Default)]
pub struct StudyHistories {
    studies: Mutex<HashMap<String, Cached>>,
}

/// A stored trial as the samplers and pruners read it (a waiting trial, enqueued through
/// Optuna, counts as running: taken, without a result).
pub fn hpo_trial(trial: &TrialRecord) -> Trial {
    Trial {
        number: trial.number as u64,
        state: match trial.state {
            TrialState::Waiting | TrialState::Running => ets_hpo::TrialState::Running,
            TrialState::Complete => ets_hpo::TrialState::Complete,
            TrialState::Pruned => ets_hpo::TrialState::Pruned,
            TrialState::Failed => ets_hpo::TrialState::Failed,
        },
        params: trial.params.clone(),
        values: trial.values.clone(),
        intermediate: trial.intermediate.clone(),
    }
}

impl StudyHistories {
    /// The study and every trial of it, by number, read from the store as far as needed
    /// (one read), with columns for the parameters of the search space `space_of` the study
    /// (an empty space when not sampling).
    pub async fn read(
        &self,
        store: &dyn Store,
        study_id: &str,
        space_of: impl FnOnce(&StudyRecord) -> Result<SearchSpace>,
    ) -> Result<(StudyRecord, Arc<History>)> {
        let cached = self
            .studies
            .lock()
            .expect("study histories")
            .remove(study_id);
        let mut cached = cached.unwrap_or_default();
        let first_open = cached.first_open;
        let (study, fresh) = store.trials_after(study_id, first_open - 1).await?;
        let space = space_of(&study)?;
        let history = Arc::make_mut(&mut cached.history);
        let settled = history
            .trials()
            .partition_point(|t| (t.number as i64) < first_open);
        history.truncate(settled);
        history.track(&space);
        fresh.iter().for_each(|t| history.push(hpo_trial(t)));
        if let Some(last) = fresh.last() {
            cached.first_open = fresh
                .iter()
                .find(|t| !t.state.is_finished())
                .map_or(last.number + 1, |t| t.number);
        }
        let shared = cached.history.clone();
        let mut studies = self.studies.lock().expect("study histories");
        if studies.len() >= MAX_STUDIES {
            studies.clear();
        }
        studies.insert(study_id.to_owned(), cached);
        Ok((study, shared))
    }
}

impl StudyHistories {
    /// The study's sampler cache (a new one when none is kept), to lock for one ask.
    pub fn sampler_cache(&self, study_id: &str) -> Arc<tokio::sync::Mutex<SamplerCache>> {
        let mut studies = self.studies.lock().expect("study histories");
        let cached = studies.entry(study_id.to_owned()).or_default();
        cached.sampler.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_trial_reads_as_running() {
        let mut trial = crate::store::TrialRecord {
            id: "t".into(),
            study_id: "s".into(),
            number: 4,
            run_id: None,
            state: TrialState::Waiting,
            params: Default::default(),
            distributions: Default::default(),
            values: None,
            intermediate: Default::default(),
            created_at: ets_domain::Timestamp(0),
            started_at: None,
            finished_at: None,
            user_attrs: Default::default(),
            system_attrs: Default::default(),
        };
        assert_eq!(hpo_trial(&trial).state, ets_hpo::TrialState::Running);
        trial.state = TrialState::Pruned;
        assert_eq!(hpo_trial(&trial).state, ets_hpo::TrialState::Pruned);
    }
}
