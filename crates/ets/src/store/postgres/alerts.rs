//! Alert rules, alerts and the webhook outbox in PostgreSQL (SQL and rows: `store::alerts`).

use tokio_postgres::types::{Json, ToSql};

use super::{PgStore, Tx};
use crate::error::{EntityKind, Error, Result};
use crate::store::Mutation;
use crate::store::alerts::{
    self as q, AlertQuery, AlertRecord, AlertRuleRecord, DeliveryOutcome, DeliveryRecord,
};

fn texts(values: &[String]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

async fn get_rule(tx: &Tx<'_>, id: &str, lock: &str) -> Result<AlertRuleRecord> {
    let statement = tx
        .prepare_cached(&format!("{} {lock}", q::select_rule()))
        .await?;
    let row = tx
        .query_opt(&statement, &[&id])
        .await?
        .ok_or_else(|| Error::not_found(EntityKind::AlertRule, id))?;
    Ok(q::rule_row(&row)?)
}

async fn get_alert(tx: &Tx<'_>, id: &str) -> Result<AlertRecord> {
    let statement = tx.prepare_cached(&q::select_alert()).await?;
    let row = tx
        .query_opt(&statement, &[&id])
        .await?
        .ok_or_else(|| Error::not_found(EntityKind::Alert, id))?;
    Ok(q::alert_row(&row)?)
}

async fn insert_delivery(tx: &Tx<'_>, delivery: &DeliveryRecord) -> Result<()> {
    let statement = tx.prepare_cached(q::INSERT_DELIVERY).await?;
    tx.execute(
        &statement,
        &[
            &delivery.id,
            &delivery.alert_id,
            &delivery.event,
            &delivery.url,
            &delivery.payload,
            &delivery.signature,
            &delivery.created_at.millis(),
        ],
    )
    .await?;
    Ok(())
}

impl PgStore {
    pub(super) async fn create_alert_rule(&self, rule: AlertRuleRecord) -> Result<AlertRuleRecord> {
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::INSERT_RULE).await?;
                tx.execute(
                    &statement,
                    &[
                        &rule.id,
                        &rule.project_id,
                        &rule.experiment_id,
                        &rule.name,
                        &Json(&rule.spec),
                        &rule.webhook_url,
                        &rule.webhook_secret,
                        &rule.enabled,
                        &rule.created_by,
                        &rule.created_at,
                        &rule.updated_at,
                    ],
                )
                .await?;
                Ok(rule)
            })
        })
        .await
    }

    pub(super) async fn get_alert_rule(&self, id: &str) -> Result<AlertRuleRecord> {
        let id = id.to_owned();
        self.read(move |tx| Box::pin(async move { get_rule(tx, &id, "").await }))
            .await
    }

    pub(super) async fn list_alert_rules(
        &self,
        projects: Option<Vec<String>>,
    ) -> Result<Vec<AlertRuleRecord>> {
        self.read(move |tx| {
            Box::pin(async move {
                let sql = q::list_rules(projects.as_ref().map(Vec::len));
                let statement = tx.prepare_cached(&sql).await?;
                let rows = tx
                    .query(&statement, &texts(projects.as_deref().unwrap_or_default()))
                    .await?;
                Ok(rows
                    .iter()
                    .map(q::rule_row)
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn update_alert_rule(
        &self,
        id: &str,
        mutation: Mutation<AlertRuleRecord>,
    ) -> Result<AlertRuleRecord> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let mut rule = get_rule(tx, &id, "FOR UPDATE").await?;
                mutation(&mut rule)?;
                let statement = tx.prepare_cached(q::UPDATE_RULE).await?;
                tx.execute(
                    &statement,
                    &[
                        &rule.id,
                        &rule.name,
                        &Json(&rule.spec),
                        &rule.webhook_url,
                        &rule.webhook_secret,
                        &rule.enabled,
                        &rule.updated_at,
                    ],
                )
                .await?;
                Ok(rule)
            })
        })
        .await
    }

    pub(super) async fn delete_alert_rule(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::DELETE_RULE).await?;
                if tx.execute(&statement, &[&id]).await? == 0 {
                    return Err(Error::not_found(EntityKind::AlertRule, &id));
                }
                Ok(())
            })
        })
        .await
    }

    pub(super) async fn fire_alert(
        &self,
        alert: AlertRecord,
        delivery: Option<DeliveryRecord>,
    ) -> Result<bool> {
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::INSERT_ALERT).await?;
                let opened = tx
                    .execute(
                        &statement,
                        &[
                            &alert.id,
                            &alert.rule_id,
                            &alert.project_id,
                            &alert.experiment_id,
                            &alert.run_id,
                            &alert.value.filter(|v| !v.is_nan()),
                            &alert.message,
                            &alert.fired_at.millis(),
                        ],
                    )
                    .await?
                    == 1;
                if opened && let Some(delivery) = &delivery {
                    insert_delivery(tx, delivery).await?;
                }
                Ok(opened)
            })
        })
        .await
    }

    pub(super) async fn resolve_alert(
        &self,
        id: &str,
        at: i64,
        delivery: Option<DeliveryRecord>,
    ) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::RESOLVE_ALERT).await?;
                let resolved = tx.execute(&statement, &[&id, &at]).await? == 1;
                if resolved && let Some(delivery) = &delivery {
                    insert_delivery(tx, delivery).await?;
                }
                Ok(resolved)
            })
        })
        .await
    }

    pub(super) async fn acknowledge_alert(
        &self,
        id: &str,
        by: &str,
        at: i64,
    ) -> Result<AlertRecord> {
        let (id, by) = (id.to_owned(), by.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::ACKNOWLEDGE_ALERT).await?;
                tx.execute(&statement, &[&id, &at, &by]).await?;
                let alert = get_alert(tx, &id).await?;
                crate::store::rules::check_acknowledged(&alert)?;
                Ok(alert)
            })
        })
        .await
    }

    pub(super) async fn get_alert(&self, id: &str) -> Result<AlertRecord> {
        let id = id.to_owned();
        self.read(move |tx| Box::pin(async move { get_alert(tx, &id).await }))
            .await
    }

    pub(super) async fn list_alerts(&self, query: AlertQuery) -> Result<Vec<AlertRecord>> {
        self.read(move |tx| {
            Box::pin(async move {
                let (sql, values) = q::list_alerts(&query);
                let statement = tx.prepare_cached(&sql).await?;
                let rows = tx.query(&statement, &texts(&values)).await?;
                Ok(rows
                    .iter()
                    .map(q::alert_row)
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn open_alerts(&self, runs: Vec<String>) -> Result<Vec<AlertRecord>> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&q::open_alerts(runs.len())).await?;
                let rows = tx.query(&statement, &texts(&runs)).await?;
                Ok(rows
                    .iter()
                    .map(q::alert_row)
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn alert_deliveries(&self, alert_id: &str) -> Result<Vec<DeliveryRecord>> {
        let alert_id = alert_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&q::deliveries_of_alert()).await?;
                let rows = tx.query(&statement, &[&alert_id]).await?;
                Ok(rows
                    .iter()
                    .map(q::delivery_row)
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        self.write(move |tx| {
            Box::pin(async move {
                let sql = q::claim_deliveries(limit, "FOR UPDATE SKIP LOCKED");
                let statement = tx.prepare_cached(&sql).await?;
                let rows = tx.query(&statement, &[&now, &lease_until]).await?;
                Ok(rows
                    .iter()
                    .map(q::delivery_row)
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn finish_delivery(&self, id: &str, outcome: DeliveryOutcome) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let (state, status, error, next, delivered) = outcome.columns();
                let statement = tx.prepare_cached(q::FINISH_DELIVERY).await?;
                tx.execute(
                    &statement,
                    &[&id, &state, &status, &error, &next, &delivered],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub(super) async fn alert_sweep_runs(
        &self,
        since: i64,
        experiments: Vec<String>,
        projects: Vec<String>,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.read(move |tx| {
            Box::pin(async move {
                let sql = q::sweep_runs(since, experiments.len(), projects.len(), limit);
                let statement = tx.prepare_cached(&sql).await?;
                let values: Vec<String> = experiments.into_iter().chain(projects).collect();
                let rows = tx.query(&statement, &texts(&values)).await?;
                Ok(rows
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }
}
