//! The chain: the canonical form of a record, its hash, and verification of a whole trail.
//!
//! `hash = SHA-256(prev_hash ‖ canonical record)`, where `prev_hash` is the previous record's
//! hash as 64 lowercase hex characters (64 zeros before the first record) and the canonical
//! record is the compact JSON array
//! `[seq, at, actor, action, entity_kind, entity_id, request_id, client_ip, digest, details]`
//! (`at` in epoch milliseconds, absent values `null`, `details` the stored JSON text as a JSON
//! string). Every field but the hashes is covered, so editing any of them, or moving a record
//! to another `seq`, changes its hash; deleting or inserting one breaks the next record's
//! `prev_hash` or the run of `seq`. Both backends and `ets audit verify` use this one module.

use ets_domain::Timestamp;
use serde::{Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One record of the audit trail, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditRecord {
    /// Position in the trail: 1, 2, 3, … without gaps.
    pub seq: i64,
    /// When the change was committed (the writing instance's clock).
    pub at: Timestamp,
    /// Who made the change: a user or service account name, `anonymous` (auth off),
    /// `system` (ETS itself, e.g. `ets gc`) or `unauthenticated`.
    pub actor: String,
    /// What was done, as `<entity kind>.<verb>`: `run.create`, `run.log`, `artifact.put`, …
    pub action: String,
    /// `project`, `experiment`, `run`, `artifact`, `logged_model`.
    pub entity_kind: String,
    /// The entity's id (artifacts: `<run id>/<path>`).
    pub entity_id: String,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// The client's address as the server saw it.
    pub client_ip: Option<String>,
    /// SHA-256 (hex) of the canonical JSON of what changed: the entity as written, the params,
    /// tags and metric points sent.
    pub digest: String,
    /// A small summary of the change (names, counts, keys, changed fields).
    #[serde(serialize_with = "details_as_json")]
    #[schema(value_type = Object)]
    pub details: String,
    /// The previous record's `hash`.
    pub prev_hash: String,
    /// SHA-256 (hex) of `prev_hash` followed by the canonical record.
    pub hash: String,
}

/// `details` is stored as JSON text (so the hashed bytes are exactly the stored ones) and
/// shown as the JSON it holds.
fn details_as_json<S: Serializer>(details: &str, serializer: S) -> Result<S::Ok, S::Error> {
    match serde_json::from_str::<Value>(details) {
        Ok(value) => value.serialize(serializer),
        Err(_) => serializer.serialize_str(details),
    }
}

impl AuditRecord {
    /// The bytes hashed after `prev_hash`: `[seq,` then [`canonical_after_seq`](Self::canonical_after_seq).
    pub fn canonical(&self) -> Vec<u8> {
        let rest = self.canonical_after_seq();
        let mut bytes = Vec::with_capacity(rest.len() + 22);
        bytes.push(b'[');
        bytes.extend_from_slice(self.seq.to_string().as_bytes());
        bytes.push(b',');
        bytes.extend_from_slice(&rest);
        bytes
    }

    /// The canonical record after its opening `[seq,` — every field the writer knows before
    /// the record has a place in the chain. A database that places records itself (PostgreSQL's
    /// single-round-trip writes, `store/postgres/audit.rs`) hashes `prev_hash`, `[seq,` and
    /// these bytes.
    pub fn canonical_after_seq(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(&(
            self.at.millis(),
            &self.actor,
            &self.action,
            &self.entity_kind,
            &self.entity_id,
            &self.request_id,
            &self.client_ip,
            &self.digest,
            &self.details,
        ))
        .expect("a tuple of strings and integers serializes");
        debug_assert_eq!(bytes.first(), Some(&b'['));
        bytes.remove(0);
        bytes
    }

    /// The hash this record must carry, given its `prev_hash`.
    pub fn expected_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(self.canonical());
        hex::encode(hasher.finalize())
    }
}

/// Writes `value` as canonical JSON: compact, object keys sorted bytewise at every level
/// (whatever order the map kept), so equal values always give equal bytes.
pub fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            write_object(map.iter().map(|(k, v)| (k.as_str(), v)).collect(), out);
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("a JSON scalar serializes"),
    }
}

/// Writes the object of `entries` (distinct names) as canonical JSON: the bytes
/// [`canonical_json`] writes for a map of them, without building the map.
pub fn canonical_object(entries: &[(&str, Value)], out: &mut Vec<u8>) {
    write_object(entries.iter().map(|(k, v)| (*k, v)).collect(), out);
}

/// An object's entries, sorted by name bytewise, as canonical JSON.
fn write_object(mut entries: Vec<(&str, &Value)>, out: &mut Vec<u8>) {
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (key, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key).expect("a string serializes");
        out.push(b':');
        canonical_json(item, out);
    }
    out.push(b'}');
}

/// SHA-256 (hex) of the canonical JSON of `value`.
pub fn digest(value: &Value) -> String {
    let mut bytes = Vec::new();
    canonical_json(value, &mut bytes);
    hex::encode(Sha256::digest(&bytes))
}

/// SHA-256 (hex) of the canonical JSON of the object of `entries` (distinct names): equal to
/// [`digest`] of that object.
pub fn digest_object(entries: &[(&str, Value)]) -> String {
    let mut bytes = Vec::with_capacity(128);
    canonical_object(entries, &mut bytes);
    hex::encode(Sha256::digest(&bytes))
}

/// Outcome of checking the whole trail (`GET /api/v1/audit/verify`, `ets audit verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VerifyReport {
    /// Whether every record is intact and in place.
    pub ok: bool,
    /// Records checked and found intact (up to the first bad one).
    pub checked: u64,
    /// The first record that is missing, changed, inserted or out of place; `null` when ok.
    pub first_bad_seq: Option<i64>,
    /// What is wrong with it; `null` when ok.
    pub reason: Option<String>,
    /// The last intact record's `seq` and `hash`: keep them elsewhere (a ticket, a log
    /// archive) to detect later a trail rewritten from some record on.
    pub last_seq: Option<i64>,
    pub last_hash: Option<String>,
}

/// Checks records fed in `seq` order, stopping at the first bad one.
#[derive(Debug)]
pub struct Verifier {
    checked: u64,
    last: Option<(i64, String)>,
    failure: Option<(i64, String)>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            checked: 0,
            last: None,
            failure: None,
        }
    }

    /// Checks the next record; returns whether to go on (false once a bad record was found).
    pub fn check(&mut self, record: &AuditRecord) -> bool {
        if self.failure.is_some() {
            return false;
        }
        let (last_seq, last_hash) = match &self.last {
            Some((seq, hash)) => (*seq, hash.as_str()),
            None => (0, GENESIS_HASH),
        };
        let expected_seq = last_seq + 1;
        let failure = if record.seq > expected_seq {
            Some((
                expected_seq,
                format!(
                    "record {expected_seq} is missing: the trail goes from {last_seq} to {} \
                     (deleted records)",
                    record.seq
                ),
            ))
        } else if record.seq < expected_seq {
            Some((
                record.seq,
                format!("record {} is out of sequence after {last_seq}", record.seq),
            ))
        } else if record.prev_hash != last_hash {
            Some((
                record.seq,
                format!(
                    "record {} does not follow record {last_seq}: its prev_hash is not that \
                     record's hash (a record was inserted, removed or moved)",
                    record.seq
                ),
            ))
        } else if record.expected_hash() != record.hash {
            Some((
                record.seq,
                format!(
                    "record {} was changed after it was written: its hash does not match its \
                     content",
                    record.seq
                ),
            ))
        } else {
            None
        };
        match failure {
            Some(failure) => {
                self.failure = Some(failure);
                false
            }
            None => {
                self.checked += 1;
                self.last = Some((record.seq, record.hash.clone()));
                true
            }
        }
    }

    pub fn report(self) -> VerifyReport {
        let (first_bad_seq, reason) = match self.failure {
            Some((seq, reason)) => (Some(seq), Some(reason)),
            None => (None, None),
        };
        let (last_seq, last_hash) = match self.last {
            Some((seq, hash)) => (Some(seq), Some(hash)),
            None => (None, None),
        };
        VerifyReport {
            ok: first_bad_seq.is_none(),
            checked: self.checked,
            first_bad_seq,
            reason,
            last_seq,
            last_hash,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut record = AuditRecord {
                    seq,
                    at: Timestamp(1_700_000_000_000 + seq),
                    actor: "alice".into(),
                    action: "run.update".into(),
                    entity_kind: "run".into(),
                    entity_id: format!("r{seq}"),
                    request_id: Some(format!("req-{seq}")),
                    client_ip: None,
                    digest: digest(&serde_json::json!({"seq": seq})),
                    details: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                record.hash = record.expected_hash();
                prev = record.hash.clone();
                record
            })
            .collect()
    }

    fn verify(records: &[AuditRecord]) -> VerifyReport {
        let mut verifier = Verifier::new();
        for record in records {
            if !verifier.check(record) {
                break;
            }
        }
        verifier.report()
    }

    #[test]
    fn an_intact_chain_verifies_and_names_its_head() {
        let records = chain(5);
        let report = verify(&records);
        assert!(report.ok, "{report:?}");
        assert_eq!(report.checked, 5);
        assert_eq!(report.last_seq, Some(5));
        assert_eq!(report.last_hash.as_deref(), Some(records[4].hash.as_str()));
        let empty = verify(&[]);
        assert!(empty.ok && empty.checked == 0 && empty.last_seq.is_none());
    }

    #[test]
    fn edits_deletions_insertions_and_reorders_are_found() {
        let mut edited = chain(5);
        edited[2].actor = "mallory".into();
        let report = verify(&edited);
        assert_eq!(
            (report.ok, report.first_bad_seq, report.checked),
            (false, Some(3), 2)
        );
        assert!(report.reason.unwrap().contains("changed"));

        let mut deleted = chain(5);
        deleted.remove(1);
        let report = verify(&deleted);
        assert_eq!(report.first_bad_seq, Some(2));
        assert!(report.reason.unwrap().contains("missing"));

        let mut forged = chain(5);
        let mut fake = forged[4].clone();
        fake.seq = 6;
        fake.entity_id = "forged".into();
        forged.push(fake);
        assert_eq!(verify(&forged).first_bad_seq, Some(6));

        let mut swapped = chain(5);
        swapped.swap(1, 2);
        (swapped[1].seq, swapped[2].seq) = (2, 3);
        let report = verify(&swapped);
        assert_eq!(report.first_bad_seq, Some(2));
        assert!(report.reason.unwrap().contains("does not follow"));

        let mut rehashed = chain(5);
        rehashed[1].details = r#"{"x":1}"#.into();
        rehashed[1].hash = rehashed[1].expected_hash();
        assert_eq!(
            verify(&rehashed).first_bad_seq,
            Some(3),
            "a rehashed record breaks the next one's link"
        );
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = serde_json::json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": null}});
        let mut out = Vec::new();
        canonical_json(&a, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#
        );
        assert_eq!(
            digest(&a),
            digest(&serde_json::json!({"a": {"x": null, "y": [1, {"c": 3, "d": 2}]}, "b": 1}))
        );
    }

    #[test]
    fn an_object_of_entries_is_written_as_its_map_would_be() {
        let entries = [
            ("b", serde_json::json!(1)),
            (
                "a\"",
                serde_json::json!({"y": [1, {"d": 2, "c": 3}], "x": null}),
            ),
            ("A", serde_json::json!("text")),
        ];
        let map = serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        );
        let (mut from_entries, mut from_map) = (Vec::new(), Vec::new());
        canonical_object(&entries, &mut from_entries);
        canonical_json(&map, &mut from_map);
        assert_eq!(from_entries, from_map);
        assert_eq!(
            String::from_utf8(from_entries).unwrap(),
            r#"{"A":"text","a\"":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#
        );
        assert_eq!(digest_object(&entries), digest(&map));
        assert_eq!(digest_object(&[]), digest(&serde_json::json!({})));
    }
}
