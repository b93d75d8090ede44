-- Saved charts and dashboards (issue 12), one table for both kinds ("views"): a chart is a
-- saved query plus presentation (`body`: its spec, run selection and optional frozen
-- snapshot), a dashboard an ordered list of charts (`view_charts`). Deleting a project or an
-- experiment deletes its views; deleting a chart removes it from every dashboard.
CREATE TABLE views (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,            -- 'chart' | 'dashboard'
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    experiment_id TEXT REFERENCES experiments (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    description   TEXT,
    body          TEXT NOT NULL,            -- JSON
    created_by    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX views_by_project ON views (project_id, kind, created_at);
CREATE INDEX views_by_experiment ON views (experiment_id);

CREATE TABLE view_charts (
    dashboard_id TEXT NOT NULL REFERENCES views (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    chart_id     TEXT NOT NULL REFERENCES views (id) ON DELETE CASCADE,
    PRIMARY KEY (dashboard_id, position)
);
CREATE INDEX view_charts_by_chart ON view_charts (chart_id);
