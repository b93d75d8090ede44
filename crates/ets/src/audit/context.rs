//! Who and what a write is about, carried to the store's transaction as task-locals.
//!
//! The API's middleware sets the [`RequestContext`] (actor, request id, client address) for
//! the whole request; [`super::AuditedStore`] sets the [`Event`] (action, entity, what changed)
//! around each store write. A backend's central write helper [`take`]s both in the request's
//! task and appends the record inside the write's transaction. A write with no event still
//! gets a record (`unattributed`), so a store method without its declaration shows up in the
//! trail and in the tests; bookkeeping that is deliberately not audited runs in [`unaudited`].

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Mutex};

use ets_domain::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use super::chain::{AuditRecord, GENESIS_HASH, canonical_object, digest_object};
use crate::store::Mutation;

/// The request a write belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// `Actor::audit_name` of the caller.
    pub actor: String,
    /// The `x-request-id` of the request.
    pub request_id: Option<String>,
    /// The client's IP address.
    pub client_ip: Option<String>,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
    static PENDING: RefCell<Option<Mark>>;
}

impl RequestContext {
    /// ETS itself (the command line, background housekeeping): what a write outside any
    /// request is attributed to.
    pub fn system() -> RequestContext {
        RequestContext {
            actor: "system".to_owned(),
            request_id: None,
            client_ip: None,
        }
    }

    /// The context of the running task; [`RequestContext::system`] outside a request.
    pub fn current() -> RequestContext {
        CONTEXT
            .try_with(Clone::clone)
            .unwrap_or_else(|_| RequestContext::system())
    }

    /// Runs `future` with this context.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CONTEXT.scope(self, future).await
    }
}

/// `future` with the current task's request context, for work spawned as a task of its own
/// (task-locals do not follow `tokio::spawn`).
pub fn in_current_context<F: Future>(future: F) -> impl Future<Output = F::Output> {
    CONTEXT.scope(RequestContext::current(), future)
}

/// What a store write does, declared once per `Store` method by [`super::AuditedStore`].
#[derive(Debug)]
pub struct Event {
    action: &'static str,
    entity_kind: &'static str,
    entity_id: String,
    /// The stored summary's fields (distinct names, in any order: the record sorts them).
    details: Vec<(&'static str, Value)>,
    /// What changed, hashed into the digest (distinct names, likewise).
    change: Vec<(&'static str, Value)>,
    /// The entity as a mutation left it, filled in inside the transaction.
    observed: Option<Arc<Mutex<Option<Observed>>>>,
}

/// An entity before and after a [`Mutation`].
#[derive(Debug)]
struct Observed {
    changed: Vec<String>,
    after: Value,
}

impl Event {
    /// `action` is `<entity kind>.<verb>`, e.g. `run.update`.
    pub fn new(action: &'static str, entity_kind: &'static str, entity_id: &str) -> Event {
        Event {
            action,
            entity_kind,
            entity_id: entity_id.to_owned(),
            details: Vec::new(),
            change: Vec::new(),
            observed: None,
        }
    }

    /// Adds `name` to the stored summary.
    pub fn detail(mut self, name: &'static str, value: impl Serialize) -> Event {
        set(&mut self.details, name, to_value(value));
        self
    }

    /// Adds `name` to what the digest covers (not stored).
    pub fn change(mut self, name: &'static str, value: impl Serialize) -> Event {
        set(&mut self.change, name, to_value(value));
        self
    }

    /// Wraps `mutation` so the entity it leaves is covered by the digest and the fields it
    /// changed are named in the summary (`details.changed`).
    pub fn observe<T: Serialize + 'static>(&mut self, mutation: Mutation<T>) -> Mutation<T> {
        let slot = Arc::new(Mutex::new(None));
        self.observed = Some(slot.clone());
        Box::new(move |entity: &mut T| {
            let before = to_value(&*entity);
            mutation(entity)?;
            let after = to_value(&*entity);
            let changed = changed_fields(&before, &after);
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Observed { changed, after });
            Ok(())
        })
    }

    /// The record of a write that declared no event.
    fn unattributed() -> Event {
        Event::new("unattributed", "unknown", "")
    }
}

/// Sets field `name` of an event's fields, replacing an earlier value as a map would.
fn set(fields: &mut Vec<(&'static str, Value)>, name: &'static str, value: Value) {
    match fields.iter_mut().find(|(field, _)| *field == name) {
        Some(field) => field.1 = value,
        None => fields.push((name, value)),
    }
}

fn to_value(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| json!({ "unserializable": e.to_string() }))
}

/// Top-level fields that differ (the timestamp every update moves is left out).
fn changed_fields(before: &Value, after: &Value) -> Vec<String> {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return Vec::new();
    };
    let mut changed: Vec<String> = after
        .iter()
        .filter(|(key, value)| key.as_str() != "updated_at" && before.get(*key) != Some(*value))
        .map(|(key, _)| key.clone())
        .collect();
    changed.sort_unstable();
    changed
}

/// How the current write is to be audited.
#[derive(Debug)]
enum Mark {
    /// One record per event, in this order.
    Events(Vec<Event>),
    Unaudited,
}

/// Runs a store write with its event.
pub async fn with_event<F: Future>(event: Event, write: F) -> F::Output {
    with_events(vec![event], write).await
}

/// Runs a store write that makes several changes in one transaction (a trial and its run)
/// with one event per change: one record each, appended together, in this order.
pub async fn with_events<F: Future>(events: Vec<Event>, write: F) -> F::Output {
    PENDING
        .scope(RefCell::new(Some(Mark::Events(events))), write)
        .await
}

/// Runs writes that leave no audit record: internal bookkeeping that changes nothing a
/// person did (an API key's last-used time). Everything else declares an [`Event`]. Like
/// events, it is declared in [`super::AuditedStore`] around the backend's call: an event
/// declared inside it (a decorated store method called within) still applies, so callers
/// above the store cannot switch the trail off.
pub async fn unaudited<F: Future>(write: F) -> F::Output {
    PENDING
        .scope(RefCell::new(Some(Mark::Unaudited)), write)
        .await
}

/// What a backend's write helper appends in the write's transaction (with [`seal_all`]):
/// nothing inside [`unaudited`]. Call it in the request's task (task-locals do not reach the
/// SQLite writer thread). Events are taken once: a second write in the same scope is
/// `unattributed`.
pub fn take() -> Vec<Entry> {
    let mark = PENDING
        .try_with(|pending| {
            let mut pending = pending.borrow_mut();
            match &*pending {
                Some(Mark::Unaudited) => Some(Mark::Unaudited),
                _ => pending.take(),
            }
        })
        .ok()
        .flatten();
    let events = match mark {
        Some(Mark::Unaudited) => return Vec::new(),
        Some(Mark::Events(events)) if !events.is_empty() => events,
        _ => {
            tracing::warn!("a store write declared no audit event; recorded as unattributed");
            vec![Event::unattributed()]
        }
    };
    let context = RequestContext::current();
    events
        .into_iter()
        .map(|event| Entry {
            context: context.clone(),
            event,
        })
        .collect()
}

/// The records of `entries`, chained in order after `last` (the chain's last record, as for
/// [`Entry::seal`]).
pub fn seal_all(entries: Vec<Entry>, mut last: Option<(i64, String)>) -> Vec<AuditRecord> {
    entries
        .into_iter()
        .map(|entry| {
            let record = entry.seal(last.take());
            last = Some((record.seq, record.hash.clone()));
            record
        })
        .collect()
}

/// A record waiting for its place in the chain.
#[derive(Debug)]
pub struct Entry {
    context: RequestContext,
    event: Event,
}

impl Entry {
    /// The record that follows `last` (`(seq, hash)` of the chain's last record; `None` for
    /// an empty trail). Call it inside the transaction, after the write: a mutation's result
    /// is part of the digest.
    pub fn seal(self, last: Option<(i64, String)>) -> AuditRecord {
        self.unplaced().place(last)
    }

    /// Whether the record depends on the write's outcome (a mutation it observes): then it
    /// can only be sealed once the write's answers are in.
    pub fn waits_for_write(&self) -> bool {
        self.event.observed.is_some()
    }

    /// The record, sealed but for its place in the chain. Call it after the write (a
    /// mutation's result is part of the digest), or before it when nothing
    /// [`waits_for_write`](Self::waits_for_write).
    pub fn unplaced(self) -> UnplacedRecord {
        let Entry { context, event } = self;
        let mut details = event.details;
        let mut change = event.change;
        let observed = event
            .observed
            .and_then(|slot| slot.lock().unwrap_or_else(|p| p.into_inner()).take());
        let mut action = event.action.to_owned();
        if let Some(observed) = observed {
            // A soft deletion is an update of `deleted_at`: named for what it is.
            if observed.changed.iter().any(|field| field == "deleted_at") {
                let trashed = observed
                    .after
                    .get("deleted_at")
                    .is_some_and(|v| !v.is_null());
                let verb = if trashed { "trash" } else { "restore" };
                action = format!("{}.{verb}", event.entity_kind);
            }
            set(&mut details, "changed", to_value(observed.changed));
            set(&mut change, "after", observed.after);
        }
        let mut details_text = Vec::with_capacity(64);
        canonical_object(&details, &mut details_text);
        UnplacedRecord(AuditRecord {
            seq: 0,
            at: Timestamp::now(),
            actor: context.actor,
            action,
            entity_kind: event.entity_kind.to_owned(),
            entity_id: event.entity_id,
            request_id: context.request_id,
            client_ip: context.client_ip,
            digest: digest_object(&change),
            details: String::from_utf8(details_text).expect("JSON is UTF-8"),
            prev_hash: String::new(),
            hash: String::new(),
        })
    }
}

/// A record sealed but for its place in the chain: `seq`, `prev_hash` and `hash` are set by
/// whoever appends it — [`place`](Self::place), or the database itself from
/// [`AuditRecord::canonical_after_seq`] (PostgreSQL's single-round-trip writes).
#[derive(Debug, Clone)]
pub struct UnplacedRecord(AuditRecord);

impl UnplacedRecord {
    /// Every field but `seq`, `prev_hash` and `hash` (left 0 and empty).
    pub fn fields(&self) -> &AuditRecord {
        &self.0
    }

    /// The record that follows `last` (`(seq, hash)` of the chain's last record; `None` for
    /// an empty trail).
    pub fn place(self, last: Option<(i64, String)>) -> AuditRecord {
        let (last_seq, prev_hash) = last.unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
        let mut record = self.0;
        record.seq = last_seq + 1;
        record.prev_hash = prev_hash;
        record.hash = record.expected_hash();
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_event_is_taken_once_and_unaudited_scopes_stay_unaudited() {
        let context = RequestContext {
            actor: "alice".into(),
            request_id: Some("r1".into()),
            client_ip: Some("10.0.0.1".into()),
        };
        context
            .clone()
            .scope(async {
                let event = Event::new("run.update", "run", "abc").detail("n", 1);
                with_event(event, async {
                    let first = seal_all(take(), None);
                    assert_eq!(first.len(), 1);
                    assert_eq!(first[0].action, "run.update");
                    assert_eq!(first[0].actor, "alice");
                    assert_eq!(first[0].seq, 1);
                    assert_eq!(first[0].details, r#"{"n":1}"#);
                    let second = seal_all(take(), None);
                    assert_eq!(second.len(), 1);
                    assert_eq!(second[0].action, "unattributed");
                })
                .await;
                unaudited(async {
                    assert!(take().is_empty());
                    assert!(take().is_empty());
                })
                .await;
            })
            .await;
        assert_eq!(seal_all(take(), None)[0].actor, "system");
    }

    #[tokio::test]
    async fn several_events_of_one_write_are_chained_in_order() {
        let events = vec![
            Event::new("run.create", "run", "r1"),
            Event::new("trial.create", "trial", "t1"),
        ];
        let records = with_events(events, async {
            seal_all(take(), Some((6, "ab".repeat(32))))
        })
        .await;
        let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, ["run.create", "trial.create"]);
        assert_eq!((records[0].seq, records[1].seq), (7, 8));
        assert_eq!(records[0].prev_hash, "ab".repeat(32));
        assert_eq!(records[1].prev_hash, records[0].hash);
        assert!(records.iter().all(|r| r.hash == r.expected_hash()));
    }

    #[test]
    fn an_observed_mutation_names_its_changed_fields() {
        #[derive(Serialize)]
        struct Thing {
            name: String,
            status: String,
            updated_at: i64,
        }
        let mut event = Event::new("thing.update", "thing", "t1");
        let mutation = event.observe::<Thing>(Box::new(|t| {
            t.status = "done".into();
            t.updated_at += 1;
            Ok(())
        }));
        let mut thing = Thing {
            name: "a".into(),
            status: "open".into(),
            updated_at: 1,
        };
        mutation(&mut thing).unwrap();
        let entry = Entry {
            context: RequestContext::system(),
            event,
        };
        let record = entry.seal(Some((41, "ab".repeat(32))));
        assert_eq!(record.seq, 42);
        assert_eq!(record.details, r#"{"changed":["status"]}"#);
        assert_eq!(
            record.digest,
            crate::audit::chain::digest(
                &json!({"after": {"name": "a", "status": "done", "updated_at": 2}})
            )
        );
        assert_eq!(record.hash, record.expected_hash());
    }
}
