//! Small helpers shared by the SQLite queries: a dynamic query builder, JSON columns,
//! keyset pagination and error mapping.

use rusqlite::types::Value;
use rusqlite::{Connection, Row};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::store::filter_sql;
use crate::store::{PageRequest, TagFilter};

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        if is_disk_full(&error) {
            tracing::error!(%error, "the disk under the SQLite database is full");
            return Error::storage_full();
        }
        Error::internal(format!("sqlite: {error}"))
    }
}

/// Whether SQLite said "database or disk is full" (SQLITE_FULL).
pub(super) fn is_disk_full(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull)
}

/// Whether `error` is a UNIQUE constraint violation (turned into 409s at the query site).
pub(super) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// A SQL text with positional parameters, built piece by piece.
#[derive(Default)]
pub(super) struct Sql {
    pub text: String,
    pub params: Vec<Value>,
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

    /// Appends `?` and binds `value` to it.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.params.push(value.into());
        self.text.push('?');
        self
    }

    /// Appends `(?, ?, …)` binding each value.
    pub fn bind_list<V: Into<Value> + Clone>(&mut self, values: &[V]) -> &mut Self {
        self.text.push('(');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(v.clone());
        }
        self.text.push(')');
        self
    }

    /// ` AND {column} = ?` when `value` is set.
    pub fn and_eq(&mut self, column: &str, value: Option<impl Into<Value>>) -> &mut Self {
        if let Some(value) = value {
            self.push(" AND ").push(column).push(" = ").bind(value);
        }
        self
    }

    /// ` AND {column} LIKE '%…%'` ([`filter_sql::and_contains`]).
    pub fn and_contains(&mut self, column: &str, needle: Option<&str>) -> &mut Self {
        filter_sql::and_contains(self, column, needle);
        self
    }

    /// ` AND EXISTS (…)` over a JSON tag object column.
    pub fn and_json_tag(&mut self, column: &str, tag: Option<&TagFilter>) -> &mut Self {
        if let Some(tag) = tag {
            self.push(" AND EXISTS (SELECT 1 FROM json_each(")
                .push(column)
                .push(") j WHERE j.key = ")
                .bind(tag.key.clone());
            if let Some(value) = &tag.value {
                self.push(" AND j.value = ").bind(value.clone());
            }
            self.push(")");
        }
        self
    }

    /// Keyset condition and ORDER BY / LIMIT for a page ([`filter_sql::page`]).
    pub fn page(&mut self, alias: &str, page: &PageRequest) -> &mut Self {
        filter_sql::page(self, alias, page);
        self
    }

    /// Runs the query, mapping each row with `map`.
    pub fn query<T>(
        &self,
        conn: &Connection,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        let mut statement = conn.prepare_cached(&self.text)?;
        let rows = statement.query_map(rusqlite::params_from_iter(self.params.iter()), map)?;
        rows.collect()
    }
}

/// Reads a JSON text column into `T`.
pub(super) fn json_column<T: DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Reads a nullable JSON text column.
pub(super) fn json_column_opt<T: DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<T>> {
    match row.get::<_, Option<String>>(index)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(e),
            )
        }),
    }
}

/// Serialises a value for a JSON column.
pub(super) fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("domain values serialise to JSON")
}

pub(super) use crate::store::{cursor_key, finish_page, value_from_sql, value_to_sql};

/// A statement written with PostgreSQL's `$n` placeholders (shared by both backends) as SQLite
/// numbers them, `?n`. The shared statements hold no other `$`.
pub(super) fn numbered(statement: &str) -> String {
    statement.replace('$', "?")
}

impl crate::store::rows::RowRead for Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, index: usize) -> rusqlite::Result<String> {
        self.get(index)
    }
    fn opt_text(&self, index: usize) -> rusqlite::Result<Option<String>> {
        self.get(index)
    }
    fn int(&self, index: usize) -> rusqlite::Result<i64> {
        self.get(index)
    }
    fn bytes(&self, index: usize) -> rusqlite::Result<Vec<u8>> {
        self.get(index)
    }
    fn flag(&self, index: usize) -> rusqlite::Result<bool> {
        self.get(index)
    }
    fn opt_float(&self, index: usize) -> rusqlite::Result<Option<f64>> {
        self.get(index)
    }
    fn opt_int(&self, index: usize) -> rusqlite::Result<Option<i64>> {
        self.get(index)
    }
    fn json<T: DeserializeOwned>(&self, index: usize) -> rusqlite::Result<T> {
        json_column(self, index)
    }
    fn opt_json<T: DeserializeOwned>(&self, index: usize) -> rusqlite::Result<Option<T>> {
        json_column_opt(self, index)
    }
}

#[cfg(test)]
mod disk_full_tests {
    use super::*;

    /// SQLite's "database or disk is full" is a 507 the client can act on, not a 500.
    #[test]
    fn a_full_disk_is_storage_full() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        assert!(matches!(Error::from(full), Error::StorageFull(_)));
        let other = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None,
        );
        assert!(matches!(Error::from(other), Error::Internal(_)));
    }
}
