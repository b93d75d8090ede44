//! Studies and trials in PostgreSQL (SQL, rows and the trial state rule: `store::studies`).

use std::collections::BTreeMap;

use ets_domain::Timestamp;
use serde_json::Value;
use tokio_postgres::types::Json;

use super::sql::is_unique_violation;
use super::{PgStore, Tx};
use crate::error::{EntityKind, Error, Result};
use crate::store::studies::{
    self as q, AttrKind, AttrRecord, NewTrial, StudyRecord, TrialRecord, TrialState,
};

async fn study(tx: &Tx<'_>, id: &str, lock: &str) -> Result<StudyRecord> {
    let statement = tx
        .prepare_cached(&format!("{} {lock}", q::get_study()))
        .await?;
    match tx.query_opt(&statement, &[&id]).await? {
        Some(row) => Ok(q::study_row(&row)?),
        None => Err(Error::not_found(EntityKind::Study, id)),
    }
}

async fn attrs(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<AttrRecord>> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx
        .query(&statement, params)
        .await?
        .iter()
        .map(q::attr_row)
        .collect::<std::result::Result<_, _>>()?)
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
    let found = attrs(tx, q::TRIAL_ATTRS, &[&id]).await?;
    q::attach_attrs(std::slice::from_mut(&mut trial), found);
    Ok(trial)
}

/// Values as stored (`store::studies::values_to_json`).
fn stored_values(values: Option<&[f64]>) -> Option<Json<Value>> {
    values.map(|v| Json(q::values_to_json(v)))
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
                self::study(tx, &study.id, "").await
            })
        })
        .await
    }

    pub(super) async fn get_study(&self, id: &str) -> Result<StudyRecord> {
        let id = id.to_owned();
        self.read(move |tx| Box::pin(async move { study(tx, &id, "").await }))
            .await
    }

    pub(super) async fn study_by_seq(&self, seq: i64) -> Result<StudyRecord> {
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&q::study_by_seq()).await?;
                match tx.query_opt(&statement, &[&seq]).await? {
                    Some(row) => Ok(q::study_row(&row)?),
                    None => Err(Error::not_found(EntityKind::Study, seq.to_string())),
                }
            })
        })
        .await
    }

    async fn study_list(&self, sql: String, key: String) -> Result<Vec<StudyRecord>> {
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&sql).await?;
                let rows = tx.query(&statement, &[&key]).await?;
                Ok(rows
                    .iter()
                    .map(q::study_row)
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn studies(&self, experiment_id: &str) -> Result<Vec<StudyRecord>> {
        self.study_list(q::studies_of_experiment(), experiment_id.to_owned())
            .await
    }

    pub(super) async fn project_studies(&self, project_id: &str) -> Result<Vec<StudyRecord>> {
        self.study_list(q::studies_of_project(), project_id.to_owned())
            .await
    }

    pub(super) async fn delete_study(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::DELETE_STUDY).await?;
                if tx.execute(&statement, &[&id]).await? == 0 {
                    return Err(Error::not_found(EntityKind::Study, &id));
                }
                Ok(())
            })
        })
        .await
    }

    pub(super) async fn set_study_attr(
        &self,
        study_id: &str,
        kind: AttrKind,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let (id, key, value) = (study_id.to_owned(), key.to_owned(), value.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                study(tx, &id, "").await?;
                let statement = tx.prepare_cached(q::UPSERT_STUDY_ATTR).await?;
                tx.execute(&statement, &[&id, &kind.as_str(), &key, &value])
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Study attributes by `sql` (`STUDY_ATTRS` or `PROJECT_STUDY_ATTRS`) for `key`.
    pub(super) async fn study_attrs(
        &self,
        sql: &'static str,
        key: &str,
    ) -> Result<Vec<AttrRecord>> {
        let key = key.to_owned();
        self.read(move |tx| Box::pin(async move { attrs(tx, sql, &[&key]).await }))
            .await
    }

    pub(super) async fn grow_search_space(
        &self,
        study_id: &str,
        name: &str,
        distribution: Value,
    ) -> Result<()> {
        let (id, name) = (study_id.to_owned(), name.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                // The right operand of `||` wins: a parameter already there stays as it is.
                let statement = tx
                    .prepare_cached(
                        "UPDATE studies SET search_space = \
                         jsonb_build_object($2::text, $3::jsonb) || search_space WHERE id = $1",
                    )
                    .await?;
                if tx
                    .execute(&statement, &[&id, &name, &Json(&distribution)])
                    .await?
                    == 0
                {
                    return Err(Error::not_found(EntityKind::Study, &id));
                }
                Ok(())
            })
        })
        .await
    }

    pub(super) async fn add_trial(&self, trial: NewTrial) -> Result<TrialRecord> {
        self.write(move |tx| {
            Box::pin(async move {
                // Trials of one study take numbers one at a time, on every instance.
                study(tx, &trial.study_id, "FOR UPDATE").await?;
                let statement = tx.prepare_cached(q::INSERT_TRIAL).await?;
                tx.execute(
                    &statement,
                    &[
                        &trial.id,
                        &trial.study_id,
                        &trial.run_id,
                        &trial.state.as_str(),
                        &Json(&trial.params),
                        &Json(&trial.distributions),
                        &stored_values(trial.values.as_deref()),
                        &trial.created_at.millis(),
                        &trial.started_at.map(Timestamp::millis),
                        &trial.finished_at.map(Timestamp::millis),
                    ],
                )
                .await?;
                let statement = tx.prepare_cached(q::INSERT_INTERMEDIATE).await?;
                for (step, value) in &trial.intermediate {
                    let stored = (!value.is_nan()).then_some(*value);
                    tx.execute(&statement, &[&trial.id, step, &stored]).await?;
                }
                let statement = tx.prepare_cached(q::INSERT_TRIAL_ATTR).await?;
                for (kind, attrs) in [
                    (AttrKind::User, &trial.user_attrs),
                    (AttrKind::System, &trial.system_attrs),
                ] {
                    for (key, value) in attrs {
                        tx.execute(&statement, &[&trial.id, &kind.as_str(), key, value])
                            .await?;
                    }
                }
                let number: i64 = tx
                    .query_one("SELECT number FROM trials WHERE id = $1", &[&trial.id])
                    .await?
                    .get(0);
                Ok(q::inserted(trial, number))
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

    pub(super) async fn set_trial_param(
        &self,
        id: &str,
        name: &str,
        value: Value,
        distribution: Value,
    ) -> Result<()> {
        let (id, name) = (id.to_owned(), name.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(
                        "UPDATE trials SET \
                         params = params || jsonb_build_object($2::text, $3::jsonb), \
                         distributions = distributions || jsonb_build_object($2::text, $4::jsonb) \
                         WHERE id = $1 AND state IN ('waiting', 'running')",
                    )
                    .await?;
                let changed = tx
                    .execute(
                        &statement,
                        &[&id, &name, &Json(&value), &Json(&distribution)],
                    )
                    .await?;
                if changed == 0 {
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

    pub(super) async fn trial_by_number(&self, study_id: &str, number: i64) -> Result<TrialRecord> {
        let study_id = study_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::TRIAL_BY_NUMBER).await?;
                match tx.query_opt(&statement, &[&study_id, &number]).await? {
                    Some(row) => trial(tx, &row.get::<_, String>(0)).await,
                    None => Err(Error::not_found(
                        EntityKind::Trial,
                        format!("{study_id}#{number}"),
                    )),
                }
            })
        })
        .await
    }

    pub(super) async fn trials_after(
        &self,
        study_id: &str,
        after: i64,
    ) -> Result<Vec<TrialRecord>> {
        let study_id = study_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                study(tx, &study_id, "").await?;
                let statement = tx.prepare_cached(&q::trials_of_study()).await?;
                let mut trials = tx
                    .query(&statement, &[&study_id, &after])
                    .await?
                    .iter()
                    .map(q::trial_row)
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let statement = tx.prepare_cached(q::INTERMEDIATE_OF_STUDY).await?;
                let values = tx
                    .query(&statement, &[&study_id, &after])
                    .await?
                    .iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect::<Vec<_>>();
                q::attach_intermediate(&mut trials, values);
                let found = attrs(tx, q::TRIAL_ATTRS_OF_STUDY, &[&study_id, &after]).await?;
                q::attach_attrs(&mut trials, found);
                Ok(trials)
            })
        })
        .await
    }

    pub(super) async fn set_trial_state(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
    ) -> Result<Option<TrialRecord>> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::SET_TRIAL_STATE).await?;
                let changed = tx
                    .execute(
                        &statement,
                        &[
                            &id,
                            &state.as_str(),
                            &stored_values(values.as_deref()),
                            &at.millis(),
                        ],
                    )
                    .await?;
                let current = trial(tx, &id).await?;
                if changed == 0 {
                    return match q::state_refusal(&current, state) {
                        Some(e) => Err(e),
                        None => Ok(None),
                    };
                }
                Ok(Some(current))
            })
        })
        .await
    }

    pub(super) async fn set_trial_attr(
        &self,
        id: &str,
        kind: AttrKind,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let (id, key, value) = (id.to_owned(), key.to_owned(), value.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::UPSERT_TRIAL_ATTR).await?;
                let changed = tx
                    .execute(&statement, &[&id, &kind.as_str(), &key, &value])
                    .await?;
                if changed == 0 {
                    let current = trial(tx, &id).await?;
                    return Err(q::trial_not_running(&id, current.state, "change"));
                }
                Ok(())
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
