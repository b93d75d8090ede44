//! The local spool of `ets run`: one folder per run, `<spool>/<client id>/`, holding what the
//! server has not acknowledged yet. Every record is written there first (atomically: a
//! temporary file renamed into place) and removed once the server has answered it, so the
//! same uploader serves a run that is online, one that lost the server midway, and
//! `ets sync` later.
//!
//! Files of a run's folder:
//! - `run.json` — how to create the run ([`RunSpec`]): client id, project, experiment, name,
//!   params, tags, start time;
//! - `created.json` — the run's id on the server it was created on ([`Created`]);
//! - `<seq>.logs.json` — one `POST /api/v1/runs/{id}/logs` body (with its `batch_id`);
//! - `<seq>.metrics.json` — one `POST /api/v1/runs/{id}/metrics` body;
//! - `final.json` — the final status, end time and exit code ([`Final`]), sent last;
//! - `lock` — held (flock) by the `ets run` writing the folder, so `ets sync` leaves it alone;
//! - `rejected/` — records the server refused (4xx), kept for inspection.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The tag carrying a run's client id: the run is looked up by it before it is created, so a
/// retried creation never makes a second run.
pub const CLIENT_ID_TAG: &str = "ets.run.client_id";

/// What creates the run on the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    pub client_id: String,
    pub project: Option<String>,
    pub experiment: String,
    pub name: Option<String>,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Epoch milliseconds.
    pub started_at: i64,
}

/// The run's id on a server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    pub server: String,
    pub run_id: String,
}

/// How the command ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Final {
    /// `finished`, `failed` or `killed`.
    pub status: String,
    /// Epoch milliseconds.
    pub end_time: i64,
    /// The command's exit code, or 128 + the signal that ended it.
    pub exit_code: i32,
}

/// A record waiting for the server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub path: PathBuf,
    pub kind: RecordKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecordKind {
    Logs,
    Metrics,
}

/// The default spool: `ETS_SPOOL`, else `$XDG_DATA_HOME/ets/spool`, else
/// `~/.local/share/ets/spool`, else `.ets-spool` in the working directory.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ETS_SPOOL").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("ets").join("spool");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home)
            .join(".local")
            .join("share")
            .join("ets")
            .join("spool");
    }
    PathBuf::from(".ets-spool")
}

/// Writes `bytes` to `path` atomically (a temporary file renamed into place).
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_data()?;
    drop(file);
    fs::rename(&tmp, path)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{path:?}: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// One run's folder in the spool.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub dir: PathBuf,
}

impl RunDir {
    /// A new folder for `spec` under `spool`, locked (the lock is taken before `run.json` is
    /// written, so `ets sync` never sees the folder unlocked while its `ets run` lives).
    pub fn create(spool: &Path, spec: &RunSpec) -> io::Result<(RunDir, fs::File)> {
        let dir = spool.join(&spec.client_id);
        fs::create_dir_all(&dir)?;
        let run = RunDir { dir };
        let lock = run.lock()?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{:?} is locked", run.dir),
            )
        })?;
        write_atomic(&run.dir.join("run.json"), &serde_json::to_vec_pretty(spec)?)?;
        Ok((run, lock))
    }

    /// The run folders of `spool` (oldest first: client ids are time-ordered UUIDs).
    pub fn list(spool: &Path) -> io::Result<Vec<RunDir>> {
        let mut dirs = Vec::new();
        let entries = match fs::read_dir(spool) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(dirs),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.join("run.json").is_file() {
                dirs.push(RunDir { dir: path });
            }
        }
        dirs.sort_by(|a, b| a.dir.cmp(&b.dir));
        Ok(dirs)
    }

    pub fn spec(&self) -> io::Result<RunSpec> {
        read_json(&self.dir.join("run.json"))?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{:?}: no run.json", self.dir),
            )
        })
    }

    pub fn created(&self) -> io::Result<Option<Created>> {
        read_json(&self.dir.join("created.json"))
    }

    pub fn set_created(&self, created: &Created) -> io::Result<()> {
        write_atomic(
            &self.dir.join("created.json"),
            &serde_json::to_vec_pretty(created)?,
        )
    }

    /// Spools a record: `seq` orders the records of a run.
    pub fn write(&self, seq: u64, kind: RecordKind, body: &Value) -> io::Result<()> {
        let suffix = match kind {
            RecordKind::Logs => "logs",
            RecordKind::Metrics => "metrics",
        };
        let path = self.dir.join(format!("{seq:010}.{suffix}.json"));
        write_atomic(&path, &serde_json::to_vec(body)?)
    }

    pub fn write_final(&self, ended: &Final) -> io::Result<()> {
        write_atomic(
            &self.dir.join("final.json"),
            &serde_json::to_vec_pretty(ended)?,
        )
    }

    pub fn final_record(&self) -> io::Result<Option<Final>> {
        read_json(&self.dir.join("final.json"))
    }

    /// The records waiting, in the order they were written.
    pub fn records(&self) -> io::Result<Vec<Record>> {
        let mut records = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let kind = if name.ends_with(".logs.json") {
                RecordKind::Logs
            } else if name.ends_with(".metrics.json") {
                RecordKind::Metrics
            } else {
                continue;
            };
            records.push(Record { path, kind });
        }
        records.sort();
        Ok(records)
    }

    pub fn read(record: &Record) -> io::Result<Value> {
        read_json(&record.path)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{:?}", record.path)))
    }

    /// The server has the record: it leaves the spool.
    pub fn acknowledged(record: &Record) -> io::Result<()> {
        fs::remove_file(&record.path)
    }

    /// The server refused the record: it moves to `rejected/`.
    pub fn reject(&self, record: &Record) -> io::Result<()> {
        let rejected = self.dir.join("rejected");
        fs::create_dir_all(&rejected)?;
        let name = record.path.file_name().unwrap_or_default();
        fs::rename(&record.path, rejected.join(name))
    }

    /// Everything was acknowledged: the folder goes, unless it keeps rejected records.
    pub fn remove_if_done(&self) -> io::Result<bool> {
        if self.dir.join("rejected").exists() || !self.records()?.is_empty() {
            return Ok(false);
        }
        for name in ["final.json", "created.json", "run.json", "lock"] {
            match fs::remove_file(self.dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        // Temporary files of an interrupted write, if any.
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                let _ = fs::remove_file(path);
            }
        }
        fs::remove_dir(&self.dir)?;
        Ok(true)
    }

    /// Takes the folder's lock (`ets run` holds it while it writes; `ets sync` skips a folder
    /// whose lock is taken). `None` when another process holds it.
    pub fn lock(&self) -> io::Result<Option<fs::File>> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))?;
        #[cfg(unix)]
        {
            use rustix::fs::{FlockOperation, flock};
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(id: &str) -> RunSpec {
        RunSpec {
            client_id: id.to_owned(),
            project: None,
            experiment: "e".into(),
            name: None,
            params: BTreeMap::new(),
            tags: BTreeMap::new(),
            started_at: 1,
        }
    }

    #[test]
    fn records_in_order_and_removed_when_acknowledged() {
        let spool = tempfile::tempdir().unwrap();
        let (run, lock) = RunDir::create(spool.path(), &spec("a")).unwrap();
        drop(lock);
        run.write(10, RecordKind::Metrics, &json!({"m": 1}))
            .unwrap();
        run.write(2, RecordKind::Logs, &json!({"l": 1})).unwrap();
        let records = run.records().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].kind, RecordKind::Logs);
        assert_eq!(RunDir::read(&records[1]).unwrap(), json!({"m": 1}));
        assert!(!run.remove_if_done().unwrap());
        for record in &records {
            RunDir::acknowledged(record).unwrap();
        }
        let _lock = run.lock().unwrap().expect("free");
        assert_eq!(RunDir::list(spool.path()).unwrap().len(), 1);
        assert!(run.remove_if_done().unwrap());
        assert!(RunDir::list(spool.path()).unwrap().is_empty());
    }

    #[test]
    fn a_held_lock_is_seen() {
        let spool = tempfile::tempdir().unwrap();
        let (run, held) = RunDir::create(spool.path(), &spec("b")).unwrap();
        assert!(run.lock().unwrap().is_none());
        drop(held);
        assert!(run.lock().unwrap().is_some());
    }
}
