//! Studies and trials in PostgreSQL (SQL, rows and the trial state rule: `store::studies`).

use std::collections::BTreeMap;

use ets_domain::Timestamp;
use serde_json::Value;
use tokio_postgres::types::Json;

use super::sql::is_unique_violation;
use super::{PgStore, Tx};
use crate::error::{EntityKind, Error, Result};
use crate::store::studies::{self as q, StudyRecord, TrialRecord, TrialState};

async fn study(tx: &Tx<'_>, id: &str, lock: &str) -> Result<StudyRecord> {
    let statement = tx
        .prepare_cached(&format!("{} {lock}", q::get_study()))
        .await?;
    match tx.query_opt(&statement, &[&id]).await? {
        Some(row) => Ok(q::study_row(&row)?),
        None => Err(Error::not_found(EntityKind::Study, id)),
    }
}

async fn trial(tx: &Tx<'_>, id: &str) -> Result<TrialRecord> {
    let statement = tx.prepare_cached(&q::get_trial()).await?;
    let mut trial = match tx.query_opt(&statement, &[&id]).await? {
        Some(row) => q::trial_row(&row)?,
        None => return Err(Error::not_found(EntityKind::Trial, id)),
    };
    let statement = tx.prepare_cached(q::INTERMEDIATE_OF_TRIAL).await?;
    let values = tx
        .query(&statement, &[&id])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect::<Vec<_>>();
    q::attach_intermediate(std::slice::from_mut(&mut trial), values);
    Ok(trial)
}

impl PgStore {
    pub(super) async fn create_study(&self, study: StudyRecord) -> Result<StudyRecord> {
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::INSERT_STUDY).await?;
                tx.execute(
                    &statement,
                    &[
                        &study.id,
                        &study.experiment_id,
                        &study.name,
                        &Json(&study.directions),
                        &Json(&study.search_space),
                        &Json(&study.sampler),
                        &Json(&study.pruner),
                        &study.seed,
                        &study.created_at.millis(),
                    ],
                )
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        q::study_name_taken(&study)
                    } else {
                        e.into()
                    }
                })?;
                Ok(study)
            })
        })
        .await
    }

    pub(super) async fn get_study(&self, id: &str) -> Result<StudyRecord> {
        let id = id.to_owned();
        self.read(move |tx| Box::pin(async move { study(tx, &id, "").await }))
            .await
    }

    pub(super) async fn studies(&self, experiment_id: &str) -> Result<Vec<StudyRecord>> {
        let experiment_id = experiment_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&q::studies_of_experiment()).await?;
                let rows = tx.query(&statement, &[&experiment_id]).await?;
                Ok(rows
                    .iter()
                    .map(q::study_row)
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn add_trial(
        &self,
        id: String,
        study_id: &str,
        run_id: &str,
        params: BTreeMap<String, Value>,
        at: Timestamp,
    ) -> Result<TrialRecord> {
        let (study_id, run_id) = (study_id.to_owned(), run_id.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                // Asks of one study take numbers one at a time, on every instance.
                study(tx, &study_id, "FOR UPDATE").await?;
                let statement = tx.prepare_cached(q::INSERT_TRIAL).await?;
                tx.execute(
                    &statement,
                    &[&id, &study_id, &run_id, &Json(&params), &at.millis()],
                )
                .await?;
                trial(tx, &id).await
            })
        })
        .await
    }

    pub(super) async fn set_trial_params(
        &self,
        id: &str,
        params: BTreeMap<String, Value>,
    ) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::SET_TRIAL_PARAMS).await?;
                if tx.execute(&statement, &[&id, &Json(&params)]).await? == 0 {
                    let current = trial(tx, &id).await?;
                    return Err(q::trial_not_running(&id, current.state, "take params"));
                }
                Ok(())
            })
        })
        .await
    }

    pub(super) async fn get_trial(&self, id: &str) -> Result<TrialRecord> {
        let id = id.to_owned();
        self.read(move |tx| Box::pin(async move { trial(tx, &id).await }))
            .await
    }

    pub(super) async fn trials(&self, study_id: &str) -> Result<Vec<TrialRecord>> {
        let study_id = study_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                study(tx, &study_id, "").await?;
                let statement = tx.prepare_cached(&q::trials_of_study()).await?;
                let mut trials = tx
                    .query(&statement, &[&study_id])
                    .await?
                    .iter()
                    .map(q::trial_row)
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let statement = tx.prepare_cached(q::INTERMEDIATE_OF_STUDY).await?;
                let values = tx
                    .query(&statement, &[&study_id])
                    .await?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect::<Vec<_>>();
                q::attach_intermediate(&mut trials, values);
                Ok(trials)
            })
        })
        .await
    }

    pub(super) async fn finish_trial(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
    ) -> Result<TrialRecord> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::FINISH_TRIAL).await?;
                let changed = tx
                    .execute(
                        &statement,
                        &[
                            &id,
                            &state.as_str(),
                            &values.as_ref().map(Json),
                            &at.millis(),
                        ],
                    )
                    .await?;
                let finished = trial(tx, &id).await?;
                if changed == 0 {
                    return Err(q::trial_not_running(&id, finished.state, "be finished"));
                }
                Ok(finished)
            })
        })
        .await
    }

    pub(super) async fn report_trial_value(&self, id: &str, step: i64, value: f64) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let stored = (!value.is_nan()).then_some(value);
                let statement = tx
                    .prepare_cached(&q::report_value("EXCLUDED.value"))
                    .await?;
                let changed = tx.execute(&statement, &[&id, &step, &stored]).await?;
                if changed == 0 {
                    let current = trial(tx, &id).await?;
                    return Err(q::trial_not_running(&id, current.state, "report values"));
                }
                Ok(())
            })
        })
        .await
    }
}
