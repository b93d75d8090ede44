//! Studies and trials in PostgreSQL (SQL, rows and the trial state rule: `store::studies`).

use deadpool_postgres::GenericClient;
use ets_domain::Timestamp;
use ets_domain::model::{ParamValue, Run, TagPatch};
use serde_json::Value;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;

use super::sql::is_unique_violation;
use super::{PendingAudit, PgStore, metrics, runs};
use crate::error::{EntityKind, Error, Result};
use crate::store::rules;
use crate::store::studies::{
    self as q, AttrKind, AttrRecord, NewTrial, StudyRecord, TrialRecord, TrialRunEnd, TrialState,
};

/// The study's row, locked as `lock` says (`FOR UPDATE`, or nothing).
fn study_sql(lock: &str) -> String {
    format!("{} {lock}", q::get_study())
}

async fn study(tx: &impl GenericClient, id: &str, lock: &str) -> Result<StudyRecord> {
    let statement = tx.prepare_cached(&study_sql(lock)).await?;
    match tx.query_opt(&statement, &[&id]).await? {
        Some(row) => Ok(q::study_row(&row)?),
        None => Err(Error::not_found(EntityKind::Study, id)),
    }
}

async fn attrs(
    tx: &impl GenericClient,
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

/// Intermediate values `(trial id, step, value)` by `sql` (`INTERMEDIATE_OF_TRIAL` or
/// `INTERMEDIATE_OF_STUDY`).
async fn intermediate(
    tx: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<(String, i64, Option<f64>)>> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx
        .query(&statement, params)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Reads `head` (the study or studies, by `sqls[0]`) and the trials `sqls[1..]` select with
/// their intermediate values and attributes (`$1` `owner`, a study or an experiment; `$2` the
/// number the trials come after), on one snapshot: four queries sent with the transaction's
/// begin and end, one round trip (an ask reads a study this way every time). The statements
/// must be prepared (`prepare_all`).
async fn read_trials<H>(
    client: &deadpool_postgres::Client,
    head: impl std::future::Future<Output = Result<H>>,
    sqls: &[String; 4],
    owner: &str,
    after: i64,
) -> Result<(H, Vec<TrialRecord>)> {
    let rows = async {
        let statement = client.prepare_cached(&sqls[1]).await?;
        Ok::<_, Error>(
            client
                .query(&statement, &[&owner, &after])
                .await?
                .iter()
                .map(q::trial_row)
                .collect::<std::result::Result<Vec<_>, _>>()?,
        )
    };
    let owner_after: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&owner, &after];
    let reads = async {
        super::pipelined_values(tokio::join!(
            head,
            rows,
            intermediate(client, &sqls[2], &owner_after),
            attrs(client, &sqls[3], &owner_after),
        ))
    };
    let (head, mut trials, values, found) = super::read_together(client, reads).await?;
    q::attach_intermediate(&mut trials, values);
    q::attach_attrs(&mut trials, found);
    Ok((head, trials))
}

/// Prepares (and caches on the connection) statements that `read_together` will send.
async fn prepare_all(client: &deadpool_postgres::Client, sqls: &[String]) -> Result<()> {
    futures_util::future::try_join_all(sqls.iter().map(|sql| client.prepare_cached(sql))).await?;
    Ok(())
}

/// A trial with its intermediate values and attributes: three queries sent together.
async fn trial(tx: &impl GenericClient, id: &str) -> Result<TrialRecord> {
    let row = async {
        let statement = tx.prepare_cached(&q::get_trial()).await?;
        match tx.query_opt(&statement, &[&id]).await? {
            Some(row) => Ok(q::trial_row(&row)?),
            None => Err(Error::not_found(EntityKind::Trial, id)),
        }
    };
    let by_id: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
    let (mut trial, values, found) = super::pipelined_values(tokio::join!(
        row,
        intermediate(tx, q::INTERMEDIATE_OF_TRIAL, &by_id),
        attrs(tx, q::TRIAL_ATTRS, &by_id),
    ))?;
    q::attach_intermediate(std::slice::from_mut(&mut trial), values);
    q::attach_attrs(std::slice::from_mut(&mut trial), found);
    Ok(trial)
}

/// Inserts a trial numbered after the study's last one (the caller holds the study's lock)
/// with its intermediate values and attributes; returns its number.
async fn insert_trial(tx: &impl GenericClient, trial: &NewTrial) -> Result<i64> {
    let statement = tx.prepare_cached(q::INSERT_TRIAL).await?;
    let number: i64 = tx
        .query_one(
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
        .await?
        .try_get(0)?;
    if trial.intermediate.is_empty() && trial.user_attrs.is_empty() && trial.system_attrs.is_empty()
    {
        return Ok(number);
    }
    let (insert_value, insert_attr) = tokio::try_join!(
        tx.prepare_cached(q::INSERT_INTERMEDIATE),
        tx.prepare_cached(q::INSERT_TRIAL_ATTR),
    )?;
    let values = trial.intermediate.iter().map(|(step, value)| {
        let stored = (!value.is_nan()).then_some(*value);
        let insert_value = &insert_value;
        async move { tx.execute(insert_value, &[&trial.id, step, &stored]).await }
    });
    let attrs = [
        (AttrKind::User, &trial.user_attrs),
        (AttrKind::System, &trial.system_attrs),
    ]
    .into_iter()
    .flat_map(|(kind, attrs)| attrs.iter().map(move |(key, value)| (kind, key, value)))
    .map(|(kind, key, value)| {
        let insert_attr = &insert_attr;
        async move {
            tx.execute(insert_attr, &[&trial.id, &kind.as_str(), key, value])
                .await
        }
    });
    // Pipelined: one round trip for all of them.
    tokio::try_join!(
        futures_util::future::try_join_all(values),
        futures_util::future::try_join_all(attrs),
    )?;
    Ok(number)
}

/// Moves a trial (`SET_TRIAL_STATE`) and reads it back; `Ok(None)` when asked to run a trial
/// that is not waiting, `Conflict` when it is finished.
async fn set_state(
    tx: &impl GenericClient,
    id: &str,
    state: TrialState,
    values: Option<Vec<f64>>,
    at: Timestamp,
) -> Result<Option<TrialRecord>> {
    // Prepared first, so the update goes out before the read-back sent with it.
    let statement = tx.prepare_cached(q::SET_TRIAL_STATE).await?;
    let update = async {
        let (state, values, at) = (
            state.as_str(),
            stored_values(values.as_deref()),
            at.millis(),
        );
        Ok::<_, Error>(tx.execute(&statement, &[&id, &state, &values, &at]).await?)
    };
    let (changed, current) = super::pipelined_values(tokio::join!(update, trial(tx, id)))?;
    if changed == 0 {
        return match q::state_refusal(&current, state) {
            Some(e) => Err(e),
            None => Ok(None),
        };
    }
    Ok(Some(current))
}

/// Fails the transaction (a cast of its message to `int`: 22P02; not a constant, which
/// PostgreSQL would cast when preparing) unless experiment `$1`, after counting the new run,
/// may take it (`rules::RUN_CREATION_ALLOWED_SQL`, `$2` the limit) and trial `$3` took number
/// `$4` — and, when the ask sampled from a view of the study without reading it (`$5`, its
/// stamp; `$6`, where it starts), unless the study's trials are that view: what an ask checks
/// on its answers, checked in the server, so that the ask commits in the round trip that
/// sends it.
static ASK_GUARD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT CASE \
           WHEN NOT ({} AND t.number = $4) THEN \
             ('ETS: the run or the trial number ' || t.number || ' of an ask was refused')::int \
           WHEN $5::text IS NOT NULL AND $5::text <> {} THEN \
             ('{STALE_VIEW} for trial ' || t.number)::int \
           ELSE 0 END \
         FROM experiments e JOIN trials t ON t.id = $3 WHERE e.id = $1",
        rules::RUN_CREATION_ALLOWED_SQL,
        q::open_trials_stamp("t.study_id", "$6", "$4"),
    )
});

/// The message of [`ASK_GUARD`]'s refusal of a view that is no longer current.
const STALE_VIEW: &str = "ETS: the trials of the study changed since the ask read them";

/// What [`ASK_GUARD`] answered.
#[derive(Debug, PartialEq)]
enum AskGuard {
    Allowed,
    /// The run or the number (the other answers say why).
    Refused,
    /// The view the ask sampled from.
    Stale,
}

/// Sends [`ASK_GUARD`].
async fn check_ask(
    c: &impl GenericClient,
    run: &Run,
    max_runs: u64,
    trial_id: &str,
    number: i64,
    seen: Option<&q::OpenTrials>,
) -> Result<AskGuard> {
    let statement = c.prepare_cached(&ASK_GUARD).await?;
    let max_runs = i64::try_from(max_runs).unwrap_or(i64::MAX);
    // Without a view the stamp's range is empty (`from` = the number): PostgreSQL does not
    // promise to skip the subquery because the stamp is NULL.
    let (stamp, from) = (
        seen.map(q::OpenTrials::stamp),
        seen.map_or(number, |s| s.from),
    );
    match c
        .query_opt(
            &statement,
            &[
                &run.experiment_id,
                &max_runs,
                &trial_id,
                &number,
                &stamp,
                &from,
            ],
        )
        .await
    {
        Ok(_) => Ok(AskGuard::Allowed),
        Err(e) if e.code() == Some(&SqlState::INVALID_TEXT_REPRESENTATION) => {
            let stale = e
                .as_db_error()
                .is_some_and(|d| d.message().contains(STALE_VIEW));
            Ok(if stale {
                AskGuard::Stale
            } else {
                AskGuard::Refused
            })
        }
        Err(e) => Err(e.into()),
    }
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
        // One statement is one snapshot: no transaction needed (one round trip).
        let client = self.client().await?;
        let statement = client.prepare_cached(&q::get_study()).await?;
        match client.query_opt(&statement, &[&id]).await? {
            Some(row) => Ok(q::study_row(&row)?),
            None => Err(Error::not_found(EntityKind::Study, id)),
        }
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
                let number = insert_trial(tx, &trial).await?;
                Ok(q::inserted(trial, number))
            })
        })
        .await
    }

    pub(super) async fn start_trial(
        &self,
        run: Run,
        params: Vec<(String, ParamValue)>,
        trial: NewTrial,
        number: i64,
        seen: Option<q::OpenTrials>,
    ) -> Result<(Run, TrialRecord)> {
        // An asked trial's run has no parent (whose check would wait for an answer).
        debug_assert!(run.parent_run_id.is_none());
        let max_runs = self.limits.max_runs_per_experiment;
        let mut statements = runs::new_run_statements().to_vec();
        statements.extend([
            study_sql("FOR UPDATE"),
            q::INSERT_TRIAL.to_owned(),
            ASK_GUARD.clone(),
        ]);
        self.write_at_once(&statements, move |c| {
            Box::pin(async move {
                // One round trip, committed with it: the experiment is locked first (as
                // `create_run`, and as deleting it cascades to its studies), then the study
                // (its trials take numbers one at a time, on every instance), then the run's
                // rows and the trial (which names the run and is numbered under the lock),
                // then the guard, which fails the transaction in the server when the run or
                // the number is refused, or when the study is not the view the ask sampled
                // from. The answers then say why.
                let (experiment, _, (), taken, guard) = super::pipelined_values(tokio::join!(
                    runs::lock_for_new_run(c, &run, max_runs),
                    study(c, &trial.study_id, "FOR UPDATE"),
                    runs::write_new_run(c, &run, &params),
                    insert_trial(c, &trial),
                    check_ask(c, &run, max_runs, &trial.id, number, seen.as_ref()),
                ))?;
                let trial = q::inserted(trial, taken);
                q::check_trial_number(&trial, number)?;
                match guard {
                    AskGuard::Allowed => {}
                    AskGuard::Stale => return Err(q::trials_changed(&trial.study_id, number)),
                    AskGuard::Refused => {
                        return Err(Error::internal(format!(
                            "the ask of trial {number} of study '{}' was refused in the \
                             database although its run and number were allowed",
                            trial.study_id
                        )));
                    }
                }
                Ok((q::created_run(run, &params, &experiment.project_id), trial))
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
        Ok(self.read_trial(id, false).await?.0)
    }

    pub(super) async fn trial_with_study(&self, id: &str) -> Result<(TrialRecord, StudyRecord)> {
        let (trial, study) = self.read_trial(id, true).await?;
        Ok((trial, study.expect("read with the trial")))
    }

    /// A trial, and its study when `with_study`, in one round trip (every tell reads them):
    /// see `read_together`.
    async fn read_trial(
        &self,
        id: &str,
        with_study: bool,
    ) -> Result<(TrialRecord, Option<StudyRecord>)> {
        let open = super::InTransaction(Some(self.client().await?));
        let client = open.client();
        let mut sqls = vec![
            q::get_trial(),
            q::INTERMEDIATE_OF_TRIAL.into(),
            q::TRIAL_ATTRS.into(),
        ];
        if with_study {
            sqls.push(q::study_of_trial());
        }
        prepare_all(client, &sqls).await?;
        let study_of_trial = async {
            if !with_study {
                return Ok(None);
            }
            let statement = client.prepare_cached(&sqls[3]).await?;
            match client.query_opt(&statement, &[&id]).await? {
                Some(row) => Ok(Some(q::study_row(&row)?)),
                None => Err(Error::not_found(EntityKind::Trial, id)),
            }
        };
        let reads =
            async { super::pipelined_values(tokio::join!(trial(client, id), study_of_trial)) };
        let read = super::read_together(client, reads).await;
        // Ended either way (`read_together` rolls back what fails); only a read abandoned
        // mid-way leaves `open` to close the connection.
        open.ended();
        read
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
    ) -> Result<(StudyRecord, Vec<TrialRecord>)> {
        let open = super::InTransaction(Some(self.client().await?));
        let sqls = [
            study_sql(""),
            q::trials_of_study(),
            q::INTERMEDIATE_OF_STUDY.to_owned(),
            q::TRIAL_ATTRS_OF_STUDY.to_owned(),
        ];
        let client = open.client();
        let read = async {
            prepare_all(client, &sqls).await?;
            read_trials(client, study(client, study_id, ""), &sqls, study_id, after).await
        }
        .await;
        // Ended either way (see `get_trial`).
        open.ended();
        read
    }

    pub(super) async fn experiment_trials(
        &self,
        experiment_id: &str,
    ) -> Result<Vec<(StudyRecord, Vec<TrialRecord>)>> {
        let open = super::InTransaction(Some(self.client().await?));
        let sqls = [
            q::studies_of_experiment(),
            q::trials_of_experiment(),
            q::INTERMEDIATE_OF_EXPERIMENT.to_owned(),
            q::TRIAL_ATTRS_OF_EXPERIMENT.to_owned(),
        ];
        let client = open.client();
        let read = async {
            prepare_all(client, &sqls).await?;
            let studies = async {
                let statement = client.prepare_cached(&sqls[0]).await?;
                Ok::<_, Error>(
                    client
                        .query(&statement, &[&experiment_id])
                        .await?
                        .iter()
                        .map(q::study_row)
                        .collect::<std::result::Result<Vec<_>, _>>()?,
                )
            };
            read_trials(client, studies, &sqls, experiment_id, -1).await
        }
        .await;
        // Ended either way (see `get_trial`).
        open.ended();
        let (studies, trials) = read?;
        Ok(q::by_study(studies, trials))
    }

    pub(super) async fn set_trial_state(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
    ) -> Result<Option<TrialRecord>> {
        let id = id.to_owned();
        self.write(move |tx| Box::pin(async move { set_state(tx, &id, state, values, at).await }))
            .await
    }

    pub(super) async fn tell_trial(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
        run: Option<TrialRunEnd>,
    ) -> Result<(TrialRecord, Option<(Run, usize)>)> {
        let (id, limits) = (id.to_owned(), self.limits);
        if let Some(end) = &run {
            self.series_cache
                .forget(&end.run_id, end.points.iter().map(|g| g.key.as_str()));
        }
        // `BEGIN` goes with the run's lock, the audit records (sealed once the run's update
        // is known) with `COMMIT`.
        let audit = PendingAudit::Entries(crate::audit::take());
        self.write_pipelined(audit, move |c| {
            Box::pin(async move {
                // The run first, locked by its update (as deleting a run locks it before
                // its trial), then its points (as `log_batch`), then the trial.
                let ended = match run {
                    None => None,
                    Some(end) => {
                        runs::apply_update(c, &end.run_id, end.mutation, &[], &TagPatch::new())
                            .await?;
                        let written = if end.points.is_empty() {
                            0
                        } else {
                            metrics::log(c, &end.run_id, end.points, &limits)
                                .await?
                                .written
                        };
                        Some((end.run_id, written))
                    }
                };
                // The trial's change and the run's read-back, sent together.
                let read_run = async {
                    match &ended {
                        Some((run_id, written)) => {
                            Ok(Some((runs::get(c, run_id).await?, *written)))
                        }
                        None => Ok::<_, Error>(None),
                    }
                };
                let (trial, run) = super::pipelined_values(tokio::join!(
                    set_state(c, &id, state, values, at),
                    read_run
                ))?;
                Ok((trial.ok_or_else(q::final_state_skipped)?, run))
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

/// Run with `PG_TEST_URL=postgres://…` (skipped otherwise), as `metrics.rs`' tests.
#[cfg(test)]
mod tests {
    use ets_domain::model::Run;
    use ets_domain::status::RunStatus;
    use serde_json::json;

    use super::super::metrics::tests::{TestDb, limits};
    use super::*;
    use crate::store::{Store, StoreLimits};

    /// The fixture's experiment (MLflow's Default).
    const EXPERIMENT: &str = "0";

    fn new_run(id: &str) -> Run {
        let now = Timestamp::now();
        Run {
            id: id.to_owned(),
            experiment_id: EXPERIMENT.to_owned(),
            project_id: String::new(),
            name: id.to_owned(),
            description: None,
            owner: None,
            status: RunStatus::Running,
            parent_run_id: None,
            params: Default::default(),
            tags: [("ets.study_id".to_owned(), "s".to_owned())].into(),
            metrics: Vec::new(),
            created_at: now,
            updated_at: now,
            started_at: Some(now),
            ended_at: None,
            deleted_at: None,
            inputs: Vec::new(),
            models: Vec::new(),
        }
    }

    async fn count(db: &TestDb, sql: &str) -> i64 {
        let sql = sql.replace("{s}", &db.schema);
        db.admin.query_one(&sql, &[]).await.unwrap().get(0)
    }

    /// An ask goes out with its `COMMIT` (one round trip), so what refuses it must fail in
    /// the database: a taken number, a view of the study that is not current, a completed
    /// experiment and the run limit each leave no run, no trial and no count behind, and
    /// say why; what was written is whole, and the audit chain (records placed by the
    /// server) verifies.
    #[tokio::test]
    async fn an_ask_is_committed_whole_or_refused_whole() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let pg = PgStore::open(
            &super::super::test_options(&db.url),
            4,
            StoreLimits {
                max_runs_per_experiment: 3,
                ..limits(10)
            },
            false,
        )
        .await
        .unwrap();
        pg.create_study(StudyRecord {
            id: "s".into(),
            experiment_id: EXPERIMENT.into(),
            name: "s".into(),
            directions: vec!["minimize".into()],
            search_space: json!({"x": {"type": "float", "low": 0, "high": 1}}),
            sampler: json!({"type": "random"}),
            pruner: json!({"type": "none"}),
            seed: None,
            created_at: Timestamp::now(),
            seq: 0,
        })
        .await
        .unwrap();
        let runs_before = count(&db, "SELECT count(*) FROM {s}.runs").await;
        let records_before = count(&db, "SELECT count(*) FROM {s}.audit_log").await;
        let ask_seeing = |run_id: &str, number: i64, seen: Option<q::OpenTrials>| {
            let run = new_run(run_id);
            let mut trial = NewTrial::running(format!("t-{run_id}"), "s", run_id, run.created_at);
            trial.params = [("x".to_owned(), json!(0.5))].into();
            let params = vec![("x".to_owned(), ParamValue::from_json(json!(0.5)))];
            pg.start_trial(run, params, trial, number, seen)
        };
        let ask = |run_id: &str, number: i64| ask_seeing(run_id, number, None);
        let (run, trial) = ask("r0", 0).await.unwrap();
        assert_eq!((trial.number, run.params["x"].clone()), (0, json!(0.5)));
        // Number 0 again: taken.
        let taken = ask("r-taken", 0).await.unwrap_err();
        assert!(
            matches!(
                taken,
                Error::AlreadyExists {
                    entity: EntityKind::Trial,
                    ..
                }
            ),
            "{taken:?}"
        );
        // Sampled from a view that has trial 0 finished: it is running.
        let view = |state| q::OpenTrials {
            from: 0,
            trials: vec![(0, state)],
        };
        let stale = ask_seeing("r-stale", 1, Some(view(TrialState::Complete)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                stale,
                Error::AlreadyExists {
                    entity: EntityKind::Trial,
                    ..
                }
            ),
            "{stale:?}"
        );
        ask_seeing("r1", 1, Some(view(TrialState::Running)))
            .await
            .unwrap();
        db.admin
            .batch_execute(&format!(
                "UPDATE {}.experiments SET status = 'completed' WHERE id = '{EXPERIMENT}'",
                db.schema
            ))
            .await
            .unwrap();
        let completed = ask("r-completed", 2).await.unwrap_err();
        assert!(matches!(completed, Error::Conflict(_)), "{completed:?}");
        db.admin
            .batch_execute(&format!(
                "UPDATE {}.experiments SET status = 'running' WHERE id = '{EXPERIMENT}'",
                db.schema
            ))
            .await
            .unwrap();
        ask("r2", 2).await.unwrap();
        // The limit (3 runs counted by asks) is reached.
        let full = ask("r-full", 3).await.unwrap_err();
        assert!(matches!(full, Error::LimitExceeded { .. }), "{full:?}");
        // Only the three accepted asks were written, each whole.
        let refused = "('r-taken', 'r-stale', 'r-completed', 'r-full')";
        assert_eq!(
            count(&db, "SELECT count(*) FROM {s}.runs").await,
            runs_before + 3
        );
        for table in [
            "runs WHERE id",
            "run_params WHERE run_id",
            "run_tags WHERE run_id",
        ] {
            let sql = format!("SELECT count(*) FROM {{s}}.{table} IN {refused}");
            assert_eq!(count(&db, &sql).await, 0, "{table}");
        }
        let sql = "SELECT count(*) FROM {s}.run_tags WHERE key = 'ets.study_id'";
        assert_eq!(count(&db, sql).await, 3);
        let sql = "SELECT count(*) FROM {s}.trials WHERE study_id = 's'";
        assert_eq!(count(&db, sql).await, 3);
        let sql = "SELECT run_count FROM {s}.experiments WHERE id = '0'";
        assert_eq!(count(&db, sql).await, 3);
        let trials = pg.trials("s").await.unwrap();
        let numbers: Vec<i64> = trials.iter().map(|t| t.number).collect();
        assert_eq!(numbers, [0, 1, 2]);
        // A record an accepted ask (one unattributed write here: no request declared its
        // events), none for a refused one; the chain verifies.
        let records = count(&db, "SELECT count(*) FROM {s}.audit_log").await;
        assert_eq!(records, records_before + 3);
        let report = pg.verify_audit().await.unwrap();
        assert!(report.ok, "{report:?}");
        db.drop().await;
    }
}
