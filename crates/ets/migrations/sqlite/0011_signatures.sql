-- Electronic signatures of runs (issue 14; 21 CFR Part 11 §11.50, §11.70): who signed, when,
-- what the signature means, and the hash of the run's content at signing, which links the
-- signature to the record. Signatures are never updated or deleted; one whose hash no longer
-- matches the run's content is shown as superseded.
CREATE TABLE run_signatures (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    signer_id    TEXT NOT NULL,
    signer_name  TEXT NOT NULL,
    meaning      TEXT NOT NULL,              -- 'reviewed' | 'approved' | 'rejected'
    comment      TEXT,
    content_hash TEXT NOT NULL,              -- hex SHA-256 of the run's canonical content
    signed_at    INTEGER NOT NULL
);
CREATE INDEX run_signatures_by_run ON run_signatures (run_id, signed_at);
