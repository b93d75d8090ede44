//! The SQLite query builder as the shared search compiler (`store/filter_sql.rs`) drives it.

use super::sql::Sql;
use crate::store::filter_sql::{Dialect, FilterSql};

pub(super) use crate::store::filter_sql::{
    Target, and_filter, and_lifecycle, experiment_order_by, run_search, run_search_parts,
};

impl FilterSql for Sql {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn push_sql(&mut self, text: &str) {
        self.push(text);
    }

    fn bind_text(&mut self, value: String) {
        self.bind(value);
    }

    fn bind_f64(&mut self, value: f64) {
        self.bind(value);
    }

    fn bind_i64(&mut self, value: i64) {
        self.bind(value);
    }

    fn text_param(&mut self, value: String) -> String {
        self.params.push(value.into());
        "?".to_owned()
    }

    fn bind_text_in(&mut self, values: &[String]) {
        if let [value] = values {
            self.push(" = ").bind(value.clone());
        } else {
            self.push(" IN ").bind_list(values);
        }
    }
}
