//! Alert rules, alerts and their deliveries (issue 14): the use cases behind
//! `/api/v1/alerts`. Evaluation and delivery run in `crate::alerts`.

use ets_domain::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Services;
use crate::actor::Actor;
use crate::alerts::rule::{Aggregation, Comparator, RuleKind, RuleSpec};
use crate::error::{EntityKind, Error, Result};
use crate::store::{AlertQuery, AlertRecord, AlertRuleRecord, AlertState, DeliveryRecord};

/// Longest webhook URL and secret accepted.
const MAX_URL_CHARS: usize = 2048;
const MAX_SECRET_BYTES: usize = 1024;
/// Largest page of alerts.
const MAX_PAGE: u32 = 1000;

/// A new rule (`POST /api/v1/alerts/rules`): on an experiment, or with `project_id` alone on
/// every experiment of a project.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlertRule {
    pub experiment_id: Option<String>,
    pub project_id: Option<String>,
    /// Default: a description of the condition, e.g. `loss > 5`.
    pub name: Option<String>,
    /// `metric` (the default), `safety_fail`, `run_failed` or `run_stale`.
    pub kind: Option<RuleKind>,
    /// Metric rules: the metric key watched.
    pub metric: Option<String>,
    /// Metric rules: `last` (default), `min`, `max` or `mean`.
    pub aggregation: Option<Aggregation>,
    /// Metric rules: aggregate over the latest this many steps (required for `mean`; without
    /// it `min` and `max` are over the whole series).
    pub window_steps: Option<u32>,
    /// Metric rules: `>`, `>=`, `<`, `<=`, `==` or `!=`. A NaN value always breaches.
    pub condition: Option<Comparator>,
    pub threshold: Option<f64>,
    /// `run_stale` rules: minutes without any logged data while `running`.
    pub stale_minutes: Option<u32>,
    /// Where alerts are POSTed (http or https; no credentials in the URL).
    pub webhook_url: Option<String>,
    /// Signs each delivery: `X-ETS-Signature: sha256=<hex HMAC-SHA256 of the body>`. Stored to
    /// sign with; never shown again.
    pub secret: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Changes to a rule; absent fields stay. The condition is checked again as a whole.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRulePatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub aggregation: Option<Aggregation>,
    pub window_steps: Option<u32>,
    pub condition: Option<Comparator>,
    pub threshold: Option<f64>,
    pub stale_minutes: Option<u32>,
    /// An empty string removes the webhook.
    pub webhook_url: Option<String>,
    /// An empty string removes the secret.
    pub secret: Option<String>,
}

/// A rule as the API shows it (its secret never leaves the server).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertRule {
    pub id: String,
    pub project_id: String,
    pub experiment_id: Option<String>,
    pub name: String,
    #[serde(flatten)]
    pub spec: RuleSpec,
    pub webhook_url: Option<String>,
    /// Whether deliveries are signed.
    pub has_secret: bool,
    pub enabled: bool,
    pub created_by: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<AlertRuleRecord> for AlertRule {
    fn from(r: AlertRuleRecord) -> Self {
        AlertRule {
            id: r.id,
            project_id: r.project_id,
            experiment_id: r.experiment_id,
            name: r.name,
            spec: r.spec,
            webhook_url: r.webhook_url,
            has_secret: r.webhook_secret.is_some(),
            enabled: r.enabled,
            created_by: r.created_by,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

/// A list of rules.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertRuleList {
    pub items: Vec<AlertRule>,
}

/// Filters of the rule list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertRuleListParams {
    pub project_id: Option<String>,
    pub experiment_id: Option<String>,
}

/// Filters and page of `GET /api/v1/alerts` (newest first).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertListParams {
    pub project_id: Option<String>,
    pub experiment_id: Option<String>,
    pub run_id: Option<String>,
    pub rule_id: Option<String>,
    /// `firing`, `acknowledged` or `resolved`.
    pub state: Option<String>,
    /// 1–1000, default 100.
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// A page of alerts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertList {
    pub items: Vec<AlertRecord>,
    /// Pass as `page_token` for the next page; absent on the last page.
    pub next_page_token: Option<String>,
}

/// An alert's webhook deliveries, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryRecord>,
}

/// Checks a webhook URL: absolute http(s) with a host and no credentials (they would be
/// stored and shown in the rule).
fn check_webhook_url(url: &str) -> Result<()> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(Error::invalid(
            "webhook_url",
            format!("must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        Error::invalid(
            "webhook_url",
            format!("'{url}' is not a URL ({e}); give e.g. https://hooks.example.com/ets"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::invalid(
            "webhook_url",
            "must be an http or https URL with a host",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid(
            "webhook_url",
            "must not carry credentials; sign deliveries with `secret` instead",
        ));
    }
    Ok(())
}

fn check_secret(secret: &str) -> Result<()> {
    if secret.len() > MAX_SECRET_BYTES {
        return Err(Error::invalid(
            "secret",
            format!("must be at most {MAX_SECRET_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn check_spec(spec: &RuleSpec) -> Result<()> {
    spec.check()
        .map(|_| ())
        .map_err(|(field, message)| Error::invalid(field, message))
}

/// A name describing the rule, e.g. `loss > 5`, `mean(acc, 10 steps) < 0.5`, `run failed`.
fn default_name(spec: &RuleSpec) -> String {
    match spec.kind {
        RuleKind::Metric => {
            let metric = spec.metric.as_deref().unwrap_or("?");
            let value = match (spec.aggregation.unwrap_or_default(), spec.window_steps) {
                (Aggregation::Last, _) => metric.to_owned(),
                (a, Some(w)) => format!("{}({metric}, {w} steps)", aggregation_word(a)),
                (a, None) => format!("{}({metric})", aggregation_word(a)),
            };
            format!(
                "{value} {} {}",
                spec.condition.map_or("?", Comparator::as_str),
                spec.threshold.unwrap_or(f64::NAN)
            )
        }
        RuleKind::SafetyFail => "safety verdict fail".to_owned(),
        RuleKind::RunFailed => "run failed".to_owned(),
        RuleKind::RunStale => format!(
            "no data for {} minutes",
            spec.stale_minutes.unwrap_or_default()
        ),
    }
}

fn aggregation_word(a: Aggregation) -> &'static str {
    match a {
        Aggregation::Last => "last",
        Aggregation::Min => "min",
        Aggregation::Max => "max",
        Aggregation::Mean => "mean",
    }
}

/// An empty string clears an optional text field.
fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl Services {
    pub async fn create_alert_rule(&self, actor: &Actor, input: NewAlertRule) -> Result<AlertRule> {
        let project_id = match (&input.experiment_id, &input.project_id) {
            (Some(experiment), given) => {
                self.authorize(actor, EntityKind::Experiment, experiment)
                    .await?;
                let project = self.project_of(EntityKind::Experiment, experiment).await?;
                if given.as_ref().is_some_and(|p| p != &project) {
                    return Err(Error::invalid(
                        "project_id",
                        format!(
                            "experiment '{experiment}' is in project '{project}'; leave project_id out"
                        ),
                    ));
                }
                project
            }
            (None, Some(project)) => {
                self.authorize_project(actor, project).await?;
                self.store.get_project(project).await?.id
            }
            (None, None) => {
                return Err(Error::invalid(
                    "experiment_id",
                    "say what the rule watches: an experiment_id, or a project_id for all its experiments",
                ));
            }
        };
        let spec = RuleSpec {
            kind: input.kind.unwrap_or(RuleKind::Metric),
            metric: input.metric,
            aggregation: input.aggregation,
            window_steps: input.window_steps,
            condition: input.condition,
            threshold: input.threshold,
            stale_minutes: input.stale_minutes,
        };
        check_spec(&spec)?;
        if let Some(url) = &input.webhook_url {
            check_webhook_url(url)?;
        }
        if let Some(secret) = &input.secret {
            check_secret(secret)?;
            if input.webhook_url.is_none() {
                return Err(Error::invalid(
                    "secret",
                    "signs webhook deliveries; give a webhook_url too",
                ));
            }
        }
        let name = match input.name {
            Some(name) => ets_domain::validate::name("name", &name)?,
            None => default_name(&spec),
        };
        let now = Timestamp::now().millis();
        let record = AlertRuleRecord {
            id: ets_domain::new_id(),
            project_id,
            experiment_id: input.experiment_id,
            name,
            spec,
            webhook_url: input.webhook_url,
            webhook_secret: input.secret.and_then(non_empty),
            enabled: input.enabled.unwrap_or(true),
            created_by: actor.user_name().map(str::to_owned),
            created_at: now,
            updated_at: now,
        };
        let rule = self.store.create_alert_rule(record).await?;
        self.alerts.rules_changed();
        Ok(rule.into())
    }

    pub async fn get_alert_rule(&self, actor: &Actor, id: &str) -> Result<AlertRule> {
        self.authorize(actor, EntityKind::AlertRule, id).await?;
        Ok(self.store.get_alert_rule(id).await?.into())
    }

    pub async fn list_alert_rules(
        &self,
        actor: &Actor,
        params: &AlertRuleListParams,
    ) -> Result<AlertRuleList> {
        let mut projects = self.visible_projects(actor).await?;
        if let Some(project) = &params.project_id {
            self.authorize_project(actor, project).await?;
            projects = Some(vec![project.clone()]);
        }
        if let Some(experiment) = &params.experiment_id {
            self.authorize(actor, EntityKind::Experiment, experiment)
                .await?;
        }
        let items = self
            .store
            .list_alert_rules(projects)
            .await?
            .into_iter()
            .filter(|r| params.experiment_id.is_none() || r.experiment_id == params.experiment_id)
            .map(AlertRule::from)
            .collect();
        Ok(AlertRuleList { items })
    }

    pub async fn update_alert_rule(
        &self,
        actor: &Actor,
        id: &str,
        patch: AlertRulePatch,
    ) -> Result<AlertRule> {
        self.authorize(actor, EntityKind::AlertRule, id).await?;
        let name = patch
            .name
            .as_deref()
            .map(|n| ets_domain::validate::name("name", n))
            .transpose()?;
        if let Some(url) = patch.webhook_url.as_deref().filter(|u| !u.is_empty()) {
            check_webhook_url(url)?;
        }
        if let Some(secret) = &patch.secret {
            check_secret(secret)?;
        }
        let rule = self
            .store
            .update_alert_rule(
                id,
                Box::new(move |rule| {
                    let spec = &mut rule.spec;
                    spec.aggregation = patch.aggregation.or(spec.aggregation);
                    spec.window_steps = patch.window_steps.or(spec.window_steps);
                    spec.condition = patch.condition.or(spec.condition);
                    spec.threshold = patch.threshold.or(spec.threshold);
                    spec.stale_minutes = patch.stale_minutes.or(spec.stale_minutes);
                    check_spec(spec)?;
                    if let Some(name) = name {
                        rule.name = name;
                    }
                    if let Some(enabled) = patch.enabled {
                        rule.enabled = enabled;
                    }
                    if let Some(url) = patch.webhook_url {
                        rule.webhook_url = non_empty(url);
                    }
                    if let Some(secret) = patch.secret {
                        rule.webhook_secret = non_empty(secret);
                    }
                    rule.updated_at = Timestamp::now().millis();
                    Ok(())
                }),
            )
            .await?;
        self.alerts.rules_changed();
        Ok(rule.into())
    }

    /// Deletes a rule with its alerts and their pending deliveries.
    pub async fn delete_alert_rule(&self, actor: &Actor, id: &str) -> Result<()> {
        self.authorize(actor, EntityKind::AlertRule, id).await?;
        self.store.delete_alert_rule(id).await?;
        self.alerts.rules_changed();
        Ok(())
    }

    pub async fn list_alerts(&self, actor: &Actor, params: &AlertListParams) -> Result<AlertList> {
        let limit = params.page_size.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "page_size",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let state = params
            .state
            .as_deref()
            .map(|s| {
                AlertState::parse(s).ok_or_else(|| {
                    Error::invalid(
                        "state",
                        format!("'{s}' is not a state; use firing, acknowledged or resolved"),
                    )
                })
            })
            .transpose()?;
        let mut project_ids = self.visible_projects(actor).await?;
        if let Some(project) = &params.project_id {
            self.authorize_project(actor, project).await?;
            project_ids = Some(vec![project.clone()]);
        }
        for (entity, id) in [
            (EntityKind::Experiment, &params.experiment_id),
            (EntityKind::Run, &params.run_id),
            (EntityKind::AlertRule, &params.rule_id),
        ] {
            if let Some(id) = id {
                self.authorize(actor, entity, id).await?;
            }
        }
        let before = params
            .page_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|token| {
                token
                    .split_once(':')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                    .ok_or_else(|| {
                        Error::invalid(
                            "page_token",
                            "is malformed; pass the next_page_token of the previous page",
                        )
                    })
            })
            .transpose()?;
        let mut items = self
            .store
            .list_alerts(AlertQuery {
                project_ids,
                experiment_id: params.experiment_id.clone(),
                run_id: params.run_id.clone(),
                rule_id: params.rule_id.clone(),
                state,
                before,
                limit: limit + 1,
            })
            .await?;
        let next_page_token = (items.len() > limit as usize).then(|| {
            items.truncate(limit as usize);
            let last = &items[items.len() - 1];
            format!("{}:{}", last.fired_at.millis(), last.id)
        });
        Ok(AlertList {
            items,
            next_page_token,
        })
    }

    pub async fn get_alert(&self, actor: &Actor, id: &str) -> Result<AlertRecord> {
        self.authorize(actor, EntityKind::Alert, id).await?;
        self.store.get_alert(id).await
    }

    /// Acknowledges an open alert: it stays open (no new alert of its rule on the run) until
    /// its condition clears, and is shown as taken care of. Again is harmless; a resolved
    /// alert is a conflict.
    pub async fn acknowledge_alert(&self, actor: &Actor, id: &str) -> Result<AlertRecord> {
        self.authorize(actor, EntityKind::Alert, id).await?;
        let by = actor.audit_name().to_owned();
        let at = Timestamp::now().millis();
        let alert = self.store.acknowledge_alert(id, &by, at).await?;
        // Streamed when this call acknowledged it, not when it already was.
        if alert.acknowledged_at == Some(Timestamp(at)) {
            self.live.alert(&alert);
        }
        Ok(alert)
    }

    pub async fn alert_deliveries(&self, actor: &Actor, id: &str) -> Result<DeliveryList> {
        self.authorize(actor, EntityKind::Alert, id).await?;
        Ok(DeliveryList {
            items: self.store.alert_deliveries(id).await?,
        })
    }
}
