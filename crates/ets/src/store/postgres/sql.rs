//! Small helpers shared by the PostgreSQL queries: a dynamic query builder with `$n`
//! placeholders and explicitly typed parameters, keyset pagination and error mapping.
//!
//! Dynamic statements run with `query_typed` (one round trip, no named statement to cache,
//! so arbitrary filters never grow the per-connection statement cache). Every parameter
//! carries its PostgreSQL type, so `bigint_column > $1` with a `float8` parameter compares
//! numerically instead of failing type inference.

use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use super::Tx;
use crate::error::Result;
use crate::store::filter_sql;
use crate::store::{PageRequest, TagFilter};

/// Whether `error` is a UNIQUE (or primary key) violation (turned into 409s at the query
/// site, as SQLite's code does).
pub(super) fn is_unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A bound parameter with its PostgreSQL type.
type Param = (Box<dyn ToSql + Sync + Send>, Type);

/// A SQL text with `$n` parameters, built piece by piece.
#[derive(Default)]
pub(super) struct Sql {
    pub text: String,
    params: Vec<Param>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            params: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind_typed(&mut self, value: Box<dyn ToSql + Sync + Send>, ty: Type) -> &mut Self {
        self.params.push((value, ty));
        self.text.push('$');
        self.text.push_str(&self.params.len().to_string());
        self
    }

    /// Binds a text value and returns its placeholder (`$n`) without appending it.
    pub fn text_param(&mut self, value: impl Into<String>) -> String {
        self.params.push((Box::new(value.into()), Type::TEXT));
        format!("${}", self.params.len())
    }

    /// Appends `$n` bound to a text value.
    pub fn bind_text(&mut self, value: impl Into<String>) -> &mut Self {
        self.bind_typed(Box::new(value.into()), Type::TEXT)
    }

    /// Appends `$n` bound to a `float8`.
    pub fn bind_f64(&mut self, value: f64) -> &mut Self {
        self.bind_typed(Box::new(value), Type::FLOAT8)
    }

    /// Appends `$n` bound to a `bigint`.
    pub fn bind_i64(&mut self, value: i64) -> &mut Self {
        self.bind_typed(Box::new(value), Type::INT8)
    }

    /// Appends `$n` bound to a `text[]` (for `= ANY($n)`).
    pub fn bind_texts(&mut self, values: &[String]) -> &mut Self {
        self.bind_typed(Box::new(values.to_vec()), Type::TEXT_ARRAY)
    }

    /// ` AND {column} = $n` when `value` is set.
    pub fn and_eq(&mut self, column: &str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(value) = value {
            self.push(" AND ").push(column).push(" = ").bind_text(value);
        }
        self
    }

    /// ` AND {column} LIKE '%…%'` ([`filter_sql::and_contains`]).
    pub fn and_contains(&mut self, column: &str, needle: Option<&str>) -> &mut Self {
        filter_sql::and_contains(self, column, needle);
        self
    }

    /// ` AND …` over a JSONB tag object column: the key exists, or has exactly this value.
    pub fn and_json_tag(&mut self, column: &str, tag: Option<&TagFilter>) -> &mut Self {
        if let Some(tag) = tag {
            self.push(" AND ");
            match &tag.value {
                Some(value) => self
                    .push("(")
                    .push(column)
                    .push(" ->> ")
                    .bind_text(tag.key.clone())
                    .push(") = ")
                    .bind_text(value.clone()),
                None => self.push(column).push(" ? ").bind_text(tag.key.clone()),
            };
        }
        self
    }

    /// Keyset condition and ORDER BY / LIMIT for a page ([`filter_sql::page`]).
    pub fn page(&mut self, alias: &str, page: &PageRequest) -> &mut Self {
        filter_sql::page(self, alias, page);
        self
    }

    /// Runs the query, mapping each row with `map`.
    pub async fn query<T>(
        &self,
        tx: &Tx<'_>,
        map: impl FnMut(&Row) -> std::result::Result<T, tokio_postgres::Error>,
    ) -> Result<Vec<T>> {
        let params: Vec<(&(dyn ToSql + Sync), Type)> = self
            .params
            .iter()
            .map(|(value, ty)| (&**value as &(dyn ToSql + Sync), ty.clone()))
            .collect();
        let rows = tx.query_typed(&self.text, &params).await?;
        Ok(rows
            .iter()
            .map(map)
            .collect::<std::result::Result<_, _>>()?)
    }
}

pub(super) use crate::store::{cursor_key, finish_page, value_from_sql, value_to_sql};

impl crate::store::rows::RowRead for Row {
    type Error = tokio_postgres::Error;
    fn text(&self, index: usize) -> std::result::Result<String, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn opt_text(&self, index: usize) -> std::result::Result<Option<String>, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn int(&self, index: usize) -> std::result::Result<i64, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn bytes(&self, index: usize) -> std::result::Result<Vec<u8>, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn flag(&self, index: usize) -> std::result::Result<bool, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn opt_float(&self, index: usize) -> std::result::Result<Option<f64>, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn opt_int(&self, index: usize) -> std::result::Result<Option<i64>, tokio_postgres::Error> {
        self.try_get(index)
    }
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
    ) -> std::result::Result<T, tokio_postgres::Error> {
        Ok(self.try_get::<_, tokio_postgres::types::Json<T>>(index)?.0)
    }
    fn opt_json<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
    ) -> std::result::Result<Option<T>, tokio_postgres::Error> {
        Ok(self
            .try_get::<_, Option<tokio_postgres::types::Json<T>>>(index)?
            .map(|json| json.0))
    }
}
