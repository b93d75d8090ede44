-- The tamper-evident audit trail (crate::audit), as migrations/sqlite/0008_audit.sql. Appends
-- are serialised across instances by an advisory transaction lock (store/postgres/audit.rs).
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT COLLATE "C" NOT NULL,
    action      TEXT COLLATE "C" NOT NULL,
    entity_kind TEXT COLLATE "C" NOT NULL,
    entity_id   TEXT COLLATE "C" NOT NULL,
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
CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records cannot be changed or deleted';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();
