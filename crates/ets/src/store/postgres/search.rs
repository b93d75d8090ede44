//! The search filter language (`ets_domain::filter`) compiled to PostgreSQL SQL, with the
//! semantics of the SQLite backend (`store/sqlite/search.rs`).
//!
//! Runs are aliased `r` (joined with their experiment as `e`), experiments `e`. Each
//! comparison becomes a column test or an `EXISTS` over the table that holds the key. Text is
//! compared and ordered under the "C" collation (bytewise, as SQLite); numbers are bound as
//! `float8`; LIKE is case-sensitive with no escape character (SQLite's GLOB as the SQLite
//! backend translates it), ILIKE folds ASCII letters only (SQLite's `lower(…) LIKE lower(…)`).
//! Missing values sort last in both directions, as the SQLite backend's `x IS NULL, x`.

use ets_domain::filter::{Comparison, Entity, Op, OrderKey, Value};

use super::sql::Sql;
use crate::error::{Error, Result};
use crate::store::Lifecycle;

use crate::store::filter_sql::{
    FilterSql, experiment_attribute, format_number, lifecycle_condition, list_needs_in,
    parse_number, run_attribute, unsupported,
};
pub(super) use crate::store::filter_sql::{Target, and_filter};

/// Appends the lifecycle condition for alias `alias`.
pub(super) fn and_lifecycle(sql: &mut Sql, alias: &str, lifecycle: Lifecycle) {
    sql.push(&lifecycle_condition(alias, lifecycle));
}

impl FilterSql for Sql {
    fn push_sql(&mut self, text: &str) {
        self.push(text);
    }

    fn run_comparison(&mut self, c: &Comparison) -> Result<()> {
        run_comparison(self, c)
    }

    fn experiment_comparison(&mut self, c: &Comparison) -> Result<()> {
        experiment_comparison(self, c)
    }
}

fn run_comparison(sql: &mut Sql, c: &Comparison) -> Result<()> {
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
                "context" => "(ri.tags ->> 'mlflow.data.context')",
                _ => return Err(unsupported(c, "dataset attribute")),
            };
            sql.push("EXISTS (SELECT 1 FROM run_inputs ri JOIN datasets d ON d.id = ri.dataset_id WHERE ri.run_id = r.id AND ");
            compare(sql, column, c, false)?;
            sql.push(")");
            Ok(())
        }
    }
}

fn experiment_comparison(sql: &mut Sql, c: &Comparison) -> Result<()> {
    match c.entity {
        Entity::Tag => {
            // A missing key gives NULL, which no comparison matches (as SQLite's EXISTS over
            // json_each finds no row).
            let column = format!("(e.tags ->> {})", sql.text_param(c.key.clone()));
            compare(sql, &column, c, false)
        }
        Entity::Attribute => {
            let column = experiment_attribute(&c.key)
                .ok_or_else(|| unsupported(c, "experiment attribute"))?;
            compare(sql, column.sql, c, column.numeric)
        }
        Entity::Metric | Entity::Param | Entity::Dataset => Err(unsupported(c, "experiment field")),
    }
}

/// `EXISTS (<select> $k AND <column> <op> <value>)` with the key bound after `select`.
fn exists(sql: &mut Sql, select: &str, c: &Comparison, column: &str, numeric: bool) -> Result<()> {
    sql.push("EXISTS (")
        .push(select)
        .bind_text(c.key.clone())
        .push(" AND ");
    compare(sql, column, c, numeric)?;
    sql.push(")");
    Ok(())
}

fn bind_scalar(sql: &mut Sql, value: &Value, numeric: bool, c: &Comparison) -> Result<()> {
    match (value, numeric) {
        (Value::Number(n), true) => sql.bind_f64(*n),
        (Value::Str(s), true) => sql.bind_f64(parse_number(c, s)?),
        (Value::Str(s), false) => sql.bind_text(s.clone()),
        (Value::Number(n), false) => sql.bind_text(format_number(*n)),
        (Value::List(_), _) => return Err(list_needs_in(c)),
    };
    Ok(())
}

/// The column as compared: text under the "C" collation, numbers as they are.
fn operand(column: &str, numeric: bool) -> String {
    if numeric {
        column.to_owned()
    } else {
        format!("({column}) COLLATE \"C\"")
    }
}

fn compare(sql: &mut Sql, column: &str, c: &Comparison, numeric: bool) -> Result<()> {
    let op = match c.op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Lt => "<",
        Op::Gt => ">",
        Op::Le => "<=",
        Op::Ge => ">=",
        Op::Like | Op::ILike => {
            let Value::Str(pattern) = &c.value else {
                return Err(Error::invalid(
                    "filter",
                    format!("LIKE and ILIKE take a quoted pattern ('{}')", c.key),
                ));
            };
            // Numbers match as their text (as SQLite's GLOB coerces them).
            let text = if numeric {
                format!("({column})::text COLLATE \"C\"")
            } else {
                operand(column, false)
            };
            let op = if c.op == Op::Like { "LIKE" } else { "ILIKE" };
            sql.push(&text)
                .push(&format!(" {op} "))
                .bind_text(pattern.clone())
                .push(" ESCAPE ''");
            return Ok(());
        }
        Op::In | Op::NotIn => {
            let Value::List(items) = &c.value else {
                return Err(Error::invalid(
                    "filter",
                    format!("IN and NOT IN take a list like ('a', 'b') ('{}')", c.key),
                ));
            };
            sql.push(&operand(column, numeric)).push(if c.op == Op::In {
                " IN ("
            } else {
                " NOT IN ("
            });
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                bind_scalar(sql, item, numeric, c)?;
            }
            sql.push(")");
            return Ok(());
        }
    };
    sql.push(&operand(column, numeric))
        .push(" ")
        .push(op)
        .push(" ");
    bind_scalar(sql, &c.value, numeric, c)
}

/// Appends `ORDER BY` for runs: the requested keys (missing values last, as MLflow does),
/// then start time (newest first) and id as tie-breakers.
pub(super) fn run_order_by(sql: &mut Sql, keys: &[OrderKey]) -> Result<()> {
    sql.push(" ORDER BY ");
    for key in keys {
        let direction = if key.ascending { "ASC" } else { "DESC" };
        match key.entity {
            Entity::Metric => {
                sql.push("(SELECT ms.last_value FROM metric_series ms WHERE ms.run_id = r.id AND ms.key = ")
                    .bind_text(key.key.clone())
                    .push(")");
            }
            Entity::Param => {
                sql.push("(SELECT p.value FROM run_params p WHERE p.run_id = r.id AND p.key = ")
                    .bind_text(key.key.clone())
                    .push(") COLLATE \"C\"");
            }
            Entity::Tag if key.key == "mlflow.runName" => {
                sql.push("r.name");
            }
            Entity::Tag => {
                sql.push("(SELECT t.value FROM run_tags t WHERE t.run_id = r.id AND t.key = ")
                    .bind_text(key.key.clone())
                    .push(") COLLATE \"C\"");
            }
            Entity::Attribute => {
                let column = run_attribute(&key.key).ok_or_else(|| {
                    Error::invalid(
                        "order_by",
                        format!("cannot order by attribute '{}'", key.key),
                    )
                })?;
                sql.push(&operand(column.sql, column.numeric));
            }
            Entity::Dataset => {
                return Err(Error::invalid(
                    "order_by",
                    "cannot order runs by a dataset field",
                ));
            }
        }
        sql.push(&format!(" {direction} NULLS LAST, "));
    }
    sql.push("coalesce(r.started_at, r.created_at) DESC, r.id ASC");
    Ok(())
}

/// Appends `ORDER BY` for experiments (default: newest first, as MLflow).
pub(super) fn experiment_order_by(sql: &mut Sql, keys: &[OrderKey]) -> Result<()> {
    sql.push(" ORDER BY ");
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
        sql.push(&format!(
            "{} {direction}, ",
            operand(column.sql, column.numeric)
        ));
    }
    sql.push("e.created_at DESC, e.id DESC");
    Ok(())
}
