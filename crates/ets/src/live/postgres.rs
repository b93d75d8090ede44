//! Live events across instances through PostgreSQL `LISTEN`/`NOTIFY`.
//!
//! The publisher sends queued events with `pg_notify` (many per round trip, in one prepared
//! statement, so they stay in order) on its own connection, at most one round trip per
//! [`NOTIFY_INTERVAL`]: each is a transaction PostgreSQL commits to disk (NOTIFY takes a
//! transaction id), which one notification per logged point made a large share of a
//! single-point write's cost. Every instance `LISTEN`s on a dedicated
//! connection and delivers what arrives to its local subscribers, so all instances see the same
//! events in the same order (PostgreSQL delivers notifications in commit order). When the
//! `LISTEN` connection drops, it reconnects with backoff and sends subscribers a `reset`.
//!
//! The channel is `ets_events` in the `public` schema, `ets_events_<hash>` in any other (one
//! channel per ETS installation sharing a database; notifications are database-wide).

use std::time::Duration;

use futures_util::StreamExt;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use super::{Bus, EventData, LiveEvent, Pending, Publisher};
use crate::database_url::PgOptions;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Least time between two `pg_notify` round trips; events queued meanwhile go out together.
/// The first event after a quiet spell goes at once, and none waits longer than this.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(5);
/// Sends a batch of payloads to the channel, in order.
const NOTIFY: &str = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload";

/// The notification channel of the schema the URL selects.
pub fn channel_for(schema: &str) -> String {
    if schema == "public" {
        return "ets_events".to_owned();
    }
    // FNV-1a: stable across builds and instances.
    let hash = schema.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("ets_events_{hash:016x}")
}

async fn current_channel(client: &tokio_postgres::Client) -> Result<String, tokio_postgres::Error> {
    let row = client.query_one("SELECT current_schema()", &[]).await?;
    Ok(channel_for(
        row.get::<_, Option<String>>(0)
            .as_deref()
            .unwrap_or("public"),
    ))
}

/// A connection that `LISTEN`s: its client (kept alive) and the payloads that arrive; the
/// receiver ends when the connection does.
async fn listen(
    url: &PgOptions,
) -> Result<(tokio_postgres::Client, mpsc::UnboundedReceiver<String>), String> {
    let connector = crate::store::postgres::Connector::new(url).map_err(|e| e.to_string())?;
    let (client, mut connection) = connector.connect_raw().await.map_err(|e| e.to_string())?;
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if sender.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "live: the LISTEN connection failed");
                    return;
                }
            }
        }
    });
    let channel = current_channel(&client).await.map_err(|e| e.to_string())?;
    client
        .batch_execute(&format!("LISTEN \"{channel}\""))
        .await
        .map_err(|e| e.to_string())?;
    Ok((client, receiver))
}

/// Starts listening (waiting for the first `LISTEN` to be in place, so events committed after
/// start-up reach this instance) and publishing.
pub(crate) async fn start(
    bus: Arc<Bus>,
    publisher: Publisher,
    queue: mpsc::Receiver<Pending>,
    url: PgOptions,
) {
    let first = match listen(&url).await {
        Ok(listening) => Some(listening),
        Err(e) => {
            tracing::warn!(error = %e, "live: cannot LISTEN yet; retrying in the background");
            None
        }
    };
    tokio::spawn(listen_loop(bus.clone(), url.clone(), first));
    tokio::spawn(publish_loop(publisher, queue, url));
}

async fn listen_loop(
    bus: Arc<Bus>,
    url: PgOptions,
    mut current: Option<(tokio_postgres::Client, mpsc::UnboundedReceiver<String>)>,
) {
    let mut stopped = bus.shutdown_signal();
    let mut backoff = MIN_BACKOFF;
    loop {
        if let Some((_client, mut payloads)) = current.take() {
            backoff = MIN_BACKOFF;
            loop {
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return,
                    payload = payloads.recv() => match payload {
                        Some(payload) => deliver(&bus, payload),
                        None => break,
                    },
                }
            }
            tracing::warn!("live: lost the LISTEN connection; reconnecting");
        }
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        match listen(&url).await {
            Ok(listening) => {
                tracing::info!("live: listening again");
                // Events published while disconnected never reached this instance.
                bus.reset(
                    "this ETS instance reconnected to the database; events may have been missed",
                    true,
                );
                current = Some(listening);
            }
            Err(e) => {
                tracing::warn!(error = %e, "live: cannot LISTEN");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn deliver(bus: &Bus, payload: String) {
    match serde_json::from_str::<EventData>(&payload) {
        Ok(data) => bus.deliver(LiveEvent::new(data, payload)),
        Err(e) => tracing::warn!(error = %e, "live: ignoring a malformed notification"),
    }
}

/// The publisher's connection: its client, the channel and the prepared [`NOTIFY`].
type Notifier = (tokio_postgres::Client, String, tokio_postgres::Statement);

async fn connect_notifier(url: &PgOptions) -> Option<Notifier> {
    let client = match crate::store::postgres::connect(url).await {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "live: cannot connect to publish");
            return None;
        }
    };
    let prepared = async {
        let channel = current_channel(&client).await?;
        let notify = client.prepare(NOTIFY).await?;
        Ok::<_, tokio_postgres::Error>((channel, notify))
    };
    match prepared.await {
        Ok((channel, notify)) => Some((client, channel, notify)),
        Err(e) => {
            tracing::warn!(error = %e, "live: cannot prepare to publish");
            None
        }
    }
}

async fn publish_loop(
    mut publisher: Publisher,
    mut queue: mpsc::Receiver<Pending>,
    url: PgOptions,
) {
    let mut connection: Option<Notifier> = None;
    let mut backoff = MIN_BACKOFF;
    let mut lost = 0usize;
    let mut last_sent: Option<tokio::time::Instant> = None;
    while let Some(mut batch) = publisher.next_batch(&mut queue).await {
        if let Some(sent_at) = last_sent {
            let next = sent_at + NOTIFY_INTERVAL;
            if tokio::time::Instant::now() < next {
                tokio::time::sleep_until(next).await;
                Publisher::top_up(&mut queue, &mut batch);
            }
        }
        let mut payloads: Vec<String> = publisher
            .encode(batch)
            .await
            .into_iter()
            .map(|(_, json)| json)
            .collect();
        if lost > 0 {
            payloads.push(
                serde_json::to_string(&EventData {
                    id: ets_domain::new_id(),
                    body: super::EventBody::Reset {
                        reason: format!(
                            "{lost} events could not be published (the database was unreachable)"
                        ),
                    },
                })
                .unwrap_or_default(),
            );
        }
        // One retry on a fresh connection; after that the batch is lost and a reset follows.
        let mut sent = false;
        for _ in 0..2 {
            if connection.as_ref().is_none_or(|(c, _, _)| c.is_closed()) {
                connection = connect_notifier(&url).await;
            }
            if let Some((client, channel, notify)) = &connection {
                match client.execute(notify, &[channel, &payloads]).await {
                    Ok(_) => {
                        sent = true;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "live: pg_notify failed");
                        connection = None;
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        last_sent = Some(tokio::time::Instant::now());
        if sent {
            lost = 0;
            backoff = MIN_BACKOFF;
        } else {
            lost += payloads.len();
            metrics::counter!("ets_live_events_dropped_total").increment(payloads.len() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn channels_are_per_schema() {
        assert_eq!(super::channel_for("public"), "ets_events");
        let a = super::channel_for("tenant_a");
        assert_ne!(a, super::channel_for("tenant_b"));
        assert!(a.len() < 63 && a.starts_with("ets_events_"));
    }
}
