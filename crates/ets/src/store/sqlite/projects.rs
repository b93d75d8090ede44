//! Projects in SQLite.

use std::collections::BTreeMap;

use ets_domain::Timestamp;
use ets_domain::model::{Project, ProjectStats, StatusCounts};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::sql::{Sql, cursor_key, finish_page, is_unique_violation, to_json};
use crate::error::{EntityKind, Error, Result};
use crate::store::statements::{self, PROJECT_COLUMNS as COLUMNS};
use crate::store::{Mutation, Page, PageRequest, ProjectFilter, rules};

fn from_row(row: &Row<'_>) -> rusqlite::Result<Project> {
    crate::store::rows::project(row)
}

/// A unique-key violation is the project name being taken.
fn map_unique(e: rusqlite::Error, name: &str) -> Error {
    if is_unique_violation(&e) {
        rules::project_name_taken(name)
    } else {
        e.into()
    }
}

pub(super) fn insert(conn: &Connection, project: &Project) -> Result<()> {
    conn.prepare_cached(&super::sql::numbered(statements::INSERT_PROJECT))?
        .execute(params![
            project.id,
            project.name,
            project.description,
            project.owner,
            to_json(&project.members),
            to_json(&project.tags),
            project.status.as_str(),
            project.template,
            to_json(&project.experiment_defaults),
            project.created_at.millis(),
            project.updated_at.millis(),
        ])
        .map_err(|e| map_unique(e, &project.name))?;
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Project> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM projects p WHERE p.id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Project, id))
}

pub(super) fn list(
    conn: &Connection,
    filter: &ProjectFilter,
    page: &PageRequest,
) -> Result<Page<Project>> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM projects p WHERE 1 = 1"));
    sql.and_eq("p.status", filter.status.map(|s| s.as_str().to_owned()))
        .and_eq("p.name", filter.name.clone())
        .and_contains("p.name", filter.name_contains.as_deref())
        .and_eq("p.owner", filter.owner.clone())
        .and_json_tag("p.tags", filter.tag.as_ref());
    super::search::and_lifecycle(&mut sql, "p", filter.lifecycle);
    crate::store::filter_sql::and_visible(&mut sql, "p.id", filter.visible_projects.as_deref());
    sql.page("p", page);
    let items = sql.query(conn, from_row)?;
    Ok(finish_page(items, page, |p| {
        cursor_key(
            page.sort,
            &p.id,
            &p.name,
            p.created_at.millis(),
            p.updated_at.millis(),
        )
    }))
}

pub(super) fn update(conn: &Connection, id: &str, mutation: Mutation<Project>) -> Result<Project> {
    let mut project = get(conn, id)?;
    rules::update_project(&mut project, mutation)?;
    conn.prepare_cached(&super::sql::numbered(statements::UPDATE_PROJECT))?
        .execute(params![
            project.id,
            project.name,
            project.description,
            project.owner,
            to_json(&project.members),
            to_json(&project.tags),
            project.status.as_str(),
            to_json(&project.experiment_defaults),
            project.updated_at.millis(),
        ])
        .map_err(|e| map_unique(e, &project.name))?;
    Ok(project)
}

/// Deletes the project for good and returns the ids of the runs deleted with it.
pub(super) fn delete(conn: &Connection, id: &str, cascade: bool) -> Result<Vec<String>> {
    get(conn, id)?;
    let experiments: i64 = conn
        .prepare_cached(&super::sql::numbered(
            crate::store::statements::PROJECT_EXPERIMENTS,
        ))?
        .query_row([id], |r| r.get(0))?;
    rules::check_project_cascade(id, experiments, cascade)?;
    let run_ids = super::runs::ids_where(
        conn,
        "experiment_id IN (SELECT id FROM experiments WHERE project_id = ?1)",
        id,
    )?;
    super::metrics::delete_points_of_runs(conn, &run_ids)?;
    conn.prepare_cached("DELETE FROM projects WHERE id = ?1")?
        .execute([id])?;
    Ok(run_ids)
}

/// Moves the project with its experiments and their runs to the trash, or restores it with
/// those that went there with it (same deletion time).
pub(super) fn set_deleted(
    conn: &Connection,
    id: &str,
    deleted: bool,
    cascade: bool,
) -> Result<Project> {
    let mut project = get(conn, id)?;
    let change = rules::trash_move(
        EntityKind::Project,
        id,
        project.deleted_at,
        deleted,
        Timestamp::now(),
    )?;
    let Some(at) = change.at() else {
        return Ok(project);
    };
    if let rules::TrashMove::Trash(_) = change {
        let experiments: i64 = conn
            .prepare_cached(&super::sql::numbered(
                crate::store::statements::PROJECT_LIVE_EXPERIMENTS,
            ))?
            .query_row([id], |r| r.get(0))?;
        rules::check_project_cascade(id, experiments, cascade)?;
    }
    super::move_children(conn, true, change, id, at)?;
    change.apply(&mut project.deleted_at, &mut project.updated_at);
    conn.prepare_cached(&super::sql::numbered(
        crate::store::statements::SET_PROJECT_DELETED,
    ))?
    .execute(params![
        id,
        project.deleted_at.map(Timestamp::millis),
        project.updated_at.millis()
    ])?;
    Ok(project)
}

fn counts_by_status(conn: &Connection, sql: &str, id: &str) -> Result<StatusCounts> {
    let mut by_status = BTreeMap::new();
    let mut total = 0;
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (status, count) = row?;
        total += count;
        by_status.insert(status, count);
    }
    Ok(StatusCounts { total, by_status })
}

pub(super) fn stats(conn: &Connection, id: &str) -> Result<ProjectStats> {
    let project = get(conn, id)?;
    let experiments = counts_by_status(
        conn,
        "SELECT status, count(*) FROM experiments WHERE project_id = ?1 GROUP BY status",
        id,
    )?;
    let runs = counts_by_status(
        conn,
        "SELECT r.status, count(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id \
         WHERE e.project_id = ?1 GROUP BY r.status",
        id,
    )?;
    let (metric_series, metric_points): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(s.point_count), 0) FROM metric_series s \
             JOIN runs r ON r.id = s.run_id JOIN experiments e ON e.id = r.experiment_id WHERE e.project_id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (artifacts, artifact_bytes): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(a.size), 0) FROM artifacts a \
             JOIN runs r ON r.id = a.run_id JOIN experiments e ON e.id = r.experiment_id WHERE e.project_id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let last_child_activity: Option<i64> = conn
        .prepare_cached(
            "SELECT max(t) FROM (SELECT max(updated_at) AS t FROM experiments WHERE project_id = ?1 \
             UNION ALL SELECT max(r.updated_at) FROM runs r JOIN experiments e ON e.id = r.experiment_id \
             WHERE e.project_id = ?1)",
        )?
        .query_row([id], |r| r.get(0))?;
    Ok(ProjectStats {
        project_id: project.id,
        experiments,
        runs,
        metric_series,
        metric_points,
        artifacts,
        artifact_bytes,
        last_activity: Timestamp(
            last_child_activity
                .unwrap_or(0)
                .max(project.updated_at.millis()),
        ),
    })
}
