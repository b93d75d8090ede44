-- Alerts (issue 14): rules on a project or an experiment, the alerts they open per run, and
-- the webhook outbox (one row per notification, delivered at least once, retried with backoff).
-- At most one alert of a rule is open (firing or acknowledged) per run: the partial unique
-- index is what keeps several instances evaluating the same run from firing twice.
CREATE TABLE alert_rules (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    experiment_id  TEXT REFERENCES experiments (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    spec           JSONB NOT NULL,           -- JSON: kind, metric, aggregation, condition, ...
    webhook_url    TEXT,
    webhook_secret TEXT,                     -- needed to sign; never returned by the API
    enabled        BOOLEAN NOT NULL,
    created_by     TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX alert_rules_by_project ON alert_rules (project_id);
CREATE INDEX alert_rules_by_experiment ON alert_rules (experiment_id);

CREATE TABLE alert_events (
    id              TEXT PRIMARY KEY,
    rule_id         TEXT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL,
    experiment_id   TEXT NOT NULL,
    run_id          TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    state           TEXT NOT NULL,           -- 'firing' | 'acknowledged' | 'resolved'
    value           DOUBLE PRECISION,
    message         TEXT NOT NULL,
    fired_at        BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT,
    resolved_at     BIGINT
);
CREATE UNIQUE INDEX alert_events_open ON alert_events (rule_id, run_id) WHERE state <> 'resolved';
CREATE INDEX alert_events_by_project ON alert_events (project_id, fired_at);
CREATE INDEX alert_events_by_run ON alert_events (run_id, state);

CREATE TABLE alert_deliveries (
    id              TEXT PRIMARY KEY,        -- also the idempotency key the receiver sees
    alert_id        TEXT NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    event           TEXT NOT NULL,           -- 'alert.firing' | 'alert.resolved'
    url             TEXT NOT NULL,
    payload         TEXT NOT NULL,           -- the exact body sent on every attempt
    signature       TEXT,                    -- 'sha256=<hex>' of payload, signed when queued
    state           TEXT NOT NULL,           -- 'pending' | 'delivered' | 'failed'
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX alert_deliveries_by_alert ON alert_deliveries (alert_id, created_at);
