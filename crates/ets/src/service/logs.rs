//! Run logs: appending batches of stdout/stderr lines (validated, limited, idempotent by
//! `batch_id`), reading and searching them (text or regex, stream, time window, paged in line
//! order), across an experiment's runs, and following a run's log live.
//!
//! The store keeps lines in compressed chunks (`store::logs`), so filters run here over decoded
//! chunks; the store only skips chunks by time range and streams. A read decodes at most
//! [`SCAN_BUDGET`] lines: a selective search over a long log answers with fewer items than
//! asked and a `next_page_token` to go on from where it stopped.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Services;
use crate::actor::Actor;
use crate::audit::Event;
use crate::error::{EntityKind, Error, Result};
use crate::store::DataOf;
use crate::store::logs::{
    self, ALL_STREAMS, LogChunkQuery, LogLine, LogScope, LogStream, NewLogChunk, StoredLogChunk,
};

/// Lines a read decodes at most before it answers (with a token to go on).
pub const SCAN_BUDGET: usize = 200_000;
/// Chunks fetched from the store in one round trip.
const CHUNKS_PER_FETCH: i64 = 16;
/// Default lines per page.
const DEFAULT_LIMIT: u32 = 1000;
/// Longest `batch_id`.
const MAX_BATCH_ID_CHARS: usize = 256;
/// Latest line time: the end of year 9999, epoch milliseconds.
const MAX_TIMESTAMP: i64 = 253_402_300_799_999;
/// Longest search text or pattern.
const MAX_QUERY_CHARS: usize = 4096;

/// One line to append.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogLineInput {
    /// `stdout` or `stderr`.
    pub stream: LogStream,
    /// When the line was written, epoch milliseconds.
    pub timestamp: i64,
    /// The text, without its line ending.
    pub line: String,
}

/// Body of `POST /api/v1/runs/{id}/logs`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendLogs {
    pub lines: Vec<LogLineInput>,
    /// Client-chosen idempotency key of this batch (at most 256 characters): sending the same
    /// lines again with the same key stores nothing (`duplicate: true`); other lines under a
    /// used key are refused (409).
    #[serde(default)]
    pub batch_id: Option<String>,
}

/// Answer of an append.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AppendLogsResult {
    pub run_id: String,
    /// Number of the batch's first line in the run's log (0-based, in append order).
    pub first_line: i64,
    /// Lines stored by this request (0 for a retry).
    pub written: i64,
    /// The batch had been stored before under this `batch_id`: nothing was stored now.
    pub duplicate: bool,
}

/// Filters and page of a log read.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only lines containing this text (case-sensitive), or matching it as a regular
    /// expression with `regex=true` (Rust `regex` syntax; `(?i)` for case-insensitive).
    pub q: Option<String>,
    /// Read `q` as a regular expression.
    pub regex: Option<bool>,
    /// `stdout` or `stderr`.
    pub stream: Option<String>,
    /// Only lines with `timestamp >= since` (epoch ms).
    pub since: Option<i64>,
    /// Only lines with `timestamp < until` (epoch ms).
    pub until: Option<i64>,
    /// Lines per page: default 1000, at most `limits.max_page_size`.
    pub limit: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// Filters of a live log stream.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogFollowQuery {
    /// As for reads: text, or a regular expression with `regex=true`.
    pub q: Option<String>,
    pub regex: Option<bool>,
    /// `stdout` or `stderr`.
    pub stream: Option<String>,
    /// Start at this line number (0: the whole log, then what follows). Default: the end of
    /// the log (new lines only). A `Last-Event-ID` (or `last_event_id`) wins.
    pub from_line: Option<i64>,
    /// Resume after this event, as the `Last-Event-ID` header does (the header wins).
    pub last_event_id: Option<String>,
}

/// One line as read back.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LogItem {
    /// The run (experiment-wide searches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Its number in the run's log (0-based, in append order).
    pub line_number: i64,
    pub stream: LogStream,
    /// Epoch milliseconds.
    pub timestamp: i64,
    pub line: String,
}

/// A page of log lines, in line order (experiment-wide: by run, then line).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LogPage {
    pub items: Vec<LogItem>,
    /// Pass as `page_token` for more; `null` when the log has been read to its end. A page
    /// may hold fewer items than `limit` (even none) and still have a token: a read examines
    /// at most 200,000 lines.
    pub next_page_token: Option<String>,
}

/// What a line must be to be shown.
#[derive(Debug)]
struct LineFilter {
    text: Option<Matcher>,
    streams: i64,
    since: i64,
    until: i64,
}

#[derive(Debug)]
enum Matcher {
    Text(String),
    Regex(regex::Regex),
}

impl LineFilter {
    fn parse(
        q: Option<&str>,
        regex: Option<bool>,
        stream: Option<&str>,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<LineFilter> {
        let text = match q.filter(|q| !q.is_empty()) {
            None => None,
            Some(q) if q.chars().count() > MAX_QUERY_CHARS => {
                return Err(Error::BadRequest(format!(
                    "q is longer than {MAX_QUERY_CHARS} characters"
                )));
            }
            Some(q) if regex.unwrap_or(false) => Some(Matcher::Regex(
                regex::RegexBuilder::new(q)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        Error::BadRequest(format!("q is not a valid regular expression: {e}"))
                    })?,
            )),
            Some(q) => Some(Matcher::Text(q.to_owned())),
        };
        let streams = match stream.filter(|s| !s.is_empty()) {
            None => ALL_STREAMS,
            Some(name) => LogStream::parse(name).map(LogStream::bit).ok_or_else(|| {
                Error::BadRequest(format!("stream '{name}' is not one of stdout, stderr"))
            })?,
        };
        let (since, until) = (since.unwrap_or(i64::MIN), until.unwrap_or(i64::MAX));
        if since >= until {
            return Err(Error::BadRequest(format!(
                "since ({since}) must be before until ({until})"
            )));
        }
        Ok(LineFilter {
            text,
            streams,
            since,
            until,
        })
    }

    fn matches(&self, line: &LogLine) -> bool {
        self.streams & line.stream.bit() != 0
            && line.timestamp >= self.since
            && line.timestamp < self.until
            && match &self.text {
                None => true,
                Some(Matcher::Text(text)) => line.line.contains(text.as_str()),
                Some(Matcher::Regex(re)) => re.is_match(&line.line),
            }
    }
}

/// A position in a log: the run and the number of the next line to examine there.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    run_id: String,
    line: i64,
}

impl Position {
    /// An opaque, URL-safe token (the style of list cursors): base64 of `["logs", run, line]`.
    fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::json!(["logs", self.run_id, self.line]).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(token: &str) -> Result<Position> {
        use base64::Engine;
        let malformed = || {
            Error::BadRequest(
                "page_token is malformed; pass the next_page_token of the previous page".into(),
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| malformed())?;
        let (tag, run_id, line): (String, String, i64) =
            serde_json::from_slice(&bytes).map_err(|_| malformed())?;
        if tag != "logs" || line < 0 {
            return Err(malformed());
        }
        Ok(Position { run_id, line })
    }
}

/// What one read found: the lines, the position after the last line examined, and whether the
/// log goes on past it (page full or scan budget spent).
struct Scan {
    items: Vec<LogItem>,
    end: Position,
    more: bool,
}

/// Examines decoded chunks from `at`, adding matches to `scan` until `limit` items or the
/// budget; returns whether it stopped early.
fn examine(
    chunks: Vec<StoredLogChunk>,
    filter: &LineFilter,
    with_run: bool,
    limit: usize,
    scanned: &mut usize,
    scan: &mut Scan,
) -> Result<bool> {
    for chunk in chunks {
        let lines = logs::decode(&chunk.data)?;
        let count = lines.len() as i64;
        for (i, line) in lines.into_iter().enumerate() {
            let number = chunk.first_line + i as i64;
            if chunk.run_id == scan.end.run_id && number < scan.end.line {
                continue;
            }
            *scanned += 1;
            if filter.matches(&line) {
                scan.items.push(LogItem {
                    run_id: with_run.then(|| chunk.run_id.clone()),
                    line_number: number,
                    stream: line.stream,
                    timestamp: line.timestamp,
                    line: line.line,
                });
                if scan.items.len() >= limit {
                    scan.end = Position {
                        run_id: chunk.run_id,
                        line: number + 1,
                    };
                    return Ok(true);
                }
            }
        }
        scan.end = Position {
            run_id: chunk.run_id,
            line: chunk.first_line + count,
        };
        if *scanned >= SCAN_BUDGET {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Services {
    /// Appends a batch of lines to a run's log (one chunk, one transaction). Lifecycle as for
    /// metrics: the run must exist (404) and not be in the trash (409); a finished run takes
    /// lines (late output, an uploaded spool).
    pub async fn append_logs(
        &self,
        actor: &Actor,
        run_id: &str,
        body: AppendLogs,
    ) -> Result<AppendLogsResult> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let limits = &self.config.limits;
        if body.lines.is_empty() {
            return Err(Error::invalid("lines", "the batch is empty"));
        }
        if body.lines.len() as u64 > limits.max_log_lines_per_request {
            return Err(Error::LimitExceeded {
                message: format!(
                    "{} log lines in one request; split the batch",
                    body.lines.len()
                ),
                setting: "limits.max_log_lines_per_request",
                limit: limits.max_log_lines_per_request,
            });
        }
        if let Some((i, line)) = body
            .lines
            .iter()
            .enumerate()
            .find(|(_, l)| l.line.len() as u64 > limits.max_log_line_bytes)
        {
            return Err(Error::LimitExceeded {
                message: format!(
                    "lines[{i}] has {} bytes; split or shorten it",
                    line.line.len()
                ),
                setting: "limits.max_log_line_bytes",
                limit: limits.max_log_line_bytes,
            });
        }
        if let Some((i, line)) = body
            .lines
            .iter()
            .enumerate()
            .find(|(_, l)| !(0..=MAX_TIMESTAMP).contains(&l.timestamp))
        {
            return Err(Error::invalid(
                format!("lines[{i}].timestamp"),
                format!(
                    "{} is not epoch milliseconds between 1970 and 9999",
                    line.timestamp
                ),
            ));
        }
        if let Some(batch_id) = &body.batch_id
            && (batch_id.is_empty()
                || batch_id.chars().count() > MAX_BATCH_ID_CHARS
                || batch_id.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                "batch_id",
                format!("must be 1 to {MAX_BATCH_ID_CHARS} characters without control characters"),
            ));
        }
        let lines: Vec<LogLine> = body
            .lines
            .into_iter()
            .map(|l| LogLine {
                stream: l.stream,
                timestamp: l.timestamp,
                line: l.line,
            })
            .collect();
        let batch_id = body.batch_id;
        let chunk = tokio::task::spawn_blocking(move || NewLogChunk::pack(&lines, batch_id))
            .await
            .map_err(|e| Error::internal(format!("packing log lines failed: {e}")))??;
        let appended = self.store.append_logs(run_id, chunk).await?;
        if appended.written > 0 {
            metrics::counter!("ets_log_lines_ingested_total").increment(appended.written as u64);
            self.live
                .logs_appended(run_id, appended.first_line, appended.written);
        }
        Ok(AppendLogsResult {
            run_id: run_id.to_owned(),
            first_line: appended.first_line,
            written: appended.written,
            duplicate: appended.duplicate,
        })
    }

    /// A page of a run's log, filtered, in line order.
    pub async fn run_logs(&self, actor: &Actor, run_id: &str, query: LogQuery) -> Result<LogPage> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let (filter, limit, start) = self.log_read(&query)?;
        // Also answers an unknown run with 404 (a read of chunks alone would find none).
        self.store.log_line_count(run_id).await?;
        let start = match start {
            Some(p) if p.run_id != run_id => {
                return Err(Error::BadRequest(
                    "page_token was issued for another run's log".into(),
                ));
            }
            Some(p) => p,
            None => Position {
                run_id: run_id.to_owned(),
                line: 0,
            },
        };
        let scan = self
            .scan_logs(LogScope::Run(run_id.to_owned()), filter, start, limit)
            .await?;
        let event = Event::new("run.read_logs", "run", run_id);
        self.audit_read(event, DataOf::Run(run_id.to_owned()))
            .await?;
        Ok(page(scan))
    }

    /// A page of the lines of an experiment's runs (outside the trash), by run, then line.
    pub async fn experiment_logs(
        &self,
        actor: &Actor,
        experiment_id: &str,
        query: LogQuery,
    ) -> Result<LogPage> {
        self.authorize(actor, EntityKind::Experiment, experiment_id)
            .await?;
        let (filter, limit, start) = self.log_read(&query)?;
        self.store.get_experiment(experiment_id).await?;
        let start = start.unwrap_or(Position {
            run_id: String::new(),
            line: 0,
        });
        let scan = self
            .scan_logs(
                LogScope::Experiment(experiment_id.to_owned()),
                filter,
                start,
                limit,
            )
            .await?;
        let event = Event::new("experiment.read_logs", "experiment", experiment_id);
        self.audit_read(event, DataOf::Experiment(experiment_id.to_owned()))
            .await?;
        Ok(page(scan))
    }

    fn log_read(&self, query: &LogQuery) -> Result<(Arc<LineFilter>, usize, Option<Position>)> {
        let filter = LineFilter::parse(
            query.q.as_deref(),
            query.regex,
            query.stream.as_deref(),
            query.since,
            query.until,
        )?;
        let max = self.config.limits.max_page_size;
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT.min(max));
        if limit == 0 || limit > max {
            return Err(Error::BadRequest(format!(
                "limit must be between 1 and {max} (limits.max_page_size)"
            )));
        }
        let start = query
            .page_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(Position::decode)
            .transpose()?;
        Ok((Arc::new(filter), limit as usize, start))
    }

    /// Reads from `start` until `limit` matches, the scan budget, or the end of the log.
    async fn scan_logs(
        &self,
        scope: LogScope,
        filter: Arc<LineFilter>,
        start: Position,
        limit: usize,
    ) -> Result<Scan> {
        let with_run = matches!(scope, LogScope::Experiment(_));
        let mut state = (
            Scan {
                items: Vec::new(),
                end: start,
                more: false,
            },
            0usize,
        );
        loop {
            let chunks = self
                .store
                .log_chunks(LogChunkQuery {
                    scope: scope.clone(),
                    after_run: state.0.end.run_id.clone(),
                    line: state.0.end.line,
                    since: filter.since,
                    until: filter.until,
                    streams: filter.streams,
                    limit: CHUNKS_PER_FETCH,
                })
                .await?;
            if chunks.is_empty() {
                return Ok(state.0);
            }
            // Decompressing and matching is CPU work: off the async workers.
            let fetched = chunks.len() as i64;
            let shared = filter.clone();
            let (mut scan, mut scanned) = state;
            let (stopped, scan, scanned) = tokio::task::spawn_blocking(move || {
                let stopped = examine(chunks, &shared, with_run, limit, &mut scanned, &mut scan);
                (stopped, scan, scanned)
            })
            .await
            .map_err(|e| Error::internal(format!("reading log lines failed: {e}")))?;
            state = (scan, scanned);
            if stopped? {
                state.0.more = true;
                return Ok(state.0);
            }
            if fetched < CHUNKS_PER_FETCH {
                return Ok(state.0);
            }
        }
    }

    /// Starts following a run's log: checks access (and records the read where reads are
    /// audited) and fixes where the stream starts.
    pub async fn follow_logs(
        &self,
        actor: &Actor,
        run_id: &str,
        query: &LogFollowQuery,
        resume_at: Option<i64>,
    ) -> Result<LogFollower> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let filter = LineFilter::parse(
            query.q.as_deref(),
            query.regex,
            query.stream.as_deref(),
            None,
            None,
        )?;
        if let Some(from) = query.from_line
            && from < 0
        {
            return Err(Error::BadRequest("from_line must be 0 or more".into()));
        }
        let end = self.store.log_line_count(run_id).await?;
        let next_line = resume_at.or(query.from_line).unwrap_or(end);
        let event = Event::new("run.follow_logs", "run", run_id);
        self.audit_read(event, DataOf::Run(run_id.to_owned()))
            .await?;
        Ok(LogFollower {
            run_id: run_id.to_owned(),
            filter: Arc::new(filter),
            next_line,
        })
    }

    /// The lines of a followed log from its position on (at most one page), advancing it.
    /// Access was checked when following started.
    pub async fn follow_read(&self, follower: &mut LogFollower) -> Result<(Vec<LogItem>, bool)> {
        let start = Position {
            run_id: follower.run_id.clone(),
            line: follower.next_line,
        };
        let scan = self
            .scan_logs(
                LogScope::Run(follower.run_id.clone()),
                follower.filter.clone(),
                start,
                FOLLOW_PAGE,
            )
            .await?;
        follower.next_line = scan.end.line;
        Ok((scan.items, scan.more))
    }
}

/// Lines sent in one event of a log stream at most.
const FOLLOW_PAGE: usize = 500;

/// A followed log: its filter and the next line to send.
pub struct LogFollower {
    pub run_id: String,
    filter: Arc<LineFilter>,
    pub next_line: i64,
}

fn page(scan: Scan) -> LogPage {
    LogPage {
        next_page_token: scan.more.then(|| scan.end.encode()),
        items: scan.items,
    }
}
