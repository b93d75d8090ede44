//! Canonical text for filters: plural prefixes (`metrics.`, `attributes.`, …), keys bare when
//! they can be and backtick-quoted otherwise, upper-case keywords, single-quoted strings, and
//! parentheses only where `OR` sits inside `AND`. Parsing the text gives the same tree back.

use std::fmt::{self, Display, Formatter, Write as _};

use super::parse::is_key_char;
use super::{Comparison, Entity, Expr, Op, OrderKey, Value};

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Compare(c) => c.fmt(f),
            Expr::And(children) => join(f, children, " AND ", |child| {
                matches!(child, Expr::And(_) | Expr::Or(_))
            }),
            // AND binds tighter than OR, so only a (non-canonical) nested OR needs parentheses.
            Expr::Or(children) => join(f, children, " OR ", |child| matches!(child, Expr::Or(_))),
        }
    }
}

fn join(
    f: &mut Formatter<'_>,
    children: &[Expr],
    separator: &str,
    needs_parens: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    for (i, child) in children.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        if needs_parens(child) {
            write!(f, "({child})")?;
        } else {
            write!(f, "{child}")?;
        }
    }
    Ok(())
}

impl Display for Comparison {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_identifier(f, self.entity, &self.key)?;
        write!(f, " {} {}", self.op, self.value)
    }
}

impl Display for OrderKey {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_identifier(f, self.entity, &self.key)?;
        f.write_str(if self.ascending { " ASC" } else { " DESC" })
    }
}

/// `prefix.key`, the key backtick-quoted unless every character may appear bare.
fn write_identifier(f: &mut Formatter<'_>, entity: Entity, key: &str) -> fmt::Result {
    write!(f, "{entity}.")?;
    if !key.is_empty() && key.chars().all(is_key_char) {
        f.write_str(key)
    } else {
        f.write_char('`')?;
        for c in key.chars() {
            if c == '`' {
                f.write_char('`')?;
            }
            f.write_char(c)?;
        }
        f.write_char('`')
    }
}

impl Display for Entity {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

impl Display for Op {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => {
                f.write_char('\'')?;
                for c in s.chars() {
                    match c {
                        '\'' => f.write_str("''")?,
                        '\\' => f.write_str("\\\\")?,
                        c => f.write_char(c)?,
                    }
                }
                f.write_char('\'')
            }
            // `{:?}` is the shortest text that reads back as the same f64, with an exponent for
            // very large or small values (`1e300`) — all of which the parser accepts.
            Value::Number(n) => write!(f, "{n:?}"),
            Value::List(items) => {
                f.write_char('(')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(')')
            }
        }
    }
}
