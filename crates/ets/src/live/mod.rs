//! Live updates: the event bus behind the Server-Sent Events streams
//! (`GET /api/v1/runs/{id}/stream`, `GET /api/v1/experiments/{id}/stream`).
//!
//! ```text
//! service layer ──(after commit, try_send)──▶ queue ──▶ publisher task
//!     SQLite:      publisher ──▶ deliver()
//!     PostgreSQL:  publisher ──pg_notify──▶ PostgreSQL ──LISTEN (every instance)──▶ deliver()
//! deliver(): replay ring (cache) + local broadcast ──▶ SSE connections (filtered per run/experiment)
//! ```
//!
//! The request path only summarises the logged points (one pass, no JSON) and hands a small
//! value to a bounded queue; it never waits for the bus. A background task encodes events and
//! publishes them. With PostgreSQL every instance — the publishing one included — receives
//! every event through `LISTEN`, in the commit order of the `NOTIFY` transactions, so all
//! instances see the same stream in the same order.
//!
//! The only in-memory state is the replay ring: a bounded cache (`live.replay_events`,
//! `live.replay_seconds`) of the shared stream used to answer `Last-Event-ID`. Because every
//! instance receives every event, a client can resume on any instance. When the id is no longer
//! (or never was) in the ring — or events may have been missed (queue overflow, a lost database
//! connection, a client too slow for the stream) — the client gets an `event: reset` and must
//! re-read the state it shows (like a Kubernetes watch's `410 Gone`).

pub mod postgres;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ets_domain::Timestamp;
use ets_domain::model::{Run, SeriesPoints};
use ets_domain::status::RunStatus;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, broadcast, mpsc, watch};

use crate::config::LiveConfig;
use crate::store::Store;

/// Largest serialized event: PostgreSQL's NOTIFY payload limit is 8000 bytes.
pub const MAX_PAYLOAD_BYTES: usize = 7_500;
/// Batches of at most this many points carry the points themselves (if they fit in
/// [`MAX_PAYLOAD_BYTES`]); larger ones carry per-key summaries with `truncated: true`.
pub const MAX_INLINE_POINTS: usize = 200;
/// Events queued between the request path and the publisher; beyond it events are dropped
/// and a `reset` follows.
const QUEUE_CAPACITY: usize = 16_384;
/// Events buffered per SSE connection before it lags (and gets a `reset`).
const BROADCAST_CAPACITY: usize = 4_096;
/// Events sent in one `pg_notify` round trip.
const PUBLISH_BATCH: usize = 256;
/// Run → experiment entries kept by the publisher (an immutable fact, so always correct).
const EXPERIMENT_CACHE: usize = 100_000;

/// One metric point of a `metrics` event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LivePoint {
    pub step: i64,
    /// Epoch milliseconds.
    pub timestamp: i64,
    #[serde(with = "ets_domain::value::metric_f64")]
    #[schema(value_type = f64)]
    pub value: f64,
}

/// What one logged batch added to one metric key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyUpdate {
    pub key: String,
    /// Points of this key in the batch (duplicates of stored points included).
    pub count: u64,
    /// Smallest step in the batch.
    pub first_step: i64,
    /// Largest step in the batch.
    pub last_step: i64,
    /// Value and timestamp of the point at `last_step` (the latest timestamp on ties).
    #[serde(with = "ets_domain::value::metric_f64")]
    #[schema(value_type = f64)]
    pub last_value: f64,
    pub last_timestamp: i64,
    /// Smallest non-NaN value in the batch.
    #[serde(with = "ets_domain::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub min: Option<f64>,
    #[serde(with = "ets_domain::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub max: Option<f64>,
    /// The points, for small batches; absent when the event is `truncated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<Vec<LivePoint>>,
}

/// The `data:` of a live event (JSON). `id` is also the SSE `id:`, `type` the SSE `event:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventData {
    /// Unique, time-ordered (UUIDv7, 32 hex characters). Send the last one received as
    /// `Last-Event-ID` to resume.
    pub id: String,
    #[serde(flatten)]
    pub body: EventBody,
}

/// The kinds of live events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// Metric points were logged to a run. `truncated: true`: the batch was too large to carry
    /// its points (or, on experiment streams, points are never sent): read the series.
    Metrics {
        run_id: String,
        /// Empty when it could not be determined.
        experiment_id: String,
        metrics: Vec<KeyUpdate>,
        truncated: bool,
    },
    /// A run changed status (started, finished, failed, killed, resumed).
    RunStatus {
        run_id: String,
        experiment_id: String,
        status: RunStatus,
        ended_at: Option<Timestamp>,
    },
    /// A run was created.
    RunCreated {
        run_id: String,
        experiment_id: String,
        name: String,
        status: RunStatus,
    },
    /// An alert of a rule on the run fired, was acknowledged or resolved (`GET
    /// /api/v1/alerts/{alert_id}`).
    Alert {
        alert_id: String,
        rule_id: String,
        run_id: String,
        experiment_id: String,
        /// `firing`, `acknowledged` or `resolved`.
        state: String,
        message: String,
    },
    /// Lines were appended to a run's log (`first_line` … `first_line + line_count - 1`).
    /// Only the run's log stream (`GET /api/v1/runs/{id}/logs/stream`) listens to it: it reads
    /// the lines themselves from the database, so no line has to fit in an event.
    Logs {
        run_id: String,
        experiment_id: String,
        first_line: i64,
        line_count: i64,
    },
    /// Events may have been missed: re-read the state, then keep following the stream.
    Reset { reason: String },
}

/// Kind of a delivered event (the SSE `event:` name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Metrics,
    RunStatus,
    RunCreated,
    Alert,
    Logs,
    Reset,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Metrics => "metrics",
            EventKind::RunStatus => "run_status",
            EventKind::RunCreated => "run_created",
            EventKind::Alert => "alert",
            EventKind::Logs => "logs",
            EventKind::Reset => "reset",
        }
    }
}

/// An event as delivered on this instance, encoded once for every connection.
#[derive(Debug)]
pub struct LiveEvent {
    pub id: String,
    pub kind: EventKind,
    pub run_id: Option<String>,
    pub experiment_id: Option<String>,
    /// The full JSON.
    pub json: String,
    /// The JSON without points (what experiment streams send), when it differs from `json`.
    pub summary_json: Option<String>,
    received: Instant,
}

impl LiveEvent {
    /// Wraps an event whose JSON encoding is `json`.
    pub fn new(data: EventData, json: String) -> LiveEvent {
        let (kind, run_id, experiment_id) = match &data.body {
            EventBody::Metrics {
                run_id,
                experiment_id,
                ..
            } => (EventKind::Metrics, Some(run_id), Some(experiment_id)),
            EventBody::RunStatus {
                run_id,
                experiment_id,
                ..
            } => (EventKind::RunStatus, Some(run_id), Some(experiment_id)),
            EventBody::RunCreated {
                run_id,
                experiment_id,
                ..
            } => (EventKind::RunCreated, Some(run_id), Some(experiment_id)),
            EventBody::Alert {
                run_id,
                experiment_id,
                ..
            } => (EventKind::Alert, Some(run_id), Some(experiment_id)),
            EventBody::Logs {
                run_id,
                experiment_id,
                ..
            } => (EventKind::Logs, Some(run_id), Some(experiment_id)),
            EventBody::Reset { .. } => (EventKind::Reset, None, None),
        };
        let (run_id, experiment_id) = (run_id.cloned(), experiment_id.cloned());
        let summary_json = match data.body {
            EventBody::Metrics {
                run_id,
                experiment_id,
                mut metrics,
                truncated: _,
            } if metrics.iter().any(|k| k.points.is_some()) => {
                metrics.iter_mut().for_each(|k| k.points = None);
                serde_json::to_string(&EventData {
                    id: data.id.clone(),
                    body: EventBody::Metrics {
                        run_id,
                        experiment_id,
                        metrics,
                        truncated: true,
                    },
                })
                .ok()
            }
            _ => None,
        };
        LiveEvent {
            id: data.id,
            kind,
            run_id,
            experiment_id,
            json,
            summary_json,
            received: Instant::now(),
        }
    }

    fn encode(data: EventData) -> LiveEvent {
        let json = serde_json::to_string(&data).unwrap_or_default();
        LiveEvent::new(data, json)
    }

    /// JSON for an experiment stream (points left out).
    pub fn summary(&self) -> &str {
        self.summary_json.as_deref().unwrap_or(&self.json)
    }
}

/// A logged batch, summarised on the request path (no JSON encoding there).
#[derive(Debug)]
pub struct MetricsBatch {
    keys: Vec<KeyUpdate>,
    truncated: bool,
}

/// What the request path hands to the publisher.
#[derive(Debug)]
pub(crate) enum Pending {
    Metrics {
        id: String,
        run_id: String,
        batch: MetricsBatch,
    },
    Run(EventData),
    Logs {
        id: String,
        run_id: String,
        first_line: i64,
        line_count: i64,
    },
}

/// Where a subscription starts.
pub enum Replay {
    /// No `Last-Event-ID`: live events only.
    Live,
    /// The events after the given id, still in the ring.
    Events(Vec<Arc<LiveEvent>>),
    /// The id is not (or no longer) in the ring: send `reset`.
    Unknown,
}

/// A new subscriber's view of the stream.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Arc<LiveEvent>>,
    pub replay: Replay,
    /// Id of the newest event in the ring when subscribing (the stream position).
    pub cursor: Option<String>,
}

/// The per-instance event bus: queue, replay ring, local broadcast, connection limit.
pub struct Bus {
    config: LiveConfig,
    queue: mpsc::Sender<Pending>,
    queue_rx: Mutex<Option<mpsc::Receiver<Pending>>>,
    ring: Mutex<VecDeque<Arc<LiveEvent>>>,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    /// Whether events are produced at all: set by `start` on PostgreSQL (subscribers may be on
    /// other instances), and on SQLite by the first subscription (a `Last-Event-ID` can only
    /// name an event of this instance's stream, so nothing before it is needed).
    active: AtomicBool,
    started: AtomicBool,
    dropped: AtomicU64,
    connections: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
}

impl Bus {
    pub fn new(config: LiveConfig) -> Bus {
        let (queue, queue_rx) = mpsc::channel(QUEUE_CAPACITY);
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        let connections = Arc::new(Semaphore::new(config.max_connections as usize));
        Bus {
            config,
            queue,
            queue_rx: Mutex::new(Some(queue_rx)),
            ring: Mutex::new(VecDeque::new()),
            sender,
            active: AtomicBool::new(false),
            started: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            connections,
            shutdown: watch::channel(false).0,
        }
    }

    pub fn config(&self) -> &LiveConfig {
        &self.config
    }

    /// Starts the publisher (and, on PostgreSQL, the listener; it returns once `LISTEN` is in
    /// place, so events committed after start-up are seen). Without this (CLI commands) the
    /// bus stays inactive and the service hooks do nothing.
    pub async fn start(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        database: &crate::database_url::DatabaseUrl,
    ) {
        let Some(queue) = self.queue_rx.lock().expect("queue lock").take() else {
            return;
        };
        let publisher = Publisher {
            bus: self.clone(),
            store,
            experiments: HashMap::new(),
        };
        if let crate::database_url::DatabaseUrl::Postgres(options) = database {
            self.active.store(true, Ordering::Release);
            postgres::start(self.clone(), publisher, queue, (**options).clone()).await;
        } else {
            tokio::spawn(publisher.run_local(queue));
        }
        self.started.store(true, Ordering::Release);
    }

    /// Ends every stream (server shutdown: streams never end by themselves).
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// A permit for one SSE connection, `None` at `live.max_connections`.
    pub fn connection_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.connections.clone().try_acquire_owned().ok()
    }

    fn active(&self) -> bool {
        self.started.load(Ordering::Relaxed) && self.active.load(Ordering::Relaxed)
    }

    fn enqueue(&self, pending: Pending) {
        if self.queue.try_send(pending).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("ets_live_events_dropped_total").increment(1);
        }
    }

    // ---- hooks of the service layer (after the store committed)

    /// Summarises points about to be stored; `None` when nothing is published.
    pub fn prepare_metrics(&self, series: &[SeriesPoints]) -> Option<MetricsBatch> {
        if !self.active() {
            return None;
        }
        let total: usize = series.iter().map(|s| s.points.len()).sum();
        let inline = total <= MAX_INLINE_POINTS;
        let keys = series
            .iter()
            .filter(|s| !s.points.is_empty())
            .map(|s| summarise(s, inline))
            .collect();
        Some(MetricsBatch {
            keys,
            truncated: !inline,
        })
    }

    /// Points of `batch` were stored in run `run_id`.
    pub fn metrics_logged(&self, run_id: &str, batch: Option<MetricsBatch>) {
        if let Some(batch) = batch.filter(|b| !b.keys.is_empty()) {
            self.enqueue(Pending::Metrics {
                id: ets_domain::new_id(),
                run_id: run_id.to_owned(),
                batch,
            });
        }
    }

    /// Lines were appended to a run's log.
    pub fn logs_appended(&self, run_id: &str, first_line: i64, line_count: i64) {
        if self.active() && line_count > 0 {
            self.enqueue(Pending::Logs {
                id: ets_domain::new_id(),
                run_id: run_id.to_owned(),
                first_line,
                line_count,
            });
        }
    }

    /// A run was created.
    pub fn run_created(&self, run: &Run) {
        if self.active() {
            self.enqueue(Pending::Run(EventData {
                id: ets_domain::new_id(),
                body: EventBody::RunCreated {
                    run_id: run.id.clone(),
                    experiment_id: run.experiment_id.clone(),
                    name: run.name.clone(),
                    status: run.status,
                },
            }));
        }
    }

    /// A run's status (or end time) changed.
    pub fn run_status(&self, run: &Run) {
        if self.active() {
            self.enqueue(Pending::Run(EventData {
                id: ets_domain::new_id(),
                body: EventBody::RunStatus {
                    run_id: run.id.clone(),
                    experiment_id: run.experiment_id.clone(),
                    status: run.status,
                    ended_at: run.ended_at,
                },
            }));
        }
    }

    /// An alert changed state.
    pub fn alert(&self, alert: &crate::store::AlertRecord) {
        if self.active() {
            self.enqueue(Pending::Run(EventData {
                id: ets_domain::new_id(),
                body: EventBody::Alert {
                    alert_id: alert.id.clone(),
                    rule_id: alert.rule_id.clone(),
                    run_id: alert.run_id.clone(),
                    experiment_id: alert.experiment_id.clone(),
                    state: alert.state.as_str().to_owned(),
                    message: alert.message.clone(),
                },
            }));
        }
    }

    // ---- delivery

    /// Adds an event to the replay ring and hands it to this instance's subscribers.
    pub fn deliver(&self, event: LiveEvent) {
        let event = Arc::new(event);
        let mut ring = self.ring.lock().expect("ring lock");
        self.evict(&mut ring);
        ring.push_back(event.clone());
        // Sent under the ring lock, so a subscription sees each event exactly once: in its
        // replay or on its receiver.
        let _ = self.sender.send(event);
        metrics::counter!("ets_live_events_total").increment(1);
    }

    /// Tells every subscriber to re-read state; with `forget`, the ring is emptied first (events
    /// may be missing from it, so no resume may pass over the gap).
    pub fn reset(&self, reason: &str, forget: bool) {
        if forget {
            self.ring.lock().expect("ring lock").clear();
        }
        self.deliver(LiveEvent::encode(EventData {
            id: ets_domain::new_id(),
            body: EventBody::Reset {
                reason: reason.to_owned(),
            },
        }));
    }

    fn evict(&self, ring: &mut VecDeque<Arc<LiveEvent>>) {
        let max_age = Duration::from_secs(self.config.replay_seconds);
        while ring.len() >= self.config.replay_events.max(1)
            || ring.front().is_some_and(|e| e.received.elapsed() > max_age)
        {
            ring.pop_front();
        }
    }

    /// Subscribes, replaying the ring after `last_event_id`.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Subscription {
        self.active.store(true, Ordering::Relaxed);
        let mut ring = self.ring.lock().expect("ring lock");
        self.evict(&mut ring);
        let receiver = self.sender.subscribe();
        let cursor = ring.back().map(|e| e.id.clone());
        let replay = match last_event_id {
            None => Replay::Live,
            Some(id) => match ring.iter().rposition(|e| e.id == id) {
                Some(i) => Replay::Events(ring.iter().skip(i + 1).cloned().collect()),
                None => Replay::Unknown,
            },
        };
        Subscription {
            receiver,
            replay,
            cursor,
        }
    }

    /// Takes the count of events dropped since the last call.
    fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

/// Per-key summary of one batch's points (one pass; the points are copied only for small
/// batches).
fn summarise(series: &SeriesPoints, inline: bool) -> KeyUpdate {
    let first = series.points[0];
    let mut update = KeyUpdate {
        key: series.key.clone(),
        count: series.points.len() as u64,
        first_step: first.step,
        last_step: first.step,
        last_value: first.value,
        last_timestamp: first.timestamp,
        min: None,
        max: None,
        points: None,
    };
    for p in &series.points {
        update.first_step = update.first_step.min(p.step);
        if (p.step, p.timestamp) >= (update.last_step, update.last_timestamp) {
            update.last_step = p.step;
            update.last_timestamp = p.timestamp;
            update.last_value = p.value;
        }
        if !p.value.is_nan() {
            update.min = Some(update.min.map_or(p.value, |m| m.min(p.value)));
            update.max = Some(update.max.map_or(p.value, |m| m.max(p.value)));
        }
    }
    if inline {
        update.points = Some(
            series
                .points
                .iter()
                .map(|p| LivePoint {
                    step: p.step,
                    timestamp: p.timestamp,
                    value: p.value,
                })
                .collect(),
        );
    }
    update
}

/// Turns queued items into encoded events (off the request path).
pub(crate) struct Publisher {
    bus: Arc<Bus>,
    store: Arc<dyn Store>,
    /// Run id → experiment id. A run never changes experiment and ids are never reused, so
    /// this cache is correct whatever other instances do.
    experiments: HashMap<String, String>,
}

impl Publisher {
    /// Waits for the next items; `None` when the queue is closed, or at shutdown once what
    /// was queued is out.
    async fn next_batch(&mut self, queue: &mut mpsc::Receiver<Pending>) -> Option<Vec<Pending>> {
        let mut batch = Vec::new();
        let mut stopped = self.bus.shutdown_signal();
        tokio::select! {
            received = queue.recv_many(&mut batch, PUBLISH_BATCH) => {
                if received == 0 {
                    return None;
                }
            }
            _ = stopped.wait_for(|s| *s) => {
                Self::top_up(queue, &mut batch);
                if batch.is_empty() {
                    return None;
                }
            }
        }
        Some(batch)
    }

    /// Adds to `batch` what is queued already, up to a batch's size.
    fn top_up(queue: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>) {
        while batch.len() < PUBLISH_BATCH {
            match queue.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
    }

    /// Encodes items as events of at most [`MAX_PAYLOAD_BYTES`] each.
    async fn encode(&mut self, batch: Vec<Pending>) -> Vec<(EventData, String)> {
        let mut out = Vec::with_capacity(batch.len() + 1);
        let dropped = self.bus.take_dropped();
        for pending in batch {
            match pending {
                Pending::Run(data) => {
                    // A run's later metric and log events need its experiment: known here
                    // (a trial's run gets its value at the tell, without a read for it).
                    if let EventBody::RunCreated {
                        run_id,
                        experiment_id,
                        ..
                    } = &data.body
                    {
                        self.remember_experiment(run_id, experiment_id);
                    }
                    if let Ok(json) = serde_json::to_string(&data) {
                        out.push((data, json));
                    }
                }
                Pending::Metrics { id, run_id, batch } => {
                    let experiment_id = self.experiment_of(&run_id).await;
                    encode_metrics(id, run_id, experiment_id, batch, &mut out);
                }
                Pending::Logs {
                    id,
                    run_id,
                    first_line,
                    line_count,
                } => {
                    let experiment_id = self.experiment_of(&run_id).await;
                    let data = EventData {
                        id,
                        body: EventBody::Logs {
                            run_id,
                            experiment_id,
                            first_line,
                            line_count,
                        },
                    };
                    if let Ok(json) = serde_json::to_string(&data) {
                        out.push((data, json));
                    }
                }
            }
        }
        if dropped > 0 {
            let data = EventData {
                id: ets_domain::new_id(),
                body: EventBody::Reset {
                    reason: format!("{dropped} events were dropped: the event queue was full"),
                },
            };
            let json = serde_json::to_string(&data).unwrap_or_default();
            out.push((data, json));
        }
        out
    }

    fn remember_experiment(&mut self, run_id: &str, experiment_id: &str) {
        if self.experiments.len() >= EXPERIMENT_CACHE {
            self.experiments.clear();
        }
        self.experiments
            .insert(run_id.to_owned(), experiment_id.to_owned());
    }

    async fn experiment_of(&mut self, run_id: &str) -> String {
        if let Some(id) = self.experiments.get(run_id) {
            return id.clone();
        }
        match self.store.get_run(run_id).await {
            Ok(run) => {
                self.remember_experiment(run_id, &run.experiment_id);
                run.experiment_id
            }
            Err(e) => {
                tracing::debug!(error = %e, run_id, "live: cannot find the experiment of a run");
                String::new()
            }
        }
    }

    /// SQLite: one instance, so events go straight to the local ring and subscribers.
    async fn run_local(mut self, mut queue: mpsc::Receiver<Pending>) {
        while let Some(batch) = self.next_batch(&mut queue).await {
            for (data, json) in self.encode(batch).await {
                self.bus.deliver(LiveEvent::new(data, json));
            }
        }
    }
}

/// Encodes one metrics item: with its points when they fit, else summaries (`truncated`),
/// split over several events when even those do not fit.
fn encode_metrics(
    id: String,
    run_id: String,
    experiment_id: String,
    batch: MetricsBatch,
    out: &mut Vec<(EventData, String)>,
) {
    let MetricsBatch {
        mut keys,
        mut truncated,
    } = batch;
    let event = |id: String, metrics: Vec<KeyUpdate>, truncated: bool| EventData {
        id,
        body: EventBody::Metrics {
            run_id: run_id.clone(),
            experiment_id: experiment_id.clone(),
            metrics,
            truncated,
        },
    };
    if !truncated {
        let data = event(id.clone(), keys, false);
        let json = serde_json::to_string(&data).unwrap_or_default();
        if json.len() <= MAX_PAYLOAD_BYTES {
            out.push((data, json));
            return;
        }
        keys = match data.body {
            EventBody::Metrics { metrics, .. } => metrics,
            _ => unreachable!("built as metrics"),
        };
        keys.iter_mut().for_each(|k| k.points = None);
        truncated = true;
    }
    let envelope =
        serde_json::to_string(&event(id.clone(), Vec::new(), truncated)).map_or(0, |j| j.len());
    let mut chunk: Vec<KeyUpdate> = Vec::new();
    let mut size = envelope;
    let mut first_id = Some(id);
    for key in keys {
        let key_size = serde_json::to_string(&key).map_or(0, |j| j.len()) + 1;
        if !chunk.is_empty() && size + key_size > MAX_PAYLOAD_BYTES {
            let id = first_id.take().unwrap_or_else(ets_domain::new_id);
            let data = event(id, std::mem::take(&mut chunk), truncated);
            let json = serde_json::to_string(&data).unwrap_or_default();
            out.push((data, json));
            size = envelope;
        }
        size += key_size;
        chunk.push(key);
    }
    if !chunk.is_empty() {
        let id = first_id.take().unwrap_or_else(ets_domain::new_id);
        let data = event(id, chunk, truncated);
        let json = serde_json::to_string(&data).unwrap_or_default();
        out.push((data, json));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ets_domain::model::MetricPoint;

    fn series(key: &str, n: usize) -> SeriesPoints {
        SeriesPoints {
            key: key.into(),
            points: (0..n)
                .map(|i| MetricPoint {
                    step: i as i64,
                    timestamp: 1_700_000_000_000 + i as i64,
                    value: if i == 1 { f64::NAN } else { i as f64 / 3.0 },
                })
                .collect(),
        }
    }

    #[test]
    fn summaries_and_payload_limit() {
        let small = summarise(&series("loss", 3), true);
        assert_eq!((small.count, small.first_step, small.last_step), (3, 0, 2));
        assert_eq!(small.min, Some(0.0));
        assert_eq!(small.max, Some(2.0 / 3.0));
        assert_eq!(small.points.as_ref().map(Vec::len), Some(3));

        // Points that do not fit are dropped; keys that do not fit are split.
        let keys: Vec<KeyUpdate> = (0..100)
            .map(|i| summarise(&series(&format!("key/{i:0>200}"), 2), true))
            .collect();
        let mut out = Vec::new();
        encode_metrics(
            ets_domain::new_id(),
            "r".into(),
            "e".into(),
            MetricsBatch {
                keys,
                truncated: false,
            },
            &mut out,
        );
        assert!(out.len() > 1);
        let mut total = 0;
        for (data, json) in &out {
            assert!(json.len() <= MAX_PAYLOAD_BYTES, "{}", json.len());
            let EventBody::Metrics {
                metrics, truncated, ..
            } = &data.body
            else {
                panic!("metrics")
            };
            assert!(truncated);
            assert!(metrics.iter().all(|k| k.points.is_none()));
            total += metrics.len();
            let back: EventData = serde_json::from_str(json).unwrap();
            assert_eq!(back.id, data.id);
        }
        assert_eq!(total, 100);
    }
}
