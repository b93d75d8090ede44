//! The PostgreSQL query builder as the shared search compiler (`store/filter_sql.rs`) drives
//! it.

use super::sql::Sql;
use crate::store::filter_sql::{Dialect, FilterSql};

pub(super) use crate::store::filter_sql::{
    Target, and_filter, and_lifecycle, experiment_order_by, run_search, run_search_parts,
};

impl FilterSql for Sql {
    const DIALECT: Dialect = Dialect::Postgres;

    fn push_sql(&mut self, text: &str) {
        self.push(text);
    }

    fn bind_text(&mut self, value: String) {
        Sql::bind_text(self, value);
    }

    fn bind_f64(&mut self, value: f64) {
        Sql::bind_f64(self, value);
    }

    fn bind_i64(&mut self, value: i64) {
        Sql::bind_i64(self, value);
    }

    fn text_param(&mut self, value: String) -> String {
        Sql::text_param(self, value)
    }

    fn bind_text_in(&mut self, values: &[String]) {
        if let [value] = values {
            self.push(" = ").bind_text(value.clone());
        } else {
            self.push(" = ANY(").bind_texts(values).push(")");
        }
    }
}
