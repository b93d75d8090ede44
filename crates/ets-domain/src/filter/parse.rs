//! A hand-written recursive-descent parser over the input's characters. There is no separate
//! lexer: what a character means depends on where it is (a `"` opens a quoted key on the left of
//! an operator and a string on the right), so the parser asks for the token it expects next.
//! Positions are character (not byte) offsets.

use super::{
    Comparison, Entity, Expr, FilterError, Op, OrderKey, Origin, Value, Written, combine_nonempty,
};

/// Deepest parenthesis nesting accepted; deeper input is refused rather than risking the stack.
pub const MAX_FILTER_DEPTH: usize = 64;

/// Most comparisons in one filter. Each becomes one node of an `AND`/`OR` chain in SQL:
/// SQLite refuses expression trees deeper than 1000 ("Expression tree is too large"), and a
/// filter of 200 comparisons nested [`MAX_FILTER_DEPTH`] deep stays far inside that (and inside
/// PostgreSQL's stack), so a filter is refused here with a 400 instead of failing in SQL.
pub const MAX_FILTER_COMPARISONS: usize = 200;

/// Most values in the `IN` / `NOT IN` lists of one filter, together. Each is one bound
/// parameter: SQLite allows 32,766 per statement, PostgreSQL 65,535.
pub const MAX_FILTER_LIST_VALUES: usize = 10_000;

/// Longest filter text accepted, in characters.
pub const MAX_FILTER_CHARS: usize = 100_000;

const OPERATORS: &str = "=, !=, <, >, <=, >=, LIKE, ILIKE, IN, NOT IN";

/// Words that cannot be a bare attribute name (they would make the grammar ambiguous).
const RESERVED: &[&str] = &["AND", "OR", "NOT", "IN", "LIKE", "ILIKE"];

/// Characters of a comparison operator written with symbols (`<`, `>=`, `!=`, …); a run of
/// them is read as one token, as MLflow's tokenizer (sqlparse) does, so `>>` is one bad token.
fn is_operator_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '!' | '~')
}

/// Characters of a bare word (prefix, attribute name, keyword).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Characters of an unquoted key after `prefix.`: MLflow's `[0-9_A-Z][_$#\w]*` plus `.` (as in
/// `tags.mlflow.runName`), and `-`, `/`, `:` which MLflow makes you quote (`train/loss`).
pub(super) fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '$' | '#' | '.' | '-' | '/' | ':')
}

/// Parses a filter. Empty or whitespace-only text is no filter (`Ok(None)`).
///
/// Syntax only: whether e.g. a metric may be compared with a string is checked by
/// [`validate_run_filter`](super::validate_run_filter) and
/// [`validate_experiment_filter`](super::validate_experiment_filter).
///
/// A filter is bounded: at most [`MAX_FILTER_CHARS`] characters, [`MAX_FILTER_COMPARISONS`]
/// comparisons, [`MAX_FILTER_LIST_VALUES`] list values and [`MAX_FILTER_DEPTH`] levels of
/// parentheses; a larger one is an error naming the limit.
pub fn parse_filter(text: &str) -> Result<Option<Expr>, FilterError> {
    let length = text.chars().count();
    if length > MAX_FILTER_CHARS {
        return Err(FilterError::new(
            MAX_FILTER_CHARS,
            "",
            format!(
                "filter too long: {length} characters, at most {MAX_FILTER_CHARS} are accepted"
            ),
        ));
    }
    let mut p = Parser::new(text);
    p.skip_ws();
    if p.at_end() {
        return Ok(None);
    }
    let expr = p.parse_or()?;
    p.skip_ws();
    match p.peek() {
        None => Ok(Some(expr)),
        Some(')') => Err(p.error_here(
            "unbalanced parentheses: this ')' has no matching '(' (expected AND, OR or the end \
             of the filter)",
        )),
        Some(_) => Err(p.expected_here("AND, OR or the end of the filter")),
    }
}

/// Parses one `order_by` entry: an identifier, optionally followed by `ASC` or `DESC`
/// (case-insensitive; ascending by default).
pub fn parse_order_by(clause: &str) -> Result<OrderKey, FilterError> {
    let mut p = Parser::new(clause);
    p.skip_ws();
    let start = p.pos;
    let (entity, key) = p.parse_identifier("an order_by key (e.g. metrics.acc DESC)")?;
    let origin = p.written(start);
    p.skip_ws();
    let mut ascending = true;
    if let Some(word) = p.word_at(p.pos)
        && (word.eq_ignore_ascii_case("ASC") || word.eq_ignore_ascii_case("DESC"))
    {
        ascending = word.eq_ignore_ascii_case("ASC");
        p.pos += word.chars().count();
        p.skip_ws();
    }
    match p.peek() {
        None => Ok(OrderKey {
            entity,
            key,
            ascending,
            origin,
        }),
        Some(',') => Err(p.expected_here(
            "ASC, DESC or the end of the order_by entry (pass each order_by key as its own entry)",
        )),
        Some(_) => Err(p.expected_here("ASC, DESC or the end of the order_by entry")),
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    /// Comparisons read so far (bounded by [`MAX_FILTER_COMPARISONS`]).
    comparisons: usize,
    /// List values read so far (bounded by [`MAX_FILTER_LIST_VALUES`]).
    list_values: usize,
}

impl Parser {
    fn new(text: &str) -> Self {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
            depth: 0,
            comparisons: 0,
            list_values: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn text(&self, start: usize, end: usize) -> String {
        let end = end.min(self.chars.len());
        let start = start.min(end);
        self.chars[start..end].iter().collect()
    }

    /// The text from `start` to the current position, as a [`Written`].
    fn written(&self, start: usize) -> Written {
        Written {
            position: start,
            text: self.text(start, self.pos),
        }
    }

    /// The bare word starting at `pos`, if a word starts there.
    fn word_at(&self, pos: usize) -> Option<String> {
        let first = *self.chars.get(pos)?;
        if !(first.is_alphabetic() || first == '_') {
            return None;
        }
        let end = self.scan(pos, is_word_char);
        Some(self.text(pos, end))
    }

    /// End of the run of characters satisfying `keep` starting at `pos`.
    fn scan(&self, pos: usize, keep: impl Fn(char) -> bool) -> usize {
        let mut end = pos;
        while self.chars.get(end).is_some_and(|&c| keep(c)) {
            end += 1;
        }
        end
    }

    /// Consumes the keyword `kw` (case-insensitive, whole word) if it is next.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        match self.word_at(self.pos) {
            Some(word) if word.eq_ignore_ascii_case(kw) => {
                self.pos += word.chars().count();
                true
            }
            _ => false,
        }
    }

    /// The token starting at `pos` as a reader would split it, for error messages.
    fn lexeme_at(&self, pos: usize) -> String {
        let Some(&c) = self.chars.get(pos) else {
            return String::new();
        };
        let end = if matches!(c, '\'' | '"' | '`') {
            self.quoted_end(pos).unwrap_or(self.chars.len())
        } else if is_operator_char(c) {
            self.scan(pos, is_operator_char)
        } else if is_key_char(c) || c == '+' {
            self.scan(pos + 1, |c| is_key_char(c) || c == '+')
        } else {
            pos + 1
        };
        self.text(pos, end)
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> FilterError {
        FilterError::new(pos, &self.lexeme_at(pos), message)
    }

    fn error_here(&self, message: impl Into<String>) -> FilterError {
        self.error_at(self.pos, message)
    }

    /// "expected X but found 'y'" (or "… but reached the end of the input") at `pos`.
    fn expected_at(&self, pos: usize, what: &str) -> FilterError {
        let token = super::shorten(&self.lexeme_at(pos));
        let message = if pos >= self.chars.len() {
            format!("expected {what} but reached the end of the input")
        } else {
            format!("expected {what} but found '{token}'")
        };
        FilterError::new(pos, &token, message)
    }

    fn expected_here(&self, what: &str) -> FilterError {
        self.expected_at(self.pos, what)
    }

    // ---- expressions -------------------------------------------------------------------------

    fn parse_or(&mut self) -> Result<Expr, FilterError> {
        let first = self.parse_and()?;
        let mut rest = Vec::new();
        loop {
            self.skip_ws();
            if !self.eat_keyword("OR") {
                break;
            }
            rest.push(self.parse_and()?);
        }
        Ok(combine_nonempty(first, rest, false))
    }

    fn parse_and(&mut self) -> Result<Expr, FilterError> {
        let first = self.parse_primary()?;
        let mut rest = Vec::new();
        loop {
            self.skip_ws();
            if !self.eat_keyword("AND") {
                break;
            }
            rest.push(self.parse_primary()?);
        }
        Ok(combine_nonempty(first, rest, true))
    }

    fn parse_primary(&mut self) -> Result<Expr, FilterError> {
        self.skip_ws();
        if self.peek() != Some('(') {
            return self.parse_comparison().map(Expr::Compare);
        }
        let open = self.pos;
        if self.depth >= MAX_FILTER_DEPTH {
            return Err(self.error_here(format!(
                "parentheses nested too deeply (at most {MAX_FILTER_DEPTH} levels)"
            )));
        }
        self.depth += 1;
        self.pos += 1;
        let expr = self.parse_or()?;
        self.skip_ws();
        match self.peek() {
            Some(')') => {
                self.pos += 1;
                self.depth -= 1;
                Ok(expr)
            }
            None => Err(FilterError::new(
                open,
                "(",
                "unbalanced parentheses: this '(' is never closed (expected ')' before the end \
                 of the filter)",
            )),
            Some(_) => Err(self.expected_here("AND, OR or ')'")),
        }
    }

    fn parse_comparison(&mut self) -> Result<Comparison, FilterError> {
        let ident_start = self.pos;
        if self.comparisons >= MAX_FILTER_COMPARISONS {
            return Err(self.error_here(format!(
                "filter too large: at most {MAX_FILTER_COMPARISONS} comparisons are accepted"
            )));
        }
        self.comparisons += 1;
        let (entity, key) =
            self.parse_identifier("a comparison (e.g. metrics.acc > 0.9) or '('")?;
        let identifier = self.written(ident_start);

        self.skip_ws();
        let op_start = self.pos;
        let op = self.parse_operator()?;
        let op_written = self.written(op_start);

        self.skip_ws();
        let value_start = self.pos;
        let value = if op.takes_list() {
            self.parse_list(op)?
        } else {
            self.parse_scalar(op)?
        };
        let value_written = self.written(value_start);

        Ok(Comparison {
            entity,
            key,
            op,
            value,
            origin: Origin {
                identifier,
                op: op_written,
                value: value_written,
            },
        })
    }

    // ---- identifiers -------------------------------------------------------------------------

    /// `prefix.key` or a bare attribute name. `what` names the construct for the error when no
    /// identifier starts here.
    fn parse_identifier(&mut self, what: &str) -> Result<(Entity, String), FilterError> {
        let start = self.pos;
        let first = match self.peek() {
            Some(c) if c.is_alphabetic() || c == '_' => {
                let word = self.word_at(start).unwrap_or_default();
                let followed_by_dot = self.chars.get(start + word.chars().count()) == Some(&'.');
                if !followed_by_dot && RESERVED.iter().any(|kw| kw.eq_ignore_ascii_case(&word)) {
                    return Err(self.expected_at(start, what));
                }
                self.pos += word.chars().count();
                word
            }
            Some(q @ ('`' | '"')) => self.parse_quoted(q)?,
            _ => return Err(self.expected_at(start, what)),
        };

        if self.peek() != Some('.') {
            if first.is_empty() {
                return Err(FilterError::new(
                    start,
                    &self.text(start, self.pos),
                    "empty attribute name: expected a name inside the quotes",
                ));
            }
            return Ok((Entity::Attribute, first));
        }

        let Some(entity) = Entity::from_prefix(&first) else {
            let token = self.text(start, self.pos);
            return Err(FilterError::new(
                start,
                &token,
                format!(
                    "unknown entity type '{}': expected metrics, params, tags, attributes or \
                     datasets (or metric, param, parameter, parameters, tag, attribute, attr, \
                     run, dataset) before the '.'",
                    super::shorten(&first)
                ),
            ));
        };
        self.pos += 1; // the '.'

        let key_start = self.pos;
        let key = match self.peek() {
            Some(q @ ('`' | '"' | '\'')) => self.parse_quoted(q)?,
            Some(c) if is_key_char(c) => {
                let end = self.scan(key_start, is_key_char);
                self.pos = end;
                self.text(key_start, end)
            }
            _ => {
                let prefix = self.text(start, key_start);
                return Err(self.expected_at(
                    key_start,
                    &format!(
                        "a key after '{prefix}' (quote keys containing spaces or other special \
                         characters: {prefix}`my key`)"
                    ),
                ));
            }
        };
        if key.is_empty() {
            return Err(FilterError::new(
                key_start,
                &self.text(key_start, self.pos),
                "empty key: expected a key name inside the quotes",
            ));
        }
        Ok((entity, key))
    }

    // ---- quoted text -------------------------------------------------------------------------

    /// Where the quoted token starting at `start` ends (one past the closing quote), or `None`
    /// if it is never closed. Same rules as [`Parser::parse_quoted`].
    fn quoted_end(&self, start: usize) -> Option<usize> {
        let quote = *self.chars.get(start)?;
        let mut i = start + 1;
        loop {
            let c = *self.chars.get(i)?;
            if c == quote {
                if self.chars.get(i + 1) == Some(&quote) {
                    i += 2;
                    continue;
                }
                return Some(i + 1);
            }
            if c == '\\'
                && quote != '`'
                && let Some(&next) = self.chars.get(i + 1)
                && (next == quote || next == '\\')
            {
                i += 2;
                continue;
            }
            i += 1;
        }
    }

    /// A quoted string or key opened by `quote` at the current position, unescaped.
    ///
    /// The tokens are those of MLflow's tokenizer (sqlparse): inside `'…'` and `"…"`, a doubled
    /// quote, a backslash-escaped quote and a doubled backslash do not end the string; inside
    /// `` `…` `` only a doubled backtick does. Unlike MLflow (which keeps them verbatim), the
    /// escapes are then decoded: `''` → `'`, `\'` → `'`, `\\` → `\` (and likewise for `"`),
    /// ``` `` ``` → `` ` ``. Any other backslash is kept as written.
    fn parse_quoted(&mut self, quote: char) -> Result<String, FilterError> {
        let start = self.pos;
        let mut out = String::new();
        let mut i = start + 1;
        loop {
            let Some(&c) = self.chars.get(i) else {
                let what = if quote == '`' {
                    "unterminated quoted name"
                } else {
                    "unterminated string"
                };
                return Err(FilterError::new(
                    start,
                    &self.text(start, self.chars.len()),
                    format!("{what}: expected a closing {quote} before the end of the input"),
                ));
            };
            if c == quote {
                if self.chars.get(i + 1) == Some(&quote) {
                    out.push(quote);
                    i += 2;
                    continue;
                }
                self.pos = i + 1;
                return Ok(out);
            }
            if c == '\\'
                && quote != '`'
                && let Some(&next) = self.chars.get(i + 1)
                && (next == quote || next == '\\')
            {
                out.push(next);
                i += 2;
                continue;
            }
            out.push(c);
            i += 1;
        }
    }

    // ---- operators and values ----------------------------------------------------------------

    fn parse_operator(&mut self) -> Result<Op, FilterError> {
        let start = self.pos;
        let expected = format!("a comparison operator ({OPERATORS})");
        match self.peek() {
            Some(c) if is_operator_char(c) => {
                let end = self.scan(start, is_operator_char);
                let op = match self.text(start, end).as_str() {
                    "=" => Op::Eq,
                    "!=" => Op::Ne,
                    "<" => Op::Lt,
                    ">" => Op::Gt,
                    "<=" => Op::Le,
                    ">=" => Op::Ge,
                    "<>" => {
                        return Err(self
                            .expected_at(start, &format!("{expected}; write '!=' for not-equal")));
                    }
                    _ => return Err(self.expected_at(start, &expected)),
                };
                self.pos = end;
                Ok(op)
            }
            Some(c) if c.is_alphabetic() => {
                let word = self.word_at(start).unwrap_or_default();
                let op = match word.to_ascii_uppercase().as_str() {
                    "LIKE" => Op::Like,
                    "ILIKE" => Op::ILike,
                    "IN" => Op::In,
                    "NOT" => {
                        self.pos = start + word.chars().count();
                        self.skip_ws();
                        if !self.eat_keyword("IN") {
                            return Err(self.expected_here("IN after NOT (NOT IN)"));
                        }
                        return Ok(Op::NotIn);
                    }
                    _ => return Err(self.expected_at(start, &expected)),
                };
                self.pos = start + word.chars().count();
                Ok(op)
            }
            _ => Err(self.expected_at(start, &expected)),
        }
    }

    /// A quoted string or a number.
    fn parse_scalar(&mut self, op: Op) -> Result<Value, FilterError> {
        match self.peek() {
            Some(q @ ('\'' | '"')) => self.parse_quoted(q).map(Value::Str),
            Some(c) if c.is_ascii_digit() || matches!(c, '.' | '+' | '-') => self.parse_number(),
            Some('(') if !op.takes_list() => Err(self.expected_here(&format!(
                "a value after {} (a quoted string or a number; lists need IN or NOT IN)",
                op.as_str()
            ))),
            Some('(') => Err(self.expected_here(
                "a list element (a quoted string or a number; lists cannot be nested)",
            )),
            _ => Err(self.expected_here(
                "a value (a quoted string such as 'x' or \"x\", or a number such as 0.5)",
            )),
        }
    }

    /// `[+-]? (digits ('.' digits?)? | '.' digits) ([eE] [+-]? digits)?`, not followed by a
    /// letter, digit, `_` or `.`.
    fn parse_number(&mut self) -> Result<Value, FilterError> {
        let start = self.pos;
        let malformed = |p: &Self| {
            let token = super::shorten(&p.lexeme_at(start));
            FilterError::new(
                start,
                &token,
                format!(
                    "malformed number '{token}': expected digits with an optional sign, \
                     fraction and exponent (e.g. -1.5e3)"
                ),
            )
        };
        let mut i = start;
        if matches!(self.chars.get(i), Some('+' | '-')) {
            i += 1;
        }
        let int_end = self.scan(i, |c| c.is_ascii_digit());
        let mut digits = int_end - i;
        i = int_end;
        if self.chars.get(i) == Some(&'.') {
            let frac_end = self.scan(i + 1, |c| c.is_ascii_digit());
            digits += frac_end - (i + 1);
            i = frac_end;
        }
        if digits == 0 {
            return Err(malformed(self));
        }
        if matches!(self.chars.get(i), Some('e' | 'E')) {
            let mut j = i + 1;
            if matches!(self.chars.get(j), Some('+' | '-')) {
                j += 1;
            }
            let exp_end = self.scan(j, |c| c.is_ascii_digit());
            if exp_end == j {
                return Err(malformed(self));
            }
            i = exp_end;
        }
        if self
            .chars
            .get(i)
            .is_some_and(|&c| is_word_char(c) || c == '.')
        {
            return Err(malformed(self));
        }
        let text = self.text(start, i);
        let number: f64 = text.parse().map_err(|_| malformed(self))?;
        if !number.is_finite() {
            return Err(FilterError::new(
                start,
                &text,
                format!("number '{}' is out of range", super::shorten(&text)),
            ));
        }
        self.pos = i;
        Ok(Value::Number(number))
    }

    /// `( scalar (, scalar)* ,? )` after `IN` / `NOT IN`.
    fn parse_list(&mut self, op: Op) -> Result<Value, FilterError> {
        let open = self.pos;
        if self.peek() != Some('(') {
            return Err(self.expected_here(&format!(
                "a parenthesised list after {} (e.g. {} ('a', 'b'))",
                op.as_str(),
                op.as_str()
            )));
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Err(FilterError::new(
                open,
                &self.text(open, self.pos),
                format!(
                    "empty list: {} needs at least one value (e.g. ('a'))",
                    op.as_str()
                ),
            ));
        }
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.list_values >= MAX_FILTER_LIST_VALUES {
                return Err(self.error_here(format!(
                    "filter too large: at most {MAX_FILTER_LIST_VALUES} values in IN / NOT IN \
                     lists are accepted (all lists together)"
                )));
            }
            self.list_values += 1;
            items.push(self.parse_scalar(op)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(')') {
                        self.pos += 1;
                        break;
                    }
                }
                Some(')') => {
                    self.pos += 1;
                    break;
                }
                None => {
                    return Err(FilterError::new(
                        open,
                        "(",
                        "unbalanced parentheses: this list's '(' is never closed (expected ')' \
                         before the end of the filter)",
                    ));
                }
                Some(_) => return Err(self.expected_here("',' or ')' in the list")),
            }
        }
        Ok(Value::List(items))
    }
}
