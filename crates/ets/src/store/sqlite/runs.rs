//! Runs, their params and tags, in SQLite.

use std::collections::HashMap;
use std::sync::LazyLock;

use ets_domain::Timestamp;
use ets_domain::model::{Experiment, ParamValue, Run, TagPatch};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::sql::{Sql, cursor_key, finish_page};
use crate::error::{EntityKind, Error, Result};
use crate::store::run_details::Detail;
use crate::store::statements::{self, RUN_COLUMNS as COLUMNS, RUN_FROM as FROM};
use crate::store::{Mutation, Page, PageRequest, RunFilter, Search, StoreLimits, rules};

fn from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    crate::store::rows::run(row)
}

/// Ids of runs matching a condition with one parameter.
pub(super) fn ids_where(conn: &Connection, condition: &str, param: &str) -> Result<Vec<String>> {
    let mut statement = conn.prepare_cached(&format!("SELECT id FROM runs WHERE {condition}"))?;
    let ids = statement
        .query_map([param], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(ids)
}

pub(super) fn insert(
    conn: &Connection,
    run: &Run,
    params: &[(String, ParamValue)],
    limits: &StoreLimits,
) -> Result<Experiment> {
    let experiment = super::experiments::get(conn, &run.experiment_id)?;
    // The counter kept by migration 17's triggers: O(1), where count(*) grew with the experiment.
    let runs: i64 = conn
        .prepare_cached("SELECT run_count FROM experiments WHERE id = ?1")?
        .query_row([&run.experiment_id], |r| r.get(0))?;
    rules::check_run_creation(&experiment, runs, limits.max_runs_per_experiment)?;
    if let Some(parent_id) = &run.parent_run_id {
        let parent_experiment: Option<String> = conn
            .prepare_cached("SELECT experiment_id FROM runs WHERE id = ?1")?
            .query_row([parent_id], |r| r.get(0))
            .optional()?;
        rules::check_parent_run(&run.experiment_id, parent_id, parent_experiment.as_deref())?;
    }
    conn.prepare_cached(&super::sql::numbered(statements::INSERT_RUN))?
        .execute(params![
            run.id,
            run.experiment_id,
            run.name,
            run.description,
            run.owner,
            run.status.as_str(),
            run.parent_run_id,
            run.created_at.millis(),
            run.updated_at.millis(),
            run.started_at.map(Timestamp::millis),
            run.ended_at.map(Timestamp::millis),
        ])?;
    add_params(conn, &run.id, params)?;
    let tags: TagPatch = run
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    apply_tags(conn, &run.id, &tags)?;
    Ok(experiment)
}

/// Adds params, refusing (before writing any) a different value for an existing key.
fn add_params(conn: &Connection, run_id: &str, params: &[(String, ParamValue)]) -> Result<()> {
    let mut existing =
        conn.prepare_cached("SELECT value FROM run_params WHERE run_id = ?1 AND key = ?2")?;
    let mut stored = HashMap::new();
    for (key, _) in params {
        if let Some(value) = existing
            .query_row([run_id, key], |r| r.get::<_, String>(0))
            .optional()?
        {
            stored.insert(key.clone(), value);
        }
    }
    let fresh = rules::merge_write_once_params(run_id, &stored, params)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO run_params (run_id, key, value, json) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (key, value) in fresh {
        insert.execute(params![run_id, key, value.text, value.json.to_string()])?;
    }
    Ok(())
}

fn apply_tags(conn: &Connection, run_id: &str, tags: &TagPatch) -> Result<()> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO run_tags (run_id, key, value) VALUES (?1, ?2, ?3) \
         ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
    )?;
    let mut remove = conn.prepare_cached("DELETE FROM run_tags WHERE run_id = ?1 AND key = ?2")?;
    for (key, value) in tags {
        match value {
            Some(value) => upsert.execute(params![run_id, key, value])?,
            None => remove.execute(params![run_id, key])?,
        };
    }
    Ok(())
}

/// The page of [`load_details`]: the ids, bound as one JSON array, as `page (n, id)`.
const DETAIL_PAGE: &str = "(SELECT key + 1 AS n, value AS id FROM json_each(?1)) AS page";

/// Fills params, tags, metric summaries, inputs and models of `runs`: one statement per table
/// over the whole page (`store::run_details`).
fn load_details(conn: &Connection, runs: &mut [Run]) -> Result<()> {
    static STATEMENTS: LazyLock<[(Detail, String); 5]> =
        LazyLock::new(|| Detail::ALL.map(|detail| (detail, detail.statement(DETAIL_PAGE))));
    if runs.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    let page = serde_json::to_string(&ids).map_err(|e| Error::internal(e.to_string()))?;
    for (detail, statement) in STATEMENTS.iter() {
        let mut statement = conn.prepare_cached(statement)?;
        let mut rows = statement.query([&page])?;
        while let Some(row) = rows.next()? {
            detail.attach(runs, row)?;
        }
    }
    Ok(())
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Run> {
    let mut run = get_bare(conn, id)?;
    load_details(conn, std::slice::from_mut(&mut run))?;
    Ok(run)
}

/// The runs `ids` that exist, in that order, with their details.
pub(super) fn get_many(conn: &Connection, ids: &[String]) -> Result<Vec<Run>> {
    static STATEMENT: LazyLock<String> =
        LazyLock::new(|| crate::store::run_details::runs_statement(DETAIL_PAGE));
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let page = serde_json::to_string(ids).map_err(|e| Error::internal(e.to_string()))?;
    let mut runs = conn
        .prepare_cached(&STATEMENT)?
        .query_map([&page], from_row)?
        .collect::<rusqlite::Result<Vec<Run>>>()?;
    load_details(conn, &mut runs)?;
    Ok(runs)
}

pub(super) fn get_bare(conn: &Connection, id: &str) -> Result<Run> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} {FROM} WHERE r.id = ?1"))?
        .query_row([id], from_row)
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::Run, id))
}

pub(super) fn list(conn: &Connection, filter: &RunFilter, page: &PageRequest) -> Result<Page<Run>> {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} {FROM} WHERE 1 = 1"));
    sql.and_eq("r.experiment_id", filter.experiment_id.clone())
        .and_eq("e.project_id", filter.project_id.clone())
        .and_eq("r.status", filter.status.map(|s| s.as_str().to_owned()))
        .and_eq("r.name", filter.name.clone())
        .and_contains("r.name", filter.name_contains.as_deref())
        .and_eq("r.parent_run_id", filter.parent_run_id.clone());
    if let Some(tag) = &filter.tag {
        sql.push(" AND EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = r.id AND t.key = ")
            .bind(tag.key.clone());
        if let Some(value) = &tag.value {
            sql.push(" AND t.value = ").bind(value.clone());
        }
        sql.push(")");
    }
    super::search::and_lifecycle(&mut sql, "r", filter.lifecycle);
    crate::store::filter_sql::and_visible(
        &mut sql,
        "e.project_id",
        filter.visible_projects.as_deref(),
    );
    super::search::and_filter(&mut sql, filter.expr.as_ref(), super::search::Target::Runs)?;
    sql.page("r", page);
    let items = sql.query(conn, from_row)?;
    let mut page_of_runs = finish_page(items, page, |r| {
        cursor_key(
            page.sort,
            &r.id,
            &r.name,
            r.created_at.millis(),
            r.updated_at.millis(),
        )
    });
    load_details(conn, &mut page_of_runs.items)?;
    Ok(page_of_runs)
}

pub(super) fn update(
    conn: &Connection,
    id: &str,
    mutation: Mutation<Run>,
    params: &[(String, ParamValue)],
    tags: &TagPatch,
) -> Result<Run> {
    let mut run = get_bare(conn, id)?;
    if rules::update_run(&mut run, mutation)? {
        let experiment = super::experiments::get(conn, &run.experiment_id)?;
        rules::check_restorable(
            EntityKind::Run,
            EntityKind::Experiment,
            &experiment.id,
            experiment.deleted_at,
        )?;
    }
    conn.prepare_cached(&super::sql::numbered(statements::UPDATE_RUN))?
        .execute(params![
            run.id,
            run.name,
            run.description,
            run.owner,
            run.status.as_str(),
            run.updated_at.millis(),
            run.started_at.map(Timestamp::millis),
            run.ended_at.map(Timestamp::millis),
            run.deleted_at.map(Timestamp::millis),
        ])?;
    add_params(conn, id, params)?;
    apply_tags(conn, id, tags)?;
    get(conn, id)
}

pub(super) fn delete(conn: &Connection, id: &str) -> Result<()> {
    get_bare(conn, id)?;
    super::metrics::delete_points_of_runs(conn, &[id.to_owned()])?;
    conn.prepare_cached("DELETE FROM runs WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Marks a run as recently active (metric logging counts as activity).
pub(super) fn touch(conn: &Connection, id: &str, at: Timestamp) -> Result<()> {
    conn.prepare_cached("UPDATE runs SET updated_at = max(updated_at, ?2) WHERE id = ?1")?
        .execute(params![id, at.millis()])?;
    Ok(())
}

pub(super) fn search(conn: &Connection, search: &Search) -> Result<Vec<Run>> {
    if search.experiment_ids.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = search.limit + 1;
    let mut runs = Vec::new();
    for part in super::search::run_search_parts(search) {
        let mut sql = Sql::new("");
        super::search::run_search(&mut sql, search, *part, wanted - runs.len())?;
        runs.extend(sql.query(conn, from_row)?);
        if runs.len() >= wanted {
            break;
        }
    }
    load_details(conn, &mut runs)?;
    Ok(runs)
}

/// Adds params and applies tags (and a new name) to an active run, without the read-back of
/// `update`: the MLflow logging calls answer with an empty body.
pub(super) fn log_params_and_tags(
    conn: &Connection,
    id: &str,
    params: &[(String, ParamValue)],
    tags: &TagPatch,
    rename: Option<String>,
) -> Result<()> {
    ensure_active(conn, id)?;
    add_params(conn, id, params)?;
    apply_tags(conn, id, tags)?;
    let now = Timestamp::now().millis();
    match rename {
        Some(name) => conn
            .prepare_cached(
                "UPDATE runs SET name = ?2, updated_at = max(updated_at, ?3) WHERE id = ?1",
            )?
            .execute(params![id, name, now])?,
        None => conn
            .prepare_cached("UPDATE runs SET updated_at = max(updated_at, ?2) WHERE id = ?1")?
            .execute(params![id, now])?,
    };
    Ok(())
}

/// Refuses writes to a run that does not exist or is in the trash.
pub(super) fn ensure_active(conn: &Connection, id: &str) -> Result<()> {
    let deleted: Option<Option<i64>> = conn
        .prepare_cached("SELECT deleted_at FROM runs WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    rules::check_run_active(id, deleted)
}
