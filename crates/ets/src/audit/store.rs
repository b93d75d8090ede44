//! [`AuditedStore`]: the one place where each store write declares its audit [`Event`].
//!
//! It wraps the backend (`store::open` installs it) and sets the event around the inner call;
//! the backend appends the record inside the write's transaction. Reads pass straight through.
//! A new write method of the `Store` trait must be implemented here too (the trait has no
//! defaults for writes), and a write that declares nothing is recorded as `unattributed`,
//! which the tests refuse.

use std::sync::Arc;

use async_trait::async_trait;
use ets_domain::Timestamp;
use ets_domain::model::{
    Artifact, DatasetInput, Experiment, LoggedModel, MetricPoint, MetricSeries, MetricSummary,
    ParamValue, Project, ProjectStats, Run, RunModel, SeriesPoints, TagPatch,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::context::{Event, unaudited, with_event, with_events};
use super::{AuditRecord, VerifyReport};
use crate::auth::Role;
use crate::error::{EntityKind, Result};
use crate::store::identity::{
    ApiKeyRecord, KeyLogin, MemberRecord, SessionRecord, UserRecord, UserRef,
};
use crate::store::{
    AlertQuery, AlertRecord, AlertRuleRecord, AuditQuery, DataOf, DeliveryOutcome, DeliveryRecord,
    ExperimentFilter, LatestMetric, Mutation, Page, PageRequest, PointContext, PoolState,
    ProjectFilter, RunFilter, Search, SeriesRequest, Store, StoredArtifact, Trashable, ViewKind,
    ViewQuery, ViewRecord,
};
use crate::store::{
    AttrKind, AttrRecord, NewTrial, OpenTrials, SignatureRecord, StudyRecord, TrialRecord,
    TrialRunEnd, TrialState,
};

/// The audit action of a change to a chart or dashboard (`chart.create`, …).
fn view_action(kind: ViewKind, change: &str) -> &'static str {
    match (kind, change) {
        (ViewKind::Chart, "create") => "chart.create",
        (ViewKind::Chart, "update") => "chart.update",
        (ViewKind::Chart, _) => "chart.delete",
        (ViewKind::Dashboard, "create") => "dashboard.create",
        (ViewKind::Dashboard, "update") => "dashboard.update",
        (ViewKind::Dashboard, _) => "dashboard.delete",
    }
}

/// Most names listed in a record's summary (metric keys, datasets); the count is always there.
const MAX_LISTED: usize = 20;

/// A [`Store`] that audits every write of the store it wraps.
pub struct AuditedStore {
    inner: Arc<dyn Store>,
}

impl AuditedStore {
    pub fn new(inner: Arc<dyn Store>) -> AuditedStore {
        AuditedStore { inner }
    }
}

/// Params as their stored text, for digests.
fn param_texts(params: &[(String, ParamValue)]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|(key, value)| (key.as_str(), value.text.as_str()))
        .collect()
}

/// The first [`MAX_LISTED`] names.
fn listed<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    names.take(MAX_LISTED).collect()
}

/// SHA-256 of metric points, bit for bit (a JSON form of a thousand points would cost more
/// than storing them): per series its key and points as length-prefixed little-endian fields.
fn points_digest(points: &[SeriesPoints]) -> String {
    // One buffer, one hash update: thousands of 8-byte updates cost more than the hashing.
    let size: usize = points
        .iter()
        .map(|s| 16 + s.key.len() + 24 * s.points.len())
        .sum();
    let mut bytes = Vec::with_capacity(size);
    for series in points {
        bytes.extend_from_slice(&(series.key.len() as u64).to_le_bytes());
        bytes.extend_from_slice(series.key.as_bytes());
        bytes.extend_from_slice(&(series.points.len() as u64).to_le_bytes());
        for p in &series.points {
            bytes.extend_from_slice(&p.step.to_le_bytes());
            bytes.extend_from_slice(&p.timestamp.to_le_bytes());
            bytes.extend_from_slice(&p.value.to_bits().to_le_bytes());
        }
    }
    hex::encode(Sha256::digest(&bytes))
}

/// `<entity kind>.trash` or `.restore`.
fn trash_action(kind: Trashable, deleted: bool) -> &'static str {
    match (kind, deleted) {
        (Trashable::Projects, true) => "project.trash",
        (Trashable::Projects, false) => "project.restore",
        (Trashable::Experiments, true) => "experiment.trash",
        (Trashable::Experiments, false) => "experiment.restore",
        (Trashable::Runs, true) => "run.trash",
        (Trashable::Runs, false) => "run.restore",
    }
}

fn create_run_event(run: &Run, params: &[(String, ParamValue)]) -> Event {
    Event::new("run.create", "run", &run.id)
        .detail("name", &run.name)
        .detail("experiment_id", &run.experiment_id)
        .detail("params", params.len())
        .change("run", run)
        .change("params", param_texts(params))
}

fn log_batch_event(
    run_id: &str,
    params: &[(String, ParamValue)],
    tags: &TagPatch,
    rename: Option<&String>,
    points: &[SeriesPoints],
    contexts: &[PointContext],
) -> Event {
    let point_count: usize = points.iter().map(|s| s.points.len()).sum();
    let metrics = json!({
        "keys": points.len(),
        "points": point_count,
        "names": listed(points.iter().map(|s| s.key.as_str())),
    });
    let mut event = Event::new("run.log", "run", run_id)
        .detail("metrics", metrics)
        .detail("params", params.len())
        .detail("tags", tags.len())
        .change("params", param_texts(params))
        .change("tags", tags)
        .change("points_sha256", points_digest(points));
    if let Some(name) = rename {
        event = event.detail("rename", name).change("rename", name);
    }
    if !contexts.is_empty() {
        event = event
            .detail("point_contexts", contexts.len())
            .change("point_contexts", contexts);
    }
    event
}

fn update_run_event(id: &str, params: &[(String, ParamValue)], tags: &TagPatch) -> Event {
    Event::new("run.update", "run", id)
        .detail("params", params.len())
        .detail("tags", tags.len())
        .change("params", param_texts(params))
        .change("tags", tags)
}

fn set_trial_state_event(id: &str, state: TrialState, values: &Option<Vec<f64>>) -> Event {
    Event::new("trial.set_state", "trial", id)
        .detail("state", state.as_str())
        .change("values", values)
}

fn add_trial_event(trial: &NewTrial) -> Event {
    Event::new("trial.create", "trial", &trial.id)
        .detail("study_id", &trial.study_id)
        .detail("run_id", &trial.run_id)
        .detail("state", trial.state.as_str())
        .change("params", &trial.params)
}

#[async_trait]
impl Store for AuditedStore {
    // ---- identities (secrets are never part of an event: keys and sessions by id only)
    async fn restore_times(
        &self,
        kind: Trashable,
        id: &str,
        updated_at: Timestamp,
        deleted_at: Option<Timestamp>,
    ) -> Result<()> {
        let action = match kind {
            Trashable::Projects => "project.import_times",
            Trashable::Experiments => "experiment.import_times",
            Trashable::Runs => "run.import_times",
        };
        let event = Event::new(action, kind.entity().as_str(), id)
            .change("updated_at", updated_at)
            .change("deleted_at", deleted_at);
        with_event(
            event,
            self.inner.restore_times(kind, id, updated_at, deleted_at),
        )
        .await
    }
    async fn project_of(&self, entity: EntityKind, id: &str) -> Result<String> {
        self.inner.project_of(entity, id).await
    }
    async fn create_user(&self, user: UserRecord) -> Result<UserRecord> {
        let event = Event::new("user.create", "user", &user.id)
            .detail("name", &user.name)
            .detail("kind", user.kind.as_str())
            .detail("global_admin", user.global_admin)
            .change("name", &user.name);
        with_event(event, self.inner.create_user(user)).await
    }
    async fn get_user(&self, by: UserRef) -> Result<UserRecord> {
        self.inner.get_user(by).await
    }
    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.inner.list_users().await
    }
    async fn update_user(&self, by: UserRef, mutation: Mutation<UserRecord>) -> Result<UserRecord> {
        let event = Event::new("user.update", "user", by.value());
        with_event(event, self.inner.update_user(by, mutation)).await
    }
    async fn create_api_key(&self, key: ApiKeyRecord) -> Result<ApiKeyRecord> {
        let event = Event::new("api_key.create", "api_key", &key.id)
            .detail("user_id", &key.user_id)
            .detail("name", &key.name)
            .detail("expires_at", key.expires_at)
            .change("user_id", &key.user_id);
        with_event(event, self.inner.create_api_key(key)).await
    }
    async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>> {
        self.inner.list_api_keys(user_id).await
    }
    async fn revoke_api_key(&self, user_id: &str, key_id: &str, at: i64) -> Result<ApiKeyRecord> {
        let event = Event::new("api_key.revoke", "api_key", key_id).detail("user_id", user_id);
        with_event(event, self.inner.revoke_api_key(user_id, key_id, at)).await
    }
    async fn key_login(&self, key_id: &str) -> Result<Option<KeyLogin>> {
        self.inner.key_login(key_id).await
    }
    async fn touch_api_key(&self, key_id: &str, at: i64) -> Result<()> {
        // Bookkeeping of a read, not a change of state.
        unaudited(self.inner.touch_api_key(key_id, at)).await
    }
    async fn user_roles(&self, user_id: &str) -> Result<Vec<(String, Role)>> {
        self.inner.user_roles(user_id).await
    }
    async fn list_members(&self, project_id: &str) -> Result<Vec<MemberRecord>> {
        self.inner.list_members(project_id).await
    }
    async fn set_member(
        &self,
        project_id: &str,
        user: UserRef,
        role: Option<Role>,
        at: i64,
    ) -> Result<Option<MemberRecord>> {
        let action = if role.is_some() {
            "member.set"
        } else {
            "member.remove"
        };
        let event = Event::new(action, "project", project_id)
            .detail("user", user.value())
            .detail("role", role)
            .change("role", role);
        with_event(event, self.inner.set_member(project_id, user, role, at)).await
    }
    async fn create_session(&self, session: SessionRecord) -> Result<()> {
        let event = Event::new("session.login", "user", &session.user_id)
            .detail("expires_at", session.expires_at);
        with_event(event, self.inner.create_session(session)).await
    }
    async fn get_session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        self.inner.get_session(token_hash).await
    }
    async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        let event = Event::new("session.logout", "session", "");
        with_event(event, self.inner.delete_session(token_hash)).await
    }
    async fn dataset_summaries(
        &self,
        experiment_ids: Vec<String>,
    ) -> Result<Vec<crate::store::datasets::DatasetSummary>> {
        self.inner.dataset_summaries(experiment_ids).await
    }
    async fn create_study(&self, study: StudyRecord) -> Result<StudyRecord> {
        let event = Event::new("study.create", "study", &study.id)
            .detail("experiment_id", &study.experiment_id)
            .detail("name", &study.name)
            .change("sampler", &study.sampler)
            .change("pruner", &study.pruner)
            .change("search_space", &study.search_space);
        with_event(event, self.inner.create_study(study)).await
    }
    async fn get_study(&self, id: &str) -> Result<StudyRecord> {
        self.inner.get_study(id).await
    }
    async fn study_by_seq(&self, seq: i64) -> Result<StudyRecord> {
        self.inner.study_by_seq(seq).await
    }
    async fn studies(&self, experiment_id: &str) -> Result<Vec<StudyRecord>> {
        self.inner.studies(experiment_id).await
    }
    async fn project_studies(&self, project_id: &str) -> Result<Vec<StudyRecord>> {
        self.inner.project_studies(project_id).await
    }
    async fn delete_study(&self, id: &str) -> Result<()> {
        let event = Event::new("study.delete", "study", id);
        with_event(event, self.inner.delete_study(id)).await
    }
    async fn set_study_attr(
        &self,
        study_id: &str,
        kind: AttrKind,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let event = Event::new("study.set_attr", "study", study_id)
            .detail("kind", kind.as_str())
            .detail("key", key)
            .change("value", value);
        with_event(event, self.inner.set_study_attr(study_id, kind, key, value)).await
    }
    async fn study_attrs(&self, study_id: &str) -> Result<Vec<AttrRecord>> {
        self.inner.study_attrs(study_id).await
    }
    async fn project_study_attrs(&self, project_id: &str) -> Result<Vec<AttrRecord>> {
        self.inner.project_study_attrs(project_id).await
    }
    async fn grow_search_space(
        &self,
        study_id: &str,
        name: &str,
        distribution: serde_json::Value,
    ) -> Result<()> {
        let event = Event::new("study.add_param", "study", study_id)
            .detail("param", name)
            .change("distribution", &distribution);
        with_event(
            event,
            self.inner.grow_search_space(study_id, name, distribution),
        )
        .await
    }
    async fn add_trial(&self, trial: NewTrial) -> Result<TrialRecord> {
        with_event(add_trial_event(&trial), self.inner.add_trial(trial)).await
    }
    async fn start_trial(
        &self,
        run: Run,
        params: Vec<(String, ParamValue)>,
        trial: NewTrial,
        number: i64,
        seen: Option<OpenTrials>,
    ) -> Result<(Run, TrialRecord)> {
        // The records of `create_run` and `add_trial`, in that order (the run with its
        // params and tags, the trial with its params).
        let events = vec![create_run_event(&run, &params), add_trial_event(&trial)];
        with_events(
            events,
            self.inner.start_trial(run, params, trial, number, seen),
        )
        .await
    }
    async fn set_trial_param(
        &self,
        id: &str,
        name: &str,
        value: serde_json::Value,
        distribution: serde_json::Value,
    ) -> Result<()> {
        let event = Event::new("trial.set_param", "trial", id)
            .detail("param", name)
            .change("value", &value);
        with_event(
            event,
            self.inner.set_trial_param(id, name, value, distribution),
        )
        .await
    }
    async fn get_trial(&self, id: &str) -> Result<TrialRecord> {
        self.inner.get_trial(id).await
    }
    async fn trial_with_study(&self, id: &str) -> Result<(TrialRecord, StudyRecord)> {
        self.inner.trial_with_study(id).await
    }
    async fn trial_by_number(&self, study_id: &str, number: i64) -> Result<TrialRecord> {
        self.inner.trial_by_number(study_id, number).await
    }
    async fn trials_after(
        &self,
        study_id: &str,
        after: i64,
    ) -> Result<(StudyRecord, Vec<TrialRecord>)> {
        self.inner.trials_after(study_id, after).await
    }
    async fn experiment_trials(
        &self,
        experiment_id: &str,
    ) -> Result<Vec<(StudyRecord, Vec<TrialRecord>)>> {
        self.inner.experiment_trials(experiment_id).await
    }
    async fn set_trial_state(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
    ) -> Result<Option<TrialRecord>> {
        let event = set_trial_state_event(id, state, &values);
        with_event(event, self.inner.set_trial_state(id, state, values, at)).await
    }
    async fn tell_trial(
        &self,
        id: &str,
        state: TrialState,
        values: Option<Vec<f64>>,
        at: Timestamp,
        run: Option<TrialRunEnd>,
    ) -> Result<(TrialRecord, Option<(Run, usize)>)> {
        // The records of `set_trial_state`, `log_batch` (when there are points) and
        // `update_run`, in that order.
        let mut events = vec![set_trial_state_event(id, state, &values)];
        let run = run.map(|mut end| {
            if !end.points.is_empty() {
                let no_tags = TagPatch::new();
                events.push(log_batch_event(
                    &end.run_id,
                    &[],
                    &no_tags,
                    None,
                    &end.points,
                    &[],
                ));
            }
            let mut event = update_run_event(&end.run_id, &[], &TagPatch::new());
            end.mutation = event.observe(end.mutation);
            events.push(event);
            end
        });
        with_events(events, self.inner.tell_trial(id, state, values, at, run)).await
    }
    async fn set_trial_attr(&self, id: &str, kind: AttrKind, key: &str, value: &str) -> Result<()> {
        let event = Event::new("trial.set_attr", "trial", id)
            .detail("kind", kind.as_str())
            .detail("key", key)
            .change("value", value);
        with_event(event, self.inner.set_trial_attr(id, kind, key, value)).await
    }
    async fn report_trial_value(&self, id: &str, step: i64, value: f64) -> Result<()> {
        let event = Event::new("trial.report", "trial", id)
            .detail("step", step)
            .detail("value", value);
        with_event(event, self.inner.report_trial_value(id, step, value)).await
    }
    async fn add_signature(&self, signature: SignatureRecord) -> Result<SignatureRecord> {
        let event = Event::new("run.sign", "run", &signature.run_id)
            .detail("signature_id", &signature.id)
            .detail("signer", &signature.signer_name)
            .detail("meaning", &signature.meaning)
            .detail("comment", &signature.comment)
            .detail("content_hash", &signature.content_hash);
        with_event(event, self.inner.add_signature(signature)).await
    }
    async fn signatures(&self, run_ids: Vec<String>) -> Result<Vec<SignatureRecord>> {
        self.inner.signatures(run_ids).await
    }
    async fn create_alert_rule(&self, rule: AlertRuleRecord) -> Result<AlertRuleRecord> {
        let event = Event::new("alert_rule.create", "alert_rule", &rule.id)
            .detail("project_id", &rule.project_id)
            .detail("experiment_id", &rule.experiment_id)
            .detail("name", &rule.name)
            .detail("spec", &rule.spec)
            .detail("webhook_url", &rule.webhook_url);
        with_event(event, self.inner.create_alert_rule(rule)).await
    }
    async fn get_alert_rule(&self, id: &str) -> Result<AlertRuleRecord> {
        self.inner.get_alert_rule(id).await
    }
    async fn list_alert_rules(
        &self,
        projects: Option<Vec<String>>,
    ) -> Result<Vec<AlertRuleRecord>> {
        self.inner.list_alert_rules(projects).await
    }
    async fn update_alert_rule(
        &self,
        id: &str,
        mutation: Mutation<AlertRuleRecord>,
    ) -> Result<AlertRuleRecord> {
        let event = Event::new("alert_rule.update", "alert_rule", id);
        with_event(event, self.inner.update_alert_rule(id, mutation)).await
    }
    async fn delete_alert_rule(&self, id: &str) -> Result<()> {
        let event = Event::new("alert_rule.delete", "alert_rule", id);
        with_event(event, self.inner.delete_alert_rule(id)).await
    }
    async fn fire_alert(
        &self,
        alert: AlertRecord,
        delivery: Option<DeliveryRecord>,
    ) -> Result<bool> {
        let event = Event::new("alert.fire", "alert", &alert.id)
            .detail("rule_id", &alert.rule_id)
            .detail("run_id", &alert.run_id)
            .detail("message", &alert.message)
            .detail("webhook_delivery", delivery.as_ref().map(|d| &d.id));
        with_event(event, self.inner.fire_alert(alert, delivery)).await
    }
    async fn resolve_alert(
        &self,
        id: &str,
        at: i64,
        delivery: Option<DeliveryRecord>,
    ) -> Result<bool> {
        let event = Event::new("alert.resolve", "alert", id)
            .detail("webhook_delivery", delivery.as_ref().map(|d| &d.id));
        with_event(event, self.inner.resolve_alert(id, at, delivery)).await
    }
    async fn acknowledge_alert(&self, id: &str, by: &str, at: i64) -> Result<AlertRecord> {
        let event = Event::new("alert.acknowledge", "alert", id).detail("by", by);
        with_event(event, self.inner.acknowledge_alert(id, by, at)).await
    }
    async fn get_alert(&self, id: &str) -> Result<AlertRecord> {
        self.inner.get_alert(id).await
    }
    async fn list_alerts(&self, query: AlertQuery) -> Result<Vec<AlertRecord>> {
        self.inner.list_alerts(query).await
    }
    async fn open_alerts(&self, run_ids: Vec<String>) -> Result<Vec<AlertRecord>> {
        self.inner.open_alerts(run_ids).await
    }
    async fn alert_deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRecord>> {
        self.inner.alert_deliveries(alert_id).await
    }
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        // The outbox's bookkeeping; the alert it delivers was audited when it fired.
        unaudited(self.inner.claim_deliveries(now, lease_until, limit)).await
    }
    async fn finish_delivery(&self, id: &str, outcome: DeliveryOutcome) -> Result<()> {
        unaudited(self.inner.finish_delivery(id, outcome)).await
    }
    async fn alert_sweep_runs(
        &self,
        since: i64,
        experiment_ids: Vec<String>,
        project_ids: Vec<String>,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.inner
            .alert_sweep_runs(since, experiment_ids, project_ids, limit)
            .await
    }
    async fn create_view(&self, view: ViewRecord) -> Result<ViewRecord> {
        let action = view_action(view.kind, "create");
        let event = Event::new(action, view.kind.as_str(), &view.id)
            .detail("project_id", &view.project_id)
            .detail("experiment_id", &view.experiment_id)
            .detail("name", &view.name)
            .change("name", &view.name);
        with_event(event, self.inner.create_view(view)).await
    }
    async fn get_view(&self, kind: ViewKind, id: &str) -> Result<ViewRecord> {
        self.inner.get_view(kind, id).await
    }
    async fn list_views(&self, query: ViewQuery) -> Result<Vec<ViewRecord>> {
        self.inner.list_views(query).await
    }
    async fn update_view(
        &self,
        kind: ViewKind,
        id: &str,
        mutation: Mutation<ViewRecord>,
    ) -> Result<ViewRecord> {
        let event = Event::new(view_action(kind, "update"), kind.as_str(), id);
        with_event(event, self.inner.update_view(kind, id, mutation)).await
    }
    async fn delete_view(&self, kind: ViewKind, id: &str) -> Result<()> {
        let event = Event::new(view_action(kind, "delete"), kind.as_str(), id);
        with_event(event, self.inner.delete_view(kind, id)).await
    }
    async fn stream_series(
        &self,
        series: Vec<(String, String)>,
        out: tokio::sync::mpsc::Sender<(usize, Vec<MetricPoint>)>,
    ) -> Result<()> {
        self.inner.stream_series(series, out).await
    }
    async fn series_step_bounds(
        &self,
        series: Vec<(String, String)>,
    ) -> Result<Vec<Option<(i64, i64)>>> {
        self.inner.series_step_bounds(series).await
    }

    // ---- projects
    async fn create_project(&self, project: Project, admin: Option<String>) -> Result<Project> {
        let event = Event::new("project.create", "project", &project.id)
            .detail("name", &project.name)
            .detail("admin", &admin)
            .change("project", &project);
        with_event(event, self.inner.create_project(project, admin)).await
    }
    async fn get_project(&self, id: &str) -> Result<Project> {
        self.inner.get_project(id).await
    }
    async fn list_projects(
        &self,
        filter: ProjectFilter,
        page: PageRequest,
    ) -> Result<Page<Project>> {
        self.inner.list_projects(filter, page).await
    }
    async fn update_project(&self, id: &str, mutation: Mutation<Project>) -> Result<Project> {
        let mut event = Event::new("project.update", "project", id);
        let mutation = event.observe(mutation);
        with_event(event, self.inner.update_project(id, mutation)).await
    }
    async fn delete_project(&self, id: &str, cascade: bool) -> Result<Vec<String>> {
        let event = Event::new("project.delete", "project", id)
            .detail("cascade", cascade)
            .change("cascade", cascade);
        with_event(event, self.inner.delete_project(id, cascade)).await
    }
    async fn set_project_deleted(&self, id: &str, deleted: bool, cascade: bool) -> Result<Project> {
        let event = Event::new(trash_action(Trashable::Projects, deleted), "project", id)
            .detail("cascade", cascade)
            .change("deleted", deleted)
            .change("cascade", cascade);
        with_event(event, self.inner.set_project_deleted(id, deleted, cascade)).await
    }
    async fn project_stats(&self, id: &str) -> Result<ProjectStats> {
        self.inner.project_stats(id).await
    }

    // ---- experiments
    async fn create_experiment(&self, experiment: Experiment) -> Result<Experiment> {
        let event = Event::new("experiment.create", "experiment", &experiment.id)
            .detail("name", &experiment.name)
            .detail("project_id", &experiment.project_id)
            .change("experiment", &experiment);
        with_event(event, self.inner.create_experiment(experiment)).await
    }
    async fn get_experiment(&self, id: &str) -> Result<Experiment> {
        self.inner.get_experiment(id).await
    }
    async fn list_experiments(
        &self,
        filter: ExperimentFilter,
        page: PageRequest,
    ) -> Result<Page<Experiment>> {
        self.inner.list_experiments(filter, page).await
    }
    async fn update_experiment(
        &self,
        id: &str,
        mutation: Mutation<Experiment>,
    ) -> Result<Experiment> {
        let mut event = Event::new("experiment.update", "experiment", id);
        let mutation = event.observe(mutation);
        with_event(event, self.inner.update_experiment(id, mutation)).await
    }
    async fn delete_experiment(&self, id: &str) -> Result<Vec<String>> {
        let event = Event::new("experiment.delete", "experiment", id);
        with_event(event, self.inner.delete_experiment(id)).await
    }
    async fn set_experiment_deleted(&self, id: &str, deleted: bool) -> Result<Experiment> {
        let event = Event::new(
            trash_action(Trashable::Experiments, deleted),
            "experiment",
            id,
        )
        .change("deleted", deleted);
        with_event(event, self.inner.set_experiment_deleted(id, deleted)).await
    }
    async fn search_experiments(&self, search: Search) -> Result<Vec<Experiment>> {
        self.inner.search_experiments(search).await
    }
    async fn find_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        self.inner.find_experiment_by_name(name).await
    }
    async fn count_runs(&self, experiment_ids: &[String]) -> Result<Vec<i64>> {
        self.inner.count_runs(experiment_ids).await
    }
    async fn latest_metrics(
        &self,
        experiment_ids: &[String],
        keys: Option<&[String]>,
    ) -> Result<Vec<LatestMetric>> {
        self.inner.latest_metrics(experiment_ids, keys).await
    }

    // ---- runs
    async fn create_run(&self, run: Run, params: Vec<(String, ParamValue)>) -> Result<Run> {
        with_event(
            create_run_event(&run, &params),
            self.inner.create_run(run, params),
        )
        .await
    }
    async fn get_run(&self, id: &str) -> Result<Run> {
        self.inner.get_run(id).await
    }
    async fn get_runs(&self, ids: Vec<String>) -> Result<Vec<Run>> {
        self.inner.get_runs(ids).await
    }
    async fn list_runs(&self, filter: RunFilter, page: PageRequest) -> Result<Page<Run>> {
        self.inner.list_runs(filter, page).await
    }
    async fn update_run(
        &self,
        id: &str,
        mutation: Mutation<Run>,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
    ) -> Result<Run> {
        let mut event = update_run_event(id, &params, &tags);
        let mutation = event.observe(mutation);
        with_event(event, self.inner.update_run(id, mutation, params, tags)).await
    }
    async fn delete_run(&self, id: &str) -> Result<()> {
        let event = Event::new("run.delete", "run", id);
        with_event(event, self.inner.delete_run(id)).await
    }
    async fn search_runs(&self, search: Search) -> Result<Vec<Run>> {
        self.inner.search_runs(search).await
    }
    async fn log_inputs(&self, run_id: &str, inputs: Vec<DatasetInput>) -> Result<()> {
        let event = Event::new("run.log_inputs", "run", run_id)
            .detail("datasets", inputs.len())
            .detail(
                "names",
                listed(inputs.iter().map(|i| i.dataset.name.as_str())),
            )
            .change("inputs", &inputs);
        with_event(event, self.inner.log_inputs(run_id, inputs)).await
    }

    async fn log_run_models(&self, run_id: &str, models: Vec<RunModel>) -> Result<()> {
        let event = Event::new("run.log_models", "run", run_id)
            .detail("models", models.len())
            .detail("ids", listed(models.iter().map(|m| m.model_id.as_str())))
            .change("models", &models);
        with_event(event, self.inner.log_run_models(run_id, models)).await
    }

    // ---- logged models
    async fn create_logged_model(&self, model: LoggedModel) -> Result<LoggedModel> {
        let event = Event::new("logged_model.create", "logged_model", &model.id)
            .detail("name", &model.name)
            .detail("experiment_id", &model.experiment_id)
            .change("model", &model);
        with_event(event, self.inner.create_logged_model(model)).await
    }
    async fn get_logged_model(&self, id: &str) -> Result<LoggedModel> {
        self.inner.get_logged_model(id).await
    }
    async fn update_logged_model(
        &self,
        id: &str,
        mutation: Mutation<LoggedModel>,
    ) -> Result<LoggedModel> {
        let mut event = Event::new("logged_model.update", "logged_model", id);
        let mutation = event.observe(mutation);
        with_event(event, self.inner.update_logged_model(id, mutation)).await
    }
    async fn delete_logged_model(&self, id: &str) -> Result<()> {
        let event = Event::new("logged_model.delete", "logged_model", id);
        with_event(event, self.inner.delete_logged_model(id)).await
    }
    async fn search_logged_models(
        &self,
        experiment_ids: &[String],
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LoggedModel>> {
        self.inner
            .search_logged_models(experiment_ids, offset, limit)
            .await
    }

    // ---- metrics
    async fn log_batch(
        &self,
        run_id: &str,
        params: Vec<(String, ParamValue)>,
        tags: TagPatch,
        rename: Option<String>,
        points: Vec<SeriesPoints>,
        contexts: Vec<PointContext>,
    ) -> Result<(usize, usize)> {
        let event = log_batch_event(run_id, &params, &tags, rename.as_ref(), &points, &contexts);
        let write = self
            .inner
            .log_batch(run_id, params, tags, rename, points, contexts);
        with_event(event, write).await
    }
    async fn metric_summaries(&self, run_id: &str) -> Result<Vec<MetricSummary>> {
        self.inner.metric_summaries(run_id).await
    }
    async fn metric_series(
        &self,
        run_id: &str,
        key: &str,
        request: SeriesRequest,
    ) -> Result<MetricSeries> {
        self.inner.metric_series(run_id, key, request).await
    }
    async fn metric_contexts(
        &self,
        run_ids: Vec<String>,
        key: String,
    ) -> Result<Vec<PointContext>> {
        self.inner.metric_contexts(run_ids, key).await
    }

    // ---- run logs
    async fn append_logs(
        &self,
        run_id: &str,
        chunk: crate::store::logs::NewLogChunk,
    ) -> Result<crate::store::logs::LogAppend> {
        let event = Event::new("run.log_lines", "run", run_id)
            .detail("lines", chunk.line_count)
            .detail("batch_id", &chunk.batch_id)
            .change("batch_id", &chunk.batch_id)
            .change("lines_sha256", hex::encode(&chunk.digest));
        with_event(event, self.inner.append_logs(run_id, chunk)).await
    }
    async fn log_chunks(
        &self,
        query: crate::store::logs::LogChunkQuery,
    ) -> Result<Vec<crate::store::logs::StoredLogChunk>> {
        self.inner.log_chunks(query).await
    }
    async fn log_line_count(&self, run_id: &str) -> Result<i64> {
        self.inner.log_line_count(run_id).await
    }

    // ---- artifacts
    async fn put_artifact(
        &self,
        run_id: &str,
        artifact: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>> {
        let event = Event::new(
            "artifact.put",
            "artifact",
            &format!("{run_id}/{}", artifact.path),
        )
        .detail("run_id", run_id)
        .detail("path", &artifact.path)
        .detail("size", artifact.size)
        .detail("sha256", &artifact.sha256)
        .change("artifact", &artifact)
        .change("object_key", &object_key);
        with_event(event, self.inner.put_artifact(run_id, artifact, object_key)).await
    }
    async fn list_artifacts(&self, run_id: &str, prefix: Option<&str>) -> Result<Vec<Artifact>> {
        self.inner.list_artifacts(run_id, prefix).await
    }
    async fn get_artifact(&self, run_id: &str, path: &str) -> Result<StoredArtifact> {
        self.inner.get_artifact(run_id, path).await
    }
    async fn delete_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<StoredArtifact>> {
        let event = Event::new("artifact.delete", "artifact", &format!("{run_id}/{path}"))
            .detail("run_id", run_id)
            .detail("path", path);
        with_event(event, self.inner.delete_artifacts(run_id, path)).await
    }
    async fn artifact_object_keys(&self, run_id: &str) -> Result<Option<Vec<String>>> {
        self.inner.artifact_object_keys(run_id).await
    }
    async fn put_file(
        &self,
        experiment_id: Option<String>,
        file: Artifact,
        object_key: String,
    ) -> Result<Option<StoredArtifact>> {
        let event = Event::new("file.put", "file", &file.path)
            .detail("experiment_id", &experiment_id)
            .detail("size", file.size)
            .detail("sha256", &file.sha256)
            .change("file", &file)
            .change("object_key", &object_key);
        with_event(event, self.inner.put_file(experiment_id, file, object_key)).await
    }
    async fn list_files(&self, prefix: Option<&str>) -> Result<Vec<StoredArtifact>> {
        self.inner.list_files(prefix).await
    }
    async fn get_file(&self, path: &str) -> Result<StoredArtifact> {
        self.inner.get_file(path).await
    }
    async fn delete_files(&self, path: &str) -> Result<Vec<StoredArtifact>> {
        let event = Event::new("file.delete", "file", path);
        with_event(event, self.inner.delete_files(path)).await
    }
    async fn file_object_keys(&self) -> Result<Vec<String>> {
        self.inner.file_object_keys().await
    }
    async fn deleted_before(&self, kind: Trashable, before: Timestamp) -> Result<Vec<String>> {
        self.inner.deleted_before(kind, before).await
    }

    // ---- audit trail
    async fn audit_records(&self, query: AuditQuery) -> Result<Page<AuditRecord>> {
        self.inner.audit_records(query).await
    }
    async fn verify_audit(&self) -> Result<VerifyReport> {
        self.inner.verify_audit().await
    }
    async fn is_healthcare(&self, of: DataOf) -> Result<bool> {
        self.inner.is_healthcare(of).await
    }
    /// The event is the caller's (`Services::audit_read`).
    async fn append_audit(&self) -> Result<()> {
        self.inner.append_audit().await
    }

    // ---- operations
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    fn pool_state(&self) -> PoolState {
        self.inner.pool_state()
    }
}
