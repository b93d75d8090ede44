//! The archive's files (specified in `docs/archive-format.md`). Entities are written as the
//! native API shows them, so the archive reads like the API; series are columnar, as
//! `POST /api/v1/runs/{id}/bulk-metrics` takes them.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Counts;

/// `format` of the manifest.
pub const FORMAT: &str = "ets-archive";
/// Version of the format this ETS writes and reads.
pub const VERSION: u32 = 1;

pub const MANIFEST: &str = "manifest.json";
pub const PROJECT: &str = "project.json";
pub const EXPERIMENTS: &str = "experiments.jsonl";
pub const RUNS: &str = "runs.jsonl";
pub const LOGGED_MODELS: &str = "logged_models.jsonl";
/// Below `runs/<run id>/`.
pub const METRICS: &str = "metrics.jsonl";
pub const CONTEXTS: &str = "contexts.jsonl";
pub const LOGS: &str = "logs.jsonl";
pub const ARTIFACTS: &str = "artifacts.jsonl";
pub const ARTIFACT_DIR: &str = "artifacts";

/// Points per line of `metrics.jsonl` (a longer series continues on the next line).
pub const POINTS_PER_LINE: usize = 10_000;

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// The ETS version that wrote it.
    pub ets_version: String,
    pub exported_at: ets_domain::Timestamp,
    pub project_id: String,
    pub project_name: String,
    pub counts: Counts,
}

/// A line of `logs.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub stream: crate::store::logs::LogStream,
    /// Epoch milliseconds.
    pub timestamp: i64,
    pub line: String,
}

/// The folder of a run's series, log and artifacts.
pub fn run_dir(root: &Path, run_id: &str) -> PathBuf {
    root.join("runs").join(run_id)
}

/// Writes JSON values one per line.
pub struct LinesWriter {
    out: BufWriter<std::fs::File>,
    path: PathBuf,
}

impl LinesWriter {
    pub fn create(path: PathBuf) -> anyhow::Result<LinesWriter> {
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create '{}'", path.display()))?;
        Ok(LinesWriter {
            out: BufWriter::with_capacity(1 << 16, file),
            path,
        })
    }

    pub fn write<T: Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .with_context(|| format!("cannot write '{}'", self.path.display()))
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .with_context(|| format!("cannot write '{}'", self.path.display()))
    }
}

/// Writes one JSON document (pretty, for people reading the archive).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    std::fs::write(path, text).with_context(|| format!("cannot write '{}'", path.display()))
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read(path).with_context(|| format!("cannot read '{}'", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("'{}' is not valid", path.display()))
}

/// The values of a JSON-lines file, one at a time; a file that does not exist has none.
pub fn read_lines<T: DeserializeOwned>(
    path: &Path,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<T>>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => Some(std::io::BufReader::with_capacity(1 << 16, file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read '{}'", path.display())),
    };
    let path = path.to_owned();
    Ok(file
        .into_iter()
        .flat_map(|f| f.lines())
        .enumerate()
        .map(move |(i, line)| {
            let line = line.with_context(|| format!("cannot read '{}'", path.display()))?;
            serde_json::from_str(&line)
                .with_context(|| format!("'{}' line {} is not valid", path.display(), i + 1))
        }))
}
