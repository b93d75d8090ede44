//! Alerts (issue 14): rules evaluated after commit, off the ingest path, and on a timer;
//! alerts persisted and streamed; webhooks delivered from a durable outbox.
//!
//! ```text
//! request path ──(after commit: touched(run), an atomic load when no rule exists)──▶ dirty set
//! evaluator task ◀── dirty set | sweep timer (running runs, runs active since the last sweep)
//!     reads run + rules ──▶ fire / resolve (one transaction: alert row + outbox row)
//!                       ──▶ SSE `alert` event, audit record (`alert.fire`, `alert.resolve`)
//! delivery task ◀── wake-up after a fire | 1 s poll: lease due outbox rows, POST, record outcome
//! ```
//!
//! Every instance runs both tasks. An instance evaluates the runs written through it, and
//! each sweeps; two instances judging the same run cannot both fire, because the database
//! allows one open alert per (rule, run). Deliveries are leased (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), so each attempt is made by one instance; a crash mid-attempt only delays the
//! retry until the lease ends. Receivers deduplicate on the delivery id (at least once).

mod evaluate;
pub mod rule;
pub mod webhook;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::service::Services;
use crate::store::AlertRuleRecord;
use rule::Check;

/// How long a loaded rule set is trusted before it is read again (rules changed on another
/// instance take effect within this time; on this instance at once).
const RULES_TTL: Duration = Duration::from_secs(5);

/// An enabled rule, checked.
#[derive(Debug, Clone)]
pub struct ActiveRule {
    pub record: AlertRuleRecord,
    pub check: Check,
}

impl ActiveRule {
    /// Whether the rule watches runs of this experiment and project.
    pub fn applies(&self, experiment_id: &str, project_id: &str) -> bool {
        match &self.record.experiment_id {
            Some(experiment) => experiment == experiment_id,
            None => self.record.project_id == project_id,
        }
    }
}

struct RuleSet {
    rules: Arc<Vec<ActiveRule>>,
    loaded: Option<Instant>,
}

/// The per-instance alert state the service layer talks to.
pub struct AlertEngine {
    /// Runs written since the evaluator last looked.
    dirty: Mutex<HashSet<String>>,
    evaluate: Notify,
    deliver: Notify,
    /// Whether any enabled rule exists: when not, the request path does nothing at all.
    armed: AtomicBool,
    rules: Mutex<RuleSet>,
    started: AtomicBool,
}

impl Default for AlertEngine {
    fn default() -> Self {
        AlertEngine {
            dirty: Mutex::new(HashSet::new()),
            evaluate: Notify::new(),
            deliver: Notify::new(),
            armed: AtomicBool::new(false),
            rules: Mutex::new(RuleSet {
                rules: Arc::new(Vec::new()),
                loaded: None,
            }),
            started: AtomicBool::new(false),
        }
    }
}

impl AlertEngine {
    /// A run's data or status changed (called after commit): evaluate its rules soon.
    pub fn touched(&self, run_id: &str) {
        if !self.armed.load(Ordering::Relaxed) {
            return;
        }
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        if !dirty.contains(run_id) {
            dirty.insert(run_id.to_owned());
            if dirty.len() == 1 {
                self.evaluate.notify_one();
            }
        }
    }

    /// Rules changed on this instance: reload them before the next evaluation.
    pub fn rules_changed(&self) {
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).loaded = None;
        // Arm at once, so points logged right after a rule is created are evaluated.
        self.armed.store(true, Ordering::Relaxed);
    }

    /// A delivery was queued: send it now rather than at the next poll.
    pub(crate) fn wake_delivery(&self) {
        self.deliver.notify_one();
    }

    fn take_dirty(&self) -> Vec<String> {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        dirty.drain().collect()
    }

    /// The enabled rules, read again when older than [`RULES_TTL`] or changed here.
    async fn rules(&self, services: &Services) -> crate::error::Result<Arc<Vec<ActiveRule>>> {
        {
            let set = self.rules.lock().unwrap_or_else(|p| p.into_inner());
            if set.loaded.is_some_and(|at| at.elapsed() < RULES_TTL) {
                return Ok(set.rules.clone());
            }
        }
        let records = services.store.list_alert_rules(None).await?;
        let rules: Vec<ActiveRule> = records
            .into_iter()
            .filter(|r| r.enabled)
            .filter_map(|record| match record.spec.check() {
                Ok(check) => Some(ActiveRule { record, check }),
                Err((field, message)) => {
                    tracing::warn!(rule = %record.id, field, message, "alert rule skipped");
                    None
                }
            })
            .collect();
        self.armed.store(!rules.is_empty(), Ordering::Relaxed);
        let rules = Arc::new(rules);
        let mut set = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        set.rules = rules.clone();
        set.loaded = Some(Instant::now());
        Ok(rules)
    }

    /// Starts the evaluator and the webhook sender of this instance; both stop when
    /// `stopped` turns true.
    pub fn start(services: &Arc<Services>, stopped: watch::Receiver<bool>) {
        let engine = &services.alerts;
        if !services.config.alerts.enabled || engine.started.swap(true, Ordering::SeqCst) {
            return;
        }
        tokio::spawn(evaluate::run(services.clone(), stopped.clone()));
        tokio::spawn(webhook::run(services.clone(), stopped));
    }
}
