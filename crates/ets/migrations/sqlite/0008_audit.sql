-- The tamper-evident audit trail (crate::audit). One row per state change, appended in the
-- transaction of the change. `seq` is gapless and increasing; `hash` is
-- SHA-256(prev_hash || canonical record) in hex, `prev_hash` the previous row's hash (64 zeros
-- for the first). `details` is the stored text of a small JSON summary, kept as text so the
-- hashed bytes are exactly what is stored. Times are epoch milliseconds.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    request_id  TEXT,
    client_ip   TEXT,
    digest      TEXT NOT NULL,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_by_entity ON audit_log (entity_kind, entity_id, seq);
CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
-- Nothing in ETS changes or removes a record; these refuse it outright (someone with DDL
-- rights can drop them, which the hash chain then reveals).
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit records cannot be changed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit records cannot be deleted');
END;
