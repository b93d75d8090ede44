//! The evaluator task: judges the rules of runs written through this instance (after commit)
//! and, every `alerts.sweep_seconds`, of the running runs and runs active since the previous
//! sweep in every watched experiment and project; fires and resolves alerts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ets_domain::Timestamp;
use ets_domain::model::{Experiment, Run};
use ets_stats::proportion::Method;
use tokio::sync::watch;

use super::rule::{Observed, RunState};
use super::{ActiveRule, webhook};
use crate::error::Result;
use crate::service::{Services, safety};
use crate::store::{AlertRecord, AlertState, SeriesRequest};

/// Runs judged per store round trip of open alerts.
const BATCH: usize = 200;
/// Most runs one sweep looks at.
const SWEEP_LIMIT: u32 = 10_000;
/// On start, runs active this recently are swept (what a restart may have missed).
const STARTUP_LOOKBACK_MS: i64 = 3_600_000;
/// Confidence of the safety verdict a `safety_fail` rule watches (the endpoint's default).
const SAFETY_CONFIDENCE: f64 = 0.95;
/// Least time between two evaluation passes: a run written a thousand times a second is judged
/// at most this often, so the evaluator's cost follows the number of active runs, not the
/// ingest rate (measured in docs/benchmarks.md, "Issue 14").
const MIN_PASS_INTERVAL: Duration = Duration::from_millis(500);

pub(super) async fn run(services: Arc<Services>, mut stopped: watch::Receiver<bool>) {
    let engine = &services.alerts;
    let sweep_every = Duration::from_secs(services.config.alerts.sweep_seconds.max(1));
    let mut next_sweep = tokio::time::Instant::now();
    let mut swept_since = Timestamp::now().millis() - STARTUP_LOOKBACK_MS;
    let mut last_pass = tokio::time::Instant::now() - MIN_PASS_INTERVAL;
    loop {
        tokio::select! {
            _ = engine.evaluate.notified() => {}
            _ = tokio::time::sleep_until(next_sweep) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        // Writes arriving meanwhile join this pass.
        tokio::select! {
            _ = tokio::time::sleep_until(last_pass + MIN_PASS_INTERVAL) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        last_pass = tokio::time::Instant::now();
        let mut runs = engine.take_dirty();
        let result = async {
            let rules = engine.rules(&services).await?;
            if rules.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= next_sweep {
                next_sweep = tokio::time::Instant::now() + sweep_every;
                let started = Timestamp::now().millis();
                runs.extend(sweep_candidates(&services, &rules, swept_since).await?);
                swept_since = started;
                runs.sort_unstable();
                runs.dedup();
            }
            for batch in runs.chunks(BATCH) {
                evaluate_runs(&services, &rules, batch).await?;
            }
            Ok::<(), crate::error::Error>(())
        }
        .await;
        if tokio::time::Instant::now() >= next_sweep {
            next_sweep = tokio::time::Instant::now() + sweep_every;
        }
        if let Err(e) = result {
            metrics::counter!("ets_alert_evaluation_errors_total").increment(1);
            tracing::warn!(error = %e, "alert evaluation failed; retrying at the next sweep");
        }
    }
}

/// Runs the sweep judges: running, or active since `since`, in a watched scope.
async fn sweep_candidates(
    services: &Services,
    rules: &[ActiveRule],
    since: i64,
) -> Result<Vec<String>> {
    let mut experiments: Vec<String> = Vec::new();
    let mut projects: Vec<String> = Vec::new();
    for rule in rules {
        match &rule.record.experiment_id {
            Some(experiment) => experiments.push(experiment.clone()),
            None => projects.push(rule.record.project_id.clone()),
        }
    }
    for list in [&mut experiments, &mut projects] {
        list.sort_unstable();
        list.dedup();
    }
    services
        .store
        .alert_sweep_runs(since, experiments, projects, SWEEP_LIMIT)
        .await
}

/// Judges every applicable rule on each run and fires or resolves alerts.
async fn evaluate_runs(
    services: &Services,
    rules: &[ActiveRule],
    run_ids: &[String],
) -> Result<()> {
    // Skip runs of projects no rule watches without reading them (their project is cached).
    let mut watched = Vec::with_capacity(run_ids.len());
    for id in run_ids {
        let project = match services.project_of(crate::error::EntityKind::Run, id).await {
            Ok(project) => project,
            Err(crate::error::Error::NotFound { .. }) => continue, // deleted since
            Err(e) => return Err(e),
        };
        if rules.iter().any(|r| r.record.project_id == project) {
            watched.push(id.clone());
        }
    }
    if watched.is_empty() {
        return Ok(());
    }
    // One read for the batch (a run deleted since is simply absent).
    let runs: Vec<Run> = services.store.get_runs(watched).await?;
    if runs.is_empty() {
        return Ok(());
    }
    let open = services
        .store
        .open_alerts(runs.iter().map(|r| r.id.clone()).collect())
        .await?;
    let mut experiments: HashMap<String, Experiment> = HashMap::new();
    let now = Timestamp::now().millis();
    for run in &runs {
        for rule in rules
            .iter()
            .filter(|r| r.applies(&run.experiment_id, &run.project_id))
        {
            let observed = observe(services, rule, run, &mut experiments, now).await?;
            let current = open
                .iter()
                .find(|a| a.rule_id == rule.record.id && a.run_id == run.id);
            match (observed, current) {
                (Observed::Breach { value, message }, None) => {
                    fire(services, rule, run, value, message, now).await?;
                }
                (Observed::Clear, Some(alert)) => resolve(services, rule, run, alert, now).await?,
                _ => {}
            }
        }
    }
    Ok(())
}

async fn observe(
    services: &Services,
    rule: &ActiveRule,
    run: &Run,
    experiments: &mut HashMap<String, Experiment>,
    now: i64,
) -> Result<Observed> {
    let state = RunState {
        status: run.status,
        updated_at: run.updated_at.millis(),
        metrics: &run.metrics,
    };
    let window = match rule.check.window(&state) {
        Some((key, first_step)) => Some(
            services
                .store
                .metric_series(
                    &run.id,
                    key,
                    SeriesRequest {
                        start_step: Some(first_step),
                        end_step: None,
                        max_points: None,
                    },
                )
                .await?
                .points,
        ),
        None => None,
    };
    let healthcare = if matches!(rule.check, super::rule::Check::SafetyFail) {
        if !experiments.contains_key(&run.experiment_id) {
            let experiment = services.store.get_experiment(&run.experiment_id).await?;
            experiments.insert(run.experiment_id.clone(), experiment);
        }
        experiments[&run.experiment_id].healthcare.clone()
    } else {
        None
    };
    let safety = || {
        if !run
            .metrics
            .iter()
            .any(|m| m.key.starts_with(safety::EVAL_PREFIX))
        {
            return None;
        }
        match safety::judge_run(
            healthcare.as_ref(),
            &run.metrics,
            SAFETY_CONFIDENCE,
            Method::Wilson,
        ) {
            Ok(report) => Some(report.failure()),
            Err(_) => None, // malformed counts: the safety endpoint says what is wrong
        }
    };
    Ok(rule.check.observe(&state, window.as_deref(), safety, now))
}

async fn fire(
    services: &Services,
    rule: &ActiveRule,
    run: &Run,
    value: Option<f64>,
    message: String,
    now: i64,
) -> Result<()> {
    let alert = AlertRecord {
        id: ets_domain::new_id(),
        rule_id: rule.record.id.clone(),
        project_id: run.project_id.clone(),
        experiment_id: run.experiment_id.clone(),
        run_id: run.id.clone(),
        state: AlertState::Firing,
        value,
        message,
        fired_at: Timestamp(now),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
    };
    let delivery = webhook::delivery(&rule.record, run, &alert, "alert.firing", now);
    let queued = delivery.is_some();
    if services.store.fire_alert(alert.clone(), delivery).await? {
        metrics::counter!("ets_alerts_fired_total").increment(1);
        tracing::info!(alert = %alert.id, rule = %rule.record.id, run = %run.id, message = %alert.message, "alert firing");
        services.live.alert(&alert);
        if queued {
            services.alerts.wake_delivery();
        }
    }
    Ok(())
}

async fn resolve(
    services: &Services,
    rule: &ActiveRule,
    run: &Run,
    open: &AlertRecord,
    now: i64,
) -> Result<()> {
    let mut alert = open.clone();
    alert.state = AlertState::Resolved;
    alert.resolved_at = Some(Timestamp(now));
    let delivery = webhook::delivery(&rule.record, run, &alert, "alert.resolved", now);
    let queued = delivery.is_some();
    if services
        .store
        .resolve_alert(&alert.id, now, delivery)
        .await?
    {
        tracing::info!(alert = %alert.id, rule = %rule.record.id, run = %run.id, "alert resolved");
        services.live.alert(&alert);
        if queued {
            services.alerts.wake_delivery();
        }
    }
    Ok(())
}
