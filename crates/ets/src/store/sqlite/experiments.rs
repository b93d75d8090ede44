//! Experiments in SQLite.

use ets_domain::Timestamp;
use ets_domain::model::Experiment;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::sql::{Sql, cursor_key, finish_page, is_unique_violation, to_json};
use crate::error::{EntityKind, Error, Result};
use crate::store::statements::{self, EXPERIMENT_COLUMNS as COLUMNS};
use crate::store::{
    ExperimentFilter, LatestMetric, Mutation, Page, PageRequest, Search, StoreLimits, rules,
};

fn from_row(row: &Row<'_>) -> rusqlite::Result<Experiment> {
    crate::store::rows::experiment(row)
}

fn write(conn: &Connection, experiment: &Experiment, insert: bool) -> Result<()> {
    let sql = if insert {
        statements::INSERT_EXPERIMENT
    } else {
        statements::UPDATE_EXPERIMENT
    };
    conn.prepare_cached(&super::sql::numbered(sql))?
        .execute(params![
            experiment.id,
            experiment.project_id,
            experiment.name,
            experiment.description,
            experiment.owner,
            experiment.status.as_str(),
            to_json(&experiment.tags),
            to_json(&experiment.objectives),
            to_json(&experiment.search_space),
            experiment.healthcare.as_ref().map(to_json),
            to_json(&experiment.links),
            experiment.template,
            experiment.created_at.millis(),
            experiment.updated_at.millis(),
            experiment.started_at.map(Timestamp::millis),
            experiment.ended_at.map(Timestamp::millis),
            experiment.deleted_at.map(Timestamp::millis),
            experiment.artifact_location,
        ])
        .map_err(|e| {
            if is_unique_violation(&e) {
                rules::experiment_name_taken(experiment)
            } else {
                e.into()
            }
        })?;
    Ok(())
}

pub(super) fn insert(conn: &Connection, experiment: &Experiment) -> Result<()> {
    rules::check_experiment_creation(&super::projects::get(conn, &experiment.project_id)?)?;
    write(conn, experiment, true)
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Experiment> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM experiments e WHERE e.id = ?1"
    ))?
    .query_row([id], from_row)
    .optional()?
    .ok_or_else(|| Error::not_found(EntityKind::Experiment, id))
}

pub(super) fn list(
    conn: &Connection,
    filter: &ExperimentFilter,
    page: &PageRequest,
) -> Result<Page<Experiment>> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM experiments e WHERE 1 = 1"));
    sql.and_eq("e.project_id", filter.project_id.clone())
        .and_eq("e.status", filter.status.map(|s| s.as_str().to_owned()))
        .and_eq("e.name", filter.name.clone())
        .and_contains("e.name", filter.name_contains.as_deref())
        .and_json_tag("e.tags", filter.tag.as_ref());
    super::search::and_lifecycle(&mut sql, "e", filter.lifecycle);
    crate::store::filter_sql::and_visible(
        &mut sql,
        "e.project_id",
        filter.visible_projects.as_deref(),
    );
    super::search::and_filter(
        &mut sql,
        filter.expr.as_ref(),
        super::search::Target::Experiments,
    )?;
    sql.page("e", page);
    let items = sql.query(conn, from_row)?;
    Ok(finish_page(items, page, |e| {
        cursor_key(
            page.sort,
            &e.id,
            &e.name,
            e.created_at.millis(),
            e.updated_at.millis(),
        )
    }))
}

pub(super) fn update(
    conn: &Connection,
    id: &str,
    mutation: Mutation<Experiment>,
    limits: &StoreLimits,
) -> Result<Experiment> {
    let mut experiment = get(conn, id)?;
    if rules::update_experiment(&mut experiment, mutation)? {
        let running: i64 = conn
            .prepare_cached(&super::sql::numbered(
                crate::store::statements::RUNNING_EXPERIMENTS,
            ))?
            .query_row([], |r| r.get(0))?;
        rules::check_concurrent_experiments(id, running, limits.max_concurrent_experiments)?;
    }
    write(conn, &experiment, false)?;
    Ok(experiment)
}

/// Deletes the experiment with its runs; returns the deleted run ids.
pub(super) fn delete(conn: &Connection, id: &str) -> Result<Vec<String>> {
    get(conn, id)?;
    let run_ids = super::runs::ids_where(conn, "experiment_id = ?1", id)?;
    super::metrics::delete_points_of_runs(conn, &run_ids)?;
    conn.prepare_cached("DELETE FROM experiments WHERE id = ?1")?
        .execute([id])?;
    Ok(run_ids)
}

pub(super) fn count_runs(conn: &Connection, experiment_ids: &[String]) -> Result<Vec<i64>> {
    // Unknown ids count 0, as on PostgreSQL.
    let mut statement = conn.prepare_cached("SELECT run_count FROM experiments WHERE id = ?1")?;
    experiment_ids
        .iter()
        .map(|id| {
            let count = statement.query_row([id], |r| r.get(0)).optional()?;
            Ok(count.unwrap_or(0))
        })
        .collect()
}

pub(super) fn latest_metrics(
    conn: &Connection,
    experiment_ids: &[String],
    keys: Option<&[String]>,
) -> Result<Vec<LatestMetric>> {
    if experiment_ids.is_empty() {
        return Ok(vec![]);
    }
    let mut sql = Sql::new(
        "SELECT r.experiment_id, r.id, s.key, s.last_value FROM metric_series s JOIN runs r ON r.id = s.run_id \
         WHERE s.point_count > 0 AND r.experiment_id IN ",
    );
    sql.bind_list(experiment_ids);
    if let Some(keys) = keys {
        if keys.is_empty() {
            return Ok(vec![]);
        }
        sql.push(" AND s.key IN ").bind_list(keys);
    }
    sql.push(" ORDER BY s.key, r.experiment_id, r.id");
    Ok(sql.query(conn, |row| {
        Ok(LatestMetric {
            experiment_id: row.get(0)?,
            run_id: row.get(1)?,
            key: row.get(2)?,
            value: super::sql::value_from_sql(row.get(3)?),
        })
    })?)
}

/// Soft-deletes or restores an experiment together with its runs. Restoring brings back only
/// the runs that went to the trash with the experiment (same deletion time).
pub(super) fn set_deleted(conn: &Connection, id: &str, deleted: bool) -> Result<Experiment> {
    let mut experiment = get(conn, id)?;
    let change = rules::trash_move(
        EntityKind::Experiment,
        id,
        experiment.deleted_at,
        deleted,
        Timestamp::now(),
    )?;
    if let rules::TrashMove::Restore(_) = change {
        let project = super::projects::get(conn, &experiment.project_id)?;
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
    super::move_children(conn, false, change, id, at)?;
    change.apply(&mut experiment.deleted_at, &mut experiment.updated_at);
    write(conn, &experiment, false)?;
    Ok(experiment)
}

pub(super) fn search(conn: &Connection, search: &Search) -> Result<Vec<Experiment>> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM experiments e WHERE 1 = 1"));
    super::search::and_lifecycle(&mut sql, "e", search.lifecycle);
    crate::store::filter_sql::and_visible(
        &mut sql,
        "e.project_id",
        search.visible_projects.as_deref(),
    );
    super::search::and_filter(
        &mut sql,
        search.filter.as_ref(),
        super::search::Target::Experiments,
    )?;
    super::search::experiment_order_by(&mut sql, &search.order_by)?;
    sql.push(&format!(
        " LIMIT {} OFFSET {}",
        search.limit + 1,
        search.offset
    ));
    Ok(sql.query(conn, from_row)?)
}

pub(super) fn find_by_name(conn: &Connection, name: &str) -> Result<Experiment> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM experiments e WHERE e.name = ?1 ORDER BY e.created_at, e.id LIMIT 1"
    ))?
    .query_row([name], from_row)
    .optional()?
    .ok_or_else(|| Error::not_found(EntityKind::Experiment, name))
}
