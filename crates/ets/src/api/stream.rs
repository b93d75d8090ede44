//! Live updates as Server-Sent Events: `GET /api/v1/runs/{id}/stream` and
//! `GET /api/v1/experiments/{id}/stream`. The bus behind them is [`crate::live`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::extract::{Path, Query};
use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::live::{EventKind, LiveEvent, Replay};

/// Query of the stream endpoints.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume after this event, as the `Last-Event-ID` header does (the header wins); for
    /// clients that cannot set headers on the first request.
    pub last_event_id: Option<String>,
}

/// Which events a stream shows.
enum Filter {
    Run(String),
    Experiment(String),
}

impl Filter {
    /// The SSE frame of `event` for this stream, if it belongs to it.
    fn frame(&self, event: &LiveEvent) -> Option<Event> {
        let data = match (self, event.kind) {
            (_, EventKind::Reset) => &event.json,
            // Read by the log streams only (`api::logs`).
            (_, EventKind::Logs) => return None,
            (Filter::Run(id), EventKind::Metrics | EventKind::RunStatus | EventKind::Alert)
                if event.run_id.as_deref() == Some(id.as_str()) =>
            {
                &event.json
            }
            (Filter::Experiment(id), _) if event.experiment_id.as_deref() == Some(id.as_str()) => {
                event.summary()
            }
            _ => return None,
        };
        Some(
            Event::default()
                .id(&event.id)
                .event(event.kind.as_str())
                .data(data),
        )
    }
}

/// A slot for one more event stream on this instance, or 429 at `live.max_connections`.
pub(super) fn connection_permit(
    live: &crate::live::Bus,
) -> Result<tokio::sync::OwnedSemaphorePermit> {
    live.connection_permit().ok_or_else(|| Error::Busy {
        message: "too many open event streams on this instance".into(),
        setting: "live.max_connections",
        limit: u64::from(live.config().max_connections),
    })
}

pub(super) fn reset_frame(id: Option<&str>, reason: &str) -> Event {
    let data = serde_json::json!({ "id": id, "type": "reset", "reason": reason });
    let event = Event::default().event("reset").data(data.to_string());
    match id {
        Some(id) => event.id(id),
        None => event,
    }
}

pub(super) type Frames = Sse<
    axum::response::sse::KeepAliveStream<
        std::pin::Pin<Box<dyn Stream<Item = std::result::Result<Event, Infallible>> + Send>>,
    >,
>;

/// Opens a stream: connection permit, subscription (before reading the state, so nothing
/// falls between the two), the `ready` state, replay, then live events with heartbeats.
async fn open_stream<F, Fut>(
    s: &AppState,
    headers: &HeaderMap,
    query: StreamQuery,
    filter: Filter,
    ready: F,
) -> Result<Frames>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value>>,
{
    let live = s.live.clone();
    let permit = connection_permit(&live)?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id)
        .filter(|id| !id.is_empty());
    let subscription = live.subscribe(last_event_id.as_deref());
    let state = ready().await?;

    let mut first = Vec::new();
    let cursor = subscription.cursor.as_deref();
    let replayed = match subscription.replay {
        Replay::Live => Vec::new(),
        Replay::Events(events) => events,
        Replay::Unknown => {
            first.push(reset_frame(
                cursor,
                "Last-Event-ID is not among the recent events this instance keeps; re-read the state",
            ));
            Vec::new()
        }
    };
    // `ready` carries the stream position unless a resume is replaying from the client's own.
    let resuming = last_event_id.is_some() && first.is_empty();
    let ready = Event::default().event("ready").data(state.to_string());
    first.push(match cursor.filter(|_| !resuming) {
        Some(id) => ready.id(id),
        None => ready,
    });
    first.extend(replayed.iter().filter_map(|e| filter.frame(e)));

    let guard = ConnectionGuard::new(permit);
    let live_events = stream::unfold(
        (subscription.receiver, live.shutdown_signal(), filter, guard),
        |(mut receiver, mut stopped, filter, guard)| async move {
            loop {
                let received = tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return None,
                    received = receiver.recv() => received,
                };
                let frame = match received {
                    Ok(event) => match filter.frame(&event) {
                        Some(frame) => frame,
                        None => continue,
                    },
                    Err(RecvError::Lagged(missed)) => reset_frame(
                        None,
                        &format!(
                            "this client fell behind and missed {missed} events; re-read the state"
                        ),
                    ),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(frame), (receiver, stopped, filter, guard)));
            }
        },
    );
    let frames = stream::iter(first.into_iter().map(Ok)).chain(live_events);
    let heartbeat = Duration::from_secs(live.config().heartbeat_seconds);
    Ok(Sse::new(Box::pin(frames) as _)
        .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat")))
}

/// Holds a connection slot while the stream lives.
pub(super) struct ConnectionGuard(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl ConnectionGuard {
    /// Counts the stream as open until dropped.
    pub(super) fn new(permit: tokio::sync::OwnedSemaphorePermit) -> ConnectionGuard {
        metrics::gauge!("ets_live_connections").increment(1.0);
        ConnectionGuard(permit)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        metrics::gauge!("ets_live_connections").decrement(1.0);
    }
}

use futures_util::StreamExt as _;

/// Follow a run live (Server-Sent Events).
///
/// Events (`event:` name, JSON `data:` as in the `EventData` schema, `id:` on each):
/// `ready` first (`{"type": "ready", "run": Run}`, the current state), then `metrics` (points
/// logged through any API, on any instance; small batches carry the points, larger ones per-key
/// summaries with `"truncated": true` — read the series) and `run_status`. `reset` means events
/// may have been missed (the `Last-Event-ID` is no longer kept, the client fell behind, or the
/// instance lost its database connection): re-read the state and keep reading. Reconnect with
/// `Last-Event-ID` (browsers' `EventSource` does it by itself) to get the events missed in
/// between, from any instance, for `live.replay_seconds` / `live.replay_events`. An idle stream
/// gets a `: heartbeat` comment every `live.heartbeat_seconds`.
#[utoipa::path(get, path = "/api/v1/runs/{id}/stream", tag = "runs",
    params(("id" = String, Path), StreamQuery,
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "An endless `text/event-stream`; each event's data is JSON",
         content_type = "text/event-stream", body = crate::live::EventData),
        (status = 404, body = super::error::ErrorBody),
        (status = 429, description = "live.max_connections streams are open on this instance",
         body = super::error::ErrorBody)))]
pub async fn run_stream(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Frames> {
    let services = Arc::clone(&s);
    let run_id = id.clone();
    open_stream(&s, &headers, query, Filter::Run(id), || async move {
        let run = services.get_run(&actor, &run_id).await?;
        Ok(serde_json::json!({ "type": "ready", "run": run }))
    })
    .await
}

/// Follow an experiment live (Server-Sent Events).
///
/// Events: `ready` first (`{"type": "ready", "experiment": Experiment, "run_count": n}`), then
/// `run_created`, `run_status` (started, finished, failed, killed) and `metrics` summaries of
/// its runs (per key: count, step range, last value, min, max — never the points), and `reset`
/// as for run streams. `Last-Event-ID` and heartbeats work as for run streams.
#[utoipa::path(get, path = "/api/v1/experiments/{id}/stream", tag = "experiments",
    params(("id" = String, Path), StreamQuery,
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "An endless `text/event-stream`; each event's data is JSON",
         content_type = "text/event-stream", body = crate::live::EventData),
        (status = 404, body = super::error::ErrorBody),
        (status = 429, description = "live.max_connections streams are open on this instance",
         body = super::error::ErrorBody)))]
pub async fn experiment_stream(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Frames> {
    let services = Arc::clone(&s);
    let experiment_id = id.clone();
    open_stream(&s, &headers, query, Filter::Experiment(id), || async move {
        let experiment = services.get_experiment(&actor, &experiment_id).await?;
        let run_count = services
            .experiment_run_count(&actor, &experiment_id)
            .await?;
        Ok(serde_json::json!({ "type": "ready", "experiment": experiment, "run_count": run_count }))
    })
    .await
}
