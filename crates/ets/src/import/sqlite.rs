//! An MLflow SQLite tracking database (`sqlite:///mlflow.db`), read-only, with its artifact
//! folder (`--artifacts`, the server's `--artifacts-destination` or `./mlruns`). Tables of
//! MLflow's SQL store: `experiments`, `experiment_tags`, `runs`, `params`, `tags`, `metrics`
//! (the whole history; NaN is stored as 0 with `is_nan`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, params};

use super::source::{Experiment, Point, Run, Source, local_artifact_dir, local_files, read_local};

pub struct SqliteSource {
    uri: String,
    db: Connection,
    artifacts: Option<PathBuf>,
}

impl SqliteSource {
    /// `uri` is `sqlite:///PATH` (SQLAlchemy's form: `sqlite:///rel.db`, `sqlite:////abs.db`).
    pub fn open(uri: &str, artifacts: Option<PathBuf>) -> anyhow::Result<SqliteSource> {
        let path = uri
            .strip_prefix("sqlite:///")
            .with_context(|| format!("'{uri}': a SQLite store is sqlite:///PATH"))?;
        let path = Path::new(path);
        if !path.is_file() {
            anyhow::bail!("{}: no such database file", path.display());
        }
        let db = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {}", path.display()))?;
        db.query_row("SELECT count(*) FROM experiments", [], |_| Ok(()))
            .with_context(|| format!("{}: not an MLflow tracking database", path.display()))?;
        Ok(SqliteSource {
            uri: uri.to_owned(),
            db,
            artifacts,
        })
    }

    fn pairs(&self, sql: &str, id: &str) -> rusqlite::Result<Vec<(String, String)>> {
        let mut statement = self.db.prepare_cached(sql)?;
        let rows = statement.query_map([id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })?;
        rows.collect()
    }
}

#[async_trait]
impl Source for SqliteSource {
    fn uri(&self) -> String {
        self.uri.clone()
    }

    async fn experiments(&mut self) -> anyhow::Result<Vec<Experiment>> {
        let mut statement = self.db.prepare(
            "SELECT CAST(experiment_id AS TEXT), name FROM experiments \
             WHERE lifecycle_stage = 'active' ORDER BY experiment_id",
        )?;
        let found = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        drop(statement);
        found
            .into_iter()
            .map(|(id, name)| {
                let tags = self.pairs(
                    "SELECT key, value FROM experiment_tags WHERE experiment_id = ?1 ORDER BY key",
                    &id,
                )?;
                Ok(Experiment { id, name, tags })
            })
            .collect()
    }

    async fn runs(&mut self, experiment: &Experiment) -> anyhow::Result<Vec<Run>> {
        let mut statement = self.db.prepare(
            "SELECT run_uuid, name, status, start_time, end_time, user_id, artifact_uri \
             FROM runs WHERE experiment_id = ?1 AND lifecycle_stage = 'active' \
             ORDER BY start_time, run_uuid",
        )?;
        let mut runs = statement
            .query_map(params![experiment.id], |row| {
                Ok(Run {
                    id: row.get(0)?,
                    experiment_id: experiment.id.clone(),
                    name: row.get(1)?,
                    status: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    start_time: row.get(3)?,
                    end_time: row.get(4)?,
                    user_id: row.get(5)?,
                    artifact_uri: row.get(6)?,
                    ..Default::default()
                })
            })?
            .collect::<rusqlite::Result<Vec<Run>>>()?;
        drop(statement);
        for run in &mut runs {
            run.params = self.pairs(
                "SELECT key, value FROM params WHERE run_uuid = ?1 ORDER BY key",
                &run.id,
            )?;
            run.tags = self.pairs(
                "SELECT key, value FROM tags WHERE run_uuid = ?1 ORDER BY key",
                &run.id,
            )?;
        }
        Ok(runs)
    }

    async fn metrics(&mut self, run: &Run) -> anyhow::Result<Vec<Point>> {
        let mut statement = self.db.prepare_cached(
            "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ?1 \
             ORDER BY key, timestamp, step, value",
        )?;
        let points = statement
            .query_map([&run.id], |row| {
                let is_nan: Option<bool> = row.get(4)?;
                let value: Option<f64> = row.get(1)?;
                Ok(Point {
                    key: row.get(0)?,
                    value: if is_nan.unwrap_or(false) {
                        f64::NAN
                    } else {
                        value.unwrap_or(f64::NAN)
                    },
                    timestamp: row.get::<_, Option<i64>>(2)?.unwrap_or(0),
                    step: row.get::<_, Option<i64>>(3)?.unwrap_or(0),
                })
            })?
            .collect::<rusqlite::Result<Vec<Point>>>()?;
        Ok(points)
    }

    async fn artifacts(&mut self, run: &Run) -> anyhow::Result<Vec<String>> {
        local_files(local_artifact_dir(run, self.artifacts.as_deref())?.as_deref())
    }

    async fn artifact(&mut self, run: &Run, path: &str) -> anyhow::Result<Vec<u8>> {
        read_local(
            &local_artifact_dir(run, self.artifacts.as_deref())?
                .context("the run has no artifacts")?,
            path,
        )
    }
}
