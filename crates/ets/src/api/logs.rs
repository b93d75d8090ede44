//! Run logs: `POST/GET /api/v1/runs/{id}/logs`, `GET /api/v1/experiments/{id}/logs` and the
//! live `GET /api/v1/runs/{id}/logs/stream` (Server-Sent Events).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::error::ErrorBody;
use super::extract::{Json, Path, Query};
use super::stream::{ConnectionGuard, Frames, connection_permit, reset_frame};
use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::live::EventKind;
use crate::service::Services;
use crate::service::logs::{
    AppendLogs, AppendLogsResult, LogFollowQuery, LogFollower, LogPage, LogQuery,
};

/// Append lines to a run's log (`{"lines": [{"stream": "stdout", "timestamp": 1700000000000,
/// "line": "epoch 1"}], "batch_id": "…"}`), numbered after its last line. With a `batch_id`,
/// a retry of the same batch stores nothing (200, `duplicate: true`). Limits:
/// `limits.max_log_lines_per_request`, `limits.max_log_line_bytes` (409 `limit_exceeded`).
#[utoipa::path(post, path = "/api/v1/runs/{id}/logs", tag = "runs", params(("id" = String, Path)),
    request_body = AppendLogs,
    responses((status = 201, description = "Stored", body = AppendLogsResult),
              (status = 200, description = "A retry of a batch stored before: nothing stored", body = AppendLogsResult),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 409, description = "Run in the trash, a batch_id used for other lines, or a limit (`limit_exceeded`, `details.setting`)", body = ErrorBody)))]
pub async fn append_logs(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Json(body): Json<AppendLogs>,
) -> Result<(StatusCode, JsonResponse<AppendLogsResult>)> {
    let result = s.append_logs(&actor, &id, body).await?;
    let status = if result.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, JsonResponse(result)))
}

/// Read a run's log in line order, paged (`limit`, `page_token`) and filtered: `q` (text, or a
/// regular expression with `regex=true`), `stream`, `since`/`until` (epoch ms).
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs", tag = "runs", params(("id" = String, Path), LogQuery),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn run_logs(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<JsonResponse<LogPage>> {
    Ok(JsonResponse(s.run_logs(&actor, &id, query).await?))
}

/// Search the logs of an experiment's runs (outside the trash): the filters and paging of a
/// run's log; items carry their `run_id`, ordered by run id (creation order for ETS's
/// time-ordered ids), then line.
#[utoipa::path(get, path = "/api/v1/experiments/{id}/logs", tag = "experiments",
    params(("id" = String, Path), LogQuery),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn experiment_logs(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<JsonResponse<LogPage>> {
    Ok(JsonResponse(s.experiment_logs(&actor, &id, query).await?))
}

/// Follow a run's log live (Server-Sent Events).
///
/// Events: `ready` (`{"type": "ready", "run": Run, "next_line": n}`, with `id:` n), then `lines`
/// (`{"type": "lines", "run_id", "items": [{"line_number", "stream", "timestamp", "line"}],
/// "next_line": n}`, with `id:` the number of the line after them) as lines are appended through
/// any instance, and `run_status` when the run starts or ends. Starts at the end of the log
/// unless `from_line` is given (`0`: the whole log first); filters `q`, `regex`, `stream` as
/// for reads. Reconnecting with `Last-Event-ID` (what browsers' `EventSource` does) resumes
/// after the last line received. An idle stream gets a `: heartbeat` comment every
/// `live.heartbeat_seconds`.
#[utoipa::path(get, path = "/api/v1/runs/{id}/logs/stream", tag = "runs",
    params(("id" = String, Path), LogFollowQuery,
           ("Last-Event-ID" = Option<String>, Header, description = "Resume at this line number")),
    responses(
        (status = 200, description = "An endless `text/event-stream`; each event's data is JSON",
         content_type = "text/event-stream", body = LogPage),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "live.max_connections streams are open on this instance",
         body = ErrorBody)))]
pub async fn run_log_stream(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(query): Query<LogFollowQuery>,
    headers: HeaderMap,
) -> Result<Frames> {
    let live = s.live.clone();
    let permit = connection_permit(&live)?;
    let resume_at = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id.clone())
        .filter(|id| !id.is_empty())
        .map(|id| {
            id.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Error::BadRequest(format!(
                    "Last-Event-ID '{id}' is not a line number of this log stream"
                ))
            })
        })
        .transpose()?;
    // Subscribed before the log's end is read, so no append falls between the two.
    let subscription = live.subscribe(None);
    let follower = s.follow_logs(&actor, &id, &query, resume_at).await?;
    let run = s.get_run(&actor, &id).await?;
    let follower_position = follower.next_line;
    let ready = serde_json::json!({ "type": "ready", "run": run, "next_line": follower_position });
    let state = Follow {
        services: Arc::clone(&s),
        follower,
        receiver: subscription.receiver,
        stopped: live.shutdown_signal(),
        // The position is the event id from the start, so a reconnect before any line
        // arrived resumes there too (`EventSource` sends the last id it saw).
        pending: VecDeque::from([Event::default()
            .id(follower_position.to_string())
            .event("ready")
            .data(ready.to_string())]),
        dirty: true,
        _guard: ConnectionGuard::new(permit),
    };
    let frames = stream::unfold(state, |mut state| async move {
        let frame = state.next_frame().await?;
        Some((Ok::<_, Infallible>(frame), state))
    });
    let heartbeat = Duration::from_secs(live.config().heartbeat_seconds);
    Ok(Sse::new(Box::pin(frames) as _)
        .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat")))
}

/// The state of one log stream.
struct Follow {
    services: Arc<Services>,
    follower: LogFollower,
    receiver: tokio::sync::broadcast::Receiver<Arc<crate::live::LiveEvent>>,
    stopped: tokio::sync::watch::Receiver<bool>,
    pending: VecDeque<Event>,
    /// Lines may have been appended since the last read.
    dirty: bool,
    _guard: ConnectionGuard,
}

impl Follow {
    async fn next_frame(&mut self) -> Option<Event> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Some(frame);
            }
            if self.dirty {
                self.dirty = false;
                match self.services.follow_read(&mut self.follower).await {
                    Ok((items, more)) => {
                        self.dirty = more;
                        if !items.is_empty() {
                            let next_line = self.follower.next_line;
                            let data = serde_json::json!({
                                "type": "lines",
                                "run_id": self.follower.run_id,
                                "items": items,
                                "next_line": next_line,
                            });
                            self.pending.push_back(
                                Event::default()
                                    .id(next_line.to_string())
                                    .event("lines")
                                    .data(data.to_string()),
                            );
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, run_id = %self.follower.run_id, "log stream: read failed");
                        self.pending.push_back(reset_frame(
                            None,
                            "reading the log failed; lines follow with the next append",
                        ));
                    }
                }
                continue;
            }
            let received = tokio::select! {
                _ = self.stopped.wait_for(|s| *s) => return None,
                received = self.receiver.recv() => received,
            };
            match received {
                Ok(event) => {
                    let ours = event.run_id.as_deref() == Some(self.follower.run_id.as_str());
                    match event.kind {
                        EventKind::Logs if ours => self.dirty = true,
                        EventKind::RunStatus if ours => self.pending.push_back(
                            Event::default()
                                .event(event.kind.as_str())
                                .data(event.json.as_str()),
                        ),
                        // Events may have been missed: read from the position we hold.
                        EventKind::Reset => self.dirty = true,
                        _ => {}
                    }
                }
                Err(RecvError::Lagged(_)) => self.dirty = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
