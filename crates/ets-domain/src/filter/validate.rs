//! What may be compared with what, as MLflow decides it in `mlflow/utils/search_utils.py`
//! (`SearchUtils` for runs, `SearchExperimentsUtils` for experiments) and
//! `mlflow/entities/run_info.py` (the searchable and orderable run attributes):
//!
//! | entity                 | operators                              | value                  |
//! |------------------------|----------------------------------------|------------------------|
//! | metrics                | `= != < <= > >=`                       | number                 |
//! | params, tags           | `= != LIKE ILIKE`                      | string                 |
//! | numeric attributes     | `= != < <= > >=`                       | number                 |
//! | string attributes      | `= != LIKE ILIKE` (+ `IN`, `NOT IN` for `run_id`) | string / list of strings |
//! | datasets (`name`, `digest`, `context`) | `= != LIKE ILIKE IN NOT IN` | string / list of strings |
//!
//! Attribute names are case-sensitive, as in MLflow; the only other spellings are MLflow's
//! aliases (`created`/`Created` for `start_time`, `run name`/`Run name`/`Run Name` for
//! `run_name`), resolved in one place: [`run_attribute`].

use super::{Comparison, Entity, Expr, FilterError, Op, OrderKey, Value, Written};
use AttributeKind::{Number as N, String as S};

/// Whether an attribute holds text or a number (epoch milliseconds for the time attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKind {
    String,
    Number,
}

/// One spelling of a searchable or orderable attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeSpec {
    /// The spelling looked up (`Created`).
    pub spelling: &'static str,
    /// The canonical attribute it means (`start_time`).
    pub name: &'static str,
    pub kind: AttributeKind,
    /// Allowed in a filter.
    pub searchable: bool,
    /// Allowed in `order_by`.
    pub orderable: bool,
    /// Accepts `IN` / `NOT IN` with a list (MLflow: only `run_id`).
    pub list: bool,
}

const fn spec(
    spelling: &'static str,
    name: &'static str,
    kind: AttributeKind,
    searchable: bool,
    orderable: bool,
    list: bool,
) -> AttributeSpec {
    AttributeSpec {
        spelling,
        name,
        kind,
        searchable,
        orderable,
        list,
    }
}

/// `RunInfo.get_searchable_attributes()` (all also orderable) plus MLflow's aliases:
/// `_ALTERNATE_NUMERIC_ATTRIBUTES` (searchable and orderable) and
/// `_ALTERNATE_STRING_ATTRIBUTES` (searchable only). `lifecycle_stage` and `experiment_id` are
/// not searchable in MLflow (the former is the request's `run_view_type`).
const RUN_ATTRIBUTES: &[AttributeSpec] = &[
    spec("artifact_uri", "artifact_uri", S, true, true, false),
    spec("end_time", "end_time", N, true, true, false),
    spec("run_id", "run_id", S, true, true, true),
    spec("run_name", "run_name", S, true, true, false),
    spec("start_time", "start_time", N, true, true, false),
    spec("status", "status", S, true, true, false),
    spec("user_id", "user_id", S, true, true, false),
    spec("created", "start_time", N, true, true, false),
    spec("Created", "start_time", N, true, true, false),
    spec("run name", "run_name", S, true, false, false),
    spec("Run name", "run_name", S, true, false, false),
    spec("Run Name", "run_name", S, true, false, false),
];

/// `SearchExperimentsUtils.VALID_SEARCH_ATTRIBUTE_KEYS` / `VALID_ORDER_BY_ATTRIBUTE_KEYS` /
/// `NUMERIC_ATTRIBUTES`.
const EXPERIMENT_ATTRIBUTES: &[AttributeSpec] = &[
    spec("name", "name", S, true, true, false),
    spec("creation_time", "creation_time", N, true, true, false),
    spec("last_update_time", "last_update_time", N, true, true, false),
    spec("experiment_id", "experiment_id", S, false, true, false),
];

/// `SearchUtils.DATASET_ATTRIBUTES`: the keys after `datasets.`.
pub const DATASET_KEYS: &[&str] = &["name", "digest", "context"];

/// A run attribute by any spelling MLflow accepts (case-sensitive), or `None`.
pub fn run_attribute(key: &str) -> Option<&'static AttributeSpec> {
    RUN_ATTRIBUTES.iter().find(|a| a.spelling == key)
}

/// An experiment attribute (case-sensitive), or `None`.
pub fn experiment_attribute(key: &str) -> Option<&'static AttributeSpec> {
    EXPERIMENT_ATTRIBUTES.iter().find(|a| a.spelling == key)
}

/// Rewrites run attribute aliases to their canonical names (`created` → `start_time`,
/// `Run Name` → `run_name`) so a backend only sees canonical names. Unknown keys are left as
/// they are; call [`validate_run_filter`] first to reject them.
pub fn normalize_run_filter(expr: &mut Expr) {
    expr.for_each_comparison_mut(&mut |c| canonical_run_key(c.entity, &mut c.key));
}

/// [`normalize_run_filter`] for one order key.
pub fn normalize_run_order_key(key: &mut OrderKey) {
    canonical_run_key(key.entity, &mut key.key);
}

fn canonical_run_key(entity: Entity, key: &mut String) {
    if entity == Entity::Attribute
        && let Some(spec) = run_attribute(key)
        && key != spec.name
    {
        *key = spec.name.to_owned();
    }
}

const NUMERIC_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];
const STRING_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::Like, Op::ILike];
const STRING_LIST_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::Like, Op::ILike, Op::In, Op::NotIn];

/// Checks a run filter against MLflow's rules (see the module docs). The first offending
/// comparison, in the order written, is reported at its identifier, operator or value.
pub fn validate_run_filter(expr: &Expr) -> Result<(), FilterError> {
    expr.comparisons()
        .into_iter()
        .try_for_each(check_run_comparison)
}

/// Checks an experiments filter: attributes `name` (string), `creation_time` and
/// `last_update_time` (numeric), and `tags.*`.
pub fn validate_experiment_filter(expr: &Expr) -> Result<(), FilterError> {
    expr.comparisons()
        .into_iter()
        .try_for_each(check_experiment_comparison)
}

/// Checks a runs `order_by` key: any metric, param or tag, or an orderable run attribute
/// (`artifact_uri`, `end_time`, `run_id`, `run_name`, `start_time` (alias `created`),
/// `status`, `user_id`). Datasets cannot be ordered by.
pub fn validate_run_order_key(key: &OrderKey) -> Result<(), FilterError> {
    match key.entity {
        Entity::Metric | Entity::Param | Entity::Tag => Ok(()),
        Entity::Attribute => match run_attribute(&key.key) {
            Some(spec) if spec.orderable => Ok(()),
            _ => Err(at(
                &key.origin,
                format!(
                    "cannot order runs by attribute '{}': expected one of {}, or a metric, param \
                     or tag",
                    key.key,
                    names(RUN_ATTRIBUTES, |a| a.orderable)
                ),
            )),
        },
        Entity::Dataset => Err(at(
            &key.origin,
            "runs cannot be ordered by a dataset field: expected a metric, param, tag or attribute",
        )),
    }
}

/// Checks an experiments `order_by` key: only the attributes `name`, `experiment_id`,
/// `creation_time` and `last_update_time`.
pub fn validate_experiment_order_key(key: &OrderKey) -> Result<(), FilterError> {
    let orderable = key.entity == Entity::Attribute
        && experiment_attribute(&key.key).is_some_and(|spec| spec.orderable);
    if orderable {
        Ok(())
    } else {
        Err(at(
            &key.origin,
            format!(
                "cannot order experiments by '{}': expected one of {}",
                key_display(key.entity, &key.key),
                names(EXPERIMENT_ATTRIBUTES, |a| a.orderable)
            ),
        ))
    }
}

fn check_run_comparison(c: &Comparison) -> Result<(), FilterError> {
    match c.entity {
        Entity::Metric => check_numeric(c),
        Entity::Param | Entity::Tag => check_string(c, STRING_OPS),
        Entity::Attribute => match run_attribute(&c.key) {
            Some(spec) if spec.searchable => check_attribute(c, spec),
            _ => Err(at(
                &c.origin.identifier,
                format!(
                    "unknown run attribute '{}': expected one of {}{}",
                    c.key,
                    names(RUN_ATTRIBUTES, |a| a.searchable),
                    hint(&c.key)
                ),
            )),
        },
        Entity::Dataset => {
            if DATASET_KEYS.contains(&c.key.as_str()) {
                check_string(c, STRING_LIST_OPS)
            } else {
                Err(at(
                    &c.origin.identifier,
                    format!(
                        "unknown dataset field '{}': expected one of {}",
                        c.key,
                        DATASET_KEYS.join(", ")
                    ),
                ))
            }
        }
    }
}

fn check_experiment_comparison(c: &Comparison) -> Result<(), FilterError> {
    match c.entity {
        Entity::Tag => check_string(c, STRING_OPS),
        Entity::Attribute => match experiment_attribute(&c.key) {
            Some(spec) if spec.searchable => check_attribute(c, spec),
            _ => Err(at(
                &c.origin.identifier,
                format!(
                    "unknown experiment attribute '{}': expected one of {}, or tags.<key>",
                    c.key,
                    names(EXPERIMENT_ATTRIBUTES, |a| a.searchable)
                ),
            )),
        },
        Entity::Metric | Entity::Param | Entity::Dataset => Err(at(
            &c.origin.identifier,
            format!(
                "experiments have no {}: expected an attribute ({}) or tags.<key>",
                c.entity,
                names(EXPERIMENT_ATTRIBUTES, |a| a.searchable)
            ),
        )),
    }
}

fn check_attribute(c: &Comparison, spec: &AttributeSpec) -> Result<(), FilterError> {
    match spec.kind {
        AttributeKind::Number => check_numeric(c),
        AttributeKind::String if spec.list => check_string(c, STRING_LIST_OPS),
        AttributeKind::String => check_string(c, STRING_OPS),
    }
}

/// Metrics and numeric attributes: numeric operators and a number.
fn check_numeric(c: &Comparison) -> Result<(), FilterError> {
    let ident = key_display(c.entity, &c.key);
    if !NUMERIC_OPS.contains(&c.op) {
        return Err(at(
            &c.origin.op,
            format!(
                "{ident} is numeric: expected one of {} but found {}",
                list_ops(NUMERIC_OPS),
                c.op
            ),
        ));
    }
    match &c.value {
        Value::Number(_) => Ok(()),
        Value::Str(s) => Err(at(
            &c.origin.value,
            format!("{ident} is numeric: expected a number but found the string '{s}'"),
        )),
        Value::List(_) => Err(at(
            &c.origin.value,
            format!("{ident} is numeric: expected a number but found a list"),
        )),
    }
}

/// Params, tags, string attributes and dataset fields: `allowed` operators and a quoted string
/// (or, for `IN` / `NOT IN`, a list of quoted strings).
fn check_string(c: &Comparison, allowed: &[Op]) -> Result<(), FilterError> {
    let ident = key_display(c.entity, &c.key);
    if !allowed.contains(&c.op) {
        let note = if c.op.takes_list() && c.entity == Entity::Attribute {
            " (only attributes.run_id takes a list)"
        } else {
            ""
        };
        return Err(at(
            &c.origin.op,
            format!(
                "{ident} is a string: expected one of {} but found {}{note}",
                list_ops(allowed),
                c.op
            ),
        ));
    }
    let number_error = |n: &f64| {
        at(
            &c.origin.value,
            format!(
                "{ident} is a string: expected a quoted string (e.g. '{n}') but found the number {n}"
            ),
        )
    };
    match &c.value {
        Value::Str(_) if c.op.takes_list() => Err(at(
            &c.origin.value,
            format!("{} needs a parenthesised list (e.g. ('a', 'b'))", c.op),
        )),
        Value::Str(_) => Ok(()),
        Value::Number(n) => Err(number_error(n)),
        Value::List(_) if !c.op.takes_list() => Err(at(
            &c.origin.value,
            format!("a list needs IN or NOT IN, not {}", c.op),
        )),
        Value::List(items) if items.is_empty() => Err(at(
            &c.origin.value,
            format!("empty list: {} needs at least one value", c.op),
        )),
        Value::List(items) => match items.iter().find_map(|v| match v {
            Value::Number(n) => Some(n),
            _ => None,
        }) {
            Some(n) => Err(number_error(n)),
            None if items.iter().all(|v| matches!(v, Value::Str(_))) => Ok(()),
            None => Err(at(
                &c.origin.value,
                "expected a list of quoted strings but found a nested list",
            )),
        },
    }
}

fn at(written: &Written, message: impl Into<String>) -> FilterError {
    FilterError::new(written.position, &written.text, message)
}

fn key_display(entity: Entity, key: &str) -> String {
    format!("{entity}.{key}")
}

fn names(specs: &[AttributeSpec], keep: impl Fn(&AttributeSpec) -> bool) -> String {
    specs
        .iter()
        .filter(|a| keep(a))
        .map(|a| a.spelling)
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_ops(ops: &[Op]) -> String {
    ops.iter()
        .map(|op| op.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A pointer for attributes people reach for that MLflow deliberately leaves out.
fn hint(key: &str) -> &'static str {
    match key {
        "lifecycle_stage" => " (runs are selected by lifecycle with run_view_type, not the filter)",
        "experiment_id" => " (runs are selected by experiment with experiment_ids, not the filter)",
        _ => "",
    }
}
