//! PostgreSQL: experiments.

use deadpool_postgres::GenericClient;
use ets_domain::Timestamp;
use ets_domain::model::Experiment;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use super::search::{Target, and_filter, and_lifecycle, experiment_order_by};
use super::sql::{Sql, cursor_key, finish_page, is_unique_violation, value_from_sql};
use super::{PgStore, Tx};
use crate::error::{EntityKind, Error, Result};
use crate::store::statements::{self, EXPERIMENT_COLUMNS as COLUMNS};
use crate::store::{ExperimentFilter, LatestMetric, Mutation, Page, PageRequest, Search, rules};

/// Key of the advisory lock that serialises "start an experiment" checks of one schema
/// (`limits.max_concurrent_experiments` counts across all instances).
const RUNNING_LOCK_SQL: &str = "SELECT pg_advisory_xact_lock(7406072, hashtext(current_schema()))";

fn from_row(row: &Row) -> std::result::Result<Experiment, tokio_postgres::Error> {
    crate::store::rows::experiment(row)
}

async fn write(tx: &Tx<'_>, experiment: &Experiment, insert: bool) -> Result<()> {
    let sql = if insert {
        statements::INSERT_EXPERIMENT
    } else {
        statements::UPDATE_EXPERIMENT
    };
    let statement = tx.prepare_cached(sql).await?;
    tx.execute(
        &statement,
        &[
            &experiment.id,
            &experiment.project_id,
            &experiment.name,
            &experiment.description,
            &experiment.owner,
            &experiment.status.as_str(),
            &Json(&experiment.tags),
            &Json(&experiment.objectives),
            &Json(&experiment.search_space),
            &experiment.healthcare.as_ref().map(Json),
            &Json(&experiment.links),
            &experiment.template,
            &experiment.created_at.millis(),
            &experiment.updated_at.millis(),
            &experiment.started_at.map(Timestamp::millis),
            &experiment.ended_at.map(Timestamp::millis),
            &experiment.deleted_at.map(Timestamp::millis),
            &experiment.artifact_location,
        ],
    )
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            rules::experiment_name_taken(experiment)
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// The experiment, optionally locked (`FOR UPDATE`, `FOR NO KEY UPDATE`, …) until the
/// transaction ends.
/// An experiment's row by id, locked as `lock` says (`FOR UPDATE`, …, or nothing).
pub(super) fn get_sql(lock: &str) -> String {
    format!("SELECT {COLUMNS} FROM experiments e WHERE e.id = $1 {lock}")
}

pub(super) async fn get(tx: &impl GenericClient, id: &str, lock: &str) -> Result<Experiment> {
    let statement = tx.prepare_cached(&get_sql(lock)).await?;
    match tx.query_opt(&statement, &[&id]).await? {
        Some(row) => Ok(from_row(&row)?),
        None => Err(Error::not_found(EntityKind::Experiment, id)),
    }
}

impl PgStore {
    pub(super) async fn create_experiment(&self, experiment: Experiment) -> Result<Experiment> {
        self.write(move |tx| {
            Box::pin(async move {
                // FOR SHARE: the project cannot be archived or deleted until this commits.
                let project = super::projects::get(tx, &experiment.project_id, "FOR SHARE").await?;
                rules::check_experiment_creation(&project)?;
                write(tx, &experiment, true).await?;
                Ok(experiment)
            })
        })
        .await
    }

    pub(super) async fn get_experiment(&self, id: &str) -> Result<Experiment> {
        let id = id.to_owned();
        self.read(move |tx| Box::pin(async move { get(tx, &id, "").await }))
            .await
    }

    pub(super) async fn list_experiments(
        &self,
        filter: ExperimentFilter,
        page: PageRequest,
    ) -> Result<Page<Experiment>> {
        self.read(move |tx| {
            Box::pin(async move {
                let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM experiments e WHERE 1 = 1"));
                sql.and_eq("e.project_id", filter.project_id.clone())
                    .and_eq("e.status", filter.status.map(|s| s.as_str()))
                    .and_eq("e.name", filter.name.clone())
                    .and_contains("e.name", filter.name_contains.as_deref())
                    .and_json_tag("e.tags", filter.tag.as_ref());
                and_lifecycle(&mut sql, "e", filter.lifecycle);
                crate::store::filter_sql::and_visible(
                    &mut sql,
                    "e.project_id",
                    filter.visible_projects.as_deref(),
                );
                and_filter(&mut sql, filter.expr.as_ref(), Target::Experiments)?;
                sql.page("e", &page);
                let items = sql.query(tx, from_row).await?;
                Ok(finish_page(items, &page, |e| {
                    cursor_key(
                        page.sort,
                        &e.id,
                        &e.name,
                        e.created_at.millis(),
                        e.updated_at.millis(),
                    )
                }))
            })
        })
        .await
    }

    pub(super) async fn update_experiment(
        &self,
        id: &str,
        mutation: Mutation<Experiment>,
    ) -> Result<Experiment> {
        let id = id.to_owned();
        let limits = self.limits;
        self.write(move |tx| {
            Box::pin(async move {
                let mut experiment = get(tx, &id, "FOR UPDATE").await?;
                if rules::update_experiment(&mut experiment, mutation)? {
                    // Serialises the count with every other start until this commits.
                    tx.batch_execute(RUNNING_LOCK_SQL).await?;
                    let statement = tx
                        .prepare_cached(crate::store::statements::RUNNING_EXPERIMENTS)
                        .await?;
                    let running: i64 = tx.query_one(&statement, &[]).await?.try_get(0)?;
                    rules::check_concurrent_experiments(
                        &id,
                        running,
                        limits.max_concurrent_experiments,
                    )?;
                }
                write(tx, &experiment, false).await?;
                Ok(experiment)
            })
        })
        .await
    }

    /// Deletes the experiment with its runs; returns the deleted run ids.
    pub(super) async fn delete_experiment(&self, id: &str) -> Result<Vec<String>> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                get(tx, &id, "FOR UPDATE").await?;
                let run_ids = super::runs::ids_where(tx, "experiment_id = $1", &id).await?;
                super::metrics::delete_points_of_runs(tx, &run_ids).await?;
                let statement = tx
                    .prepare_cached("DELETE FROM experiments WHERE id = $1")
                    .await?;
                tx.execute(&statement, &[&id]).await?;
                Ok(run_ids)
            })
        })
        .await
    }

    /// Soft-deletes or restores an experiment together with its runs. Restoring brings back
    /// only the runs that went to the trash with the experiment (same deletion time).
    pub(super) async fn set_experiment_deleted(
        &self,
        id: &str,
        deleted: bool,
    ) -> Result<Experiment> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let mut experiment = get(tx, &id, "FOR UPDATE").await?;
                let change = rules::trash_move(
                    EntityKind::Experiment,
                    &id,
                    experiment.deleted_at,
                    deleted,
                    Timestamp::now(),
                )?;
                if let rules::TrashMove::Restore(_) = change {
                    let project =
                        super::projects::get(tx, &experiment.project_id, "FOR SHARE").await?;
                    rules::check_restorable(
                        EntityKind::Experiment,
                        EntityKind::Project,
                        &project.id,
                        project.deleted_at,
                    )?;
                }
                let Some(at) = change.at() else {
                    return Ok(experiment);
                };
                super::move_children(tx, false, change, &id, at).await?;
                change.apply(&mut experiment.deleted_at, &mut experiment.updated_at);
                write(tx, &experiment, false).await?;
                Ok(experiment)
            })
        })
        .await
    }

    pub(super) async fn search_experiments(&self, search: Search) -> Result<Vec<Experiment>> {
        self.read(move |tx| {
            Box::pin(async move {
                let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM experiments e WHERE 1 = 1"));
                and_lifecycle(&mut sql, "e", search.lifecycle);
                crate::store::filter_sql::and_visible(
                    &mut sql,
                    "e.project_id",
                    search.visible_projects.as_deref(),
                );
                and_filter(&mut sql, search.filter.as_ref(), Target::Experiments)?;
                experiment_order_by(&mut sql, &search.order_by)?;
                sql.push(&format!(
                    " LIMIT {} OFFSET {}",
                    search.limit + 1,
                    search.offset
                ));
                sql.query(tx, from_row).await
            })
        })
        .await
    }

    pub(super) async fn find_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        let name = name.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM experiments e WHERE e.name = $1 \
                         ORDER BY e.created_at, e.id LIMIT 1"
                    ))
                    .await?;
                match tx.query_opt(&statement, &[&name]).await? {
                    Some(row) => Ok(from_row(&row)?),
                    None => Err(Error::not_found(EntityKind::Experiment, name)),
                }
            })
        })
        .await
    }

    pub(super) async fn count_runs(&self, experiment_ids: &[String]) -> Result<Vec<i64>> {
        let ids = experiment_ids.to_vec();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(
                        "SELECT coalesce(e.run_count, 0) FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n) \
                         LEFT JOIN experiments e ON e.id = u.id ORDER BY u.n",
                    )
                    .await?;
                let rows = tx.query(&statement, &[&ids]).await?;
                Ok(rows
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn latest_metrics(
        &self,
        experiment_ids: &[String],
        keys: Option<&[String]>,
    ) -> Result<Vec<LatestMetric>> {
        if experiment_ids.is_empty() || keys.is_some_and(<[String]>::is_empty) {
            return Ok(vec![]);
        }
        let (ids, keys) = (experiment_ids.to_vec(), keys.map(<[String]>::to_vec));
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(
                        "SELECT r.experiment_id, r.id, s.key, s.last_value FROM metric_series s \
                         JOIN runs r ON r.id = s.run_id \
                         WHERE s.point_count > 0 AND r.experiment_id = ANY($1) \
                         AND ($2::text[] IS NULL OR s.key = ANY($2)) \
                         ORDER BY s.key, r.experiment_id, r.id",
                    )
                    .await?;
                let rows = tx.query(&statement, &[&ids, &keys]).await?;
                rows.iter()
                    .map(|row| {
                        Ok(LatestMetric {
                            experiment_id: row.try_get(0)?,
                            run_id: row.try_get(1)?,
                            key: row.try_get(2)?,
                            value: value_from_sql(row.try_get(3)?),
                        })
                    })
                    .collect()
            })
        })
        .await
    }
}
