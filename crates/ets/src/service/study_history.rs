//! The trial histories that samplers and pruners read, kept per study between requests. A
//! finished trial never changes and trials are numbered in order, so a read fetches only the
//! trials numbered after the first unfinished one it holds (or after its last): an ask at
//! 10,000 trials reads a handful of rows, not 10,000 (the trick of Optuna's gRPC client
//! cache). Correct across instances: whatever another instance changed is unfinished or new.
//! The history also keeps the search space's parameters as columns (`ets_hpo::History`),
//! so a trial's JSON params are converted for the samplers once, not on every ask.
//!
//! This instance's own asks and tells are applied to the history they change, so that while
//! no one else changes the study, an ask samples without reading it at all: the history is
//! then a *view* (`OpenTrials`), which the ask's write checks against the study's trials in
//! its transaction (`Store::start_trial`). A view that is no longer current (another
//! instance asked or told, or a change here raced a read) refuses the write, and the ask
//! reads and samples again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ets_hpo::{History, SamplerCache, SearchSpace, Trial};

use crate::error::Result;
use crate::store::{OpenTrials, Store, StudyRecord, TrialRecord, TrialState};

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
    /// The study as last read and the stored states of the trials from `first_open` on,
    /// while every change to them since is in `history` (this instance's asks and tells):
    /// what an ask may sample from without reading. `None` until read, and after a change
    /// that could not be applied.
    view: Option<(StudyRecord, Vec<(i64, TrialState)>)>,
    /// What the study's sampler kept from its last ask (TPE's state). Asks of one study
    /// take turns with it (a kept ask samples in ~0.1 ms; rebuilding it for a concurrent
    /// ask would take milliseconds); it checks itself against the history it is given, so
    /// an ask with an older history still samples right (and rebuilds it).
    sampler: Arc<tokio::sync::Mutex<SamplerCache>>,
}

impl Cached {
    /// Applies a trial as stored now (asked or told here): the view stays current when the
    /// trial is the next one, or one of the open ones; otherwise it is dropped.
    fn apply(&mut self, trial: &TrialRecord) {
        let Some((_, open)) = &mut self.view else {
            return;
        };
        // Changed in place only when no ask holds it (a copy of a long history costs more
        // than the read it would save).
        let Some(history) = Arc::get_mut(&mut self.history) else {
            self.view = None;
            return;
        };
        let next = history.trials().last().map_or(0, |t| t.number as i64 + 1);
        if trial.number == next {
            history.push(hpo_trial(trial));
            open.push((trial.number, trial.state));
        } else if let Some(i) = open.iter().position(|(n, _)| *n == trial.number) {
            // Re-pushed from the changed trial on (a history is appended to, by number).
            let at = history
                .trials()
                .partition_point(|t| (t.number as i64) < trial.number);
            let after: Vec<Trial> = history.trials()[at + 1..].to_vec();
            history.truncate(at);
            history.push(hpo_trial(trial));
            after.into_iter().for_each(|t| history.push(t));
            open[i].1 = trial.state;
        } else {
            self.view = None;
            return;
        }
        // Trials finished at the front of the view are final from now on.
        let settled = open.iter().take_while(|(_, s)| s.is_finished()).count();
        open.drain(..settled);
        let next = history.trials().last().map_or(0, |t| t.number as i64 + 1);
        self.first_open = open.first().map_or(next, |(n, _)| *n);
    }
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
        let open = fresh
            .iter()
            .filter(|t| t.number >= cached.first_open)
            .map(|t| (t.number, t.state))
            .collect();
        cached.view = Some((study.clone(), open));
        let shared = cached.history.clone();
        let mut studies = self.studies.lock().expect("study histories");
        if studies.len() >= MAX_STUDIES {
            studies.clear();
        }
        studies.insert(study_id.to_owned(), cached);
        Ok((study, shared))
    }

    /// The study, its history (with columns for the search space `space_of` the study) and
    /// the view they are, when this instance knows of no change to the study since it last
    /// read it: an ask may sample from them without reading, and have its write check the
    /// view.
    pub fn view(
        &self,
        study_id: &str,
        space_of: impl FnOnce(&StudyRecord) -> Result<SearchSpace>,
    ) -> Result<Option<(StudyRecord, Arc<History>, OpenTrials)>> {
        let mut studies = self.studies.lock().expect("study histories");
        let Some(cached) = studies.get_mut(study_id) else {
            return Ok(None);
        };
        let Some((study, open)) = &cached.view else {
            return Ok(None);
        };
        let space = space_of(study)?;
        if !cached.history.tracks(&space) {
            // Read for a pruner (no space) until now: its columns are computed once.
            match Arc::get_mut(&mut cached.history) {
                Some(history) => history.track(&space),
                None => return Ok(None),
            }
        }
        let view = OpenTrials {
            from: cached.first_open,
            trials: open.clone(),
        };
        Ok(Some((study.clone(), cached.history.clone(), view)))
    }

    /// Applies a trial of the study as this instance just stored it (asked or told).
    pub fn stored(&self, trial: &TrialRecord) {
        if let Some(cached) = self
            .studies
            .lock()
            .expect("study histories")
            .get_mut(&trial.study_id)
        {
            cached.apply(trial);
        }
    }

    /// Drops the view of the study (it was found out of date): the next ask reads.
    pub fn forget_view(&self, study_id: &str) {
        if let Some(cached) = self
            .studies
            .lock()
            .expect("study histories")
            .get_mut(study_id)
        {
            cached.view = None;
        }
    }

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

    fn record(number: i64, state: TrialState, value: Option<f64>) -> TrialRecord {
        TrialRecord {
            id: format!("t{number}"),
            study_id: "s".into(),
            number,
            run_id: None,
            state,
            params: [("x".to_owned(), serde_json::json!(number as f64 / 10.0))].into(),
            distributions: Default::default(),
            values: value.map(|v| vec![v]),
            intermediate: [(0, number as f64)].into(),
            created_at: ets_domain::Timestamp(0),
            started_at: None,
            finished_at: None,
            user_attrs: Default::default(),
            system_attrs: Default::default(),
        }
    }

    /// What a read of `trials` leaves (trial 0 final, the rest open).
    fn read_of(trials: &[TrialRecord]) -> Cached {
        let mut history = History::new();
        trials.iter().for_each(|t| history.push(hpo_trial(t)));
        let open = trials.iter().skip(1).map(|t| (t.number, t.state)).collect();
        Cached {
            history: Arc::new(history),
            first_open: 1,
            view: Some((study(), open)),
            sampler: Default::default(),
        }
    }

    fn study() -> StudyRecord {
        StudyRecord {
            id: "s".into(),
            experiment_id: "e".into(),
            name: "s".into(),
            directions: vec!["minimize".into()],
            search_space: serde_json::json!({}),
            sampler: serde_json::json!({"type": "tpe"}),
            pruner: serde_json::json!({"type": "none"}),
            seed: None,
            created_at: ets_domain::Timestamp(0),
            seq: 0,
        }
    }

    /// Asks and tells applied to a kept history leave what a read of the stored trials
    /// would: the same trials, and the view from the first unfinished one on.
    #[test]
    fn own_asks_and_tells_keep_the_view_a_read_would_give() {
        let done = |n: i64| record(n, TrialState::Complete, Some(n as f64));
        let running = |n: i64| record(n, TrialState::Running, None);
        let mut cached = read_of(&[done(0), running(1), running(2)]);
        // Trial 3 asked, then 2 and 1 told (out of order).
        cached.apply(&running(3));
        cached.apply(&done(2));
        assert_eq!(cached.first_open, 1);
        cached.apply(&done(1));
        let expected = [done(0), done(1), done(2), running(3)];
        let read: Vec<Trial> = expected.iter().map(hpo_trial).collect();
        assert_eq!(cached.history.trials(), read);
        assert_eq!(cached.first_open, 3);
        let (_, open) = cached.view.as_ref().unwrap();
        assert_eq!(open, &[(3, TrialState::Running)]);
        cached.apply(&done(3));
        assert_eq!(
            (cached.first_open, cached.view.as_ref().unwrap().1.len()),
            (4, 0)
        );
        // A trial it cannot place (another instance asked 4) ends the view: the next ask reads.
        cached.apply(&running(5));
        assert!(cached.view.is_none());
        // So does a change while an ask holds the history (no copy is made for it).
        let mut cached = read_of(&[done(0), running(1)]);
        let held = cached.history.clone();
        cached.apply(&done(1));
        assert!(cached.view.is_none());
        drop(held);
    }

    #[test]
    fn a_waiting_trial_reads_as_running() {
        let mut trial = record(4, TrialState::Waiting, None);
        assert_eq!(hpo_trial(&trial).state, ets_hpo::TrialState::Running);
        trial.state = TrialState::Pruned;
        assert_eq!(hpo_trial(&trial).state, ets_hpo::TrialState::Pruned);
    }
}
