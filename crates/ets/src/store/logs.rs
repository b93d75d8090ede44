//! Run logs (stdout/stderr lines) in chunks, written once for both backends: the chunk format,
//! the idempotency rule of a batch, and the statements.
//!
//! A chunk is one appended batch. Its lines are packed as `stream (1 byte) | timestamp delta
//! (zigzag varint) | length (varint) | UTF-8 bytes` and the whole is deflate-compressed behind a
//! format byte. The row keeps what filters need without decompressing: line range, time range
//! and the streams present (a bit each). The batch's digest is the SHA-256 of the packed
//! (uncompressed) lines, so a retried batch is recognised as identical whatever the
//! compressor does.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The stream a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    fn code(self) -> u8 {
        match self {
            LogStream::Stdout => 0,
            LogStream::Stderr => 1,
        }
    }

    fn from_code(code: u8) -> Option<LogStream> {
        match code {
            0 => Some(LogStream::Stdout),
            1 => Some(LogStream::Stderr),
            _ => None,
        }
    }

    /// The bit of this stream in a chunk's `streams` mask.
    pub fn bit(self) -> i64 {
        1 << self.code()
    }

    pub fn parse(name: &str) -> Option<LogStream> {
        match name {
            "stdout" => Some(LogStream::Stdout),
            "stderr" => Some(LogStream::Stderr),
            _ => None,
        }
    }
}

/// Every stream's bit.
pub const ALL_STREAMS: i64 = 0b11;

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: LogStream,
    /// Epoch milliseconds, as the client recorded it.
    pub timestamp: i64,
    pub line: String,
}

/// A batch ready to store: packed, compressed and summarised (`NewLogChunk::pack`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewLogChunk {
    pub batch_id: Option<String>,
    pub line_count: i64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub streams: i64,
    /// SHA-256 of the packed lines.
    pub digest: Vec<u8>,
    pub data: Vec<u8>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogAppend {
    /// Number of the batch's first line in the run (0-based, in append order).
    pub first_line: i64,
    /// Lines stored now (0 for a retried batch).
    pub written: i64,
    /// The batch was stored before under the same `batch_id`, identical: nothing was stored.
    pub duplicate: bool,
}

/// A stored chunk as read back (still compressed).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLogChunk {
    pub run_id: String,
    pub first_line: i64,
    pub data: Vec<u8>,
}

/// Which chunks a read wants: those of one run or of an experiment's runs outside the trash,
/// from a position on, overlapping a time window and holding one of the streams, in order
/// (run id, then line number), at most `limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogChunkQuery {
    pub scope: LogScope,
    /// Start here: chunks of this run ending at or after `line`, then later runs (experiment
    /// scope; a run scope ignores the run id).
    pub after_run: String,
    pub line: i64,
    /// `since <= timestamp < until` for some line of the chunk (by its range).
    pub since: i64,
    pub until: i64,
    /// Bit mask of [`LogStream::bit`]s.
    pub streams: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LogScope {
    Run(String),
    Experiment(String),
}

/// Format byte of a chunk's `data`: deflate over the packed lines.
const FORMAT_DEFLATE: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(input: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *input.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// The packed (uncompressed) form of lines: what the digest covers.
fn pack(lines: &[LogLine]) -> Vec<u8> {
    let size: usize = lines.iter().map(|l| l.line.len() + 8).sum();
    let mut out = Vec::with_capacity(size);
    let mut previous = 0i64;
    for line in lines {
        out.push(line.stream.code());
        put_varint(&mut out, zigzag(line.timestamp.wrapping_sub(previous)));
        previous = line.timestamp;
        put_varint(&mut out, line.line.len() as u64);
        out.extend_from_slice(line.line.as_bytes());
    }
    out
}

fn unpack(packed: &[u8]) -> Option<Vec<LogLine>> {
    let mut lines = Vec::new();
    let mut at = 0;
    let mut previous = 0i64;
    while at < packed.len() {
        let stream = LogStream::from_code(packed[at])?;
        at += 1;
        let timestamp = previous.wrapping_add(unzigzag(get_varint(packed, &mut at)?));
        previous = timestamp;
        let len = usize::try_from(get_varint(packed, &mut at)?).ok()?;
        let bytes = packed.get(at..at.checked_add(len)?)?;
        at += len;
        lines.push(LogLine {
            stream,
            timestamp,
            line: String::from_utf8(bytes.to_vec()).ok()?,
        });
    }
    Some(lines)
}

impl NewLogChunk {
    /// Packs, digests and compresses a non-empty batch.
    pub fn pack(lines: &[LogLine], batch_id: Option<String>) -> Result<NewLogChunk> {
        let packed = pack(lines);
        let digest = Sha256::digest(&packed).to_vec();
        let mut encoder = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(packed.len() / 4 + 16),
            flate2::Compression::default(),
        );
        encoder
            .write_all(&packed)
            .map_err(|e| Error::internal(format!("compressing log lines: {e}")))?;
        let compressed = encoder
            .finish()
            .map_err(|e| Error::internal(format!("compressing log lines: {e}")))?;
        let mut data = Vec::with_capacity(compressed.len() + 1);
        data.push(FORMAT_DEFLATE);
        data.extend_from_slice(&compressed);
        Ok(NewLogChunk {
            batch_id,
            line_count: lines.len() as i64,
            min_ts: lines.iter().map(|l| l.timestamp).min().unwrap_or(0),
            max_ts: lines.iter().map(|l| l.timestamp).max().unwrap_or(0),
            streams: lines.iter().fold(0, |mask, l| mask | l.stream.bit()),
            digest,
            data,
        })
    }
}

/// The lines of a stored chunk.
pub fn decode(data: &[u8]) -> Result<Vec<LogLine>> {
    let corrupt = || Error::internal("a stored log chunk cannot be decoded");
    let (&format, compressed) = data.split_first().ok_or_else(corrupt)?;
    if format != FORMAT_DEFLATE {
        return Err(corrupt());
    }
    let mut packed = Vec::with_capacity(compressed.len() * 4);
    flate2::read::DeflateDecoder::new(compressed)
        .read_to_end(&mut packed)
        .map_err(|_| corrupt())?;
    unpack(&packed).ok_or_else(corrupt)
}

/// The rule of a batch with a `batch_id` already stored for the run (`stored`: its digest, first
/// line and line count): an identical batch is a retry, stored once; different lines under the
/// same key are refused, since dropping them would lose lines and storing them would break the
/// key's promise.
pub(crate) fn check_retry(
    run_id: &str,
    chunk: &NewLogChunk,
    stored: (Vec<u8>, i64, i64),
) -> Result<LogAppend> {
    let (digest, first_line, line_count) = stored;
    if digest == chunk.digest && line_count == chunk.line_count {
        return Ok(LogAppend {
            first_line,
            written: 0,
            duplicate: true,
        });
    }
    Err(Error::Conflict(format!(
        "batch_id '{}' of run '{run_id}' was used before for different lines; a retry must resend \
         exactly the same lines, and a new batch needs a new batch_id",
        chunk.batch_id.as_deref().unwrap_or_default()
    )))
}

/// The number the run's next line gets; no row when the run does not exist.
pub(crate) const NEXT_LINE: &str = "SELECT (SELECT coalesce(max(c.last_line), -1) + 1 \
     FROM run_log_chunks c WHERE c.run_id = $1) FROM runs WHERE id = $1";
/// The batch stored under key `$2` for run `$1`: digest, first line, line count.
pub(crate) const BATCH: &str =
    "SELECT digest, first_line, line_count FROM run_log_chunks WHERE run_id = $1 AND batch_id = $2";
/// A new chunk.
pub(crate) const INSERT: &str = "INSERT INTO run_log_chunks (run_id, last_line, first_line, \
     line_count, min_ts, max_ts, streams, batch_id, digest, data, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// The read of a [`LogChunkQuery`] of one run; parameters: run id, line, since, until,
/// streams, limit.
pub(crate) const SELECT_RUN: &str = "SELECT c.run_id, c.first_line, c.data FROM run_log_chunks c \
     WHERE c.run_id = $1 AND c.last_line >= $2 AND c.max_ts >= $3 AND c.min_ts < $4 \
     AND (c.streams & $5) <> 0 ORDER BY c.last_line LIMIT $6";
/// The read of a [`LogChunkQuery`] of an experiment's runs outside the trash; parameters:
/// experiment id, after run, line, since, until, streams, limit.
pub(crate) const SELECT_EXPERIMENT: &str = "SELECT c.run_id, c.first_line, c.data \
     FROM run_log_chunks c JOIN runs r ON r.id = c.run_id WHERE r.experiment_id = $1 \
     AND r.deleted_at IS NULL AND (c.run_id > $2 OR (c.run_id = $2 AND c.last_line >= $3)) \
     AND c.max_ts >= $4 AND c.min_ts < $5 AND (c.streams & $6) <> 0 \
     ORDER BY c.run_id, c.last_line LIMIT $7";

impl LogChunkQuery {
    /// The statement of this read, and the values it binds before `line, since, until,
    /// streams, limit`: the run, or the experiment and the run to start after.
    pub(crate) fn statement(&self) -> (&'static str, Vec<&str>) {
        match &self.scope {
            LogScope::Run(run_id) => (SELECT_RUN, vec![run_id]),
            LogScope::Experiment(experiment_id) => {
                (SELECT_EXPERIMENT, vec![experiment_id, &self.after_run])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(stream: LogStream, timestamp: i64, text: &str) -> LogLine {
        LogLine {
            stream,
            timestamp,
            line: text.to_owned(),
        }
    }

    #[test]
    fn chunks_round_trip() {
        let lines = vec![
            line(LogStream::Stdout, 1_700_000_000_000, "epoch 1 loss=0.5"),
            line(
                LogStream::Stderr,
                1_699_999_999_000,
                "warning: ünïcode \u{0} NUL",
            ),
            line(LogStream::Stdout, i64::MIN, ""),
            line(LogStream::Stdout, i64::MAX, "last"),
        ];
        let chunk = NewLogChunk::pack(&lines, Some("b1".into())).unwrap();
        assert_eq!(chunk.line_count, 4);
        assert_eq!((chunk.min_ts, chunk.max_ts), (i64::MIN, i64::MAX));
        assert_eq!(chunk.streams, ALL_STREAMS);
        assert_eq!(decode(&chunk.data).unwrap(), lines);
        // The digest covers the lines, not the key.
        let again = NewLogChunk::pack(&lines, Some("b2".into())).unwrap();
        assert_eq!(again.digest, chunk.digest);
        let mut other = lines.clone();
        other[0].timestamp += 1;
        assert_ne!(
            NewLogChunk::pack(&other, None).unwrap().digest,
            chunk.digest
        );
        assert!(decode(&[9, 1, 2]).is_err());
    }

    #[test]
    fn retries_are_recognised_and_reused_keys_refused() {
        let lines = vec![line(LogStream::Stdout, 1, "a")];
        let chunk = NewLogChunk::pack(&lines, Some("k".into())).unwrap();
        let same = check_retry("r", &chunk, (chunk.digest.clone(), 7, 1)).unwrap();
        assert_eq!(
            same,
            LogAppend {
                first_line: 7,
                written: 0,
                duplicate: true
            }
        );
        let err = check_retry("r", &chunk, (vec![0; 32], 7, 1)).unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
    }

    /// A training script's output: progress lines with changing numbers, a few warnings.
    fn training_log(n: usize) -> Vec<LogLine> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..n)
            .map(|i| {
                let r = next();
                let (stream, text) = if i % 50 == 49 {
                    (
                        LogStream::Stderr,
                        format!(
                            "/opt/venv/lib/python3.12/site-packages/torch/optim/lr_scheduler.py:{}: UserWarning: \
                             Detected call of `lr_scheduler.step()` before `optimizer.step()`",
                            100 + r % 90
                        ),
                    )
                } else {
                    (
                        LogStream::Stdout,
                        format!(
                            "epoch {} step {}/5000 loss={:.4} acc={:.4} lr={:.2e} grad_norm={:.3} {:.1} it/s",
                            i / 5000 + 1,
                            i % 5000,
                            (r % 10_000) as f64 / 7_000.0,
                            ((r >> 16) % 10_000) as f64 / 10_000.0,
                            1e-4 * ((r >> 32) % 100) as f64 / 100.0,
                            ((r >> 40) % 5000) as f64 / 1000.0,
                            20.0 + ((r >> 48) % 100) as f64 / 10.0,
                        ),
                    )
                };
                LogLine {
                    stream,
                    timestamp: 1_700_000_000_000 + i as i64 * 37 + (r % 5) as i64,
                    line: text,
                }
            })
            .collect()
    }

    /// The figure in docs/benchmarks.md ("Run logs"): stored bytes per line of a training log
    /// by batch size (`cargo test -p ets --lib store::logs -- --nocapture` prints it).
    #[test]
    fn training_output_compresses() {
        let lines = training_log(10_000);
        let text: usize = lines.iter().map(|l| l.line.len() + 1).sum();
        for batch in [10, 100, 1000, 10_000] {
            let stored: usize = lines
                .chunks(batch)
                .map(|c| NewLogChunk::pack(c, None).unwrap().data.len())
                .sum();
            let per_line = stored as f64 / lines.len() as f64;
            println!(
                "batch {batch:>6}: {per_line:6.1} bytes/line stored, text {:.1} bytes/line ({:.0} %)",
                text as f64 / lines.len() as f64,
                100.0 * stored as f64 / text as f64
            );
            if batch >= 100 {
                assert!(stored * 3 < text, "batches of {batch}: {stored} of {text}");
            }
        }
    }
}
