//! The search filter language (`ets_domain::filter`) and `order_by` compiled to SQL, once for
//! both backends. A backend's query builder implements [`FilterSql`]: how to append text and
//! bind a value (its placeholder style, `?` or `$N`), and which [`Dialect`] it speaks for the
//! few expressions that differ (text collation, LIKE, JSON, missing values in ORDER BY).
//!
//! Runs are aliased `r` (joined with their experiment as `e`), experiments `e`. Each
//! comparison becomes a column test or an `EXISTS` over the table that holds the key, so
//! every condition uses an index on `(run_id, key)` and runs stay one row each. Both backends
//! give the same results: text is compared and ordered bytewise (PostgreSQL under the "C"
//! collation), LIKE is case-sensitive (SQLite's GLOB), ILIKE folds ASCII letters only, and
//! missing values sort last in both directions.

use ets_domain::filter::{Comparison, Entity, Expr, Op, OrderKey, Value};

use crate::error::{Error, Result};
use crate::store::statements::{RUN_COLUMNS, RUN_FROM};
use crate::store::{CursorValue, Lifecycle, PageRequest, RunCursor, Search, keyset_metric};

/// What a filter is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Runs,
    Experiments,
}

/// The SQL dialect of a backend, for the few expressions that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A backend's SQL builder, as the search compiler drives it.
pub(crate) trait FilterSql {
    const DIALECT: Dialect;
    /// Appends SQL text.
    fn push_sql(&mut self, text: &str);
    /// Appends a placeholder bound to text.
    fn bind_text(&mut self, value: String);
    /// Appends a placeholder bound to a float.
    fn bind_f64(&mut self, value: f64);
    /// Appends a placeholder bound to an integer.
    fn bind_i64(&mut self, value: i64);
    /// Binds text and returns its placeholder, for SQL written next (before any other value
    /// is bound: `?` placeholders are positional).
    fn text_param(&mut self, value: String) -> String;
    /// Appends a membership test of the preceding column in `values` (not empty): ` IN (…)`,
    /// or ` = …` for one value, which an index can walk in order.
    fn bind_text_in(&mut self, values: &[String]);
}

/// ` AND {column} LIKE '%…%'` folding ASCII letters only (SQLite's LIKE; PostgreSQL's ILIKE
/// under the "C" collation), with the wildcards of `needle` escaped.
pub(crate) fn and_contains<S: FilterSql>(sql: &mut S, column: &str, needle: Option<&str>) {
    if let Some(needle) = needle {
        let escaped = needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let like = match S::DIALECT {
            Dialect::Sqlite => " LIKE ",
            Dialect::Postgres => " COLLATE \"C\" ILIKE ",
        };
        sql.push_sql(&format!(" AND {column}{like}"));
        sql.bind_text(format!("%{escaped}%"));
        sql.push_sql(" ESCAPE '\\'");
    }
}

/// Keyset condition and ORDER BY / LIMIT for a page. Fetches one row more than the page so
/// the caller knows whether another page follows.
pub(crate) fn page<S: FilterSql>(sql: &mut S, alias: &str, page: &PageRequest) {
    let column = format!("{alias}.{}", page.sort.as_str());
    let direction = if page.descending { "DESC" } else { "ASC" };
    if let Some(cursor) = &page.after {
        let op = if page.descending { "<" } else { ">" };
        sql.push_sql(&format!(" AND ({column}, {alias}.id) {op} ("));
        match &cursor.sort_value {
            CursorValue::Int(v) => sql.bind_i64(*v),
            CursorValue::Text(v) => sql.bind_text(v.clone()),
        }
        sql.push_sql(", ");
        sql.bind_text(cursor.id.clone());
        sql.push_sql(")");
    }
    sql.push_sql(&format!(
        " ORDER BY {column} {direction}, {alias}.id {direction} LIMIT {}",
        u64::from(page.page_size) + 1
    ));
}

/// One statement of a run search; [`run_search_parts`] says which a search runs, in order,
/// until a page is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunSearchPart {
    /// Any order: every matching run of the experiments sorted, offset-paged.
    Sorted,
    /// Ordered by one metric: the runs with a value of it, walked in value order through the
    /// index on `metric_series (experiment_id, key, last_value)`, filtered as they come, so a
    /// page costs about the runs it passes over, not the experiment's size.
    WithMetric,
    /// Ordered by one metric: the runs without a value of it (or NaN), which come last.
    WithoutMetric,
}

/// The statements of a run search, in order. Runs ordered by one metric are paged by keyset
/// from the first page on (offset tokens of old pages keep the sorted statement). A filter
/// that compares the metric leaves no run without a value of it: the second statement (a scan
/// of the experiments) is skipped then.
pub(crate) fn run_search_parts(search: &Search) -> &'static [RunSearchPart] {
    use RunSearchPart::{Sorted, WithMetric, WithoutMetric};
    let Some(key) = keyset_metric(&search.order_by).filter(|_| search.offset == 0) else {
        return &[Sorted];
    };
    let past_the_values = matches!(&search.after, Some(cursor) if cursor.value.is_none());
    let filter_needs_value = filter_compares_metric(search.filter.as_ref(), &key.key);
    match (past_the_values, filter_needs_value) {
        (false, false) => &[WithMetric, WithoutMetric],
        (false, true) => &[WithMetric],
        (true, false) => &[WithoutMetric],
        (true, true) => &[],
    }
}

/// Whether a term of the filter's top-level conjunction compares metric `key`: every such
/// comparison is false for a run without a value (SQL's NULL compares to nothing).
fn filter_compares_metric(expr: Option<&Expr>, key: &str) -> bool {
    let compares =
        |e: &Expr| matches!(e, Expr::Compare(c) if c.entity == Entity::Metric && c.key == key);
    match expr {
        Some(Expr::And(parts)) => parts.iter().any(compares),
        Some(expr) => compares(expr),
        None => false,
    }
}

/// A run's start time as searches order it (newest first, after the requested keys).
const RUN_START: &str = "coalesce(r.started_at, r.created_at)";

/// Appends statement `part` of a run search (columns [`RUN_COLUMNS`]), at most `limit` runs.
pub(crate) fn run_search<S: FilterSql>(
    sql: &mut S,
    search: &Search,
    part: RunSearchPart,
    limit: usize,
) -> Result<()> {
    let metric = keyset_metric(&search.order_by);
    match (part, metric) {
        (RunSearchPart::Sorted, _) => {
            sql.push_sql(&format!(
                "SELECT {RUN_COLUMNS} {RUN_FROM} WHERE r.experiment_id"
            ));
            sql.bind_text_in(&search.experiment_ids);
            and_run_conditions(sql, search)?;
            run_order_by(sql, &search.order_by)?;
            sql.push_sql(&format!(" LIMIT {limit} OFFSET {}", search.offset));
        }
        (RunSearchPart::WithMetric, Some(key)) => {
            sql.push_sql(&format!(
                "SELECT {RUN_COLUMNS} FROM metric_series ms JOIN runs r ON r.id = ms.run_id \
                 JOIN experiments e ON e.id = r.experiment_id WHERE ms.experiment_id"
            ));
            sql.bind_text_in(&search.experiment_ids);
            sql.push_sql(" AND ms.key = ");
            sql.bind_text(key.key.clone());
            sql.push_sql(" AND ms.last_value IS NOT NULL");
            and_run_conditions(sql, search)?;
            let (direction, beyond) = if key.ascending {
                ("ASC", ">")
            } else {
                ("DESC", "<")
            };
            if let Some(cursor) = &search.after
                && let Some(value) = cursor.value
            {
                // The first term bounds the index walk; the second skips the ties seen.
                sql.push_sql(&format!(" AND ms.last_value {beyond}= "));
                sql.bind_f64(value);
                sql.push_sql(&format!(" AND (ms.last_value {beyond} "));
                sql.bind_f64(value);
                sql.push_sql(" OR ");
                push_after_start_and_id(sql, cursor);
                sql.push_sql(")");
            }
            sql.push_sql(&format!(
                " ORDER BY ms.last_value {direction}, {RUN_START} DESC, r.id ASC LIMIT {limit}"
            ));
        }
        (RunSearchPart::WithoutMetric, Some(key)) => {
            sql.push_sql(&format!(
                "SELECT {RUN_COLUMNS} {RUN_FROM} WHERE r.experiment_id"
            ));
            sql.bind_text_in(&search.experiment_ids);
            and_run_conditions(sql, search)?;
            sql.push_sql(
                " AND NOT EXISTS (SELECT 1 FROM metric_series ms WHERE ms.run_id = r.id AND ms.key = ",
            );
            sql.bind_text(key.key.clone());
            sql.push_sql(" AND ms.last_value IS NOT NULL)");
            if let Some(cursor) = &search.after
                && cursor.value.is_none()
            {
                sql.push_sql(" AND ");
                push_after_start_and_id(sql, cursor);
            }
            sql.push_sql(&format!(
                " ORDER BY {RUN_START} DESC, r.id ASC LIMIT {limit}"
            ));
        }
        (RunSearchPart::WithMetric | RunSearchPart::WithoutMetric, None) => {
            debug_assert!(false, "a keyset part without a metric order");
            return Err(Error::Internal(
                "a keyset search part needs an order by one metric".into(),
            ));
        }
    }
    Ok(())
}

/// The conditions every run search applies: lifecycle, visible projects, the filter.
fn and_run_conditions<S: FilterSql>(sql: &mut S, search: &Search) -> Result<()> {
    and_lifecycle(sql, "r", search.lifecycle);
    and_visible(sql, "e.project_id", search.visible_projects.as_deref());
    and_filter(sql, search.filter.as_ref(), Target::Runs)
}

/// `(start < cursor's OR (start = cursor's AND r.id > cursor's))`: after the cursor among
/// runs of one metric value (the tie-breakers of [`run_order_by`]).
fn push_after_start_and_id<S: FilterSql>(sql: &mut S, cursor: &RunCursor) {
    sql.push_sql(&format!("({RUN_START} < "));
    sql.bind_i64(cursor.start);
    sql.push_sql(&format!(" OR ({RUN_START} = "));
    sql.bind_i64(cursor.start);
    sql.push_sql(" AND r.id > ");
    sql.bind_text(cursor.id.clone());
    sql.push_sql("))");
}

/// Appends the lifecycle condition for alias `alias`.
pub(crate) fn and_lifecycle<S: FilterSql>(sql: &mut S, alias: &str, lifecycle: Lifecycle) {
    sql.push_sql(&lifecycle_condition(alias, lifecycle));
}

/// Limits a list to the projects a caller may see (`None`: all): ` AND {column} IN (…)`.
pub(crate) fn and_visible<S: FilterSql>(sql: &mut S, column: &str, projects: Option<&[String]>) {
    let Some(projects) = projects else { return };
    if projects.is_empty() {
        sql.push_sql(" AND 1 = 0");
        return;
    }
    sql.push_sql(&format!(" AND {column} IN ("));
    for (i, project) in projects.iter().enumerate() {
        if i > 0 {
            sql.push_sql(", ");
        }
        sql.bind_text(project.clone());
    }
    sql.push_sql(")");
}

/// Appends ` AND (<expr>)` when there is a filter.
pub(crate) fn and_filter<S: FilterSql>(
    sql: &mut S,
    expr: Option<&Expr>,
    target: Target,
) -> Result<()> {
    match expr {
        // PostgreSQL turns each `EXISTS` of the top-level conjunction into a semi-join, and
        // its planning time grows with the cube of their number (50: ~1 s, 200: ~60 s).
        // Beyond a few, each term is written `(…) IS TRUE` (the same truth in a WHERE clause),
        // which keeps them per-row subqueries, as SQLite runs them anyway.
        Some(Expr::And(parts)) if parts.len() > MAX_SEMI_JOINS => {
            for part in parts {
                sql.push_sql(" AND (");
                push_expr(sql, part, target)?;
                sql.push_sql(") IS TRUE");
            }
        }
        Some(expr) => {
            sql.push_sql(" AND ");
            push_expr(sql, expr, target)?;
        }
        None => {}
    }
    Ok(())
}

/// Most terms of a filter's top-level `AND` written as they are (see [`and_filter`]).
const MAX_SEMI_JOINS: usize = 8;

fn push_expr<S: FilterSql>(sql: &mut S, expr: &Expr, target: Target) -> Result<()> {
    match expr {
        Expr::And(parts) | Expr::Or(parts) => {
            let joiner = if matches!(expr, Expr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push_sql("(");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    sql.push_sql(joiner);
                }
                push_expr(sql, part, target)?;
            }
            sql.push_sql(")");
        }
        Expr::Compare(comparison) => match target {
            Target::Runs => run_comparison(sql, comparison)?,
            Target::Experiments => experiment_comparison(sql, comparison)?,
        },
    }
    Ok(())
}

fn run_comparison<S: FilterSql>(sql: &mut S, c: &Comparison) -> Result<()> {
    match c.entity {
        Entity::Metric => exists(
            sql,
            "SELECT 1 FROM metric_series ms WHERE ms.run_id = r.id AND ms.point_count > 0 AND ms.key = ",
            c,
            "ms.last_value",
            true,
        ),
        Entity::Param => exists(
            sql,
            "SELECT 1 FROM run_params p WHERE p.run_id = r.id AND p.key = ",
            c,
            "p.value",
            false,
        ),
        // MLflow shows a run's name as the tag `mlflow.runName`; ours lives in the run row.
        Entity::Tag if c.key == "mlflow.runName" => compare(sql, "r.name", c, false),
        Entity::Tag => exists(
            sql,
            "SELECT 1 FROM run_tags t WHERE t.run_id = r.id AND t.key = ",
            c,
            "t.value",
            false,
        ),
        Entity::Attribute => {
            let column = run_attribute(&c.key).ok_or_else(|| unsupported(c, "attribute"))?;
            compare(sql, column.sql, c, column.numeric)
        }
        Entity::Dataset => {
            let column = match c.key.as_str() {
                "name" => "d.name",
                "digest" => "d.digest",
                "context" => match S::DIALECT {
                    Dialect::Sqlite => "json_extract(ri.tags, '$.\"mlflow.data.context\"')",
                    Dialect::Postgres => "(ri.tags ->> 'mlflow.data.context')",
                },
                _ => return Err(unsupported(c, "dataset attribute")),
            };
            sql.push_sql("EXISTS (SELECT 1 FROM run_inputs ri JOIN datasets d ON d.id = ri.dataset_id WHERE ri.run_id = r.id AND ");
            compare(sql, column, c, false)?;
            sql.push_sql(")");
            Ok(())
        }
    }
}

fn experiment_comparison<S: FilterSql>(sql: &mut S, c: &Comparison) -> Result<()> {
    match c.entity {
        // A missing key matches no comparison.
        Entity::Tag => {
            match S::DIALECT {
                Dialect::Sqlite => {
                    sql.push_sql("EXISTS (SELECT 1 FROM json_each(e.tags) j WHERE j.key = ");
                    sql.bind_text(c.key.clone());
                    sql.push_sql(" AND ");
                    compare(sql, "j.value", c, false)?;
                    sql.push_sql(")");
                }
                Dialect::Postgres => {
                    let column = format!("(e.tags ->> {})", sql.text_param(c.key.clone()));
                    compare(sql, &column, c, false)?;
                }
            }
            Ok(())
        }
        Entity::Attribute => {
            let column = experiment_attribute(&c.key)
                .ok_or_else(|| unsupported(c, "experiment attribute"))?;
            compare(sql, column.sql, c, column.numeric)
        }
        Entity::Metric | Entity::Param | Entity::Dataset => Err(unsupported(c, "experiment field")),
    }
}

/// `EXISTS (<select> <key> AND <column> <op> <value>)` with the key bound after `select`.
fn exists<S: FilterSql>(
    sql: &mut S,
    select: &str,
    c: &Comparison,
    column: &str,
    numeric: bool,
) -> Result<()> {
    sql.push_sql("EXISTS (");
    sql.push_sql(select);
    sql.bind_text(c.key.clone());
    sql.push_sql(" AND ");
    compare(sql, column, c, numeric)?;
    sql.push_sql(")");
    Ok(())
}

/// MLflow's LIKE is case-sensitive; SQLite's is not, so LIKE becomes GLOB there.
fn like_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len());
    for ch in pattern.chars() {
        match ch {
            '%' => glob.push('*'),
            '_' => glob.push('?'),
            '*' | '?' | '[' => {
                glob.push('[');
                glob.push(ch);
                glob.push(']');
            }
            other => glob.push(other),
        }
    }
    glob
}

fn bind_scalar<S: FilterSql>(
    sql: &mut S,
    value: &Value,
    numeric: bool,
    c: &Comparison,
) -> Result<()> {
    match (value, numeric) {
        (Value::Number(n), true) => sql.bind_f64(*n),
        (Value::Str(s), true) => sql.bind_f64(parse_number(c, s)?),
        (Value::Str(s), false) => sql.bind_text(s.clone()),
        (Value::Number(n), false) => sql.bind_text(format_number(*n)),
        (Value::List(_), _) => return Err(list_needs_in(c)),
    }
    Ok(())
}

/// The column as compared and ordered: text bytewise (PostgreSQL: the "C" collation).
fn operand(dialect: Dialect, column: &str, numeric: bool) -> String {
    if numeric || dialect == Dialect::Sqlite {
        column.to_owned()
    } else {
        format!("({column}) COLLATE \"C\"")
    }
}

fn compare<S: FilterSql>(sql: &mut S, column: &str, c: &Comparison, numeric: bool) -> Result<()> {
    match c.op {
        Op::Eq | Op::Ne | Op::Lt | Op::Gt | Op::Le | Op::Ge => {}
        Op::Like | Op::ILike => {
            let Value::Str(pattern) = &c.value else {
                return Err(Error::invalid(
                    "filter",
                    format!("LIKE and ILIKE take a quoted pattern ('{}')", c.key),
                ));
            };
            match (S::DIALECT, c.op) {
                (Dialect::Sqlite, Op::Like) => {
                    sql.push_sql(column);
                    sql.push_sql(" GLOB ");
                    sql.bind_text(like_to_glob(pattern));
                }
                (Dialect::Sqlite, _) => {
                    sql.push_sql(&format!("lower({column}) LIKE lower("));
                    sql.bind_text(pattern.clone());
                    sql.push_sql(")");
                }
                (Dialect::Postgres, op) => {
                    // Numbers match as their text (as SQLite's GLOB coerces them); no escape
                    // character, as GLOB.
                    let text = if numeric {
                        format!("({column})::text COLLATE \"C\"")
                    } else {
                        operand(Dialect::Postgres, column, false)
                    };
                    let op = if op == Op::Like { "LIKE" } else { "ILIKE" };
                    sql.push_sql(&format!("{text} {op} "));
                    sql.bind_text(pattern.clone());
                    sql.push_sql(" ESCAPE ''");
                }
            }
            return Ok(());
        }
        Op::In | Op::NotIn => {
            let Value::List(items) = &c.value else {
                return Err(Error::invalid(
                    "filter",
                    format!("IN and NOT IN take a list like ('a', 'b') ('{}')", c.key),
                ));
            };
            sql.push_sql(&operand(S::DIALECT, column, numeric));
            sql.push_sql(if c.op == Op::In { " IN (" } else { " NOT IN (" });
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push_sql(", ");
                }
                bind_scalar(sql, item, numeric, c)?;
            }
            sql.push_sql(")");
            return Ok(());
        }
    }
    sql.push_sql(&format!(
        "{} {} ",
        operand(S::DIALECT, column, numeric),
        c.op.as_str()
    ));
    bind_scalar(sql, &c.value, numeric, c)
}

/// The value a run is ordered by for `key`, appended to `sql` (binding its key).
fn push_run_order_value<S: FilterSql>(sql: &mut S, key: &OrderKey) -> Result<()> {
    let collate = if S::DIALECT == Dialect::Postgres {
        " COLLATE \"C\""
    } else {
        ""
    };
    match key.entity {
        Entity::Metric => {
            sql.push_sql(
                "(SELECT ms.last_value FROM metric_series ms WHERE ms.run_id = r.id AND ms.key = ",
            );
            sql.bind_text(key.key.clone());
            sql.push_sql(")");
        }
        Entity::Param => {
            sql.push_sql("(SELECT p.value FROM run_params p WHERE p.run_id = r.id AND p.key = ");
            sql.bind_text(key.key.clone());
            sql.push_sql(&format!("){collate}"));
        }
        Entity::Tag if key.key == "mlflow.runName" => sql.push_sql("r.name"),
        Entity::Tag => {
            sql.push_sql("(SELECT t.value FROM run_tags t WHERE t.run_id = r.id AND t.key = ");
            sql.bind_text(key.key.clone());
            sql.push_sql(&format!("){collate}"));
        }
        Entity::Attribute => {
            let column = run_attribute(&key.key).ok_or_else(|| {
                Error::invalid(
                    "order_by",
                    format!("cannot order by attribute '{}'", key.key),
                )
            })?;
            sql.push_sql(&operand(S::DIALECT, column.sql, column.numeric));
        }
        Entity::Dataset => {
            return Err(Error::invalid(
                "order_by",
                "cannot order runs by a dataset field",
            ));
        }
    }
    Ok(())
}

/// Appends `ORDER BY` for runs: the requested keys (missing values last, as MLflow does),
/// then start time (newest first) and id as tie-breakers.
pub(crate) fn run_order_by<S: FilterSql>(sql: &mut S, keys: &[OrderKey]) -> Result<()> {
    sql.push_sql(" ORDER BY ");
    for key in keys {
        let direction = if key.ascending { "ASC" } else { "DESC" };
        match S::DIALECT {
            Dialect::Postgres => {
                push_run_order_value(sql, key)?;
                sql.push_sql(&format!(" {direction} NULLS LAST, "));
            }
            // SQLite has NULLS LAST only since 3.30 and not on every build: `x IS NULL, x`.
            Dialect::Sqlite => {
                push_run_order_value(sql, key)?;
                sql.push_sql(" IS NULL, ");
                push_run_order_value(sql, key)?;
                sql.push_sql(&format!(" {direction}, "));
            }
        }
    }
    sql.push_sql(&format!("{RUN_START} DESC, r.id ASC"));
    Ok(())
}

/// Appends `ORDER BY` for experiments (default: newest first, as MLflow).
pub(crate) fn experiment_order_by<S: FilterSql>(sql: &mut S, keys: &[OrderKey]) -> Result<()> {
    sql.push_sql(" ORDER BY ");
    for key in keys {
        let direction = if key.ascending { "ASC" } else { "DESC" };
        let column = match key.entity {
            Entity::Attribute => experiment_attribute(&key.key).ok_or_else(|| {
                Error::invalid(
                    "order_by",
                    format!("cannot order experiments by '{}'", key.key),
                )
            })?,
            _ => {
                return Err(Error::invalid(
                    "order_by",
                    "experiments can be ordered by name, creation_time or last_update_time",
                ));
            }
        };
        sql.push_sql(&format!(
            "{} {direction}, ",
            operand(S::DIALECT, column.sql, column.numeric)
        ));
    }
    sql.push_sql("e.created_at DESC, e.id DESC");
    Ok(())
}

/// The condition selecting entities of alias `alias` by soft-deletion state, with a leading
/// ` AND `; empty for `All`.
pub(crate) fn lifecycle_condition(alias: &str, lifecycle: Lifecycle) -> String {
    match lifecycle {
        Lifecycle::Active => format!(" AND {alias}.deleted_at IS NULL"),
        Lifecycle::Deleted => format!(" AND {alias}.deleted_at IS NOT NULL"),
        Lifecycle::All => String::new(),
    }
}

/// A column-like SQL expression and whether it holds numbers.
pub(crate) struct Column {
    pub sql: &'static str,
    pub numeric: bool,
}

/// The run attribute an MLflow filter names (`attributes.<key>`); the same SQL on both
/// backends.
pub(crate) fn run_attribute(key: &str) -> Option<Column> {
    let (sql, numeric) = match key {
        "run_id" | "run_uuid" | "id" => ("r.id", false),
        "run_name" | "name" => ("r.name", false),
        // Stored lowercase; MLflow spells statuses in capitals.
        "status" => ("upper(r.status)", false),
        "user_id" => ("r.owner", false),
        "start_time" | "created" | "Created" => ("coalesce(r.started_at, r.created_at)", true),
        "end_time" => ("r.ended_at", true),
        "artifact_uri" => (
            "('mlflow-artifacts:/' || r.experiment_id || '/' || r.id || '/artifacts')",
            false,
        ),
        "lifecycle_stage" => (
            "(CASE WHEN r.deleted_at IS NULL THEN 'active' ELSE 'deleted' END)",
            false,
        ),
        "experiment_id" => ("r.experiment_id", false),
        _ => return None,
    };
    Some(Column { sql, numeric })
}

/// The experiment attribute a filter names.
pub(crate) fn experiment_attribute(key: &str) -> Option<Column> {
    let (sql, numeric) = match key {
        "name" => ("e.name", false),
        "experiment_id" | "id" => ("e.id", false),
        "creation_time" | "created_at" => ("e.created_at", true),
        "last_update_time" | "updated_at" => ("e.updated_at", true),
        "lifecycle_stage" => (
            "(CASE WHEN e.deleted_at IS NULL THEN 'active' ELSE 'deleted' END)",
            false,
        ),
        _ => return None,
    };
    Some(Column { sql, numeric })
}

/// The refusal of a key that exists in the grammar but cannot be searched here.
pub(crate) fn unsupported(c: &Comparison, what: &str) -> Error {
    Error::invalid("filter", format!("{what} '{}' cannot be searched", c.key))
}

/// A string compared with a numeric column must be a number.
pub(crate) fn parse_number(c: &Comparison, s: &str) -> Result<f64> {
    s.trim().parse::<f64>().map_err(|_| {
        Error::invalid(
            "filter",
            format!("'{}' compares numbers; '{s}' is not a number", c.key),
        )
    })
}

/// The refusal of a list outside `IN`/`NOT IN`.
pub(crate) fn list_needs_in(c: &Comparison) -> Error {
    Error::invalid("filter", format!("a list needs IN or NOT IN ('{}')", c.key))
}

/// Numbers compared with text columns (params, tags) compare as MLflow writes them.
pub(crate) fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_become_case_sensitive_globs() {
        assert_eq!(like_to_glob("run_%"), "run?*");
        assert_eq!(like_to_glob("a*b?[c]"), "a[*]b[?][[]c]");
    }
}
