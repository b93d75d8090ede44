//! Webhook notifications: the body and its signature, made once when the alert fires or
//! resolves and stored in the outbox with it; and the sender task that leases due rows,
//! POSTs them and records the outcome, retrying with exponential backoff.
//!
//! What a receiver gets (see docs/healthcare.md, "Alerts"):
//! - `POST <webhook_url>` with a JSON body (`delivery_id`, `event`, `alert`, `rule`, `run`);
//! - `X-ETS-Signature: sha256=<hex>`: HMAC-SHA256 of the exact body with the rule's secret
//!   (absent when the rule has none), as GitHub signs its webhooks;
//! - `X-ETS-Delivery` and `Idempotency-Key`: the delivery id, the same on every retry, so a
//!   receiver that saw it already can answer 2xx and do nothing (delivery is at least once);
//! - `X-ETS-Event`: `alert.firing` or `alert.resolved`.
//!
//! Any 2xx ends the delivery; anything else (an error status, a timeout, a refused
//! connection) is retried after `retry_base_ms × 2^(attempt−1)`, capped at
//! `max_retry_seconds`, until `max_attempts`. Redirects are not followed.

use std::sync::Arc;
use std::time::Duration;

use ets_domain::Timestamp;
use ets_domain::model::Run;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::watch;

use crate::service::Services;
use crate::store::{AlertRecord, AlertRuleRecord, DeliveryOutcome, DeliveryRecord};

/// Deliveries leased per round trip.
const CLAIM_BATCH: u32 = 16;
/// How often due retries are looked for when nothing wakes the sender.
const POLL: Duration = Duration::from_secs(1);

/// `sha256=<hex>`: HMAC-SHA256 of `body` keyed with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The outbox row notifying `event` of `alert` to the rule's webhook; `None` without one.
pub(crate) fn delivery(
    rule: &AlertRuleRecord,
    run: &Run,
    alert: &AlertRecord,
    event: &str,
    now: i64,
) -> Option<DeliveryRecord> {
    let url = rule.webhook_url.clone()?;
    let id = ets_domain::new_id();
    let payload = json!({
        "delivery_id": id,
        "event": event,
        "alert": alert,
        "rule": {
            "id": rule.id,
            "name": rule.name,
            "project_id": rule.project_id,
            "experiment_id": rule.experiment_id,
            "condition": rule.spec,
        },
        "run": {
            "id": run.id,
            "name": run.name,
            "experiment_id": run.experiment_id,
            "project_id": run.project_id,
            "status": run.status,
        },
    })
    .to_string();
    let signature = rule
        .webhook_secret
        .as_deref()
        .map(|secret| signature(secret, payload.as_bytes()));
    Some(DeliveryRecord {
        id,
        alert_id: alert.id.clone(),
        event: event.to_owned(),
        url,
        payload,
        signature,
        state: "pending".to_owned(),
        attempts: 0,
        next_attempt_at: Timestamp(now),
        lease_until: None,
        last_status: None,
        last_error: None,
        created_at: Timestamp(now),
        delivered_at: None,
    })
}

/// Delay before the retry that follows attempt `attempts` (1-based).
pub fn backoff(attempts: i64, base_ms: u64, max_seconds: u64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let delay = base_ms.saturating_mul(1u64 << exponent);
    Duration::from_millis(delay.min(max_seconds.saturating_mul(1000)))
}

pub(super) async fn run(services: Arc<Services>, mut stopped: watch::Receiver<bool>) {
    let config = services.config.alerts.clone();
    let timeout = Duration::from_secs(config.webhook_timeout_seconds.max(1));
    // Built at the first delivery: building a client loads and parses the system's root
    // certificates, which a server without webhooks should not pay at every start.
    let mut client: Option<reqwest::Client> = None;
    // A lease outlives the longest attempt, so no other instance retries one in flight.
    let lease_ms = (timeout.as_millis() as i64) + 30_000;
    loop {
        tokio::select! {
            _ = services.alerts.deliver.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        loop {
            let now = Timestamp::now().millis();
            let due = match services
                .store
                .claim_deliveries(now, now + lease_ms, CLAIM_BATCH)
                .await
            {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook outbox cannot be read; retrying");
                    break;
                }
            };
            if due.is_empty() {
                break;
            }
            let client = match &mut client {
                Some(client) => &*client,
                unbuilt @ None => match webhook_client(timeout) {
                    Ok(built) => &*unbuilt.insert(built),
                    Err(e) => {
                        tracing::error!(error = %e, "webhook client cannot be built; alerts are not delivered");
                        return;
                    }
                },
            };
            let attempts = due.iter().map(|d| attempt(client, d, &config));
            let outcomes = futures_util::future::join_all(attempts).await;
            for (delivery, outcome) in due.iter().zip(outcomes) {
                if let Err(e) = services.store.finish_delivery(&delivery.id, outcome).await {
                    // The lease runs out and the delivery is attempted again: at least once.
                    tracing::warn!(delivery = %delivery.id, error = %e, "delivery outcome not recorded");
                }
            }
        }
    }
}

fn webhook_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ETS-Webhook/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One POST of a leased delivery (`attempts` already counts it).
async fn attempt(
    client: &reqwest::Client,
    delivery: &DeliveryRecord,
    config: &crate::config::AlertsConfig,
) -> DeliveryOutcome {
    let mut request = client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-ETS-Event", &delivery.event)
        .header("X-ETS-Delivery", &delivery.id)
        .header("Idempotency-Key", &delivery.id)
        .body(delivery.payload.clone());
    if let Some(signature) = &delivery.signature {
        request = request.header("X-ETS-Signature", signature);
    }
    let (status, error) = match request.send().await {
        Ok(response) if response.status().is_success() => {
            metrics::counter!("ets_webhook_deliveries_total", "outcome" => "delivered")
                .increment(1);
            return DeliveryOutcome::Delivered {
                status: i64::from(response.status().as_u16()),
                at: Timestamp::now().millis(),
            };
        }
        Ok(response) => (
            Some(i64::from(response.status().as_u16())),
            format!("the receiver answered {}", response.status()),
        ),
        Err(e) => (None, format!("no answer: {e}")),
    };
    tracing::warn!(delivery = %delivery.id, url = %delivery.url, attempt = delivery.attempts, %error, "webhook delivery failed");
    if delivery.attempts >= i64::from(config.max_attempts) {
        metrics::counter!("ets_webhook_deliveries_total", "outcome" => "failed").increment(1);
        return DeliveryOutcome::GaveUp { status, error };
    }
    metrics::counter!("ets_webhook_deliveries_total", "outcome" => "retry").increment(1);
    let delay = backoff(
        delivery.attempts,
        config.retry_base_ms,
        config.max_retry_seconds,
    );
    DeliveryOutcome::Retry {
        status,
        error,
        next_attempt_at: Timestamp::now().millis() + delay.as_millis() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let ms = |n| backoff(n, 1000, 60).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4)], [1000, 2000, 4000, 8000]);
        assert_eq!(ms(7), 60_000);
        assert_eq!(ms(1000), 60_000);
    }
}
