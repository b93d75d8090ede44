//! The tamper-evident audit trail: one chained record per state change, written in the
//! transaction of the change (see docs/ARCHITECTURE.md, "Audit trail").
//!
//! - [`RequestContext`] (who, which request, from where) is set per request by the API's
//!   middleware; outside a request writes are ETS's own (`system`).
//! - [`Event`] (what: action, entity, summary, digest of the change) is declared once per
//!   store write method by [`AuditedStore`].
//! - The backends' central write helpers (`Writer::run` on SQLite, `PgStore::write` on
//!   PostgreSQL) [`take`] both and append the [`AuditRecord`] in the same transaction, using
//!   the SQL of `store::audit` and the chain of [`chain`].
//! - [`Verifier`] recomputes the chain (`GET /api/v1/audit/verify`, `ets audit verify`).

pub mod chain;
mod context;
mod store;

pub use chain::{AuditRecord, GENESIS_HASH, Verifier, VerifyReport};
pub use context::{
    Entry, Event, RequestContext, UnplacedRecord, in_current_context, seal_all, take, unaudited,
    with_event, with_events,
};
pub use store::AuditedStore;
