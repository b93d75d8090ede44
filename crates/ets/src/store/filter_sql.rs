//! What both SQL backends share when compiling the filter language (`ets_domain::filter`):
//! the walk over `AND`/`OR` trees, the MLflow attribute names and the columns they mean, the
//! lifecycle condition, and how numbers meet text. Each backend supplies the dialect-specific
//! part — binding values, comparison operators, `EXISTS` over its key tables — through
//! [`FilterSql`] (`sqlite/search.rs`, `postgres/search.rs`).
//!
//! Runs are aliased `r` (joined with their experiment as `e`), experiments `e`.

use ets_domain::filter::{Comparison, Expr};

use crate::error::{Error, Result};
use crate::store::Lifecycle;

/// What a filter is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Runs,
    Experiments,
}

/// A backend's SQL builder, as the filter walk drives it.
pub(crate) trait FilterSql {
    /// Appends SQL text.
    fn push_sql(&mut self, text: &str);
    /// Appends one comparison on runs (alias `r`).
    fn run_comparison(&mut self, c: &Comparison) -> Result<()>;
    /// Appends one comparison on experiments (alias `e`).
    fn experiment_comparison(&mut self, c: &Comparison) -> Result<()>;
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
            Target::Runs => sql.run_comparison(comparison)?,
            Target::Experiments => sql.experiment_comparison(comparison)?,
        },
    }
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
