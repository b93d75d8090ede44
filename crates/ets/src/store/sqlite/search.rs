//! The search filter language (`ets_domain::filter`) compiled to SQLite SQL.
//!
//! Runs are aliased `r` (joined with their experiment as `e`), experiments `e`. Each
//! comparison becomes a column test or an `EXISTS` over the table that holds the key, so
//! every condition uses an index on `(run_id, key)` and runs stay one row each.

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
                "context" => "json_extract(ri.tags, '$.\"mlflow.data.context\"')",
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
            sql.push("EXISTS (SELECT 1 FROM json_each(e.tags) j WHERE j.key = ")
                .bind(c.key.clone())
                .push(" AND ");
            compare(sql, "j.value", c, false)?;
            sql.push(")");
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

/// `EXISTS (<select> ? AND <column> <op> <value>)` with the key bound after `select`.
fn exists(sql: &mut Sql, select: &str, c: &Comparison, column: &str, numeric: bool) -> Result<()> {
    sql.push("EXISTS (")
        .push(select)
        .bind(c.key.clone())
        .push(" AND ");
    compare(sql, column, c, numeric)?;
    sql.push(")");
    Ok(())
}

/// MLflow's LIKE is case-sensitive; SQLite's is not, so LIKE becomes GLOB.
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

fn bind_scalar(sql: &mut Sql, value: &Value, numeric: bool, c: &Comparison) -> Result<()> {
    match (value, numeric) {
        (Value::Number(n), true) => sql.bind(*n),
        (Value::Str(s), true) => sql.bind(parse_number(c, s)?),
        (Value::Str(s), false) => sql.bind(s.clone()),
        (Value::Number(n), false) => sql.bind(format_number(*n)),
        (Value::List(_), _) => return Err(list_needs_in(c)),
    };
    Ok(())
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
            if c.op == Op::Like {
                sql.push(column).push(" GLOB ").bind(like_to_glob(pattern));
            } else {
                sql.push("lower(")
                    .push(column)
                    .push(") LIKE lower(")
                    .bind(pattern.clone())
                    .push(")");
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
            sql.push(column)
                .push(if c.op == Op::In { " IN (" } else { " NOT IN (" });
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
    sql.push(column).push(" ").push(op).push(" ");
    bind_scalar(sql, &c.value, numeric, c)
}

/// Appends `ORDER BY` for runs: the requested keys (missing values last, as MLflow does),
/// then start time (newest first) and id as tie-breakers.
pub(super) fn run_order_by(sql: &mut Sql, keys: &[OrderKey]) -> Result<()> {
    sql.push(" ORDER BY ");
    for key in keys {
        let direction = if key.ascending { "ASC" } else { "DESC" };
        let mut value = Sql::default();
        match key.entity {
            Entity::Metric => {
                value.push("(SELECT ms.last_value FROM metric_series ms WHERE ms.run_id = r.id AND ms.key = ").bind(key.key.clone()).push(")");
            }
            Entity::Param => {
                value
                    .push("(SELECT p.value FROM run_params p WHERE p.run_id = r.id AND p.key = ")
                    .bind(key.key.clone())
                    .push(")");
            }
            Entity::Tag if key.key == "mlflow.runName" => {
                value.push("r.name");
            }
            Entity::Tag => {
                value
                    .push("(SELECT t.value FROM run_tags t WHERE t.run_id = r.id AND t.key = ")
                    .bind(key.key.clone())
                    .push(")");
            }
            Entity::Attribute => {
                let column = run_attribute(&key.key).ok_or_else(|| {
                    Error::invalid(
                        "order_by",
                        format!("cannot order by attribute '{}'", key.key),
                    )
                })?;
                value.push(column.sql);
            }
            Entity::Dataset => {
                return Err(Error::invalid(
                    "order_by",
                    "cannot order runs by a dataset field",
                ));
            }
        }
        // The value expression appears twice (IS NULL, then the value): bind its params twice.
        sql.push(&value.text).push(" IS NULL, ");
        sql.params.extend(value.params.iter().cloned());
        sql.push(&value.text).push(&format!(" {direction}, "));
        sql.params.extend(value.params);
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
            Entity::Attribute => {
                experiment_attribute(&key.key)
                    .ok_or_else(|| {
                        Error::invalid(
                            "order_by",
                            format!("cannot order experiments by '{}'", key.key),
                        )
                    })?
                    .sql
            }
            _ => {
                return Err(Error::invalid(
                    "order_by",
                    "experiments can be ordered by name, creation_time or last_update_time",
                ));
            }
        };
        sql.push(&format!("{column} {direction}, "));
    }
    sql.push("e.created_at DESC, e.id DESC");
    Ok(())
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
