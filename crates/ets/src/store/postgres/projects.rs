//! PostgreSQL: projects.

use std::collections::BTreeMap;

use ets_domain::Timestamp;
use ets_domain::model::{Project, ProjectStats, StatusCounts};
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use super::sql::{Sql, cursor_key, finish_page, is_unique_violation};
use super::{PgStore, Tx};
use crate::error::{EntityKind, Error, Result};
use crate::store::statements::{self, PROJECT_COLUMNS as COLUMNS};
use crate::store::{Mutation, Page, PageRequest, ProjectFilter, rules};

fn from_row(row: &Row) -> std::result::Result<Project, tokio_postgres::Error> {
    crate::store::rows::project(row)
}

fn map_unique(e: tokio_postgres::Error, name: &str) -> Error {
    if is_unique_violation(&e) {
        rules::project_name_taken(name)
    } else {
        e.into()
    }
}

/// The project, optionally locked (`FOR UPDATE`, `FOR SHARE`, …) until the transaction ends.
pub(super) async fn get(tx: &Tx<'_>, id: &str, lock: &str) -> Result<Project> {
    let statement = tx
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM projects p WHERE p.id = $1 {lock}"
        ))
        .await?;
    match tx.query_opt(&statement, &[&id]).await? {
        Some(row) => Ok(from_row(&row)?),
        None => Err(Error::not_found(EntityKind::Project, id)),
    }
}

async fn counts_by_status(tx: &Tx<'_>, sql: &str, id: &str) -> Result<StatusCounts> {
    let statement = tx.prepare_cached(sql).await?;
    let mut by_status = BTreeMap::new();
    let mut total = 0;
    for row in tx.query(&statement, &[&id]).await? {
        let (status, count): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        total += count;
        by_status.insert(status, count);
    }
    Ok(StatusCounts { total, by_status })
}

impl PgStore {
    pub(super) async fn create_project(
        &self,
        project: Project,
        admin: Option<String>,
    ) -> Result<Project> {
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(statements::INSERT_PROJECT).await?;
                tx.execute(
                    &statement,
                    &[
                        &project.id,
                        &project.name,
                        &project.description,
                        &project.owner,
                        &Json(&project.members),
                        &Json(&project.tags),
                        &project.status.as_str(),
                        &project.template,
                        &Json(&project.experiment_defaults),
                        &project.created_at.millis(),
                        &project.updated_at.millis(),
                    ],
                )
                .await
                .map_err(|e| map_unique(e, &project.name))?;
                if let Some(admin) = &admin {
                    super::identity::add_first_admin(
                        tx,
                        &project.id,
                        admin,
                        project.created_at.millis(),
                    )
                    .await?;
                }
                Ok(project)
            })
        })
        .await
    }

    pub(super) async fn get_project(&self, id: &str) -> Result<Project> {
        let id = id.to_owned();
        self.read(move |tx| Box::pin(async move { get(tx, &id, "").await }))
            .await
    }

    pub(super) async fn list_projects(
        &self,
        filter: ProjectFilter,
        page: PageRequest,
    ) -> Result<Page<Project>> {
        self.read(move |tx| {
            Box::pin(async move {
                let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM projects p WHERE 1 = 1"));
                sql.and_eq("p.status", filter.status.map(|s| s.as_str()))
                    .and_eq("p.name", filter.name.clone())
                    .and_contains("p.name", filter.name_contains.as_deref())
                    .and_eq("p.owner", filter.owner.clone())
                    .and_json_tag("p.tags", filter.tag.as_ref());
                super::search::and_lifecycle(&mut sql, "p", filter.lifecycle);
                crate::store::filter_sql::and_visible(
                    &mut sql,
                    "p.id",
                    filter.visible_projects.as_deref(),
                );
                sql.page("p", &page);
                let items = sql.query(tx, from_row).await?;
                Ok(finish_page(items, &page, |p| {
                    cursor_key(
                        page.sort,
                        &p.id,
                        &p.name,
                        p.created_at.millis(),
                        p.updated_at.millis(),
                    )
                }))
            })
        })
        .await
    }

    pub(super) async fn update_project(
        &self,
        id: &str,
        mutation: Mutation<Project>,
    ) -> Result<Project> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let mut project = get(tx, &id, "FOR UPDATE").await?;
                rules::update_project(&mut project, mutation)?;
                let statement = tx.prepare_cached(statements::UPDATE_PROJECT).await?;
                tx.execute(
                    &statement,
                    &[
                        &project.id,
                        &project.name,
                        &project.description,
                        &project.owner,
                        &Json(&project.members),
                        &Json(&project.tags),
                        &project.status.as_str(),
                        &Json(&project.experiment_defaults),
                        &project.updated_at.millis(),
                    ],
                )
                .await
                .map_err(|e| map_unique(e, &project.name))?;
                Ok(project)
            })
        })
        .await
    }

    /// Moves the project with its experiments and their runs to the trash, or restores it
    /// with those that went there with it (same deletion time).
    pub(super) async fn set_project_deleted(
        &self,
        id: &str,
        deleted: bool,
        cascade: bool,
    ) -> Result<Project> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                // Locked so no experiment is added while the project moves.
                let mut project = get(tx, &id, "FOR UPDATE").await?;
                let change = rules::trash_move(
                    EntityKind::Project,
                    &id,
                    project.deleted_at,
                    deleted,
                    Timestamp::now(),
                )?;
                let Some(at) = change.at() else {
                    return Ok(project);
                };
                if let rules::TrashMove::Trash(_) = change {
                    let statement = tx
                        .prepare_cached(crate::store::statements::PROJECT_LIVE_EXPERIMENTS)
                        .await?;
                    let experiments: i64 = tx.query_one(&statement, &[&id]).await?.try_get(0)?;
                    rules::check_project_cascade(&id, experiments, cascade)?;
                }
                super::move_children(tx, true, change, &id, at).await?;
                change.apply(&mut project.deleted_at, &mut project.updated_at);
                let statement = tx
                    .prepare_cached(crate::store::statements::SET_PROJECT_DELETED)
                    .await?;
                tx.execute(
                    &statement,
                    &[
                        &id,
                        &project.deleted_at.map(Timestamp::millis),
                        &project.updated_at.millis(),
                    ],
                )
                .await?;
                Ok(project)
            })
        })
        .await
    }

    /// Deletes the project for good and returns the ids of the runs deleted with it.
    pub(super) async fn delete_project(&self, id: &str, cascade: bool) -> Result<Vec<String>> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                // Locked so no experiment is added while it is counted and deleted.
                get(tx, &id, "FOR UPDATE").await?;
                let statement = tx
                    .prepare_cached(crate::store::statements::PROJECT_EXPERIMENTS)
                    .await?;
                let experiments: i64 = tx.query_one(&statement, &[&id]).await?.try_get(0)?;
                rules::check_project_cascade(&id, experiments, cascade)?;
                let run_ids = super::runs::ids_where(
                    tx,
                    "experiment_id IN (SELECT id FROM experiments WHERE project_id = $1)",
                    &id,
                )
                .await?;
                super::metrics::delete_points_of_runs(tx, &run_ids).await?;
                let statement = tx
                    .prepare_cached("DELETE FROM projects WHERE id = $1")
                    .await?;
                tx.execute(&statement, &[&id]).await?;
                Ok(run_ids)
            })
        })
        .await
    }

    pub(super) async fn project_stats(&self, id: &str) -> Result<ProjectStats> {
        let id = id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                let project = get(tx, &id, "").await?;
                let experiments = counts_by_status(
                    tx,
                    "SELECT status, count(*) FROM experiments WHERE project_id = $1 GROUP BY status",
                    &id,
                )
                .await?;
                let runs = counts_by_status(
                    tx,
                    "SELECT r.status, count(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id \
                     WHERE e.project_id = $1 GROUP BY r.status",
                    &id,
                )
                .await?;
                let statement = tx
                    .prepare_cached(
                        "SELECT \
                         (SELECT count(*) FROM metric_series s JOIN runs r ON r.id = s.run_id \
                          JOIN experiments e ON e.id = r.experiment_id WHERE e.project_id = $1), \
                         (SELECT coalesce(sum(s.point_count), 0)::bigint FROM metric_series s \
                          JOIN runs r ON r.id = s.run_id JOIN experiments e ON e.id = r.experiment_id \
                          WHERE e.project_id = $1), \
                         (SELECT count(*) FROM artifacts a JOIN runs r ON r.id = a.run_id \
                          JOIN experiments e ON e.id = r.experiment_id WHERE e.project_id = $1), \
                         (SELECT coalesce(sum(a.size), 0)::bigint FROM artifacts a \
                          JOIN runs r ON r.id = a.run_id JOIN experiments e ON e.id = r.experiment_id \
                          WHERE e.project_id = $1), \
                         greatest((SELECT max(updated_at) FROM experiments WHERE project_id = $1), \
                          (SELECT max(r.updated_at) FROM runs r JOIN experiments e ON e.id = r.experiment_id \
                           WHERE e.project_id = $1))",
                    )
                    .await?;
                let row = tx.query_one(&statement, &[&id]).await?;
                let last_child_activity: Option<i64> = row.try_get(4)?;
                Ok(ProjectStats {
                    project_id: project.id,
                    experiments,
                    runs,
                    metric_series: row.try_get(0)?,
                    metric_points: row.try_get(1)?,
                    artifacts: row.try_get(2)?,
                    artifact_bytes: row.try_get(3)?,
                    last_activity: Timestamp(
                        last_child_activity
                            .unwrap_or(0)
                            .max(project.updated_at.millis()),
                    ),
                })
            })
        })
        .await
    }
}
