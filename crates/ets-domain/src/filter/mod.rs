//! The search filter language shared by the MLflow API (`filter_string`, `order_by`) and the
//! native list endpoints (`filter`, `order_by`).
//!
//! It is MLflow's grammar — `metrics.`, `params.`, `tags.`, `attributes.`, `datasets.`
//! comparisons joined by `AND` — extended with `OR` and parentheses (asked for by MLflow users
//! for years, mlflow/mlflow#6075). Parsing is pure; translating the tree into SQL is the job
//! of each store backend.
//!
//! ```text
//! expr       := or
//! or         := and ('OR' and)*
//! and        := primary ('AND' primary)*
//! primary    := '(' expr ')' | comparison
//! comparison := identifier op value
//! identifier := prefix '.' key | attribute
//! op         := '=' | '!=' | '<' | '>' | '<=' | '>=' | 'LIKE' | 'ILIKE' | 'IN' | 'NOT' 'IN'
//! value      := string | number | '(' scalar (',' scalar)* ','? ')'     -- lists only after IN
//! ```
//!
//! * [`parse_filter`] / [`parse_order_by`] check the syntax only;
//! * [`validate_run_filter`], [`validate_experiment_filter`], [`validate_run_order_key`] and
//!   [`validate_experiment_order_key`] apply MLflow's rules for what may be compared with what
//!   (`mlflow/utils/search_utils.py`, `SearchUtils` and `SearchExperimentsUtils`);
//! * [`normalize_run_filter`] / [`normalize_run_order_key`] rewrite MLflow's attribute aliases
//!   (`created`, `Run Name`, …) to the canonical names, so a backend sees one spelling;
//! * `Display` on [`Expr`] and [`OrderKey`] prints canonical text that parses back to the same
//!   tree.
//!
//! Every error is a [`FilterError`] naming the offending token, its character position and what
//! was expected.

mod display;
mod parse;
mod validate;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use parse::{
    MAX_FILTER_CHARS, MAX_FILTER_COMPARISONS, MAX_FILTER_DEPTH, MAX_FILTER_LIST_VALUES,
    parse_filter, parse_order_by,
};
pub use validate::{
    AttributeKind, AttributeSpec, DATASET_KEYS, experiment_attribute, normalize_run_filter,
    normalize_run_order_key, run_attribute, validate_experiment_filter,
    validate_experiment_order_key, validate_run_filter, validate_run_order_key,
};

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All must hold (at least two).
    And(Vec<Expr>),
    /// At least one must hold (at least two).
    Or(Vec<Expr>),
    /// One comparison.
    Compare(Comparison),
}

impl Expr {
    /// All of `children`: nested `And`s are flattened, a single child is returned as is, and an
    /// empty list gives `None`. Use it to combine filters (e.g. a user filter with a fixed one).
    pub fn and(children: Vec<Expr>) -> Option<Expr> {
        combine(children, true)
    }

    /// Any of `children`, flattened like [`Expr::and`].
    pub fn or(children: Vec<Expr>) -> Option<Expr> {
        combine(children, false)
    }

    /// Every comparison in the tree, in the order they were written.
    pub fn comparisons(&self) -> Vec<&Comparison> {
        let mut out = Vec::new();
        self.collect_comparisons(&mut out);
        out
    }

    fn collect_comparisons<'a>(&'a self, out: &mut Vec<&'a Comparison>) {
        match self {
            Expr::And(children) | Expr::Or(children) => {
                for child in children {
                    child.collect_comparisons(out);
                }
            }
            Expr::Compare(c) => out.push(c),
        }
    }

    fn for_each_comparison_mut(&mut self, f: &mut impl FnMut(&mut Comparison)) {
        match self {
            Expr::And(children) | Expr::Or(children) => {
                for child in children {
                    child.for_each_comparison_mut(f);
                }
            }
            Expr::Compare(c) => f(c),
        }
    }
}

/// Flattens same-kind children into one node; `None` when there is nothing to combine.
fn combine(children: Vec<Expr>, and: bool) -> Option<Expr> {
    let mut children = children.into_iter();
    let first = children.next()?;
    Some(combine_nonempty(first, children.collect(), and))
}

/// [`combine`] for at least one child: same-kind children are spliced in, and a single
/// remaining child is returned as is.
pub(crate) fn combine_nonempty(first: Expr, rest: Vec<Expr>, and: bool) -> Expr {
    if rest.is_empty() {
        return first;
    }
    let mut flat = Vec::with_capacity(rest.len() + 1);
    for child in std::iter::once(first).chain(rest) {
        match child {
            Expr::And(grandchildren) if and => flat.extend(grandchildren),
            Expr::Or(grandchildren) if !and => flat.extend(grandchildren),
            other => flat.push(other),
        }
    }
    if flat.len() == 1
        && let Some(only) = flat.pop()
    {
        return only;
    }
    if and { Expr::And(flat) } else { Expr::Or(flat) }
}

/// `entity.key op value`.
///
/// Equality compares what the comparison says (entity, key, operator, value) and ignores
/// [`origin`](Comparison::origin): the same condition written at another place is equal.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub entity: Entity,
    /// The key after the entity prefix, unquoted (`metrics.`val acc`` → `val acc`).
    pub key: String,
    pub op: Op,
    pub value: Value,
    /// Where the identifier, operator and value were written; default (all zero, empty) for
    /// comparisons built in code. Used to point validation errors at the right token.
    pub origin: Origin,
}

impl Comparison {
    /// A comparison built in code (no source position).
    pub fn new(entity: Entity, key: impl Into<String>, op: Op, value: Value) -> Self {
        Comparison {
            entity,
            key: key.into(),
            op,
            value,
            origin: Origin::default(),
        }
    }
}

impl PartialEq for Comparison {
    fn eq(&self, other: &Self) -> bool {
        self.entity == other.entity
            && self.key == other.key
            && self.op == other.op
            && self.value == other.value
    }
}

/// Where the three parts of a [`Comparison`] were written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The identifier (`metrics.acc`, `name`, …).
    pub identifier: Written,
    /// The operator (`>=`, `not in`, …).
    pub op: Written,
    /// The value (`'x'`, `0.5`, `('a', 'b')`).
    pub value: Written,
}

/// One token as written and its 0-based character position in the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub position: usize,
    pub text: String,
}

/// What a comparison looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    /// `metrics.` / `metric.`: a run's latest value of the metric.
    Metric,
    /// `params.` / `param.` / `parameter.` / `parameters.`
    Param,
    /// `tags.` / `tag.`
    Tag,
    /// `attributes.` / `attribute.` / `attr.` / `run.`, or a bare attribute name where MLflow
    /// allows one.
    Attribute,
    /// `datasets.` / `dataset.`
    Dataset,
}

impl Entity {
    /// The entity for an identifier prefix, in any of MLflow's spellings (ASCII case-insensitive).
    pub fn from_prefix(prefix: &str) -> Option<Entity> {
        const PREFIXES: &[(&str, Entity)] = &[
            ("metrics", Entity::Metric),
            ("metric", Entity::Metric),
            ("params", Entity::Param),
            ("param", Entity::Param),
            ("parameters", Entity::Param),
            ("parameter", Entity::Param),
            ("tags", Entity::Tag),
            ("tag", Entity::Tag),
            ("attributes", Entity::Attribute),
            ("attribute", Entity::Attribute),
            ("attr", Entity::Attribute),
            ("run", Entity::Attribute),
            ("datasets", Entity::Dataset),
            ("dataset", Entity::Dataset),
        ];
        PREFIXES
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(prefix))
            .map(|&(_, entity)| entity)
    }

    /// The canonical (plural) prefix: `metrics`, `params`, `tags`, `attributes`, `datasets`.
    pub fn prefix(self) -> &'static str {
        match self {
            Entity::Metric => "metrics",
            Entity::Param => "params",
            Entity::Tag => "tags",
            Entity::Attribute => "attributes",
            Entity::Dataset => "datasets",
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
}

impl Op {
    /// The operator as printed in canonical filters (`=`, `!=`, …, `LIKE`, `NOT IN`).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::Like => "LIKE",
            Op::ILike => "ILIKE",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
        }
    }

    /// `IN` and `NOT IN`, the operators that take a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::NotIn)
    }
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A quoted string (`'x'` or `"x"`).
    Str(String),
    /// A number (integer or float, optionally signed). Always finite.
    Number(f64),
    /// `(a, b, …)` for `IN` / `NOT IN`: one or more strings or numbers, never nested. The
    /// parser produces a list exactly when the operator is `IN` or `NOT IN`.
    List(Vec<Value>),
}

/// One key of an `order_by` clause: `metrics.acc DESC`, `attributes.start_time`, …
///
/// Equality ignores [`origin`](OrderKey::origin).
#[derive(Debug, Clone)]
pub struct OrderKey {
    pub entity: Entity,
    pub key: String,
    pub ascending: bool,
    /// The identifier as written and where (default for keys built in code).
    pub origin: Written,
}

impl OrderKey {
    /// An order key built in code (no source position).
    pub fn new(entity: Entity, key: impl Into<String>, ascending: bool) -> Self {
        OrderKey {
            entity,
            key: key.into(),
            ascending,
            origin: Written::default(),
        }
    }
}

impl PartialEq for OrderKey {
    fn eq(&self, other: &Self) -> bool {
        self.entity == other.entity && self.key == other.key && self.ascending == other.ascending
    }
}

/// A filter or order-by clause that does not parse, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at character {position}: '{token}')")]
pub struct FilterError {
    /// Character offset of the offending token (0-based).
    pub position: usize,
    /// The offending token as written (empty at end of input).
    pub token: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Longest token quoted back in an error; longer ones are cut with `…`.
const MAX_TOKEN_CHARS: usize = 40;

impl FilterError {
    /// An error at `position`; `token` is shortened to a readable length.
    pub(crate) fn new(position: usize, token: &str, message: impl Into<String>) -> Self {
        FilterError {
            position,
            token: shorten(token),
            message: message.into(),
        }
    }
}

/// `token`, cut to [`MAX_TOKEN_CHARS`] characters.
pub(crate) fn shorten(token: &str) -> String {
    if token.chars().count() <= MAX_TOKEN_CHARS {
        token.to_owned()
    } else {
        let mut cut: String = token.chars().take(MAX_TOKEN_CHARS).collect();
        cut.push('…');
        cut
    }
}
